package dev.surpass;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TensorTest {
    private static float[] random(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextDouble() * 8 - 4);
        return x;
    }

    @Test
    void uploadDownloadEveryDtype() {
        try (Device dev = Device.cpu()) {
            float[] x = random(1, 13 * 65);
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                try (Tensor a = dev.upload(t, x, 13, 65)) {
                    float[] back = a.toFloatArray();
                    for (int i = 0; i < x.length; i++) assertEquals(t.round(x[i]), back[i], t + " element " + i);
                    assertArrayEquals(new long[] {13, 65}, a.shape());
                    assertEquals(13 * 65 * t.byteSize(), a.byteSize());
                }
            }
            short[] bits = {0x3f80, (short) 0xbf80, 0x4000};
            try (Tensor b = dev.upload(DType.BF16, bits, 3)) {
                assertArrayEquals(bits, b.toShortArray());
                assertArrayEquals(new float[] {1, -1, 2}, b.toFloatArray());
            }
            try (Tensor i = dev.upload(new int[] {1, -2, 3}, 3); Tensor l = dev.upload(new long[] {1L << 40, 7}, 2)) {
                assertArrayEquals(new int[] {1, -2, 3}, i.toIntArray());
                assertArrayEquals(new long[] {1L << 40, 7}, l.toLongArray());
                assertEquals(DType.I64, l.dtype());
            }
        }
    }

    @Test
    void segmentsRoundTrip() {
        try (Device dev = Device.cpu(); Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(4 * 7);
            for (int i = 0; i < 7; i++) src.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 1.5f + 0.25f);
            try (Tensor t = dev.upload(DType.F32, src, 7)) {
                MemorySegment dst = arena.allocate(4 * 7);
                t.copyTo(dst);
                assertEquals(-1, src.mismatch(dst));
                assertEquals(4.75f, t.getFloat(3));
            }
            assertThrows(IllegalArgumentException.class, () -> dev.upload(DType.F32, src, 8));
        }
    }

    @Test
    void zerosAndConversion() {
        try (Device dev = Device.cpu(); Tensor z = dev.zeros(DType.BF16, 3, 5); Tensor f = dev.upload(DType.F32, random(3, 6), 2, 3);
             Tensor h = f.to(DType.F16)) {
            for (float v : z.toFloatArray()) assertEquals(0f, v);
            float[] a = f.toFloatArray(), b = h.toFloatArray();
            for (int i = 0; i < a.length; i++) assertEquals(DType.F16.round(a[i]), b[i]);
        }
    }

    @Test
    void badShapesAndDataAreRejected() {
        try (Device dev = Device.cpu()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dev.upload(DType.F32, new float[5], 2, 3));
            assertTrue(e.getMessage().contains("5 elements") && e.getMessage().contains("[2, 3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> dev.allocate(DType.F32, 4, -1));
            assertTrue(e.getMessage().contains("negative"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> dev.allocate(DType.F32, Long.MAX_VALUE, 4));
            assertTrue(e.getMessage().contains("overflow") || e.getMessage().contains("2^63"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> dev.upload(DType.I32, new float[1], 1));
            assertThrows(IllegalArgumentException.class, () -> dev.upload(DType.F32, new short[1], 1));
            assertThrows(IllegalArgumentException.class, () -> dev.upload(DType.F32, (float[]) null, 1));
        }
    }

    @Test
    void reshapeSharesMemoryAndCountsReferences() {
        try (Device dev = Device.cpu()) {
            Tensor a = dev.upload(DType.F32, random(5, 12), 3, 4);
            Tensor v = a.reshape(2, -1);
            assertArrayEquals(new long[] {2, 6}, v.shape());
            assertEquals(a.hostSegment().address(), v.hostSegment().address());
            assertEquals(1, dev.liveAllocations());
            a.close();
            assertTrue(a.isClosed());
            assertEquals(a.toString().contains("closed"), true);
            assertEquals(12, v.toFloatArray().length); // the view keeps the memory alive
            assertEquals(1, dev.liveAllocations());
            v.close();
            v.close(); // twice is harmless
            assertEquals(0, dev.liveAllocations());
            assertThrows(IllegalStateException.class, v::toFloatArray);
            assertThrows(IllegalStateException.class, () -> a.reshape(12));
            try (Tensor b = dev.allocate(DType.F32, 6)) {
                assertThrows(IllegalArgumentException.class, () -> b.reshape(4, -1));
                assertThrows(IllegalArgumentException.class, () -> b.reshape(-1, -1));
                assertThrows(IllegalArgumentException.class, () -> b.reshape(7));
            }
        }
    }

    @Test
    void closingTheDeviceFreesItsTensors() {
        Device dev = Device.cpu();
        Tensor a = dev.upload(DType.F32, random(6, 4), 4);
        Tensor b = dev.allocate(DType.BF16, 100);
        assertEquals(2, dev.liveAllocations());
        assertEquals(4 * 4 + 200, dev.liveBytes());
        dev.close();
        assertEquals(0, dev.liveAllocations());
        assertEquals(0, dev.liveBytes());
        IllegalStateException e = assertThrows(IllegalStateException.class, a::toFloatArray);
        assertTrue(e.getMessage().contains("device was closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> dev.allocate(DType.F32, 1));
        b.close(); // harmless after the device freed it
        dev.close();
    }

    @Test
    void wrapBorrowsWithoutCopying() {
        try (Device dev = Device.cpu(); Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4 * 6);
            for (int i = 0; i < 6; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, i + 0.5f);
            Tensor t = dev.wrap(DType.F32, seg, 2, 3);
            assertEquals(seg.address(), t.hostSegment().address());
            t.close();
            assertEquals(2.5f, seg.getAtIndex(ValueLayout.JAVA_FLOAT, 2)); // not freed by the tensor
            assertThrows(IllegalArgumentException.class, () -> dev.wrap(DType.F32, seg, 7));
        }
    }

    @Test
    void scopeClosesTemporariesNewestFirst() {
        try (Device dev = Device.cpu()) {
            Tensor keep;
            try (Scope s = Scope.open()) {
                s.track(dev.allocate(DType.F32, 10));
                s.track(dev.allocate(DType.F32, 20));
                keep = dev.allocate(DType.F32, 3);
                assertEquals(3, dev.liveAllocations());
            }
            assertEquals(1, dev.liveAllocations());
            assertFalse(keep.isClosed());
            keep.close();
        }
    }

    @Test
    void cleanerFreesUnreachableTensors() throws Exception {
        try (Device dev = Device.cpu()) {
            long before = Tensor.leakedCount();
            for (int i = 0; i < 50; i++) dev.allocate(DType.F32, 1000); // dropped unclosed
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (dev.liveAllocations() > 0 && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(20);
            }
            assertEquals(0, dev.liveAllocations());
            assertTrue(Tensor.leakedCount() - before >= 50);
        }
    }

    @Test
    void dimAccessors() {
        try (Device dev = Device.cpu(); Tensor t = dev.allocate(DType.F16, 2, 3, 5)) {
            assertEquals(5, t.dim(-1));
            assertEquals(2, t.dim(0));
            assertEquals(3, t.rank());
            assertEquals(30, t.numel());
            assertThrows(IllegalArgumentException.class, () -> t.dim(3));
            assertThrows(IllegalStateException.class, t::devicePointer);
            assertTrue(t.describe().startsWith("F16[2, 3, 5]@cpu"), t.describe());
        }
    }

    @Test
    void largeHostBlocksAreReusedAfterClose() {
        try (Device dev = Device.cpu()) {
            Tensor a = dev.allocate(DType.F32, 1 << 20); // 4 MiB: pooled size class
            long addr = a.hostSegment().address();
            a.close();
            try (Tensor b = dev.allocate(DType.F32, (1 << 20) - 5)) { // same size class
                assertEquals(addr, b.hostSegment().address());
                assertEquals(((1L << 20) - 5) * 4, b.byteSize());
                assertEquals(b.byteSize(), dev.liveBytes());
            }
            try (Tensor z = dev.zeros(DType.F32, 1 << 20)) { // zeros() really zeroes a reused block
                float[] v = z.toFloatArray();
                for (int i = 0; i < v.length; i += 4093) assertEquals(0f, v[i]);
            }
        }
    }

    @Test
    void viewSharesMemoryAndKeepsItAlive() {
        try (Device cpu = Device.cpu()) {
            Tensor v;
            try (Tensor t = cpu.upload(DType.F32, new float[] {0, 1, 2, 3, 4, 5, 6, 7}, 2, 4)) {
                v = t.view(2, 2, 2);
                assertArrayEquals(new long[] {2, 2}, v.shape());
                assertArrayEquals(new float[] {2, 3, 4, 5}, v.toFloatArray());
                try (Tensor w = t.view(8, 0)) { // empty, at the end
                    assertEquals(0, w.numel());
                }
                assertThrows(IllegalArgumentException.class, () -> t.view(7, 2));
                assertThrows(IllegalArgumentException.class, () -> t.view(-1, 1));
                assertThrows(IllegalArgumentException.class, () -> t.view(0, -2));
            }
            assertArrayEquals(new float[] {2, 3, 4, 5}, v.toFloatArray(), "the view keeps the memory after the base is closed");
            v.close();
            assertThrows(IllegalStateException.class, v::toFloatArray);
        }
    }
}
