package dev.surpass.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.Device;
import dev.surpass.backend.CpuBackend;
import org.junit.jupiter.api.Test;

/** What a host without a usable CUDA driver sees: zero devices, a reason, the CPU. */
class CudaRuntimeNoGpuTest {
    private static void assumeNoGpu() {
        assumeTrue(CudaRuntime.deviceCount() == 0, "this host has a CUDA device; the no-GPU checks do not apply");
    }

    @Test
    void zeroDevicesWithAReason() {
        assumeNoGpu();
        assertEquals(0, CudaRuntime.deviceCount());
        assertEquals(0, Device.cudaDeviceCount());
        String reason = CudaRuntime.unavailableReason();
        assertNotNull(reason);
        assertFalse(reason.isBlank());
        // Either no driver library, or a driver whose cuInit/cuDeviceGetCount said why.
        assertTrue(reason.contains("libcuda.so.1") || reason.startsWith("cuInit failed: CUDA_ERROR_")
                || reason.contains("no GPU") || reason.startsWith("cuDeviceGetCount failed"), reason);
        assertEquals(0, CudaRuntime.driverVersion()); // no usable driver: 0, never a throw
    }

    @Test
    void openingCudaFailsWithTheReason() {
        assumeNoGpu();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Device.cuda(0));
        assertTrue(e.getMessage().startsWith("no CUDA device"), e.getMessage());
        assertTrue(e.getMessage().contains(CudaRuntime.unavailableReason()), e.getMessage());
        IllegalStateException e2 = assertThrows(IllegalStateException.class, () -> CudaRuntime.openBackend(0));
        assertTrue(e2.getMessage().startsWith("no CUDA device"), e2.getMessage());
    }

    @Test
    void bestFallsBackToTheCpu() {
        assumeNoGpu();
        String forced = System.getProperty("surpass.device", "");
        assumeTrue(forced.isEmpty() || forced.equals("cpu"), "-Dsurpass.device=" + forced);
        try (Device d = Device.best()) {
            assertTrue(d.isCpu(), d.name());
        }
    }

    @Test
    void kernelProblemOfANonCudaBackend() {
        String p = CudaRuntime.kernelProblem(CpuBackend.INSTANCE);
        assertNotNull(p);
        assertTrue(p.contains("not a CUDA backend"), p);
        assertNotNull(CudaRuntime.kernelProblem(null));
    }

    @Test
    void cudaBackendOfACpuDeviceIsRejected() {
        try (Device d = Device.cpu()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaBackend.of(d));
            assertTrue(e.getMessage().contains("not a CUDA device"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> CudaBackend.of((Device) null));
        assertThrows(IllegalArgumentException.class, () -> CudaBackend.of((dev.surpass.Tensor) null));
    }

    @Test
    void cublasDescriptionNeverThrows() {
        String d = CudaRuntime.cublasDescription();
        assertNotNull(d);
        assertFalse(d.isBlank());
    }
}
