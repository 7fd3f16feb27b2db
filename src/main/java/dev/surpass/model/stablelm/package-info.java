/**
 * StableLM decoders (HF {@code StableLmForCausalLM}: stablelm-3b-4e1t, stablelm-2): biased LayerNorms,
 * partial rotary, optional q/k/v biases, optional per-head q/k LayerNorms, a sequential or parallel
 * residual and a SwiGLU MLP; {@link dev.surpass.model.stablelm.StableLmConfig},
 * {@link dev.surpass.model.stablelm.StableLm} and the {@code surpass forward} / {@code generate} family
 * {@link dev.surpass.model.stablelm.StableLmFamily}.
 */
package dev.surpass.model.stablelm;
