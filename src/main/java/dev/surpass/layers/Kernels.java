package dev.surpass.layers;

import dev.surpass.DType;
import java.util.ArrayList;
import java.util.List;

/** Names of the layers family's kernels: {@code surpass_layers_<op>_<f32|f16|bf16>}. */
final class Kernels {
    static final String FAMILY = "layers";

    private Kernels() {}

    static String name(String op, DType dtype) {
        return "surpass_layers_" + op + "_" + suffix(dtype);
    }

    static String suffix(DType dtype) {
        return switch (dtype) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
            default -> throw new IllegalArgumentException("no layers kernel for " + dtype);
        };
    }

    static List<String> perDtype(String... ops) {
        List<String> names = new ArrayList<>();
        for (String op : ops) {
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) names.add(name(op, t));
        }
        return names;
    }

    /** Every kernel name the layers launchers use (checked against the fatbin by a test). */
    static List<String> all() {
        List<String> all = new ArrayList<>();
        all.addAll(CudaElementwise.kernelNames());
        all.addAll(CudaActivation.kernelNames());
        all.addAll(CudaSoftmax.kernelNames());
        all.addAll(CudaLayerNorm.kernelNames());
        all.addAll(CudaRmsNorm.kernelNames());
        return all;
    }
}
