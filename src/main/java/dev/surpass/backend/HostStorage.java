package dev.surpass.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Host bytes. With an arena, {@link #free()} closes it; without one the segment is borrowed (a
 * memory-mapped file, a caller's segment) and stays valid as long as its owner keeps it open.
 */
public record HostStorage(MemorySegment segment, Arena arena) implements Storage {
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
        if (arena != null) arena.close();
    }
}
