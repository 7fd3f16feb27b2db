package dev.surpass.io;

/** safetensors read (mmap, zero copy) and write (STUB: filled by the safetensors work). */
public final class SafeTensors {
    private SafeTensors() {}
}
