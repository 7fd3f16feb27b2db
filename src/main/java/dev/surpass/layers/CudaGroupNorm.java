package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/layers/group_norm.cu}. */
final class CudaGroupNorm {
    private CudaGroupNorm() {}

    static List<String> kernelNames() {
        return Kernels.perDtype("group_norm");
    }

    /** x, out [n, l, c]; weight and bias [c] or null. */
    static void groupNorm(Tensor x, Tensor weight, Tensor bias, Tensor out, long n, long l, int c, int groups, float eps) {
        if (n == 0 || l == 0 || c == 0) return;
        long w = weight == null ? 0L : weight.devicePointer(); // 0 = no scale
        long b = bias == null ? 0L : bias.devicePointer();     // 0 = no shift
        CudaBackend.of(out).launch(Kernels.FAMILY, Kernels.name("group_norm", out.dtype()),
                CudaSoftmax.rowGrid(n * groups), Dim3.of(CudaSoftmax.THREADS), 0,
                x.devicePointer(), w, b, out.devicePointer(), n, l, c, groups, eps);
    }
}
