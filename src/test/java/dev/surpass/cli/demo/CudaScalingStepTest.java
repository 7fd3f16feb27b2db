package dev.surpass.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's scaling step on CUDA in the demo's dtype (bf16), small, with the CPU comparison. */
@Tag("gpu")
class CudaScalingStepTest {
    @TempDir
    Path dir;

    @Test
    void bf16RunOnCudaPassesItsChecksAndPrintsSpeedups() throws Exception {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        ScalingStep.Config gpu = new ScalingStep.Config(new int[] {256, 512, 2048}, 12, 64, 1536, 16, DType.BF16, 16, 0.05, 0.02, 5, 4);
        ScalingStep.Config cpu = new ScalingStep.Config(new int[] {256, 512}, 12, 64, 1536, 16, DType.F32, 16, 0, 0, 1, 1);
        StringWriter out = new StringWriter(), err = new StringWriter();
        try (Device cuda = Device.cuda(0)) {
            ScalingStep step = new ScalingStep(gpu, cpu);
            StepResult r = step.run(new DemoContext(cuda, new PrintWriter(out, true), new PrintWriter(err, true), dir, false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertEquals(3, step.rows().size());
            assertEquals(2L * 256 * 12 * 64 * 2, step.rows().get(0).kvBytes());
            assertTrue(out.toString().contains(" vs cpu at L=512"), out.toString());
        }
        assertTrue(Files.size(dir.resolve("scaling.png")) > 0);
    }
}
