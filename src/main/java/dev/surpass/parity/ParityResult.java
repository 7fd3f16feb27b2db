package dev.surpass.parity;

/**
 * How far an op's output is from its float64 reference: relative L2 error
 * {@code ||got - ref|| / ||ref||}, the largest absolute error, and the tolerance for the dtype.
 * A NaN or infinity where the reference is finite fails.
 */
public record ParityResult(double relL2, double maxAbs, double tolerance, boolean nonFinite) {
    public boolean passed() {
        return !nonFinite && relL2 <= tolerance;
    }
}
