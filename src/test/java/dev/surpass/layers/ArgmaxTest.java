package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** {@link Argmax#rows}: the sequential rule on edge rows, CUDA against the CPU, and the checks. */
class ArgmaxTest extends CpuOpTest {
    static final float NAN = Float.NaN, INF = Float.POSITIVE_INFINITY;

    /** Edge rows of 5 and what the sequential rule picks in each. */
    static final float[][] EDGES = {
        {1, 3, 3, 2, 3},            // ties: the first maximum
        {NAN, 5, 9, 1, 2},          // NaN first: 0
        {1, NAN, 9, NAN, 2},        // NaN elsewhere: skipped
        {-INF, -INF, -INF, -INF, -INF}, // all -inf: 0
        {NAN, NAN, NAN, NAN, NAN},  // all NaN: 0
        {-1, -2, INF, INF, -3},     // +inf: the first one
        {-5, -4, -3, -2, -1},       // last
    };
    static final int[] EDGE_WANT = {1, 0, 2, 0, 0, 2, 4};

    static float[] flat(float[][] rows) {
        int c = rows[0].length;
        float[] x = new float[rows.length * c];
        for (int r = 0; r < rows.length; r++) System.arraycopy(rows[r], 0, x, r * c, c);
        return x;
    }

    @Test
    void sequentialRuleOnEdgeRows() {
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            try (Tensor x = d.upload(t, flat(EDGES), EDGES.length, 5); Tensor am = Argmax.rows(x)) {
                assertArrayEquals(new long[] {EDGES.length}, am.shape());
                assertArrayEquals(EDGE_WANT, am.toIntArray(), t.toString());
            }
        }
    }

    @Test
    void prefixColumnsOnly() {
        // The padded tail holds the largest values and must be ignored.
        float[] x = {1, 2, 0, 99, 99, 3, 1, 0, 98, 97};
        try (Tensor t = d.upload(DType.F32, x, 2, 5); Tensor am = Argmax.rows(t, 3)) {
            assertArrayEquals(new int[] {1, 0}, am.toIntArray());
        }
    }

    @Test
    void badArgumentsAreNamed() {
        try (Tensor x = d.upload(DType.F32, new float[6], 2, 3); Tensor i = d.upload(new int[] {1}, 1)) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Argmax.rows(x, 0)), "cols", "0");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Argmax.rows(x, 4)), "cols", "4");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Argmax.rows(i)), "x", "floating");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Argmax.rows(null)), "x");
        }
    }

    @Test
    @Tag("gpu")
    void cudaMatchesCpu() {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(SEED);
        try (Device g = Device.cuda(0)) {
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                try (Tensor x = g.upload(t, flat(EDGES), EDGES.length, 5); Tensor am = Argmax.rows(x)) {
                    assertArrayEquals(EDGE_WANT, am.toIntArray(), t + " edge rows");
                }
                for (int[] rc : new int[][] {{1, 1}, {3, 31}, {5, 257}, {64, 50257}, {2, 50280}}) {
                    int rows = rc[0], cols = rc[1];
                    float[] v = ParityMath.random(SEED + cols, rows * cols, 3f, t);
                    // Plant ties and NaNs so the rule, not luck, decides.
                    for (int k = 0; k < rows; k++) {
                        int a = r.nextInt(cols), b = r.nextInt(cols);
                        v[k * cols + a] = 10f;
                        v[k * cols + b] = 10f;
                        if (cols > 2) v[k * cols + r.nextInt(cols)] = NAN;
                    }
                    int use = Math.max(1, cols - 3); // a padded width: search the first `use` columns only
                    try (Tensor x = g.upload(t, v, rows, cols); Tensor c = x.to(d); Tensor want = Argmax.rows(c, use);
                         Tensor got = Argmax.rows(x, use)) {
                        assertArrayEquals(want.toIntArray(), got.toIntArray(), t + " " + rows + "x" + cols);
                    }
                }
            }
        }
    }
}
