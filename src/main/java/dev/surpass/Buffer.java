package dev.surpass;

import dev.surpass.backend.Storage;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reference-counted storage shared by a tensor and its views. The last {@link #release()} frees the
 * storage exactly once and takes it off its device's live list.
 */
final class Buffer {
    final Device device;
    final Storage storage;
    private final AtomicInteger refs = new AtomicInteger(1);

    Buffer(Device device, Storage storage) {
        this.device = device;
        this.storage = storage;
    }

    /** Adds a reference; false when the buffer was already freed. */
    boolean retain() {
        for (;;) {
            int r = refs.get();
            if (r <= 0) return false;
            if (refs.compareAndSet(r, r + 1)) return true;
        }
    }

    void release() {
        if (refs.decrementAndGet() == 0) device.free(this);
    }

    /** Frees now whatever the count (device close). */
    void forceFree() {
        if (refs.getAndSet(0) > 0) device.free(this);
    }

    boolean isLive() {
        return refs.get() > 0;
    }
}
