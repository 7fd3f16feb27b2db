package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.Softmax;
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
 * fp32 attention prefill, B1 H8 N1024 D128 ({@code q, k, v [B, N, H, D]}), causal and not, on 2
 * threads: the fused Vector API kernel ({@link Attention#prefill}, the FlashAttention algorithm,
 * never materialising N×N) against a composition of the Foundation ops, per head:
 * {@code S = Gemm.matmul(Q_h, K_hᵀ)} → (causal: {@code Elementwise.add(S, mask)} with −∞ above
 * the diagonal) → {@code Softmax.softmax} → {@code Gemm.matmul(P, V_h)}, all heads as one batched
 * call. The composition is handed head-major copies of Q (pre-scaled by 1/√D), Kᵀ and V and the
 * mask, made in setup: its layout work is free, the fused kernel reads [B, N, H, D] as given.
 *
 * <p>One op = one attention; flops are {@code 4·B·H·N²·D}, halved when causal (the FlashAttention
 * convention) for both, so the GFLOP/s ratio is the time ratio. Setup checks that both agree.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1) // each op is itself multithreaded
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dsurpass.cpu.threads=2", "-Xmx8g"})
public class AttentionBenchmark {
    public static final int B = 1, H = 8, N = 1024, D = 128;

    @Param({"false", "true"})
    public boolean causal;

    Device device;
    Tensor q, k, v;           // [B, N, H, D]
    Tensor qh, kth, vh, mask; // [H, N, D] pre-scaled, [H, D, N], [H, N, D], [N, N]
    AttentionOptions opts;

    /** Flops of one attention: 4·B·H·N²·D, halved when causal. */
    public static double flops(boolean causal) {
        return 4.0 * B * H * N * (double) N * D * (causal ? 0.5 : 1.0);
    }

    @Setup(Level.Trial)
    public void setup() {
        device = Device.cpu();
        opts = causal ? AttentionOptions.causal() : AttentionOptions.defaults();
        int e = B * N * H * D;
        float[] qv = random(1, e, 2f), kv = random(2, e, 2f), vv = random(3, e, 1f);
        q = device.upload(DType.F32, qv, B, N, H, D);
        k = device.upload(DType.F32, kv, B, N, H, D);
        v = device.upload(DType.F32, vv, B, N, H, D);
        float scale = (float) (1 / Math.sqrt(D));
        float[] a = new float[H * N * D], bt = new float[H * D * N], c = new float[H * N * D];
        for (int n = 0; n < N; n++) {
            for (int h = 0; h < H; h++) {
                for (int x = 0; x < D; x++) {
                    int src = (n * H + h) * D + x;
                    a[(h * N + n) * D + x] = qv[src] * scale;
                    bt[(h * D + x) * N + n] = kv[src];
                    c[(h * N + n) * D + x] = vv[src];
                }
            }
        }
        qh = device.upload(DType.F32, a, H, N, D);
        kth = device.upload(DType.F32, bt, H, D, N);
        vh = device.upload(DType.F32, c, H, N, D);
        float[] m = new float[N * N];
        for (int i = 0; i < N; i++) {
            for (int j = i + 1; j < N; j++) m[i * N + j] = Float.NEGATIVE_INFINITY;
        }
        mask = device.upload(DType.F32, m, N, N); // broadcast over heads

        // Same answer from both, or the comparison means nothing.
        try (Tensor f = runFused(); Tensor g = runComposition()) {
            float[] x = f.toFloatArray(), y = g.toFloatArray();
            double num = 0, den = 0;
            for (int n = 0; n < N; n++) {
                for (int h = 0; h < H; h++) {
                    for (int d = 0; d < D; d++) {
                        double p = x[(n * H + h) * D + d], r = y[(h * N + n) * D + d];
                        num += (p - r) * (p - r);
                        den += r * r;
                    }
                }
            }
            if (!(Math.sqrt(num / den) < 1e-4)) throw new IllegalStateException("fused and composition disagree: rel L2 " + Math.sqrt(num / den));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Tensor t : new Tensor[] {q, k, v, qh, kth, vh, mask}) t.close();
        device.close();
    }

    private static float[] random(long seed, int len, float scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[len];
        for (int j = 0; j < len; j++) x[j] = (float) (r.nextDouble() * 2 - 1) * scale;
        return x;
    }

    /** The fused kernel through the public API (allocates and frees its output). */
    @Benchmark
    public long fused() {
        try (Tensor o = runFused()) {
            return o.numel();
        }
    }

    /** matmul → (mask) → softmax → matmul over all heads at once (allocates and frees every intermediate). */
    @Benchmark
    public long composition() {
        try (Tensor o = runComposition()) {
            return o.numel();
        }
    }

    Tensor runFused() {
        return Attention.prefill(q, k, v, opts);
    }

    Tensor runComposition() {
        Tensor s = Gemm.matmul(qh, kth);
        if (causal) {
            try (Tensor raw = s) {
                s = Elementwise.add(raw, mask);
            }
        }
        Tensor p;
        try (Tensor sc = s) {
            p = Softmax.softmax(sc);
        }
        try (Tensor pp = p) {
            return Gemm.matmul(pp, vh);
        }
    }
}
