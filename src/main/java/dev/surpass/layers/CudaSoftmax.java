package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/softmax.cu}. */
final class CudaSoftmax {
    private CudaSoftmax() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("softmax");
    }

    /** Threads per block of the row kernels (softmax, layer norm, RMS norm): one block per row. */
    static final int THREADS = 256;

    static void softmax(Tensor x, Tensor out, long rows, int cols) {
        if (rows == 0 || cols == 0) return;
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("softmax", out.dtype()),
                rowGrid(rows), Dim3.of(THREADS), 0,
                x.devicePointer(), out.devicePointer(), rows, cols);
    }

    /** One block per row; the row kernels loop over rows beyond the grid, so the grid is capped at 2^31-1. */
    static Dim3 rowGrid(long rows) {
        if (rows < 0) throw new IllegalArgumentException("rows must be >= 0, got " + rows);
        return Dim3.of((int) Math.min(rows, Integer.MAX_VALUE));
    }
}
