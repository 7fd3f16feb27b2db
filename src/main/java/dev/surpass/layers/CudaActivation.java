package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/activation.cu}. */
final class CudaActivation {
    private CudaActivation() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("gelu_erf", "gelu_tanh", "silu", "softcap");
    }

    /** op is "gelu_erf", "gelu_tanh" or "silu". */
    static void apply(String op, Tensor x, Tensor out) {
        assert op.equals("gelu_erf") || op.equals("gelu_tanh") || op.equals("silu") : op;
        long n = out.numel();
        if (n == 0) return;
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name(op, out.dtype()),
                Dim3.gridStride(n, CudaElementwise.THREADS, CudaElementwise.MAX_BLOCKS), Dim3.of(CudaElementwise.THREADS), 0,
                x.devicePointer(), out.devicePointer(), n);
    }

    /** cap·tanh(x / cap). */
    static void softcap(Tensor x, Tensor out, float cap) {
        long n = out.numel();
        if (n == 0) return;
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("softcap", out.dtype()),
                Dim3.gridStride(n, CudaElementwise.THREADS, CudaElementwise.MAX_BLOCKS), Dim3.of(CudaElementwise.THREADS), 0,
                x.devicePointer(), out.devicePointer(), n, cap);
    }
}
