package dev.surpass.layers;

import dev.surpass.Tensor;

/** Softmax over the last axis, max-subtracted, fp32 accumulation. */
public final class Softmax {
    private Softmax() {}

    public static Tensor softmax(Tensor x) {
        throw new UnsupportedOperationException("TODO");
    }
}
