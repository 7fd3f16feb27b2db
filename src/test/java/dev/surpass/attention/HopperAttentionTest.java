package dev.surpass.attention;

import static dev.surpass.attention.AttnFixture.SEED;
import static dev.surpass.attention.AttnFixture.assertClose;
import static dev.surpass.attention.AttnFixture.assertNoNaN;
import static dev.surpass.attention.AttnFixture.poisoned;
import static dev.surpass.attention.AttnFixture.toDouble;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.CudaProperties;
import dev.surpass.parity.ParityMath;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * The Hopper prefill kernel (v2, flash_attention_fwd_sm90a.cu) on a compute capability 9.0 GPU:
 * against the float64 reference and against the sm_80 kernel (v1) on the same inputs, outputs
 * poisoned with NaN, at awkward lengths, Nq ≠ Nk (causal, bottom-right), windows, GQA 1/4/8, d64/d128,
 * fp16/bf16. Every case first asserts that {@link CudaAttention} selects v2 for it: on a 9.0 device a
 * supported call that falls back to v1 (fatbin missing, selection bug) fails here, naming the reason.
 * Skipped, visibly, without a GPU, on other GPUs, or with -Dsurpass.attention.hopper=false.
 */
@Tag("gpu")
class HopperAttentionTest {
    private static final AttentionOptions PLAIN = AttentionOptions.defaults();
    private static final AttentionOptions CAUSAL = AttentionOptions.causal();

    private record Case(int b, int nq, int nk, int hq, int hkv, int d, AttentionOptions o) {
        @Override
        public String toString() {
            return "B" + b + " Nq" + nq + " Nk" + nk + " Hq" + hq + " Hkv" + hkv + " D" + d + " " + o;
        }
    }

    private static List<Case> cases() {
        List<Case> cs = new ArrayList<>();
        for (int n : new int[] {1, 7, 63, 64, 65, 127, 1000, 2049}) {
            cs.add(new Case(1, n, n, 2, 2, 128, PLAIN));
            cs.add(new Case(2, n, n, 2, 1, 64, CAUSAL));
        }
        int[][] nqnk = {{7, 63}, {65, 7}, {1, 1000}, {1000, 1}, {100, 37}, {129, 300}, {300, 129}};
        for (int[] x : nqnk) {
            cs.add(new Case(2, x[0], x[1], 4, 2, 128, CAUSAL));
            cs.add(new Case(1, x[0], x[1], 2, 2, 64, PLAIN));
        }
        for (int group : new int[] {1, 4, 8}) {
            cs.add(new Case(2, 129, 129, 8, 8 / group, 128, CAUSAL));
            cs.add(new Case(1, 200, 200, 8, 8 / group, 64, PLAIN));
        }
        cs.add(new Case(1, 300, 300, 2, 2, 128, PLAIN.window(64, 64)));
        cs.add(new Case(1, 130, 70, 2, 2, 128, PLAIN.window(0, 63)));
        cs.add(new Case(1, 127, 127, 2, 2, 64, CAUSAL.window(8, 0)));
        cs.add(new Case(3, 257, 257, 4, 4, 128, CAUSAL.scale(0.05f)));
        cs.add(new Case(2, 513, 700, 4, 1, 64, PLAIN.scale(0.3f)));
        return cs;
    }

    @TestFactory
    Stream<DynamicTest> hopperPrefill() {
        List<DynamicTest> tests = new ArrayList<>();
        int i = 0;
        for (Case c : cases()) {
            for (DType t : new DType[] {DType.BF16, DType.F16}) {
                long seed = SEED + 5000 + i++;
                String name = "hopper prefill " + c + " " + t;
                tests.add(DynamicTest.dynamicTest(name, () -> run(c, t, seed, name)));
            }
        }
        return tests.stream();
    }

    /** Skips unless a compute capability 9.0 GPU is here and v2 is not switched off. */
    private static void assumeHopper(Device gpu) {
        CudaProperties p = CudaBackend.of(gpu).properties();
        Assumptions.assumeTrue(p.ccMajor() == 9 && p.ccMinor() == 0,
                "compute capability " + p.ccMajor() + "." + p.ccMinor() + ": the sm_90a kernel runs on 9.0 only");
        Assumptions.assumeTrue(CudaAttention.HOPPER, "disabled by -Dsurpass.attention.hopper=false");
    }

    private static void run(Case c, DType t, long seed, String name) {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        float[][] x = AttentionParity.qkv(seed, t, c.b * c.nq * c.hq * c.d, c.b * c.nk * c.hkv * c.d);
        ReferenceAttention.Result ref = ReferenceAttention.prefill(x[0], x[1], x[2], c.b, c.nq, c.nk, c.hq, c.hkv, c.d, c.o);
        try (Device gpu = Device.cuda(0)) {
            assumeHopper(gpu);
            try (Scope sc = Scope.open()) {
                Tensor q = sc.track(gpu.upload(t, x[0], c.b, c.nq, c.hq, c.d));
                Tensor k = sc.track(gpu.upload(t, x[1], c.b, c.nk, c.hkv, c.d));
                Tensor v = sc.track(gpu.upload(t, x[2], c.b, c.nk, c.hkv, c.d));
                Tensor out2 = sc.track(poisoned(gpu, t, c.b, c.nq, c.hq, c.d));
                Tensor lse2 = sc.track(poisoned(gpu, DType.F32, c.b, c.hq, c.nq));
                Tensor out1 = sc.track(poisoned(gpu, t, c.b, c.nq, c.hq, c.d));
                Tensor lse1 = sc.track(poisoned(gpu, DType.F32, c.b, c.hq, c.nq));
                // A supported call on a 9.0 device must run v2: fail (not skip) when it would not.
                String refusal = CudaAttention.hopperRefusal(q, k, v, out2, c.o);
                assertEquals(null, refusal, name + ": v2 not selected");
                if (!CudaAttention.FORCE_SIMPLE) {
                    assertEquals(CudaAttention.hopperKernel(t, c.d), CudaAttention.prefillKernel(q, k, v, out2, c.o), name);
                }

                CudaAttention.prefill(q, k, v, out2, lse2, c.o, false, true);   // v2
                CudaAttention.prefill(q, k, v, out1, lse1, c.o, false, false);  // v1 (sm_80 kernel)
                float[] o2 = out2.toFloatArray(), l2 = lse2.toFloatArray();
                float[] o1 = out1.toFloatArray(), l1 = lse1.toFloatArray();
                assertNoNaN(o2, name + " v2 out");
                assertNoNaN(l2, name + " v2 lse");
                assertClose(o2, ref.out(), ParityMath.tolerance(t), name + " v2 out vs reference");
                assertClose(l2, ref.lse(), ParityMath.tolerance(DType.F32), name + " v2 lse vs reference");
                assertClose(o2, toDouble(o1), ParityMath.tolerance(t), name + " v2 out vs v1");
                assertClose(l2, toDouble(l1), ParityMath.tolerance(DType.F32), name + " v2 lse vs v1");
            }
            assertEquals(0, gpu.liveAllocations(), name + ": leaked device memory");
        }
    }
}
