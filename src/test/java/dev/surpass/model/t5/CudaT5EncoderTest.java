package dev.surpass.model.t5;

import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
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
 * The T5 encoder on CUDA: the tiny random models of {@link T5EncoderTest} (relu, whose ReLU runs as
 * device ops there, and gated-gelu) on a padded batch of 100 / 37 / 1 tokens against the float64
 * reference and the CPU, padded and packed; and the device-op ReLU against the host clamp.
 */
@Tag("gpu")
class CudaT5EncoderTest {
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
                Map<String, float[]> w = T5EncoderTest.weights(new Random(gated ? 31 : 32), gated);
                Path dir = tmp.resolve(gated ? "gated" : "relu");
                writeCheckpoint(dir, T5EncoderTest.config(gated ? "gated-gelu" : "relu", "t5"), T5EncoderTest.entries(w), DType.F32, 1);
                Random r = new Random(33);
                int[] lens = {100, 37, 1};
                int[][] ids = new int[lens.length][];
                for (int s = 0; s < lens.length; s++) ids[s] = T5EncoderTest.randomIds(r, lens[s]);
                try (T5Encoder m = T5Encoder.load(g, dir); T5Encoder onCpu = T5Encoder.load(host, dir);
                     Tensor h = m.forward(ids); Tensor c = onCpu.forward(ids); Tensor p = m.forwardPacked(ids)) {
                    assertArrayEquals(new long[] {3, 100, T5EncoderTest.E}, h.shape());
                    float[] got = h.toFloatArray(), cpu = c.toFloatArray(), packed = p.toFloatArray();
                    double vsCpu = 0;
                    for (int i = 0; i < got.length; i++) vsCpu = Math.max(vsCpu, Math.abs(got[i] - cpu[i]) / (1 + Math.abs(cpu[i])));
                    assertTrue(vsCpu < 5e-4, (gated ? "gated" : "relu") + " CUDA vs CPU: " + vsCpu);
                    int from = 0;
                    for (int s = 0; s < lens.length; s++) {
                        int[] ones = T5EncoderTest.ones(lens[s]);
                        double[][] ref = T5EncoderTest.reference(w, gated, ids[s], ones);
                        double e1 = RefMath.maxRelErr(Arrays.copyOfRange(got, s * 100 * T5EncoderTest.E, (s * 100 + lens[s]) * T5EncoderTest.E), ref);
                        double e2 = RefMath.maxRelErr(Arrays.copyOfRange(packed, from * T5EncoderTest.E, (from + lens[s]) * T5EncoderTest.E), ref);
                        assertTrue(e1 < 5e-4 && e2 < 5e-4, "row " + s + ": padded " + e1 + ", packed " + e2);
                        from += lens[s];
                    }
                }
            }
        }
    }

    @Test
    void deviceReluIsTheHostClamp() throws Exception {
        try (Device g = cuda()) {
            Path dir = tmp.resolve("relu");
            writeCheckpoint(dir, T5EncoderTest.config("relu", "t5"), T5EncoderTest.entries(T5EncoderTest.weights(new Random(1), false)), DType.F32, 1);
            Random r = new Random(2);
            float[] v = new float[5 * 7919];
            for (int i = 0; i < v.length; i++) v[i] = i % 13 == 0 ? 0f : (float) r.nextGaussian();
            v[1] = Float.NaN;
            v[2] = -0f;
            try (T5Encoder m = T5Encoder.load(g, dir); Tensor x = g.upload(DType.F32, v, 5, 7919); Tensor y = m.relu(x)) {
                float[] got = y.toFloatArray();
                for (int i = 0; i < v.length; i++) {
                    float want = Float.isNaN(v[i]) ? Float.NaN : Math.max(v[i], 0f);
                    assertEquals(want, got[i], 0f, "relu at " + i + " of " + v[i]);
                }
            }
        }
    }
}
