package dev.surpass.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * Keeps freed host blocks for reuse. Fresh host memory is expensive: large blocks to touch the
 * first time (the kernel maps and zeroes every page: measured 0.25–0.33 s for 64 MiB on the
 * development VMs, against 3 ms to rewrite a reused block), small ones to hand back (closing a
 * shared arena is a handshake with every thread: ~40 µs, which made an 8 KB tensor cost more than
 * the op on it).
 *
 * <p>Blocks are rounded up to a size class — powers of two from 64 bytes below 1 MiB, steps of 1/8
 * of a power of two above — and parked on free. A request takes a parked block of its own class,
 * or, from 1 MiB up, the smallest parked block of up to {@value #FIT_RATIO}× its class: a model
 * that walks through resolutions (a VAE decoder: activations, im2col blocks and GEMM outputs of a
 * dozen sizes) then reuses what the previous stage freed instead of touching new pages.
 *
 * <p>Bounds: at most {@link #cap()} bytes parked ({@code -Dsurpass.cpu.poolBytes} when set, 0
 * disables the pool; else the owner's adaptive figure), and below 1 MiB at most
 * {@value #SMALL_PER_CLASS} blocks per class. When a freed block would pass the cap, the blocks
 * parked longest are returned to the JVM first (the newest are the likeliest to be asked for
 * again). Thread-safe; arenas are closed outside the lock.
 */
final class HostPool {
    static final long MIN_POOLED = 1L << 20;
    static final int SMALL_PER_CLASS = 256;
    /** A request of class c may take a parked block of up to FIT_RATIO·c bytes. */
    static final int FIT_RATIO = 2;
    /** -Dsurpass.cpu.poolBytes, or -1 when unset (the cap is then the owner's). */
    static final long FIXED_CAP = Long.getLong("surpass.cpu.poolBytes", -1);
    private static final boolean ENABLED = FIXED_CAP != 0;

    /** Parked blocks by size class. An empty deque is removed, so every key has a block. */
    private final TreeMap<Long, ArrayDeque<Block>> free = new TreeMap<>();
    /** The same blocks in the order they were parked, oldest first: the eviction order. */
    private final LinkedHashSet<Block> order = new LinkedHashSet<>();
    private final LongSupplier adaptiveCap;
    private long parked;
    private long fresh;

    /** One arena-backed block of a size class; identity equality (each block is one allocation). */
    static final class Block {
        private final Arena arena;
        private final MemorySegment segment;

        Block(Arena arena, MemorySegment segment) {
            this.arena = arena;
            this.segment = segment;
        }

        Arena arena() {
            return arena;
        }

        MemorySegment segment() {
            return segment;
        }
    }

    /** A pool whose cap is {@code -Dsurpass.cpu.poolBytes} when set, else {@code adaptiveCap}'s value at each free. */
    HostPool(LongSupplier adaptiveCap) {
        this.adaptiveCap = adaptiveCap;
    }

    /** A pool with the property's cap, or 1 GiB. */
    HostPool() {
        this(() -> 1L << 30);
    }

    /** The most bytes that may be parked now. */
    long cap() {
        return FIXED_CAP >= 0 ? FIXED_CAP : adaptiveCap.getAsLong();
    }

    /** The size class for {@code bytes} (bytes itself when not pooled). */
    static long sizeClass(long bytes) {
        if (!ENABLED) return bytes;
        if (bytes < MIN_POOLED) return Math.max(64, Long.highestOneBit(Math.max(bytes, 1) * 2 - 1));
        long top = Long.highestOneBit(bytes);
        long step = top >>> 3;
        long cls = (bytes + step - 1) / step * step;
        // huge-page blocks are whole huge pages (a no-op from 16 MiB, where the steps are 2 MiB or more)
        return cls >= HugePages.SIZE && HugePages.available() ? (cls + HugePages.SIZE - 1) / HugePages.SIZE * HugePages.SIZE : cls;
    }

    /**
     * A block of at least {@code bytes} bytes: a parked one when one fits, else fresh (zeroed)
     * memory — from 2 MiB up on {@link HugePages} where they are available.
     */
    Block take(long bytes) {
        long cls = sizeClass(bytes);
        if (ENABLED) {
            synchronized (this) {
                Map.Entry<Long, ArrayDeque<Block>> e = cls < MIN_POOLED ? exact(cls) : free.ceilingEntry(cls);
                if (e != null && e.getKey() <= (cls < MIN_POOLED ? cls : FIT_RATIO * cls)) {
                    Block b = e.getValue().pop();
                    if (e.getValue().isEmpty()) free.remove(e.getKey());
                    order.remove(b);
                    parked -= e.getKey();
                    return b;
                }
                fresh += cls;
            }
        } else {
            synchronized (this) {
                fresh += cls;
            }
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment huge = cls >= HugePages.SIZE && cls % HugePages.SIZE == 0 ? HugePages.map(cls, arena) : null;
            return new Block(arena, huge != null ? huge : arena.allocate(Math.max(cls, 1), 64));
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
            trim();
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of host memory: " + e.getMessage(), e);
        }
    }

    private Map.Entry<Long, ArrayDeque<Block>> exact(long cls) {
        ArrayDeque<Block> q = free.get(cls);
        return q == null ? null : Map.entry(cls, q);
    }

    /** Parks {@code b} for reuse, or returns it (and the oldest parked blocks, to stay under the cap) to the JVM. */
    void give(Block b) {
        long cls = b.segment().byteSize();
        List<Block> close = new ArrayList<>(1);
        if (ENABLED) {
            long cap = cap();
            synchronized (this) {
                ArrayDeque<Block> q = free.get(cls);
                if (cls <= cap && (cls >= MIN_POOLED || q == null || q.size() < SMALL_PER_CLASS)) {
                    if (q == null) free.put(cls, q = new ArrayDeque<>());
                    q.push(b);
                    order.add(b);
                    parked += cls;
                    for (Iterator<Block> it = order.iterator(); parked > cap && it.hasNext(); ) {
                        Block old = it.next();
                        it.remove();
                        long oc = old.segment().byteSize();
                        ArrayDeque<Block> oq = free.get(oc);
                        oq.remove(old);
                        if (oq.isEmpty()) free.remove(oc);
                        parked -= oc;
                        close.add(old);
                    }
                } else {
                    close.add(b);
                }
            }
        } else {
            close.add(b);
        }
        for (Block c : close) c.arena().close();
    }

    /** Returns every parked block to the JVM. */
    void trim() {
        List<Block> all;
        synchronized (this) {
            all = new ArrayList<>(order);
            free.clear();
            order.clear();
            parked = 0;
        }
        for (Block b : all) b.arena().close();
    }

    synchronized long parkedBytes() {
        return parked;
    }

    /** Bytes taken fresh from the JVM so far (requests no parked block served). */
    synchronized long freshBytes() {
        return fresh;
    }
}
