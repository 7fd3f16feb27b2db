/**
 * Stable Diffusion 3 / 3.5's denoiser, diffusers' {@code SD3Transformer2DModel} (MMDiT):
 * {@link dev.surpass.model.sd3.SD3TransformerConfig} (config.json: SD3-medium, SD3.5-large with
 * {@code qk_norm "rms_norm"}, SD3.5-medium with {@code dual_attention_layers}),
 * {@link dev.surpass.model.sd3.SD3Transformer2DModel} ({@code load(device, dir)} from a
 * {@code transformer/} folder or a pipeline root, single-file or sharded, F32 / F16 / BF16;
 * {@code forward(hiddenStates, timesteps, encoderHiddenStates, pooledProjections)} as
 * {@code transformer(...).sample}, with {@code timesteps} the pipeline's {@code σ · 1000}) and
 * {@link dev.surpass.model.sd3.SD3Forward} (the {@code surpass forward} family "sd3"). The patch
 * embedding and the adaLN modulate / gated residual / unpatchify come from
 * {@link dev.surpass.model.dit.DiTOps}, attention from the fused {@link dev.surpass.attention.Attention}.
 * The scheduler, text encoders and VAE of the SD3 pipeline are not here.
 */
package dev.surpass.model.sd3;
