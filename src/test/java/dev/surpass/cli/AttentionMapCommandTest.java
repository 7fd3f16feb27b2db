package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.attention.AttentionOutput;
import dev.surpass.io.SafeTensors;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code surpass attention-map}: the PNG's size, and its colours ordered as the probabilities. */
class AttentionMapCommandTest {
    @TempDir
    Path dir;

    /** Perceived brightness; the colour map is monotonic in it. */
    private static double luminance(int rgb) {
        return 0.299 * (rgb >> 16 & 255) + 0.587 * (rgb >> 8 & 255) + 0.114 * (rgb & 255);
    }

    @Test
    void heatmapOfATinyInputFollowsTheProbabilities() throws Exception {
        int n = 6, h = 2, d = 32, head = 1, cell = 5;
        float[] qv = new float[n * h * d], kv = new float[n * h * d];
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        for (int i = 0; i < qv.length; i++) {
            qv[i] = (float) (r.nextDouble() * 4 - 2);
            kv[i] = (float) (r.nextDouble() * 4 - 2);
        }
        Path in = dir.resolve("qk.safetensors"), png = dir.resolve("out/map.png");
        float[] probs;
        try (Device dev = Device.cpu();
             Tensor q = dev.upload(DType.F32, qv, n, h, d);
             Tensor k = dev.upload(DType.F32, kv, n, h, d);
             Tensor q4 = dev.upload(DType.F32, qv, 1, n, h, d);
             Tensor k4 = dev.upload(DType.F32, kv, 1, n, h, d)) {
            SafeTensors.write(in, Map.of("q", q, "k", k));
            AttentionOptions o = AttentionOptions.causal();
            try (AttentionOutput f = Attention.prefillWithLse(q4, k4, k4, o);
                 Tensor p = Attention.attentionProbabilities(q4, k4, f.lse(), new int[] {head}, new int[] {0, 1, 2, 3, 4, 5}, o)) {
                probs = p.toFloatArray();
            }
        }
        CliRun run = CliRun.run("attention-map", "--inputs", in.toString(), "--causal", "--head", "" + head, "--cell", "" + cell,
                "--out", png.toString());
        assertEquals(0, run.code(), run.toString());
        assertTrue(Files.isRegularFile(png), run.toString());
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(AttentionMapCommand.width(n, cell), img.getWidth());
        assertEquals(AttentionMapCommand.height(n, cell), img.getHeight());
        assertEquals(AttentionMapCommand.LEFT + n * cell + AttentionMapCommand.RIGHT, img.getWidth());

        float max = 0;
        for (float p : probs) max = Math.max(max, p);
        double[] lum = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                int x = AttentionMapCommand.LEFT + j * cell + cell / 2, y = AttentionMapCommand.TOP + i * cell + cell / 2;
                lum[i * n + j] = luminance(img.getRGB(x, y));
                // every pixel of a cell has the cell's colour
                assertEquals(img.getRGB(x, y), img.getRGB(AttentionMapCommand.LEFT + j * cell, AttentionMapCommand.TOP + i * cell));
            }
        }
        int compared = 0;
        for (int a = 0; a < n * n; a++) {
            for (int b = 0; b < n * n; b++) {
                if (probs[a] > probs[b] + 0.02f * max) { // beyond 8-bit colour resolution
                    assertTrue(lum[a] > lum[b], "cell " + a + " (p=" + probs[a] + ") should be brighter than cell " + b + " (p=" + probs[b] + ")");
                    compared++;
                }
            }
        }
        assertTrue(compared > 100, "compared " + compared + " pairs");
        // causal: the masked upper triangle is the darkest colour, the largest probability the brightest
        assertEquals(AttentionMapCommand.viridis(0f) & 0xFFFFFF, img.getRGB(AttentionMapCommand.LEFT + 5 * cell, AttentionMapCommand.TOP) & 0xFFFFFF);
        assertTrue(run.out().contains("wrote"), run.out());
    }

    @Test
    void randomInputWithDefaultsAndBadOptions() throws Exception {
        Path png = dir.resolve("r.png");
        CliRun ok = CliRun.run("attention-map", "--seq", "20", "--heads", "2", "--dim", "64", "--head", "1", "--out", png.toString());
        assertEquals(0, ok.code(), ok.toString());
        BufferedImage img = ImageIO.read(png.toFile());
        int cell = AttentionMapCommand.TARGET / 20;
        assertEquals(AttentionMapCommand.width(20, cell), img.getWidth());
        assertEquals(AttentionMapCommand.height(20, cell), img.getHeight());

        CliRun bad = CliRun.run("attention-map", "--seq", "8", "--heads", "2", "--head", "2", "--out", dir.resolve("x.png").toString());
        assertEquals(Main.USAGE, bad.code(), bad.toString());
        assertTrue(bad.err().contains("--head"), bad.err());
        CliRun noOut = CliRun.run("attention-map", "--seq", "8");
        assertEquals(Main.USAGE, noOut.code(), noOut.toString());
    }

    @Test
    void colourMapIsMonotonicInBrightness() {
        for (int i = 1; i <= 255; i++) {
            double l = luminance(AttentionMapCommand.viridis(i / 255f)), prev = luminance(AttentionMapCommand.viridis((i - 1) / 255f));
            assertTrue(l >= prev - 0.5, "step " + i); // channel rounding
            if (i >= 8) assertTrue(l > luminance(AttentionMapCommand.viridis((i - 8) / 255f)), "8 steps to " + i);
        }
    }
}
