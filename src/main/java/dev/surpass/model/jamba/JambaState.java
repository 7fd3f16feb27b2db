package dev.surpass.model.jamba;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.attention.PagedKvCache;

/**
 * The decode state of {@code batch} sequences of one {@link JambaLM} (HF's
 * {@code HybridMambaAttentionDynamicCache}): per Mamba layer a conv state
 * {@code [B, d_inner, d_conv − 1]} and an SSM state {@code [B, d_inner, d_state]} (F32, constant
 * size); per attention layer a {@link PagedKvCache} holding one sequence per batch row, with room
 * for {@code capacity} tokens each.
 *
 * <p>Thread rules: one thread at a time; close it before its model.
 */
public final class JambaState implements AutoCloseable {
    private static final int PAGE = 16;
    private final Tensor[] conv, ssm;       // Mamba layers; null at attention layers
    private final PagedKvCache[] caches;    // attention layers; null at Mamba layers
    private final int[][] seqIds;           // per attention layer, the cache's id of each batch row
    private final int batch;
    private boolean closed;

    JambaState(JambaLM model, int batch, int capacity) {
        if (batch < 1) throw new IllegalArgumentException("JambaState: batch is " + batch + "; expected >= 1");
        if (capacity < 1) throw new IllegalArgumentException("JambaState: capacity is " + capacity + "; expected >= 1");
        JambaConfig c = model.config();
        this.batch = batch;
        int nl = c.nLayer();
        conv = new Tensor[nl];
        ssm = new Tensor[nl];
        caches = new PagedKvCache[nl];
        seqIds = new int[nl][];
        try {
            int pages = Math.multiplyExact(batch, (capacity + PAGE - 1) / PAGE);
            for (int i = 0; i < nl; i++) {
                if (c.isAttention(i)) {
                    caches[i] = PagedKvCache.create(model.device(), DType.F32, pages, PAGE, c.nKvHeads(), c.headDim());
                    seqIds[i] = new int[batch];
                    for (int b = 0; b < batch; b++) seqIds[i][b] = caches[i].newSequence();
                } else {
                    conv[i] = model.device().zeros(DType.F32, batch, c.dInner(), c.dConv() - 1);
                    ssm[i] = model.device().zeros(DType.F32, batch, c.dInner(), c.dState());
                }
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    public int batch() {
        return batch;
    }

    /** Mamba layer {@code i}'s conv state {@code [B, d_inner, d_conv − 1]} (owned by this state). */
    Tensor conv(int i) {
        ensureOpen();
        return conv[i];
    }

    /** Mamba layer {@code i}'s SSM state {@code [B, d_inner, d_state]} (owned by this state). */
    Tensor ssm(int i) {
        ensureOpen();
        return ssm[i];
    }

    /** Attention layer {@code i}'s KV cache. */
    PagedKvCache cache(int i) {
        ensureOpen();
        return caches[i];
    }

    /** Attention layer {@code i}'s sequence id of batch row {@code b}. */
    int seqId(int i, int b) {
        return seqIds[i][b];
    }

    /** Attention layer {@code i}'s sequence ids of all rows, in batch order. */
    int[] seqIds(int i) {
        return seqIds[i];
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("JambaState is closed");
    }

    /** Frees the states and caches; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : conv) if (t != null) t.close();
        for (Tensor t : ssm) if (t != null) t.close();
        for (PagedKvCache k : caches) if (k != null) k.close();
    }
}
