package dev.surpass.scan;

import static dev.surpass.scan.ScanKernels.ptr;

import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.List;

/**
 * Launches {@code kernels/mamba/selective_scan.cu} and {@code selective_state_update.cu}. The entry
 * validated and allocated everything; here only the launch shape is computed.
 */
final class CudaSelectiveScan {
    private CudaSelectiveScan() {}

    /** Threads per scan block (the kernel's kThreads; it holds 8 tokens per thread per chunk). */
    static final int SCAN_THREADS = 128;
    /** Threads per decode block: 4 warps, one (batch, channel) row each. */
    static final int UPDATE_THREADS = 128, UPDATE_ROWS = UPDATE_THREADS / 32;

    static List<String> kernelNames() {
        return ScanKernels.perDtype("selective_scan", "selective_state_update");
    }

    /** One block per (sequence, channel); cuSeqlens (if any) uploaded for the launch. */
    static void scan(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor dSkip, Tensor z, Tensor deltaBias,
                     boolean softplus, Tensor init, Tensor y, Tensor last, ScanDims dims) {
        long blocks = (long) dims.sequences() * dims.dm();
        if (blocks == 0) return;
        assert blocks <= Integer.MAX_VALUE;
        try (Scope sc = Scope.open()) {
            long cu = dims.cu() == null ? 0L : sc.track(u.device().upload(dims.cu(), dims.cu().length)).devicePointer();
            // The upload above is synchronous, and the free of the offsets at scope close is stream-ordered after the launch.
            CudaBackend.of(u).launch(ScanKernels.FAMILY, ScanKernels.name("selective_scan", u.dtype()),
                    Dim3.of((int) blocks), Dim3.of(SCAN_THREADS), 0,
                    u.devicePointer(), delta.devicePointer(), a.devicePointer(), b.devicePointer(), c.devicePointer(),
                    ptr(dSkip), ptr(z), ptr(deltaBias), ptr(init), y.devicePointer(), last.devicePointer(), cu,
                    dims.sequences(), dims.dm(), dims.n(), dims.groups(), dims.length(), softplus ? 1 : 0);
        }
    }

    /** One warp per (batch, channel) row; the state is updated in place. */
    static void stateUpdate(Tensor state, Tensor x, Tensor dt, Tensor a, Tensor b, Tensor c, Tensor dSkip, Tensor z,
                            Tensor deltaBias, boolean softplus, Tensor out, ScanDims dims) {
        long rows = (long) dims.batch() * dims.dm();
        if (rows == 0) return;
        long blocks = (rows + UPDATE_ROWS - 1) / UPDATE_ROWS;
        CudaBackend.of(x).launch(ScanKernels.FAMILY, ScanKernels.name("selective_state_update", x.dtype()),
                Dim3.of((int) blocks), Dim3.of(UPDATE_THREADS), 0,
                state.devicePointer(), x.devicePointer(), dt.devicePointer(), a.devicePointer(), b.devicePointer(),
                c.devicePointer(), ptr(dSkip), ptr(z), ptr(deltaBias), out.devicePointer(),
                dims.batch(), dims.dm(), dims.n(), dims.groups(), softplus ? 1 : 0);
    }
}
