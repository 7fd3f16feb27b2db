package dev.surpass.model.bert;

import dev.surpass.Tensor;

/**
 * The Transformer module of a sentence-embedding pipeline ({@link SentenceEmbeddings}): token ids
 * in, the last hidden state of each real token out, sequences packed back to back. A BERT-family
 * encoder ({@link BertModel}) attends both ways over its sentence; a decoder LLM used as an embedder
 * (Qwen3-Embedding, e5-mistral: {@link dev.surpass.model.llama.LlamaEncoder}) attends causally.
 * The encoder owns its weights; {@link #close} frees them.
 */
public interface SentenceEncoder extends AutoCloseable {
    /**
     * The last hidden state {@code [Σ len_s, hiddenSize()]} F32 of the given sequences, packed in
     * order, owned by the caller; each sequence on its own (no padding, nothing shared between
     * sequences).
     *
     * @param sequences {@code [B][len_s]} token ids, {@code 1 <= len_s <= maxTokens()}
     * @throws IllegalArgumentException naming the sequence and token of a bad id or length
     */
    Tensor forwardPacked(int[][] sequences);

    /** Width of a hidden state row. */
    int hiddenSize();

    /** The most tokens one sequence may have (the position table's reach). */
    int maxTokens();

    /** One line about the encoder for logs, e.g. its layers and width. */
    String describe();

    /** Frees the weights; idempotent. */
    @Override
    void close();
}
