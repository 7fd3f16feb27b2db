/**
 * Stable Diffusion 1.x / 2.x / XL's denoiser, diffusers' {@code UNet2DConditionModel}:
 * {@link dev.surpass.model.unet.UNet2DConditionConfig} (config.json, with diffusers' reading of
 * {@code attention_head_dim} as the head count), {@link dev.surpass.model.unet.UNet2DConditionModel}
 * (loads a {@code unet/} folder or a pipeline root; {@code forward(sample, timesteps,
 * encoderHiddenStates)} as {@code unet(...).sample}, with {@code textEmbeds, timeIds} for SDXL's
 * text_time UNets) and {@link dev.surpass.model.unet.UNetForward}
 * (the {@code surpass forward} family "unet"). Convolutions come from
 * {@link dev.surpass.model.conv.ConvOps}, attention from the fused {@link dev.surpass.attention.Attention}.
 */
package dev.surpass.model.unet;
