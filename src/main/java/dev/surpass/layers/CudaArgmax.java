package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/argmax.cu}. */
final class CudaArgmax {
    private CudaArgmax() {}

    /** One block per row and a vocabulary-sized row each: the widest block (a decode step has few rows). */
    static final int THREADS = 1024;

    static List<String> kernelNames() {
        return Kernels.perDtype("argmax");
    }

    static void argmax(Tensor x, Tensor out, long rows, int cols, long ld) {
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("argmax", x.dtype()), CudaSoftmax.rowGrid(rows), Dim3.of(THREADS), 0,
                x.devicePointer(), out.devicePointer(), rows, cols, ld);
    }
}
