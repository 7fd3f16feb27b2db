package dev.surpass.backend;

import java.lang.foreign.MemorySegment;

/**
 * Host bytes. {@code release} runs on {@link #free()} (returns a pooled block, closes an arena);
 * null means the segment is borrowed (a memory-mapped file, a caller's segment) and stays valid as
 * long as its owner keeps it alive.
 */
public record HostStorage(MemorySegment segment, Runnable release) implements Storage {
    @Override
    public long byteSize() {
        return segment.byteSize();
    }

    @Override
    public boolean isHost() {
        return true;
    }

    @Override
    public MemorySegment hostSegment() {
        return segment;
    }

    @Override
    public long devicePointer() {
        throw new IllegalStateException("host storage has no device pointer");
    }

    @Override
    public void free() {
        if (release != null) release.run();
    }
}
