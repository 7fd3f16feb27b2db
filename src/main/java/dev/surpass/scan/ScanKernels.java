package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.backend.KernelNames;
import dev.surpass.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Names of the mamba family's kernels: {@code surpass_mamba_<op>_<f32|f16|bf16>} in {@code mamba.fatbin}. */
final class ScanKernels {
    static final String FAMILY = "mamba";

    private ScanKernels() {}

    static String name(String op, DType dtype) {
        return KernelNames.of(FAMILY, op, dtype);
    }

    static List<String> perDtype(String... ops) {
        return KernelNames.perDtype(FAMILY, ops);
    }

    /** Every kernel name the scan launchers use (checked against abi.txt and the fatbin by a test). */
    static List<String> all() {
        List<String> all = new ArrayList<>(CudaSelectiveScan.kernelNames());
        all.addAll(CudaCausalConv1d.kernelNames());
        return all;
    }

    /** A tensor's device address, or 0 (the kernels' "absent") for null. */
    static long ptr(Tensor t) {
        return t == null ? 0L : t.devicePointer();
    }
}
