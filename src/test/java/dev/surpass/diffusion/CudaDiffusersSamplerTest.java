package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Whole {@link DiffusersSampler} runs of the schedulers that drive the fused step kernels in new ways (Euler-ancestral's
 * noisy DDIM-form step, DDPM over strided timesteps with clipping, Heun's two-evaluation steps through the Euler and
 * DPM-form kernels, UniPC's x0 pass and combinations, SDE-DPM-Solver++'s added noise) on CUDA against the same run on the CPU, the toy model of
 * {@link DiffusersSamplerTest} computed on the host. Noise-free runs agree to rounding; the noisy ones within the few-ulp
 * differences of the Philox normals. Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaDiffusersSamplerTest {
    @ParameterizedTest(name = "{0} steps={1} guidance={2} v={3}")
    @CsvSource({"EulerAncestralDiscreteScheduler, 20, 7.5, false", "EulerAncestralDiscreteScheduler, 9, 1, true",
            "DDPMScheduler, 25, 5, false", "HeunDiscreteScheduler, 12, 7.5, false", "HeunDiscreteScheduler, 6, 1, true",
            "UniPCMultistepScheduler, 20, 7.5, false", "UniPCMultistepScheduler, 11, 3, true", "sde-dpmsolver++, 15, 7.5, false"})
    void cudaMatchesCpu(String cls, int steps, double g, boolean v) {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Boolean clip = cls.equals("DDPMScheduler") ? Boolean.TRUE : null;
        int order = cls.equals("UniPCMultistepScheduler") && v ? 3 : 2;
        SchedulerConfig c = cls.equals("sde-dpmsolver++")
                ? new SchedulerConfig("DPMSolverMultistepScheduler", 1000, 0.00085, 0.012, "scaled_linear", null, "epsilon", null, 1, null, null,
                        1.0, null, false, false, 2, "sde-dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null)
                : DiffusersSamplerTest.sdAs(cls, null, v, clip, false, order, "bh2");
        double[] cpu = DiffusersSamplerTest.runSampler(Device.cpu(), c, null, steps, g);
        double[] gpu;
        try (Device d = Device.cuda(0)) {
            gpu = DiffusersSamplerTest.runSampler(d, c, null, steps, g);
        }
        double err = DiffusersSamplerTest.relL2(gpu, cpu);
        assertTrue(err < 1e-5, cls + " CUDA vs CPU relL2 " + err);
    }
}
