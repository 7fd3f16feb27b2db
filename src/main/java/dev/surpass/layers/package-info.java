/**
 * Transformer building blocks on every device: elementwise ops, activations, softmax, LayerNorm,
 * RMSNorm and matmul/linear. Each op has a public entry (validates, dispatches on the tensors'
 * device), a float64 reference ({@code Reference*}), a Vector API version ({@code Vector*}) and a
 * CUDA launcher ({@code Cuda*}).
 */
package dev.surpass.layers;
