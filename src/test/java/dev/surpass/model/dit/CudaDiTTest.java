package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityTests;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The DiT on CUDA: every {@link DiTParity} case on the GPU (ops vs the float64 reference; the
 * copies bit-exact), CUDA ↔ CPU ops on the same inputs, the random DiTs (the hidden 96 with
 * 3 heads of 32, and head dim 72) against the float64 forward and against the CPU model, bf16 compute
 * against fp32, and a short guided DDIM / DDPM sampling run CUDA ↔ CPU from the same seed.
 * Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaDiTTest {
    static final long SEED = Long.getLong("surpass.seed", 0xD17C0DAL);

    @TempDir
    static Path tmp;

    private static Device cuda() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        return Device.cuda(0);
    }

    @TestFactory
    Stream<DynamicTest> parityCuda() {
        return ParityTests.dynamicTests(DiTParity.cases(), SEED, CudaDiTTest::cuda);
    }

    @Test
    void opsAgreeWithCpu() {
        try (Device g = cuda(); Device cpu = Device.cpu()) {
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                int n = 3, tk = 37, d = 1152;
                float[] x = DiTFixture.randomLatents(SEED, n * tk * d), y = DiTFixture.randomLatents(SEED + 1, n * tk * d);
                float[] mod = DiTFixture.randomLatents(SEED + 2, n * 6 * d);
                float[][] outs = new float[2][];
                float[][] gates = new float[2][];
                Device[] devs = {cpu, g};
                for (int k = 0; k < 2; k++) {
                    try (Tensor xt = devs[k].upload(t, x, n, tk, d); Tensor yt = devs[k].upload(t, y, n, tk, d);
                         Tensor mt = devs[k].upload(t, mod, n, 6L * d);
                         Tensor o = DiTOps.modulate(xt, mt, 0, 1, 1e-6f); Tensor r = DiTOps.gateResidual(xt, yt, mt, 2)) {
                        outs[k] = o.toFloatArray();
                        gates[k] = r.toFloatArray();
                    }
                }
                double tol = t == DType.F32 ? 1e-6 : 1e-2;
                assertTrue(rel(outs[1], outs[0]) < tol, t + " modulate cuda vs cpu " + rel(outs[1], outs[0]));
                assertTrue(rel(gates[1], gates[0]) < tol, t + " gate_residual cuda vs cpu " + rel(gates[1], gates[0]));
            }
        }
    }

    @Test
    void forwardMatchesReferenceAndCpu() {
        try (Device g = cuda(); Device cpu = Device.cpu()) {
            for (DiTConfig c : new DiTConfig[] {
                new DiTConfig(8, 2, 4, 96, 2, 3, 384, 10, 11, true),
                new DiTConfig(8, 2, 4, 144, 2, 2, 576, 10, 11, true)}) {
                DiTFixture f = new DiTFixture(c, SEED + c.hiddenSize());
                Path p = f.write(tmp.resolve("h" + c.hiddenSize() + ".safetensors"));
                int n = 3;
                float[] x = DiTFixture.randomLatents(SEED, n * 4 * 64);
                float[] t = {999f, 1f, 321.5f};
                int[] y = {0, 9, 10};
                double[] ref = f.forward(x, n, t, y);
                float[] onCpu, onGpu, onGpuBf16;
                try (DiT m = DiT.load(cpu, p); Tensor xt = cpu.upload(DType.F32, x, n, 4, 8, 8); Tensor o = m.forward(xt, t, y)) {
                    onCpu = o.toFloatArray();
                }
                try (DiT m = DiT.load(g, p); Tensor xt = g.upload(DType.F32, x, n, 4, 8, 8); Tensor o = m.forward(xt, t, y)) {
                    onGpu = o.toFloatArray();
                }
                try (DiT m = DiT.load(g, p, DType.BF16); Tensor xt = g.upload(DType.BF16, x, n, 4, 8, 8); Tensor o = m.forward(xt, t, y)) {
                    onGpuBf16 = o.toFloatArray();
                }
                double eRef = DiTFixture.relL2(onGpu, ref), eCpu = rel(onGpu, onCpu), eBf16 = DiTFixture.relL2(onGpuBf16, ref);
                System.out.printf("[dit] hidden %d heads %d: cuda fp32 vs float64 %.3g, vs cpu %.3g; cuda bf16 vs float64 %.3g%n",
                        c.hiddenSize(), c.numHeads(), eRef, eCpu, eBf16);
                assertTrue(eRef < 1e-4, "cuda fp32 vs float64 " + eRef);
                assertTrue(eCpu < 1e-4, "cuda vs cpu " + eCpu);
                assertTrue(eBf16 < 5e-2, "cuda bf16 vs float64 " + eBf16);
            }
        }
    }

    @Test
    void samplingAgreesWithCpu() {
        DiTFixture f = new DiTFixture(DiTFixture.tiny(), SEED);
        Path p = f.write(tmp.resolve("tiny.safetensors"), "", DType.F32, true, Map.of("num_heads", "2"));
        try (Device g = cuda(); Device cpu = Device.cpu(); DiT mc = DiT.load(cpu, p); DiT mg = DiT.load(g, p)) {
            for (DiTSampler.Sampler s : DiTSampler.Sampler.values()) {
                try (Tensor a = DiTSampler.sample(mc, new int[] {1, 2, 3}, 10, 4.0, s, SEED);
                     Tensor b = DiTSampler.sample(mg, new int[] {1, 2, 3}, 10, 4.0, s, SEED)) {
                    assertArrayEquals(a.shape(), b.shape());
                    double e = rel(b.toFloatArray(), a.toFloatArray());
                    System.out.printf("[dit] %s 10 steps, guidance 4: cuda vs cpu relL2 %.3g%n", s, e);
                    assertTrue(e < 1e-3, s + " cuda vs cpu " + e);
                }
            }
        }
    }

    static double rel(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - b[i]) * (a[i] - b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
