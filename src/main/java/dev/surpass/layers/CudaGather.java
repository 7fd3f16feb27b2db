package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/gather.cu}. */
final class CudaGather {
    private CudaGather() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("gather");
    }

    static void gather(Tensor table, Tensor ids, Tensor out, long n, long cols, long tableRows) {
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("gather", out.dtype()), CudaSoftmax.rowGrid(n), Dim3.of(CudaSoftmax.THREADS), 0,
                table.devicePointer(), ids.devicePointer(), out.devicePointer(), n, cols, tableRows);
    }
}
