package dev.surpass.layers;

import dev.surpass.Tensor;

/** RMSNorm over the last axis: {@code x / sqrt(mean(x²) + eps) * weight}, fp32; weight {@code [C]} or null. */
public final class RmsNorm {
    private RmsNorm() {}

    public static Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        throw new UnsupportedOperationException("TODO");
    }
}
