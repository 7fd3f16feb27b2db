package dev.surpass.diffusion;

/**
 * Classifier-free guidance fused into a sampler step: the model output holds two batch halves,
 * and the step uses {@code m = m_u + scale·(m_c − m_u)} on the first {@code channels} output
 * channels (all when {@code channels} is {@link #ALL}); the other channels, and the learned-sigma
 * channels, are taken from the cond half.
 *
 * <p>Batch order: {@link Order#COND_FIRST} is DiT's {@code [cond; uncond]} (null label 1000),
 * {@link Order#UNCOND_FIRST} is diffusers' {@code [uncond; cond]} (Stable Diffusion pipelines).
 * {@link #dit(double)} reproduces DiT's {@code forward_with_cfg}, which guides only channels
 * {@code [:3]} (a reproducibility quirk of the official code); note that DiT steps both halves, so
 * its uncond half drifts from the cond half in the unguided channels: this fused step returns the
 * cond half's trajectory, which is the half DiT keeps.
 *
 * @param scale the guidance scale s (1 = the cond output alone)
 * @param order which half comes first
 * @param channels how many leading model-output channels are guided, or {@link #ALL}
 */
public record Guidance(double scale, Order order, int channels) {
    /** Guide every channel. */
    public static final int ALL = -1;

    /** Batch order of the two halves of the model output. */
    public enum Order { COND_FIRST, UNCOND_FIRST }

    public Guidance {
        if (!Double.isFinite(scale)) throw new IllegalArgumentException("guidance scale must be finite, got " + scale);
        if (order == null) throw new IllegalArgumentException("guidance order is null");
        if (channels < 1 && channels != ALL) throw new IllegalArgumentException("guided channels must be >= 1 or Guidance.ALL, got " + channels);
    }

    /** DiT's convention: {@code [cond; uncond]}, channels {@code [:3]} guided. */
    public static Guidance dit(double scale) {
        return new Guidance(scale, Order.COND_FIRST, 3);
    }

    /** diffusers' convention: {@code [uncond; cond]}, every channel guided. */
    public static Guidance diffusers(double scale) {
        return new Guidance(scale, Order.UNCOND_FIRST, ALL);
    }

    /** DiT's batch order with every channel guided (diffusers' DiTPipeline). */
    public static Guidance condFirst(double scale) {
        return new Guidance(scale, Order.COND_FIRST, ALL);
    }
}
