package dev.surpass.scan;

import static dev.surpass.scan.ScanKernels.ptr;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/mamba/causal_conv1d.cu}: 1-D grid-stride kernels, block 256. */
final class CudaCausalConv1d {
    private CudaCausalConv1d() {}

    static final int THREADS = 256;
    static final int MAX_BLOCKS = 65535 * 32;

    static List<String> kernelNames() {
        return ScanKernels.perDtype("causal_conv1d", "causal_conv1d_update");
    }

    /** x, out [rows, len]; init (or null), fin [rows, W-1] F32 (init must not alias fin). */
    static void conv(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor init, Tensor out, Tensor fin, long rows, int dm,
                     int len, int width) {
        long items = rows * ((long) len + width - 1);
        if (items == 0) return;
        CudaBackend.of(x).launch(ScanKernels.FAMILY, ScanKernels.name("causal_conv1d", x.dtype()),
                Dim3.gridStride(items, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                x.devicePointer(), w.devicePointer(), ptr(bias), ptr(init), out.devicePointer(), ptr(fin),
                rows, dm, len, width, silu ? 1 : 0);
    }

    /** state [rows, W-1] F32 in place; x, out [rows]. */
    static void update(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out, long rows, int dm, int width) {
        if (rows == 0) return;
        CudaBackend.of(x).launch(ScanKernels.FAMILY, ScanKernels.name("causal_conv1d_update", x.dtype()),
                Dim3.gridStride(rows, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                ptr(state), x.devicePointer(), w.devicePointer(), ptr(bias), out.devicePointer(), rows, dm, width, silu ? 1 : 0);
    }
}
