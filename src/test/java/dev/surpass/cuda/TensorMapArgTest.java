package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.cuda.ffi.CuDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** Tensor-map kernel arguments without a GPU: the request checks and how launch packs the 128 bytes. */
class TensorMapArgTest {
    private static final long A = 0x7f00_0000_1000L;

    private static TensorMapArg sample() {
        byte[] b = new byte[TensorMapArg.BYTES];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 7 + 1);
        return new TensorMapArg(b);
    }

    @Test
    void packsTensorMapsBy128ByteAlignedValue() {
        TensorMapArg m = sample();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = CudaBackend.packParams(a, "k", 5L, m, 3, 2.5f, m);
            assertEquals(5 * ADDRESS.byteSize(), params.byteSize());
            MemorySegment p0 = params.getAtIndex(ADDRESS, 0).reinterpret(8);
            MemorySegment p1 = params.getAtIndex(ADDRESS, 1).reinterpret(TensorMapArg.BYTES);
            MemorySegment p2 = params.getAtIndex(ADDRESS, 2).reinterpret(8);
            MemorySegment p3 = params.getAtIndex(ADDRESS, 3).reinterpret(8);
            MemorySegment p4 = params.getAtIndex(ADDRESS, 4).reinterpret(TensorMapArg.BYTES);
            assertEquals(5L, p0.get(JAVA_LONG, 0));
            assertEquals(3, p2.get(JAVA_INT, 0));
            assertEquals(2.5f, p3.get(JAVA_FLOAT, 0));
            assertArrayEquals(m.bytes(), p1.toArray(JAVA_BYTE));
            assertArrayEquals(m.bytes(), p4.toArray(JAVA_BYTE));
            assertEquals(0, p1.address() % TensorMapArg.ALIGN, "tensor-map slot alignment");
            assertEquals(0, p4.address() % TensorMapArg.ALIGN, "tensor-map slot alignment");
        }
    }

    @Test
    void rejectsUnsupportedArguments() {
        try (Arena a = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> CudaBackend.packParams(a, "k", 1L, null));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaBackend.packParams(a, "k", 1L, "x"));
            assertTrue(e.getMessage().contains("argument 1") && e.getMessage().contains("TensorMapArg"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new TensorMapArg(new byte[64]));
        byte[] b = sample().bytes();
        b[0] = 99;
        assertTrue(sample().bytes()[0] != 99, "bytes() is a copy");
        assertEquals(sample(), sample());
    }

    @Test
    void checksTiledRequests() {
        long[] dims = {128, 16, 2048, 16};
        long[] strides = {256, 4096, 8_388_608};
        int[] box = {64, 1, 128, 1};
        assertEquals(CuDriver.TENSOR_MAP_DATA_TYPE_BFLOAT16, TensorMapArg.checkTiled(DType.BF16, A, dims, strides, box, true));
        assertEquals(CuDriver.TENSOR_MAP_DATA_TYPE_FLOAT16, TensorMapArg.checkTiled(DType.F16, A, dims, strides, box, true));
        assertThrows(IllegalArgumentException.class, () -> TensorMapArg.checkTiled(DType.BF16, A + 8, dims, strides, box, true), "address");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.BF16, A, dims, strides, new int[] {128, 1, 128, 1}, true), "256-byte rows exceed the swizzle");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.BF16, A, dims, strides, new int[] {64, 1, 257, 1}, true), "box over 256");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.BF16, A, dims, new long[] {200, 4096, 8_388_608}, box, true), "stride not a multiple of 16");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.BF16, A, new long[] {128, 16, 0, 16}, strides, box, true), "empty dim");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.BF16, A, dims, new long[] {256, 4096}, box, true), "stride count");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.I32, A, dims, strides, box, true), "dtype");
        assertThrows(IllegalArgumentException.class,
                () -> TensorMapArg.checkTiled(DType.BF16, A, new long[] {4, 1, 1, 1, 1, 1}, new long[] {16, 16, 16, 16, 16},
                        new int[] {4, 1, 1, 1, 1, 1}, false), "rank 6");
    }
}
