package dev.surpass.model.mamba;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.cuda.CudaException;
import dev.surpass.cuda.CudaGraph;
import dev.surpass.layers.Argmax;
import dev.surpass.layers.Gather;
import java.lang.foreign.MemorySegment;

/**
 * The decode state of {@code batch} sequences of one {@link MambaLM}: per layer a conv state
 * {@code [B, d_inner, d_conv − 1]} (Mamba-2: three, for the x, B and C channels of its conv) and an
 * SSM state {@code [B, d_inner, d_state]} (Mamba-2: {@code [B, H·P, N]}, HF's and mamba_ssm's
 * {@code (b, h, p, n)} flattened), all F32 on the model's device. Its size does not grow with the
 * sequence (no KV cache).
 *
 * <p>{@link #prefill} runs the parallel scan over a chunk of tokens starting from the current
 * state (zeros when fresh), so a prompt may be fed in several chunks; {@link #step} advances every
 * sequence by one token.
 *
 * <p>Decoding on CUDA: the step reads the token ids from a device buffer (one small host copy per
 * step) and writes the logits and each row's argmax to device buffers, so the whole step — every
 * layer's norm, projections, conv and state update, and the head — is recorded once as a
 * {@link CudaGraph} (at the second step; the first runs eagerly and loads every kernel) and
 * replayed with one launch per token. {@code -Dsurpass.cuda.graphs=false} turns this off; a
 * capture the driver refuses falls back to eager steps with a warning.
 *
 * <p>Thread rules: one thread at a time; close it before its model.
 */
public final class MambaState implements AutoCloseable {
    private final MambaLM model;
    private final int batch;
    private final Tensor[][] conv; // per layer, per conv part: [B, channels, d_conv - 1] F32 (Mamba-1: x; Mamba-2: x, B, C)
    private final Tensor[] ssm;  // per layer [B, d_inner, d_state] F32
    private final Tensor headOfChannel; // Mamba-2: I32 [B·d_inner], (b, d) → row b·H + d/P of the step's [B·H, 1] Δ; else null
    private long position;
    private boolean closed;

    /** Whether steps on CUDA are captured and replayed as a graph (a system property, default on). */
    static final boolean GRAPHS = !"false".equalsIgnoreCase(System.getProperty("surpass.cuda.graphs"));
    private static final System.Logger LOG = System.getLogger("dev.surpass.model.mamba");
    // Device-side step buffers (CUDA only, made at the first step): ids [B] I32 in, logits [B, w]
    // F32 and greedy ids [B] I32 out. The captured graph reads and writes exactly these.
    private Tensor stepIds, stepLogits, stepArgmax;
    private CudaGraph graph;
    private boolean graphFailed;
    private long stepCount; // device steps so far: the first runs eagerly, the second is captured

    MambaState(MambaLM model, int batch) {
        if (batch < 1) throw new IllegalArgumentException("MambaState: batch is " + batch + "; expected >= 1");
        this.model = model;
        this.batch = batch;
        MambaConfig c = model.config();
        conv = new Tensor[c.nLayer()][];
        ssm = new Tensor[c.nLayer()];
        int[] parts = c.isMamba2() ? new int[] {c.dInner(), c.mamba2().nGroups() * c.dState(), c.mamba2().nGroups() * c.dState()}
                : new int[] {c.dInner()};
        Tensor hoc = null;
        try {
            for (int i = 0; i < c.nLayer(); i++) {
                conv[i] = new Tensor[parts.length];
                for (int k = 0; k < parts.length; k++) conv[i][k] = model.device().zeros(DType.F32, batch, parts[k], c.dConv() - 1);
                ssm[i] = model.device().zeros(DType.F32, batch, c.dInner(), c.dState());
            }
            if (c.isMamba2()) {
                int di = c.dInner(), h = c.mamba2().nHeads(), p = c.mamba2().headDim();
                int[] ids = new int[Math.multiplyExact(batch, di)];
                for (int b = 0; b < batch; b++) for (int d = 0; d < di; d++) ids[b * di + d] = b * h + d / p;
                hoc = model.device().upload(ids, ids.length);
            }
        } catch (RuntimeException | Error e) {
            this.headOfChannel = null;
            close();
            throw e;
        }
        this.headOfChannel = hoc;
    }

    public int batch() {
        return batch;
    }

    /** Tokens consumed so far per sequence. */
    public long position() {
        return position;
    }

    /**
     * Layer {@code i}'s conv state {@code [B, d_inner, d_conv − 1]} (owned by this state); for
     * Mamba-2 that of the x channels ({@link #conv(int, int)} has B's and C's).
     */
    public Tensor conv(int i) {
        return conv(i, 0);
    }

    /**
     * Part {@code part} of layer {@code i}'s conv state (owned by this state): Mamba-1 has one
     * ({@code [B, d_inner, d_conv − 1]}); Mamba-2 three, its conv's x, B and C channels
     * ({@code [B, d_inner | G·N | G·N, d_conv − 1]}), the rows of HF's conv state in that order.
     */
    public Tensor conv(int i, int part) {
        ensureOpen();
        if (i < 0 || i >= conv.length || part < 0 || part >= conv[i].length) {
            throw new IllegalArgumentException("conv: layer " + i + " part " + part + " is outside [0, " + conv.length + ") × [0, "
                    + (conv.length == 0 ? 0 : conv[0].length) + ")");
        }
        return conv[i][part];
    }

    /** Mamba-2: I32 {@code [B·d_inner]} mapping each (sequence, channel) to its row of a step's {@code [B·H, 1]} Δ. */
    Tensor headOfChannel() {
        return headOfChannel;
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
        if (len > prefillChunk) return prefillInChunks(flat, len);
        Tensor logits = model.blocks(model.embed(flat), (i, l, normed) -> model.mixerPrefill(i, l, normed, batch, len, this));
        position += len;
        try (logits) {
            return logits.reshape(batch, len, model.logitsWidth());
        }
    }

    /**
     * Longest piece of a prompt prefilled in one pass; longer ones go in pieces, the state carrying
     * across (the same logits up to summation order). It bounds a pass's temporaries: on CUDA the
     * prefill's layout changes are products with an L×L identity (L² floats: 64 MiB at 4096).
     */
    static int prefillChunk = 2048;

    private Tensor prefillInChunks(int[] flat, int len) {
        int w = model.logitsWidth();
        Tensor out = model.device().allocate(DType.F32, batch, len, w);
        try {
            for (int start = 0; start < len; start += prefillChunk) {
                int c = Math.min(prefillChunk, len - start);
                int[] piece = new int[batch * c];
                for (int b = 0; b < batch; b++) System.arraycopy(flat, b * len + start, piece, b * c, c);
                final int cLen = c;
                try (Tensor lg = model.blocks(model.embed(piece), (i, l, normed) -> model.mixerPrefill(i, l, normed, batch, cLen, this))) {
                    for (int b = 0; b < batch; b++) {
                        try (Tensor rows = MambaLM.slice(lg, (long) b * c * w, (long) c * w)) {
                            MambaLM.copyInto(rows, out, ((long) b * len + start) * w);
                        }
                    }
                }
                position += c;
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** Advances each sequence by {@code tokens[b]} and returns logits {@code [B, logitsWidth]} F32 (caller closes). */
    public Tensor step(int[] tokens) {
        checkTokens(tokens);
        if (!model.device().isCuda()) {
            Tensor logits = model.blocks(model.embed(tokens), (i, l, normed) -> model.mixerStep(i, l, normed, this));
            position++;
            return logits;
        }
        deviceStep(tokens);
        Tensor out = model.device().allocate(DType.F32, batch, model.logitsWidth());
        MambaLM.copyInto(stepLogits, out, 0);
        return out;
    }

    /**
     * Advances each sequence by {@code tokens[b]} and returns each one's greedy next token (the
     * first maximum of its logits over the vocabulary, {@link Argmax}) without copying the logits
     * to the host.
     */
    public int[] stepGreedy(int[] tokens) {
        checkTokens(tokens);
        if (!model.device().isCuda()) {
            try (Tensor lg = step(tokens); Tensor am = Argmax.rows(lg, model.config().vocabSize())) {
                return am.toIntArray();
            }
        }
        deviceStep(tokens);
        return stepArgmax.toIntArray();
    }

    private void checkTokens(int[] tokens) {
        ensureOpen();
        if (tokens == null || tokens.length != batch) {
            throw new IllegalArgumentException("step: expected " + batch + " tokens, got " + (tokens == null ? "null" : tokens.length));
        }
        model.checkIds("step", tokens, "tokens");
    }

    /** One CUDA step into the step buffers: eager the first time, then through the captured graph. */
    private void deviceStep(int[] tokens) {
        if (stepIds == null) {
            stepIds = model.device().allocate(DType.I32, batch);
            stepLogits = model.device().allocate(DType.F32, batch, model.logitsWidth());
            stepArgmax = model.device().allocate(DType.I32, batch);
        }
        stepIds.copyFrom(MemorySegment.ofArray(tokens));
        if (graph == null && GRAPHS && !graphFailed && stepCount > 0 && CudaGraph.supported(model.device())) {
            try {
                graph = CudaGraph.capture(model.device(), this::stepBody);
            } catch (CudaException e) {
                graphFailed = true;
                LOG.log(System.Logger.Level.WARNING, "surpass: capturing the Mamba decode step as a CUDA graph failed; stepping eagerly", e);
            }
        }
        if (graph != null) graph.launch();
        else stepBody();
        stepCount++;
        position++;
    }

    /** The decode step over the step buffers: what the graph records. */
    private void stepBody() {
        try (Tensor logits = model.blocks(Gather.rows(model.embedding(), stepIds), (i, l, normed) -> model.mixerStep(i, l, normed, this));
             Tensor am = Argmax.rows(logits, model.config().vocabSize())) {
            MambaLM.copyInto(logits, stepLogits, 0);
            MambaLM.copyInto(am, stepArgmax, 0);
        }
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
            for (int k = 0; k < conv[i].length; k++) copyRow(src.conv[i][k], from, conv[i][k], to);
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
        if (graph != null) graph.close();
        for (Tensor t : new Tensor[] {stepIds, stepLogits, stepArgmax}) if (t != null) t.close();
        for (Tensor[] parts : conv) if (parts != null) for (Tensor t : parts) if (t != null) t.close();
        for (Tensor t : ssm) if (t != null) t.close();
        if (headOfChannel != null) headOfChannel.close();
    }
}
