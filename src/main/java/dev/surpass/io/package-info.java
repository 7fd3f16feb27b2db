/**
 * Checkpoint and tensor file formats: safetensors (mmap, zero copy) read and write, and PyTorch
 * {@code torch.save} zip checkpoints ({@link dev.surpass.io.PyTorchCheckpoint}: read through a pickle
 * interpreter that runs no code, converted to safetensors).
 */
package dev.surpass.io;
