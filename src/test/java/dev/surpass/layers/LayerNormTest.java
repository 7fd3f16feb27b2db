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

class LayerNormTest extends CpuOpTest {
    @Test
    void validation() {
        Tensor x = d.upload(DType.F32, ParityMath.random(SEED, 2 * 65, 1f, DType.F32), 2, 65);
        Tensor w64 = d.upload(DType.F32, ParityMath.random(SEED, 64, 1f, DType.F32), 64);
        Tensor w65 = d.upload(DType.F32, ParityMath.random(SEED, 65, 1f, DType.F32), 65);
        Tensor w65h = d.upload(DType.BF16, ParityMath.random(SEED, 65, 1f, DType.BF16), 65);
        Tensor w2d = d.upload(DType.F32, ParityMath.random(SEED, 65, 1f, DType.F32), 1, 65);
        Tensor scalar = d.upload(DType.F32, new float[] {1f});
        Tensor ints = d.upload(new int[] {1, 2}, 2);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(x, w64, null, 1e-5f)),
                "layerNorm: weight has shape [64] but x's last dim is 65");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(x, w65, w64, 1e-5f)),
                "layerNorm: bias has shape [64] but x's last dim is 65");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(x, w2d, null, 1e-5f)),
                "layerNorm: weight has shape [1, 65] but x's last dim is 65; expected [65]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(x, w65, w65h, 1e-5f)),
                "layerNorm: bias has dtype BF16 but x has F32");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(null, w65, null, 1e-5f)),
                "layerNorm: x is null");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(ints, null, null, 1e-5f)),
                "layerNorm: x has dtype I32");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(scalar, null, null, 1e-5f)),
                "layerNorm: x must have rank ≥ 1");
        for (float eps : new float[] {0f, -1e-5f, Float.NaN, Float.POSITIVE_INFINITY}) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(x, w65, null, eps)),
                    "layerNorm: eps must be positive and finite, got " + eps);
        }
        Tensor closed = d.upload(DType.F32, ParityMath.random(SEED, 65, 1f, DType.F32), 65);
        closed.close();
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LayerNorm.layerNorm(x, closed, null, 1e-5f)), "is closed");
    }

    @Test
    void referenceGivesZeroMeanUnitVariance() {
        int cols = 129;
        float[] x = ParityMath.random(SEED, 7 * cols, 5f, DType.F32);
        double[] y = ReferenceLayerNorm.layerNorm(x, null, null, cols, 1e-12f);
        for (int r = 0; r < 7; r++) {
            double mean = 0, var = 0;
            for (int j = 0; j < cols; j++) mean += y[r * cols + j];
            mean /= cols;
            for (int j = 0; j < cols; j++) var += (y[r * cols + j] - mean) * (y[r * cols + j] - mean);
            var /= cols;
            assertEquals(0, mean, 1e-14, "row " + r + " seed=" + SEED);
            assertEquals(1, var, 1e-9, "row " + r + " seed=" + SEED);
        }
        // Affine: y·w + b elementwise on the normalised row.
        float[] w = ParityMath.random(SEED + 1, cols, 2f, DType.F32), b = ParityMath.random(SEED + 2, cols, 2f, DType.F32);
        double[] ya = ReferenceLayerNorm.layerNorm(x, w, b, cols, 1e-12f);
        for (int i = 0; i < x.length; i++) assertEquals(y[i] * w[i % cols] + b[i % cols], ya[i], 1e-12);
    }

    @Test
    void largeOffsetsDoNotCancel() {
        int cols = 1000;
        for (float offset : new float[] {1e3f, 1e4f, 1e5f, -3e4f}) {
            float[] x = ParityMath.random(SEED, 17 * cols, 1f, DType.F32);
            for (int i = 0; i < x.length; i++) x[i] += offset; // rounded by the fp32 add; the reference sees the same
            try (Tensor t = d.upload(DType.F32, x, 17, cols); Tensor y = LayerNorm.layerNorm(t, null, null, 1e-5f)) {
                ParityResult r = ParityMath.compare(y.toFloatArray(), ReferenceLayerNorm.layerNorm(x, null, null, cols, 1e-5f), 1e-5);
                assertTrue(r.passed(), "offset " + offset + ": " + r + " seed=" + SEED);
            }
        }
    }

    @Test
    void constantRowGivesTheBias() {
        float[] x = new float[37];
        java.util.Arrays.fill(x, 1234.5f);
        float[] b = ParityMath.random(SEED, 37, 1f, DType.F32);
        try (Tensor t = d.upload(DType.F32, x, 37); Tensor w = d.upload(DType.F32, ParityMath.random(SEED + 1, 37, 1f, DType.F32), 37);
             Tensor tb = d.upload(DType.F32, b, 37); Tensor y = LayerNorm.layerNorm(t, w, tb, 1e-5f)) {
            assertArrayEquals(b, y.toFloatArray(), "seed=" + SEED);
        }
    }

    @Test
    void emptyTensors() {
        try (Tensor x = d.allocate(DType.F32, 0, 8); Tensor w = d.allocate(DType.F32, 8);
             Tensor y = LayerNorm.layerNorm(x, w, w, 1e-5f);
             Tensor x0 = d.allocate(DType.F16, 3, 0); Tensor y0 = LayerNorm.layerNorm(x0, null, null, 1e-5f)) {
            assertArrayEquals(new long[] {0, 8}, y.shape());
            assertArrayEquals(new long[] {3, 0}, y0.shape());
        }
    }

    @Test
    void resultsDoNotDependOnThreading() {
        for (DType t : new DType[] {DType.F32, DType.F16}) {
            long[] s = {211, 1031};
            try (Tensor x = d.upload(t, ParityMath.random(SEED, 211 * 1031, 3f, t), s);
                 Tensor w = d.upload(t, ParityMath.random(SEED + 1, 1031, 1f, t), 1031);
                 Tensor b = d.upload(t, ParityMath.random(SEED + 2, 1031, 1f, t), 1031);
                 Tensor o1 = d.allocate(t, s); Tensor o2 = d.allocate(t, s)) {
                VectorLayerNorm.layerNorm(x, w, b, o1, 211, 1031, 1e-5f, true);
                VectorLayerNorm.layerNorm(x, w, b, o2, 211, 1031, 1e-5f, false);
                assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), t + " seed=" + SEED);
            }
        }
    }
}
