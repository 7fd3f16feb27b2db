package dev.surpass.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Mutations of valid files for the file fuzzers: raw bytes (bit flips, truncations, overwrites,
 * lying little-endian lengths, NaN/Inf written over float data) and JSON (a value replaced by one of
 * another type, a negative, zero, huge or non-finite number, a key dropped, deep nesting, a huge
 * string or array, textual damage). Each mutation is drawn from a {@link Random} so a failure
 * reproduces from its seed.
 */
public final class Mutate {
    private Mutate() {}

    // reads configs as the loaders do (Python's json writes Infinity / NaN)
    private static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    /** One random byte-level mutation of {@code valid}; {@code hot} bytes from the start (the header) are hit most. */
    public static byte[] bytes(byte[] valid, int hot, Random r) {
        byte[] m = valid.clone();
        int n = m.length;
        if (n == 0) return new byte[] {(byte) r.nextInt()};
        int h = Math.max(1, Math.min(hot, n));
        switch (r.nextInt(7)) {
            case 0, 1 -> { // a few bit flips
                for (int i = 1 + r.nextInt(4); i > 0; i--) {
                    int p = r.nextInt(4) == 0 ? r.nextInt(n) : r.nextInt(h);
                    m[p] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 2 -> m = Arrays.copyOf(m, r.nextInt(n)); // truncation
            case 3 -> { // overwrite a run with random bytes
                int p = r.nextInt(h), len = 1 + r.nextInt(8);
                for (int i = p; i < Math.min(n, p + len); i++) m[i] = (byte) r.nextInt();
            }
            case 4 -> { // a lying 8-byte little-endian length at an aligned place in the hot region
                int p = Math.min(n - Math.min(n, 8), 8 * r.nextInt(Math.max(1, h / 8)));
                if (n >= 8) ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(p, lie(r));
            }
            case 5 -> { // NaN / Inf / huge over aligned 4-byte words past the hot region (float data)
                float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 3e38f, -0f};
                for (int i = 0; i < 4 && n - h >= 4; i++) {
                    int p = h + 4 * r.nextInt((n - h) / 4);
                    ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putFloat(p - (p - h) % 4, bad[r.nextInt(bad.length)]);
                }
            }
            default -> { // trailing garbage
                m = Arrays.copyOf(m, n + 1 + r.nextInt(32));
                for (int i = n; i < m.length; i++) m[i] = (byte) r.nextInt();
            }
        }
        return m;
    }

    /** A length or offset a lying file might claim. */
    public static long lie(Random r) {
        return switch (r.nextInt(5)) {
            case 0 -> r.nextLong();
            case 1 -> 1L << r.nextInt(63);
            case 2 -> -1L - r.nextInt(100);
            case 3 -> Long.MAX_VALUE - r.nextInt(8);
            default -> r.nextInt(1 << 20);
        };
    }

    /** One random mutation of the JSON text {@code valid}: structural (through the tree) or textual. */
    public static String json(String valid, Random r) {
        int kind = r.nextInt(10);
        if (kind >= 7) return jsonText(valid, r, kind);
        JsonNode root;
        try {
            root = JSON.readTree(valid);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<JsonNode> containers = new ArrayList<>();
        collect(root, containers);
        JsonNode c = containers.get(r.nextInt(containers.size()));
        if (c instanceof ObjectNode o && o.size() > 0) {
            List<String> keys = new ArrayList<>();
            o.fieldNames().forEachRemaining(keys::add);
            String k = keys.get(r.nextInt(keys.size()));
            if (kind == 6) o.remove(k);
            else o.set(k, badValue(o.get(k), r, kind));
        } else if (c instanceof ArrayNode a && a.size() > 0) {
            int i = r.nextInt(a.size());
            if (kind == 6) a.remove(i);
            else a.set(i, badValue(a.get(i), r, kind));
        }
        return root.toString();
    }

    private static void collect(JsonNode n, List<JsonNode> out) {
        if (n.isContainerNode()) {
            out.add(n);
            for (JsonNode c : n) collect(c, out);
        }
    }

    /** A value of the wrong type or range in place of {@code old}. */
    private static JsonNode badValue(JsonNode old, Random r, int kind) {
        return switch (kind) {
            case 0 -> F.numberNode(new long[] {-1, 0, 1, 3, Integer.MAX_VALUE, Integer.MAX_VALUE + 1L, Long.MAX_VALUE, Long.MIN_VALUE}[r.nextInt(8)]);
            case 1 -> F.numberNode(new double[] {0.5, -0.0, 1e308, -1e-308, 3.7, Double.NaN}[r.nextInt(6)]);
            case 2 -> F.textNode(new String[] {"", "abc", "12", "-1", "NaN", "\u0000", "gelu_new", "silu", "true"}[r.nextInt(9)]);
            case 3 -> r.nextBoolean() ? F.nullNode() : F.booleanNode(r.nextBoolean());
            case 4 -> r.nextBoolean() ? F.arrayNode().add(old == null ? F.nullNode() : old).add(7) : F.objectNode().set("x", old);
            default -> { // a big value: a long string or a long array
                if (r.nextBoolean()) yield F.textNode("x".repeat(1 << 16));
                ArrayNode a = F.arrayNode();
                for (int i = 0; i < 1 << 14; i++) a.add(i);
                yield a;
            }
        };
    }

    private static String jsonText(String valid, Random r, int kind) {
        return switch (kind) {
            case 7 -> valid.substring(0, r.nextInt(Math.max(1, valid.length()))); // truncation
            case 8 -> "[".repeat(2000 + r.nextInt(20000)) + valid; // deep nesting
            default -> { // a few characters overwritten with JSON-significant ones
                char[] c = valid.toCharArray();
                String sp = "{}[]\",:-0123456789eE.\\ nultrf";
                for (int i = 0; i < 1 + r.nextInt(3); i++) c[r.nextInt(c.length)] = sp.charAt(r.nextInt(sp.length()));
                yield new String(c);
            }
        };
    }

    /** Writes {@code text} as UTF-8 to {@code file} and returns it. */
    public static Path write(Path file, String text) {
        return write(file, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Writes {@code bytes} to {@code file} and returns it. */
    public static Path write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** Whether a message names the file (its full path or its name). */
    public static boolean namesFile(Throwable t, Path file) {
        String m = t.getMessage();
        return m != null && (m.contains(file.toString()) || m.contains(file.getFileName().toString()));
    }

    /**
     * Copies the files of checkpoint folder {@code src} to {@code work} with {@code config.json}
     * mutated (from {@code seed}), then loads it with {@code loader} under the contract: the model
     * loads (and is closed) or the refusal names the folder. Counts the file in {@code property}.
     */
    public static void configCase(String property, Path src, Path work, long seed, java.util.function.Function<Path, AutoCloseable> loader) {
        try {
            Files.createDirectories(work);
            try (var files = Files.list(src)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (Files.isRegularFile(f) && !f.getFileName().toString().equals("config.json")) Files.copy(f, work.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
            String valid = Files.readString(src.resolve("config.json"));
            String m = json(valid, new Random(seed));
            write(work.resolve("config.json"), m);
            AutoCloseable model = Fuzz.call(property, "config.json (seed " + seed + "): " + abbreviate(m), () -> loader.apply(work),
                    work.toString());
            if (model != null) model.close();
        } catch (Exception e) {
            throw new AssertionError(property + ": " + e, e);
        }
    }

    /** The first 600 characters (a mutated file in a failure message). */
    public static String abbreviate(String s) {
        return s.length() <= 600 ? s : s.substring(0, 600) + "… (" + s.length() + " chars)";
    }
}
