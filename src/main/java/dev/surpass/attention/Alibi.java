package dev.surpass.attention;

/**
 * The standard ALiBi slopes (Press et al.; BLOOM's {@code build_alibi_tensor}, MPT with
 * {@code alibi_bias_max = 8}): for {@code n}, the largest power of two not above {@code heads},
 * head {@code h < n} gets {@code b^(h+1)} with {@code b = 2^(−8/n)}; the remaining
 * {@code heads − n} heads get the odd powers {@code b'^1, b'^3, ...} of {@code b' = 2^(−8/(2n))}
 * (the slopes of 2n heads that a power-of-two model would have between those of n). As HF, the
 * bases are fp32 and each power is rounded to fp32.
 */
public final class Alibi {
    private Alibi() {}

    /**
     * The slopes of {@code heads} query heads, for {@link AttentionOptions#alibi}.
     *
     * @throws IllegalArgumentException unless {@code heads ≥ 1}
     */
    public static float[] slopes(int heads) {
        return slopes(heads, 8f);
    }

    /**
     * As {@link #slopes(int)} with {@code 2^(−maxBias/n)} in place of {@code 2^(−8/n)} (MPT's
     * {@code alibi_bias_max}; 8 gives BLOOM's).
     *
     * @throws IllegalArgumentException unless {@code heads ≥ 1} and {@code maxBias} is finite and positive
     */
    public static float[] slopes(int heads, float maxBias) {
        if (heads < 1) throw new IllegalArgumentException("alibi: heads must be >= 1, got " + heads);
        if (!(maxBias > 0) || !Float.isFinite(maxBias)) {
            throw new IllegalArgumentException("alibi: maxBias must be finite and positive, got " + maxBias);
        }
        int n = Integer.highestOneBit(heads);
        float[] s = new float[heads];
        float base = (float) Math.pow(2, -(double) maxBias / n);
        for (int h = 0; h < n; h++) s[h] = (float) Math.pow(base, h + 1);
        if (n != heads) {
            float extra = (float) Math.pow(2, -(double) maxBias / (2 * n));
            for (int h = n, p = 1; h < heads; h++, p += 2) s[h] = (float) Math.pow(extra, p);
        }
        return s;
    }
}
