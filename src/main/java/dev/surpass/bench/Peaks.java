package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Gemm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The machine's peaks, measured in the same run as the ops they judge. CPU: a Vector API FMA loop
 * on every core (GFLOP/s) and a multithreaded copy of a large buffer (GB/s, read + write). CUDA: a
 * device-to-device copy (GB/s, read + write) and a large bf16 cuBLAS GEMM (GFLOP/s).
 *
 * @param gflops compute peak, NaN when it could not be measured
 * @param gflopsMethod how the compute peak was measured (or why it is missing)
 * @param gbps memory peak, NaN when it could not be measured
 * @param gbpsMethod how the memory peak was measured (or why it is missing)
 */
public record Peaks(double gflops, String gflopsMethod, double gbps, String gbpsMethod) {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    @SuppressWarnings("unused")
    private static volatile float sinkHole;

    /** Measures the peaks of {@code device}; {@code quick} shortens every measurement. */
    public static Peaks measure(Device device, boolean quick) {
        return device.isCpu() ? cpu(quick) : cuda(device, quick);
    }

    // ---- CPU ----------------------------------------------------------------------------------

    static Peaks cpu(boolean quick) {
        int threads = Runtime.getRuntime().availableProcessors();
        double gflops = Double.NaN, gbps = Double.NaN;
        String fm, mm;
        try (ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "surpass-peak");
            t.setDaemon(true);
            return t;
        })) {
            // FMA: 12 independent chains hide the FMA latency on 2 ports.
            long iters = quick ? 500_000 : 10_000_000;
            for (int w = 0; w < 3; w++) fmaOnAll(pool, threads, 100_000); // JIT warm-up
            double best = 0;
            for (int r = 0; r < (quick ? 3 : 5); r++) best = Math.max(best, fmaOnAll(pool, threads, iters));
            gflops = best;
            fm = "Vector API FMA loop, " + F.length() + " float lanes x 12 chains x " + threads + " threads";

            long bytes = quick ? 128L << 20 : 512L << 20;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment src = arena.allocate(bytes, 4096);
                MemorySegment dst = arena.allocate(bytes, 4096);
                src.fill((byte) 1);
                dst.fill((byte) 2);
                double bestBw = 0;
                for (int r = 0; r < (quick ? 3 : 8); r++) bestBw = Math.max(bestBw, copyOnAll(pool, threads, src, dst));
                gbps = bestBw;
            }
            mm = "MemorySegment copy of " + (bytes >> 20) + " MiB on " + threads + " threads (read + write)";
        }
        return new Peaks(gflops, fm, gbps, mm);
    }

    private static double fmaOnAll(ExecutorService pool, int threads, long iters) {
        List<Callable<Float>> tasks = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            float seed = 1e-3f * (i + 1);
            tasks.add(() -> fmaLoop(iters, seed));
        }
        long t0 = System.nanoTime();
        float sink = 0;
        try {
            for (Future<Float> f : pool.invokeAll(tasks)) sink += f.get();
        } catch (Exception e) {
            throw new IllegalStateException("FMA peak measurement failed: " + e, e);
        }
        long t1 = System.nanoTime();
        sinkHole = sink; // keep the result alive
        double flops = 2.0 * F.length() * 12 * iters * threads;
        return flops / (t1 - t0);
    }

    /** 12 dependent FMA chains; returns their sum so the JIT keeps the work. */
    static float fmaLoop(long iters, float seed) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f);
        FloatVector c = FloatVector.broadcast(F, seed);
        FloatVector a0 = c, a1 = c.add(1), a2 = c.add(2), a3 = c.add(3), a4 = c.add(4), a5 = c.add(5);
        FloatVector a6 = c.add(6), a7 = c.add(7), a8 = c.add(8), a9 = c.add(9), a10 = c.add(10), a11 = c.add(11);
        for (long i = 0; i < iters; i++) {
            a0 = a0.fma(m, c);
            a1 = a1.fma(m, c);
            a2 = a2.fma(m, c);
            a3 = a3.fma(m, c);
            a4 = a4.fma(m, c);
            a5 = a5.fma(m, c);
            a6 = a6.fma(m, c);
            a7 = a7.fma(m, c);
            a8 = a8.fma(m, c);
            a9 = a9.fma(m, c);
            a10 = a10.fma(m, c);
            a11 = a11.fma(m, c);
        }
        FloatVector s = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11);
        return s.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    private static double copyOnAll(ExecutorService pool, int threads, MemorySegment src, MemorySegment dst) {
        long bytes = src.byteSize();
        long chunk = (bytes / threads) & ~4095L;
        List<Callable<Void>> tasks = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            long off = i * chunk;
            long len = i == threads - 1 ? bytes - off : chunk;
            tasks.add(() -> {
                MemorySegment.copy(src, off, dst, off, len);
                return null;
            });
        }
        long t0 = System.nanoTime();
        try {
            for (Future<Void> f : pool.invokeAll(tasks)) f.get();
        } catch (Exception e) {
            throw new IllegalStateException("memory peak measurement failed: " + e, e);
        }
        long t1 = System.nanoTime();
        return 2.0 * bytes / (t1 - t0);
    }

    // ---- CUDA ---------------------------------------------------------------------------------

    static Peaks cuda(Device d, boolean quick) {
        double gbps = Double.NaN, gflops = Double.NaN;
        String mm, fm;
        long bytes = quick ? 256L << 20 : 1L << 30;
        try (Tensor src = d.allocate(DType.BF16, bytes / 2); Tensor dst = d.allocate(DType.BF16, bytes / 2)) {
            d.backend().zero(src.storage(), src.byteOffset(), bytes);
            int k = 5;
            for (int w = 0; w < 3; w++) d2d(d, src, dst, bytes, 1);
            double best = 0;
            for (int r = 0; r < (quick ? 5 : 10); r++) best = Math.max(best, d2d(d, src, dst, bytes, k));
            gbps = best;
            mm = "device-to-device copy of " + (bytes >> 20) + " MiB (read + write)";
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            mm = "device-to-device copy failed: " + e.getMessage();
        }
        // 8192³ (1.1 TFLOP, ~1.4 ms on an H200) in batches of 5 between synchronisations: a smaller
        // product or one sync per product leaves launch, allocation and sync gaps in the figure
        // (4096³ one at a time read ~530 TFLOP/s where the same product inside the suite ran at 690).
        int n = 8192, batch = 5;
        BenchCase gemm = BenchSuite.matmul(DType.BF16, n, n, n);
        try (Workload w = gemm.setup().apply(d)) {
            for (int i = 0; i < 5; i++) w.run().close();
            d.synchronize();
            long bestNs = Long.MAX_VALUE;
            for (int r = 0; r < (quick ? 3 : 6); r++) {
                Tensor[] ys = new Tensor[batch];
                long t0 = System.nanoTime();
                for (int i = 0; i < batch; i++) ys[i] = w.run();
                d.synchronize();
                long t1 = System.nanoTime();
                for (Tensor y : ys) y.close();
                bestNs = Math.min(bestNs, (t1 - t0) / batch);
            }
            gflops = gemm.flops() / bestNs;
            fm = "cuBLAS bf16 GEMM " + n + "^3 through Gemm.matmul (best batch of " + batch + ")";
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            fm = "bf16 GEMM failed: " + e.getMessage();
        }
        return new Peaks(gflops, fm, gbps, mm);
    }

    private static double d2d(Device d, Tensor src, Tensor dst, long bytes, int k) {
        d.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < k; i++) d.backend().copy(src.storage(), src.byteOffset(), dst.storage(), dst.byteOffset(), bytes);
        d.synchronize();
        long t1 = System.nanoTime();
        return 2.0 * bytes * k / (t1 - t0);
    }
}
