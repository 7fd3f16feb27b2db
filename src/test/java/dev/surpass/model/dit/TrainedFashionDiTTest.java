package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The shipped Fashion-MNIST DiT ({@code models/fashion-dit}, trained by
 * {@code tools/train/train_dit.py}: 28×28×1 pixels, patch 4, learned sigma, 10 classes + null)
 * loads through {@link DiT#load} with its config.json and reproduces the training script's
 * forward pass saved in {@code reference.safetensors} (x, t, y → out) to relL2 &lt; 1e-5.
 */
class TrainedFashionDiTTest {
    static final Path DIR = Path.of("models", "fashion-dit");

    @Test
    void reproducesReferenceForward() {
        try (Device cpu = Device.cpu();
             DiT model = DiT.load(cpu, DIR.resolve("model.safetensors"));
             SafeTensorsFile ref = SafeTensors.open(DIR.resolve("reference.safetensors"))) {
            DiTConfig c = model.config();
            assertEquals(28, c.inputSize());
            assertEquals(1, c.inChannels());
            assertEquals(10, c.numClasses());
            assertTrue(c.learnSigma());
            assertTrue(c.hasNullClass());
            assertTrue(model.posEmbedFromCheckpoint());
            float[] x, t, yF, want;
            long[] xShape;
            try (Tensor xt = ref.tensor("x", cpu); Tensor tt = ref.tensor("t", cpu); Tensor yt = ref.tensor("y", cpu);
                 Tensor ot = ref.tensor("out", cpu)) {
                x = xt.toFloatArray();
                xShape = xt.shape();
                t = tt.toFloatArray();
                yF = yt.toFloatArray();
                want = ot.toFloatArray();
            }
            int[] y = new int[yF.length];
            for (int i = 0; i < y.length; i++) y[i] = Math.round(yF[i]);
            try (Tensor xt = cpu.upload(model.dtype(), x, xShape); Tensor out = model.forward(xt, t, y)) {
                assertArrayEquals(new long[] {xShape[0], 2, 28, 28}, out.shape());
                float[] got = out.toFloatArray();
                double num = 0, den = 0, maxAbs = 0;
                for (int i = 0; i < got.length; i++) {
                    double d = got[i] - want[i];
                    num += d * d;
                    den += (double) want[i] * want[i];
                    maxAbs = Math.max(maxAbs, Math.abs(d));
                }
                double rel = Math.sqrt(num / den);
                System.out.printf("%s: relL2 %.3g, max |diff| %.3g against the PyTorch reference%n", DIR, rel, maxAbs);
                assertFalse(Double.isNaN(rel));
                assertTrue(rel < 1e-5, "relL2 " + rel + ", max |diff| " + maxAbs);
                assertTrue(maxAbs < 1e-4, "max |diff| " + maxAbs);
            }
        }
    }
}
