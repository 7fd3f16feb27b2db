package dev.surpass.io;

import dev.surpass.DType;
import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param name      the tensor's name (a state-dict key such as {@code "h.0.attn.c_attn.weight"})
 * @param dtypeName the dtype as the header spells it ({@code "F32"}, {@code "BF16"}, {@code "F8_E4M3"}, …)
 * @param dtype     the surpass dtype, or null when surpass has none for {@code dtypeName} (the file
 *                  is still valid and the raw bytes are readable)
 * @param shape     the dims, outermost first; {@code []} for a scalar (a copy is kept and returned)
 * @param begin     offset of the first byte, relative to the start of the data section
 * @param end       offset one past the last byte, relative to the start of the data section
 */
public record TensorInfo(String name, String dtypeName, DType dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtypeName, "dtypeName");
        Objects.requireNonNull(shape, "shape");
        shape = shape.clone();
        if (begin < 0 || end < begin) throw new IllegalArgumentException("bad byte range [" + begin + ", " + end + ")");
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Number of elements (1 for a scalar, 0 when a dim is 0). Validated at open: never overflows. */
    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Bytes in the data section ({@code end - begin}). */
    public long byteSize() {
        return end - begin;
    }

    /** True when surpass can make a {@link dev.surpass.Tensor} of it. */
    public boolean isSupported() {
        return dtype != null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtypeName.equals(t.dtypeName) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtypeName, Arrays.hashCode(shape), begin, end);
    }

    /** {@code "name: BF16[768, 2304] @ [0, 3538944)"}. */
    @Override
    public String toString() {
        return SafeTensors.printable(name) + ": " + dtypeName + Arrays.toString(shape) + " @ [" + begin + ", " + end + ")";
    }
}
