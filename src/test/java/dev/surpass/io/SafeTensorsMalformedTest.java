package dev.surpass.io;

import static dev.surpass.io.StFiles.entry;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One test per way a file can be malformed: each fails cleanly, naming the file, tensor and problem. */
class SafeTensorsMalformedTest {
    @TempDir
    Path dir;

    private int counter;

    /** Opens {@code p}, expects a format error for {@code tensor} (null: the file's) whose problem mentions {@code words}. */
    private SafeTensorsFormatException fails(Path p, String tensor, String... words) {
        var e = assertThrows(SafeTensorsFormatException.class, () -> SafeTensors.open(p).close());
        String m = e.getMessage();
        assertTrue(m.startsWith(p.toString() + ": "), "message names the file: " + m);
        assertEquals(p, e.file());
        assertEquals(tensor, e.tensor(), m);
        if (tensor != null) assertTrue(m.contains("tensor '" + SafeTensors.printable(tensor) + "'"), "message names the tensor: " + m);
        for (String w : words) assertTrue(m.contains(w), "message mentions '" + w + "': " + m);
        return e;
    }

    private Path json(String json, byte[] data) {
        return StFiles.file(dir, "m" + (counter++) + ".safetensors", json, data);
    }

    private Path json(String json) {
        return json(json, new byte[64]);
    }

    private Path one(String entryBody, int dataBytes) {
        return json("{\"w\":" + entryBody + "}", new byte[dataBytes]);
    }

    // ---- the length prefix -----------------------------------------------------------------

    @Test
    void fileShorterThan8Bytes() {
        fails(StFiles.bytes(dir, "empty.safetensors", new byte[0]), null, "0 bytes");
        fails(StFiles.bytes(dir, "seven.safetensors", new byte[7]), null, "7 bytes");
    }

    @Test
    void headerLengthPastTheEndOfTheFile() {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        fails(StFiles.raw(dir, "long.safetensors", 3, h, new byte[0]), null, "runs past the end");
        fails(StFiles.raw(dir, "long2.safetensors", 1000, h, new byte[100]), null, "runs past the end");
    }

    @Test
    void headerLengthOverTheLimitIsRefusedBeforeAllocating() {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        fails(StFiles.raw(dir, "huge.safetensors", 1L << 40, h, new byte[0]), null, "exceeds");
        fails(StFiles.raw(dir, "neg.safetensors", -1L, h, new byte[0]), null, "18446744073709551615");
        fails(StFiles.raw(dir, "limit.safetensors", SafeTensors.MAX_HEADER_BYTES + 1L, h, new byte[0]), null, "exceeds");
        // a PyTorch zip checkpoint opened by mistake gets a hint
        byte[] zip = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 0, 0};
        fails(StFiles.bytes(dir, "model.bin", zip), null, "zip");
    }

    @Test
    void headerLengthZero() {
        fails(StFiles.raw(dir, "zero.safetensors", 0, new byte[0], new byte[16]), null, "0");
    }

    // ---- the JSON --------------------------------------------------------------------------

    @Test
    void headerNotUtf8() {
        byte[] h = StFiles.concat("{\"w".getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xff, (byte) 0xfe},
                "\":{}}".getBytes(StandardCharsets.UTF_8));
        fails(StFiles.raw(dir, "utf.safetensors", h.length, h, new byte[0]), null, "UTF-8", "byte 3");
        byte[] overlong = StFiles.concat("{\"".getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xc0, (byte) 0xaf},
                "\":1}".getBytes(StandardCharsets.UTF_8));
        fails(StFiles.raw(dir, "overlong.safetensors", overlong.length, overlong, new byte[0]), null, "UTF-8");
    }

    @Test
    void headerNotJson() {
        fails(json("{\"w\": {\"dtype\": \"F32\""), null, "not valid JSON");
        fails(json("{'w': 1}"), null, "not valid JSON");
        fails(json("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}"), null, "not valid JSON");
        fails(json("{} {}"), null, "after the header");
        fails(json("{}\u0000\u0000"), null);
        fails(json("{\"a\":NaN}"), null, "not valid JSON");
    }

    @Test
    void headerNotAnObject() {
        fails(json("[1, 2]"), null, "'{'");
        fails(json("\"{}\""), null, "'{'");
        fails(json(" {}"), null, "'{'");
    }

    @Test
    void deeplyNestedJsonFailsCleanly() {
        String deep = "[".repeat(100_000) + "]".repeat(100_000);
        var e = fails(json("{\"w\":{\"junk\":" + deep + "}}"), null, "limit", "nesting");
        assertTrue(e.getMessage().length() < 2000, "message is short: " + e.getMessage().length());
        fails(json("{\"__metadata__\":" + "{\"a\":".repeat(200) + "1" + "}".repeat(201)), null);
    }

    @Test
    void hugeStringsAndNumbersFailCleanly() {
        fails(json("{\"" + "n".repeat(Header.MAX_NAME + 1) + "\":{}}"), null, "limit");
        fails(one("{\"dtype\":\"F32\",\"shape\":[" + "9".repeat(200) + "],\"data_offsets\":[0,4]}", 4), null, "limit");
    }

    @Test
    void entryNotAnObject() {
        fails(json("{\"w\": 5}"), "w", "not an object");
        fails(json("{\"w\": [\"F32\", [1], [0, 4]]}"), "w", "not an object");
        fails(json("{\"w\": null}"), "w", "not an object");
    }

    @Test
    void entryMissingFields() {
        fails(one("{\"shape\":[1],\"data_offsets\":[0,4]}", 4), "w", "lacks dtype");
        fails(one("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}", 4), "w", "lacks shape");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1]}", 4), "w", "lacks data_offsets");
        fails(one("{}", 4), "w", "dtype, shape, data_offsets");
    }

    @Test
    void entryFieldsOfWrongJsonType() {
        fails(one("{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}", 4), "w", "dtype is an integer");
        fails(one("{\"dtype\":null,\"shape\":[1],\"data_offsets\":[0,4]}", 4), "w", "dtype is null");
        fails(one("{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}", 4), "w", "shape is a string");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}", 4), "w", "shape[0]", "fractional");
        fails(one("{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}", 4), "w", "shape[0]", "array");
        fails(one("{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,4]}", 4), "w", "shape[0]", "boolean");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"begin\":0}}", 4), "w", "data_offsets is an object");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}", 4), "w", "data_offsets[1]", "string");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"dtype\":\"F16\"}", 4), "w", "twice");
    }

    @Test
    void dataOffsetsNotTwoNumbers() {
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}", 4), "w", "1 numbers");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}", 8), "w", "3 numbers");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[]}", 4), "w", "0 numbers");
    }

    @Test
    void negativeDims() {
        fails(json("{" + entry("w", "F32", "[2,-3]", 0, 24) + "}"), "w", "shape[1]", "negative");
        fails(json("{" + entry("w", "F32", "[-99999999999999999999]", 0, 4) + "}"), "w", "negative");
    }

    @Test
    void dimsTooLargeOrOverflowing() {
        fails(json("{" + entry("w", "F32", "[4294967296,4294967296]", 0, 0) + "}"), "w", "2^63");
        fails(json("{" + entry("w", "F32", "[4611686018427387904]", 0, 0) + "}"), "w", "overflows");
        fails(json("{" + entry("w", "F32", "[18446744073709551615]", 0, 0) + "}"), "w", "larger than 2^63");
    }

    @Test
    void dataOffsetsNegativeOrReversed() {
        fails(json("{" + entry("w", "F32", "[1]", -4, 0) + "}"), "w", "negative");
        fails(json("{" + entry("w", "F32", "[1]", 8, 4) + "}"), "w", "begin is after end");
        fails(json("{" + entry("w", "F32", "[1]", 0, Long.MAX_VALUE) + "}"), "w", "past the end");
        fails(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}", 4), "w", "larger than 2^63");
    }

    @Test
    void dataPastTheEndOfTheFile() {
        fails(json("{" + entry("w", "F32", "[4]", 0, 16) + "}", new byte[15]), "w", "past the end", "truncated");
        fails(json("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("w", "F32", "[1]", 4, 8) + "}", new byte[4]), "w", "past the end");
    }

    @Test
    void byteCountDisagreesWithShapeAndDtype() {
        fails(json("{" + entry("w", "F32", "[3]", 0, 8) + "}"), "w", "hold 8 bytes", "needs 12");
        fails(json("{" + entry("w", "BF16", "[]", 0, 4) + "}"), "w", "needs 2");
        fails(json("{" + entry("w", "F32", "[0]", 0, 4) + "}"), "w", "needs 0");
        fails(json("{" + entry("w", "F4", "[3]", 0, 2) + "}"), "w", "12 bits");
    }

    @Test
    void overlappingTensors() {
        fails(json("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}"), "b", "overlap tensor 'a'");
        fails(json("{" + entry("b", "F32", "[2]", 0, 8) + "," + entry("a", "F32", "[2]", 0, 8) + "}"), "a", "overlap");
        fails(json("{" + entry("a", "F32", "[4]", 0, 16) + "," + entry("e", "F32", "[0]", 8, 8) + "}"), "e", "overlap");
    }

    @Test
    void duplicateNames() {
        fails(json("{" + entry("w", "F32", "[1]", 0, 4) + "," + entry("w", "F32", "[1]", 4, 8) + "}"), "w", "twice");
        fails(json("{\"__metadata__\":{},\"__metadata__\":{}}"), null, "twice");
        fails(json("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}"), null, "'k'", "twice");
    }

    @Test
    void metadataNotStrings() {
        fails(json("{\"__metadata__\":{\"k\":1}}"), null, "'k'", "not a string");
        fails(json("{\"__metadata__\":{\"k\":{\"nested\":\"x\"}}}"), null, "'k'", "not a string");
        fails(json("{\"__metadata__\":{\"k\":null}}"), null, "'k'");
        fails(json("{\"__metadata__\":[\"k\"]}"), null, "__metadata__ is an array");
        fails(json("{\"__metadata__\":\"k\"}"), null, "__metadata__ is a string");
    }

    @Test
    void unknownDtype() {
        fails(json("{" + entry("w", "F128", "[1]", 0, 16) + "}"), "w", "unknown dtype 'F128'");
        fails(json("{" + entry("w", "f32", "[1]", 0, 4) + "}"), "w", "unknown dtype 'f32'");
    }

    @Test
    void namesWithControlCharactersArePrintedSafely() {
        var e = fails(json("{\"bad\\u0000\\nname\": 5}"), "bad\u0000\nname");
        assertTrue(e.getMessage().contains("bad\\u0000\\u000aname"), e.getMessage());
    }

    // ---- I/O -------------------------------------------------------------------------------

    @Test
    void missingFileAndDirectory() {
        Path missing = dir.resolve("nope.safetensors");
        var e = assertThrows(UncheckedIOException.class, () -> SafeTensors.open(missing));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        var d = assertThrows(UncheckedIOException.class, () -> SafeTensors.open(dir));
        assertTrue(d.getMessage().contains(dir.toString()), d.getMessage());
    }
}
