package dev.surpass.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads checkpoints written by {@code torch.save} (PyTorch 1.13, by
 * {@code src/test/resources/dev/surpass/io/make_torch_fixtures.py}; the files are committed): every
 * dtype, Parameters, non-contiguous and offset views, nested containers, a train.py-style file with
 * optimizer state and an argparse.Namespace; conversion to safetensors; the legacy format and
 * corrupted files refused with the file named, never another exception.
 */
class PyTorchCheckpointTest {
    @TempDir
    static Path tmp;

    static Device cpu;
    static Path stateDict, train, legacy;

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        stateDict = copy("state_dict.pt");
        train = copy("train.pt");
        legacy = copy("legacy.pt");
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    static Path copy(String name) throws IOException {
        try (InputStream in = PyTorchCheckpointTest.class.getResourceAsStream(name)) {
            Path p = tmp.resolve(name);
            Files.copy(in, p);
            return p;
        }
    }

    static float[] floats(PyTorchCheckpoint c, String name) {
        try (Tensor t = c.tensor(name, cpu)) {
            return t.toFloatArray();
        }
    }

    @Test
    void stateDictTensorsAsTorchWroteThem() {
        try (PyTorchCheckpoint c = PyTorchCheckpoint.open(stateDict)) {
            assertEquals(List.of("a.weight", "a.bias", "b", "d64", "i32", "ids", "p", "t", "s", "tied", "scalar", "nested.x", "nested.lst.0",
                    "nested.lst.1"), c.names());
            assertEquals(List.of("mask (BoolStorage)"), c.skipped());
            float[] a = new float[12];
            for (int i = 0; i < 12; i++) a[i] = i * 0.5f - 1;
            assertEquals(DType.F32, c.entry("a.weight").dtype());
            assertArrayEquals(new long[] {3, 4}, c.entry("a.weight").shape());
            assertArrayEquals(a, floats(c, "a.weight"));
            assertArrayEquals(a, floats(c, "tied"));
            assertEquals(DType.F16, c.entry("a.bias").dtype());
            assertArrayEquals(new float[] {0.5f, -1.5f, 2.25f, Float.float16ToFloat(Float.floatToFloat16(1e-3f))}, floats(c, "a.bias"));
            assertEquals(DType.BF16, c.entry("b").dtype());
            assertArrayEquals(new float[] {1, -2, 3.5f, DType.BF16.round(0.1f), 100, -0.25f}, floats(c, "b"));
            assertEquals(DType.F32, c.entry("d64").dtype(), "float64 is rounded to F32");
            assertArrayEquals(new float[] {(float) (1.0 / 3), -2.5f, 1e10f}, floats(c, "d64"));
            try (Tensor t = c.tensor("i32", cpu)) {
                assertEquals(DType.I32, t.dtype());
                assertArrayEquals(new int[] {1, -2, 3, Integer.MAX_VALUE}, t.toIntArray());
            }
            try (Tensor t = c.tensor("ids", cpu)) {
                assertEquals(DType.I64, t.dtype());
                assertArrayEquals(new long[] {0, 1, -5, 1L << 40, 7}, t.toLongArray());
            }
            assertArrayEquals(new float[] {2, 4}, floats(c, "p"));
            assertArrayEquals(new long[] {1, 2}, c.entry("p").shape());
            // base = arange(20).reshape(4, 5): t = base.t() (strides 1, 5), s = base[1:, 2:] (offset 7)
            float[] t = floats(c, "t");
            assertArrayEquals(new long[] {5, 4}, c.entry("t").shape());
            for (int i = 0; i < 5; i++) for (int j = 0; j < 4; j++) assertEquals(j * 5 + i, t[i * 4 + j]);
            assertArrayEquals(new float[] {7, 8, 9, 12, 13, 14, 17, 18, 19}, floats(c, "s"));
            assertArrayEquals(new long[0], c.entry("scalar").shape());
            assertArrayEquals(new float[] {3}, floats(c, "scalar"));
            assertArrayEquals(new float[] {9}, floats(c, "nested.x"));
            assertArrayEquals(new float[] {3}, floats(c, "nested.lst.1"));
            var e = assertThrows(IllegalArgumentException.class, () -> c.tensor("mask", cpu));
            assertTrue(e.getMessage().contains(stateDict.toString()) && e.getMessage().contains("'mask'"), e.getMessage());
        }
    }

    @Test
    void trainCheckpointAndConversion() throws IOException {
        try (PyTorchCheckpoint c = PyTorchCheckpoint.open(train)) {
            List<String> names = c.names();
            assertTrue(names.containsAll(List.of("model.weight", "model.bias", "ema.weight", "ema.bias", "opt.state.0.exp_avg")), names.toString());
            assertTrue(names.stream().noneMatch(n -> n.startsWith("args") || n.startsWith("step")), names.toString());
            Path out = tmp.resolve("ema.safetensors");
            assertEquals(2, c.writeSafeTensors(out, "ema", java.util.Map.of("source", "train.pt")));
            try (SafeTensorsFile f = SafeTensors.open(out)) {
                assertEquals(List.of("weight", "bias"), f.names());
                assertEquals("train.pt", f.metadata().get("source"));
                try (Tensor w = f.tensor("weight", cpu); Tensor b = f.tensor("bias", cpu)) {
                    assertArrayEquals(new long[] {2, 3}, w.shape());
                    float[] got = w.toFloatArray(), model = floats(c, "model.weight");
                    for (int i = 0; i < 6; i++) assertEquals(2 * model[i], got[i]);
                    assertEquals(2, b.numel());
                }
            }
            var e = assertThrows(IllegalArgumentException.class, () -> c.writeSafeTensors(tmp.resolve("x.safetensors"), "nope", null));
            assertTrue(e.getMessage().contains("'nope'"), e.getMessage());
        }
        // the whole state dict, every dtype kept (float64 as F32), views made contiguous
        Path all = tmp.resolve("all.safetensors");
        try (PyTorchCheckpoint c = PyTorchCheckpoint.open(stateDict)) {
            assertEquals(14, c.writeSafeTensors(all, null, null));
            try (SafeTensorsFile f = SafeTensors.open(all)) {
                assertEquals(c.names(), f.names());
                for (String n : c.names()) {
                    assertEquals(c.entry(n).dtype(), f.info(n).dtype(), n);
                    try (Tensor a = c.tensor(n, cpu); Tensor b = f.tensor(n, cpu)) {
                        assertArrayEquals(a.shape(), b.shape(), n);
                        assertEquals(a.hostSegment().mismatch(b.hostSegment()), -1L, n);
                    }
                }
            }
        }
    }

    @Test
    void otherFilesAreRefusedWithTheFileNamed() throws IOException {
        var e = assertThrows(IllegalArgumentException.class, () -> PyTorchCheckpoint.open(legacy));
        assertTrue(e.getMessage().contains(legacy.toString()) && e.getMessage().contains("legacy"), e.getMessage());
        Path st = tmp.resolve("w.safetensors");
        try (Tensor t = cpu.upload(DType.F32, new float[] {1}, 1)) {
            SafeTensors.write(st, java.util.Map.of("w", t));
        }
        e = assertThrows(IllegalArgumentException.class, () -> PyTorchCheckpoint.open(st));
        assertTrue(e.getMessage().contains(st.toString()), e.getMessage());
        assertThrows(UncheckedIOException.class, () -> PyTorchCheckpoint.open(tmp.resolve("missing.pt")));
        // and the safetensors reader points at the converter for a PyTorch file
        e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.open(stateDict));
        assertTrue(e.getMessage().contains("surpass convert"), e.getMessage());
    }

    /**
     * Truncations and byte flips anywhere (the pickle, the storages, the zip directory): open and
     * read every tensor, which either works or throws IllegalArgumentException / UncheckedIOException
     * naming the file — never another exception, a hang or a huge allocation.
     */
    @Test
    void corruptedFilesFailCleanly() throws IOException {
        byte[] good = Files.readAllBytes(stateDict);
        Random r = new Random(20261128L);
        int opened = 0;
        for (int k = 0; k < 400; k++) {
            byte[] b = good.clone();
            if (k % 4 == 0) {
                b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
            } else {
                for (int f = 0; f <= k % 3; f++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            }
            Path p = tmp.resolve("fuzz-" + k + ".pt");
            Files.write(p, b);
            try (PyTorchCheckpoint c = PyTorchCheckpoint.open(p)) {
                opened++;
                for (String n : c.names()) {
                    try (Tensor t = c.tensor(n, cpu)) {
                        assertArrayEquals(c.entry(n).shape(), t.shape(), n); // what the pickle says, whatever the bytes
                        assertEquals(c.entry(n).dtype(), t.dtype(), n);
                    } catch (IllegalArgumentException | UncheckedIOException x) {
                        assertTrue(x.getMessage().contains(p.toString()), x.getMessage());
                    }
                }
            } catch (IllegalArgumentException | UncheckedIOException x) {
                assertTrue(x.getMessage().contains(p.toString()), x.getMessage());
            } finally {
                Files.delete(p);
            }
        }
        assertTrue(opened > 0 && opened < 400, "opened " + opened);
    }

    static String[] cli(String... args) {
        return dev.surpass.cli.CliRuns.run(args);
    }

    @Test
    void convertCommand() throws IOException {
        Path out = tmp.resolve("cli.safetensors");
        String[] r = cli("convert", train.toString(), out.toString(), "--only", "ema");
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[2].contains("2 tensors {F32=2}"), r[2]);
        try (SafeTensorsFile f = SafeTensors.open(out)) {
            assertEquals(List.of("weight", "bias"), f.names());
            assertEquals("train.pt", f.metadata().get("converted_from"));
        }
        r = cli("convert", stateDict.toString(), out.toString(), "--list");
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[1].contains("t\tF32\t[5, 4]") && r[2].contains("skipped mask (BoolStorage)"), r[1] + r[2]);
        r = cli("convert", legacy.toString(), out.toString());
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("legacy"), r[2]);
        Path folder = Files.createDirectories(tmp.resolve("hf-folder"));
        Files.copy(stateDict, folder.resolve("pytorch_model.bin"));
        Files.writeString(folder.resolve("config.json"), "{\"model_type\": \"llama\"}");
        // a folder with only PyTorch weights opens them (converted as they are opened); safetensors win when both are there
        assertEquals(List.of(folder.resolve("pytorch_model.bin")), PyTorchCheckpoint.weightFiles(folder));
        Path empty = Files.createDirectories(tmp.resolve("no-weights"));
        var none = assertThrows(IllegalArgumentException.class, () -> PyTorchCheckpoint.weightFiles(empty));
        assertTrue(none.getMessage().contains(empty.toString()) && none.getMessage().contains("*.safetensors"), none.getMessage());
        try (SafeTensorsFile f = PyTorchCheckpoint.openAsSafeTensors(folder.resolve("pytorch_model.bin"))) {
            assertTrue(f.names().contains("a.weight") && f.names().contains("nested.lst.1"), f.names().toString());
        }
        // a sharded folder: two .bin shards and their index become safetensors shards and a safetensors index
        Files.copy(train, folder.resolve("pytorch_model-00002-of-00002.bin"));
        Files.move(folder.resolve("pytorch_model.bin"), folder.resolve("pytorch_model-00001-of-00002.bin"));
        Files.writeString(folder.resolve("pytorch_model.bin.index.json"), "{\"metadata\": {}, \"weight_map\": {\"a.weight\":"
                + " \"pytorch_model-00001-of-00002.bin\", \"model.weight\": \"pytorch_model-00002-of-00002.bin\"}}");
        Path conv = tmp.resolve("hf-folder-st");
        r = cli("convert", folder.toString(), conv.toString());
        assertEquals("0", r[0], r[1] + r[2]);
        for (String f : new String[] {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "config.json"}) {
            assertTrue(Files.isRegularFile(conv.resolve(f)), f + " in " + r[1]);
        }
        String index = Files.readString(conv.resolve("model.safetensors.index.json"));
        assertTrue(index.contains("\"model-00002-of-00002.safetensors\"") && !index.contains(".bin"), index);
        try (SafeTensorsFile f = SafeTensors.open(conv.resolve("model-00002-of-00002.safetensors"))) {
            assertTrue(f.names().contains("ema.weight"), f.names().toString());
        }
        r = cli("convert", tmp.resolve("nope.pt").toString(), out.toString());
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("nope.pt"), r[2]);
    }
}
