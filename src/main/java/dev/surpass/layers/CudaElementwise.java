package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/elementwise.cu}. Trusts its caller: shapes checked by {@link Elementwise}. */
final class CudaElementwise {
    private CudaElementwise() {}

    /** Every kernel this launcher may launch. */
    static List<String> kernelNames() {
        return Kernels.perDtype("add", "mul", "scale");
    }

    /** Threads per block of the 1-D grid-stride kernels. */
    static final int THREADS = 256;
    /** Cap on the grid: enough blocks to fill any GPU; the kernels loop over the rest. */
    static final int MAX_BLOCKS = 65535 * 32;

    /** out[i] = a[i] op b[i % b.numel()], op "add" or "mul". */
    static void binary(String op, Tensor a, Tensor b, Tensor out) {
        assert op.equals("add") || op.equals("mul") : op;
        long n = out.numel();
        if (n == 0) return;
        long bn = b.numel();
        if (bn == 0) throw new IllegalArgumentException(op + ": b " + b.describe() + " is empty but a " + a.describe() + " is not");
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name(op, out.dtype()),
                Dim3.gridStride(n, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                a.devicePointer(), b.devicePointer(), out.devicePointer(), n, bn);
    }

    /** out[i] = a[i] * s. */
    static void scale(Tensor a, float s, Tensor out) {
        long n = out.numel();
        if (n == 0) return;
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("scale", out.dtype()),
                Dim3.gridStride(n, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                a.devicePointer(), out.devicePointer(), s, n);
    }
}
