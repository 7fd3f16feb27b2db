/**
 * What the decoder-only Transformers (GPT-2, Llama) share: the {@link dev.surpass.model.decoder.DecoderModel}
 * contract (ids at positions → logits, attention supplied per call), the loaded model's common part
 * ({@link dev.surpass.model.decoder.LoadedDecoder}: sizes, the uploaded weights and their one close()),
 * the CLI family ({@link dev.surpass.model.decoder.DecoderFamily}), checkpoint and config reading,
 * the whole-batch forward and generate entries ({@link dev.surpass.model.decoder.Decoding}) and
 * continuous batching over a paged KV cache ({@link dev.surpass.model.decoder.DecoderSession}).
 */
package dev.surpass.model.decoder;
