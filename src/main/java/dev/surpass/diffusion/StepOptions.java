package dev.surpass.diffusion;

/**
 * Options shared by every sampler step. Immutable; the {@code with*} methods return copies.
 *
 * <ul>
 *   <li>{@code prediction}: what the model output means ({@link Prediction#EPSILON} by default).
 *   <li>{@code guidance}: classifier-free guidance, or null (no guidance; the model output has the
 *       latents' batch).
 *   <li>{@code learnedSigma}: the model output has 2C channels, the last C being DiT's variance
 *       values {@code v ∈ [−1, 1]} (used by {@link DdpmStep.Variance#LEARNED_RANGE}, ignored otherwise).
 *   <li>{@code clipSample}: clip the predicted x0 to {@code [−c, c]} (then ε is re-derived from it,
 *       as DiT and diffusers do); 0 turns it off (the default; use it for latent models).
 *   <li>{@code seed}: the Philox key of the step's noise. The noise of element i (flat index in
 *       the latents) at a step is {@link Philox#normal(long, long, long) Philox.normal(seed, stream, i)}
 *       where {@code stream} is the step's index argument ({@code t} for DDPM and DDIM, {@code i}
 *       for Euler), so a trajectory is reproducible on every device from the seed alone.
 * </ul>
 */
public record StepOptions(Prediction prediction, Guidance guidance, boolean learnedSigma, double clipSample, long seed) {
    public StepOptions {
        if (prediction == null) throw new IllegalArgumentException("prediction is null");
        if (!(clipSample >= 0) || Double.isInfinite(clipSample)) throw new IllegalArgumentException("clipSample must be >= 0 and finite (0 = off), got " + clipSample);
    }

    /** ε-prediction, no guidance, no learned sigma, no clipping, seed 0. */
    public static StepOptions defaults() {
        return new StepOptions(Prediction.EPSILON, null, false, 0, 0);
    }

    public StepOptions withPrediction(Prediction p) {
        return new StepOptions(p, guidance, learnedSigma, clipSample, seed);
    }

    public StepOptions withGuidance(Guidance g) {
        return new StepOptions(prediction, g, learnedSigma, clipSample, seed);
    }

    public StepOptions withLearnedSigma(boolean on) {
        return new StepOptions(prediction, guidance, on, clipSample, seed);
    }

    public StepOptions withClipSample(double c) {
        return new StepOptions(prediction, guidance, learnedSigma, c, seed);
    }

    public StepOptions withSeed(long s) {
        return new StepOptions(prediction, guidance, learnedSigma, clipSample, s);
    }
}
