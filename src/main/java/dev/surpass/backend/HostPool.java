package dev.surpass.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Keeps freed host blocks for reuse. Fresh host memory is expensive: large blocks to touch the
 * first time (the kernel maps and zeroes every page: measured ~0.2 s for 64 MiB on the development
 * VMs), small ones to hand back (closing a shared arena is a handshake with every thread: ~40 µs,
 * which made an 8 KB tensor cost more than the op on it). An op's output is usually the size of one
 * freed a moment ago, so blocks are rounded up to a size class — powers of two from 64 bytes below
 * 1 MiB, steps of 1/8 of a power of two above — and parked on free, up to a cap
 * ({@code -Dsurpass.cpu.poolBytes}, default 1 GiB; 0 disables) and, below 1 MiB, at most
 * {@value #SMALL_PER_CLASS} blocks per class. Thread-safe.
 */
final class HostPool {
    static final long MIN_POOLED = 1L << 20;
    static final int SMALL_PER_CLASS = 256;
    private static final long CAP = Long.getLong("surpass.cpu.poolBytes", 1L << 30);

    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private long parked;

    /** One arena-backed block of a size class. */
    record Block(Arena arena, MemorySegment segment) {}

    /** The size class for {@code bytes} (bytes itself when not pooled). */
    static long sizeClass(long bytes) {
        if (CAP <= 0) return bytes;
        if (bytes < MIN_POOLED) return Math.max(64, Long.highestOneBit(Math.max(bytes, 1) * 2 - 1));
        long top = Long.highestOneBit(bytes);
        long step = top >>> 3;
        return (bytes + step - 1) / step * step;
    }

    Block take(long bytes) {
        long cls = sizeClass(bytes);
        if (CAP > 0) {
            synchronized (this) {
                ArrayDeque<Block> q = free.get(cls);
                if (q != null && !q.isEmpty()) {
                    parked -= cls;
                    return q.pop();
                }
            }
        }
        Arena arena = Arena.ofShared();
        try {
            return new Block(arena, arena.allocate(Math.max(cls, 1), 64));
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
            trim();
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of host memory: " + e.getMessage(), e);
        }
    }

    void give(Block b) {
        long cls = b.segment().byteSize();
        if (CAP > 0) {
            synchronized (this) {
                ArrayDeque<Block> q = free.computeIfAbsent(cls, k -> new ArrayDeque<>());
                if (parked + cls <= CAP && (cls >= MIN_POOLED || q.size() < SMALL_PER_CLASS)) {
                    q.push(b);
                    parked += cls;
                    return;
                }
            }
        }
        b.arena().close();
    }

    /** Returns every parked block to the JVM. */
    void trim() {
        ArrayDeque<Block> all = new ArrayDeque<>();
        synchronized (this) {
            for (ArrayDeque<Block> q : free.values()) all.addAll(q);
            free.clear();
            parked = 0;
        }
        for (Block b : all) b.arena().close();
    }

    synchronized long parkedBytes() {
        return parked;
    }
}
