/**
 * GPT-NeoX decoders (HF {@code GPTNeoXForCausalLM}: EleutherAI's Pythia, the Transformer baseline
 * the Mamba paper compares with, sharing Mamba's tokenizer): {@link dev.surpass.model.neox.GptNeoXConfig},
 * {@link dev.surpass.model.neox.GptNeoX} and the {@code surpass forward} / {@code generate} family
 * {@link dev.surpass.model.neox.GptNeoXFamily}.
 */
package dev.surpass.model.neox;
