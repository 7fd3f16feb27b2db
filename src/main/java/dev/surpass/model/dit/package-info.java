/**
 * The Diffusion Transformer (facebookresearch/DiT): {@link dev.surpass.model.dit.DiTConfig} (the
 * S/B/L/XL × 2/4/8 presets, inferred from a checkpoint), {@link dev.surpass.model.dit.DiT} (loads
 * the official state dict from safetensors, also under {@code ema.}/{@code module.}; forward and
 * forward_with_cfg exactly as {@code models.py}), {@link dev.surpass.model.dit.DiTOps} (the fused
 * adaLN modulate, gate-and-residual, patchify and unpatchify, with the float64
 * {@link dev.surpass.model.dit.ReferenceDiTOps}, a Vector API CPU version and the CUDA kernels of
 * {@code kernels/dit/}), {@link dev.surpass.model.dit.DiTEmbeddings} (timestep and 2-D position
 * embeddings), {@link dev.surpass.model.dit.DiTSampler} (DDPM with learned range, DDIM, DPM-Solver++
 * on DiT's respaced schedule with classifier-free guidance fused into the step) and
 * {@link dev.surpass.model.dit.DiTForward} (the {@code surpass forward} family "dit").
 */
package dev.surpass.model.dit;
