package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * Softmax over the last axis, max-subtracted, fp32 accumulation. The result is a new tensor like
 * {@code x}.
 *
 * <p>Edge rows (every backend): a row of only −∞ gives zeros (PyTorch gives NaN; zeros let a fully
 * masked attention row contribute nothing); a row holding +∞ gives 1/k at each of its k +∞ entries
 * and 0 elsewhere; a row holding NaN is all NaN. See {@link ReferenceSoftmax}.
 *
 * <p>Errors: {@link IllegalArgumentException} for a null, closed, scalar or non-floating {@code x}.
 */
public final class Softmax {
    private Softmax() {}

    public static Tensor softmax(Tensor x) {
        OpChecks.floating("softmax", "x", x);
        OpChecks.rows("softmax", x);
        return OpChecks.withOutput(x, x.dtype(), out -> {
            int cols = (int) x.dim(-1);
            long rows = x.numel() / cols;
            if (x.device().isCpu()) VectorSoftmax.softmax(x, out, rows, cols, true);
            else CudaSoftmax.softmax(x, out, rows, cols);
        });
    }
}
