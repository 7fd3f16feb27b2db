/**
 * Transformer building blocks on every device: elementwise ops, activations, softmax, LayerNorm,
 * RMSNorm, GroupNorm (channels-last, for convolutional decoders) and matmul/linear. Each op has a public entry (validates, dispatches on the tensors'
 * device), a float64 reference ({@code Reference*}), a Vector API version ({@code Vector*}) and a
 * CUDA launcher ({@code Cuda*}). {@link dev.surpass.layers.LinearWeight} prepares a model's linear
 * weight once for many products (packed into the GEMM micro-kernel's panels on the CPU).
 */
package dev.surpass.layers;
