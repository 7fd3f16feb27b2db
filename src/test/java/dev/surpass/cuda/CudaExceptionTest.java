package dev.surpass.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Message format and status names, without a GPU. */
class CudaExceptionTest {
    @Test
    void messageNamesCallStatusAndDetail() {
        CudaException e = new CudaException("cuMemAllocAsync", 2, "CUDA_ERROR_OUT_OF_MEMORY", "cannot allocate 8 bytes");
        assertEquals("cuMemAllocAsync failed: CUDA_ERROR_OUT_OF_MEMORY (2): cannot allocate 8 bytes", e.getMessage());
        assertEquals("cuMemAllocAsync", e.call());
        assertEquals(2, e.status());
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.statusName());
    }

    @Test
    void noDetailNoTrailingColon() {
        assertEquals("cuInit failed: CUDA_ERROR_NO_DEVICE (100)",
                new CudaException("cuInit", 100, "CUDA_ERROR_NO_DEVICE", null).getMessage());
        assertEquals("cuInit failed: CUDA_ERROR_NO_DEVICE (100)",
                new CudaException("cuInit", 100, "CUDA_ERROR_NO_DEVICE", "").getMessage());
    }

    @Test
    void driverNamesFallBackToTheTable() {
        // Without a driver (or for a code it does not know) errorName uses CudaStatus's table.
        assertEquals("CUDA_SUCCESS", CudaRuntime.errorName(null, 0));
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", CudaRuntime.errorName(null, 2));
        assertEquals("CUDA_ERROR_STUB_LIBRARY", CudaRuntime.errorName(null, 34));
        assertEquals("CUDA_ERROR_NO_DEVICE", CudaRuntime.errorName(null, 100));
        assertEquals("CUDA_ERROR_NO_BINARY_FOR_GPU", CudaRuntime.errorName(null, 209));
        assertEquals("CUDA_ERROR_NOT_FOUND", CudaRuntime.errorName(null, 500));
        assertEquals("CUDA_ERROR_ILLEGAL_ADDRESS", CudaRuntime.errorName(null, 700));
        assertEquals("CUDA_ERROR_UNKNOWN", CudaRuntime.errorName(null, 999));
        assertEquals("CUDA_ERROR_12345", CudaRuntime.errorName(null, 12345));
    }

    @Test
    void cublasNamesFallBackToTheTable() {
        assertEquals("CUBLAS_STATUS_SUCCESS", CudaRuntime.cublasStatusName(null, 0));
        assertEquals("CUBLAS_STATUS_INVALID_VALUE", CudaRuntime.cublasStatusName(null, 7));
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", CudaRuntime.cublasStatusName(null, 15));
        assertEquals("CUBLAS_STATUS_99", CudaRuntime.cublasStatusName(null, 99));
    }

    @Test
    void checkThrowsOnlyOnFailure() {
        CudaRuntime.check(null, "cuCtxSynchronize", 0, null);
        CudaException e = assertThrows(CudaException.class, () -> CudaRuntime.check(null, "cuLaunchKernel", 719, "k"));
        assertEquals("cuLaunchKernel failed: CUDA_ERROR_LAUNCH_FAILED (719): k", e.getMessage());
        CudaException b = assertThrows(CudaException.class, () -> CudaRuntime.checkBlas(null, "cublasGemmEx", 13, null));
        assertEquals("cublasGemmEx failed: CUBLAS_STATUS_EXECUTION_FAILED (13)", b.getMessage());
    }

    @Test
    void humanSizes() {
        assertEquals("8 B", CudaBackend.human(8));
        assertEquals("1.0 PiB", CudaBackend.human(1L << 50));
        assertEquals("1.5 GiB", CudaBackend.human(3L << 29));
    }
}
