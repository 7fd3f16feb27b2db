package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.backend.KernelNames;
import java.util.ArrayList;
import java.util.List;

/** Names of the layers family's kernels: {@code surpass_layers_<op>_<f32|f16|bf16>}. */
final class Kernels {
    static final String FAMILY = "layers";

    private Kernels() {}

    static String name(String op, DType dtype) {
        return KernelNames.of(FAMILY, op, dtype);
    }

    static List<String> perDtype(String... ops) {
        return KernelNames.perDtype(FAMILY, ops);
    }

    /** Every kernel name the layers launchers use (checked against the fatbin by a test). */
    static List<String> all() {
        List<String> all = new ArrayList<>();
        all.addAll(CudaElementwise.kernelNames());
        all.addAll(CudaActivation.kernelNames());
        all.addAll(CudaSoftmax.kernelNames());
        all.addAll(CudaLayerNorm.kernelNames());
        all.addAll(CudaRmsNorm.kernelNames());
        all.addAll(CudaGroupNorm.kernelNames());
        all.addAll(CudaGatherScatter.kernelNames());
        all.addAll(CudaArgmax.kernelNames());
        return all;
    }
}
