package dev.surpass.parity;

import dev.surpass.DType;
import java.util.SplittableRandom;

/** Random inputs and error measures shared by parity cases and tests. */
public final class ParityMath {
    private ParityMath() {}

    /** Relative-L2 tolerance for an op's output in {@code dtype} (fp32 accumulation everywhere). */
    /** The smallest normal magnitude of {@code dtype}'s floating format (fp16: 2^-14; fp32 and bf16: 2^-126). */
    public static double smallestNormal(DType dtype) {
        return dtype == DType.F16 ? 0x1p-14 : Float.MIN_NORMAL;
    }

    public static double tolerance(DType dtype) {
        return switch (dtype) {
            case F32 -> 1e-5;
            case F16 -> 2e-3;
            case BF16 -> 1e-2;
            default -> 0;
        };
    }

    /**
     * {@code n} values uniform in {@code [-scale, scale)} from {@code seed}, already rounded to
     * {@code dtype} so the reference sees exactly what the device sees. Never all zeros.
     */
    public static float[] random(long seed, int n, float scale, DType dtype) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            float v = (float) ((r.nextDouble() * 2 - 1) * scale);
            if (v == 0f) v = scale * 0.5f;
            x[i] = dtype.round(v);
        }
        return x;
    }

    /** Compares {@code got} with the float64 {@code ref}; a non-finite value where ref is finite fails. */
    public static ParityResult compare(float[] got, double[] ref, double tolerance) {
        return compare(got, ref, tolerance, 0);
    }

    /**
     * As {@link #compare(float[], double[], double)}, with the relative error's denominator at least
     * {@code n·floor²}: results of magnitude below {@code floor} (a 16-bit output's subnormal range,
     * where one rounding step is a large relative error) count on that absolute scale.
     */
    public static ParityResult compare(float[] got, double[] ref, double tolerance, double floor) {
        if (got.length != ref.length) {
            throw new IllegalArgumentException("result has " + got.length + " values, reference " + ref.length);
        }
        double num = 0, den = 0, maxAbs = 0;
        boolean nonFinite = false;
        for (int i = 0; i < got.length; i++) {
            double g = got[i], r = ref[i];
            if (!Double.isFinite(g)) {
                if (Double.isFinite(r) || Double.compare(g, r) != 0) nonFinite = true;
                continue;
            }
            double d = g - r;
            num += d * d;
            den += r * r;
            maxAbs = Math.max(maxAbs, Math.abs(d));
        }
        den = Math.max(den, got.length * floor * floor);
        double rel = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
        return new ParityResult(rel, maxAbs, tolerance, nonFinite);
    }
}
