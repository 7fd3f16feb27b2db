/**
 * Stable Diffusion 1.x / 2.x text-to-image ({@link dev.surpass.model.sd.StableDiffusion}): a diffusers
 * pipeline folder's CLIP tokenizer and text encoder ({@link dev.surpass.model.clip}), UNet
 * ({@link dev.surpass.model.unet}), VAE decoder ({@link dev.surpass.model.vae}) and scheduler
 * ({@link dev.surpass.diffusion.DiffusersSampler}), run as {@code StableDiffusionPipeline} runs them;
 * image-to-image as {@code StableDiffusionImg2ImgPipeline} (the VAE's encoder, the scheduler started at
 * {@code get_timesteps}' index); and Stable Diffusion XL base text-to-image
 * ({@link dev.surpass.model.sd.StableDiffusionXL}: two text encoders and the UNet's text_time added
 * conditions), as {@code StableDiffusionXLPipeline}; and PixArt-α / PixArt-Σ ({@link dev.surpass.model.sd.PixArtPipeline}: T5
 * text states with their mask, {@link dev.surpass.model.pixart.PixArtTransformer2DModel}), as {@code PixArtAlphaPipeline} /
 * {@code PixArtSigmaPipeline}; all with the scheduler loop of the package-private {@code Denoise}.
 */
package dev.surpass.model.sd;
