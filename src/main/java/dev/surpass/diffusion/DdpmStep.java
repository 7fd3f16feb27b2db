package dev.surpass.diffusion;

import dev.surpass.Tensor;

/**
 * One DDPM ancestral step (Ho et al.; DiT's {@code p_sample}, diffusers' {@code DDPMScheduler}) as
 * a single fused pass: guidance, prediction conversion, optional clip, posterior mean, variance
 * and noise.
 * <pre>
 *   μ   = [β_t·√ᾱ_{t−1}/(1−ᾱ_t)]·x0 + [(1−ᾱ_{t−1})·√α_t/(1−ᾱ_t)]·x_t
 *   β̃_t = β_t·(1−ᾱ_{t−1})/(1−ᾱ_t)
 *   x_{t−1} = μ + σ·z   (no noise at t = 0)
 *   FIXED_SMALL: σ² = β̃_t (clamped ≥ 1e-20);  FIXED_LARGE: σ² = β_t;
 *   LEARNED_RANGE (DiT): f = (v+1)/2, log σ² = f·log β_t + (1−f)·log β̃_t, v = the model's variance channel
 * </pre>
 * The step from index t goes to t−1 of the schedule, whose betas are the respaced ones
 * ({@code 1 − ᾱ_t/ᾱ_{t−1}}) when the schedule was respaced. The noise z is
 * {@code Philox.normal(seed, t, i)}. Immutable; thread-safe.
 */
public final class DdpmStep {
    /** The variance of the reverse step. */
    public enum Variance { FIXED_SMALL, FIXED_LARGE, LEARNED_RANGE }

    private final NoiseSchedule schedule;
    private final Variance variance;

    public DdpmStep(NoiseSchedule schedule, Variance variance) {
        if (schedule == null) throw new IllegalArgumentException("ddpm: schedule is null");
        if (variance == null) throw new IllegalArgumentException("ddpm: variance is null");
        this.schedule = schedule;
        this.variance = variance;
    }

    public NoiseSchedule schedule() {
        return schedule;
    }

    public Variance variance() {
        return variance;
    }

    /** x_{t−1} from x_t and the model output; a new tensor on x's device. */
    public Tensor step(Tensor x, Tensor modelOut, int t, StepOptions options) {
        StepLayout l = Steps.layout("ddpm", x, modelOut, options);
        return Steps.run(plan(t, options), l, x, modelOut, null);
    }

    StepPlan plan(int t, StepOptions o) {
        int n = schedule.size();
        if (t < 0 || t >= n) throw new IllegalArgumentException("ddpm: timestep t = " + t + " is out of range [0, " + n + ") of the schedule");
        if (variance == Variance.LEARNED_RANGE && !o.learnedSigma()) {
            throw new IllegalArgumentException("ddpm: Variance.LEARNED_RANGE reads the model's variance channels: set StepOptions.withLearnedSigma(true)");
        }
        double abt = schedule.alphaCumprod(t), abp = schedule.alphaCumprodOrOne(t - 1);
        double beta = schedule.beta(t), alpha = 1 - beta;
        double a = Math.sqrt(abt), b = Math.sqrt(1 - abt);
        if (!(1 - abt > 0)) throw new IllegalArgumentException("ddpm: alpha_cumprod at t = " + t + " is 1: the posterior is undefined there");
        DdimStep.checkConversion("ddpm", o, a, b, t);
        double c0 = beta * Math.sqrt(abp) / (1 - abt);
        double c1 = (1 - abp) * Math.sqrt(alpha) / (1 - abt);
        double post = Math.max(beta * (1 - abp) / (1 - abt), 1e-20);
        boolean noise = t > 0;
        double sigma = switch (variance) {
            case FIXED_SMALL -> Math.sqrt(post);
            case FIXED_LARGE -> Math.sqrt(beta);
            case LEARNED_RANGE -> 0;
        };
        double minLog = variance == Variance.LEARNED_RANGE ? Math.log(post) : 0;
        double maxLog = variance == Variance.LEARNED_RANGE ? Math.log(beta) : 0;
        if (variance == Variance.LEARNED_RANGE && noise) Steps.finite("ddpm", "log beta_t at t = " + t, maxLog);
        double[] k = StepPlan.convert(o.prediction(), a, b);
        return new StepPlan(StepPlan.Kind.DDPM, k[0], k[1], k[2], k[3], o.clipSample(), a, 1 / b,
                c0, c1, noise ? sigma : 0, minLog, maxLog, variance == Variance.LEARNED_RANGE, noise, o.seed(), t);
    }
}
