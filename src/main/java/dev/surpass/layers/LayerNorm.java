package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * LayerNorm over the last axis: {@code (x - mean) / sqrt(var + eps) * weight + bias}, biased
 * variance, fp32 statistics. {@code weight} and {@code bias} are {@code [C]} or null (no affine).
 */
public final class LayerNorm {
    private LayerNorm() {}

    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        throw new UnsupportedOperationException("TODO");
    }
}
