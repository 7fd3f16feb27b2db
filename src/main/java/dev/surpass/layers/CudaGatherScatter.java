package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/**
 * Launches {@code kernels/layers/gather.cu} and {@code kernels/layers/scatter.cu}: one launch for
 * both (the row grid and block of {@link CudaSoftmax}, the argument list {@code (a, ids, b, n, cols,
 * rows)}), one kernel copying table rows out, the other writing rows into a table.
 */
final class CudaGatherScatter {
    private CudaGatherScatter() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("gather", "scatter");
    }

    /** {@code out[i] = table[ids[i]]} for i < n, rows of {@code cols} elements; the table has {@code tableRows}. */
    static void gather(Tensor table, Tensor ids, Tensor out, long n, long cols, long tableRows) {
        launch("gather", table, ids, out, n, cols, tableRows);
    }

    /** {@code dst[ids[i]] = src[i]} for i < n, rows of {@code cols} elements; dst has {@code dstRows}. */
    static void scatter(Tensor src, Tensor ids, Tensor dst, long n, long cols, long dstRows) {
        launch("scatter", src, ids, dst, n, cols, dstRows);
    }

    /** Kernel {@code op} for {@code b}'s dtype on {@code b}'s device, with (a, ids, b, n, cols, rows). */
    private static void launch(String op, Tensor a, Tensor ids, Tensor b, long n, long cols, long rows) {
        CudaBackend.of(b).launch(Kernels.FAMILY, Kernels.name(op, b.dtype()), CudaSoftmax.rowGrid(n), Dim3.of(CudaSoftmax.THREADS), 0,
                a.devicePointer(), ids.devicePointer(), b.devicePointer(), n, cols, rows);
    }
}
