package dev.surpass.diffusion;

import dev.surpass.Tensor;

/**
 * One DDIM step (Song et al.; DiT's {@code ddim_sample} and diffusers' {@code DDIMScheduler}) as a
 * single fused pass over the latents: guidance, prediction conversion, optional clip, update and
 * noise in one read of x and the model output and one write of x_prev.
 * <pre>
 *   σ_t    = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev)
 *   x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ_t²)·ε + σ_t·z
 * </pre>
 * {@code t} and {@code tPrev} index the schedule (a respaced one for DiT); {@code tPrev = −1}
 * means {@code ᾱ_prev = 1} (the last step; diffusers' {@code set_alpha_to_one}). The noise z is
 * {@code Philox.normal(seed, t, i)}. Immutable; thread-safe.
 */
public final class DdimStep {
    private final NoiseSchedule schedule;
    private final double eta;

    public DdimStep(NoiseSchedule schedule, double eta) {
        if (schedule == null) throw new IllegalArgumentException("ddim: schedule is null");
        if (!(eta >= 0) || Double.isInfinite(eta)) throw new IllegalArgumentException("ddim: eta must be >= 0 and finite, got " + eta);
        this.schedule = schedule;
        this.eta = eta;
    }

    public NoiseSchedule schedule() {
        return schedule;
    }

    public double eta() {
        return eta;
    }

    /** x_prev from x at {@code t} and the model output; a new tensor on x's device. */
    public Tensor step(Tensor x, Tensor modelOut, int t, int tPrev, StepOptions options) {
        StepLayout l = Steps.layout("ddim", x, modelOut, options);
        return Steps.run(plan(t, tPrev, options), l, x, modelOut, null);
    }

    StepPlan plan(int t, int tPrev, StepOptions o) {
        checkTimesteps(t, tPrev);
        double abt = schedule.alphaCumprod(t), abp = schedule.alphaCumprodOrOne(tPrev);
        double a = Math.sqrt(abt), b = Math.sqrt(1 - abt);
        checkConversion("ddim", o, a, b, t);
        double sigma = eta == 0 ? 0 : eta * Math.sqrt((1 - abp) / (1 - abt)) * Math.sqrt(1 - abt / abp);
        double[] k = StepPlan.convert(o.prediction(), a, b);
        double ce = Math.sqrt(Math.max(0, 1 - abp - sigma * sigma));
        return new StepPlan(StepPlan.Kind.DDIM, k[0], k[1], k[2], k[3], o.clipSample(), a, 1 / b,
                Math.sqrt(abp), ce, sigma, 0, 0, false, sigma > 0, o.seed(), t);
    }

    void checkTimesteps(int t, int tPrev) {
        int n = schedule.size();
        if (t < 0 || t >= n) throw new IllegalArgumentException("ddim: timestep t = " + t + " is out of range [0, " + n + ") of the schedule");
        if (tPrev < -1 || tPrev >= t) {
            throw new IllegalArgumentException("ddim: tPrev = " + tPrev + " must be in [-1, t = " + t + ") (-1: alpha_cumprod_prev = 1)");
        }
    }

    /** ε needs ᾱ_t > 0; x0-prediction and clipping need ᾱ_t < 1. */
    static void checkConversion(String op, StepOptions o, double a, double b, int t) {
        if (o.prediction() == Prediction.EPSILON && !(a > 0)) {
            throw new IllegalArgumentException(op + ": alpha_cumprod at t = " + t + " is 0 (zero terminal SNR): ε-prediction cannot "
                    + "recover x0 there; use Prediction.V");
        }
        if ((o.prediction() == Prediction.SAMPLE || o.clipSample() > 0) && !(b > 0)) {
            throw new IllegalArgumentException(op + ": alpha_cumprod at t = " + t + " is 1: ε cannot be derived from x0 there");
        }
    }
}
