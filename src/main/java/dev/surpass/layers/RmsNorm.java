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
}
