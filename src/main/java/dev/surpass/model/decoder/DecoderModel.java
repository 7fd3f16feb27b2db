package dev.surpass.model.decoder;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.attention.AttentionOptions;

/**
 * A decoder-only Transformer language model (GPT-2, Llama) as the generation loop sees it: token
 * ids at positions in, logits out, with the attention of each layer supplied by the caller so the
 * same weights serve prefill (varlen fused attention) and decode (paged KV cache). Weights are F32
 * on {@link #device()}; the model owns them and {@link #close} frees them.
 */
public interface DecoderModel extends AutoCloseable {
    Device device();

    /** Ids the model takes, {@code [0, vocabSize)}; also the width of the logits. */
    int vocabSize();

    int numLayers();

    int numHeads();

    int numKvHeads();

    int headDim();

    /** The longest sequence (prompt plus generated tokens): positions are {@code [0, maxPositions)}. */
    int maxPositions();

    /**
     * HF's {@code sliding_window} of {@code layer}: a query attends to the last {@code W} keys (itself
     * included), or to all earlier keys when this is -1 (the default).
     */
    default int slidingWindow(int layer) {
        return -1;
    }

    /**
     * The options a {@link LayerAttention} passes for {@code layer}: causal, with the layer's
     * {@link #slidingWindow} as a left window of {@code W − 1} keys (prefill and decode alike).
     */
    default AttentionOptions attentionOptions(int layer) {
        int w = slidingWindow(layer);
        return w > 0 ? AttentionOptions.causal().window(w - 1, 0) : AttentionOptions.causal();
    }

    /** One line about the model, e.g. "gpt2: 12 layers, n_embd 768, 12 heads, vocab 50257". */
    String describe();

    /**
     * Runs the blocks over packed tokens {@code ids[t]} at {@code positions[t]} and returns logits
     * {@code [logitRows.length, vocabSize]} F32 of the rows {@code logitRows} (all rows when null).
     *
     * @throws IllegalArgumentException for an id outside the vocabulary or a position outside
     *     {@code [0, maxPositions)}, naming it
     */
    Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention);

    /**
     * As {@link #logits(int[], int[], int[], LayerAttention)}, where token {@code t}'s sequence
     * reaches {@code reach[t]} tokens in this pass (1 + the largest position of that sequence
     * here, HF's {@code max(position_ids) + 1} of a forward over that sequence alone): the length
     * RoPE scalings that depend on it (LongRoPE, dynamic NTK) choose their frequencies by, so that
     * sequences packed together do not change each other's. Without it (or for models whose RoPE
     * ignores the length, the default) the whole call counts as one sequence.
     *
     * @throws IllegalArgumentException also when {@code reach} does not have one entry per token,
     *     each above the token's position
     */
    default Tensor logits(int[] ids, int[] positions, int[] reach, int[] logitRows, LayerAttention attention) {
        Decoding.checkReach(positions, reach);
        return logits(ids, positions, logitRows, attention);
    }

    /**
     * The sequence length at which a generating sequence's cached K/V must be computed again from
     * its tokens, because the RoPE of longer passes differs (HF's {@code Phi3ForCausalLM} drops its
     * cache once, on the step the sequence first passes LongRoPE's original context); 0 for never.
     */
    default int recomputeCacheAt() {
        return 0;
    }

    @Override
    void close();
}
