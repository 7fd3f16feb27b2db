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
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.Noise;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link StableDiffusion} on a tiny random pipeline ({@link SdFixture}). The numeric check is of the
 * pipeline's own logic — tokenizing and padding, [negative; prompt] embeddings, the guidance order,
 * timesteps, initial sigma and input scaling, the scheduler arithmetic — against a composition done
 * here: the text encoder and UNet called directly (each checked against float64 references in its
 * own tests), guidance in float64 and diffusers' scheduler loops transcribed in
 * {@link DiffusersReference}. The components' numerics against PyTorch are in their parity scripts,
 * the whole pipeline's in {@code tools/parity/diffusers_sd_parity.py}.
 */
class StableDiffusionTest {
    static final List<String> PROMPTS = List.of("a red cat", "a photo of a blue dog");
    static final List<String> NEG = List.of("blurry", "");
    static final long[] LATENT = {2, 4, 8, 8}; // 16×16 pictures: the fixture's VAE is ×2

    @TempDir
    static Path tmp;
    static Path dir;
    static Device cpu;
    static StableDiffusion sd;

    @BeforeAll
    static void load() {
        dir = SdFixture.write(tmp.resolve("sd"), 11);
        cpu = Device.cpu();
        sd = StableDiffusion.load(cpu, dir);
    }

    @AfterAll
    static void close() {
        if (sd != null) sd.close();
        if (cpu != null) cpu.close();
    }

    static float[] noise(long seed) {
        try (Tensor z = Noise.gaussian(cpu, DType.F32, seed, 3, LATENT)) {
            return z.toFloatArray();
        }
    }

    /** The composition: [neg; prompt] embeddings, the UNet on [x; x], u + g·(c − u) in float64. */
    static DiffusersReference.Model model(double g, int clipSkip) {
        return model(g, clipSkip, 0);
    }

    static DiffusersReference.Model model(double g, int clipSkip, double phi) {
        int[][] ids = new int[4][];
        for (int i = 0; i < 2; i++) {
            ids[i] = sd.tokenizer().encodePadded(NEG.get(i), 77);
            ids[2 + i] = sd.tokenizer().encodePadded(PROMPTS.get(i), 77);
        }
        float[] text;
        try (Tensor neg = sd.textEncoder().hiddenStates(new int[][] {ids[0], ids[1]}, 0);
             Tensor pos = sd.textEncoder().hiddenStates(new int[][] {ids[2], ids[3]}, clipSkip)) {
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
            if (phi > 0) { // diffusers' rescale_noise_cfg, per sample, torch's unbiased std
                int per = n / 2;
                for (int k = 0; k < 2; k++) {
                    double[] c = new double[per], gg = new double[per];
                    for (int j = 0; j < per; j++) {
                        c[j] = out[n + k * per + j];
                        gg[j] = e[k * per + j];
                    }
                    double f = phi * std(c) / std(gg) + (1 - phi);
                    for (int j = 0; j < per; j++) e[k * per + j] *= f;
                }
            }
            return e;
        };
    }

    static double std(double[] v) {
        double m = 0, q = 0;
        for (double x : v) m += x;
        m /= v.length;
        for (double x : v) q += (x - m) * (x - m);
        return Math.sqrt(q / (v.length - 1));
    }

    static double[] latents(DiffusersSampler.Kind kind, int steps, double g, int clipSkip, float[] start) {
        try (Tensor z = cpu.upload(DType.F32, start, LATENT);
             Tensor l = sd.sample(PROMPTS, NEG, StableDiffusion.Options.defaults().withSize(16, 16).withSteps(steps).withGuidance(g)
                     .withScheduler(kind).withClipSkip(clipSkip).withLatents(z), null)) {
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

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    @Test
    void pndmPipelineMatchesTheComposition() {
        float[] z = noise(1);
        double[] got = latents(null, 6, 5.0, 0, z); // the folder's PNDM
        double[] want = DiffusersReference.pndm(toDouble(z), DiffusersReference.sdAlphasCumprod(), 6, false, model(5.0, 0));
        double err = relL2(got, want);
        assertTrue(err < 1e-4, "PNDM pipeline vs composition: relL2 " + err);
        // swapping the guidance halves (cond first) is far outside that
        double[] swapped = DiffusersReference.pndm(toDouble(z), DiffusersReference.sdAlphasCumprod(), 6, false, model(-4.0, 0));
        assertTrue(relL2(got, swapped) > 1e-2, "the guidance order is visible");
    }

    @Test
    void eulerScalesTheInputAndTheNoise() {
        float[] z = noise(2);
        double sigma0 = DiffusersReference.eulerInitSigma(DiffusersReference.sdAlphasCumprod());
        float[] scaled = z.clone();
        for (int i = 0; i < scaled.length; i++) scaled[i] = (float) (z[i] * sigma0);
        double[] got = latents(DiffusersSampler.Kind.EULER, 5, 3.0, 0, scaled);
        double[] want = DiffusersReference.euler(toDouble(z), DiffusersReference.sdAlphasCumprod(), 5, false, model(3.0, 0));
        double err = relL2(got, want);
        assertTrue(err < 1e-4, "Euler pipeline vs composition: relL2 " + err);
    }

    @Test
    void clipSkipAppliesToThePromptOnly() {
        float[] z = noise(3);
        double[] got = latents(DiffusersSampler.Kind.DPMPP_2M, 4, 4.0, 1, z);
        double[] want = DiffusersReference.dpm(toDouble(z), DiffusersReference.sdAlphasCumprod(), 4, model(4.0, 1));
        assertTrue(relL2(got, want) < 1e-4, "clip skip 1: relL2 " + relL2(got, want));
        assertTrue(relL2(got, latents(DiffusersSampler.Kind.DPMPP_2M, 4, 4.0, 0, z)) > 1e-3, "clip skip moves the result");
    }

    /**
     * Every call frees all it allocates: after a warm-up (which may cache per-length tables) each
     * scheduler's sampling with guidance and clip skip, the decode, and the models' own calls leave
     * the device handle holding the loaded weights and nothing else. The CPU runs the code a GPU
     * does (ops dispatch inside), where a leak would be device memory lost on every call.
     */
    @Test
    void callsLeaveNothingAllocated() {
        try (Device d = Device.cpu(); StableDiffusion p = StableDiffusion.load(d, dir)) {
            StableDiffusion.Options o = StableDiffusion.Options.defaults().withSize(16, 16).withSteps(3).withGuidance(4).withClipSkip(1);
            try (Tensor warm = p.sample(PROMPTS, NEG, o.withScheduler(DiffusersSampler.Kind.DDIM), null)) {
                assertArrayEquals(LATENT, warm.shape());
            }
            int base = d.liveAllocations();
            for (DiffusersSampler.Kind k : DiffusersSampler.Kind.values()) {
                if (k == DiffusersSampler.Kind.FLOW_EULER) continue; // flow matching: SD3 configs only (DiffusersSamplerFlowTest)
                for (double g : new double[] {1, 4}) {
                    try (Tensor lat = p.sample(PROMPTS, NEG, o.withScheduler(k).withGuidance(g).withEta(k == DiffusersSampler.Kind.DDIM ? 0.5 : 0), null);
                         Tensor img = p.decode(lat)) {
                        assertEquals(base + 2, d.liveAllocations(), k + " guidance " + g + ": only the latents and the images are left");
                    }
                    assertEquals(base, d.liveAllocations(), k + " guidance " + g);
                }
            }
            try (Tensor given = d.zeros(DType.F32, LATENT); Tensor lat = p.sample(PROMPTS, null, o.withLatents(given), null)) {
                assertEquals(base + 2, d.liveAllocations(), "given latents");
            }
            int[][] ids = {{0, 3, 4, 2}};
            try (Tensor h = p.textEncoder().hiddenStates(ids, 0); Tensor h1 = p.textEncoder().hiddenState(ids, 0);
                 var out = p.textEncoder().forward(ids)) {
                assertTrue(h.numel() > 0 && h1.numel() > 0 && out.lastHiddenState().numel() > 0);
            }
            assertEquals(base, d.liveAllocations(), "text encoder calls");
            try (Tensor x = d.zeros(DType.BF16, 1, 4, 8, 8); Tensor ctx = d.zeros(DType.F16, 1, 5, p.unet().config().crossAttentionDim());
                 Tensor y = p.unet().forward(x, new float[] {10f}, ctx)) {
                assertEquals(base + 3, d.liveAllocations(), "16-bit inputs: only the inputs and the output are left");
            }
            assertEquals(base, d.liveAllocations(), "UNet with 16-bit inputs");
        }
    }

    @Test
    void guidanceRescaleAsDiffusers() {
        float[] z = noise(4);
        double[] got;
        try (Tensor t = cpu.upload(DType.F32, z, LATENT);
             Tensor l = sd.sample(PROMPTS, NEG, StableDiffusion.Options.defaults().withSize(16, 16).withSteps(5).withGuidance(7.5)
                     .withGuidanceRescale(0.7).withLatents(t), null)) {
            got = toDouble(l.toFloatArray());
        }
        double[] want = DiffusersReference.pndm(toDouble(z), DiffusersReference.sdAlphasCumprod(), 5, false, model(7.5, 0, 0.7));
        assertTrue(relL2(got, want) < 1e-4, "guidance_rescale 0.7: relL2 " + relL2(got, want));
        double[] plain = DiffusersReference.pndm(toDouble(z), DiffusersReference.sdAlphasCumprod(), 5, false, model(7.5, 0, 0));
        assertTrue(relL2(got, plain) > 1e-3, "the rescale moves the result");
        assertThrows(IllegalArgumentException.class, () -> StableDiffusion.Options.defaults().withGuidanceRescale(1.5));
    }

    @Test
    void seedsNegativePromptsAndGuidance() {
        StableDiffusion.Options o = StableDiffusion.Options.defaults().withSize(16, 16).withSteps(3).withScheduler(DiffusersSampler.Kind.DDIM);
        try (Tensor a = sd.sample(PROMPTS, null, o.withSeed(5), null); Tensor b = sd.sample(PROMPTS, null, o.withSeed(5), null);
             Tensor c = sd.sample(PROMPTS, null, o.withSeed(6), null); Tensor d = sd.sample(PROMPTS, NEG, o.withSeed(5), null);
             Tensor e = sd.sample(PROMPTS, null, o.withSeed(5).withGuidance(1), null);
             Tensor f = sd.sample(PROMPTS, NEG, o.withSeed(5).withGuidance(1), null)) {
            assertArrayEquals(LATENT, a.shape());
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), "same seed, same latents");
            assertFalse(Arrays.equals(a.toFloatArray(), c.toFloatArray()), "another seed");
            assertFalse(Arrays.equals(a.toFloatArray(), d.toFloatArray()), "negative prompts are used with guidance");
            assertArrayEquals(e.toFloatArray(), f.toFloatArray(), "without guidance the negative prompts are not used");
        }
        int[] calls = {0};
        BufferedImage[] img = sd.generate(PROMPTS, null, o, (done, total) -> {
            calls[0]++;
            assertEquals(3, total);
        });
        assertEquals(2, img.length);
        assertEquals(16, img[0].getWidth());
        assertEquals(16, img[0].getHeight());
        assertEquals(3, calls[0]);
        assertEquals(16, sd.defaultSize()); // sample_size 8 × the VAE's 2
    }

    @Test
    void refusesBadInput(@TempDir Path bad) throws IOException {
        StableDiffusion.Options o = StableDiffusion.Options.defaults().withSteps(2);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sample(List.of(), null, o, null)).getMessage().contains("no prompts"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sample(PROMPTS, List.of("x"), o, null)).getMessage().contains("negative"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sample(PROMPTS, null, o.withSize(18, 16), null))
                .getMessage().contains("multiples of 4"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sample(PROMPTS, null, o.withClipSkip(2), null))
                .getMessage().contains("clipSkip"));
        try (Tensor z = cpu.upload(DType.F32, new float[4 * 8 * 8], 1, 4, 8, 8)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> sd.sample(PROMPTS, null, o.withSize(16, 16).withLatents(z), null))
                    .getMessage().contains("latents"));
        }
        // not a pipeline, SDXL, a missing part, parts that do not fit
        assertThrows(IllegalArgumentException.class, () -> StableDiffusion.load(cpu, bad));
        Path xl = copy(bad.resolve("xl"));
        Files.writeString(xl.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionXLPipeline\"}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusion.load(cpu, xl)).getMessage().contains("SDXL"));
        Path noUnet = copy(bad.resolve("nounet"));
        deleteTree(noUnet.resolve("unet"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> StableDiffusion.load(cpu, noUnet)).getMessage().contains("unet/"));
        Path wide = copy(bad.resolve("wide"));
        Path cfg = wide.resolve("unet").resolve("config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"cross_attention_dim\": 64", "\"cross_attention_dim\": 48"));
        assertThrows(IllegalArgumentException.class, () -> StableDiffusion.load(cpu, wide)); // the UNet's to_k no longer fits, or the widths differ
        sd.close(); // closing twice is harmless; use after close throws
        sd.close();
        assertThrows(IllegalStateException.class, () -> sd.sample(PROMPTS, null, o, null));
        sd = StableDiffusion.load(cpu, dir);
    }

    @Test
    void txt2imgCommandWritesPictures(@TempDir Path out) throws IOException {
        String[] r = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--prompt", "a blue dog",
                "--negative-prompt", "blurry", "--steps", "3", "--scheduler", "euler", "--width", "16", "--height", "16", "--out", out.toString(),
                "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        for (String f : new String[] {"image-0.png", "image-1.png", "grid.png", "latents.safetensors"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        assertEquals(16, ImageIO.read(out.resolve("image-1.png").toFile()).getWidth());
        String[] badSched = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a", "--scheduler", "lms", "--out", out.toString());
        assertEquals("2", badSched[0]);
        assertTrue(badSched[2].contains("--scheduler"), badSched[2]);
        String[] notSd = dev.surpass.cli.CliRuns.run("txt2img", "--model", out.toString(), "--prompt", "a", "--out", out.toString());
        assertEquals("2", notSd[0]);
        assertTrue(notSd[2].contains("model_index.json"), notSd[2]);
    }

    private static Path copy(Path to) throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path q = to.resolve(dir.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
        return to;
    }

    private static void deleteTree(Path p) throws IOException {
        try (var files = Files.walk(p)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
