/**
 * Llama-family decoders ({@link dev.surpass.model.llama.Llama}) from HF config.json + safetensors, and their CLI family;
 * {@link dev.surpass.model.llama.LlamaEncoder}: one as the encoder of sentence embeddings (Qwen3-Embedding).
 */
package dev.surpass.model.llama;
