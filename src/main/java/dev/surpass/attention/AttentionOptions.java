package dev.surpass.attention;

import java.util.Objects;

/**
 * Options of an attention call: softmax scale, causal mask, sliding window, logit soft-capping and
 * whether {@link Attention#forward} returns the log-sum-exp. Immutable; each "setter" returns a new
 * object, so options can be shared between threads and kept as constants:
 *
 * <pre>{@code
 * AttentionOptions o = AttentionOptions.causal().window(4096, 0).softcap(50f);
 * }</pre>
 *
 * <p>Semantics (FlashAttention's, see {@code reference/kernels-and-checkpoints.md} §4.1), for query
 * row {@code i} of a sequence with {@code Nq} queries and {@code Nk} keys, {@code off = Nk - Nq}:
 * <ul>
 *   <li>scores {@code S = scale · q·k}, default {@code scale = 1/√D};
 *   <li>softcap {@code c > 0}: {@code S' = c · tanh(S / c)} (0 turns it off);
 *   <li>causal (bottom-right aligned): key {@code j} is visible iff {@code j ≤ i + off};
 *   <li>window {@code (left, right)}: visible iff {@code i + off - left ≤ j ≤ i + off + right};
 *       {@code -1} leaves that side unbounded; with causal the right side is at most 0;
 *   <li>ALiBi slopes {@code m_h} (one per query head): {@code S'' = S' − m_h·|i + off − j|}, added
 *       after the softcap (FlashAttention's {@code alibi_slopes}; see {@link Alibi#slopes}).
 * </ul>
 * A row that sees no key gives output 0 and LSE −∞.
 */
public final class AttentionOptions {
    private static final AttentionOptions DEFAULTS = new AttentionOptions(Float.NaN, false, -1, -1, 0f, false, null);

    private final float scale; // NaN: 1/sqrt(D)
    private final boolean causal;
    private final int windowLeft;
    private final int windowRight;
    private final float softcap;
    private final boolean returnLse;
    private final float[] alibi; // one slope per query head, or null (never handed out: copied)

    private AttentionOptions(float scale, boolean causal, int windowLeft, int windowRight, float softcap, boolean returnLse,
                             float[] alibi) {
        this.scale = scale;
        this.causal = causal;
        this.windowLeft = windowLeft;
        this.windowRight = windowRight;
        this.softcap = softcap;
        this.returnLse = returnLse;
        this.alibi = alibi;
    }

    /** Full (non-causal) attention, scale 1/√D, no window, no softcap, no LSE. */
    public static AttentionOptions defaults() {
        return DEFAULTS;
    }

    /** {@link #defaults()} with the causal mask. */
    public static AttentionOptions causal() {
        return DEFAULTS.causal(true);
    }

    /**
     * The softmax scale applied to {@code q·k}.
     *
     * @throws IllegalArgumentException unless {@code scale} is finite and positive
     */
    public AttentionOptions scale(float scale) {
        if (!(scale > 0) || !Float.isFinite(scale)) {
            throw new IllegalArgumentException("attention options: scale must be finite and positive, got " + scale);
        }
        return new AttentionOptions(scale, causal, windowLeft, windowRight, softcap, returnLse, alibi);
    }

    /** Back to the default scale 1/√D. */
    public AttentionOptions defaultScale() {
        return new AttentionOptions(Float.NaN, causal, windowLeft, windowRight, softcap, returnLse, alibi);
    }

    /** Turns the bottom-right aligned causal mask on or off. */
    public AttentionOptions causal(boolean on) {
        return new AttentionOptions(scale, on, windowLeft, windowRight, softcap, returnLse, alibi);
    }

    /**
     * Sliding window: row {@code i} sees keys {@code [i+off-left, i+off+right]}; {@code -1} leaves a
     * side unbounded ({@code window(-1, -1)} is no window).
     *
     * @throws IllegalArgumentException when a side is below -1
     */
    public AttentionOptions window(int left, int right) {
        if (left < -1) throw new IllegalArgumentException("attention options: window left must be >= -1 (-1 = unbounded), got " + left);
        if (right < -1) throw new IllegalArgumentException("attention options: window right must be >= -1 (-1 = unbounded), got " + right);
        return new AttentionOptions(scale, causal, left, right, softcap, returnLse, alibi);
    }

    /**
     * Logit soft-capping {@code cap·tanh(S/cap)} (Gemma 2, Grok); 0 turns it off.
     *
     * @throws IllegalArgumentException when {@code cap} is negative or not finite
     */
    public AttentionOptions softcap(float cap) {
        if (!(cap >= 0) || !Float.isFinite(cap)) {
            throw new IllegalArgumentException("attention options: softcap must be finite and >= 0 (0 = off), got " + cap);
        }
        return new AttentionOptions(scale, causal, windowLeft, windowRight, cap, returnLse, alibi);
    }

    /** Whether {@link Attention#forward} also returns the LSE. */
    public AttentionOptions returnLse(boolean on) {
        return new AttentionOptions(scale, causal, windowLeft, windowRight, softcap, on, alibi);
    }

    /**
     * ALiBi: query head {@code h} adds {@code −slopes[h]·|i + off − j|} to its scores (after the
     * softcap). The length must equal the query head count; the entries check that, as they know
     * it. {@code null} turns it off. The array is copied.
     *
     * @throws IllegalArgumentException when a slope is not finite or the array is empty
     */
    public AttentionOptions alibi(float[] slopes) {
        float[] copy = null;
        if (slopes != null) {
            if (slopes.length == 0) throw new IllegalArgumentException("attention options: alibi slopes are empty; pass null to turn ALiBi off");
            copy = slopes.clone();
            for (int h = 0; h < copy.length; h++) {
                if (!Float.isFinite(copy[h])) {
                    throw new IllegalArgumentException("attention options: alibi slope " + h + " must be finite, got " + copy[h]);
                }
            }
        }
        return new AttentionOptions(scale, causal, windowLeft, windowRight, softcap, returnLse, copy);
    }

    /** Whether ALiBi slopes are set. */
    public boolean hasAlibi() {
        return alibi != null;
    }

    /** A copy of the ALiBi slopes, or null when off. */
    public float[] alibiSlopes() {
        return alibi == null ? null : alibi.clone();
    }

    /** Slope of query head {@code h} (0 when ALiBi is off); for the implementations, no copy. */
    float alibiSlope(int h) {
        return alibi == null ? 0f : alibi[h];
    }

    /** Number of slopes, 0 when off. */
    int alibiHeads() {
        return alibi == null ? 0 : alibi.length;
    }

    /** The scale for head dim {@code headDim}: the one set, else {@code 1/√headDim}. */
    public float scaleFor(int headDim) {
        return hasExplicitScale() ? scale : (float) (1.0 / Math.sqrt(headDim));
    }

    public boolean hasExplicitScale() {
        return !Float.isNaN(scale);
    }

    public boolean isCausal() {
        return causal;
    }

    /** Left window size, -1 when unbounded. */
    public int windowLeft() {
        return windowLeft;
    }

    /** Right window size, -1 when unbounded (the causal mask still applies). */
    public int windowRight() {
        return windowRight;
    }

    /** The soft cap, 0 when off. */
    public float softcap() {
        return softcap;
    }

    public boolean returnsLse() {
        return returnLse;
    }

    // ---- the mask as key ranges (used by the implementations; the reference uses the predicate) ----

    /** Right offset from the diagonal, or -1 (unbounded): causal clamps it to 0. */
    private long rightOffset() {
        if (causal) return windowRight < 0 ? 0 : Math.min(windowRight, 0);
        return windowRight;
    }

    /** First visible key of row {@code i} (may exceed {@link #keyHi} when the row is empty). */
    int keyLo(int i, int nq, int nk) {
        if (windowLeft < 0) return 0;
        long lo = (long) i + nk - nq - windowLeft;
        return (int) Math.max(0, Math.min(lo, nk));
    }

    /** Last visible key of row {@code i}, clamped to {@code [-1, nk-1]}. */
    int keyHi(int i, int nq, int nk) {
        long r = rightOffset();
        if (r < 0) return nk - 1;
        long hi = (long) i + nk - nq + r;
        return (int) Math.max(-1, Math.min(hi, nk - 1));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AttentionOptions a && Float.compare(a.scale, scale) == 0 && a.causal == causal
                && a.windowLeft == windowLeft && a.windowRight == windowRight
                && Float.compare(a.softcap, softcap) == 0 && a.returnLse == returnLse && java.util.Arrays.equals(a.alibi, alibi);
    }

    @Override
    public int hashCode() {
        return Objects.hash(scale, causal, windowLeft, windowRight, softcap, returnLse, java.util.Arrays.hashCode(alibi));
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("AttentionOptions[");
        sb.append(hasExplicitScale() ? "scale=" + scale : "scale=1/sqrt(D)");
        if (causal) sb.append(", causal");
        if (windowLeft >= 0 || windowRight >= 0) sb.append(", window=(").append(windowLeft).append(", ").append(windowRight).append(')');
        if (softcap > 0) sb.append(", softcap=").append(softcap);
        if (alibi != null) sb.append(", alibi[").append(alibi.length).append(']');
        if (returnLse) sb.append(", lse");
        return sb.append(']').toString();
    }
}
