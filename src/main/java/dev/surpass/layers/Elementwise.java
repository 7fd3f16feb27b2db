package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * Elementwise arithmetic. {@code b} has the shape of {@code a} or a suffix of it (broadcast over
 * the leading dims, like a bias). Same dtype and device for both; the result is new, on that
 * device, in that dtype (computed in fp32).
 *
 * <p>Errors: {@link IllegalArgumentException} for a null or closed operand, a non-floating dtype,
 * mixed dtypes or devices, or a {@code b} that is not a suffix of {@code a}'s shape.
 */
public final class Elementwise {
    private Elementwise() {}

    /** a + b. */
    public static Tensor add(Tensor a, Tensor b) {
        return binary("add", a, b);
    }

    /** a · b. */
    public static Tensor mul(Tensor a, Tensor b) {
        return binary("mul", a, b);
    }

    /** a · s. */
    public static Tensor scale(Tensor a, float s) {
        OpChecks.floating("scale", "a", a);
        return OpChecks.withOutput(a, a.dtype(), out -> {
            if (a.device().isCpu()) VectorElementwise.scale(a, s, out, true);
            else CudaElementwise.scale(a, s, out);
        });
    }

    private static Tensor binary(String op, Tensor a, Tensor b) {
        OpChecks.floating(op, "a", a);
        OpChecks.companion(op, "b", b, "a", a);
        OpChecks.suffix(op, a, b);
        return OpChecks.withOutput(a, a.dtype(), out -> {
            if (a.device().isCpu()) VectorElementwise.binary(op.equals("add"), a, b, out, true);
            else CudaElementwise.binary(op, a, b, out);
        });
    }
}
