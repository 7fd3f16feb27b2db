package dev.surpass.io;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random mutations of a valid file (bit flips, byte overwrites, truncations, extensions, lying
 * length prefixes, dtypes that lie about the data, NaN/Inf over the data): every outcome must be a
 * clean open or a {@link SafeTensorsFormatException}, and a file that opens must read every tensor's
 * bytes without error.
 */
class SafeTensorsFuzzTest {
    private static final long SEED = Long.getLong("surpass.fuzz.seed", 20240611L);
    private static final int ITERATIONS = Integer.getInteger("surpass.fuzz.iterations", 3000);
    private static final long BUDGET_NANOS = 20_000_000_000L;

    @TempDir
    Path dir;

    @Test
    void mutatedFilesOpenOrFailCleanly() throws Exception {
        byte[] valid;
        try (Device cpu = Device.cpu()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("embed.weight", cpu.upload(DType.BF16, new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
            in.put("ln.bias", cpu.upload(DType.F32, new float[] {0.5f, -0.5f, 7}, 3));
            in.put("scalar", cpu.upload(DType.F16, new float[] {2.5f}));
            in.put("empty", cpu.upload(DType.F32, new float[0], 0, 4));
            in.put("ids", cpu.upload(new long[] {1, 2}, 2));
            in.put("pos", cpu.upload(new int[] {3, 4, 5}, 3));
            Path p = dir.resolve("valid.safetensors");
            SafeTensors.write(p, in, new java.util.TreeMap<>(Map.of("format", "pt", "note", "fuzz"))); // fixed order: reproducible
            valid = Files.readAllBytes(p);
        }
        int headerEnd = 8 + (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        Random rnd = new Random(SEED);
        long start = System.nanoTime();
        int opened = 0, rejected = 0, done = 0;
        try (Device cpu = Device.cpu()) {
            for (int it = 0; it < ITERATIONS && System.nanoTime() - start < BUDGET_NANOS; it++, done++) {
                byte[] m = mutate(valid, headerEnd, rnd);
                Path f = dir.resolve("fuzz.safetensors");
                Files.write(f, m);
                try (SafeTensorsFile st = SafeTensors.open(f)) {
                    for (String name : st.names()) {
                        TensorInfo info = st.info(name);
                        MemorySegment s = st.bytes(name);
                        long sum = 0;
                        for (long i = 0; i < s.byteSize(); i++) sum += s.get(ValueLayout.JAVA_BYTE, i);
                        if (info.dtype() != null) {
                            try (Tensor t = st.tensor(name, cpu)) {
                                if (t.numel() > 0 && t.numel() < 1_000_000) t.toFloatArray();
                            }
                        }
                        assertTrue(sum != Long.MIN_VALUE);
                    }
                    st.metadata();
                    opened++;
                } catch (SafeTensorsFormatException e) {
                    rejected++;
                    if (!e.getMessage().startsWith(f.toString())) fail("message does not name the file: " + e.getMessage());
                } catch (Throwable t) {
                    fail("seed " + SEED + " iteration " + it + ": unexpected " + t + " for file bytes "
                            + HexFormat.of().formatHex(Arrays.copyOf(m, Math.min(m.length, 512))), t);
                }
            }
            assertTrue(cpu.liveAllocations() == 0);
        }
        System.out.printf("safetensors fuzz: seed %d, %d mutations, %d opened, %d rejected, %.1f s%n",
                SEED, done, opened, rejected, (System.nanoTime() - start) / 1e9);
        assertTrue(opened > 0 && rejected > 0, "the fuzzer exercised both outcomes");
    }

    private static byte[] mutate(byte[] valid, int headerEnd, Random rnd) {
        byte[] m = valid.clone();
        int kind = rnd.nextInt(10);
        switch (kind) {
            case 0, 1 -> { // a few bit flips, mostly in the header
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) {
                    int pos = rnd.nextInt(4) == 0 ? rnd.nextInt(m.length) : rnd.nextInt(headerEnd);
                    m[pos] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            case 2 -> { // overwrite a header byte with a JSON-significant character
                byte[] specials = "{}[]\",:-0123456789 eE.\\nulltrue".getBytes();
                m[8 + rnd.nextInt(headerEnd - 8)] = specials[rnd.nextInt(specials.length)];
            }
            case 3 -> m = Arrays.copyOf(m, rnd.nextInt(m.length)); // truncation
            case 4 -> m = Arrays.copyOf(m, m.length + 1 + rnd.nextInt(64)); // trailing bytes
            case 5 -> { // a lying length prefix
                long n = switch (rnd.nextInt(4)) {
                    case 0 -> rnd.nextLong();
                    case 1 -> headerEnd - 8 + rnd.nextInt(17) - 8;
                    case 2 -> rnd.nextInt(m.length + 16);
                    default -> 1L << rnd.nextInt(64);
                };
                ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
            }
            case 6 -> { // delete or duplicate a span of the header
                int a = 8 + rnd.nextInt(headerEnd - 8), len = 1 + rnd.nextInt(16);
                int b = Math.min(headerEnd, a + len);
                byte[] out = rnd.nextBoolean()
                        ? StFiles.concat(Arrays.copyOf(m, a), Arrays.copyOfRange(m, b, m.length))
                        : StFiles.concat(Arrays.copyOf(m, b), Arrays.copyOfRange(m, a, m.length));
                m = out;
            }
            case 8 -> { // a dtype that lies about the data: another width, a dtype surpass does not read, garbage
                String h = new String(m, 8, headerEnd - 8, java.nio.charset.StandardCharsets.ISO_8859_1);
                String[] to = {"I64", "F16", "BF16", "U8", "BOOL", "F8_E4M3", "F64", "Q4", ""};
                String[] from = {"\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"", "\"I32\""};
                String f = from[rnd.nextInt(from.length)];
                int at = h.indexOf(f);
                if (at >= 0) {
                    String h2 = h.substring(0, at) + "\"" + to[rnd.nextInt(to.length)] + "\"" + h.substring(at + f.length());
                    byte[] hb = h2.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
                    m = StFiles.concat(StFiles.le64(hb.length), hb, Arrays.copyOfRange(m, headerEnd, m.length));
                }
            }
            case 9 -> { // NaN / ±Inf over the data: must open and read (the values are the file's business)
                float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
                for (int i = 0; i < 3 && m.length - headerEnd >= 4; i++) {
                    int pos = headerEnd + 4 * rnd.nextInt((m.length - headerEnd) / 4);
                    ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putFloat(pos, bad[rnd.nextInt(3)]);
                }
            }
            default -> { // change a digit (shapes, offsets) and fix nothing else
                for (int tries = 0; tries < 32; tries++) {
                    int pos = 8 + rnd.nextInt(headerEnd - 8);
                    if (m[pos] >= '0' && m[pos] <= '9') {
                        m[pos] = (byte) ('0' + rnd.nextInt(10));
                        break;
                    }
                }
            }
        }
        return m;
    }
}
