package dev.surpass.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** {@link HostPool}'s reuse, fit, cap and eviction rules, and {@link HugePages}' blocks. */
class HostPoolTest {
    static final long MIB = 1L << 20;

    @Test
    void aFreedBlockServesTheNextRequestOfItsClass() {
        HostPool p = new HostPool(() -> 1L << 30);
        HostPool.Block a = p.take(3 * MIB + 5);
        assertEquals(HostPool.sizeClass(3 * MIB + 5), a.segment().byteSize());
        assertEquals(a.segment().byteSize(), p.freshBytes());
        p.give(a);
        assertEquals(a.segment().byteSize(), p.parkedBytes());
        assertSame(a, p.take(3 * MIB));
        assertEquals(0, p.parkedBytes());
        assertEquals(a.segment().byteSize(), p.freshBytes(), "served from the pool, nothing fresh");
        p.give(a);
        p.trim();
    }

    @Test
    void largeRequestsTakeTheSmallestParkedBlockOfUpToTwiceTheirClass() {
        HostPool p = new HostPool(() -> 1L << 30);
        HostPool.Block big = p.take(40 * MIB), mid = p.take(24 * MIB);
        p.give(big);
        p.give(mid);
        assertSame(mid, p.take(13 * MIB), "24 MiB is the smallest parked block >= 13 MiB and within 2x");
        assertSame(big, p.take(19 * MIB), "19 MiB (class 20 MiB) fits in 40 MiB");
        p.give(big);
        p.give(mid);
        HostPool.Block small = p.take(10 * MIB);
        assertNotSame(mid, small, "24 MiB is more than twice 10 MiB: a fresh block");
        assertEquals(HostPool.sizeClass(10 * MIB), small.segment().byteSize());
        p.give(small);
        p.trim();
        assertEquals(0, p.parkedBytes());
    }

    @Test
    void smallRequestsTakeOnlyTheirOwnClass() {
        HostPool p = new HostPool(() -> 1L << 30);
        HostPool.Block b = p.take(1000);
        assertEquals(1024, b.segment().byteSize());
        p.give(b);
        HostPool.Block c = p.take(300);
        assertNotSame(b, c);
        assertEquals(512, c.segment().byteSize());
        assertSame(b, p.take(1024));
        p.give(b);
        p.give(c);
        p.trim();
    }

    @Test
    void theCapEvictsTheBlocksParkedLongest() {
        HostPool p = new HostPool(() -> 20 * MIB);
        HostPool.Block a = p.take(8 * MIB), b = p.take(8 * MIB), c = p.take(8 * MIB);
        p.give(a);
        p.give(b);
        assertEquals(16 * MIB, p.parkedBytes());
        p.give(c); // 24 MiB > 20: a, parked first, goes back to the JVM
        assertEquals(16 * MIB, p.parkedBytes());
        assertThrows(IllegalStateException.class, () -> a.segment().get(ValueLayout.JAVA_BYTE, 0), "a's arena is closed");
        HostPool.Block x = p.take(8 * MIB), y = p.take(8 * MIB);
        assertTrue((x == b || x == c) && (y == b || y == c) && x != y);
        HostPool.Block huge = p.take(32 * MIB);
        p.give(huge); // larger than the cap: not parked
        assertEquals(0, p.parkedBytes());
        p.give(x);
        p.give(y);
        p.trim();
    }

    /** Threads taking and giving blocks at once never share one, and the cap holds throughout. */
    @Test
    void concurrentUseNeverHandsOutABlockTwice() throws Exception {
        long cap = 24 * MIB;
        HostPool p = new HostPool(() -> cap);
        int threads = 4;
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int id = t + 1;
            ts[t] = new Thread(() -> {
                java.util.Random r = new java.util.Random(id);
                try {
                    for (int i = 0; i < 400; i++) {
                        long bytes = r.nextBoolean() ? 64 + r.nextInt(4000) : MIB + r.nextInt((int) (6 * MIB));
                        HostPool.Block b = p.take(bytes);
                        b.segment().set(ValueLayout.JAVA_INT, 0, id * 100000 + i);
                        b.segment().set(ValueLayout.JAVA_INT, bytes - 4 - (bytes % 4), id);
                        Thread.yield();
                        assertEquals(id * 100000 + i, b.segment().get(ValueLayout.JAVA_INT, 0), "a block held by two threads");
                        assertEquals(id, b.segment().get(ValueLayout.JAVA_INT, bytes - 4 - (bytes % 4)));
                        p.give(b);
                        assertTrue(p.parkedBytes() <= cap);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            ts[t].start();
        }
        for (Thread t : ts) t.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
        assertTrue(p.parkedBytes() <= cap);
        p.trim();
        assertEquals(0, p.parkedBytes());
    }

    @Test
    void hugePageBlocksAreAlignedWritableAndZero() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment s = HugePages.map(4 * MIB, arena);
            if (!HugePages.available()) {
                assertEquals(null, s);
                return;
            }
            assertEquals(0, s.address() % HugePages.SIZE);
            assertEquals(4 * MIB, s.byteSize());
            for (long i = 0; i < s.byteSize(); i += 4096) assertEquals(0, s.get(ValueLayout.JAVA_BYTE, i));
            s.fill((byte) 7);
            assertEquals(7, s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1));
            assertEquals(null, HugePages.map(3 * MIB, arena), "not a multiple of the huge page size");
        }
    }

    @Test
    void zerosAreZeroEvenOnAReusedDirtyBlock() {
        try (Device cpu = Device.cpu()) {
            long n = (5 * MIB) / 4;
            try (Tensor t = cpu.allocate(DType.F32, n)) {
                t.storage().hostSegment().fill((byte) 0x7f);
            }
            try (Tensor z = cpu.zeros(DType.F32, n - 3)) {
                float[] v = z.toFloatArray();
                for (float f : v) assertEquals(0f, f);
            }
        }
    }
}
