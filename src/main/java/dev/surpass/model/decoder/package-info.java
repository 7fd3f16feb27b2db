/**
 * What the decoder-only Transformers (GPT-2, Llama) share: the {@link dev.surpass.model.decoder.DecoderModel}
 * contract (ids at positions → logits, attention supplied per call), checkpoint and config reading,
 * the whole-batch forward and generate entries ({@link dev.surpass.model.decoder.Decoding}) and
 * continuous batching over a paged KV cache ({@link dev.surpass.model.decoder.DecoderSession}).
 */
package dev.surpass.model.decoder;
