package dev.surpass.layers;

import dev.surpass.Device;
import dev.surpass.fuzz.Args;
import dev.surpass.fuzz.Fuzz;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The CUDA twin of {@link LayersFuzzTest}: the same cases on GPU 0 from a fixed seed. */
@Tag("gpu")
class CudaLayersFuzzTest {
    static final int CASES = Integer.getInteger("surpass.fuzz.gpuCases", 200);

    @AfterAll
    static void summary() {
        Fuzz.printSummary("cuda.layers.");
    }

    @Test
    void fuzzedCallsMatchTheReferenceOrAreRefused() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(Long.parseLong(Fuzz.SEED));
        LayersFuzzTest.Op[] ops = LayersFuzzTest.Op.values();
        Args.Break[] breaks = Args.Break.values();
        float[] eps = {1e-5f, 0.5f, 0f, Float.NaN};
        try (Device gpu = Device.cuda(0)) {
            Fuzz.synchronizeWith(gpu);
            for (int i = 0; i < CASES; i++) {
                long[] lead = new long[r.nextInt(3)];
                for (int j = 0; j < lead.length; j++) lead[j] = r.nextInt(4);
                LayersFuzzTest.opCase(gpu, "cuda.layers.ops", ops[r.nextInt(ops.length)], lead, r.nextInt(6), r.nextInt(10), r.nextInt(7),
                        r.nextBoolean(), eps[r.nextInt(eps.length)], r.nextBoolean() ? Args.Break.NONE : breaks[r.nextInt(breaks.length)],
                        r.nextInt(3), r.nextInt(), i);
            }
            gpu.synchronize();
        } finally {
            Fuzz.synchronizeWith(null);
        }
    }
}
