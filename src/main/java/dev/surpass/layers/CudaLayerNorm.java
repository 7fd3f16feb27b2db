package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/layer_norm.cu}. */
final class CudaLayerNorm {
    private CudaLayerNorm() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("layer_norm");
    }

    /** weight and bias may be null. */
    static void layerNorm(Tensor x, Tensor weight, Tensor bias, Tensor out, long rows, int cols, float eps) {
        if (rows == 0 || cols == 0) return;
        long w = weight == null ? 0L : weight.devicePointer(); // 0 = no scale
        long b = bias == null ? 0L : bias.devicePointer();     // 0 = no shift
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("layer_norm", out.dtype()),
                CudaSoftmax.rowGrid(rows), Dim3.of(CudaSoftmax.THREADS), 0,
                x.devicePointer(), w, b, out.devicePointer(), rows, cols, eps);
    }
}
