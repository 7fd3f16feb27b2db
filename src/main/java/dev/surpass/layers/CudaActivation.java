package dev.surpass.layers;

import dev.surpass.Tensor;
import java.util.List;

/** Launches {@code kernels/layers/activation.cu}. */
final class CudaActivation {
    private CudaActivation() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("gelu_erf", "gelu_tanh", "silu");
    }

    /** op is "gelu_erf", "gelu_tanh" or "silu". */
    static void apply(String op, Tensor x, Tensor out) {
        throw new UnsupportedOperationException("CUDA launcher not yet implemented");
    }
}
