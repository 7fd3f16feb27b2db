package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.Test;

class SoftmaxTest extends CpuOpTest {
    static final float INF = Float.POSITIVE_INFINITY;

    private float[] softmax(DType t, float[] x, long... shape) {
        try (Tensor in = d.upload(t, x, shape); Tensor out = Softmax.softmax(in)) {
            return out.toFloatArray();
        }
    }

    @Test
    void edgeRows() {
        checkEdgeRows(d);
    }

    /**
     * Rows the max-subtracted softmax cannot normalise, on {@code dev} ({@link CudaSoftmaxTest} runs
     * it on CUDA): all -inf, one and two +inf, a NaN, some -inf.
     */
    static void checkEdgeRows(Device dev) {
        // 5 rows of 19 (a full vector plus a masked tail on every species up to 16 lanes).
        int c = 19;
        float[] x = ParityMath.random(SEED, 5 * c, 3f, DType.F32);
        for (int j = 0; j < c; j++) x[j] = -INF;                 // row 0: all -inf → zeros
        x[c + 4] = INF;                                          // row 1: one +inf → one-hot
        x[2 * c + 1] = INF; x[2 * c + 17] = INF;                 // row 2: two +inf → 1/2 each
        x[3 * c + 7] = Float.NaN;                                // row 3: NaN → NaN row
        x[3 * c + 9] = INF;                                      //   (with a +inf too: still NaN)
        for (int j = 0; j < c; j += 2) x[4 * c + j] = -INF;      // row 4: some -inf → zero there
        for (DType t : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            float[] y;
            try (Tensor in = dev.upload(t, x, 5, c); Tensor out = Softmax.softmax(in)) {
                y = out.toFloatArray();
            }
            double[] ref = ReferenceSoftmax.softmax(roundAll(t, x), c);
            for (int j = 0; j < c; j++) {
                assertEquals(0f, y[j], t + " all -inf row");
                assertEquals(j == 4 ? 1f : 0f, y[c + j], t + " one +inf");
                assertEquals(j == 1 || j == 17 ? 0.5f : 0f, y[2 * c + j], t + " two +inf");
                assertTrue(Float.isNaN(y[3 * c + j]), t + " NaN row");
                assertTrue(Double.isNaN(ref[3 * c + j]), t + " NaN row (reference)");
                if (j % 2 == 0) assertEquals(0f, y[4 * c + j], t + " -inf entry");
                else assertEquals(ref[4 * c + j], y[4 * c + j], 2 * ParityMath.tolerance(t) * ref[4 * c + j], t + " finite entry, seed=" + SEED);
            }
        }
    }

    private static float[] roundAll(DType t, float[] x) {
        float[] r = x.clone();
        for (int i = 0; i < r.length; i++) r[i] = t.round(r[i]);
        return r;
    }

    @Test
    void hugeValuesNeitherOverflowNorUnderflowToNaN() {
        float[] x = {3e38f, -3e38f, 2.9e38f, 1e38f, 3e38f, -1e30f, 0.5f};
        float[] y = softmax(DType.F32, x, 7);
        assertArrayEquals(new float[] {0.5f, 0f, 0f, 0f, 0.5f, 0f, 0f}, y);
        float[] z = softmax(DType.F32, new float[] {-3e38f, -3e38f}, 2);
        assertArrayEquals(new float[] {0.5f, 0.5f}, z);
    }

    @Test
    void referenceRowsSumToOneAndIgnoreShifts() {
        int cols = 37;
        float[] x = ParityMath.random(SEED, 11 * cols, 20f, DType.F32);
        for (int i = 0; i < x.length; i++) x[i] = Math.round(x[i] * 64) / 64f; // on a 1/64 grid, so +64 is exact
        float[] shifted = x.clone();
        for (int i = 0; i < shifted.length; i++) shifted[i] = x[i] + 64f;
        double[] p = ReferenceSoftmax.softmax(x, cols), q = ReferenceSoftmax.softmax(shifted, cols);
        for (int r = 0; r < 11; r++) {
            double sum = 0;
            for (int j = 0; j < cols; j++) {
                sum += p[r * cols + j];
                assertTrue(p[r * cols + j] > 0, "seed=" + SEED);
                assertEquals(p[r * cols + j], q[r * cols + j], 1e-15 * p[r * cols + j] + 1e-300, "shift invariance, seed=" + SEED);
            }
            assertEquals(1.0, sum, 1e-14, "row " + r + " seed=" + SEED);
        }
        // Two values a apart: p = 1 / (1 + e^-a).
        double[] two = ReferenceSoftmax.softmax(new float[] {1f, 3f}, 2);
        assertEquals(1 / (1 + Math.exp(2)), two[0], 1e-16);
    }

    @Test
    void vectorRowsSumToOne() {
        int cols = 1031;
        float[] y = softmax(DType.F32, ParityMath.random(SEED, 6 * cols, 20f, DType.F32), 2, 3, cols);
        for (int r = 0; r < 6; r++) {
            double sum = 0;
            for (int j = 0; j < cols; j++) sum += y[r * cols + j];
            assertEquals(1.0, sum, 1e-5, "row " + r + " seed=" + SEED);
        }
    }

    @Test
    void validation() {
        Tensor scalar = d.upload(DType.F32, new float[] {1f});
        Tensor ints = d.upload(new int[] {1, 2}, 2);
        Tensor closed = d.upload(DType.F32, new float[] {1f, 2f}, 2);
        closed.close();
        var e1 = assertThrows(IllegalArgumentException.class, () -> Softmax.softmax(scalar));
        assertTrue(e1.getMessage().contains("softmax: x must have rank ≥ 1"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> Softmax.softmax(ints));
        assertTrue(e2.getMessage().contains("softmax: x has dtype I32"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class, () -> Softmax.softmax(closed));
        assertTrue(e3.getMessage().contains("is closed"), e3.getMessage());
        var e4 = assertThrows(IllegalArgumentException.class, () -> Softmax.softmax(null));
        assertTrue(e4.getMessage().contains("softmax: x is null"), e4.getMessage());
    }

    @Test
    void emptyTensors() {
        try (Tensor a = d.allocate(DType.F32, 0, 5); Tensor b = d.allocate(DType.BF16, 5, 0);
             Tensor ya = Softmax.softmax(a); Tensor yb = Softmax.softmax(b)) {
            assertArrayEquals(new long[] {0, 5}, ya.shape());
            assertArrayEquals(new long[] {5, 0}, yb.shape());
        }
    }

    @Test
    void resultsDoNotDependOnThreading() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            long[] s = {333, 257};
            try (Tensor x = d.upload(t, ParityMath.random(SEED, 333 * 257, 20f, t), s);
                 Tensor o1 = d.allocate(t, s); Tensor o2 = d.allocate(t, s)) {
                VectorSoftmax.softmax(x, o1, 333, 257, true);
                VectorSoftmax.softmax(x, o2, 333, 257, false);
                assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), t + " seed=" + SEED);
            }
        }
    }
}
