/**
 * Convolution pieces shared by the diffusers image models ({@code dev.surpass.model.vae},
 * {@code dev.surpass.model.unet}): {@link dev.surpass.model.conv.ConvOps} — 3×3 convolutions as
 * im2col row gather + GEMM (stride 1, stride 2, nearest ×2 folded into the gather), 1×1
 * convolutions, GroupNorm (+ SiLU) and channel concatenation over channels-last {@code [H·W, C]}
 * images or batches of them ({@code [N·H·W, C]}), built from the layers ops so they run on every
 * device; {@link dev.surpass.model.conv.ConvTables} — the gathers' index tables, cached per size by
 * the model that owns them.
 */
package dev.surpass.model.conv;
