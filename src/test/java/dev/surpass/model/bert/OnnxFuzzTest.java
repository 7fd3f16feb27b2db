package dev.surpass.model.bert;

import dev.surpass.Device;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Mutate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the ONNX initializer reader. Files: the small hand-built model of {@link OnnxGraphTest}
 * (float raw_data, packed float_data, int64 data, one node) and the real all-MiniLM-L6-v2 export
 * (when its artifact is on the class path), with bit flips, truncations, lying varint lengths and
 * 8-byte lengths, NaN/Inf written over weights and trailing garbage. Each must parse (and its
 * initializers read) or be refused with {@link IllegalArgumentException} naming the file (through
 * {@link OnnxGraph#read}); a parsed MiniLM is mapped and built into a {@link BertModel}, which loads
 * or is refused naming the file.
 */
class OnnxFuzzTest {
    static Path tmp;
    static byte[] small, miniLm;
    static Device cpu;

    @BeforeAll
    static void open() throws IOException {
        tmp = Files.createTempDirectory("onnxfuzz");
        cpu = Device.cpu();
        small = OnnxGraphTest.model(OnnxGraphTest.le(1, 2, 3, 4, 5, 6));
        if (OnnxFuzzTest.class.getClassLoader().getResource(MiniLm.ONNX) != null) miniLm = MiniLm.find().onnx();
    }

    @AfterAll
    static void close() throws IOException {
        Fuzz.finish("files.onnx.");
        cpu.close();
        try (var s = Files.walk(tmp)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** Parses a mutated file (the refusal must name it) and reads its initializers. */
    static void readAll(String prop, Path f, long seed) {
        OnnxGraph g = Fuzz.call(prop, "seed " + seed, () -> OnnxGraph.read(f), f.getFileName().toString());
        if (g != null) readInitializers(prop, g, seed);
    }

    /** Reads every initializer as its data type allows: values, or a refusal naming the initializer. */
    static void readInitializers(String prop, OnnxGraph g, long seed) {
        for (OnnxGraph.Initializer t : g.initializers().values()) {
            Fuzz.call(prop + ".initializer", t.name() + " seed " + seed, () -> t.dataType() == OnnxGraph.INT64 || t.dataType() == OnnxGraph.INT32
                    ? t.longs() : t.floats(), t.name().isEmpty() ? new String[0] : new String[] {t.name()});
        }
    }

    @Test
    void smallModel() {
        Fuzz.forAll("files.onnx.small", 300, g -> smallModel(g.anyLong()));
    }

    private static void smallModel(long seed) {
        Random r = new Random(seed);
        byte[] m = r.nextInt(4) == 0 ? lyingVarint(small, r) : Mutate.bytes(small, small.length, r);
        readAll("files.onnx.small", Mutate.write(tmp.resolve("small.onnx"), m), seed);
    }

    /** Replaces one length-delimited field's varint length by a huge or negative one. */
    static byte[] lyingVarint(byte[] valid, Random r) {
        // the first byte after a length-delimited tag (wire type 2) at a random place
        for (int tries = 0; tries < 64; tries++) {
            int p = r.nextInt(valid.length - 1);
            if ((valid[p] & 7) == 2 && (valid[p] & 0x80) == 0) {
                long lie = Mutate.lie(r);
                java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
                out.write(valid, 0, p + 1);
                long v = lie;
                do {
                    int b = (int) (v & 0x7f);
                    v >>>= 7;
                    out.write(v != 0 ? b | 0x80 : b);
                } while (v != 0);
                int skip = p + 1;
                while (skip < valid.length && (valid[skip] & 0x80) != 0) skip++;
                out.write(valid, Math.min(valid.length, skip + 1), Math.max(0, valid.length - skip - 1));
                return out.toByteArray();
            }
        }
        return valid.clone();
    }

    @Test
    void miniLm() {
        Fuzz.forAll("files.onnx.minilm", 5, g -> miniLm(g.anyLong()));
    }

    private static void miniLm(long seed) {
        if (miniLm == null) return; // `surpass bundle` leaves the artifact out (176 MB)
        Random r = new Random(seed);
        // the graph's structure and the initializers' headers sit in the first ~64 KiB; the weights after
        byte[] m = r.nextInt(3) == 0 ? lyingVarint(miniLm, r) : Mutate.bytes(miniLm, 1 << 16, r);
        // parsed from memory (OnnxGraph.read adds the file name to the same messages; 90 MB not written each try)
        OnnxGraph g = Fuzz.call("files.onnx.minilm", "seed " + seed, () -> OnnxGraph.parse(m));
        if (g == null) return;
        readInitializers("files.onnx.minilm", g, seed);
        BertModel b = Fuzz.call("files.onnx.minilm.model", "seed " + seed, () -> BertModel.fromOnnx(cpu, g, MiniLm.HEADS, MiniLm.LAYER_NORM_EPS,
                "minilm.onnx"), "minilm.onnx");
        if (b != null) b.close();
    }
}
