package dev.surpass.layers;

/**
 * The float64 oracle for {@link Activation}, including a double-precision {@link #erf}/{@link #erfc}
 * (relative error below 1e-13 everywhere) that the fp32 approximation in {@link VectorActivation}
 * is checked against.
 */
public final class ReferenceActivation {
    private ReferenceActivation() {}

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

    /** GELU, exact form: x·Φ(x) with Φ the standard normal CDF. */
    public static double geluErf(double x) {
        // For x < 0, Φ(x) = erfc(-x/√2)/2 keeps full relative precision where 1 + erf would cancel.
        double phi = x >= 0 ? 0.5 * (1 + erf(x * SQRT_HALF)) : 0.5 * erfc(-x * SQRT_HALF);
        return x * phi;
    }

    /**
     * GELU, GPT-2's tanh approximation: ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), evaluated as
     * the equal x·σ(2u) = x / (1 + e^{−2u}) so the negative tail does not cancel to 0.
     */
    public static double geluTanh(double x) {
        double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        return x / (1 + Math.exp(-2 * u));
    }

    /** SiLU (swish): x·σ(x), written so neither tail overflows. */
    public static double silu(double x) {
        return x >= 0 ? x / (1 + Math.exp(-x)) : x * Math.exp(x) / (1 + Math.exp(x));
    }

    /** cap·tanh(x / cap). */
    public static double[] softcap(float[] x, double cap) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = cap * Math.tanh(x[i] / cap);
        return out;
    }

    public static double[] geluErf(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = geluErf(x[i]);
        return out;
    }

    public static double[] geluTanh(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = geluTanh(x[i]);
        return out;
    }

    public static double[] silu(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = silu(x[i]);
        return out;
    }

    /**
     * The error function. For |x| < 2.5 the all-positive series
     * erf(x) = 2/√π · e^{-x²} · Σ (2x²)ⁿ x / (1·3·…·(2n+1)) (no cancellation); beyond, 1 - erfc.
     */
    public static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double a = Math.abs(x);
        if (a >= 2.5) return Math.copySign(1 - erfc(a), x);
        double term = x, sum = x;
        for (int n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
            term *= 2 * x * x / (2 * n + 1);
            sum += term;
        }
        return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
    }

    /**
     * The complementary error function 1 - erf(x). For x ≥ 2.5 the continued fraction
     * erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + (2/2)/(x + (3/2)/(x + …)))), evaluated backwards
     * from 60 terms (converged to double precision there); below, 1 - erf (at most a few digits lost).
     */
    public static double erfc(double x) {
        if (Double.isNaN(x)) return x;
        if (x < 2.5) return 1 - erf(x);
        if (x > 27) return 0; // below the smallest double
        double f = x;
        for (int k = 60; k >= 1; k--) f = x + (k / 2.0) / f;
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }
}
