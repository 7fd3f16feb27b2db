package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;

/**
 * Argument checks of the scan entries. Every failure is an {@link IllegalArgumentException} whose
 * message starts with the entry, names the argument and the dimension and says what was expected,
 * e.g. {@code "selectiveScan: A's N (dim 1) is 300; N must be in [1, 256]"}.
 */
final class ScanChecks {
    private ScanChecks() {}

    /** Largest state size N (the CUDA kernels keep N floats per channel in shared memory; mamba_ssm's limit too). */
    static final int MAX_N = 256;
    /** Largest conv width W. */
    static final int MAX_W = 4;
    /** Largest dim accepted (int indexing in the kernels, minus headroom for chunk rounding). */
    static final long MAX_DIM = Integer.MAX_VALUE - 4096;

    /** Present, open, floating, of the given rank (the layout named in the message). */
    static void tensor(String op, String name, Tensor t, int rank, String layout) {
        ArgChecks.floatingTensor(op, name, t, rank, layout, MAX_DIM);
    }

    /** Same dtype as {@code ref} (unless {@code dtype} is given: then exactly that) and same device. */
    static void companion(String op, String name, Tensor t, String refName, Tensor ref, DType dtype) {
        if (dtype == null && t.dtype() != ref.dtype()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + " but " + refName + " has "
                    + ref.dtype() + "; convert one with Tensor.to(DType)");
        }
        if (dtype != null && t.dtype() != dtype) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + "; it must be " + dtype
                    + " (convert with Tensor.to(DType." + dtype + "))");
        }
        if (!t.device().sameAs(ref.device())) {
            throw new IllegalArgumentException(op + ": " + name + " is on " + t.device().name() + " but " + refName + " is on "
                    + ref.device().name() + "; move one with Tensor.to(Device)");
        }
    }

    /** Full check of an operand: tensor + companion + exact shape, naming the first differing dim. */
    static void shaped(String op, String name, Tensor t, String refName, Tensor ref, DType dtype, String layout, long... shape) {
        tensor(op, name, t, shape.length, layout);
        companion(op, name, t, refName, ref, dtype);
        for (int i = 0; i < shape.length; i++) {
            if (t.dim(i) != shape[i]) {
                throw new IllegalArgumentException(op + ": " + name + " has shape " + Shapes.toString(t.shape()) + " but must be "
                        + layout + " = " + Shapes.toString(shape) + ": its dim " + i + " is " + t.dim(i) + ", expected " + shape[i]);
            }
        }
    }

    static void stateSize(String op, String name, long n) {
        if (n < 1 || n > MAX_N) {
            throw new IllegalArgumentException(op + ": " + name + "'s N (dim 1) is " + n + "; N must be in [1, " + MAX_N + "]");
        }
    }

    /** B and C: {@code [Bt, N, L]} (one group) or {@code [Bt, G, N, L]}; returns G. */
    static int bc(String op, String name, Tensor t, Tensor u, long batch, long dm, long n, long length) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (t.rank() == 3) {
            shaped(op, name, t, "u", u, null, "[Bt, N, L]", batch, n, length);
            return 1;
        }
        if (t.rank() != 4) {
            throw new IllegalArgumentException(op + ": " + name + " must be [Bt, N, L] or grouped [Bt, G, N, L], got shape "
                    + Shapes.toString(t.shape()));
        }
        long g = t.dim(1);
        if (g < 1 || dm % g != 0) {
            throw new IllegalArgumentException(op + ": " + name + "'s groups G (dim 1) is " + g + "; it must divide Dm = " + dm);
        }
        shaped(op, name, t, "u", u, null, "[Bt, G, N, L]", batch, g, n, length);
        return (int) g;
    }

    /** Like {@link #bc} for one token: {@code [Bt, N]} or {@code [Bt, G, N]}. */
    static int bcToken(String op, String name, Tensor t, Tensor x, long batch, long dm, long n) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (t.rank() == 2) {
            shaped(op, name, t, "x", x, null, "[Bt, N]", batch, n);
            return 1;
        }
        if (t.rank() != 3) {
            throw new IllegalArgumentException(op + ": " + name + " must be [Bt, N] or grouped [Bt, G, N], got shape "
                    + Shapes.toString(t.shape()));
        }
        long g = t.dim(1);
        if (g < 1 || dm % g != 0) {
            throw new IllegalArgumentException(op + ": " + name + "'s groups G (dim 1) is " + g + "; it must divide Dm = " + dm);
        }
        shaped(op, name, t, "x", x, null, "[Bt, G, N]", batch, g, n);
        return (int) g;
    }

    /** cuSeqlens: length ≥ 2, starts at 0, non-decreasing, ends at L. */
    static void cuSeqlens(String op, int[] cu, long length) {
        if (cu == null) throw new IllegalArgumentException(op + ": cuSeqlens is null");
        if (cu.length < 2) {
            throw new IllegalArgumentException(op + ": cuSeqlens must hold nseq + 1 ≥ 2 offsets, got " + cu.length);
        }
        if (cu[0] != 0) throw new IllegalArgumentException(op + ": cuSeqlens[0] must be 0, got " + cu[0]);
        for (int i = 1; i < cu.length; i++) {
            if (cu[i] < cu[i - 1]) {
                throw new IllegalArgumentException(op + ": cuSeqlens must be non-decreasing: cuSeqlens[" + i + "] = " + cu[i]
                        + " < cuSeqlens[" + (i - 1) + "] = " + cu[i - 1]);
            }
        }
        if (cu[cu.length - 1] != length) {
            throw new IllegalArgumentException(op + ": the sequence lengths sum to cuSeqlens[" + (cu.length - 1) + "] = "
                    + cu[cu.length - 1] + " but u's L (dim 2) is " + length);
        }
    }

    /** The CUDA kernels index blocks by (sequence, channel) in grid.x. */
    static void cudaGrid(String op, Tensor u, long rows) {
        if (u.device().isCuda() && rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + rows + " (sequence, channel) rows exceed the CUDA grid's "
                    + Integer.MAX_VALUE);
        }
    }
}
