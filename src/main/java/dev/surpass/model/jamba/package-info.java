/**
 * Jamba (HF {@code JambaForCausalLM}): a hybrid decoder whose layers are Mamba-1 mixers with
 * weighted RMSNorms on dt, B and C, or causal GQA attention without positional encoding, each
 * followed by a SwiGLU MLP or a top-k mixture of SwiGLU experts.
 */
package dev.surpass.model.jamba;
