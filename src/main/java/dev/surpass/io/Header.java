package dev.surpass.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonFactoryBuilder;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import dev.surpass.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The parsed and validated header of a safetensors file. Package-private: {@link SafeTensorsFile}
 * exposes it.
 *
 * <p>Parsing uses Jackson's streaming parser with tight {@link StreamReadConstraints}, so deep or
 * huge JSON fails with a {@link SafeTensorsFormatException} instead of a stack overflow or an
 * out-of-memory error. Validation follows the reference implementation (huggingface/safetensors)
 * except that gaps between tensors and trailing bytes after the last one are reported as
 * warnings rather than rejected.
 */
record Header(List<TensorInfo> byOffset, Map<String, TensorInfo> byName, Map<String, String> metadata, List<String> warnings) {

    /** Bits per element of every dtype name the format defines (sub-byte types included). */
    static final Map<String, Integer> DTYPE_BITS = Map.ofEntries(
            Map.entry("BOOL", 8),
            Map.entry("U8", 8), Map.entry("I8", 8),
            Map.entry("F8_E5M2", 8), Map.entry("F8_E4M3", 8), Map.entry("F8_E8M0", 8),
            Map.entry("I16", 16), Map.entry("U16", 16), Map.entry("F16", 16), Map.entry("BF16", 16),
            Map.entry("I32", 32), Map.entry("U32", 32), Map.entry("F32", 32),
            Map.entry("I64", 64), Map.entry("U64", 64), Map.entry("F64", 64), Map.entry("C64", 64),
            Map.entry("F4", 4), Map.entry("F6_E2M3", 6), Map.entry("F6_E3M2", 6));

    static final String METADATA_KEY = "__metadata__";

    /** Longest string value (metadata values can hold whole JSON configs). */
    static final int MAX_STRING = 16 << 20;
    /** Longest field name (tensor names). */
    static final int MAX_NAME = 64 << 10;
    /** Our structure is 3 deep; anything much deeper is garbage. */
    static final int MAX_DEPTH = 64;
    /** Digits in a number: a u64 has 20. */
    static final int MAX_NUMBER = 32;

    private static final JsonFactory JSON = new JsonFactoryBuilder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_DEPTH)
                    .maxStringLength(MAX_STRING)
                    .maxNameLength(MAX_NAME)
                    .maxNumberLength(MAX_NUMBER)
                    .maxDocumentLength(SafeTensors.MAX_HEADER_BYTES)
                    .build())
            .build();

    private record Raw(String name, String dtype, long[] shape, long begin, long end) {}

    /**
     * Parses and validates {@code header} (the bytes after the length prefix).
     *
     * @param dataSize bytes in the data section (file size − 8 − header length)
     */
    static Header parse(Path file, byte[] header, long dataSize, long fileSize) {
        return new Parser(file).run(header, dataSize, fileSize);
    }

    private static final class Parser {
        private final Path file;

        Parser(Path file) {
            this.file = file;
        }

        private SafeTensorsFormatException fail(String tensor, String problem) {
            return new SafeTensorsFormatException(file, tensor, problem);
        }

        Header run(byte[] header, long dataSize, long fileSize) {
            CharBuffer decoded = decodeUtf8(header);
            char[] chars = decoded.array();
            int len = decoded.position();
            if (len == 0 || chars[0] != '{') {
                String got = header.length == 0 ? "nothing" : String.format("byte 0x%02x", header[0] & 0xff);
                throw fail(null, "header does not start with '{' (found " + got + "): not a safetensors header");
            }
            List<Raw> raws = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            Map<String, String> metadata = null;
            try (JsonParser p = JSON.createParser(chars, 0, len)) {
                if (p.nextToken() != JsonToken.START_OBJECT) throw fail(null, "header is not a JSON object");
                JsonToken t;
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    JsonToken v = p.nextToken();
                    if (METADATA_KEY.equals(key)) {
                        if (metadata != null) throw fail(null, "__metadata__ appears twice");
                        metadata = parseMetadata(p, v);
                    } else {
                        if (!seen.add(key)) throw fail(key, "tensor name appears twice in the header");
                        raws.add(parseEntry(p, v, key));
                    }
                }
                if (t != JsonToken.END_OBJECT) throw fail(null, "header is not a JSON object");
                JsonToken after = p.nextToken();
                if (after != null) throw fail(null, "unexpected " + describe(after) + " after the header's JSON object" + at(p));
            } catch (StreamConstraintsException e) {
                throw new SafeTensorsFormatException(file, null, "header JSON exceeds a parser limit: " + SafeTensors.printable(e.getOriginalMessage(), 400) + at(e), e);
            } catch (JsonProcessingException e) {
                throw new SafeTensorsFormatException(file, null, "header is not valid JSON: " + SafeTensors.printable(e.getOriginalMessage(), 400) + at(e), e);
            } catch (IOException e) { // cannot happen on a char[] source; keep the contract anyway
                throw new SafeTensorsFormatException(file, null, "header cannot be parsed: " + e.getMessage(), e);
            }
            return validate(raws, metadata == null ? new LinkedHashMap<>() : metadata, dataSize, fileSize);
        }

        /** The header as chars in {@code array()[0, position())}; strict: malformed or overlong sequences fail. */
        private CharBuffer decodeUtf8(byte[] header) {
            CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            ByteBuffer in = ByteBuffer.wrap(header);
            CharBuffer out = CharBuffer.allocate(header.length); // UTF-8 never decodes to more chars than bytes
            CoderResult r = dec.decode(in, out, true);
            if (!r.isError()) r = dec.flush(out);
            if (r.isError() || r.isOverflow()) {
                throw fail(null, "header is not valid UTF-8 (bad byte sequence at header byte " + in.position() + ")");
            }
            return out;
        }

        private Map<String, String> parseMetadata(JsonParser p, JsonToken v) throws IOException {
            Map<String, String> m = new LinkedHashMap<>();
            if (v == JsonToken.VALUE_NULL) return m;
            if (v != JsonToken.START_OBJECT) {
                throw fail(null, "__metadata__ is " + describe(v) + ", not an object of strings");
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken val = p.nextToken();
                if (val != JsonToken.VALUE_STRING) {
                    throw fail(null, "__metadata__ value for key '" + SafeTensors.printable(key) + "' is " + describe(val)
                            + ", not a string");
                }
                if (m.putIfAbsent(key, p.getText()) != null) {
                    throw fail(null, "__metadata__ key '" + SafeTensors.printable(key) + "' appears twice");
                }
            }
            if (t != JsonToken.END_OBJECT) throw fail(null, "__metadata__ is malformed");
            return m;
        }

        private Raw parseEntry(JsonParser p, JsonToken v, String name) throws IOException {
            if (v != JsonToken.START_OBJECT) {
                throw fail(name, "header entry is " + describe(v) + ", not an object with dtype, shape and data_offsets");
            }
            String dtype = null;
            long[] shape = null;
            long[] offsets = null;
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken val = p.nextToken();
                switch (field) {
                    case "dtype" -> {
                        if (dtype != null) throw fail(name, "field 'dtype' appears twice");
                        if (val != JsonToken.VALUE_STRING) throw fail(name, "dtype is " + describe(val) + ", not a string");
                        dtype = p.getText();
                    }
                    case "shape" -> {
                        if (shape != null) throw fail(name, "field 'shape' appears twice");
                        shape = readLongs(p, val, name, "shape");
                    }
                    case "data_offsets" -> {
                        if (offsets != null) throw fail(name, "field 'data_offsets' appears twice");
                        offsets = readLongs(p, val, name, "data_offsets");
                        if (offsets.length != 2) {
                            throw fail(name, "data_offsets has " + offsets.length + " numbers, expected 2 ([begin, end])");
                        }
                    }
                    default -> p.skipChildren(); // unknown fields are ignored, as the reference does
                }
            }
            if (t != JsonToken.END_OBJECT) throw fail(name, "header entry is malformed");
            List<String> missing = new ArrayList<>(3);
            if (dtype == null) missing.add("dtype");
            if (shape == null) missing.add("shape");
            if (offsets == null) missing.add("data_offsets");
            if (!missing.isEmpty()) throw fail(name, "header entry lacks " + String.join(", ", missing));
            return new Raw(name, dtype, shape, offsets[0], offsets[1]);
        }

        /** An array of non-negative 64-bit integers. */
        private long[] readLongs(JsonParser p, JsonToken v, String name, String what) throws IOException {
            if (v != JsonToken.START_ARRAY) throw fail(name, what + " is " + describe(v) + ", not an array of integers");
            long[] out = new long[4];
            int n = 0;
            JsonToken t;
            while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                if (t != JsonToken.VALUE_NUMBER_INT) {
                    throw fail(name, what + "[" + n + "] is " + describe(t) + ", not a non-negative integer");
                }
                long x;
                if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    boolean neg = p.getBigIntegerValue().signum() < 0;
                    throw fail(name, what + "[" + n + "] = " + p.getText() + (neg ? " is negative" : " is larger than 2^63 - 1"));
                }
                x = p.getLongValue();
                if (x < 0) throw fail(name, what + "[" + n + "] = " + x + " is negative");
                if (n == out.length) out = Arrays.copyOf(out, n * 2);
                out[n++] = x;
            }
            return Arrays.copyOf(out, n);
        }

        private Header validate(List<Raw> raws, Map<String, String> metadata, long dataSize, long fileSize) {
            List<TensorInfo> infos = new ArrayList<>(raws.size());
            for (Raw r : raws) {
                Integer bits = DTYPE_BITS.get(r.dtype);
                if (bits == null) {
                    throw fail(r.name, "unknown dtype '" + SafeTensors.printable(r.dtype) + "' (known: "
                            + String.join(", ", DTYPE_BITS.keySet().stream().sorted().toList()) + ")");
                }
                long numel = 1;
                for (long d : r.shape) {
                    try {
                        numel = Math.multiplyExact(numel, d);
                    } catch (ArithmeticException e) {
                        throw fail(r.name, "shape " + Arrays.toString(r.shape) + " has more than 2^63 elements");
                    }
                }
                long nbits;
                try {
                    nbits = Math.multiplyExact(numel, (long) bits);
                } catch (ArithmeticException e) {
                    throw fail(r.name, r.dtype + " " + Arrays.toString(r.shape) + " overflows a 64-bit byte count");
                }
                if (nbits % 8 != 0) {
                    throw fail(r.name, r.dtype + " " + Arrays.toString(r.shape) + " is " + nbits + " bits, not a whole number of bytes");
                }
                String range = "data_offsets [" + r.begin + ", " + r.end + "]";
                if (r.begin > r.end) throw fail(r.name, range + ": begin is after end");
                if (r.end > dataSize) {
                    throw fail(r.name, range + " run past the end of the data section (" + dataSize + " bytes; the file has "
                            + fileSize + "): the file is truncated or the header is wrong");
                }
                long bytes = nbits / 8;
                if (r.end - r.begin != bytes) {
                    throw fail(r.name, range + " hold " + (r.end - r.begin) + " bytes but " + r.dtype + " "
                            + Arrays.toString(r.shape) + " needs " + bytes);
                }
                infos.add(new TensorInfo(r.name, r.dtype, DType.fromSafetensorsName(r.dtype), r.shape, r.begin, r.end));
            }
            // Stable sort: equal ranges (empty tensors at one offset) keep header order.
            infos.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
            List<String> warnings = new ArrayList<>();
            long cursor = 0;
            TensorInfo prev = null;
            for (TensorInfo i : infos) {
                if (i.begin() < cursor) {
                    throw fail(i.name(), "bytes [" + i.begin() + ", " + i.end() + ") overlap tensor '"
                            + SafeTensors.printable(prev.name()) + "' at [" + prev.begin() + ", " + prev.end() + ")");
                }
                if (i.begin() > cursor) {
                    warnings.add("gap of " + (i.begin() - cursor) + " unused bytes before tensor '" + SafeTensors.printable(i.name())
                            + "' (data offset " + cursor + ")");
                }
                cursor = i.end();
                prev = i;
            }
            if (cursor < dataSize) warnings.add((dataSize - cursor) + " unused bytes after the last tensor");
            Map<String, TensorInfo> byName = new HashMap<>(infos.size() * 2);
            for (TensorInfo i : infos) byName.put(i.name(), i);
            return new Header(Collections.unmodifiableList(infos), Collections.unmodifiableMap(byName),
                    Collections.unmodifiableMap(metadata), List.copyOf(warnings));
        }
    }

    private static String describe(JsonToken t) {
        if (t == null) return "the end of the header";
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT -> "an integer";
            case VALUE_NUMBER_FLOAT -> "a fractional number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> t.name();
        };
    }

    private static String at(JsonParser p) {
        return " (header char " + p.currentLocation().getCharOffset() + ")";
    }

    private static String at(JsonProcessingException e) {
        var loc = e.getLocation();
        return loc == null || loc.getCharOffset() < 0 ? "" : " (header char " + loc.getCharOffset() + ")";
    }
}
