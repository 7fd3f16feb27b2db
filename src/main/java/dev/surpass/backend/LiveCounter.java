package dev.surpass.backend;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Count and bytes of the allocations a backend has handed out and not yet had back: the debug
 * accounting behind {@link dev.surpass.Device#allocations()}. Thread-safe; the two numbers are
 * updated separately, so a reading taken while other threads allocate may pair a count with bytes
 * of a moment before or after (exact when nothing is in flight).
 */
public final class LiveCounter {
    private final AtomicLong count = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();

    /** An allocation of {@code n} bytes was handed out. */
    public void add(long n) {
        bytes.addAndGet(n);
        count.incrementAndGet();
    }

    /** An allocation of {@code n} bytes came back. */
    public void remove(long n) {
        count.decrementAndGet();
        bytes.addAndGet(-n);
    }

    public long count() {
        return count.get();
    }

    public long bytes() {
        return bytes.get();
    }
}
