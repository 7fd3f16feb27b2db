package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.scan.ScanOutput;
import dev.surpass.scan.SelectiveScan;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * fp32 Mamba-1 selective scan, Bt2 Dm1536 N16 L2048 (ungrouped B/C, with D, z, delta bias,
 * softplus), on 2 threads, through the public API ({@link SelectiveScan#selectiveScan}, which also
 * allocates and frees y and lastState), against the memory roofline: {@code copy} is a
 * {@link MemorySegment#copy} of a {@value #COPY_MIB} MiB buffer split over the same 2 threads
 * ({@link Parallel}).
 *
 * <p>Bytes of one scan ({@link #scanBytes}): u, delta, z read and y written ({@code 4·Bt·Dm·L}
 * floats), B and C read ({@code 2·Bt·N·L}), lastState written ({@code Bt·Dm·N}). Bytes of one copy:
 * read + write, {@code 2·COPY_MIB} MiB.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1) // each op is itself multithreaded
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dsurpass.cpu.threads=2", "-Xmx8g"})
public class ScanBenchmark {
    public static final int BT = 2, DM = 1536, N = 16, L = 2048;
    public static final long COPY_MIB = 128;

    Device device;
    Tensor u, delta, a, b, c, d, z, bias;
    Arena arena;
    MemorySegment src, dst;

    /** Bytes one scan must move: inputs read, y and the last state written. */
    public static double scanBytes() {
        return 4.0 * (4.0 * BT * DM * L + 2.0 * BT * N * L + (double) BT * DM * N);
    }

    /** Bytes one copy moves (read + write). */
    public static double copyBytes() {
        return 2.0 * COPY_MIB * (1 << 20);
    }

    @Setup(Level.Trial)
    public void setup() {
        device = Device.cpu();
        int e = BT * DM * L;
        u = device.upload(DType.F32, random(1, e, -1f, 1f), BT, DM, L);
        delta = device.upload(DType.F32, random(2, e, -3f, 0f), BT, DM, L);
        z = device.upload(DType.F32, random(3, e, -2f, 2f), BT, DM, L);
        a = device.upload(DType.F32, random(4, DM * N, -8f, -0.5f), DM, N);
        b = device.upload(DType.F32, random(5, BT * N * L, -1f, 1f), BT, N, L);
        c = device.upload(DType.F32, random(6, BT * N * L, -1f, 1f), BT, N, L);
        d = device.upload(DType.F32, random(7, DM, 0.5f, 1.5f), DM);
        bias = device.upload(DType.F32, random(8, DM, -1f, 0f), DM);
        arena = Arena.ofShared();
        long bytes = COPY_MIB << 20;
        src = arena.allocate(bytes, 64);
        dst = arena.allocate(bytes, 64);
        src.fill((byte) 1);
        dst.fill((byte) 0);
        try (ScanOutput o = runScan()) {
            for (float v : o.y().toFloatArray()) if (!Float.isFinite(v)) throw new IllegalStateException("non-finite y");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Tensor t : new Tensor[] {u, delta, a, b, c, d, z, bias}) t.close();
        device.close();
        arena.close();
    }

    private static float[] random(long seed, int len, float lo, float hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[len];
        for (int j = 0; j < len; j++) x[j] = (float) (lo + r.nextDouble() * (hi - lo));
        return x;
    }

    ScanOutput runScan() {
        return SelectiveScan.selectiveScan(u, delta, a, b, c, d, z, bias, true, null);
    }

    /** The scan through the public API (allocates and frees y and lastState). */
    @Benchmark
    public long scan() {
        try (ScanOutput o = runScan()) {
            return o.y().numel();
        }
    }

    /** The memory roofline: a {@value #COPY_MIB} MiB copy, one half per thread. */
    @Benchmark
    public long copy() {
        long half = (COPY_MIB << 20) / 2;
        Parallel.forRange(2, 1, (lo, hi) -> {
            for (long i = lo; i < hi; i++) MemorySegment.copy(src, i * half, dst, i * half, half);
        });
        return dst.byteSize();
    }
}
