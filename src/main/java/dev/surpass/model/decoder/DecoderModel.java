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

    @Override
    void close();
}
