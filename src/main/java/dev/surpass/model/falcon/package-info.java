/**
 * Falcon decoders (HF {@code FalconForCausalLM}): falcon-7b's multi-query parallel block with one
 * input_layernorm, the new decoder architecture (falcon-40b / 180b: K/V groups, ln_attn + ln_mlp),
 * and the sequential variant; rotary positions only (ALiBi configs are refused);
 * {@link dev.surpass.model.falcon.FalconConfig}, {@link dev.surpass.model.falcon.Falcon} and the
 * {@code surpass forward} / {@code generate} family {@link dev.surpass.model.falcon.FalconFamily}.
 */
package dev.surpass.model.falcon;
