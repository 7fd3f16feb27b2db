/**
 * MPT decoders (HF {@code MptForCausalLM}: MosaicML's MPT-7B / 30B): ALiBi attention with
 * {@code alibi_bias_max}, no biases, LayerNorm without bias; {@link dev.surpass.model.mpt.MptConfig},
 * {@link dev.surpass.model.mpt.Mpt} and the {@code surpass forward} / {@code generate} family
 * {@link dev.surpass.model.mpt.MptFamily}.
 */
package dev.surpass.model.mpt;
