package dev.surpass.model.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersReference;
import dev.surpass.diffusion.Noise;
import dev.surpass.model.clip.ClipTextOutput;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link StableDiffusionXL} on a tiny random SDXL-shaped folder ({@link SdxlFixture}), against a
 * composition done here as diffusers' StableDiffusionXLPipeline reads: both tokenizers, each
 * encoder's {@code hidden_states[-2]} (no final norm) concatenated on the features, the pooled
 * text_embeds of text_encoder_2, zeros for the negative side under force_zeros_for_empty_prompt,
 * time ids (H, W, 0, 0, H, W), the text_time UNet called directly on [uncond; cond], guidance in
 * float64 and the Euler loop of {@link DiffusersReference}. The components' own numerics are checked
 * in their tests (the text_time UNet against float64 in UNet2DConditionModelTest).
 */
class StableDiffusionXLTest {
    static final List<String> PROMPTS = List.of("a red cat", "a photo of a blue dog");
    static final List<String> NEG = List.of("blurry", "");
    static final long[] LATENT = {2, 4, 8, 8}; // 16×16 pictures: the fixture's VAE is ×2

    @TempDir
    static Path tmp;
    static Path dir;
    static Device cpu;
    static StableDiffusionXL xl;

    @BeforeAll
    static void load() {
        dir = SdxlFixture.write(tmp.resolve("sdxl"), 21, null);
        cpu = Device.cpu();
        xl = StableDiffusionXL.load(cpu, dir);
    }

    @AfterAll
    static void close() {
        if (xl != null) xl.close();
        if (cpu != null) cpu.close();
    }

    /** {@code [B, 77, 96]} states and {@code [B, 24]} pooled of {@code prompts}, composed from the encoders called directly. */
    static float[][] encode(StableDiffusionXL p, List<String> prompts, int clipSkip) {
        int b = prompts.size();
        int[][] a = new int[b][], c = new int[b][];
        for (int i = 0; i < b; i++) {
            a[i] = p.tokenizer().encodePadded(prompts.get(i), 77);
            c[i] = p.tokenizer2().encodePadded(prompts.get(i), 77);
        }
        float[] states = new float[b * 77 * SdxlFixture.CROSS], pooled;
        try (Tensor h1 = p.textEncoder().hiddenState(a, SdxlFixture.L1 - 1 - clipSkip); Tensor h2 = p.textEncoder2().hiddenState(c, SdxlFixture.L2 - 1 - clipSkip);
             ClipTextOutput o = p.textEncoder2().forward(c)) {
            float[] x1 = h1.toFloatArray(), x2 = h2.toFloatArray();
            for (int r = 0; r < b * 77; r++) { // torch.concat(prompt_embeds_list, dim=-1)
                System.arraycopy(x1, r * SdxlFixture.D1, states, r * SdxlFixture.CROSS, SdxlFixture.D1);
                System.arraycopy(x2, r * SdxlFixture.D2, states, r * SdxlFixture.CROSS + SdxlFixture.D1, SdxlFixture.D2);
            }
            pooled = o.textEmbeds().toFloatArray();
        }
        return new float[][] {states, pooled};
    }

    static float[] cat(float[] a, float[] b) {
        float[] o = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, o, a.length, b.length);
        return o;
    }

    /** The composition: [negative; prompt] conditioning (zeros when {@code neg} is null), the UNet on [x; x], u + g·(c − u) in float64. */
    static DiffusersReference.Model model(StableDiffusionXL p, List<String> neg, double g, int clipSkip) {
        float[][] pos = encode(p, PROMPTS, clipSkip);
        float[][] unc = neg == null ? new float[][] {new float[pos[0].length], new float[pos[1].length]} : encode(p, neg, 0);
        float[] ctxData = cat(unc[0], pos[0]), pooled = cat(unc[1], pos[1]);
        float[] ids = new float[24];
        for (int i = 0; i < 4; i++) System.arraycopy(new float[] {16, 16, 0, 0, 16, 16}, 0, ids, 6 * i, 6);
        return (xin, t) -> {
            int n = xin.length;
            float[] both = new float[2 * n];
            for (int i = 0; i < n; i++) both[i] = both[n + i] = (float) xin[i];
            float[] out;
            try (Tensor in = cpu.upload(DType.F32, both, 4, 4, 8, 8); Tensor ctx = cpu.upload(DType.F32, ctxData, 4, 77, SdxlFixture.CROSS);
                 Tensor te = cpu.upload(DType.F32, pooled, 4, SdxlFixture.PROJ);
                 Tensor o = p.unet().forward(in, new float[] {(float) t, (float) t, (float) t, (float) t}, ctx, te, ids)) {
                out = o.toFloatArray();
            }
            double[] e = new double[n];
            for (int i = 0; i < n; i++) e[i] = out[i] + g * ((double) out[n + i] - out[i]);
            return e;
        };
    }

    static double[] eulerStart(long seed, float[] zOut) {
        try (Tensor z = Noise.gaussian(cpu, DType.F32, seed, 3, LATENT)) {
            float[] f = z.toFloatArray();
            System.arraycopy(f, 0, zOut, 0, f.length);
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
    }

    static double[] latents(StableDiffusionXL p, List<String> neg, int steps, double g, int clipSkip, float[] start) {
        try (Tensor z = cpu.upload(DType.F32, start, LATENT);
             Tensor l = p.sample(PROMPTS, neg, StableDiffusion.Options.defaults().withSize(16, 16).withSteps(steps).withGuidance(g)
                     .withClipSkip(clipSkip).withLatents(z), null)) {
            float[] f = l.toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
    }

    static double relL2(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    /** Runs the pipeline and the composition from the same Euler start; returns {got, want}. */
    static double[][] run(StableDiffusionXL p, List<String> negGiven, List<String> negComposed, int steps, double g, int clipSkip, long seed) {
        float[] z = new float[(int) (LATENT[0] * LATENT[1] * LATENT[2] * LATENT[3])];
        double[] zd = eulerStart(seed, z);
        double sigma0 = DiffusersReference.eulerInitSigma(DiffusersReference.sdAlphasCumprod());
        float[] scaled = z.clone();
        for (int i = 0; i < scaled.length; i++) scaled[i] = (float) (z[i] * sigma0);
        double[] got = latents(p, negGiven, steps, g, clipSkip, scaled);
        double[] want = DiffusersReference.euler(zd, DiffusersReference.sdAlphasCumprod(), steps, false, model(p, negComposed, g, clipSkip));
        return new double[][] {got, want};
    }

    /**
     * StableDiffusionXLImg2ImgPipeline on the base folder: the encoded picture (scaling_factor · the VAE's sample), Euler's
     * add_noise x0 + σ[t_start]·ε with t_start = 5 − int(5·0.6) = 2, the loop from there with the picture's time ids;
     * one step later is told apart.
     */
    @Test
    void imageToImageMatchesTheComposition() {
        int steps = 5, begin = 2;
        long seed = 9;
        double g = 4.0;
        float[] px = new float[3 * 16 * 16];
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < px.length; i++) px[i] = (float) (r.nextDouble() * 2 - 1);
        double[] ac = DiffusersReference.sdAlphasCumprod();
        double sigma = DiffusersReference.eulerSigmas(ac, steps)[begin];
        try (Tensor img = cpu.upload(DType.F32, px, 1, 3, 16, 16); Tensor x0 = xl.vae().encodeScaled(img, seed);
             Tensor e = Noise.gaussian(cpu, DType.F32, seed, StableDiffusion.INIT_STREAM, LATENT)) {
            float[] a = x0.toFloatArray(), n = e.toFloatArray();
            double[] start = new double[n.length];
            for (int i = 0; i < n.length; i++) start[i] = a[i % a.length] + sigma * n[i]; // one picture for both prompts
            double[] want = DiffusersReference.euler(start, ac, steps, false, model(xl, null, g, 0), begin);
            StableDiffusion.Options o = StableDiffusion.Options.defaults().withSteps(steps).withGuidance(g).withSeed(seed);
            double[] got;
            try (Tensor l = xl.sampleFromImage(PROMPTS, null, img, 0.6, o, null)) {
                assertArrayEquals(LATENT, l.shape());
                float[] f = l.toFloatArray();
                got = new double[f.length];
                for (int i = 0; i < f.length; i++) got[i] = f[i];
            }
            assertTrue(relL2(got, want) < 1e-4, "SDXL image-to-image relL2 " + relL2(got, want));
            double[] later = DiffusersReference.euler(start, ac, steps, false, model(xl, null, g, 0), begin + 1);
            assertTrue(relL2(got, later) > 1e-3, "the start step is seen");
            String m = assertThrows(IllegalArgumentException.class, () -> xl.sampleFromImage(PROMPTS, null, img, 0.1, o, null)).getMessage();
            assertTrue(m.contains("below one step"), m);
            m = assertThrows(IllegalArgumentException.class, () -> xl.sampleFromImage(PROMPTS, List.of("x"), img, 0.6, o, null)).getMessage();
            assertTrue(m.contains("negative prompts"), m);
        }
    }

    @Test
    void forceZerosWithoutNegativePromptsMatchesTheComposition() {
        assertTrue(xl.forceZerosForEmptyPrompt());
        double[][] r = run(xl, null, null, 4, 5.0, 0, 1);
        assertTrue(relL2(r[0], r[1]) < 1e-4, "SDXL pipeline (zeros negative) vs composition: relL2 " + relL2(r[0], r[1]));
        // the guidance order and the zeros are visible: swapping the halves, or encoding "" instead of zeros, moves far outside
        double[][] empty = run(xl, null, List.of("", ""), 4, 5.0, 0, 1);
        assertTrue(relL2(empty[0], empty[1]) > 1e-3, "zeros, not the encoded empty prompt: " + relL2(empty[0], empty[1]));
        double[][] neg = run(xl, null, null, 4, -4.0, 0, 1);
        assertTrue(relL2(r[0], neg[1]) > 1e-2, "the guidance order is visible");
    }

    @Test
    void negativePromptsAndClipSkipMatchTheComposition() {
        double[][] r = run(xl, NEG, NEG, 3, 4.0, 1, 2);
        assertTrue(relL2(r[0], r[1]) < 1e-4, "negative prompts, clip skip 1: relL2 " + relL2(r[0], r[1]));
        double[][] noSkip = run(xl, NEG, NEG, 3, 4.0, 0, 2);
        assertTrue(relL2(r[0], noSkip[0]) > 1e-3, "clip skip moves the result");
    }

    @Test
    void withoutForceZerosTheEmptyPromptIsEncoded() {
        Path d = SdxlFixture.write(tmp.resolve("nozeros"), 21, false);
        try (StableDiffusionXL p = StableDiffusionXL.load(cpu, d)) {
            assertFalse(p.forceZerosForEmptyPrompt());
            double[][] r = run(p, null, List.of("", ""), 3, 3.0, 0, 3);
            assertTrue(relL2(r[0], r[1]) < 1e-4, "force_zeros false: \"\" encoded: relL2 " + relL2(r[0], r[1]));
        }
    }

    @Test
    void seedsGuidanceAndDefaults() {
        StableDiffusion.Options o = StableDiffusion.Options.defaults().withSize(16, 16).withSteps(2);
        try (Tensor a = xl.sample(PROMPTS, null, o.withSeed(5), null); Tensor b = xl.sample(PROMPTS, null, o.withSeed(5), null);
             Tensor c = xl.sample(PROMPTS, null, o.withSeed(6), null);
             Tensor e = xl.sample(PROMPTS, null, o.withSeed(5).withGuidance(1), null);
             Tensor f = xl.sample(PROMPTS, NEG, o.withSeed(5).withGuidance(1), null)) {
            assertArrayEquals(LATENT, a.shape());
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), "same seed, same latents");
            assertFalse(Arrays.equals(a.toFloatArray(), c.toFloatArray()), "another seed");
            assertArrayEquals(e.toFloatArray(), f.toFloatArray(), "without guidance the negative prompts are not used");
        }
        assertEquals(64, xl.defaultSize()); // the fixture UNet's sample_size 32 × the VAE's 2
        assertArrayEquals(new float[] {768, 1024, 0, 0, 768, 1024}, StableDiffusionXL.defaultTimeIds(1024, 768));
        try (StableDiffusionXL.Embeddings em = xl.encodePrompts(PROMPTS, 0)) {
            assertArrayEquals(new long[] {2, 77, SdxlFixture.CROSS}, em.states().shape());
            assertArrayEquals(new long[] {2, SdxlFixture.PROJ}, em.pooled().shape());
        }
        var img = xl.generate(List.of("a cat"), null, o, null);
        assertEquals(16, img[0].getWidth());
    }

    @Test
    void txt2imgCommandRunsAnSdxlFolder(@TempDir Path out) throws IOException {
        String[] r = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--steps", "2",
                "--width", "16", "--height", "16", "--out", out.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        for (String f : new String[] {"image-0.png", "grid.png", "latents.safetensors"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        assertEquals(16, javax.imageio.ImageIO.read(out.resolve("image-0.png").toFile()).getWidth());
        // the command's latents are the pipeline's
        try (Tensor l = xl.sample(List.of("a red cat"), null, StableDiffusion.Options.defaults().withSize(16, 16).withSteps(2), null);
             var f = dev.surpass.io.SafeTensors.open(out.resolve("latents.safetensors")); Tensor t = f.tensor("latents", cpu)) {
            assertArrayEquals(l.toFloatArray(), t.toFloatArray());
        }
        // image-to-image (StableDiffusionXLImg2ImgPipeline): the command's latents are sampleFromImage's on the same picture
        Path png = out.resolve("init.png");
        java.awt.image.BufferedImage pic = new java.awt.image.BufferedImage(16, 16, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) pic.setRGB(x, y, (x * 16) << 16 | (y * 16) << 8 | 0x40);
        javax.imageio.ImageIO.write(pic, "png", png.toFile());
        String[] i2i = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--steps", "4", "--strength", "0.5",
                "--init-image", png.toString(), "--out", out.resolve("i2i").toString(), "--device", "cpu");
        assertEquals("0", i2i[0], i2i[1] + i2i[2]);
        try (Tensor img = dev.surpass.model.vae.AutoencoderKL.fromImages(cpu, new java.awt.image.BufferedImage[] {pic});
             Tensor l = xl.sampleFromImage(List.of("a red cat"), null, img, 0.5, StableDiffusion.Options.defaults().withSteps(4), null);
             var f = dev.surpass.io.SafeTensors.open(out.resolve("i2i").resolve("latents.safetensors")); Tensor t = f.tensor("latents", cpu)) {
            assertArrayEquals(l.toFloatArray(), t.toFloatArray());
        }
    }

    @org.junit.jupiter.api.Tag("gpu")
    @Test
    void cudaMatchesCpu() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        StableDiffusion.Options o = StableDiffusion.Options.defaults().withSize(16, 16).withSteps(3).withSeed(9);
        try (Device g = Device.cuda(0); StableDiffusionXL onGpu = StableDiffusionXL.load(g, dir);
             Tensor a = xl.sample(PROMPTS, NEG, o, null); Tensor b = onGpu.sample(PROMPTS, NEG, o, null); Tensor bh = b.to(cpu)) {
            double[] want = new double[(int) a.numel()], got = new double[want.length];
            float[] af = a.toFloatArray(), bf = bh.toFloatArray();
            for (int i = 0; i < want.length; i++) {
                want[i] = af[i];
                got[i] = bf[i];
            }
            assertTrue(relL2(got, want) < 1e-4, "SDXL pipeline CUDA vs CPU: relL2 " + relL2(got, want));
        }
    }

    @Test
    void refusesBadInput(@TempDir Path bad) throws IOException {
        StableDiffusion.Options o = StableDiffusion.Options.defaults().withSteps(2);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.sample(List.of(), null, o, null)).getMessage().contains("no prompts"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.sample(PROMPTS, List.of("x"), o, null)).getMessage().contains("negative"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.sample(PROMPTS, null, o.withSize(20, 16), null))
                .getMessage().contains("multiples of 8"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.sample(PROMPTS, null, o.withClipSkip(2), null))
                .getMessage().contains("clipSkip"));
        try (Tensor z = cpu.upload(DType.F32, new float[4 * 8 * 8], 1, 4, 8, 8)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.sample(PROMPTS, null, o.withSize(16, 16).withLatents(z), null))
                    .getMessage().contains("latents"));
        }
        assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, bad));
        Path sd1 = SdFixture.write(bad.resolve("sd1"), 3);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, sd1)).getMessage().contains("StableDiffusionPipeline"));
        assertFalse(StableDiffusionXL.accepts(sd1));
        assertTrue(StableDiffusionXL.accepts(dir));
        Path refiner = SdxlFixture.write(bad.resolve("refiner"), 3, null);
        Files.writeString(refiner.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionXLImg2ImgPipeline\", \"text_encoder\": [null, null], "
                + "\"requires_aesthetics_score\": true}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, refiner)).getMessage().contains("refiner"));
        // a base folder saved by the image-to-image class loads (its text_encoder is there)
        Files.writeString(refiner.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionXLImg2ImgPipeline\", \"requires_aesthetics_score\": false}");
        assertTrue(StableDiffusionXL.accepts(refiner));
        StableDiffusionXL.load(cpu, refiner).close();
        Path noTok2 = SdxlFixture.write(bad.resolve("notok2"), 3, null);
        for (String f : new String[] {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"}) {
            Files.delete(noTok2.resolve("tokenizer_2").resolve(f));
        }
        Files.delete(noTok2.resolve("tokenizer_2"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, noTok2)).getMessage().contains("tokenizer_2/"));
        Path badFz = SdxlFixture.write(bad.resolve("badfz"), 3, null);
        Files.writeString(badFz.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionXLPipeline\", \"force_zeros_for_empty_prompt\": \"yes\"}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, badFz)).getMessage().contains("force_zeros_for_empty_prompt"));
        Path short2 = SdxlFixture.write(bad.resolve("short2"), 3, null);
        Files.writeString(short2.resolve("tokenizer_2").resolve("tokenizer_config.json"), "{\"model_max_length\": 64, \"do_lower_case\": true}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, short2)).getMessage().contains("77 and 64"));
        Path narrow = SdxlFixture.write(bad.resolve("narrow"), 3, null);
        Path te2 = narrow.resolve("text_encoder_2").resolve("config.json");
        Files.writeString(te2, Files.readString(te2).replace("\"projection_dim\": 24", "\"projection_dim\": 20"));
        assertThrows(IllegalArgumentException.class, () -> StableDiffusionXL.load(cpu, narrow)); // text_projection's shape, or the pooled width
        // SD 1.x's text-to-image pipeline refuses an SDXL folder by name
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusion.load(cpu, dir)).getMessage().contains("SDXL"));
        StableDiffusionXL p = StableDiffusionXL.load(cpu, dir);
        p.close();
        p.close();
        assertThrows(IllegalStateException.class, () -> p.sample(PROMPTS, null, o, null));
    }
}
