/**
 * Phi decoders (HF {@code PhiForCausalLM}: Microsoft's Phi-1, Phi-1.5 and Phi-2): biased LayerNorm,
 * q/k/v/dense projections with biases, partial rotary, attention and MLP in parallel from one normed
 * input; {@link dev.surpass.model.phi.PhiConfig}, {@link dev.surpass.model.phi.Phi} and the
 * {@code surpass forward} / {@code generate} family {@link dev.surpass.model.phi.PhiFamily}.
 */
package dev.surpass.model.phi;
