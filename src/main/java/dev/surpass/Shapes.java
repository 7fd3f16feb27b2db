package dev.surpass;

import java.util.Arrays;

/** Shape arithmetic and validation shared by tensors and ops. */
public final class Shapes {
    private Shapes() {}

    /** Number of elements; throws {@link IllegalArgumentException} on a negative dim or overflow. */
    public static long numel(long... shape) {
        if (shape == null) throw new IllegalArgumentException("shape is null");
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            long d = shape[i];
            if (d < 0) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + ": dim " + i + " is negative (" + d + ")");
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^63 elements");
            }
        }
        return n;
    }

    /** Bytes for {@code shape} of {@code dtype}; throws on overflow. */
    public static long byteSize(DType dtype, long... shape) {
        long n = numel(shape);
        try {
            return Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of " + dtype + " overflows a byte count");
        }
    }

    /** The shape widened from ints. */
    public static long[] of(int... dims) {
        long[] s = new long[dims.length];
        for (int i = 0; i < dims.length; i++) s[i] = dims[i];
        return s;
    }

    /** "[2, 3, 4]". */
    public static String toString(long... shape) {
        return Arrays.toString(shape);
    }

    /** Product of dims {@code [from, to)}. */
    public static long product(long[] shape, int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) n *= shape[i];
        return n;
    }
}
