package dev.surpass.model.decoder;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Gemm;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * What a loaded decoder model (GPT-2, Llama) has apart from its blocks: the device, the sizes
 * {@link DecoderModel} reports, the tensors it uploaded on load ({@link Weights}: one owner, freed
 * by the model's one {@link #close}), the checks every {@link #logits} call makes first and the
 * final norm and head. A subclass loads through {@link #build}, which frees what was uploaded when
 * loading fails.
 */
public abstract class LoadedDecoder implements DecoderModel {
    /** The sizes {@link DecoderModel} reports, taken from the family's config. */
    public record Sizes(int vocabSize, int numLayers, int numHeads, int numKvHeads, int headDim, int maxPositions) {}

    /**
     * The tensors a model uploaded: tracked while loading, freed together on a failed load or by the
     * model's close(). A tensor used twice (a tied head) is tracked once.
     */
    protected static final class Weights {
        private final List<Tensor> owned = new ArrayList<>();

        private Weights() {}

        /** Takes ownership of {@code t}; returns it. */
        public Tensor track(Tensor t) {
            owned.add(t);
            return t;
        }

        private void close() {
            for (Tensor t : owned) t.close();
            owned.clear();
        }
    }

    /**
     * The LM head as HF's {@code tie_weights} gives it: {@code embed} when the config ties the embeddings (a saved
     * {@code lm_head.weight} is that copy), else the file's {@code lm_head.weight [vocab, hidden]}, uploaded and tracked.
     *
     * @throws IllegalArgumentException naming the folder when the head is untied and the file has none
     */
    protected static Tensor tiedOrOwnHead(Path dir, Checkpoint ck, Weights w, Device device, boolean tie, Tensor embed, int vocab, int hidden) {
        if (tie) return embed;
        if (ck.has("lm_head.weight")) return w.track(ck.upload(device, "lm_head.weight", vocab, hidden));
        throw new IllegalArgumentException(dir + ": tensor 'lm_head.weight' is missing and config.json says tie_word_embeddings = false");
    }

    /** Builds a model from an open checkpoint, tracking each uploaded tensor in the given {@link Weights}. */
    @FunctionalInterface
    protected interface Builder<M> {
        M build(Checkpoint ck, Weights weights);
    }

    /**
     * Opens {@code dir}'s checkpoint and runs {@code builder} with it and a fresh {@link Weights},
     * which the model it returns takes over; when it throws, what it uploaded is freed.
     */
    protected static <M extends LoadedDecoder> M build(Path dir, Builder<M> builder) {
        Weights weights = new Weights();
        try (Checkpoint ck = Checkpoint.open(dir)) {
            M m = builder.build(ck, weights);
            return m.device().ready(m); // the uploads are queued on this thread: finish them before other threads use the model
        } catch (RuntimeException | Error e) {
            weights.close();
            throw e;
        }
    }

    private final String family;
    private final Device device;
    private final Sizes sizes;
    private final Weights weights;
    private boolean closed;

    /** {@code family} ("gpt2", "llama") prefixes the messages of {@link #checkCall}. */
    protected LoadedDecoder(String family, Device device, Sizes sizes, Weights weights) {
        this.family = family;
        this.device = device;
        this.sizes = sizes;
        this.weights = weights;
    }

    @Override
    public final Device device() {
        return device;
    }

    @Override
    public final int vocabSize() {
        return sizes.vocabSize();
    }

    @Override
    public final int numLayers() {
        return sizes.numLayers();
    }

    @Override
    public final int numHeads() {
        return sizes.numHeads();
    }

    @Override
    public final int numKvHeads() {
        return sizes.numKvHeads();
    }

    @Override
    public final int headDim() {
        return sizes.headDim();
    }

    @Override
    public final int maxPositions() {
        return sizes.maxPositions();
    }

    /**
     * What {@link #logits} checks before it runs: the model is open, the tokens are valid
     * ({@link Decoding#checkTokens}) and {@code attention} is present. Returns the token count.
     */
    protected final int checkCall(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        if (closed) throw new IllegalStateException(family + " is closed");
        int n = Decoding.checkTokens(family, ids, positions, logitRows, sizes.vocabSize(), sizes.maxPositions());
        if (attention == null) throw new IllegalArgumentException(family + ": attention is null");
        return n;
    }

    /** Logits {@code [rows, vocab]} of the rows {@code logitRows} of {@code x} (all when null): {@code finalNorm} then {@code head}. */
    protected static Tensor finalLogits(Tensor x, int[] logitRows, UnaryOperator<Tensor> finalNorm, Tensor head) {
        return finalLogits(x, logitRows, finalNorm, head, null);
    }

    /** The same with a head bias {@code [vocab]} (Phi's lm_head), or none when null. */
    protected static Tensor finalLogits(Tensor x, int[] logitRows, UnaryOperator<Tensor> finalNorm, Tensor head, Tensor headBias) {
        try (Tensor sel = logitRows == null ? null : Rows.gather(x, logitRows); Tensor hn = finalNorm.apply(sel == null ? x : sel)) {
            return Gemm.linear(hn, head, headBias);
        }
    }

    /** Frees the weights; idempotent. */
    @Override
    public final void close() {
        if (closed) return;
        closed = true;
        weights.close();
    }
}
