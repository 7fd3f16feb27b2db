/**
 * FLUX.1's denoiser, diffusers' {@code FluxTransformer2DModel}:
 * {@link dev.surpass.model.flux.FluxTransformerConfig} (config.json: FLUX.1-dev with
 * {@code guidance_embeds}, FLUX.1-schnell without), {@link dev.surpass.model.flux.FluxTransformer2DModel}
 * ({@code load(device, dir)} from a {@code transformer/} folder or a pipeline root, single-file or
 * sharded, F32 / F16 / BF16, or Black Forest Labs' original {@code flux1-*.safetensors} through
 * {@link dev.surpass.model.flux.FluxWeights}; {@code forward(hiddenStates, encoderHiddenStates, pooledProjections,
 * timesteps, imgIds, txtIds, guidance)} as {@code transformer(...).sample}, with {@code timesteps}
 * and {@code guidance} as the pipeline passes them — the model multiplies by 1000) and
 * {@link dev.surpass.model.flux.FluxForward} (the {@code surpass forward} family "flux"). The adaLN
 * modulate / gated residual come from {@link dev.surpass.model.dit.DiTOps}, the token cat / slice
 * from {@link dev.surpass.model.dit.DiTTokens}, attention from the fused
 * {@link dev.surpass.attention.Attention}. The pipeline (packing, scheduler, text encoders, VAE) is not here.
 */
package dev.surpass.model.flux;
