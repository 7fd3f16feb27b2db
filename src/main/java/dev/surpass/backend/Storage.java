package dev.surpass.backend;

import java.lang.foreign.MemorySegment;

/**
 * One allocation of a backend: host memory (a {@link MemorySegment}) or device memory (a CUDA
 * device pointer). Internal: users see {@link dev.surpass.Tensor}, which reference-counts storage
 * so that views share it and the last release frees it exactly once.
 */
public interface Storage {
    /** Size in bytes. */
    long byteSize();

    /** True when the bytes are host memory readable through {@link #hostSegment()}. */
    boolean isHost();

    /** The host segment; throws {@link IllegalStateException} for device storage. */
    MemorySegment hostSegment();

    /** The CUDA device pointer; throws {@link IllegalStateException} for host storage. */
    long devicePointer();

    /**
     * Returns the memory to its owner. Called exactly once, by the last release (or by the
     * {@code Cleaner} safety net), possibly from a thread other than the one that allocated it.
     */
    void free();
}
