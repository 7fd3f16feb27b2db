package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A rough CPU timing of the Vector API prefill (B1 H8 N1024 D128 fp32, causal and not), printed in
 * GFLOP/s (4·B·H·Nq·Nk·D, halved for causal). Off by default; run with
 * {@code -Dsurpass.attention.timing=true}. The JMH benchmark is the real measurement.
 */
class AttentionCpuTimingTest {
    @Test
    void prefillTiming() {
        Assumptions.assumeTrue(Boolean.getBoolean("surpass.attention.timing"), "timing off (-Dsurpass.attention.timing=true)");
        int b = 1, h = 8, n = Integer.getInteger("surpass.attention.n", 1024), d = 128;
        try (Device dev = Device.cpu()) {
            Tensor q = dev.upload(DType.F32, ParityMath.random(1, b * n * h * d, 2f, DType.F32), b, n, h, d);
            Tensor k = dev.upload(DType.F32, ParityMath.random(2, b * n * h * d, 2f, DType.F32), b, n, h, d);
            Tensor v = dev.upload(DType.F32, ParityMath.random(3, b * n * h * d, 1f, DType.F32), b, n, h, d);
            for (int warm = 0; warm < 10; warm++) { // JIT warm-up of both variants
                Attention.prefill(q, k, v, AttentionOptions.defaults()).close();
                Attention.prefill(q, k, v, AttentionOptions.causal()).close();
            }
            for (boolean causal : new boolean[] {false, true, false, true}) {
                AttentionOptions o = AttentionOptions.defaults().causal(causal);
                double best = Double.MAX_VALUE;
                for (int rep = 0; rep < 8; rep++) {
                    long t0 = System.nanoTime();
                    Attention.prefill(q, k, v, o).close();
                    best = Math.min(best, (System.nanoTime() - t0) / 1e9);
                }
                double flops = 4.0 * b * h * n * n * d * (causal ? 0.5 : 1.0);
                System.out.printf("attention prefill fp32 B%d H%d N%d D%d %s: %.2f ms, %.1f GFLOP/s (%d threads)%n",
                        b, h, n, d, causal ? "causal" : "non-causal", best * 1e3, flops / best / 1e9, Parallel.threads());
            }
        }
    }
}
