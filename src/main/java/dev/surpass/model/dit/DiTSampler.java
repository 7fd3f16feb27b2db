package dev.surpass.model.dit;

import dev.surpass.Device;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DdimStep;
import dev.surpass.diffusion.DdpmStep;
import dev.surpass.diffusion.DpmSolverStep;
import dev.surpass.diffusion.Guidance;
import dev.surpass.diffusion.Noise;
import dev.surpass.diffusion.NoiseSchedule;
import dev.surpass.diffusion.Prediction;
import dev.surpass.diffusion.StepOptions;
import java.util.Arrays;
import java.util.Locale;

/**
 * Class-conditional sampling with a {@link DiT}, as DiT's {@code sample.py} does it, on the fused
 * steps of {@link dev.surpass.diffusion}:
 * <ul>
 *   <li>schedule: DiT's linear betas ({@link NoiseSchedule#ditLinear}, T = 1000), respaced to
 *       {@code steps} with {@code space_timesteps(1000, "steps")} (DDPM and DDIM); the model sees the
 *       original timestep of each respaced index ({@code timestep_map}); DDIM for a model from a
 *       diffusers folder visits DiTPipeline's leading timesteps instead ({@link #respacing});
 *   <li>{@link Sampler#DDPM}: ancestral steps with DiT's learned-range variance (fixed large
 *       without learn_sigma, as DiT's {@code create_diffusion}); {@link Sampler#DDIM}: η as given
 *       (0 deterministic); {@link Sampler#DPMPP_2M}: DPM-Solver++(2M) on the unrespaced schedule at
 *       diffusers' linspace timesteps {@code round(linspace(0, 999, N+1))[::-1][:-1]} with a final σ 0;
 *   <li>guidance (scale &gt; 1): the model runs on {@code [x; x]} with labels
 *       {@code [y; null class]} and the step fuses DiT's {@code forward_with_cfg} — ε channels
 *       {@code [:3]} guided, the rest (and the variance values) from the cond half
 *       ({@link Guidance#dit}); the cond half is the trajectory DiT keeps. A model loaded from a
 *       diffusers folder ({@link DiT#diffusersLayout}) is guided on every ε channel, as diffusers'
 *       {@code DiTPipeline} does ({@link Guidance#condFirst}). Models with fewer than 3
 *       channels go through {@link DiT#forwardWithCfg} itself (it then guides variance channels
 *       too, as the official code does);
 *   <li>noise: the initial latents are {@code Noise.gaussian(seed, stream 2^40)} unless given, and
 *       each step's noise is Philox at (seed, step index) — the same on every device.
 * </ul>
 * Returns the final latents {@code [N, C, H, W]} in the model's dtype on its device.
 */
public final class DiTSampler {
    private DiTSampler() {}

    /** DiT's diffusion length. */
    public static final int TRAIN_STEPS = 1000;
    /** Philox stream of the initial latents (apart from the step streams 0 .. steps−1). */
    public static final long INIT_STREAM = 1L << 40;

    /** The sampler. */
    public enum Sampler {
        DDPM, DDIM, DPMPP_2M;

        /** "ddpm", "ddim", "dpmpp2m" (also "dpm++2m", "dpmpp_2m"). */
        public static Sampler parse(String s) {
            String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT).replace("_", "").replace("-", "").replace("+", "p");
            return switch (v) {
                case "ddpm" -> DDPM;
                case "ddim" -> DDIM;
                case "dpmpp2m", "dpmsolverpp2m", "dpmsolver" -> DPMPP_2M;
                default -> throw new IllegalArgumentException("sampler '" + s + "': expected ddim, ddpm or dpmpp2m");
            };
        }
    }

    /** Called after each step with the steps done and the total. */
    @FunctionalInterface
    public interface Progress {
        void step(int done, int total);
    }

    /** {@link #sample(DiT, int[], int, double, Sampler, long, double, Tensor, Progress)} with η = 0, Philox initial noise, no progress. */
    public static Tensor sample(DiT model, int[] labels, int steps, double guidance, Sampler sampler, long seed) {
        return sample(model, labels, steps, guidance, sampler, seed, 0, null, null);
    }

    /** {@link #sample(DiT, int[], int, double, Sampler, long, double, Tensor, Progress)} with η = 0 and Philox initial noise. */
    public static Tensor sample(DiT model, int[] labels, int steps, double guidance, Sampler sampler, long seed, Progress progress) {
        return sample(model, labels, steps, guidance, sampler, seed, 0, null, progress);
    }

    /**
     * Samples one latent per label.
     *
     * @param labels   class labels in [0, num_classes)
     * @param steps    sampling steps, 1..1000
     * @param guidance classifier-free guidance scale; &gt; 1 turns guidance on (needs the null class)
     * @param eta      DDIM's η (ignored by the other samplers)
     * @param noise    initial latents {@code [N, C, H, W]} on the model's device in its dtype (copied,
     *                 not consumed), or null for {@code Noise.gaussian(seed, INIT_STREAM)}
     * @param progress called after each step, or null
     */
    public static Tensor sample(DiT model, int[] labels, int steps, double guidance, Sampler sampler, long seed, double eta,
                                Tensor noise, Progress progress) {
        return sample(model, labels, steps, guidance, sampler, seed, eta, noise, 0, progress);
    }

    /**
     * As {@link #sample(DiT, int[], int, double, Sampler, long, double, Tensor, Progress)}, with the
     * predicted x0 clipped to {@code [−clipDenoised, clipDenoised]} at every step (DiT's
     * {@code clip_denoised=True}, diffusers' {@code clip_sample}): for pixel-space models, whose
     * samples live in [−1, 1] (pass 1). 0 turns it off, as the other overloads do.
     * <ul>
     *   <li>DDPM and DDIM: {@link StepOptions#withClipSample} in the fused step (x0 clamped, ε
     *       re-derived from it);
     *   <li>DPM-Solver++(2M) (whose fused step has no clip): each step first takes the guided x0
     *       through a fused DDIM pass to ᾱ_prev = 1 on the unrespaced schedule at the same timestep
     *       (that pass returns the clipped x0), then runs the solver step on it as an x0
     *       ({@link Prediction#SAMPLE}) prediction — one extra elementwise pass per step.
     * </ul>
     *
     * @param clipDenoised x0 clip bound, &gt;= 0 and finite; 0 = no clipping
     */
    public static Tensor sample(DiT model, int[] labels, int steps, double guidance, Sampler sampler, long seed, double eta,
                                Tensor noise, double clipDenoised, Progress progress) {
        if (!(clipDenoised >= 0) || Double.isInfinite(clipDenoised)) {
            throw new IllegalArgumentException("sample: clipDenoised must be >= 0 and finite (0 = off), got " + clipDenoised);
        }
        if (model == null) throw new IllegalArgumentException("sample: model is null");
        model.ensureOpen();
        DiTConfig cfg = model.config();
        if (labels == null || labels.length == 0) throw new IllegalArgumentException("sample: labels is null or empty");
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= cfg.numClasses()) {
                throw new IllegalArgumentException("sample: label " + labels[i] + " (labels[" + i + "]) is outside [0, " + cfg.numClasses() + ")");
            }
        }
        if (steps < 1 || steps > TRAIN_STEPS) throw new IllegalArgumentException("sample: steps must be in [1, " + TRAIN_STEPS + "], got " + steps);
        if (!Double.isFinite(guidance)) throw new IllegalArgumentException("sample: guidance must be finite, got " + guidance);
        if (sampler == null) throw new IllegalArgumentException("sample: sampler is null");
        if (!(eta >= 0) || Double.isInfinite(eta)) throw new IllegalArgumentException("sample: eta must be >= 0 and finite, got " + eta);
        boolean cfgOn = guidance > 1;
        if (cfgOn && !cfg.hasNullClass()) {
            throw new IllegalArgumentException("sample: guidance " + guidance + " needs the null class, but the label table has only "
                    + cfg.labelRows() + " rows (trained without class dropout); use guidance <= 1");
        }
        Device dev = model.device();
        int b = labels.length, c = cfg.inChannels(), s = cfg.inputSize();
        long[] shape = {b, c, s, s};
        if (noise != null) {
            if (noise.isClosed()) throw new IllegalArgumentException("sample: noise (" + noise.describe() + ") is closed");
            if (!Arrays.equals(noise.shape(), shape) || noise.dtype() != model.dtype() || !noise.device().sameAs(dev)) {
                throw new IllegalArgumentException("sample: noise is " + noise.describe() + "; expected " + model.dtype() + " " + Shapes.toString(shape)
                        + " on " + dev.name());
            }
        }
        // diffusers' DiTPipeline guides every latent channel; the official code only [:3]
        boolean fused = cfgOn && (c >= 3 || model.diffusersLayout());
        StepOptions opts = StepOptions.defaults().withSeed(seed).withLearnedSigma(cfg.learnSigma())
                .withGuidance(!fused ? null : model.diffusersLayout() ? Guidance.condFirst(guidance) : Guidance.dit(guidance));
        boolean clip = clipDenoised > 0;
        int[] yAll = labels;
        if (cfgOn) {
            yAll = Arrays.copyOf(labels, 2 * b);
            Arrays.fill(yAll, b, 2 * b, cfg.nullClass());
        }

        Tensor x = noise != null ? DiT.sliceBatch(noise, 0, b) : Noise.gaussian(dev, model.dtype(), seed, INIT_STREAM, shape);
        Tensor prevX0 = null;
        try {
            NoiseSchedule base = NoiseSchedule.ditLinear(TRAIN_STEPS);
            switch (sampler) {
                case DDPM, DDIM -> {
                    NoiseSchedule sch = base.respace(respacing(model, sampler, base, steps));
                    DdpmStep ddpm = new DdpmStep(sch, cfg.learnSigma() ? DdpmStep.Variance.LEARNED_RANGE : DdpmStep.Variance.FIXED_LARGE);
                    DdimStep ddim = new DdimStep(sch, eta);
                    StepOptions o = clip ? opts.withClipSample(clipDenoised) : opts;
                    for (int i = 0; i < steps; i++) {
                        int idx = steps - 1 - i;
                        Tensor next;
                        try (Tensor mo = modelOut(model, x, sch.originalTimestep(idx), yAll, cfgOn, fused, guidance)) {
                            next = sampler == Sampler.DDPM ? ddpm.step(x, mo, idx, o) : ddim.step(x, mo, idx, idx - 1, o);
                        }
                        x.close();
                        x = next;
                        if (progress != null) progress.step(i + 1, steps);
                    }
                }
                case DPMPP_2M -> {
                    int[] ts = dpmTimesteps(steps);
                    DpmSolverStep dpm = new DpmSolverStep(base.sigmasAt(ts));
                    DdimStep toX0 = new DdimStep(base, 0);  // to ᾱ_prev = 1: returns the (clipped) x0
                    StepOptions x0Opts = StepOptions.defaults().withSeed(seed).withPrediction(Prediction.SAMPLE);
                    prevX0 = dev.allocate(model.dtype(), shape);
                    for (int i = 0; i < steps; i++) {
                        Tensor next;
                        try (Tensor mo = modelOut(model, x, ts[i], yAll, cfgOn, fused, guidance)) {
                            if (clip) {
                                try (Tensor x0 = toX0.step(x, mo, ts[i], -1, opts.withClipSample(clipDenoised))) {
                                    next = dpm.step(x, x0, prevX0, i, x0Opts);
                                }
                            } else {
                                next = dpm.step(x, mo, prevX0, i, opts);
                            }
                        }
                        x.close();
                        x = next;
                        if (progress != null) progress.step(i + 1, steps);
                    }
                }
            }
            return x;
        } catch (RuntimeException | Error e) {
            x.close();
            throw e;
        } finally {
            if (prevX0 != null) prevX0.close();
        }
    }

    /**
     * The timesteps DDPM and DDIM visit, ascending: DiT's {@code space_timesteps(1000, "N")}; for
     * DDIM with a model from a diffusers folder, DiTPipeline's DDIMScheduler as its converter sets it
     * up — leading spacing {@code (0, 1, …, N−1)·(T div N)}, each step going to the one below and the
     * last to ᾱ = 1 ({@code set_alpha_to_one}), which the respaced schedule of those timesteps gives.
     */
    static int[] respacing(DiT model, Sampler sampler, NoiseSchedule base, int steps) {
        if (sampler != Sampler.DDIM || !model.diffusersLayout()) return NoiseSchedule.spaceTimesteps(TRAIN_STEPS, Integer.toString(steps));
        int[] down = base.timesteps(steps, NoiseSchedule.Spacing.LEADING, 0);
        int[] up = new int[steps];
        for (int i = 0; i < steps; i++) up[i] = down[steps - 1 - i];
        return up;
    }

    /** diffusers' linspace spacing: {@code round(linspace(0, T−1, N+1))[::-1][:-1]} (half to even). */
    static int[] dpmTimesteps(int steps) {
        int[] ts = new int[steps];
        double stepLen = (TRAIN_STEPS - 1) / (double) steps;
        for (int i = 0; i < steps; i++) {
            int k = steps - i;  // linspace index, from the top
            double v = k == steps ? TRAIN_STEPS - 1 : k * stepLen;
            ts[i] = (int) Math.rint(v);
        }
        return ts;
    }

    /** The model output for one step: cond only, or [cond; uncond] (fused) or DiT's guided output (cond half). */
    private static Tensor modelOut(DiT model, Tensor x, int t, int[] y, boolean cfgOn, boolean fused, double guidance) {
        int n = y.length;
        float[] tv = new float[n];
        Arrays.fill(tv, t);
        if (!cfgOn) return model.forward(x, tv, y);
        try (Tensor both = DiT.concatBatch(x, x)) {
            if (fused) return model.forward(both, tv, y);
            try (Tensor guided = model.forwardWithCfg(both, tv, y, guidance)) {
                return DiT.sliceBatch(guided, 0, n / 2);
            }
        }
    }
}
