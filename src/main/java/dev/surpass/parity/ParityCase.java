package dev.surpass.parity;

import dev.surpass.DType;
import dev.surpass.Device;

/**
 * One op at one shape and dtype, checked against its float64 reference on a device. Shared by the
 * parity tests and {@code surpass parity}, so both check exactly the same things.
 */
public interface ParityCase {
    /** Op base name, e.g. "layer_norm". */
    String op();

    /** The shape(s) as text, e.g. "[13, 65]" or "[3,64]x[64,65]". */
    String shape();

    /** The dtype of the inputs and output. */
    DType dtype();

    /**
     * Runs the op on {@code device} on random inputs drawn from {@code seed} (never all zeros; the
     * output is poisoned first where the op writes into a given tensor) and compares with the
     * float64 reference. Frees everything it allocates.
     */
    ParityResult run(Device device, long seed);

    /**
     * Why this case cannot run on {@code device} yet (e.g. its CUDA kernel has not landed), or null
     * when it can. Such cases are reported as skipped, never silently dropped.
     */
    default String unsupportedOn(Device device) {
        return null;
    }
}
