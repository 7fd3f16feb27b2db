package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;
import java.util.Arrays;

/**
 * The index of each row's largest entry over the last axis: greedy decoding without copying the
 * logits to the host. The rule is the sequential one ({@code best = 0}, then {@code best = c}
 * whenever {@code x[c] > x[best]}): the first maximum wins, NaN entries are never picked, and a
 * row whose entry 0 is NaN gives 0. The same on every backend.
 */
public final class Argmax {
    private Argmax() {}

    /**
     * {@code x [..., C]} (floating, {@code C ≥ 1}) → I32 {@code [...]} (the leading dims; a 1-D x
     * gives shape {@code [1]}).
     *
     * @throws IllegalArgumentException for a null, closed, scalar or non-floating x, or an empty last dim
     */
    public static Tensor rows(Tensor x) {
        OpChecks.floating("argmax", "x", x);
        OpChecks.rows("argmax", x);
        return rows(x, (int) x.dim(-1));
    }

    /**
     * Like {@link #rows(Tensor)} over the first {@code cols} entries of each row only: a padded
     * vocabulary's logits searched over the real vocabulary.
     *
     * @throws IllegalArgumentException as {@link #rows(Tensor)}, or when {@code cols} is not in
     *     {@code [1, x.dim(-1)]}
     */
    public static Tensor rows(Tensor x, int cols) {
        OpChecks.floating("argmax", "x", x);
        OpChecks.rows("argmax", x);
        long ld = x.dim(-1);
        if (cols < 1 || cols > ld) {
            throw new IllegalArgumentException("argmax: cols is " + cols + "; expected 1 <= cols <= x's last dim " + ld);
        }
        long[] shape = x.rank() == 1 ? new long[] {1} : Arrays.copyOf(x.shape(), x.rank() - 1);
        long rows = x.numel() / ld;
        if (x.device().isCpu() && x.numel() > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("argmax: x has " + x.numel() + " elements; the CPU path takes at most " + (Integer.MAX_VALUE - 64));
        }
        return ArgChecks.withOutput(x, DType.I32, shape, out -> {
            if (x.device().isCpu()) {
                float[] v = x.toFloatArray();
                int[] best = new int[(int) rows];
                for (int r = 0; r < rows; r++) best[r] = first(v, (int) (r * ld), cols);
                out.copyFrom(java.lang.foreign.MemorySegment.ofArray(best));
            } else {
                CudaArgmax.argmax(x, out, rows, cols, ld);
            }
        });
    }

    /** The sequential rule over {@code v[off, off + n)}. */
    public static int first(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }
}
