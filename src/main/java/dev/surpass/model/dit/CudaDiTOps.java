package dev.surpass.model.dit;

import dev.surpass.Tensor;
import dev.surpass.backend.KernelNames;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/** Launches {@code kernels/dit/*.cu}. Trusts its caller: {@link DiTOps} checked everything. */
final class CudaDiTOps {
    private CudaDiTOps() {}

    static final String FAMILY = "dit";
    static final int THREADS = 256;
    static final int MAX_BLOCKS = 65535 * 32;

    static String name(String op, Tensor t) {
        return KernelNames.of(FAMILY, op, t.dtype());
    }

    /** Every kernel the launchers use (checked against abi.txt and the fatbin by a test). */
    static List<String> kernelNames() {
        return KernelNames.perDtype(FAMILY, "modulate", "gate_residual", "patchify", "unpatchify");
    }

    private static Dim3 rowGrid(long rows) {
        return Dim3.of((int) Math.min(rows, Integer.MAX_VALUE));
    }

    static void modulate(Tensor x, Tensor mod, Tensor out, long rows, int cols, int tokens, int stride, int shiftOff, int scaleOff, float eps) {
        CudaBackend.of(out).launch(FAMILY, name("modulate", out), rowGrid(rows), Dim3.of(THREADS), 0,
                x.devicePointer(), mod.devicePointer(), out.devicePointer(), rows, cols, tokens, stride, shiftOff, scaleOff, eps);
    }

    static void gateResidual(Tensor x, Tensor y, Tensor mod, Tensor out, long rows, int cols, int tokens, int stride, int gateOff) {
        CudaBackend.of(out).launch(FAMILY, name("gate_residual", out), rowGrid(rows), Dim3.of(THREADS), 0,
                x.devicePointer(), y.devicePointer(), mod.devicePointer(), out.devicePointer(), rows, cols, tokens, stride, gateOff);
    }

    static void patchify(Tensor x, Tensor out, long total, int c, int h, int w, int p) {
        CudaBackend.of(out).launch(FAMILY, name("patchify", out), Dim3.gridStride(total, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                x.devicePointer(), out.devicePointer(), total, c, h, w, p);
    }

    static void unpatchify(Tensor x, Tensor out, long total, int c, int h, int w, int p) {
        CudaBackend.of(out).launch(FAMILY, name("unpatchify", out), Dim3.gridStride(total, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                x.devicePointer(), out.devicePointer(), total, c, h, w, p);
    }
}
