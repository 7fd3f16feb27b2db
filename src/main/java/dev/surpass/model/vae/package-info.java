/**
 * The Stable Diffusion VAE decoder (diffusers' {@code AutoencoderKL}) that turns latent-diffusion
 * samples — DiT's among them — into images: {@link dev.surpass.model.vae.AutoencoderKLConfig}
 * (config.json), {@link dev.surpass.model.vae.AutoencoderKL} (loads a diffusers folder, legacy
 * attention names included; {@code decode} as diffusers' {@code vae.decode(z).sample},
 * {@code decodeScaled} for a pipeline's scaled latents, {@code toImages} as {@code numpy_to_pil};
 * the encoder, loaded on the first {@code encode} / {@code encodeMean} / {@code encodeScaled}, and
 * {@code fromImages} as {@code VaeImageProcessor.preprocess}, for image-to-image),
 * and {@link dev.surpass.model.vae.VaeForward} (the {@code surpass forward} family "vae"). The
 * convolutions, upsampling and attention are built from the layers ops (gather + GEMM), with
 * {@link dev.surpass.layers.GroupNorm} for the norms.
 */
package dev.surpass.model.vae;
