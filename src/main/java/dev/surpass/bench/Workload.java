package dev.surpass.bench;

import dev.surpass.Tensor;

/**
 * One benchmarked call with its inputs already on the device. {@link #run()} makes the op's output
 * (the caller closes it); {@link #close()} frees the inputs.
 */
public interface Workload extends AutoCloseable {
    Tensor run();

    @Override
    void close();
}
