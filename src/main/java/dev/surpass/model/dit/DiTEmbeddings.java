package dev.surpass.model.dit;

/**
 * DiT's fixed embeddings, computed on the host (they are tiny):
 * <ul>
 *   <li>{@link #timestepFrequencies}: {@code TimestepEmbedder.timestep_embedding(t, dim)} —
 *       {@code half = dim/2}, {@code f_k = exp(−ln(10000)·k/half)} (divided by half: 128 for dim 256,
 *       not half − 1 as diffusers' port does), {@code [cos(t·f) | sin(t·f)]}, cos first; t in the
 *       original 0..999 units (fractional allowed). Evaluated like the PyTorch code, in fp32
 *       ({@code f_k} and {@code t·f_k} rounded to fp32, cos/sin correctly rounded), so the first
 *       Linear sees what the official model sees. diffusers' DiT ({@code Timesteps(256,
 *       flip_sin_to_cos=True, downscale_freq_shift=1)}) divides by {@code half − shift} instead: the
 *       {@code downscaleFreqShift} overload;
 *   <li>{@link #posEmbed}: {@code get_2d_sincos_pos_embed(D, gridSize)} — token {@code i·gs + j} (row
 *       i, column j) gets {@code [sincos(D/2, j) | sincos(D/2, i)]}, the column first (numpy's
 *       meshgrid(w, h)); {@code sincos(E, pos) = [sin(pos·ω) | cos(pos·ω)]}, sin first,
 *       {@code ω_k = 1/10000^{k/(E/2)}}, float64 then rounded to fp32.
 * </ul>
 */
public final class DiTEmbeddings {
    private DiTEmbeddings() {}

    /** {@code [N, dim]} row-major: row n is the sinusoidal embedding of {@code t[n]}. */
    public static float[] timestepFrequencies(float[] t, int dim) {
        return timestepFrequencies(t, dim, 0);
    }

    /**
     * As {@link #timestepFrequencies(float[], int)} with {@code f_k = exp(−ln(10000)·k/(half − shift))}:
     * diffusers' {@code get_timestep_embedding(..., flip_sin_to_cos=True, downscale_freq_shift=shift)}
     * (1 in its DiT, 0 in the official code).
     */
    public static float[] timestepFrequencies(float[] t, int dim, int downscaleFreqShift) {
        if (t == null) throw new IllegalArgumentException("timestepFrequencies: t is null");
        if (dim < 2) throw new IllegalArgumentException("timestepFrequencies: dim must be >= 2, got " + dim);
        int half = dim / 2;
        if (downscaleFreqShift < 0 || downscaleFreqShift >= half) {
            throw new IllegalArgumentException("timestepFrequencies: downscaleFreqShift must be in [0, " + half + "), got " + downscaleFreqShift);
        }
        float[] freqs = new float[half];
        float negLog = (float) -Math.log(10000.0);
        float denom = half - downscaleFreqShift;
        for (int k = 0; k < half; k++) freqs[k] = (float) Math.exp((negLog * (float) k) / denom);
        float[] out = new float[t.length * dim];
        for (int n = 0; n < t.length; n++) {
            for (int k = 0; k < half; k++) {
                float arg = t[n] * freqs[k];
                out[n * dim + k] = (float) Math.cos(arg);
                out[n * dim + half + k] = (float) Math.sin(arg);
            }
            // dim odd: the last column stays 0 (torch pads with zeros)
        }
        return out;
    }

    /** {@code [gridSize², dim]} row-major, the fixed 2-D sin-cos table of DiT. */
    public static float[] posEmbed(int dim, int gridSize) {
        if (dim < 4 || dim % 4 != 0) throw new IllegalArgumentException("posEmbed: dim must be a positive multiple of 4, got " + dim);
        if (gridSize < 1) throw new IllegalArgumentException("posEmbed: gridSize must be >= 1, got " + gridSize);
        int e = dim / 2, q = e / 2;
        double[] omega = new double[q];
        for (int k = 0; k < q; k++) omega[k] = 1.0 / Math.pow(10000.0, k / (double) q);
        float[] out = new float[gridSize * gridSize * dim];
        for (int i = 0; i < gridSize; i++) {
            for (int j = 0; j < gridSize; j++) {
                int row = (i * gridSize + j) * dim;
                for (int k = 0; k < q; k++) {
                    out[row + k] = (float) Math.sin(j * omega[k]);          // column first
                    out[row + q + k] = (float) Math.cos(j * omega[k]);
                    out[row + e + k] = (float) Math.sin(i * omega[k]);      // then the row
                    out[row + e + q + k] = (float) Math.cos(i * omega[k]);
                }
            }
        }
        return out;
    }
}
