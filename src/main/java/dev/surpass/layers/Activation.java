package dev.surpass.layers;

import dev.surpass.Tensor;

/** Activations: GELU (exact erf form and tanh approximation) and SiLU, computed in fp32. */
public final class Activation {
    private Activation() {}

    /** Which GELU: {@code ERF} is x·Φ(x) (BERT, DiT's MLP uses TANH); {@code TANH} is GPT-2's approximation. */
    public enum Gelu { ERF, TANH }

    public static Tensor gelu(Tensor x, Gelu approx) {
        throw new UnsupportedOperationException("TODO");
    }

    /** Exact GELU (erf). */
    public static Tensor gelu(Tensor x) {
        return gelu(x, Gelu.ERF);
    }

    /** x · sigmoid(x). */
    public static Tensor silu(Tensor x) {
        throw new UnsupportedOperationException("TODO");
    }
}
