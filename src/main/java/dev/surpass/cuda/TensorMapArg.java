package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.surpass.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A TMA tensor map ({@code CUtensorMap}: 128 opaque bytes) passed by value as a kernel argument; in the
 * kernel the parameter is {@code const __grid_constant__ CUtensorMap}. Made by
 * {@link CudaBackend#tensorMap}; immutable. {@link CudaBackend#launch} copies it into a 128-byte,
 * 64-byte-aligned parameter slot.
 */
public final class TensorMapArg {
    /** Size of a CUtensorMap in bytes. */
    public static final int BYTES = 128;
    /** Alignment of the parameter slot (the kernel-side parameter is 64-byte aligned). */
    public static final int ALIGN = 64;

    private final byte[] bytes;

    TensorMapArg(byte[] bytes) {
        if (bytes == null || bytes.length != BYTES) {
            throw new IllegalArgumentException("a tensor map has " + BYTES + " bytes, got " + (bytes == null ? "null" : bytes.length));
        }
        this.bytes = bytes.clone();
    }

    /** A copy of the encoded bytes. */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Writes the 128 bytes at the start of {@code slot}. */
    void writeTo(MemorySegment slot) {
        MemorySegment.copy(bytes, 0, slot, JAVA_BYTE, 0, BYTES);
    }

    /**
     * Checks a tiled-map request against cuTensorMapEncodeTiled's rules, so that a bad one fails here
     * with a message instead of as CUDA_ERROR_INVALID_VALUE: rank 1..5; fp16/bf16/fp32; address 16-byte
     * aligned; each dim in [1, 2^32]; rank-1 byte strides (of dims 1..rank-1), multiples of 16 below
     * 2^40; each box entry in [1, 256] (a box may overhang its dim: TMA zero-fills the rest); the inner
     * box row box[0]·elementSize a multiple of 16 bytes and, for the 128-byte swizzle, at most 128 bytes.
     *
     * @return the CUtensorMapDataType of {@code dtype}
     */
    static int checkTiled(DType dtype, long address, long[] dims, long[] byteStrides, int[] box, boolean swizzle128) {
        if (dtype == null || dims == null || byteStrides == null || box == null) {
            throw new IllegalArgumentException("tensor map: null dtype, dims, strides or box");
        }
        int dt = switch (dtype) {
            case F16 -> dev.surpass.cuda.ffi.CuDriver.TENSOR_MAP_DATA_TYPE_FLOAT16;
            case BF16 -> dev.surpass.cuda.ffi.CuDriver.TENSOR_MAP_DATA_TYPE_BFLOAT16;
            case F32 -> dev.surpass.cuda.ffi.CuDriver.TENSOR_MAP_DATA_TYPE_FLOAT32;
            default -> throw new IllegalArgumentException("tensor map: unsupported dtype " + dtype);
        };
        int rank = dims.length;
        if (rank < 1 || rank > 5) throw new IllegalArgumentException("tensor map: rank must be 1..5, got " + rank);
        if (byteStrides.length != rank - 1) {
            throw new IllegalArgumentException("tensor map: " + (rank - 1) + " strides expected, got " + byteStrides.length);
        }
        if (box.length != rank) throw new IllegalArgumentException("tensor map: " + rank + " box entries expected, got " + box.length);
        if ((address & 15) != 0) {
            throw new IllegalArgumentException("tensor map: address 0x" + Long.toHexString(address) + " is not 16-byte aligned");
        }
        for (int i = 0; i < rank; i++) {
            if (dims[i] < 1 || dims[i] > (1L << 32)) {
                throw new IllegalArgumentException("tensor map: dim " + i + " = " + dims[i] + " outside [1, 2^32]");
            }
            if (box[i] < 1 || box[i] > 256) throw new IllegalArgumentException("tensor map: box " + i + " = " + box[i] + " outside [1, 256]");
        }
        for (int i = 0; i < rank - 1; i++) {
            if (byteStrides[i] <= 0 || byteStrides[i] % 16 != 0 || byteStrides[i] >= (1L << 40)) {
                throw new IllegalArgumentException("tensor map: stride " + (i + 1) + " = " + byteStrides[i]
                        + " bytes must be a positive multiple of 16 below 2^40");
            }
        }
        long row = (long) box[0] * dtype.byteSize();
        if (row % 16 != 0) throw new IllegalArgumentException("tensor map: inner box row of " + row + " bytes is not a multiple of 16");
        if (swizzle128 && row > 128) {
            throw new IllegalArgumentException("tensor map: inner box row of " + row + " bytes exceeds the 128-byte swizzle span");
        }
        return dt;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorMapArg t && Arrays.equals(bytes, t.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "TensorMapArg[" + BYTES + " bytes]";
    }
}
