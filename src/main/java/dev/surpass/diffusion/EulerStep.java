package dev.surpass.diffusion;

import dev.surpass.Tensor;

/**
 * One step of diffusers' {@code EulerDiscreteScheduler} as a single fused pass, over a descending
 * sigma table (e.g. {@link NoiseSchedule#sigmasAt} or {@link NoiseSchedule#karrasSigmas}, ending in 0).
 * <pre>
 *   γ  = min(s_churn/(len(σ)−1), √2−1) if s_tmin ≤ σ_i ≤ s_tmax else 0;   σ̂ = σ_i·(1+γ)
 *   x̂  = x + s_noise·√(σ̂² − σ_i²)·z                 (only when γ > 0)
 *   x0 = x̂ − σ̂·ε  |  m·(−σ_i/√(σ_i²+1)) + x̂/(σ_i²+1)  (v)  |  m  (sample)
 *   x_{i+1} = x̂ + (x̂ − x0)/σ̂ · (σ_{i+1} − σ̂)
 * </pre>
 * The latents live unscaled; the model is fed {@code x/√(σ_i²+1)} by the caller. Start from noise
 * ×σ_0 (linspace/trailing spacing) or ×√(σ_0²+1) (leading). The noise z is
 * {@code Philox.normal(seed, i, element)}. Immutable; thread-safe.
 */
public final class EulerStep {
    private final double[] sigmas;
    private final double sChurn, sTmin, sTmax, sNoise;

    /** Plain Euler (no churn). */
    public EulerStep(double[] sigmas) {
        this(sigmas, 0, 0, Double.POSITIVE_INFINITY, 1);
    }

    /** Euler with "churn" noise (Karras et al. Algorithm 2), diffusers' s_churn, s_tmin, s_tmax, s_noise. */
    public EulerStep(double[] sigmas, double sChurn, double sTmin, double sTmax, double sNoise) {
        this.sigmas = Steps.sigmaTable("euler", sigmas);
        if (!(sChurn >= 0) || Double.isInfinite(sChurn)) throw new IllegalArgumentException("euler: s_churn must be >= 0 and finite, got " + sChurn);
        if (!(sTmin >= 0) || !(sTmax >= sTmin)) throw new IllegalArgumentException("euler: need 0 <= s_tmin <= s_tmax, got " + sTmin + ", " + sTmax);
        if (!Double.isFinite(sNoise)) throw new IllegalArgumentException("euler: s_noise must be finite, got " + sNoise);
        this.sChurn = sChurn;
        this.sTmin = sTmin;
        this.sTmax = sTmax;
        this.sNoise = sNoise;
    }

    /** A copy of the sigma table. */
    public double[] sigmas() {
        return sigmas.clone();
    }

    /** Number of steps (the table's length − 1). */
    public int steps() {
        return sigmas.length - 1;
    }

    /** x_{i+1} from x_i and the model output; a new tensor on x's device. */
    public Tensor step(Tensor x, Tensor modelOut, int i, StepOptions options) {
        StepLayout l = Steps.layout("euler", x, modelOut, options);
        return Steps.run(plan(i, options), l, x, modelOut, null);
    }

    double gamma(int i) {
        double s = sigmas[i];
        return (sTmin <= s && s <= sTmax) ? Math.min(sChurn / (sigmas.length - 1), Math.sqrt(2) - 1) : 0;
    }

    double sNoise() {
        return sNoise;
    }

    StepPlan plan(int i, StepOptions o) {
        if (i < 0 || i >= sigmas.length - 1) {
            throw new IllegalArgumentException("euler: step i = " + i + " is out of range [0, " + (sigmas.length - 1)
                    + ") of the sigma table (" + sigmas.length + " entries)");
        }
        if (o.clipSample() > 0) throw new IllegalArgumentException("euler: clipSample is not part of the Euler scheduler; set it to 0");
        double s = sigmas[i], g = gamma(i), sh = s * (1 + g);
        double ns = g > 0 ? sNoise * Math.sqrt(sh * sh - s * s) : 0;
        double ax, am;
        switch (o.prediction()) {
            case EPSILON -> { ax = 1; am = -sh; }
            case V -> { ax = 1 / (s * s + 1); am = -s / Math.sqrt(s * s + 1); }
            default -> { ax = 0; am = 1; }
        }
        double d = (sigmas[i + 1] - sh) / sh;
        return new StepPlan(StepPlan.Kind.EULER, ax, am, 0, 0, 0, 0, 0, ns, d, 0, 0, 0, false, ns != 0, o.seed(), i);
    }
}
