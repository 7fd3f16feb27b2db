package dev.surpass.model.t5;

import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static dev.surpass.model.t5.T5EncoderTest.V;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.RefMath;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * T5ForConditionalGeneration on CUDA: the tiny random models of {@link T5ForConditionalGenerationTest}
 * (relu with the tied head, whose ReLU runs as device ops there; gated-gelu with lm_head) on a
 * ragged batch: teacher-forced logits against the float64 reference and the CPU, the incremental
 * cache against the full pass, greedy and beam-search ids equal to the CPU's, and no device memory
 * left per call.
 */
@Tag("gpu")
class CudaT5ForConditionalGenerationTest {
    private static Device cuda() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        return Device.cuda(0);
    }

    @TempDir
    Path tmp;

    @Test
    void tinyT5MatchesTheReferenceAndTheCpu() throws Exception {
        try (Device g = cuda(); Device host = Device.cpu()) {
            for (boolean gated : new boolean[] {false, true}) {
                Map<String, float[]> w = T5ForConditionalGenerationTest.weights(new Random(gated ? 51 : 52), gated, !gated);
                Path dir = tmp.resolve(gated ? "gated" : "relu");
                writeCheckpoint(dir, T5ForConditionalGenerationTest.config(gated ? "gated-gelu" : "relu", !gated), T5EncoderTest.entries(w), DType.F32, 1);
                Random r = new Random(53);
                int[][] in = T5ForConditionalGenerationTest.ragged(r, 41, 9, 1);
                int[][] dec = T5ForConditionalGenerationTest.decoderIds(r, 3, 28);
                String name = gated ? "gated untied" : "relu tied";
                try (T5ForConditionalGeneration m = T5ForConditionalGeneration.load(g, dir); T5ForConditionalGeneration c = T5ForConditionalGeneration.load(host, dir)) {
                    int base = g.liveAllocations();
                    try (Tensor lg = m.forward(in, dec); Tensor inc = m.forwardIncremental(in, dec); Tensor lc = c.forward(in, dec)) {
                        float[] got = lg.toFloatArray(), incr = inc.toFloatArray(), cpu = lc.toFloatArray();
                        double vsCpu = 0, vsInc = 0;
                        for (int i = 0; i < got.length; i++) {
                            vsCpu = Math.max(vsCpu, Math.abs(got[i] - cpu[i]) / (1 + Math.abs(cpu[i])));
                            vsInc = Math.max(vsInc, Math.abs(got[i] - incr[i]) / (1 + Math.abs(got[i])));
                        }
                        assertTrue(vsCpu < 5e-4, name + " CUDA vs CPU: " + vsCpu);
                        assertTrue(vsInc < 5e-4, name + " CUDA incremental vs full: " + vsInc);
                        for (int s = 0; s < 3; s++) {
                            double[][] ref = T5ForConditionalGenerationTest.reference(w, gated, !gated, in[s], dec[s]);
                            double e = RefMath.maxRelErr(Arrays.copyOfRange(got, s * 28 * V, (s + 1) * 28 * V), ref);
                            assertTrue(e < 5e-4, name + " row " + s + " vs float64: " + e);
                        }
                    }
                    int[][] ids = m.generate(in, GenerationOptions.greedy(20).withStopIds());
                    int[][] onCpu = c.generate(in, GenerationOptions.greedy(20).withStopIds());
                    for (int s = 0; s < 3; s++) assertArrayEquals(onCpu[s], ids[s], name + " greedy row " + s);
                    GenerationOptions beams = GenerationOptions.greedy(12).withStopIds(ids[0][3]).withBeams(4, 1.0, GenerationOptions.EarlyStopping.FALSE);
                    int[][] b1 = m.generate(in, beams), b2 = c.generate(in, beams);
                    for (int s = 0; s < 3; s++) assertArrayEquals(b2[s], b1[s], name + " beam search row " + s + " (the cache reordered on the device)");
                    assertEquals(base, g.liveAllocations(), name + ": device memory left by the calls");
                }
            }
        }
    }
}
