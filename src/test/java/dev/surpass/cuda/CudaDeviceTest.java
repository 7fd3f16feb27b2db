package dev.surpass.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA runtime on a real GPU: memory, copies, threads, OOM, module loading, launches,
 * cuBLAS. Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaDeviceTest {
    static final long SEED = 20240611L;
    static final int[] SIZES = {1, 3, 13, 63, 64, 65, 127, 1000, 100_003};

    static Device dev;

    @BeforeAll
    static void open() {
        if (Device.cudaDeviceCount() > 0) dev = Device.cuda(0);
    }

    /** Each test is skipped, with the reason, on a host without a GPU. */
    @BeforeEach
    void needGpu() {
        assumeTrue(dev != null, "no CUDA device: " + CudaRuntime.unavailableReason());
    }

    @AfterAll
    static void close() {
        if (dev != null) {
            dev.close();
            assertEquals(0, dev.liveAllocations());
        }
    }

    @Test
    void describesTheGpu() {
        CudaProperties p = CudaBackend.of(dev).properties();
        assertTrue(p.ccMajor() >= 8, "compute capability " + p.ccMajor() + "." + p.ccMinor());
        assertTrue(p.smCount() > 0 && p.totalMemory() > 0 && p.maxSharedPerBlockOptin() >= p.maxSharedPerBlock());
        String d = dev.describe();
        assertTrue(d.contains(p.name()) && d.contains("compute capability") && d.contains("cuBLAS"), d);
        System.out.println(d);
        assertTrue(dev.name().startsWith("cuda:0 ("), dev.name());
    }

    @Test
    void roundTripEveryDtypeAndOddSizes() {
        Random r = new Random(SEED);
        for (int n : SIZES) {
            float[] f = new float[n];
            short[] h = new short[n];
            int[] i = new int[n];
            long[] l = new long[n];
            for (int j = 0; j < n; j++) {
                f[j] = (float) r.nextGaussian();
                h[j] = (short) r.nextInt();
                i[j] = r.nextInt();
                l[j] = r.nextLong();
            }
            try (Tensor t = dev.upload(DType.F32, f, n)) {
                assertArrayEquals(f, t.toFloatArray(), "F32 n=" + n + " seed " + SEED);
            }
            for (DType d : new DType[] {DType.F16, DType.BF16}) {
                try (Tensor t = dev.upload(d, h, n)) {
                    assertArrayEquals(h, t.toShortArray(), d + " n=" + n + " seed " + SEED);
                }
            }
            try (Tensor t = dev.upload(i, n)) {
                assertArrayEquals(i, t.toIntArray(), "I32 n=" + n);
            }
            try (Tensor t = dev.upload(l, n)) {
                assertArrayEquals(l, t.toLongArray(), "I64 n=" + n);
            }
            // Native segments take the direct (unstaged) path both ways.
            try (Arena a = Arena.ofConfined(); Tensor t = dev.upload(i, n)) {
                MemorySegment dst = a.allocate((long) n * 4, 64);
                t.copyTo(dst);
                assertArrayEquals(i, dst.toArray(ValueLayout.JAVA_INT), "native download n=" + n);
                MemorySegment src = a.allocate((long) n * 4, 64);
                for (int j = 0; j < n; j++) src.setAtIndex(ValueLayout.JAVA_INT, j, ~i[j]);
                t.copyFrom(src);
                int[] back = t.toIntArray();
                for (int j = 0; j < n; j++) assertEquals(~i[j], back[j], "native upload n=" + n + " at " + j);
            }
        }
    }

    @Test
    void emptyTensors() {
        try (Tensor t = dev.allocate(DType.F32, 0, 5)) {
            assertEquals(0, t.toFloatArray().length);
            try (Tensor u = t.to(dev)) {
                assertEquals(0, u.numel());
            }
        }
    }

    @Test
    void zerosAreZeroEvenInRecycledMemory() {
        int n = 4099;
        float[] ones = new float[n];
        java.util.Arrays.fill(ones, 1.5f);
        for (int rep = 0; rep < 3; rep++) {
            dev.upload(DType.F32, ones, n).close(); // leave non-zero bytes in the pool
            try (Tensor z = dev.zeros(DType.F32, n)) {
                for (float v : z.toFloatArray()) assertEquals(0f, v);
            }
        }
    }

    @Test
    void deviceToDeviceCopyAndReshapeView() {
        Random r = new Random(SEED + 1);
        float[] f = new float[6 * 7];
        for (int j = 0; j < f.length; j++) f[j] = r.nextFloat();
        int before = dev.liveAllocations();
        try (Tensor t = dev.upload(DType.F32, f, 6, 7); Tensor c = t.to(dev)) {
            assertTrue(c.devicePointer() != t.devicePointer());
            assertArrayEquals(f, c.toFloatArray());
            Tensor v = t.reshape(3, -1);
            assertArrayEquals(new long[] {3, 14}, v.shape());
            assertEquals(t.devicePointer(), v.devicePointer());
            t.close(); // the view keeps the memory alive
            assertArrayEquals(f, v.toFloatArray());
            v.close();
            assertThrows(IllegalStateException.class, v::toFloatArray);
            try (Device cpu = Device.cpu(); Tensor h = c.to(cpu); Tensor back = h.to(dev)) {
                assertArrayEquals(f, back.toFloatArray());
            }
        }
        assertEquals(before, dev.liveAllocations());
    }

    @Test
    void manyThreadsAllocateCopyAndFree() throws Exception {
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Tensor> handOver = java.util.Collections.synchronizedList(new ArrayList<>());
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = SEED + 100 + t;
                fs.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    for (int it = 0; it < 200; it++) {
                        int n = 1 + r.nextInt(50_000);
                        int[] data = new int[n];
                        for (int j = 0; j < n; j++) data[j] = r.nextInt();
                        Tensor x = dev.upload(data, n);
                        Tensor y = x.to(dev);
                        x.close();
                        assertArrayEquals(data, y.toIntArray(), "seed " + seed + " it " + it);
                        if (it % 4 == 0) {
                            dev.synchronize();
                            handOver.add(y); // another thread frees it
                        } else {
                            y.close();
                        }
                        if (it % 4 == 2) {
                            Tensor other = null;
                            synchronized (handOver) {
                                if (!handOver.isEmpty()) other = handOver.remove(handOver.size() - 1);
                            }
                            if (other != null) other.close();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
        } finally {
            pool.shutdown();
            synchronized (handOver) {
                for (Tensor t : handOver) t.close();
            }
        }
    }

    @Test
    void outOfMemoryIsAnExceptionAndTheDeviceStaysUsable() {
        CudaException e = assertThrows(CudaException.class, () -> dev.allocate(DType.F32, 1L << 48)); // 1 PiB
        assertEquals("cuMemAllocAsync", e.call());
        assertTrue(e.getMessage().contains(Long.toString(1L << 50)) && e.getMessage().contains("free of"), e.getMessage());
        try (Tensor t = dev.upload(new int[] {1, 2, 3}, 3)) {
            assertArrayEquals(new int[] {1, 2, 3}, t.toIntArray());
        }
    }

    @Test
    void layersModuleLoadsAndKernelsLaunch() {
        CudaBackend be = CudaBackend.of(dev);
        assertNull(be.moduleProblem("layers"));
        assertNull(CudaRuntime.kernelProblem(be));
        assertTrue(be.moduleProblem("no_such_family").startsWith("kernels not built"));

        int n = 1000, bn = 7;
        Random r = new Random(SEED + 2);
        float[] a = new float[n], b = new float[bn], poison = new float[n];
        for (int j = 0; j < n; j++) a[j] = r.nextFloat() - 0.5f;
        for (int j = 0; j < bn; j++) b[j] = r.nextFloat() - 0.5f;
        java.util.Arrays.fill(poison, Float.NaN);
        try (Tensor ta = dev.upload(DType.F32, a, n); Tensor tb = dev.upload(DType.F32, b, bn);
             Tensor out = dev.upload(DType.F32, poison, n)) {
            be.launch("layers", "surpass_layers_add_f32", Dim3.gridStride(n, 256, 65535 * 32), Dim3.of(256), 0,
                    ta.devicePointer(), tb.devicePointer(), out.devicePointer(), (long) n, (long) bn);
            float[] o = out.toFloatArray();
            for (int j = 0; j < n; j++) assertEquals(a[j] + b[j % bn], o[j], 0f, "add at " + j);

            be.launch("layers", "surpass_layers_scale_f32", Dim3.of(2), Dim3.of(256), 0,
                    ta.devicePointer(), out.devicePointer(), 3f, (long) n);
            o = out.toFloatArray();
            for (int j = 0; j < n; j++) assertEquals(a[j] * 3f, o[j], 1e-6f, "scale at " + j);

            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> be.launch("layers",
                    "surpass_layers_scale_f32", Dim3.of(1), Dim3.of(256), 0, ta.devicePointer(), out.devicePointer(), 3.0, (long) n));
            assertTrue(bad.getMessage().contains("argument 2"), bad.getMessage());
            assertThrows(IllegalArgumentException.class, () -> be.launch("layers", "surpass_layers_scale_f32",
                    Dim3.of(1), Dim3.of(2048), 0, ta.devicePointer(), out.devicePointer(), 3f, (long) n));
            assertThrows(IllegalArgumentException.class, () -> be.launch("layers", "surpass_layers_scale_f32",
                    Dim3.of(1), Dim3.of(256), 1 << 30, ta.devicePointer(), out.devicePointer(), 3f, (long) n));
            IllegalStateException missing = assertThrows(IllegalStateException.class, () -> be.launch("layers",
                    "surpass_layers_nope_f32", Dim3.of(1), Dim3.of(1), 0));
            assertTrue(missing.getMessage().contains("is not in"), missing.getMessage());
        }
    }

    @Test
    void workOnOneThreadIsVisibleToAnotherAfterSynchronize() throws Exception {
        int n = 1 << 20;
        float[] f = new float[n];
        for (int j = 0; j < n; j++) f[j] = j;
        Tensor[] made = new Tensor[1];
        Thread w = new Thread(() -> {
            try (Tensor t = dev.upload(DType.F32, f, n)) {
                made[0] = t.to(dev); // async D2D on this thread's stream
                dev.synchronize();
            }
        });
        w.start();
        w.join();
        try (Tensor t = made[0]) {
            assertArrayEquals(f, t.toFloatArray());
        }
    }

    @Test
    void timingWorks() {
        CudaBackend be = CudaBackend.of(dev);
        try (Tensor t = dev.zeros(DType.F32, 1 << 22)) {
            float ms = be.timeMillis(() -> {
                try (Tensor c = t.to(dev)) {
                    c.numel();
                }
            });
            assertTrue(ms >= 0 && ms < 10_000, "ms " + ms);
        }
    }

    @Test
    void closingTheDeviceFreesEverything() {
        Device d = Device.cuda(0);
        Tensor a = d.zeros(DType.F32, 1000);
        Tensor b = d.zeros(DType.BF16, 33, 3);
        Tensor v = b.reshape(-1);
        assertEquals(2, d.liveAllocations());
        d.close();
        assertEquals(0, d.liveAllocations());
        assertTrue(a.isClosed() && b.isClosed() && v.isClosed());
        assertThrows(IllegalStateException.class, a::toFloatArray);
        assertThrows(IllegalStateException.class, () -> d.zeros(DType.F32, 1));
        d.close(); // idempotent
        // The GPU stays usable through other handles.
        try (Tensor t = dev.upload(new int[] {7}, 1)) {
            assertEquals(7, t.toIntArray()[0]);
        }
    }

    @Test
    void bestPicksTheGpuWhenKernelsLoad() {
        assumeTrue(System.getProperty("surpass.device", "").isEmpty(), "device forced");
        try (Device d = Device.best()) {
            if (CudaRuntime.kernelProblem(CudaBackend.of(dev)) == null) assertTrue(d.isCuda(), d.name());
        }
    }
}
