/** GPT-2 ({@link dev.surpass.model.gpt2.Gpt2}) from HF config.json + safetensors, and its CLI family. */
package dev.surpass.model.gpt2;
