package dev.surpass.attention;

/**
 * ALiBi slopes. The standard ones (Press et al.; BLOOM's {@code build_alibi_tensor}): for
 * {@code n}, the largest power of two not above {@code heads},
 * head {@code h < n} gets {@code b^(h+1)} with {@code b = 2^(−8/n)}; the remaining
 * {@code heads − n} heads get the odd powers {@code b'^1, b'^3, ...} of {@code b' = 2^(−8/(2n))}
 * (the slopes of 2n heads that a power-of-two model would have between those of n). As HF, the
 * bases are fp32 and each power is rounded to fp32. MPT's differ when the head count is not a
 * power of two: {@link #mpt}.
 */
public final class Alibi {
    private Alibi() {}

    /**
     * The slopes of {@code heads} query heads, for {@link AttentionOptions#alibi}.
     *
     * @throws IllegalArgumentException unless {@code heads ≥ 1}
     */
    public static float[] slopes(int heads) {
        if (heads < 1) throw new IllegalArgumentException("alibi: heads must be >= 1, got " + heads);
        int n = Integer.highestOneBit(heads);
        float[] s = new float[heads];
        float base = (float) Math.pow(2, -8.0 / n);
        for (int h = 0; h < n; h++) s[h] = (float) Math.pow(base, h + 1);
        if (n != heads) {
            float extra = (float) Math.pow(2, -8.0 / (2 * n));
            for (int h = n, p = 1; h < heads; h++, p += 2) s[h] = (float) Math.pow(extra, p);
        }
        return s;
    }

    /**
     * MPT's slopes ({@code build_mpt_alibi_tensor}): for {@code n}, the smallest power of two not
     * below {@code heads}, {@code 1 / 2^((h+1)·maxBias/n)} for h < n, and when {@code n ≠ heads} the
     * odd-indexed ones then the even-indexed ones, cut to {@code heads}. Equal to {@link #slopes(int)}
     * for a power of two and {@code maxBias} 8.
     *
     * @throws IllegalArgumentException unless {@code heads ≥ 1} and {@code maxBias} is finite and positive
     */
    public static float[] mpt(int heads, float maxBias) {
        if (heads < 1) throw new IllegalArgumentException("alibi: heads must be >= 1, got " + heads);
        if (!(maxBias > 0) || !Float.isFinite(maxBias)) {
            throw new IllegalArgumentException("alibi: alibi_bias_max must be finite and positive, got " + maxBias);
        }
        int n = Integer.highestOneBit(heads) == heads ? heads : Integer.highestOneBit(heads) << 1;
        float[] all = new float[n];
        // fp32 as torch: base (h+1)·(maxBias/n), then 1 / 2^base
        float step = (float) (maxBias / (double) n);
        for (int h = 0; h < n; h++) all[h] = (float) (1.0 / Math.pow(2, (float) ((h + 1) * step)));
        if (n == heads) return all;
        float[] s = new float[heads];
        int k = 0;
        for (int h = 1; h < n && k < heads; h += 2) s[k++] = all[h];
        for (int h = 0; h < n && k < heads; h += 2) s[k++] = all[h];
        return s;
    }
}
