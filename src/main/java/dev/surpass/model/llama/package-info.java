/** Llama-family decoders ({@link dev.surpass.model.llama.Llama}) from HF config.json + safetensors, and their CLI family. */
package dev.surpass.model.llama;
