package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * LayerNorm over the last axis: {@code (x - mean) / sqrt(var + eps) * weight + bias}, biased
 * variance, fp32 statistics. {@code weight} and {@code bias} are {@code [C]} or null (no affine).
 * The result is a new tensor like {@code x}.
 *
 * <p>Errors: {@link IllegalArgumentException} for a null, closed, scalar or non-floating {@code x};
 * a weight or bias of another dtype, device or shape than {@code [C]} (C = x's last dim); an eps
 * that is not positive and finite.
 */
public final class LayerNorm {
    private LayerNorm() {}

    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        OpChecks.floating("layerNorm", "x", x);
        OpChecks.rows("layerNorm", x);
        OpChecks.channel("layerNorm", "weight", weight, x);
        OpChecks.channel("layerNorm", "bias", bias, x);
        OpChecks.eps("layerNorm", eps);
        return OpChecks.withOutput(x, x.dtype(), out -> {
            int cols = (int) x.dim(-1);
            long rows = x.numel() / cols;
            if (x.device().isCpu()) VectorLayerNorm.layerNorm(x, weight, bias, out, rows, cols, eps, true);
            else CudaLayerNorm.layerNorm(x, weight, bias, out, rows, cols, eps);
        });
    }
}
