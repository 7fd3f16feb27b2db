package dev.surpass.scan;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.Arrays;

/** Shared helpers of the scan tests: seeds, poisoned outputs, comparisons, token slices. */
final class ScanFixture {
    private ScanFixture() {}

    static final long SEED = Long.getLong("surpass.seed", 0x5eed_2025L);

    /** A tensor filled with NaN, so that any element an implementation skips shows. */
    static Tensor poisoned(Device dev, DType dtype, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] nan = new float[(int) n];
        Arrays.fill(nan, Float.NaN);
        return dev.upload(dtype, nan, shape);
    }

    static void assertClose(float[] got, double[] ref, double tol, String what, long seed) {
        ParityResult r = ParityMath.compare(got, ref, tol);
        assertTrue(r.passed(), () -> what + " seed=" + seed + ": relL2=" + r.relL2() + " maxAbs=" + r.maxAbs() + " tol=" + tol
                + " nonFinite=" + r.nonFinite());
    }

    static void assertClose(float[] got, float[] ref, double tol, String what, long seed) {
        assertClose(got, toDouble(ref), tol, what, seed);
    }

    static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    static void assertNoNaN(float[] x, String what, long seed) {
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i])) throw new AssertionError(what + ": NaN (unwritten?) at " + i + " seed=" + seed);
        }
    }

    /** Token t of a {@code [rows, len]} row-major array: {@code [rows]}. */
    static float[] column(float[] x, int rows, int len, int t) {
        float[] c = new float[rows];
        for (int r = 0; r < rows; r++) c[r] = x[r * len + t];
        return c;
    }

    /** Tokens {@code [t0, t1)} of a {@code [rows, len]} array: {@code [rows, t1 - t0]}. */
    static float[] columns(float[] x, int rows, int len, int t0, int t1) {
        float[] c = new float[rows * (t1 - t0)];
        for (int r = 0; r < rows; r++) System.arraycopy(x, r * len + t0, c, r * (t1 - t0), t1 - t0);
        return c;
    }
}
