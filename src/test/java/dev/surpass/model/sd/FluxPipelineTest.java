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
import dev.surpass.model.clip.ClipTextOutput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FluxPipeline} on tiny random FLUX.1-dev- and schnell-shaped folders ({@link FluxFixture}) against a composition
 * of its components written out here: CLIP's pooled output and the T5 states, the noise packed into 2×2 patches by
 * index, diffusers' {@code linspace(1, 1/N, N)} sigmas shifted (dev: by μ of the token count, in float32 as numpy does),
 * the transformer at {@code t/1000} with the distilled guidance, true CFG in float64, the float64 flow loop, and the
 * result unpacked by index.
 */
class FluxPipelineTest {
    static final List<String> PROMPTS = List.of("a red cat", "photo of a blue dog");
    static final List<String> NEG = List.of("blurry", "");
    static final int SEQ = 11, WIDTH = 24, HEIGHT = 16; // the fixture's VAE is ×2: latents 8×12, 4×6 = 24 packed tokens
    static final long[] LATENT = {2, FluxFixture.LAT, HEIGHT / 2, WIDTH / 2};
    static final int TOKENS = (HEIGHT / 4) * (WIDTH / 4);

    static Device cpu;
    static FluxPipeline fluxDev, fluxSchnell;
    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() {
        cpu = Device.cpu();
        fluxDev = FluxPipeline.load(cpu, FluxFixture.write(tmp.resolve("flux-dev"), 51, true));
        fluxSchnell = FluxPipeline.load(cpu, FluxFixture.write(tmp.resolve("flux-schnell"), 52, false));
    }

    @AfterAll
    static void close() {
        fluxDev.close();
        fluxSchnell.close();
        cpu.close();
    }

    /** {@code [states (B·SEQ·JOINT), pooled (B·CLIP)]} of the prompts, from the components. */
    static float[][] encode(FluxPipeline p, List<String> prompts) {
        int b = prompts.size();
        int[][] ids = new int[b][], ids2 = new int[b][];
        for (int i = 0; i < b; i++) {
            ids[i] = p.tokenizer().encodePadded(prompts.get(i), 77);
            int[] t = p.tokenizer2().encode(prompts.get(i), true, SEQ);
            ids2[i] = Arrays.copyOf(t, SEQ); // <pad> is 0
            assertEquals(1, t[t.length - 1], "</s> ends the T5 ids");
        }
        try (Tensor s = p.textEncoder2().forward(ids2, null); ClipTextOutput o = p.textEncoder().forward(ids)) {
            return new float[][] {s.toFloatArray(), o.pooled().toFloatArray()};
        }
    }

    /** {@code _pack_latents} by its 6-D index: out[n, (y/2)·(w/2) + x/2, c·4 + (y%2)·2 + x%2] = in[n, c, y, x]. */
    static double[] pack(float[] v, long[] s) {
        int b = (int) s[0], c = (int) s[1], h = (int) s[2], w = (int) s[3];
        double[] out = new double[v.length];
        for (int n = 0; n < b; n++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        out[((n * (h / 2) + y / 2) * (w / 2) + x / 2) * c * 4 + ch * 4 + (y % 2) * 2 + x % 2] = v[((n * c + ch) * h + y) * w + x];
        return out;
    }

    static double[] unpack(double[] v, long[] s) {
        int b = (int) s[0], c = (int) s[1], h = (int) s[2], w = (int) s[3];
        double[] out = new double[v.length];
        for (int n = 0; n < b; n++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        out[((n * c + ch) * h + y) * w + x] = v[((n * (h / 2) + y / 2) * (w / 2) + x / 2) * c * 4 + ch * 4 + (y % 2) * 2 + x % 2];
        return out;
    }

    /** diffusers' sigmas: linspace(1, 1/N, N) as float32, then (dynamic) e^μ / (e^μ + 1/σ − 1) in float32, or σ (shift 1); then 0. */
    static double[] sigmas(int n, boolean dynamic, int tokens) {
        double m = (1.15 - 0.5) / (4096 - 256), mu = tokens * m + (0.5 - m * 256);
        float e = (float) Math.exp(mu);
        double[] s = new double[n + 1];
        for (int i = 0; i < n; i++) {
            float sg = (float) (n == 1 || i < n - 1 ? 1.0 + i * ((1.0 / n - 1.0) / (n - 1)) : 1.0 / n);
            s[i] = dynamic ? e / (e + (1f / sg - 1f)) : sg;
        }
        return s;
    }

    /**
     * The transformer on the packed latents at t/1000 with the distilled guidance g (dev), true CFG s in float64 (s ≠ 1:
     * [neg; cond]; s' = 1 − s is the same with the halves swapped).
     */
    static DiffusersReference.Model model(FluxPipeline p, double g, double trueCfg) {
        float[][] pos = encode(p, PROMPTS);
        boolean cfg = trueCfg != 1;
        float[][] unc = cfg ? encode(p, NEG) : null;
        float[] ctx = cfg ? StableDiffusion3Test.cat(unc[0], pos[0]) : pos[0], pooled = cfg ? StableDiffusion3Test.cat(unc[1], pos[1]) : pos[1];
        int rows = cfg ? 4 : 2;
        float[] imgIds = new float[TOKENS * 3], txtIds = new float[SEQ * 3];
        for (int r = 0; r < HEIGHT / 4; r++) {
            for (int c = 0; c < WIDTH / 4; c++) {
                imgIds[(r * (WIDTH / 4) + c) * 3 + 1] = r;
                imgIds[(r * (WIDTH / 4) + c) * 3 + 2] = c;
            }
        }
        boolean embeds = p.transformer().config().guidanceEmbeds();
        return (xin, t) -> {
            int n = xin.length;
            float[] in = new float[rows / 2 * n];
            for (int i = 0; i < n; i++) {
                in[i] = (float) xin[i];
                if (cfg) in[n + i] = (float) xin[i];
            }
            float[] ts = new float[rows], gs = embeds ? new float[rows] : null;
            Arrays.fill(ts, (float) t / 1000f);
            if (gs != null) Arrays.fill(gs, (float) g);
            float[] out;
            try (Tensor x = cpu.upload(DType.F32, in, rows, TOKENS, FluxFixture.IN);
                 Tensor c = cpu.upload(DType.F32, ctx, rows, SEQ, FluxFixture.JOINT);
                 Tensor pl = cpu.upload(DType.F32, pooled, rows, FluxFixture.CLIP);
                 Tensor o = p.transformer().forward(x, c, pl, ts, imgIds, txtIds, gs)) {
                out = o.toFloatArray();
            }
            double[] e = new double[n];
            for (int i = 0; i < n; i++) e[i] = cfg ? out[i] + trueCfg * ((double) out[n + i] - out[i]) : out[i];
            return e;
        };
    }

    static float[] noise(long seed) {
        try (Tensor z = Noise.gaussian(cpu, DType.F32, seed, StableDiffusion.INIT_STREAM, LATENT)) {
            return z.toFloatArray();
        }
    }

    static double[] run(FluxPipeline p, int steps, double g, double trueCfg, long seed) {
        StableDiffusion.Options o = FluxPipeline.defaults().withSize(WIDTH, HEIGHT).withSteps(steps).withGuidance(g).withSeed(seed);
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(SEQ).withTrueCfgScale(trueCfg);
        try (Tensor l = p.sample(PROMPTS, trueCfg > 1 ? NEG : null, o, fo, null)) {
            assertArrayEquals(LATENT, l.shape());
            float[] f = l.toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
    }

    @Test
    void devMatchesTheComposition() {
        int steps = 3;
        double[] x0 = pack(noise(5), LATENT);
        double[] want = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, true, TOKENS), 1000, model(fluxDev, 3.5, 1), 0), LATENT);
        double[] got = run(fluxDev, steps, 3.5, 1, 5);
        double err = StableDiffusion3Test.relL2(got, want);
        assertTrue(err < 1e-4, "flux-dev latents relL2 " + err);
        // can fail: schnell's unshifted schedule, or the guidance embedding's value, give other latents
        double[] unshifted = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, false, TOKENS), 1000, model(fluxDev, 3.5, 1), 0), LATENT);
        assertTrue(StableDiffusion3Test.relL2(got, unshifted) > 1e-3, "the dynamic shift is what ran");
        double[] otherG = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, true, TOKENS), 1000, model(fluxDev, 1.0, 1), 0), LATENT);
        assertTrue(StableDiffusion3Test.relL2(got, otherG) > 1e-3, "the distilled guidance is what ran");
    }

    @Test
    void trueClassifierFreeGuidance() {
        int steps = 2;
        double[] x0 = pack(noise(6), LATENT);
        double[] want = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, true, TOKENS), 1000, model(fluxDev, 2.0, 3.0), 0), LATENT);
        double[] got = run(fluxDev, steps, 2.0, 3.0, 6);
        assertTrue(StableDiffusion3Test.relL2(got, want) < 1e-4, "true CFG relL2 " + StableDiffusion3Test.relL2(got, want));
        double[] swapped = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, true, TOKENS), 1000, model(fluxDev, 2.0, 1 - 3.0), 0), LATENT);
        assertTrue(StableDiffusion3Test.relL2(got, swapped) > 1e-3, "guidance order is seen");
        // without negative prompts true_cfg_scale does nothing, as in diffusers
        StableDiffusion.Options o = FluxPipeline.defaults().withSize(WIDTH, HEIGHT).withSteps(steps).withGuidance(2.0).withSeed(6);
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(SEQ).withTrueCfgScale(3.0);
        try (Tensor l = fluxDev.sample(PROMPTS, null, o, fo, null)) {
            double[] plain = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, true, TOKENS), 1000, model(fluxDev, 2.0, 1), 0), LATENT);
            float[] f = l.toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            assertTrue(StableDiffusion3Test.relL2(d, plain) < 1e-4);
        }
    }

    @Test
    void schnellHasNoGuidanceEmbeddingAndNoShift() {
        assertFalse(fluxSchnell.transformer().config().guidanceEmbeds());
        int steps = 4;
        double[] x0 = pack(noise(7), LATENT);
        double[] want = unpack(DiffusersReference.flowEuler(x0, sigmas(steps, false, TOKENS), 1000, model(fluxSchnell, 0, 1), 0), LATENT);
        double[] got = run(fluxSchnell, steps, 0, 1, 7);
        assertTrue(StableDiffusion3Test.relL2(got, want) < 1e-4, "schnell relL2 " + StableDiffusion3Test.relL2(got, want));
        // the distilled guidance is ignored without guidance embeddings, as in diffusers
        assertArrayEquals(got, run(fluxSchnell, steps, 7.5, 1, 7));
    }

    /**
     * Image-to-image (FluxImg2ImgPipeline): the picture encoded and sampled, scale_noise to σ[t_start] with
     * t_start = int(N − N·strength), packed, the loop from there; SD 1.x's rounding of the start would differ.
     */
    @Test
    void imageToImage() {
        int steps = 4;
        double strength = 0.6, g = 3.5;
        int begin = (int) Math.max(steps - Math.min(steps * strength, steps), 0); // 1
        float[] px = new float[3 * HEIGHT * WIDTH];
        java.util.Random r = new java.util.Random(4);
        for (int i = 0; i < px.length; i++) px[i] = (float) (r.nextDouble() * 2 - 1);
        try (Tensor img = cpu.upload(DType.F32, px, 1, 3, HEIGHT, WIDTH)) { // one picture for both prompts
            float[] enc;
            try (Tensor e = fluxDev.vae().encodeScaled(img, 3)) {
                enc = e.toFloatArray();
            }
            float[] noise = noise(3);
            double[] sig = sigmas(steps, true, TOKENS);
            float[] x = new float[noise.length];
            for (int i = 0; i < x.length; i++) x[i] = (float) (sig[begin] * noise[i] + (1 - sig[begin]) * enc[i % enc.length]);
            double[] want = unpack(DiffusersReference.flowEuler(pack(x, LATENT), sig, 1000, model(fluxDev, g, 1), begin), LATENT);
            StableDiffusion.Options o = FluxPipeline.defaults().withSteps(steps).withGuidance(g).withSeed(3);
            FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(SEQ);
            double[] got;
            try (Tensor l = fluxDev.sampleFromImage(PROMPTS, null, img, strength, o, fo, null)) {
                assertArrayEquals(LATENT, l.shape());
                float[] f = l.toFloatArray();
                got = new double[f.length];
                for (int i = 0; i < f.length; i++) got[i] = f[i];
            }
            double err = StableDiffusion3Test.relL2(got, want);
            assertTrue(err < 1e-4, "Flux image-to-image relL2 " + err);
            double[] later = unpack(DiffusersReference.flowEuler(pack(x, LATENT), sig, 1000, model(fluxDev, g, 1), begin + 1), LATENT);
            assertTrue(StableDiffusion3Test.relL2(got, later) > 1e-3, "the start step is seen");
            String m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sampleFromImage(PROMPTS, null, img, 1.5, o, fo, null)).getMessage();
            assertTrue(m.contains("strength"), m);
        }
        try (Tensor odd = cpu.upload(DType.F32, new float[3 * 14 * 12], 1, 3, 14, 12)) {
            String m = assertThrows(IllegalArgumentException.class,
                    () -> fluxDev.sampleFromImage(PROMPTS, null, odd, 0.5, FluxPipeline.defaults(), FluxPipeline.FluxOptions.defaults(), null)).getMessage();
            assertTrue(m.contains("multiples of 4"), m);
        }
    }

    /** Latents given packed (as diffusers takes them) or unpacked run the same as the seed's own noise. */
    @Test
    void givenLatentsPackedOrNot() {
        float[] z = noise(8);
        double[] packed = pack(z, LATENT);
        float[] pf = new float[packed.length];
        for (int i = 0; i < pf.length; i++) pf[i] = (float) packed[i];
        StableDiffusion.Options o = FluxPipeline.defaults().withSize(WIDTH, HEIGHT).withSteps(2).withSeed(8);
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(SEQ);
        float[] own, fromPacked, fromUnpacked;
        try (Tensor l = fluxDev.sample(PROMPTS, null, o, fo, null)) {
            own = l.toFloatArray();
        }
        try (Tensor lp = cpu.upload(DType.F32, pf, 2, TOKENS, FluxFixture.IN); Tensor l = fluxDev.sample(PROMPTS, null, o.withSeed(99).withLatents(lp), fo, null)) {
            fromPacked = l.toFloatArray();
        }
        try (Tensor lu = cpu.upload(DType.F32, z, LATENT); Tensor l = fluxDev.sample(PROMPTS, null, o.withSeed(99).withLatents(lu), fo, null)) {
            fromUnpacked = l.toFloatArray();
        }
        assertArrayEquals(own, fromPacked);
        assertArrayEquals(own, fromUnpacked);
        try (Tensor bad = cpu.upload(DType.F32, new float[2 * TOKENS * 4], 2, TOKENS, 4)) {
            String m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sample(PROMPTS, null, o.withLatents(bad), fo, null)).getMessage();
            assertTrue(m.contains("latents") && m.contains("packed"), m);
        }
    }

    @Test
    void picturesAndDefaults() {
        assertEquals(256, fluxDev.defaultSize()); // diffusers' default_sample_size 128 × the VAE's 2
        StableDiffusion.Options d = FluxPipeline.defaults();
        assertEquals(28, d.steps());
        assertEquals(3.5, d.guidance());
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults();
        assertEquals(512, fo.maxSequenceLength());
        assertEquals(1.0, fo.trueCfgScale());
        var imgs = fluxSchnell.generate(List.of("a cat"), null, d.withSteps(1).withSize(16, 12), fo.withMaxSequenceLength(SEQ), null);
        assertEquals(1, imgs.length);
        assertEquals(16, imgs[0].getWidth());
        assertEquals(12, imgs[0].getHeight());
        assertArrayEquals(new double[] {1.0, 0.75, 0.5, 0.25}, FluxPipeline.linspaceSigmas(4));
    }

    @Test
    void refusals() throws Exception {
        StableDiffusion.Options o = FluxPipeline.defaults().withSteps(2).withSize(16, 16);
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(SEQ);
        String m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sample(PROMPTS, null, o.withScheduler(DiffusersSampler.Kind.EULER), fo, null))
                .getMessage();
        assertTrue(m.contains("flow-euler"), m);
        m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sample(PROMPTS, null, o.withSize(14, 16), fo, null)).getMessage();
        assertTrue(m.contains("multiples of 4"), m);
        m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sample(PROMPTS, List.of("x"), o, fo, null)).getMessage();
        assertTrue(m.contains("negative prompts"), m);
        m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sample(PROMPTS, null, o.withClipSkip(1), fo, null)).getMessage();
        assertTrue(m.contains("clipSkip"), m);
        m = assertThrows(IllegalArgumentException.class, () -> fluxDev.sample(PROMPTS, null, o, fo.withSigmas(new double[] {1, 0.5, 0.25}), null)).getMessage();
        assertTrue(m.contains("sigmas"), m);
        assertThrows(IllegalArgumentException.class, () -> FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(513));
        m = assertThrows(IllegalArgumentException.class, () -> fluxDev.encodePrompts(PROMPTS, 0)).getMessage();
        assertTrue(m.contains("maxSequenceLength"), m);

        Path bad = FluxFixture.write(tmp.resolve("bad"), 60, false);
        Files.writeString(bad.resolve("scheduler/scheduler_config.json"), "{\"_class_name\": \"EulerDiscreteScheduler\"}");
        m = assertThrows(IllegalArgumentException.class, () -> FluxPipeline.load(cpu, bad)).getMessage();
        assertTrue(m.contains("flow-matching"), m);
        Files.writeString(bad.resolve("model_index.json"), "{\"_class_name\": \"FluxImg2ImgPipeline\"}");
        m = assertThrows(IllegalArgumentException.class, () -> FluxPipeline.load(cpu, bad)).getMessage();
        assertTrue(m.contains("not implemented"), m);
        assertTrue(FluxPipeline.accepts(tmp.resolve("flux-dev")));
        assertFalse(FluxPipeline.accepts(bad));
    }

    /** txt2img on a Flux folder writes the pictures, and its latents are the API's for the same settings (true CFG on). */
    @Test
    void txt2imgCommand(@TempDir Path out) throws Exception {
        Path dir = tmp.resolve("flux-dev");
        String[] r = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--prompt", "a blue dog",
                "--negative-prompt", "blurry", "--steps", "2", "--guidance", "3", "--true-cfg-scale", "2.5", "--width", "16", "--height", "12",
                "--seed", "7", "--max-sequence-length", "9", "--out", out.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        for (String f : new String[] {"image-0.png", "image-1.png", "grid.png", "latents.safetensors"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        float[] cli;
        try (var f = dev.surpass.io.SafeTensors.open(out.resolve("latents.safetensors")); Tensor t = f.tensor("latents", cpu)) {
            cli = t.toFloatArray();
        }
        StableDiffusion.Options o = FluxPipeline.defaults().withSteps(2).withGuidance(3).withSize(16, 12).withSeed(7);
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(9).withTrueCfgScale(2.5);
        try (Tensor l = FluxPipelineTest.fluxDev.sample(List.of("a red cat", "a blue dog"), List.of("blurry", "blurry"), o, fo, null)) {
            assertArrayEquals(l.toFloatArray(), cli);
        }
        String[] bad = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a", "--scheduler", "ddim", "--steps", "2",
                "--out", out.toString(), "--device", "cpu");
        assertEquals("2", bad[0]);
        assertTrue(bad[2].contains("flow-euler"), bad[2]);
        String[] notFlux = dev.surpass.cli.CliRuns.run("txt2img", "--model", tmp.resolve("flux-dev").getParent().toString(), "--prompt", "a",
                "--true-cfg-scale", "2", "--out", out.toString(), "--device", "cpu");
        assertEquals("2", notFlux[0]);
    }

    @Test
    void callsLeaveNothingAllocated() {
        StableDiffusion.Options o = FluxPipeline.defaults().withSize(WIDTH, HEIGHT).withSteps(2);
        FluxPipeline.FluxOptions fo = FluxPipeline.FluxOptions.defaults().withMaxSequenceLength(SEQ);
        for (double s : new double[] {1, 2}) {
            FluxPipeline.FluxOptions f = fo.withTrueCfgScale(s);
            try (Tensor warm = fluxDev.sample(PROMPTS, NEG, o, f, null); Tensor img = fluxDev.decode(warm)) {
                assertArrayEquals(LATENT, warm.shape());
            }
            int base = cpu.liveAllocations();
            try (Tensor lat = fluxDev.sample(PROMPTS, NEG, o, f, null); Tensor img = fluxDev.decode(lat)) {
                assertEquals(base + 2, cpu.liveAllocations(), "true cfg " + s + ": only the latents and the images are left");
            }
            assertEquals(base, cpu.liveAllocations(), "true cfg " + s);
        }
    }
}
