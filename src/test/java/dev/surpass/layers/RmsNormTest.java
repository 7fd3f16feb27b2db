package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import org.junit.jupiter.api.Test;

class RmsNormTest extends CpuOpTest {
    @Test
    void validation() {
        Tensor x = d.upload(DType.BF16, ParityMath.random(SEED, 3 * 4 * 13, 1f, DType.BF16), 3, 4, 13);
        Tensor w12 = d.upload(DType.BF16, ParityMath.random(SEED, 12, 1f, DType.BF16), 12);
        Tensor w13f = d.upload(DType.F32, ParityMath.random(SEED, 13, 1f, DType.F32), 13);
        Tensor w13 = d.upload(DType.BF16, ParityMath.random(SEED, 13, 1f, DType.BF16), 13);
        Tensor scalar = d.upload(DType.BF16, new float[] {1f});
        assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.rmsNorm(x, w12, 1e-6f)),
                "rmsNorm: weight has shape [12] but x's last dim is 13");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.rmsNorm(x, w13f, 1e-6f)),
                "rmsNorm: weight has dtype F32 but x has BF16");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.rmsNorm(x, w13, 0f)),
                "rmsNorm: eps must be positive and finite, got 0.0");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.rmsNorm(x, w13, Float.NaN)),
                "rmsNorm: eps must be positive and finite, got NaN");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.rmsNorm(scalar, null, 1e-6f)),
                "rmsNorm: x must have rank ≥ 1");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.rmsNorm(null, null, 1e-6f)),
                "rmsNorm: x is null");
    }

    @Test
    void referenceGivesUnitRootMeanSquareAndIgnoresScale() {
        int cols = 96;
        float[] x = ParityMath.random(SEED, 5 * cols, 4f, DType.F32);
        float[] x8 = x.clone();
        for (int i = 0; i < x8.length; i++) x8[i] *= 8f; // exact
        double[] y = ReferenceRmsNorm.rmsNorm(x, null, cols, 1e-30f), y8 = ReferenceRmsNorm.rmsNorm(x8, null, cols, 1e-30f);
        for (int r = 0; r < 5; r++) {
            double ms = 0;
            for (int j = 0; j < cols; j++) {
                ms += y[r * cols + j] * y[r * cols + j];
                assertEquals(y[r * cols + j], y8[r * cols + j], 1e-14, "scale invariance, seed=" + SEED);
            }
            assertEquals(1.0, ms / cols, 1e-12, "row " + r + " seed=" + SEED);
        }
    }

    @Test
    void matchesReferenceWithWeight() {
        int cols = 4099;
        float[] x = ParityMath.random(SEED, 9 * cols, 30f, DType.F32);
        float[] w = ParityMath.random(SEED + 1, cols, 2f, DType.F32);
        try (Tensor t = d.upload(DType.F32, x, 9, cols); Tensor tw = d.upload(DType.F32, w, cols);
             Tensor y = RmsNorm.rmsNorm(t, tw, 1e-6f)) {
            ParityResult r = ParityMath.compare(y.toFloatArray(), ReferenceRmsNorm.rmsNorm(x, w, cols, 1e-6f), 1e-6);
            assertTrue(r.passed(), r + " seed=" + SEED);
        }
    }

    @Test
    void emptyTensors() {
        try (Tensor x = d.allocate(DType.BF16, 2, 0, 16); Tensor w = d.allocate(DType.BF16, 16);
             Tensor y = RmsNorm.rmsNorm(x, w, 1e-6f)) {
            assertArrayEquals(new long[] {2, 0, 16}, y.shape());
        }
    }

    @Test
    void resultsDoNotDependOnThreading() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            long[] s = {190, 777};
            try (Tensor x = d.upload(t, ParityMath.random(SEED, 190 * 777, 3f, t), s);
                 Tensor w = d.upload(t, ParityMath.random(SEED + 1, 777, 1f, t), 777);
                 Tensor o1 = d.allocate(t, s); Tensor o2 = d.allocate(t, s)) {
                VectorRmsNorm.rmsNorm(x, w, o1, 190, 777, 1e-6f, true);
                VectorRmsNorm.rmsNorm(x, w, o2, 190, 777, 1e-6f, false);
                assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), t + " seed=" + SEED);
            }
        }
    }

    @Test
    void addRmsNormEqualsAddThenNormOnTheCpu() {
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            int rows = 3, cols = 37;
            float[] x = ParityMath.random(SEED, rows * cols, 2f, t), r = ParityMath.random(SEED + 1, rows * cols, 2f, t);
            float[] w = ParityMath.random(SEED + 2, cols, 1f, t);
            try (Tensor xt = d.upload(t, x, rows, cols); Tensor rt = d.upload(t, r, rows, cols); Tensor wt = d.upload(t, w, cols);
                 RmsNorm.Added a = RmsNorm.addRmsNorm(xt, rt, wt, 1e-5f);
                 Tensor sum = Elementwise.add(xt, rt); Tensor n = RmsNorm.rmsNorm(sum, wt, 1e-5f)) {
                assertArrayEquals(sum.toFloatArray(), a.sum().toFloatArray(), t + " sum");
                assertArrayEquals(n.toFloatArray(), a.normed().toFloatArray(), t + " normed");
            }
        }
        try (Tensor xt = d.upload(DType.F32, new float[6], 2, 3); Tensor rt = d.upload(DType.F32, new float[6], 3, 2)) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.addRmsNorm(xt, rt, null, 1e-5f)), "residual", "shape");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> RmsNorm.addRmsNorm(xt, null, null, 1e-5f)), "residual");
        }
    }

    @Test
    @org.junit.jupiter.api.Tag("gpu")
    void addRmsNormOnCudaMatchesTheCpu() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0)) {
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                for (int[] rc : new int[][] {{1, 1}, {1, 768}, {5, 37}, {64, 768}, {3, 4099}}) {
                    int rows = rc[0], cols = rc[1];
                    float[] x = ParityMath.random(SEED + cols, rows * cols, 3f, t), r = ParityMath.random(SEED + 2 * cols, rows * cols, 3f, t);
                    float[] w = ParityMath.random(SEED + 3 * cols, cols, 1f, t);
                    try (Tensor xc = d.upload(t, x, rows, cols); Tensor rc0 = d.upload(t, r, rows, cols); Tensor wc = d.upload(t, w, cols);
                         Tensor xg = g.upload(t, x, rows, cols); Tensor rg = g.upload(t, r, rows, cols); Tensor wg = g.upload(t, w, cols);
                         RmsNorm.Added want = RmsNorm.addRmsNorm(xc, rc0, wc, 1e-6f); RmsNorm.Added got = RmsNorm.addRmsNorm(xg, rg, wg, 1e-6f)) {
                        assertArrayEquals(want.sum().toFloatArray(), got.sum().toFloatArray(), t + " sum " + rows + "x" + cols);
                        float[] a = want.normed().toFloatArray(), b = got.normed().toFloatArray();
                        double tol = t == DType.F32 ? 1e-5 : t == DType.F16 ? 2e-3 : 1.6e-2;
                        for (int i = 0; i < a.length; i++) {
                            assertEquals(a[i], b[i], tol * Math.max(1, Math.abs(a[i])), t + " normed " + rows + "x" + cols + " element " + i);
                        }
                    }
                }
            }
        }
    }
}
