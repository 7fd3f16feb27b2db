package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.fuzz.Fuzz;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA twin of {@link AttentionFuzzTest}: the same cases (valid ones against the float64
 * reference, broken ones refused before a kernel runs) on GPU 0, drawn from a fixed seed. Run it under
 * {@code compute-sanitizer} on a GPU host to check that no input reaches a kernel out of bounds.
 */
@Tag("gpu")
class CudaAttentionFuzzTest {
    static final int CASES = Integer.getInteger("surpass.fuzz.gpuCases", 200);

    @AfterAll
    static void summary() {
        Fuzz.printSummary("cuda.attention.");
    }

    @Test
    void fuzzedCallsMatchTheReferenceOrAreRefused() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(Long.parseLong(Fuzz.SEED));
        AttentionFuzzTest.Break[] breaks = AttentionFuzzTest.Break.values();
        DType[] dtypes = {DType.F32, DType.F16, DType.BF16};
        try (Device gpu = Device.cuda(0)) {
            Fuzz.synchronizeWith(gpu);
            for (int i = 0; i < CASES; i++) {
                AttentionOptions o = AttentionOptions.defaults().causal(r.nextBoolean()).window(r.nextInt(6) - 1, r.nextInt(6) - 1)
                        .softcap(r.nextBoolean() ? 0 : 20);
                AttentionFuzzTest.prefillCase(gpu, "cuda.attention.prefill", r.nextInt(3), r.nextInt(10), r.nextInt(10), 1 + r.nextInt(2),
                        1 + r.nextInt(3), dtypes[r.nextInt(3)], o, r.nextBoolean() ? AttentionFuzzTest.Break.NONE : breaks[r.nextInt(breaks.length)],
                        i);
                // the _alibi_ kernels: one slope per query head (zero, small, large, negative)
                int hkv = 1 + r.nextInt(2), group = 1 + r.nextInt(3);
                float[] slopes = new float[hkv * group];
                for (int h = 0; h < slopes.length; h++) slopes[h] = new float[] {0f, 0.01f, 0.3f, 1f, -0.2f}[r.nextInt(5)];
                AttentionFuzzTest.prefillCase(gpu, "cuda.attention.prefill_alibi", r.nextInt(3), r.nextInt(10), r.nextInt(10), hkv, group,
                        dtypes[r.nextInt(3)], o.alibi(slopes), AttentionFuzzTest.Break.NONE, i);
                int[] lq = lens(r), lk = lens(r);
                int[] raw = new int[r.nextInt(5)];
                for (int j = 0; j < raw.length; j++) raw[j] = r.nextInt(16) - 2;
                AttentionFuzzTest.varlenCase(gpu, "cuda.attention.varlen", lq, lk, raw, r.nextInt(4) == 0, o, i);
                int[] pick = new int[r.nextInt(4)];
                for (int j = 0; j < pick.length; j++) pick[j] = r.nextInt(6) - 1;
                AttentionFuzzTest.decodeCase(gpu, "cuda.attention.decode", 1 + r.nextInt(5), lens(r), pick, r.nextInt(5) - 1,
                        r.nextInt(8) == 0 ? 1 : 0, o, i);
            }
            gpu.synchronize();
        } finally {
            Fuzz.synchronizeWith(null);
        }
    }

    private static int[] lens(Random r) {
        int[] a = new int[r.nextInt(4)];
        for (int i = 0; i < a.length; i++) a[i] = r.nextInt(7);
        return a;
    }
}
