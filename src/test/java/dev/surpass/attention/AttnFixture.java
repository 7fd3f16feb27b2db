package dev.surpass.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.Arrays;

/** Shared helpers of the attention tests: seeded inputs, poisoned outputs, comparisons. */
final class AttnFixture {
    private AttnFixture() {}

    static final long SEED = Long.getLong("surpass.seed", 0x5eed_2025L);

    /** A tensor of {@code dtype} filled with NaN, so that any element an implementation skips shows. */
    static Tensor poisoned(Device dev, DType dtype, long... shape) {
        int n = 1;
        for (long s : shape) n *= (int) s;
        float[] nan = new float[n];
        Arrays.fill(nan, Float.NaN);
        return dev.upload(dtype, nan, shape);
    }

    static void assertClose(float[] got, double[] ref, double tol, String what) {
        ParityResult r = ParityMath.compare(got, ref, tol);
        assertTrue(r.passed(), () -> what + " seed=" + SEED + ": relL2=" + r.relL2() + " maxAbs=" + r.maxAbs() + " tol=" + tol
                + " nonFinite=" + r.nonFinite());
    }

    static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    /** No NaN anywhere (−∞ allowed: empty rows' LSE). */
    static void assertNoNaN(float[] x, String what) {
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i])) throw new AssertionError(what + ": NaN at " + i + " seed=" + SEED);
        }
    }
}
