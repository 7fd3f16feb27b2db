package dev.surpass.scan;

import dev.surpass.Device;
import dev.surpass.fuzz.Args;
import dev.surpass.fuzz.Fuzz;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA twin of {@link ScanFuzzTest}: the same cases on GPU 0 from a fixed seed (valid ones against
 * the float64 references, broken ones refused before a kernel runs); meant to run under
 * {@code compute-sanitizer} on a GPU host.
 */
@Tag("gpu")
class CudaScanFuzzTest {
    static final int CASES = Integer.getInteger("surpass.fuzz.gpuCases", 200);

    @AfterAll
    static void summary() {
        Fuzz.printSummary("cuda.scan.");
    }

    @Test
    void fuzzedCallsMatchTheReferenceOrAreRefused() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(Long.parseLong(Fuzz.SEED));
        Args.Break[] breaks = Args.Break.values();
        try (Device gpu = Device.cuda(0)) {
            Fuzz.synchronizeWith(gpu);
            for (int i = 0; i < CASES; i++) {
                Args.Break br = r.nextBoolean() ? Args.Break.NONE : breaks[r.nextInt(breaks.length)];
                ScanFuzzTest.scanCase(gpu, "cuda.scan.selectiveScan", r.nextInt(3), 1 + r.nextInt(6), 1 + r.nextInt(4), r.nextInt(),
                        r.nextInt(8), r.nextBoolean(), r.nextInt(16), r.nextBoolean(), null, br, r.nextInt(10), r.nextInt(), i);
                int[] cu = {0, r.nextInt(4), 0};
                cu[2] = cu[1] + r.nextInt(4) - (r.nextInt(6) == 0 ? 5 : 0);
                ScanFuzzTest.scanCase(gpu, "cuda.scan.selectiveScanVarlen", 1, 1 + r.nextInt(4), 1 + r.nextInt(4), 0, Math.max(0, cu[2]),
                        false, r.nextInt(16), r.nextBoolean(), cu, Args.Break.NONE, 0, 0, i);
                ScanFuzzTest.stateUpdateCase(gpu, "cuda.scan.selectiveStateUpdate", r.nextInt(4), 1 + r.nextInt(6), 1 + r.nextInt(4),
                        r.nextInt(), r.nextBoolean(), r.nextInt(8), r.nextBoolean(), br, r.nextInt(9), r.nextInt(), i);
                boolean update = r.nextBoolean();
                ScanFuzzTest.convCase(gpu, update ? "cuda.scan.causalConv1dUpdate" : "cuda.scan.causalConv1d", update, r.nextInt(3),
                        1 + r.nextInt(5), r.nextInt(8), r.nextInt(6), r.nextBoolean(), r.nextBoolean(), r.nextBoolean(), br, r.nextInt(5),
                        r.nextInt(), i);
            }
            gpu.synchronize();
        } finally {
            Fuzz.synchronizeWith(null);
        }
    }
}
