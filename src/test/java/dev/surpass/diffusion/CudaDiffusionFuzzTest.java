package dev.surpass.diffusion;

import dev.surpass.Device;
import dev.surpass.fuzz.Fuzz;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The CUDA twin of {@link DiffusionFuzzTest}'s sampler steps: the same cases on GPU 0 from a fixed seed. */
@Tag("gpu")
class CudaDiffusionFuzzTest {
    static final int CASES = Integer.getInteger("surpass.fuzz.gpuCases", 200);

    @AfterAll
    static void summary() {
        Fuzz.printSummary("cuda.diffusion.");
    }

    @Test
    void fuzzedStepsMatchTheReferenceOrAreRefused() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(Long.parseLong(Fuzz.SEED));
        DiffusionFuzzTest.Sampler[] samplers = DiffusionFuzzTest.Sampler.values();
        int[] channels = {Guidance.ALL, 1, 2, 3, 5};
        int[] ts = {0, 1, 8, 9, 10, 49, 50, -1, -2, 25};
        try (Device gpu = Device.cuda(0)) {
            Fuzz.synchronizeWith(gpu);
            for (int i = 0; i < CASES; i++) {
                long[] shape = new long[r.nextInt(5)];
                for (int j = 0; j < shape.length; j++) shape[j] = r.nextInt(5);
                DiffusionFuzzTest.stepCase(gpu, "cuda.diffusion.step", samplers[r.nextInt(samplers.length)], shape, r.nextBoolean(),
                        channels[r.nextInt(channels.length)], r.nextBoolean(), DdpmStep.Variance.values()[r.nextInt(3)],
                        Prediction.values()[r.nextInt(Prediction.values().length)], ts[r.nextInt(ts.length)], ts[r.nextInt(ts.length)],
                        r.nextInt(6) == 0 ? r.nextInt(4) : -1, i);
            }
            gpu.synchronize();
        } finally {
            Fuzz.synchronizeWith(null);
        }
    }
}
