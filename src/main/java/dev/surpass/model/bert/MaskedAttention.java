package dev.surpass.model.bert;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.Scatter;
import dev.surpass.layers.Softmax;

/**
 * Unfused attention over packed rows with additive terms on the scores, for encoders the fused
 * kernel cannot serve (MPNet's relative position bias, ModernBERT's sliding-window mask, T5's
 * unscaled scores with a relative bias: {@code dev.surpass.model.t5}): per sequence, heads split by
 * a row gather, {@code softmax(q·kᵀ·scale + terms)·v} by batched matmuls, written back in place. A
 * sequence of L tokens takes {@code heads·L²} floats of scores. Public for the model packages only:
 * callers pass consistent shapes (it only asserts).
 */
public final class MaskedAttention {
    private MaskedAttention() {}

    /**
     * Per sequence s (rows {@code [cu[s], cu[s+1])} of {@code [rows, heads·D]}): the rows of its
     * heads in {@code [rows·heads, D]} (I32 {@code [heads·L]}, head-major) and the cells of its keys
     * transposed per head in {@code [rows·heads·D, 1]} (I32 {@code [heads·D·L]}), tracked by {@code scope}.
     */
    public record Layout(Tensor[] heads, Tensor[] keyCells) {
        public static Layout of(Scope scope, Device device, int[] cu, int h, int d) {
            int b = cu.length - 1, e = h * d;
            Tensor[] heads = new Tensor[b], keyCells = new Tensor[b];
            for (int seq = 0; seq < b; seq++) {
                int start = cu[seq], len = cu[seq + 1] - start;
                int[] hr = new int[h * len], kt = new int[h * d * len];
                for (int hh = 0; hh < h; hh++) {
                    for (int t = 0; t < len; t++) hr[hh * len + t] = (start + t) * h + hh;
                    for (int j = 0; j < d; j++) for (int t = 0; t < len; t++) kt[(hh * d + j) * len + t] = (start + t) * e + hh * d + j;
                }
                heads[seq] = scope.track(device.upload(hr, hr.length));
                keyCells[seq] = scope.track(device.upload(kt, kt.length));
            }
            return new Layout(heads, keyCells);
        }
    }

    /**
     * Per sequence of the packed batch ({@code cu}), its key mask {@code [L]} as an additive score
     * term: 0 for attended keys, the float32 minimum for masked ones (HF's extended mask); a null
     * entry where every key attends, and all null without a mask. The tensors belong to {@code scope}.
     */
    public static Tensor[] keyMasks(Scope scope, Device device, int[] cu, int[][] mask) {
        Tensor[] out = new Tensor[cu.length - 1];
        if (mask == null) return out;
        for (int s = 0; s < out.length; s++) {
            int len = cu[s + 1] - cu[s];
            float[] v = new float[len];
            boolean any = false;
            for (int j = 0; j < len; j++) {
                if (mask[s][j] == 0) {
                    v[j] = -Float.MAX_VALUE;
                    any = true;
                }
            }
            if (any) out[s] = scope.track(device.upload(DType.F32, v, len));
        }
        return out;
    }

    /**
     * {@code q, k, v [rows, h·d]} → {@code [rows, h·d]} F32 on their device, owned by the caller;
     * sequence s adds {@code first[s]} then {@code second[s]} (either array or entry may be null:
     * nothing), each broadcast onto its scores {@code [h, L, L]} as a suffix ({@code [L]},
     * {@code [L, L]} or {@code [h, L, L]}).
     */
    public static Tensor attend(Tensor q, Tensor k, Tensor v, int[] cu, Layout layout, int h, int d, Tensor[] first, Tensor[] second) {
        return attend(q, k, v, cu, layout, h, d, (float) (1.0 / Math.sqrt(d)), first, second);
    }

    /** {@link #attend(Tensor, Tensor, Tensor, int[], Layout, int, int, Tensor[], Tensor[])} with the scores scaled by {@code scale} (1: left as they are, T5). */
    public static Tensor attend(Tensor q, Tensor k, Tensor v, int[] cu, Layout layout, int h, int d, float scale, Tensor[] first, Tensor[] second) {
        int rows = (int) q.dim(0), e = h * d;
        Tensor out = q.device().allocate(DType.F32, rows, e);
        try (Scope s = Scope.open()) {
            Tensor qRows = s.track(q.reshape((long) rows * h, d));
            Tensor vRows = s.track(v.reshape((long) rows * h, d));
            Tensor kCells = s.track(k.reshape((long) rows * e, 1));
            Tensor outRows = s.track(out.reshape((long) rows * h, d));
            for (int seq = 0; seq + 1 < cu.length; seq++) {
                int len = cu[seq + 1] - cu[seq];
                try (Scope b = Scope.open()) {
                    Tensor headIds = layout.heads()[seq];
                    Tensor qh = b.track(b.track(Gather.rows(qRows, headIds)).reshape(h, len, d));
                    Tensor vh = b.track(b.track(Gather.rows(vRows, headIds)).reshape(h, len, d));
                    Tensor kT = b.track(b.track(Gather.rows(kCells, layout.keyCells()[seq])).reshape(h, d, len));
                    Tensor scores = b.track(Gemm.matmul(qh, kT));
                    if (scale != 1f) scores = b.track(Elementwise.scale(scores, scale));
                    if (first != null && first[seq] != null) scores = b.track(Elementwise.add(scores, first[seq]));
                    if (second != null && second[seq] != null) scores = b.track(Elementwise.add(scores, second[seq]));
                    Tensor ctx = b.track(Gemm.matmul(b.track(Softmax.softmax(scores)), vh));
                    Scatter.rows(b.track(ctx.reshape((long) h * len, d)), headIds, outRows);
                }
            }
            return out;
        } catch (RuntimeException | Error ex) {
            out.close();
            throw ex;
        }
    }
}
