package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/rms_norm.cu}. */
final class CudaRmsNorm {
    private CudaRmsNorm() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("rms_norm", "add_rms_norm");
    }

    /** weight may be null. */
    static void rmsNorm(Tensor x, Tensor weight, Tensor out, long rows, int cols, float eps) {
        if (rows == 0 || cols == 0) return;
        long w = weight == null ? 0L : weight.devicePointer(); // 0 = no scale
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("rms_norm", out.dtype()),
                CudaSoftmax.rowGrid(rows), Dim3.of(CudaSoftmax.THREADS), 0,
                x.devicePointer(), w, out.devicePointer(), rows, cols, eps);
    }

    /** sum = x + res, out = rmsNorm(sum)·weight; weight may be null. */
    static void addRmsNorm(Tensor x, Tensor res, Tensor weight, Tensor sum, Tensor out, long rows, int cols, float eps) {
        if (rows == 0 || cols == 0) return;
        long w = weight == null ? 0L : weight.devicePointer();
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("add_rms_norm", out.dtype()),
                CudaSoftmax.rowGrid(rows), Dim3.of(CudaSoftmax.THREADS), 0,
                x.devicePointer(), res.devicePointer(), w, sum.devicePointer(), out.devicePointer(), rows, cols, eps);
    }
}
