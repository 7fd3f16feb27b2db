/**
 * GPT-J decoders (HF {@code GPTJForCausalLM}): interleaved rotary on the first {@code rotary_dim} dims of
 * each head, attention and MLP in parallel from one LayerNorm, a biased head;
 * {@link dev.surpass.model.gptj.GptJConfig}, {@link dev.surpass.model.gptj.GptJ} and the
 * {@code surpass forward} / {@code generate} family {@link dev.surpass.model.gptj.GptJFamily}.
 */
package dev.surpass.model.gptj;
