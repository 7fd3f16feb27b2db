package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Gemm;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * fp32 GEMM C[M,N] = A[M,K] · B[K,N], row-major, on 2 threads: surpass's {@link Gemm#matmul}
 * (Vector API, CPU) against OpenBLAS {@code cblas_sgemm} called through FFM, in the same run.
 * One op = one product = 2·M·N·K flops.
 *
 * <p>{@code shape} is "MxNxK". surpass is measured through its public API, so each op also
 * allocates (and frees) its [M,N] output; OpenBLAS writes into a preallocated C.
 *
 * <p>OpenBLAS: {@code -Dsurpass.bench.openblas=/path/libopenblas.so} (default: Debian's
 * libopenblas0-pthread), threads set with {@code openblas_set_num_threads}. surpass threads:
 * {@code -Dsurpass.cpu.threads}. Both default to {@link #THREADS} = 2.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1) // each op is itself multithreaded
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dsurpass.cpu.threads=2", "-Xmx8g"})
public class GemmBenchmark {
    static final int THREADS = 2;
    static final String DEFAULT_OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0";
    private static final int CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111;

    /** M x N x K. */
    @Param({"1024x1024x1024", "4096x4096x1024"})
    public String shape;

    int m, n, k;
    Device device;
    Tensor a, b;
    Arena arena;
    MemorySegment blasA, blasB, blasC;
    MethodHandle sgemm;

    /** 2·M·N·K for a "MxNxK" shape. */
    public static double flops(String shape) {
        String[] p = shape.split("x");
        return 2.0 * Long.parseLong(p[0]) * Long.parseLong(p[1]) * Long.parseLong(p[2]);
    }

    @Setup(Level.Trial)
    public void setup() throws Throwable {
        String[] p = shape.split("x");
        m = Integer.parseInt(p[0]);
        n = Integer.parseInt(p[1]);
        k = Integer.parseInt(p[2]);
        float[] av = random(1, m * k), bv = random(2, k * n);
        device = Device.cpu();
        a = device.upload(DType.F32, av, m, k);
        b = device.upload(DType.F32, bv, k, n);

        arena = Arena.ofShared();
        blasA = arena.allocate(4L * m * k, 64).copyFrom(MemorySegment.ofArray(av));
        blasB = arena.allocate(4L * k * n, 64).copyFrom(MemorySegment.ofArray(bv));
        blasC = arena.allocate(4L * m * n, 64);
        Linker linker = Linker.nativeLinker();
        SymbolLookup lib = SymbolLookup.libraryLookup(Path.of(System.getProperty("surpass.bench.openblas", DEFAULT_OPENBLAS)), arena);
        MethodHandle setThreads = linker.downcallHandle(lib.find("openblas_set_num_threads").orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
        int threads = Integer.getInteger("surpass.cpu.threads", THREADS);
        setThreads.invokeExact(threads);
        ValueLayout.OfInt i = ValueLayout.JAVA_INT;
        ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
        AddressLayout ptr = ValueLayout.ADDRESS;
        // void cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        sgemm = linker.downcallHandle(lib.find("cblas_sgemm").orElseThrow(),
                FunctionDescriptor.ofVoid(i, i, i, i, i, i, f, ptr, i, ptr, i, f, ptr, i));

        // Same answer from both, or the comparison means nothing.
        openblas();
        try (Tensor c = Gemm.matmul(a, b)) {
            MemorySegment ours = c.hostSegment();
            double num = 0, den = 0;
            for (long e = 0; e < (long) m * n; e += 97) {
                double x = ours.getAtIndex(ValueLayout.JAVA_FLOAT, e), y = blasC.getAtIndex(ValueLayout.JAVA_FLOAT, e);
                num += (x - y) * (x - y);
                den += y * y;
            }
            if (!(Math.sqrt(num / den) < 1e-5)) throw new IllegalStateException("surpass and OpenBLAS disagree: rel L2 " + Math.sqrt(num / den));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        device.close();
        arena.close();
    }

    private static float[] random(long seed, int len) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[len];
        for (int j = 0; j < len; j++) x[j] = (float) (r.nextDouble() * 2 - 1);
        return x;
    }

    /** surpass: Gemm.matmul through the public API (allocates and frees the output). */
    @Benchmark
    public long surpass() {
        try (Tensor c = Gemm.matmul(a, b)) {
            return c.numel();
        }
    }

    /** OpenBLAS cblas_sgemm, row-major, no transposes, alpha 1, beta 0. */
    @Benchmark
    public void openblas() throws Throwable {
        sgemm.invokeExact(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, m, n, k, 1f, blasA, k, blasB, n, 0f, blasC, n);
    }
}
