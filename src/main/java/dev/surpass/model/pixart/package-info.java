/**
 * PixArt-α / PixArt-Σ's diffusion transformer ({@link dev.surpass.model.pixart.PixArtTransformer2DModel},
 * diffusers' {@code PixArtTransformer2DModel}, with its config {@link dev.surpass.model.pixart.PixArtTransformer2DConfig}):
 * patch embedding with the interpolated 2-D sin-cos table, adaLN-single timestep (and resolution /
 * aspect-ratio) conditioning, self-attention, masked cross-attention to projected T5 captions and a
 * GELU-tanh feed-forward per block. The text-to-image pipeline that runs it is
 * {@link dev.surpass.model.sd.PixArtPipeline}, beside the Stable Diffusion ones whose scheduler loop it shares.
 */
package dev.surpass.model.pixart;
