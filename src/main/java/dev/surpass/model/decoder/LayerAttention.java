package dev.surpass.model.decoder;

import dev.surpass.Tensor;

/**
 * The attention of one layer, chosen by the caller of {@link DecoderModel#logits}: causal varlen
 * prefill for a whole prompt (optionally writing K/V into a cache), or one decode step against a
 * {@link dev.surpass.attention.PagedKvCache}. Pass the model's {@link DecoderModel#attentionOptions}
 * for the layer: it carries the layer's sliding window (Mistral, Qwen2).
 */
@FunctionalInterface
public interface LayerAttention {
    /**
     * {@code q [T, Hq, D]}, {@code k, v [T, Hkv, D]} (RoPE already applied, F32, owned by the
     * caller) → {@code out [T, Hq, D]}, a new tensor the model closes.
     */
    Tensor attend(int layer, Tensor q, Tensor k, Tensor v);
}
