/** Checkpoint and tensor file formats: safetensors (mmap, zero copy) read and write. */
package dev.surpass.io;
