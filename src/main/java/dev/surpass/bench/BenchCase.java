package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import java.util.function.Function;

/**
 * One op at one size: what it moves and computes, and how to set it up on a device.
 *
 * @param op base op name ("add", "matmul", …)
 * @param shape the shape(s) as text
 * @param dtype element type of inputs and output
 * @param bytes bytes the op must read plus write (the memory-bound roofline)
 * @param flops floating-point operations (0 for memory-bound ops, which are reported in GB/s)
 * @param setup allocates the inputs on a device
 */
public record BenchCase(String op, String shape, DType dtype, long bytes, double flops, Function<Device, Workload> setup) {
    /** True when the case is judged by GFLOP/s (matmul) rather than GB/s. */
    public boolean computeBound() {
        return flops > 0;
    }
}
