package dev.surpass.diffusion;

/**
 * How a sampler step maps latent elements to model-output elements. The latents are
 * {@code [B, C, S…]} (dim 0 the batch, dim 1 the channels, the rest flattened to {@code S}; a
 * rank-1 tensor is {@code B} = its length, {@code C = S = 1}); the model output is
 * {@code [B·g, C·k, S…]} with {@code g = 2} under guidance (two halves) and {@code k = 2} with learned
 * sigma (the variance values are the last C channels). Latent element {@code p = (b·C + c)·S + s}
 * reads {@code cond = ((bc·Cout + c)·S + s)}, {@code uncond = ((bu·Cout + c)·S + s)} and
 * {@code var = ((bc·Cout + C + c)·S + s)} where {@code bc}/{@code bu} are b or b + B by the order.
 *
 * @param cfg 0 none, 1 cond first (DiT), 2 uncond first (diffusers)
 * @param guided channels {@code c < guided} are guided
 */
record StepLayout(long batch, int channels, long spatial, int cfg, int guided, float scale, boolean learned) {
    long numel() {
        return batch * channels * spatial;
    }

    int cout() {
        return learned ? 2 * channels : channels;
    }

    /**
     * Length of the runs of latent elements whose model-output elements are contiguous and share
     * one guidance choice: the whole tensor without guidance or learned sigma, a batch item with
     * full guidance, else a channel plane.
     */
    long segment() {
        if (cfg == 0 && !learned) return numel();
        if (!learned && guided >= channels) return (long) channels * spatial;
        return spatial;
    }

    int channelOf(long p) {
        return (int) ((p / spatial) % channels);
    }

    private long bc(long b) {
        return cfg == 2 ? b + batch : b;
    }

    private long bu(long b) {
        return cfg == 1 ? b + batch : b;
    }

    long condOffset(long p) {
        long cs = (long) channels * spatial;
        long b = p / cs, w = p % cs;
        return bc(b) * cout() * spatial + w;
    }

    long uncondOffset(long p) {
        long cs = (long) channels * spatial;
        long b = p / cs, w = p % cs;
        return bu(b) * cout() * spatial + w;
    }

    long varOffset(long p) {
        return condOffset(p) + (long) channels * spatial;
    }

    /** True when element p's channel is guided. */
    boolean guidedAt(long p) {
        return cfg != 0 && channelOf(p) < guided;
    }
}
