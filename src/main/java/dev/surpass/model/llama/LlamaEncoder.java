package dev.surpass.model.llama;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.bert.SentenceEncoder;
import java.nio.file.Path;

/**
 * A Llama-family decoder as the Transformer module of a sentence-embedding pipeline
 * (Qwen3-Embedding, e5-mistral, gte-Qwen2): {@link Llama#hiddenStates}, the final-norm output of
 * each token, causal per sentence at positions from 0. Usually pooled by the last token, which is
 * the only one that has seen the whole sentence. Owns the model; {@link #close} closes it.
 */
public final class LlamaEncoder implements SentenceEncoder {
    private final Llama model;

    /** @param model a decoder, with or without its LM head (owned from now on) */
    public LlamaEncoder(Llama model) {
        if (model == null) throw new IllegalArgumentException("model is null");
        this.model = model;
    }

    /**
     * {@code dir}'s decoder without its LM head ({@link Llama#loadBase}): a {@code Qwen3Model} /
     * {@code LlamaModel} / {@code MistralModel} checkpoint, or a causal LM's.
     */
    public static LlamaEncoder load(Device device, Path dir) {
        return new LlamaEncoder(Llama.loadBase(device, dir));
    }

    public Llama model() {
        return model;
    }

    @Override
    public Tensor forwardPacked(int[][] sequences) {
        return model.hiddenStates(sequences);
    }

    @Override
    public int hiddenSize() {
        return model.config().hidden();
    }

    @Override
    public int maxTokens() {
        return model.maxPositions();
    }

    @Override
    public String describe() {
        return model.describe();
    }

    @Override
    public void close() {
        model.close();
    }
}
