package dev.surpass.attention;

/**
 * The float64 oracle for {@link Attention}: straight from the formulas, one score row at a time.
 * For query row {@code i} of head {@code h} (kv-head {@code g = h / (Hq/Hkv)}):
 * <pre>
 *   S_j   = scale · Σ_d q[i,h,d]·k[j,g,d]           (softcap c: S_j = c·tanh(S_j / c))
 *   S_j  −= slope_h · |i + Nk − Nq − j|              (ALiBi, after the softcap)
 *   m     = max over visible j of S_j               (visibility: {@link #visible})
 *   out   = Σ_j e^(S_j − m) · v[j,g,:] / Σ_j e^(S_j − m)
 *   lse   = m + ln Σ_j e^(S_j − m)                   (natural log)
 * </pre>
 * A row with no visible key gives {@code out = 0} and {@code lse = −∞}. Inputs are fp32 arrays
 * (already rounded to the dtype under test) in the layouts of the public entries.
 */
public final class ReferenceAttention {
    private ReferenceAttention() {}

    /** Output and natural-log LSE in the layouts of the matching {@link Attention} entry. */
    public record Result(double[] out, double[] lse) {}

    /**
     * Whether query {@code i} sees key {@code j} in a sequence of {@code nq} queries and {@code nk}
     * keys: the causal and window masks, bottom-right aligned.
     */
    public static boolean visible(int i, int j, int nq, int nk, AttentionOptions o) {
        long diag = (long) i + nk - nq; // the key aligned with query i
        if (o.isCausal() && j > diag) return false;
        if (o.windowLeft() >= 0 && j < diag - o.windowLeft()) return false;
        if (o.windowRight() >= 0 && j > diag + o.windowRight()) return false;
        return true;
    }

    /** Dense prefill: q [B,Nq,Hq,D], k/v [B,Nk,Hkv,D] → out [B,Nq,Hq,D], lse [B,Hq,Nq]. */
    public static Result prefill(float[] q, float[] k, float[] v, int batch, int nq, int nk, int hq, int hkv, int d,
                                 AttentionOptions o) {
        double[] out = new double[batch * nq * hq * d];
        double[] lse = new double[batch * hq * nq];
        for (int b = 0; b < batch; b++) {
            sequence(q, k, v, b * nq, nq, b * nk, nk, hq, hkv, d, o, out, lse, (long) b * hq * nq, nq);
        }
        return new Result(out, lse);
    }

    /**
     * Varlen prefill: q [totalQ,Hq,D], k/v [totalK,Hkv,D], sequence {@code s} holding rows
     * {@code [cuQ[s], cuQ[s+1])} and keys {@code [cuK[s], cuK[s+1])} → out [totalQ,Hq,D],
     * lse [Hq,totalQ].
     */
    public static Result prefillVarlen(float[] q, float[] k, float[] v, int[] cuQ, int[] cuK, int hq, int hkv, int d,
                                       AttentionOptions o) {
        int totalQ = cuQ[cuQ.length - 1];
        double[] out = new double[totalQ * hq * d];
        double[] lse = new double[hq * totalQ];
        for (int s = 0; s + 1 < cuQ.length; s++) {
            sequence(q, k, v, cuQ[s], cuQ[s + 1] - cuQ[s], cuK[s], cuK[s + 1] - cuK[s], hq, hkv, d, o, out, lse, cuQ[s], totalQ);
        }
        return new Result(out, lse);
    }

    /**
     * Decode: q [B,Hq,D], sequence {@code b}'s cached keys/values {@code kSeq[b]}, {@code vSeq[b]}
     * [len_b,Hkv,D]; the query is the last position (causal) → out [B,Hq,D], lse [B,Hq].
     */
    public static Result decode(float[] q, float[][] kSeq, float[][] vSeq, int hq, int hkv, int d, AttentionOptions o) {
        int batch = kSeq.length;
        double[] out = new double[batch * hq * d];
        double[] lse = new double[batch * hq];
        AttentionOptions causal = o.causal(true);
        for (int b = 0; b < batch; b++) {
            int len = kSeq[b].length / (hkv * d);
            float[] qb = new float[hq * d];
            System.arraycopy(q, b * hq * d, qb, 0, hq * d);
            double[] ob = new double[hq * d];
            double[] lb = new double[hq];
            sequence(qb, kSeq[b], vSeq[b], 0, 1, 0, len, hq, hkv, d, causal, ob, lb, 0, 1);
            System.arraycopy(ob, 0, out, b * hq * d, hq * d);
            System.arraycopy(lb, 0, lse, b * hq, hq);
        }
        return new Result(out, lse);
    }

    /**
     * Softmax probabilities of chosen heads and rows, computed from scratch (the oracle for
     * {@link Attention#attentionProbabilities}): [B, heads.length, rows.length, Nk], 0 where masked.
     */
    public static double[] probabilities(float[] q, float[] k, int batch, int nq, int nk, int hq, int hkv, int d,
                                         int[] heads, int[] rows, AttentionOptions o) {
        double[] p = new double[batch * heads.length * rows.length * nk];
        double[] s = new double[nk];
        for (int b = 0; b < batch; b++) {
            for (int hi = 0; hi < heads.length; hi++) {
                for (int ri = 0; ri < rows.length; ri++) {
                    int h = heads[hi], i = rows[ri];
                    int base = ((b * heads.length + hi) * rows.length + ri) * nk;
                    double m = scores(q, k, (b * nq + i) * hq + h, h, b * nk, i, nq, nk, hkv, h / (hq / hkv), d, o, s);
                    if (m == Double.NEGATIVE_INFINITY) continue;
                    double sum = 0;
                    for (int j = 0; j < nk; j++) if (visible(i, j, nq, nk, o)) sum += Math.exp(s[j] - m);
                    for (int j = 0; j < nk; j++) if (visible(i, j, nq, nk, o)) p[base + j] = Math.exp(s[j] - m) / sum;
                }
            }
        }
        return p;
    }

    /**
     * Merges two partial results over disjoint key sets (split-KV): with {@code lse = ln(e^lse1 + e^lse2)},
     * {@code o = o1·e^(lse1−lse) + o2·e^(lse2−lse)}. Returns {o..., lse}; two empty parts give 0 and −∞.
     */
    public static double[] merge(double[] o1, double lse1, double[] o2, double lse2) {
        double[] r = new double[o1.length + 1];
        double m = Math.max(lse1, lse2);
        if (m == Double.NEGATIVE_INFINITY) {
            r[o1.length] = Double.NEGATIVE_INFINITY;
            return r;
        }
        double lse = m + Math.log(Math.exp(lse1 - m) + Math.exp(lse2 - m));
        double w1 = Math.exp(lse1 - lse), w2 = Math.exp(lse2 - lse);
        for (int x = 0; x < o1.length; x++) r[x] = o1[x] * w1 + o2[x] * w2;
        r[o1.length] = lse;
        return r;
    }

    // One sequence: query rows [q0, q0+nq) and keys [k0, k0+nk) of the packed arrays; LSE of
    // (row i, head h) goes to lse[lseBase + h*lseHeadStride + i].
    private static void sequence(float[] q, float[] k, float[] v, int q0, int nq, int k0, int nk, int hq, int hkv, int d,
                                 AttentionOptions o, double[] out, double[] lse, long lseBase, int lseHeadStride) {
        int group = hq / hkv;
        double[] s = new double[nk];
        for (int i = 0; i < nq; i++) {
            for (int h = 0; h < hq; h++) {
                int g = h / group;
                int row = (q0 + i) * hq + h;
                int li = (int) (lseBase + (long) h * lseHeadStride + i);
                double m = scores(q, k, row, h, k0, i, nq, nk, hkv, g, d, o, s);
                if (m == Double.NEGATIVE_INFINITY) {
                    lse[li] = Double.NEGATIVE_INFINITY; // empty row: out stays 0
                    continue;
                }
                double sum = 0;
                double[] acc = new double[d];
                for (int j = 0; j < nk; j++) {
                    if (!visible(i, j, nq, nk, o)) continue;
                    double p = Math.exp(s[j] - m);
                    sum += p;
                    int vr = ((k0 + j) * hkv + g) * d;
                    for (int x = 0; x < d; x++) acc[x] += p * v[vr + x];
                }
                for (int x = 0; x < d; x++) out[row * d + x] = acc[x] / sum;
                lse[li] = m + Math.log(sum);
            }
        }
    }

    // Scores of query row `row` (flat row index into q / d; query head h) against keys k0.. of
    // kv-head g into s; returns the max over visible keys (−∞ when none).
    private static double scores(float[] q, float[] k, int row, int h, int k0, int i, int nq, int nk, int hkv, int g, int d,
                                 AttentionOptions o, double[] s) {
        double scale = o.scaleFor(d), cap = o.softcap(), slope = o.alibiSlope(h);
        long diag = (long) i + nk - nq;
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < nk; j++) {
            if (!visible(i, j, nq, nk, o)) continue;
            int kr = ((k0 + j) * hkv + g) * d;
            double dot = 0;
            for (int x = 0; x < d; x++) dot += (double) q[row * d + x] * k[kr + x];
            double sj = scale * dot;
            if (cap > 0) sj = cap * Math.tanh(sj / cap);
            sj -= slope * Math.abs(diag - j);
            s[j] = sj;
            m = Math.max(m, sj);
        }
        return m;
    }
}
