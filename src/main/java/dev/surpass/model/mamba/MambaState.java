package dev.surpass.model.mamba;

import dev.surpass.DType;
import dev.surpass.Tensor;

/**
 * The decode state of {@code batch} sequences of one {@link MambaLM}: per layer a conv state
 * {@code [B, d_inner, d_conv − 1]} and an SSM state {@code [B, d_inner, d_state]}, both F32 on the
 * model's device. Its size does not grow with the sequence (no KV cache).
 *
 * <p>{@link #prefill} runs the parallel scan over a chunk of tokens starting from the current
 * state (zeros when fresh), so a prompt may be fed in several chunks; {@link #step} advances every
 * sequence by one token.
 *
 * <p>Thread rules: one thread at a time; close it before its model.
 */
public final class MambaState implements AutoCloseable {
    private final MambaLM model;
    private final int batch;
    private final Tensor[] conv; // per layer [B, d_inner, d_conv - 1] F32
    private final Tensor[] ssm;  // per layer [B, d_inner, d_state] F32
    private long position;
    private boolean closed;

    MambaState(MambaLM model, int batch) {
        if (batch < 1) throw new IllegalArgumentException("MambaState: batch is " + batch + "; expected >= 1");
        this.model = model;
        this.batch = batch;
        MambaConfig c = model.config();
        conv = new Tensor[c.nLayer()];
        ssm = new Tensor[c.nLayer()];
        try {
            for (int i = 0; i < c.nLayer(); i++) {
                conv[i] = model.device().zeros(DType.F32, batch, c.dInner(), c.dConv() - 1);
                ssm[i] = model.device().zeros(DType.F32, batch, c.dInner(), c.dState());
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    public int batch() {
        return batch;
    }

    /** Tokens consumed so far per sequence. */
    public long position() {
        return position;
    }

    /** Layer {@code i}'s conv state {@code [B, d_inner, d_conv − 1]} (owned by this state). */
    public Tensor conv(int i) {
        ensureOpen();
        return conv[i];
    }

    /** Layer {@code i}'s SSM state {@code [B, d_inner, d_state]} (owned by this state). */
    public Tensor ssm(int i) {
        ensureOpen();
        return ssm[i];
    }

    /**
     * Feeds {@code ids[B][L]} (equal lengths) through the model with the parallel scan, continuing
     * from this state, and returns logits {@code [B, L, logitsWidth]} F32 (caller closes).
     */
    public Tensor prefill(int[][] ids) {
        ensureOpen();
        if (ids == null || ids.length != batch) {
            throw new IllegalArgumentException("prefill: expected " + batch + " sequences, got " + (ids == null ? "null" : ids.length));
        }
        int len = ids[0] == null ? 0 : ids[0].length;
        if (len == 0) throw new IllegalArgumentException("prefill: inputIds[0] is null or empty");
        int[] flat = new int[batch * len];
        for (int b = 0; b < batch; b++) {
            if (ids[b] == null || ids[b].length != len) {
                throw new IllegalArgumentException("prefill: inputIds[" + b + "] has length " + (ids[b] == null ? "null" : ids[b].length)
                        + " but inputIds[0] has " + len + "; sequences must have equal lengths");
            }
            model.checkIds("prefill", ids[b], "inputIds[" + b + "]");
            System.arraycopy(ids[b], 0, flat, b * len, len);
        }
        Tensor logits = model.blocks(model.embed(flat), (i, l, normed) -> model.mixerPrefill(i, l, normed, batch, len, this));
        position += len;
        try (logits) {
            return logits.reshape(batch, len, model.logitsWidth());
        }
    }

    /** Advances each sequence by {@code tokens[b]} and returns logits {@code [B, logitsWidth]} F32 (caller closes). */
    public Tensor step(int[] tokens) {
        ensureOpen();
        if (tokens == null || tokens.length != batch) {
            throw new IllegalArgumentException("step: expected " + batch + " tokens, got " + (tokens == null ? "null" : tokens.length));
        }
        model.checkIds("step", tokens, "tokens");
        Tensor logits = model.blocks(model.embed(tokens), (i, l, normed) -> model.mixerStep(i, l, normed, this));
        position++;
        return logits;
    }

    /**
     * Copies sequence {@code from} of {@code src} (conv and SSM states of every layer) into
     * sequence {@code to} of this state: how prompts of different lengths, prefilled one by one,
     * join one batch for decoding.
     */
    void copySequence(MambaState src, int from, int to) {
        ensureOpen();
        src.ensureOpen();
        for (int i = 0; i < conv.length; i++) {
            copyRow(src.conv[i], from, conv[i], to);
            copyRow(src.ssm[i], from, ssm[i], to);
        }
    }

    /** Copies row {@code from} of {@code [B1, ...]} into row {@code to} of {@code [B2, ...]} (same row size). */
    private static void copyRow(Tensor src, int from, Tensor dst, int to) {
        long rowBytes = src.byteSize() / src.dim(0);
        dst.device().backend().copy(src.storage(), src.byteOffset() + from * rowBytes, dst.storage(), dst.byteOffset() + to * rowBytes,
                rowBytes);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("MambaState is closed");
        model.ensureOpen();
    }

    /** Frees the states; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : conv) if (t != null) t.close();
        for (Tensor t : ssm) if (t != null) t.close();
    }
}
