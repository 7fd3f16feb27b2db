/**
 * StarCoder2 decoders (HF {@code Starcoder2ForCausalLM}): biased LayerNorms, q/k/v/o with
 * {@code use_bias}, grouped-query attention with rotate-half RoPE and an optional sliding window, a
 * GELU MLP ({@code c_fc} → {@code c_proj}); {@link dev.surpass.model.starcoder2.Starcoder2Config},
 * {@link dev.surpass.model.starcoder2.Starcoder2} and the {@code surpass forward} / {@code generate}
 * family {@link dev.surpass.model.starcoder2.Starcoder2Family}.
 */
package dev.surpass.model.starcoder2;
