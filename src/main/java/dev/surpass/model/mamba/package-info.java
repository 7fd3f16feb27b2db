/**
 * Mamba-1 and Mamba-2 language models (mamba_ssm {@code MambaLMHeadModel} with a Mamba or Mamba2
 * mixer, HF {@code MambaForCausalLM}, {@code Mamba2ForCausalLM} and {@code FalconMambaForCausalLM},
 * whose mixer RMS-normalises dt, B and C):
 * {@link dev.surpass.model.mamba.MambaConfig} from config.json in either naming,
 * {@link dev.surpass.model.mamba.MambaLM} (load, forward, generate),
 * {@link dev.surpass.model.mamba.MambaState} (constant-memory decode state: prefill with the
 * parallel scan, then one-token steps), {@link dev.surpass.model.mamba.Sampling} (greedy,
 * temperature, top-k, top-p, seed) and {@link dev.surpass.model.mamba.MambaForward} (the
 * {@code surpass forward} family "mamba"). Everything runs through the public ops
 * ({@code Gemm}, {@code RmsNorm}, {@code Elementwise}, {@code CausalConv1d}, {@code SelectiveScan})
 * on the device the weights were loaded to.
 */
package dev.surpass.model.mamba;
