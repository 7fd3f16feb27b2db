package dev.surpass.soak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.Device;
import dev.surpass.cuda.CudaRuntime;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The concurrency soak on {@code cuda:0} (each thread queues on its own stream): the same jobs as
 * {@link SoakTest}, {@code -Dsurpass.soak.gpuSeconds} long (default 60). Token ids must match the
 * single-threaded run exactly; float results to a relative 1e-5 of (1 + |x|), since cuBLAS may
 * choose other GEMM algorithms while several streams are active. Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaSoakTest {
    static final double SECONDS = Double.parseDouble(System.getProperty("surpass.soak.gpuSeconds", "60"));

    @Test
    void threadsSharingTheGpuGetTheSingleThreadedResults() throws Exception {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device: " + CudaRuntime.unavailableReason());
        try (TinyModels models = new TinyModels(20261127L); Device gpu = Device.cuda(0)) {
            Soak soak = new Soak(gpu, models);
            Soak.Report report;
            try {
                report = soak.run(SoakTest.THREADS, SECONDS, 1e-5, SoakTest.STALL_SECONDS);
            } finally {
                soak.close();
            }
            System.out.print(report.summary(gpu.name(), soak.jobs) + "  " + soak.miniLmNote + "\n");
            assertEquals(0, report.errors(), () -> "errors: " + report.problems());
            assertEquals(0, report.mismatches(), () -> "mismatches: " + report.problems());
            assertTrue(report.operations() >= SoakTest.THREADS);
            assertEquals(0, gpu.liveAllocations(), "the soak left tensors on its device handle");
        }
    }
}
