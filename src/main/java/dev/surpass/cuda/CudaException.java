package dev.surpass.cuda;

/**
 * A CUDA driver or cuBLAS call failed. The message names the call and the status (e.g.
 * {@code cuMemAllocAsync failed: CUDA_ERROR_OUT_OF_MEMORY (2)}).
 */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int status;
    private final String statusName;

    public CudaException(String call, int status, String statusName, String detail) {
        super(call + " failed: " + statusName + " (" + status + ")" + (detail == null || detail.isEmpty() ? "" : ": " + detail));
        this.call = call;
        this.status = status;
        this.statusName = statusName;
    }

    /** The failing call, e.g. "cuLaunchKernel". */
    public String call() {
        return call;
    }

    /** The numeric CUresult or cublasStatus_t. */
    public int status() {
        return status;
    }

    /** The status's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY". */
    public String statusName() {
        return statusName;
    }
}
