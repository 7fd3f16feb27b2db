package dev.surpass.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading and writing well-formed files: round trips, exact layout, zero copy, lifetime. */
class SafeTensorsTest {
    @TempDir
    Path dir;

    Device cpu;

    @BeforeEach
    void open() {
        cpu = Device.cpu();
    }

    @AfterEach
    void close() {
        cpu.close();
    }

    /** A tensor of random bit patterns (every byte pattern, NaN payloads included). */
    private Tensor random(Random rnd, DType dt, long... shape) {
        long n = dev.surpass.Shapes.byteSize(dt, shape);
        byte[] b = new byte[(int) n];
        rnd.nextBytes(b);
        return cpu.upload(dt, MemorySegment.ofArray(b), shape);
    }

    private static byte[] bytesOf(Tensor t) {
        byte[] out = new byte[(int) t.byteSize()];
        t.copyTo(MemorySegment.ofArray(out));
        return out;
    }

    private static byte[] bytesOf(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void roundTripEveryDtypeAndShape() {
        Random rnd = new Random(42);
        long[][] shapes = {{}, {0}, {1}, {13}, {3, 0, 2}, {3, 5, 7}, {2, 1, 1, 65}};
        Map<String, Tensor> in = new LinkedHashMap<>();
        for (DType dt : DType.values()) {
            for (int i = 0; i < shapes.length; i++) in.put("layer." + dt + ".w" + i, random(rnd, dt, shapes[i]));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("unicode ✓ 🙂", "quote \" backslash \\ newline \n tab \t nul \u0000");
        meta.put("empty", "");
        Path p = dir.resolve("rt.safetensors");
        SafeTensors.write(p, in, meta);
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertEquals(new ArrayList<>(in.keySet()), f.names(), "data order = insertion order");
            assertEquals(meta, f.metadata());
            assertEquals(List.of(meta.keySet().toArray()), List.copyOf(f.metadata().keySet()), "metadata order kept");
            assertTrue(f.warnings().isEmpty(), f.warnings().toString());
            assertEquals(0, (8 + f.headerSize()) % 8, "header padded to a multiple of 8");
            for (var e : in.entrySet()) {
                Tensor want = e.getValue();
                TensorInfo info = f.info(e.getKey());
                assertEquals(want.dtype(), info.dtype());
                assertEquals(want.dtype().safetensorsName(), info.dtypeName());
                assertArrayEquals(want.shape(), info.shape());
                assertEquals(want.byteSize(), info.byteSize());
                assertArrayEquals(bytesOf(want), bytesOf(f.bytes(e.getKey())), e.getKey());
                try (Tensor got = f.tensor(e.getKey(), cpu)) {
                    assertEquals(want.dtype(), got.dtype());
                    assertArrayEquals(want.shape(), got.shape());
                    assertArrayEquals(bytesOf(want), bytesOf(got), e.getKey());
                }
            }
        }
    }

    @Test
    void roundTripManyTensorsWithoutMetadata() {
        Random rnd = new Random(7);
        Map<String, Tensor> in = new LinkedHashMap<>();
        DType[] dts = DType.values();
        for (int i = 0; i < 500; i++) {
            DType dt = dts[rnd.nextInt(dts.length)];
            in.put("blocks." + i + ".ü.weight", random(rnd, dt, 1 + rnd.nextInt(5), rnd.nextInt(9)));
        }
        Path p = dir.resolve("many.safetensors");
        SafeTensors.write(p, in);
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertTrue(f.metadata().isEmpty());
            assertEquals(500, f.size());
            Map<String, Tensor> all = f.tensors(cpu);
            assertEquals(new ArrayList<>(in.keySet()), new ArrayList<>(all.keySet()));
            for (var e : in.entrySet()) assertArrayEquals(bytesOf(e.getValue()), bytesOf(all.get(e.getKey())), e.getKey());
            all.values().forEach(Tensor::close);
        }
    }

    @Test
    void emptyFileWithNoTensors() {
        Path p = dir.resolve("empty.safetensors");
        SafeTensors.write(p, Map.of());
        assertEquals(16, sizeOf(p)); // 8-byte length + "{}" padded to 8
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertTrue(f.names().isEmpty());
            assertTrue(f.metadata().isEmpty());
        }
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The writer's exact bytes, worked out by hand. */
    @Test
    void writerProducesTheExactByteLayout() throws Exception {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("t", cpu.upload(DType.F32, new float[] {1.5f}, 1));
        Path p = dir.resolve("exact.safetensors");
        SafeTensors.write(p, in, Map.of("k", "v"));
        String json = "{\"__metadata__\":{\"k\":\"v\"},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        int pad = (8 - json.length() % 8) % 8;
        byte[] header = (json + " ".repeat(pad)).getBytes(StandardCharsets.UTF_8);
        byte[] want = StFiles.concat(StFiles.le64(header.length), header, StFiles.f32(1.5f));
        assertArrayEquals(want, Files.readAllBytes(p));
    }

    /** The example file from the reference implementation's documentation, byte for byte. */
    @Test
    void readsTheReferenceExample() {
        String json = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        assertEquals(60, json.length()); // the example's length prefix is '<' = 0x3c
        byte[] data = StFiles.i32(1, -2, 3, Integer.MIN_VALUE);
        Path p = StFiles.file(dir, "ref.safetensors", json, data);
        try (SafeTensorsFile f = SafeTensors.open(p); Tensor t = f.tensor("test", cpu)) {
            assertEquals(List.of("test"), f.names());
            assertArrayEquals(new long[] {2, 2}, t.shape());
            assertArrayEquals(new int[] {1, -2, 3, Integer.MIN_VALUE}, t.toIntArray());
        }
    }

    /** A handcrafted file: header out of data order, metadata last, padding, unknown field, unsupported dtype. */
    @Test
    void readsHandcraftedFile() {
        String json = "{" + StFiles.entry("b", "I32", "[2]", 8, 16) + ","
                + "\"a\":{\"shape\":[2],\"data_offsets\":[0,8],\"dtype\":\"F32\",\"extra\":{\"ignored\":[1,2,{}]}},"
                + StFiles.entry("s", "BF16", "[]", 16, 18) + ","
                + StFiles.entry("d", "F64", "[1]", 18, 26) + ","
                + "\"__metadata__\":{\"format\":\"pt\"}}   ";
        byte[] data = StFiles.concat(StFiles.f32(1.5f, -2f), StFiles.i32(7, -9), new byte[] {(byte) 0x80, 0x3f},
                StFiles.le64(Double.doubleToRawLongBits(0.25)));
        Path p = StFiles.file(dir, "hand.safetensors", json, data);
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertEquals(List.of("a", "b", "s", "d"), f.names(), "names are in data-offset order");
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertTrue(f.contains("a"));
            assertFalse(f.contains("c"));
            assertEquals(new TensorInfo("b", "I32", DType.I32, new long[] {2}, 8, 16), f.info("b"));
            try (Tensor a = f.tensor("a", cpu); Tensor b = f.tensor("b", cpu); Tensor s = f.tensor("s", cpu)) {
                assertArrayEquals(new float[] {1.5f, -2f}, a.toFloatArray());
                assertArrayEquals(new int[] {7, -9}, b.toIntArray());
                assertEquals(0, s.rank());
                assertEquals(1, s.numel());
                assertEquals(1.0f, s.getFloat(0)); // bf16 0x3f80
            }
            TensorInfo d = f.info("d");
            assertNull(d.dtype());
            assertEquals("F64", d.dtypeName());
            assertEquals(0.25, f.bytes("d").get(ValueLayout.JAVA_DOUBLE_UNALIGNED, 0));
            var e = assertThrows(IllegalArgumentException.class, () -> f.tensor("d", cpu));
            assertTrue(e.getMessage().contains("'d'") && e.getMessage().contains("F64") && e.getMessage().contains("hand.safetensors"),
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> f.tensors(cpu));
            var missing = assertThrows(IllegalArgumentException.class, () -> f.info("bb"));
            assertTrue(missing.getMessage().contains("did you mean 'b'"), missing.getMessage());
        }
    }

    @Test
    void everyFormatDtypeOpens() {
        String[][] cases = {{"BOOL", "8"}, {"U8", "8"}, {"I8", "8"}, {"F8_E5M2", "8"}, {"F8_E4M3", "8"}, {"F8_E8M0", "8"},
            {"I16", "16"}, {"U16", "16"}, {"U32", "32"}, {"U64", "64"}, {"F64", "64"}, {"C64", "64"}, {"F4", "4"},
            {"F6_E2M3", "6"}, {"F6_E3M2", "6"}};
        StringBuilder json = new StringBuilder("{");
        long off = 0;
        for (String[] c : cases) {
            long bytes = 4 * Integer.parseInt(c[1]) / 8; // shape [4]
            if (off > 0) json.append(',');
            json.append(StFiles.entry("t_" + c[0], c[0], "[4]", off, off + bytes));
            off += bytes;
        }
        json.append('}');
        Path p = StFiles.file(dir, "dtypes.safetensors", json.toString(), new byte[(int) off]);
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertEquals(cases.length, f.size());
            for (String[] c : cases) {
                assertNull(f.info("t_" + c[0]).dtype());
                assertEquals(4L * Integer.parseInt(c[1]) / 8, f.bytes("t_" + c[0]).byteSize());
            }
        }
    }

    @Test
    void cpuTensorsAreZeroCopyViewsOfTheMapping() {
        Random rnd = new Random(3);
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("x", random(rnd, DType.F32, 64, 3));
        in.put("y", random(rnd, DType.BF16, 4)); // keeps "z" 8-byte aligned (an odd count would make it a copy)
        in.put("z", random(rnd, DType.I64, 2));
        Path p = dir.resolve("zc.safetensors");
        SafeTensors.write(p, in);
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            MemorySegment mapping = f.dataSegment();
            int live = cpu.liveAllocations();
            assertTrue(mapping.isMapped() && mapping.isReadOnly());
            for (String name : f.names()) {
                try (Tensor t = f.tensor(name, cpu)) {
                    MemorySegment s = t.hostSegment();
                    assertTrue(s.isNative());
                    long begin = mapping.address() + f.info(name).begin();
                    assertEquals(begin, s.address(), name + " is not a view of the mapping");
                    assertTrue(s.address() + s.byteSize() <= mapping.address() + mapping.byteSize());
                    assertTrue(s.isReadOnly(), "borrowed weights are read-only");
                    assertThrows(IllegalArgumentException.class, () -> t.copyFrom(MemorySegment.ofArray(new byte[(int) t.byteSize()])));
                }
            }
            assertEquals(live, cpu.liveAllocations(), "closing borrowed tensors releases them from the device");
        }
    }

    /** A header whose length is not a multiple of 8 leaves data misaligned: CPU tensors are then copies. */
    @Test
    void misalignedDataIsCopiedNotWrapped() {
        String json = "{" + StFiles.entry("w", "F32", "[3]", 0, 12) + "}";
        json += " ".repeat(((8 - json.length() % 8) % 8) + 1); // 8 + N is 1 mod 8
        Path p = StFiles.file(dir, "mis.safetensors", json, StFiles.f32(1f, 2f, 3f));
        try (SafeTensorsFile f = SafeTensors.open(p); Tensor t = f.tensor("w", cpu)) {
            assertNotEquals(0, f.bytes("w").address() % 4);
            assertEquals(0, t.hostSegment().address() % 4);
            assertFalse(t.hostSegment().isMapped());
            assertArrayEquals(new float[] {1f, 2f, 3f}, t.toFloatArray());
        }
    }

    @Test
    void useAfterCloseThrowsIllegalState() {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("w", cpu.upload(DType.F32, new float[] {1, 2, 3}, 3));
        Path p = dir.resolve("uac.safetensors");
        SafeTensors.write(p, in);
        SafeTensorsFile f = SafeTensors.open(p);
        MemorySegment slice = f.bytes("w");
        Tensor borrowed = f.tensor("w", cpu);
        assertEquals(2f, borrowed.getFloat(1));
        f.close();
        assertTrue(f.isClosed());
        assertEquals(p, f.path());
        assertThrows(IllegalStateException.class, f::names);
        assertThrows(IllegalStateException.class, f::metadata);
        assertThrows(IllegalStateException.class, () -> f.info("w"));
        assertThrows(IllegalStateException.class, () -> f.bytes("w"));
        assertThrows(IllegalStateException.class, () -> f.tensor("w", cpu));
        assertThrows(IllegalStateException.class, () -> f.contains("w"));
        assertThrows(IllegalStateException.class, () -> slice.get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> borrowed.getFloat(1));
        assertThrows(IllegalStateException.class, borrowed::toFloatArray);
        f.close(); // twice: harmless
        borrowed.close();
    }

    @Test
    void closeFromAnotherThreadWhileReading() throws Exception {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("w", cpu.upload(DType.F32, new float[1 << 16], 1 << 16));
        Path p = dir.resolve("race.safetensors");
        SafeTensors.write(p, in);
        for (int round = 0; round < 20; round++) {
            SafeTensorsFile f = SafeTensors.open(p);
            MemorySegment s = f.bytes("w");
            Thread reader = new Thread(() -> {
                try {
                    for (int i = 0; i < 1000; i++) s.toArray(ValueLayout.JAVA_BYTE);
                } catch (IllegalStateException expected) {
                    // closed under us: the documented outcome
                }
            });
            reader.start();
            Thread.sleep(round % 3);
            f.close();
            reader.join();
        }
    }

    /** Replacing a file that is open: the mapping keeps the old bytes, a new open sees the new ones. */
    @Test
    void rewritingAnOpenFileIsSafe() {
        Path p = dir.resolve("rw.safetensors");
        SafeTensors.write(p, Map.of("w", cpu.upload(DType.F32, new float[] {1, 2}, 2)));
        try (SafeTensorsFile old = SafeTensors.open(p); Tensor w = old.tensor("w", cpu)) {
            SafeTensors.write(p, Map.of("w", w, "v", cpu.upload(new int[] {5}, 1))); // w borrows the file it replaces
            SafeTensors.write(p, Map.of("w", cpu.upload(DType.F32, new float[] {3, 4}, 2)));
            assertArrayEquals(new float[] {1, 2}, w.toFloatArray());
            try (SafeTensorsFile now = SafeTensors.open(p)) {
                assertArrayEquals(StFiles.f32(3, 4), bytesOf(now.bytes("w")));
            }
        }
        try (Stream<Path> s = listDir()) {
            assertEquals(List.of("rw.safetensors"), s.map(x -> x.getFileName().toString()).toList(), "no temporary files left");
        }
    }

    private Stream<Path> listDir() {
        try {
            return Files.list(dir);
        } catch (java.io.IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void gapsAndTrailingBytesOpenWithWarnings() {
        String json = "{" + StFiles.entry("a", "F32", "[1]", 4, 8) + "," + StFiles.entry("b", "F32", "[1]", 12, 16) + "}";
        Path p = StFiles.file(dir, "gaps.safetensors", json, new byte[20]);
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertEquals(3, f.warnings().size(), f.warnings().toString());
            assertEquals(List.of("a", "b"), f.names());
        }
    }

    @Test
    void emptyTensorsMayShareAnOffset() {
        String json = "{" + StFiles.entry("a", "F32", "[0]", 0, 0) + "," + StFiles.entry("b", "F16", "[2,0]", 0, 0) + ","
                + StFiles.entry("c", "I32", "[1]", 0, 4) + "," + StFiles.entry("d", "I64", "[0,5]", 4, 4) + "}";
        Path p = StFiles.file(dir, "empties.safetensors", json, StFiles.i32(9));
        try (SafeTensorsFile f = SafeTensors.open(p)) {
            assertEquals(List.of("a", "b", "c", "d"), f.names());
            try (Tensor b = f.tensor("b", cpu)) {
                assertEquals(0, b.numel());
                assertArrayEquals(new long[] {2, 0}, b.shape());
            }
        }
    }

    @Test
    void writeRejectsBadArguments() {
        Tensor t = cpu.upload(DType.F32, new float[] {1}, 1);
        Path p = dir.resolve("bad.safetensors");
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(p, Map.of("__metadata__", t)));
        Map<String, Tensor> withNull = new LinkedHashMap<>();
        withNull.put("x", null);
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(p, withNull));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("k", null);
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(p, Map.of("x", t), meta));
        Tensor closed = cpu.upload(DType.F32, new float[] {1}, 1);
        closed.close();
        assertThrows(IllegalStateException.class, () -> SafeTensors.write(p, Map.of("x", closed)));
        assertFalse(Files.exists(p));
        var e = assertThrows(UncheckedIOException.class, () -> SafeTensors.write(dir.resolve("no/such/dir/x.safetensors"), Map.of("x", t)));
        assertTrue(e.getMessage().contains("x.safetensors"), e.getMessage());
    }

    @Test
    @Tag("gpu")
    void gpuUploadAndDownload() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device: GPU safetensors test skipped");
        Random rnd = new Random(11);
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("a", random(rnd, DType.BF16, 3, 1000));
        in.put("b", random(rnd, DType.F32, 0));
        in.put("c", random(rnd, DType.I64, 7));
        Path p = dir.resolve("gpu.safetensors");
        Path p2 = dir.resolve("gpu2.safetensors");
        SafeTensors.write(p, in);
        try (Device gpu = Device.cuda(0); SafeTensorsFile f = SafeTensors.open(p)) {
            Map<String, Tensor> onGpu = f.tensors(gpu);
            for (Tensor t : onGpu.values()) assertSame(gpu, t.device());
            SafeTensors.write(p2, onGpu); // downloads
            try (SafeTensorsFile g = SafeTensors.open(p2)) {
                for (String n : in.keySet()) assertArrayEquals(bytesOf(in.get(n)), bytesOf(g.bytes(n)), n);
            }
        }
    }
}
