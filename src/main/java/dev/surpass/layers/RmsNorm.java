package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * RMSNorm over the last axis: {@code x / sqrt(mean(x²) + eps) * weight}, fp32; weight {@code [C]}
 * or null. The result is a new tensor like {@code x}.
 *
 * <p>Errors: {@link IllegalArgumentException} for a null, closed, scalar or non-floating {@code x};
 * a weight of another dtype, device or shape than {@code [C]}; an eps that is not positive and finite.
 */
public final class RmsNorm {
    private RmsNorm() {}

    public static Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        OpChecks.floating("rmsNorm", "x", x);
        OpChecks.rows("rmsNorm", x);
        OpChecks.channel("rmsNorm", "weight", weight, x);
        OpChecks.eps("rmsNorm", eps);
        return OpChecks.withOutput(x, x.dtype(), out -> {
            int cols = (int) x.dim(-1);
            long rows = x.numel() / cols;
            if (x.device().isCpu()) VectorRmsNorm.rmsNorm(x, weight, out, rows, cols, eps, true);
            else CudaRmsNorm.rmsNorm(x, weight, out, rows, cols, eps);
        });
    }

    /**
     * The residual stream of a pre-norm block in one pass: {@code sum = x + residual} (rounded to
     * the dtype) and {@code normed = rmsNorm(sum, weight, eps)}, both new tensors like {@code x}.
     * The same values as {@link Elementwise#add} followed by {@link #rmsNorm}; on CUDA one launch
     * instead of two.
     *
     * @throws IllegalArgumentException as {@link #rmsNorm}, or for a residual of another dtype,
     *     device or shape than {@code x}
     */
    public static Added addRmsNorm(Tensor x, Tensor residual, Tensor weight, float eps) {
        OpChecks.floating("addRmsNorm", "x", x);
        OpChecks.companion("addRmsNorm", "residual", residual, "x", x);
        if (!java.util.Arrays.equals(x.shape(), residual.shape())) {
            throw new IllegalArgumentException("addRmsNorm: residual has shape " + dev.surpass.Shapes.toString(residual.shape())
                    + " but x has " + dev.surpass.Shapes.toString(x.shape()));
        }
        OpChecks.rows("addRmsNorm", x);
        OpChecks.channel("addRmsNorm", "weight", weight, x);
        OpChecks.eps("addRmsNorm", eps);
        if (x.device().isCpu()) {
            Tensor sum = Elementwise.add(x, residual);
            try {
                return new Added(sum, rmsNorm(sum, weight, eps));
            } catch (RuntimeException | Error e) {
                sum.close();
                throw e;
            }
        }
        Tensor sum = x.device().allocate(x.dtype(), x.shape());
        try {
            Tensor normed = OpChecks.withOutput(x, x.dtype(), out -> {
                int cols = (int) x.dim(-1);
                CudaRmsNorm.addRmsNorm(x, residual, weight, sum, out, x.numel() / cols, cols, eps);
            });
            return new Added(sum, normed);
        } catch (RuntimeException | Error e) {
            sum.close();
            throw e;
        }
    }

    /** {@link #addRmsNorm}'s two results; closing closes both. */
    public record Added(Tensor sum, Tensor normed) implements AutoCloseable {
        @Override
        public void close() {
            sum.close();
            normed.close();
        }
    }
}
