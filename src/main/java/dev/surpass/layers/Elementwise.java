package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * Elementwise arithmetic. {@code b} has the shape of {@code a} or a suffix of it (broadcast over
 * the leading dims, like a bias). Same dtype and device for both; the result is new, on that
 * device, in that dtype (computed in fp32).
 */
public final class Elementwise {
    private Elementwise() {}

    /** a + b. */
    public static Tensor add(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("TODO");
    }

    /** a · b. */
    public static Tensor mul(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("TODO");
    }

    /** a · s. */
    public static Tensor scale(Tensor a, float s) {
        throw new UnsupportedOperationException("TODO");
    }
}
