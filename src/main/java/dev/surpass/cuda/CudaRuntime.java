package dev.surpass.cuda;

import dev.surpass.backend.Backend;

/**
 * Process-wide entry to CUDA: finds the driver, counts GPUs, opens backends. Never throws
 * {@link UnsatisfiedLinkError}: a host without a driver reports zero devices and a reason.
 * (STUB — the CUDA helper replaces this.)
 */
public final class CudaRuntime {
    private CudaRuntime() {}

    /** GPUs visible to the driver; 0 when there is no driver or no device. */
    public static int deviceCount() {
        return 0;
    }

    /** Why CUDA is unusable (null when {@link #deviceCount()} &gt; 0). */
    public static String unavailableReason() {
        return "libcuda.so.1 not found";
    }

    /** Opens a backend on GPU {@code ordinal} (retains its primary context). */
    public static Backend openBackend(int ordinal) {
        throw new IllegalStateException("no CUDA device: " + unavailableReason());
    }

    /** Null when the kernel fatbins load on this backend's GPU, else why not. */
    public static String kernelProblem(Backend backend) {
        return "kernels not built";
    }
}
