package dev.surpass.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Keeps freed large host blocks for reuse. Fresh host memory is expensive to touch the first time
 * (the kernel maps and zeroes every page: measured ~0.2 s for 64 MiB on the development VMs), and
 * an op's output is usually the size of one freed a moment ago, so blocks of 1 MiB and more are
 * rounded up to a size class (steps of 1/8 of a power of two) and parked on free, up to a cap
 * ({@code -Dsurpass.cpu.poolBytes}, default 1 GiB; 0 disables). Small blocks go straight to and
 * from the JVM. Thread-safe.
 */
final class HostPool {
    static final long MIN_POOLED = 1L << 20;
    private static final long CAP = Long.getLong("surpass.cpu.poolBytes", 1L << 30);

    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private long parked;

    /** One arena-backed block of a size class. */
    record Block(Arena arena, MemorySegment segment) {}

    /** The size class for {@code bytes} (bytes itself when not pooled). */
    static long sizeClass(long bytes) {
        if (bytes < MIN_POOLED || CAP <= 0) return bytes;
        long top = Long.highestOneBit(bytes);
        long step = top >>> 3;
        return (bytes + step - 1) / step * step;
    }

    Block take(long bytes) {
        long cls = sizeClass(bytes);
        if (bytes >= MIN_POOLED && CAP > 0) {
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
        if (cls >= MIN_POOLED && CAP > 0) {
            synchronized (this) {
                if (parked + cls <= CAP) {
                    free.computeIfAbsent(cls, k -> new ArrayDeque<>()).push(b);
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
