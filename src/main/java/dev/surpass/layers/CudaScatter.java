package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/scatter.cu}. */
final class CudaScatter {
    private CudaScatter() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("scatter");
    }

    static void scatter(Tensor src, Tensor ids, Tensor dst, long n, long cols, long dstRows) {
        CudaBackend.of(dst).launch(Kernels.FAMILY, Kernels.name("scatter", dst.dtype()), CudaSoftmax.rowGrid(n), Dim3.of(CudaSoftmax.THREADS), 0,
                src.devicePointer(), ids.devicePointer(), dst.devicePointer(), n, cols, dstRows);
    }
}
