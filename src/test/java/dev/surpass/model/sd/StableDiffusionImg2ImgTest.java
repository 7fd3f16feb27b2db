package dev.surpass.model.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersReference;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.Noise;
import dev.surpass.model.vae.VaeFixture;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image-to-image ({@link StableDiffusion#sampleFromImage}) on the tiny random pipeline of
 * {@link SdFixture}, against a composition done here as {@link StableDiffusionTest} does: the
 * encoded latents from the VAE (its encoder checked against float64 in AutoencoderKLEncoderTest),
 * add_noise written out in float64 per scheduler, the text encoder and UNet called directly and
 * diffusers' scheduler loops ({@link DiffusersReference}) started at get_timesteps' t_start.
 */
class StableDiffusionImg2ImgTest {
    static final List<String> PROMPTS = List.of("a red cat", "a photo of a blue dog");
    static final List<String> NEG = List.of("blurry", "");
    static final long[] LATENT = {2, 4, 8, 8}; // 16×16 pictures: the fixture's VAE is ×2
    static final long SEED = 21;

    @TempDir
    static Path tmp;
    static Path dir;
    static Device cpu;
    static StableDiffusion sd;
    static float[] pixels;

    @BeforeAll
    static void load() {
        dir = SdFixture.write(tmp.resolve("sd"), 13);
        cpu = Device.cpu();
        sd = StableDiffusion.load(cpu, dir);
        pixels = VaeFixture.images(5, 2 * 3 * 16 * 16);
    }

    @AfterAll
    static void close() {
        if (sd != null) sd.close();
        if (cpu != null) cpu.close();
    }

    /** The composition: [neg; prompt] embeddings, the UNet on [x; x], u + g·(c − u) in float64. */
    static DiffusersReference.Model model(double g) {
        int[][] ids = new int[4][];
        for (int i = 0; i < 2; i++) {
            ids[i] = sd.tokenizer().encodePadded(NEG.get(i), 77);
            ids[2 + i] = sd.tokenizer().encodePadded(PROMPTS.get(i), 77);
        }
        float[] text;
        try (Tensor neg = sd.textEncoder().hiddenStates(new int[][] {ids[0], ids[1]}, 0);
             Tensor pos = sd.textEncoder().hiddenStates(new int[][] {ids[2], ids[3]}, 0)) {
            float[] a = neg.toFloatArray(), b = pos.toFloatArray();
            text = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, text, a.length, b.length);
        }
        float[] ctxData = text;
        return (xin, t) -> {
            int n = xin.length;
            float[] both = new float[2 * n];
            for (int i = 0; i < n; i++) both[i] = both[n + i] = (float) xin[i];
            float[] out;
            try (Tensor in = cpu.upload(DType.F32, both, 4, 4, 8, 8); Tensor ctx = cpu.upload(DType.F32, ctxData, 4, 77, SdFixture.TD);
                 Tensor o = sd.unet().forward(in, new float[] {(float) t, (float) t, (float) t, (float) t}, ctx)) {
                out = o.toFloatArray();
            }
            double[] e = new double[n];
            for (int i = 0; i < n; i++) e[i] = out[i] + g * ((double) out[n + i] - out[i]);
            return e;
        };
    }

    static StableDiffusion.Options opts(DiffusersSampler.Kind kind, int steps, double g) {
        return StableDiffusion.Options.defaults().withSteps(steps).withGuidance(g).withScheduler(kind).withSeed(SEED);
    }

    static double[] img2img(DiffusersSampler.Kind kind, int steps, double g, double strength) {
        try (Tensor img = cpu.upload(DType.F32, pixels, 2, 3, 16, 16); Tensor l = sd.sampleFromImage(PROMPTS, NEG, img, strength, opts(kind, steps, g), null)) {
            assertArrayEquals(LATENT, l.shape());
            return toDouble(l.toFloatArray());
        }
    }

    /** The encoded, scaled latents (the VAE's sample with the run's seed) and the Philox noise the pipeline adds. */
    static double[][] x0AndNoise() {
        try (Tensor img = cpu.upload(DType.F32, pixels, 2, 3, 16, 16); Tensor x0 = sd.vae().encodeScaled(img, SEED);
             Tensor e = Noise.gaussian(cpu, DType.F32, SEED, StableDiffusion.INIT_STREAM, LATENT)) {
            return new double[][] {toDouble(x0.toFloatArray()), toDouble(e.toFloatArray())};
        }
    }

    /** a·x0 + b·ε in float64. */
    static double[] mix(double[][] xe, double a, double b) {
        double[] r = new double[xe[0].length];
        for (int i = 0; i < r.length; i++) r[i] = a * xe[0][i] + b * xe[1][i];
        return r;
    }

    @Test
    void getTimestepsAsDiffusers() {
        assertEquals(3, StableDiffusion.imageToImageStart(6, 0.5));
        assertEquals(0, StableDiffusion.imageToImageStart(6, 1.0));
        assertEquals(8, StableDiffusion.imageToImageStart(10, 0.25)); // int(2.5) = 2 steps
        assertEquals(7, StableDiffusion.imageToImageStart(10, 0.3)); // int(3.0000000000000004) = 3
        assertEquals(1, StableDiffusion.imageToImageStart(50, 0.99)); // int(49.5) = 49
        for (double bad : new double[] {0, -0.1, 1.01, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusion.imageToImageStart(10, bad)).getMessage().contains("strength"));
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusion.imageToImageStart(10, 0.05)).getMessage().contains("below one step"));
    }

    @Test
    void pndmMatchesTheCompositionStartedMidway() {
        int steps = 6, begin = 3; // strength 0.5
        double[] ac = DiffusersReference.sdAlphasCumprod();
        // the PLMS list of 7 entries [831, 665, 665, 499, 333, 167, 1]: timesteps[3] = 499
        int ratio = 1000 / steps, t = (steps - 1 - 2) * ratio + 1;
        assertEquals(499, t);
        double[] start = mix(x0AndNoise(), Math.sqrt(ac[t]), Math.sqrt(1 - ac[t]));
        double[] want = DiffusersReference.pndm(start, ac, steps, false, model(5.0), begin);
        double err = relL2(img2img(null, steps, 5.0, 0.5), want);
        assertTrue(err < 1e-4, "PNDM img2img vs composition: relL2 " + err);
        // starting one entry later in the PLMS list (the repeat) is visible
        double[] off = DiffusersReference.pndm(start, ac, steps, false, model(5.0), begin + 1);
        assertTrue(relL2(off, want) > 1e-3, "the begin index matters");
    }

    @Test
    void eulerAddsSigmaTimesNoise() {
        int steps = 5, begin = 2; // strength 0.6: int(3.0) = 3 steps
        double[] ac = DiffusersReference.sdAlphasCumprod();
        double sigma = DiffusersReference.eulerSigmas(ac, steps)[begin];
        double[] start = mix(x0AndNoise(), 1, sigma);
        double[] want = DiffusersReference.euler(start, ac, steps, false, model(3.0), begin);
        double err = relL2(img2img(DiffusersSampler.Kind.EULER, steps, 3.0, 0.6), want);
        assertTrue(err < 1e-4, "Euler img2img vs composition: relL2 " + err);
    }

    @Test
    void heunStartsAtTStartTimesItsOrder() {
        int steps = 5, begin = 2; // strength 0.6: int(3.0) = 3 steps, evaluations [4, 9) of Heun's 9
        double[] ac = DiffusersReference.sdAlphasCumprod();
        double sigma = DiffusersReference.eulerSigmas(ac, steps)[begin]; // Heun's sigmas[2·t_start] = σ of step t_start
        double[] start = mix(x0AndNoise(), 1, sigma);
        double[] want = DiffusersReference.heun(start, ac, steps, false, model(3.0), begin);
        double err = relL2(img2img(DiffusersSampler.Kind.HEUN, steps, 3.0, 0.6), want);
        assertTrue(err < 1e-4, "Heun img2img vs composition: relL2 " + err);
    }

    @Test
    void dpmSolverStartsFirstOrderWithItsAlphaSigma() {
        int steps = 6, begin = 2; // strength 0.7: int(4.2) = 4 steps
        double[] ac = DiffusersReference.sdAlphasCumprod();
        double s = DiffusersReference.dpmSigmas(ac, steps)[begin], a = 1 / Math.sqrt(s * s + 1);
        double[] start = mix(x0AndNoise(), a, s * a);
        double[] want = DiffusersReference.dpm(start, ac, steps, model(4.0), begin);
        double[] got = img2img(DiffusersSampler.Kind.DPMPP_2M, steps, 4.0, 0.7);
        double err = relL2(got, want);
        assertTrue(err < 1e-4, "DPM-Solver++ img2img vs composition: relL2 " + err);
    }

    @Test
    void strengthOneIsTxt2ImgFromTheNoisedLatents() {
        for (DiffusersSampler.Kind k : new DiffusersSampler.Kind[] {null, DiffusersSampler.Kind.EULER}) {
            StableDiffusion.Options o = opts(k, 4, 5.0);
            try (Tensor img = cpu.upload(DType.F32, pixels, 2, 3, 16, 16); Tensor x0 = sd.vae().encodeScaled(img, SEED);
                 Tensor e = Noise.gaussian(cpu, DType.F32, SEED, StableDiffusion.INIT_STREAM, LATENT);
                 DiffusersSampler s = DiffusersSampler.create(sd.schedulerConfig(), k, 4, 0, SEED); Tensor noised = s.addNoise(x0, e, 0);
                 Tensor a = sd.sampleFromImage(PROMPTS, NEG, img, 1.0, o, null); Tensor b = sd.sample(PROMPTS, NEG, o.withSize(16, 16).withLatents(noised), null)) {
                assertArrayEquals(b.toFloatArray(), a.toFloatArray(), k + ": strength 1 = every step, from add_noise at the first timestep");
            }
        }
    }

    @Test
    void smallStrengthRunsFewSteps() {
        for (Object[] c : new Object[][] {{null, 3}, {DiffusersSampler.Kind.DDIM, 2}, {DiffusersSampler.Kind.EULER, 2}}) {
            List<int[]> calls = new ArrayList<>();
            try (Tensor img = cpu.upload(DType.F32, pixels, 2, 3, 16, 16);
                 Tensor l = sd.sampleFromImage(PROMPTS, null, img, 0.25, opts((DiffusersSampler.Kind) c[0], 10, 1.0), (d, t) -> calls.add(new int[] {d, t}))) {
                int n = (int) c[1]; // int(10·0.25) = 2 steps; PNDM's list slice [8:] of 11 entries holds 3
                assertEquals(n, calls.size(), c[0] + ": evaluations");
                for (int i = 0; i < n; i++) assertArrayEquals(new int[] {i + 1, n}, calls.get(i));
            }
        }
    }

    @Test
    void oneImageServesEveryPromptAndPicturesComeOut() {
        try (Tensor img = cpu.upload(DType.F32, Arrays.copyOf(pixels, 3 * 16 * 16), 1, 3, 16, 16)) {
            BufferedImage[] out = sd.generateFromImage(PROMPTS, null, img, 0.5, opts(null, 4, 3.0), null);
            assertEquals(2, out.length);
            assertEquals(16, out[1].getWidth());
            assertEquals(16, out[1].getHeight());
        }
    }

    @Test
    void refusesBadInput() {
        StableDiffusion.Options o = opts(null, 4, 3.0);
        try (Tensor img = cpu.upload(DType.F32, pixels, 2, 3, 16, 16); Tensor four = cpu.upload(DType.F32, new float[2 * 4 * 16 * 16], 2, 4, 16, 16);
             Tensor odd = cpu.upload(DType.F32, new float[2 * 3 * 18 * 16], 2, 3, 18, 16); Tensor three = cpu.upload(DType.F32, new float[3 * 3 * 16 * 16], 3, 3, 16, 16);
             Tensor z = cpu.upload(DType.F32, new float[2 * 4 * 64], LATENT)) {
            for (double bad : new double[] {0, 1.5, Double.NaN}) {
                assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, img, bad, o, null)).getMessage().contains("strength"));
            }
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, img, 0.1, o, null)).getMessage().contains("below one step"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, four, 0.5, o, null)).getMessage().contains("[N, 3, H, W]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, odd, 0.5, o, null)).getMessage().contains("multiples of 4"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, three, 0.5, o, null)).getMessage().contains("3 images for 2 prompts"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, null, 0.5, o, null)).getMessage().contains("initImages"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(PROMPTS, null, img, 0.5, o.withLatents(z), null)).getMessage().contains("latents"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sampleFromImage(List.of(), null, img, 0.5, o, null)).getMessage().contains("no prompts"));
        }
    }

    @Test
    void txt2imgCommandWithAnInitImage(@TempDir Path out) throws IOException {
        BufferedImage pic = new BufferedImage(16, 12, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 12; y++) for (int x = 0; x < 16; x++) pic.setRGB(x, y, (x * 16) << 16 | (y * 20) << 8 | 0x40);
        Path png = out.resolve("in.png");
        ImageIO.write(pic, "png", png.toFile());
        String[] r = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--prompt", "a blue dog",
                "--init-image", png.toString(), "--strength", "0.5", "--steps", "4", "--out", out.resolve("o").toString(), "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        BufferedImage got = ImageIO.read(out.resolve("o").resolve("image-1.png").toFile());
        assertEquals(16, got.getWidth());
        assertEquals(12, got.getHeight());
        String[] bad = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a", "--init-image", png.toString(),
                "--strength", "1.5", "--out", out.toString(), "--device", "cpu");
        assertEquals("2", bad[0]);
        assertTrue(bad[2].contains("--strength"), bad[2]);
        Files.writeString(out.resolve("not.png"), "text");
        String[] notPic = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a", "--init-image",
                out.resolve("not.png").toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals("2", notPic[0]);
        assertTrue(notPic[2].contains("--init-image"), notPic[2]);
    }

    static double relL2(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
