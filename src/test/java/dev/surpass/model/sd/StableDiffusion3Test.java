package dev.surpass.model.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
 * {@link StableDiffusion3} on tiny random SD3-shaped folders ({@link Sd3Fixture}), against a
 * composition done here as diffusers' StableDiffusion3Pipeline reads: both CLIP tokenizers, each
 * encoder's {@code hidden_states[-2]} concatenated and zero-padded to joint_attention_dim, the T5
 * states of the prompt padded to max_sequence_length (or zeros without a T5) after them, the pooled
 * text_embeds side by side, [negative; prompt], the transformer called directly on [x; x], guidance
 * in float64 and {@link DiffusersReference#flowEuler}. The components' own numerics are checked in
 * their tests.
 */
class StableDiffusion3Test {
    static final List<String> PROMPTS = List.of("a red cat", "a photo of a blue dog!");
    static final List<String> NEG = List.of("blurry", "");
    static final long[] LATENT = {2, Sd3Fixture.LAT, 8, 6}; // 12×16 pictures: the fixture's VAE is ×2
    static final int SEQ = 7; // max_sequence_length: short, so one prompt is truncated ("a photo of a blue dog !" is 7 words + </s>)

    @TempDir
    static Path tmp;
    static Device cpu;
    static StableDiffusion3 withT5, noT5;

    @BeforeAll
    static void load() {
        cpu = Device.cpu();
        withT5 = StableDiffusion3.load(cpu, Sd3Fixture.write(tmp.resolve("sd3"), 31, true, false));
        noT5 = StableDiffusion3.load(cpu, Sd3Fixture.write(tmp.resolve("sd35-no-t5"), 32, false, true));
    }

    @AfterAll
    static void close() {
        if (withT5 != null) withT5.close();
        if (noT5 != null) noT5.close();
        if (cpu != null) cpu.close();
    }

    /** {@code [B, 77 + SEQ, JOINT]} states and {@code [B, P1 + P2]} pooled, composed from the encoders called directly. */
    static float[][] encode(StableDiffusion3 p, List<String> prompts, int clipSkip) {
        int b = prompts.size(), j = Sd3Fixture.JOINT, len = 77 + SEQ;
        int[][] a = new int[b][], c = new int[b][], t = new int[b][];
        for (int i = 0; i < b; i++) {
            a[i] = p.tokenizer().encodePadded(prompts.get(i), 77);
            c[i] = p.tokenizer2().encodePadded(prompts.get(i), 77);
            if (p.tokenizer3() != null) {
                int[] ids = p.tokenizer3().encode(prompts.get(i)); // the whole text and </s>, then cut keeping </s>, then <pad> 0
                t[i] = new int[SEQ];
                if (ids.length > SEQ) {
                    System.arraycopy(ids, 0, t[i], 0, SEQ - 1);
                    t[i][SEQ - 1] = 1;
                } else {
                    System.arraycopy(ids, 0, t[i], 0, ids.length);
                }
            }
        }
        float[] states = new float[b * len * j];
        float[] pooled = new float[b * (Sd3Fixture.P1 + Sd3Fixture.P2)];
        int n1 = p.textEncoder().config().numLayers(), n2 = p.textEncoder2().config().numLayers();
        try (Tensor h1 = p.textEncoder().hiddenState(a, n1 - 1 - clipSkip); Tensor h2 = p.textEncoder2().hiddenState(c, n2 - 1 - clipSkip);
             ClipTextOutput o1 = p.textEncoder().forward(a); ClipTextOutput o2 = p.textEncoder2().forward(c)) {
            float[] x1 = h1.toFloatArray(), x2 = h2.toFloatArray(), q1 = o1.textEmbeds().toFloatArray(), q2 = o2.textEmbeds().toFloatArray();
            for (int s = 0; s < b; s++) {
                for (int k = 0; k < 77; k++) { // cat(clip_l, clip_g) then F.pad to joint_attention_dim (zeros stay)
                    System.arraycopy(x1, (s * 77 + k) * Sd3Fixture.D1, states, (s * len + k) * j, Sd3Fixture.D1);
                    System.arraycopy(x2, (s * 77 + k) * Sd3Fixture.D2, states, (s * len + k) * j + Sd3Fixture.D1, Sd3Fixture.D2);
                }
                System.arraycopy(q1, s * Sd3Fixture.P1, pooled, s * (Sd3Fixture.P1 + Sd3Fixture.P2), Sd3Fixture.P1);
                System.arraycopy(q2, s * Sd3Fixture.P2, pooled, s * (Sd3Fixture.P1 + Sd3Fixture.P2) + Sd3Fixture.P1, Sd3Fixture.P2);
            }
        }
        if (p.textEncoder3() != null) {
            try (Tensor h3 = p.textEncoder3().forward(t, null)) {
                float[] x3 = h3.toFloatArray();
                for (int s = 0; s < b; s++) System.arraycopy(x3, s * SEQ * j, states, (s * len + 77) * j, SEQ * j);
            }
        }
        return new float[][] {states, pooled};
    }

    static float[] cat(float[] a, float[] b) {
        float[] o = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, o, a.length, b.length);
        return o;
    }

    /** The composition: [negative; prompt] conditioning, the transformer on [x; x], u + g·(c − u) in float64 (g ≤ 1: the prompts alone). */
    static DiffusersReference.Model model(StableDiffusion3 p, double g, int clipSkip) {
        float[][] pos = encode(p, PROMPTS, clipSkip);
        boolean cfg = g > 1;
        float[][] unc = cfg ? encode(p, NEG, 0) : null;
        float[] ctx = cfg ? cat(unc[0], pos[0]) : pos[0], pooled = cfg ? cat(unc[1], pos[1]) : pos[1];
        int rows = cfg ? 4 : 2;
        return (xin, t) -> {
            int n = xin.length;
            float[] in = new float[rows / 2 * n];
            for (int i = 0; i < n; i++) {
                in[i] = (float) xin[i];
                if (cfg) in[n + i] = (float) xin[i];
            }
            float[] ts = new float[rows];
            Arrays.fill(ts, (float) t);
            float[] out;
            try (Tensor x = cpu.upload(DType.F32, in, rows, LATENT[1], LATENT[2], LATENT[3]);
                 Tensor c = cpu.upload(DType.F32, ctx, rows, 77 + SEQ, Sd3Fixture.JOINT);
                 Tensor pl = cpu.upload(DType.F32, pooled, rows, Sd3Fixture.P1 + Sd3Fixture.P2);
                 Tensor o = p.transformer().forward(x, ts, c, pl)) {
                out = o.toFloatArray();
            }
            double[] e = new double[n];
            for (int i = 0; i < n; i++) e[i] = cfg ? out[i] + g * ((double) out[n + i] - out[i]) : out[i];
            return e;
        };
    }

    static double[] start(long seed, float[] zOut) {
        try (Tensor z = Noise.gaussian(cpu, DType.F32, seed, 3, LATENT)) {
            float[] f = z.toFloatArray();
            System.arraycopy(f, 0, zOut, 0, f.length);
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
    }

    static double relL2(double[] got, double[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    static double[] run(StableDiffusion3 p, int steps, double g, int clipSkip, float[] z) {
        StableDiffusion.Options o = StableDiffusion3.defaults().withSize(12, 16).withSteps(steps).withGuidance(g).withClipSkip(clipSkip);
        try (Tensor lz = cpu.upload(DType.F32, z, LATENT); Tensor l = p.sample(PROMPTS, NEG, o.withLatents(lz), SEQ, null)) {
            assertArrayEquals(LATENT, l.shape());
            float[] f = l.toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
    }

    @Test
    void matchesTheCompositionWithT5() {
        float[] z = new float[(int) Arrays.stream(LATENT).reduce(1, (x, y) -> x * y)];
        double[] x0 = start(5, z);
        int steps = 4;
        double g = 4.5;
        double[] want = DiffusersReference.flowEuler(x0, DiffusersReference.flowSigmas(steps, 3.0, 1000, false), 1000, model(withT5, g, 1), 0);
        double[] got = run(withT5, steps, g, 1, z);
        double err = relL2(got, want);
        assertTrue(err < 1e-4, "SD3 latents relL2 " + err);
        // can fail: the negative and positive halves swapped is far off
        double[] swapped = DiffusersReference.flowEuler(x0, DiffusersReference.flowSigmas(steps, 3.0, 1000, false), 1000, model(withT5, 1 - g, 1), 0);
        assertTrue(relL2(got, swapped) > 1e-2, "guidance order is seen");
    }

    /**
     * A scheduler that shifts dynamically (SD3.5 configs may): μ = calculate_shift of the transformer's token count
     * ((8/2)·(6/2) = 12 here), the timesteps spaced between the unshifted training ends and mapped by
     * e^μ / (e^μ + 1/σ − 1), as StableDiffusion3Pipeline does; the fixed shift 3 is ignored then.
     */
    @Test
    void dynamicShiftingFollowsTheTokenCount() throws Exception {
        Path dir = Sd3Fixture.write(tmp.resolve("sd3-dynamic"), 31, true, false);
        Files.writeString(dir.resolve("scheduler/scheduler_config.json"), "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", "
                + "\"num_train_timesteps\": 1000, \"shift\": 3.0, \"use_dynamic_shifting\": true, \"base_shift\": 0.5, \"max_shift\": 1.15, "
                + "\"base_image_seq_len\": 256, \"max_image_seq_len\": 4096}");
        try (StableDiffusion3 p = StableDiffusion3.load(cpu, dir)) {
            float[] z = new float[(int) Arrays.stream(LATENT).reduce(1, (x, y) -> x * y)];
            double[] x0 = start(6, z);
            int steps = 3;
            double m = (1.15 - 0.5) / (4096 - 256), mu = 12 * m + (0.5 - m * 256);
            double[] sig = new double[steps + 1];
            double hi = 1000, lo = (float) (1f / 1000) * 1000.0;
            for (int i = 0; i < steps; i++) {
                double sg = (i == steps - 1 ? lo : hi + i * (lo - hi) / (steps - 1)) / 1000;
                sig[i] = (float) (Math.exp(mu) / (Math.exp(mu) + (1 / sg - 1)));
            }
            double[] want = DiffusersReference.flowEuler(x0, sig, 1000, model(p, 4.5, 1), 0);
            double[] got = run(p, steps, 4.5, 1, z);
            assertTrue(relL2(got, want) < 1e-4, "dynamic-shift SD3 latents relL2 " + relL2(got, want));
            double[] fixed = DiffusersReference.flowEuler(x0, DiffusersReference.flowSigmas(steps, 3.0, 1000, false), 1000, model(p, 4.5, 1), 0);
            assertTrue(relL2(got, fixed) > 1e-3, "the fixed shift is not what ran");
        }
    }

    @Test
    void withoutT5TheStatesAreZerosAndGuidanceCanBeOff() {
        assertNull(noT5.textEncoder3());
        float[] z = new float[(int) Arrays.stream(LATENT).reduce(1, (x, y) -> x * y)];
        double[] x0 = start(9, z);
        for (double g : new double[] {1.0, 3.0}) {
            double[] want = DiffusersReference.flowEuler(x0, DiffusersReference.flowSigmas(3, 3.0, 1000, false), 1000, model(noT5, g, 0), 0);
            double err = relL2(run(noT5, 3, g, 0, z), want);
            assertTrue(err < 1e-4, "SD3.5-shaped, no T5, guidance " + g + ": relL2 " + err);
        }
        try (StableDiffusion3.Embeddings e = noT5.encodePrompts(PROMPTS, 0, SEQ)) {
            float[] s = e.states().toFloatArray();
            for (int b = 0; b < 2; b++) {
                for (int k = 77; k < 77 + SEQ; k++) {
                    for (int c = 0; c < Sd3Fixture.JOINT; c++) assertEquals(0f, s[(b * (77 + SEQ) + k) * Sd3Fixture.JOINT + c]);
                }
                for (int c = Sd3Fixture.D1 + Sd3Fixture.D2; c < Sd3Fixture.JOINT; c++) assertEquals(0f, s[(b * (77 + SEQ)) * Sd3Fixture.JOINT + c], "CLIP padding");
            }
        }
    }

    /** Skip-layer guidance: on steps N·start < i < N·stop, + s·(c − c_skip), c_skip the transformer without the listed blocks on the prompts alone. */
    @Test
    void skipLayerGuidance() {
        StableDiffusion3 p = noT5;
        float[] z = new float[(int) Arrays.stream(LATENT).reduce(1, (x, y) -> x * y)];
        double[] x0 = start(11, z);
        int steps = 6;
        double g = 3.5, s = 2.0;
        StableDiffusion3.SkipLayerGuidance slg = new StableDiffusion3.SkipLayerGuidance(new int[] {0}, s, 0.1, 0.6); // i = 1, 2, 3
        DiffusersReference.Model guided = model(p, g, 0);
        float[][] pos = encode(p, PROMPTS, 0);
        int[] calls = {0};
        DiffusersReference.Model withSlg = (xin, t) -> {
            int i = calls[0]++;
            double[] e = guided.apply(xin, t);
            if (!(i > steps * 0.1 && i < steps * 0.6)) return e;
            int n = xin.length;
            float[] in = new float[n];
            for (int k = 0; k < n; k++) in[k] = (float) xin[k];
            float[] c, sk;
            try (Tensor x = cpu.upload(DType.F32, in, LATENT); Tensor ctx = cpu.upload(DType.F32, pos[0], 2, 77 + SEQ, Sd3Fixture.JOINT);
                 Tensor pl = cpu.upload(DType.F32, pos[1], 2, Sd3Fixture.P1 + Sd3Fixture.P2);
                 Tensor oc = p.transformer().forward(x, new float[] {(float) t, (float) t}, ctx, pl);
                 Tensor os = p.transformer().forward(x, new float[] {(float) t, (float) t}, ctx, pl, new int[] {0})) {
                c = oc.toFloatArray();
                sk = os.toFloatArray();
            }
            for (int k = 0; k < n; k++) e[k] += s * ((double) c[k] - sk[k]);
            return e;
        };
        double[] sig = DiffusersReference.flowSigmas(steps, 3.0, 1000, false);
        double[] want = DiffusersReference.flowEuler(x0, sig, 1000, withSlg, 0);
        double[] got;
        StableDiffusion.Options o = StableDiffusion3.defaults().withSize(12, 16).withSteps(steps).withGuidance(g);
        try (Tensor lz = cpu.upload(DType.F32, z, LATENT); Tensor l = p.sample(PROMPTS, NEG, o.withLatents(lz), SEQ, slg, null)) {
            float[] f = l.toFloatArray();
            got = new double[f.length];
            for (int i = 0; i < f.length; i++) got[i] = f[i];
        }
        double err = relL2(got, want);
        assertTrue(err < 1e-4, "skip-layer guidance relL2 " + err);
        double[] plain = DiffusersReference.flowEuler(x0, sig, 1000, model(p, g, 0), 0);
        assertTrue(relL2(got, plain) > 1e-3, "skip-layer guidance changes the result: " + relL2(got, plain));
        String m = assertThrows(IllegalArgumentException.class, () -> p.sample(PROMPTS, NEG, o, SEQ,
                StableDiffusion3.SkipLayerGuidance.of(2), null)).getMessage();
        assertTrue(m.contains("layer 2"), m);
        assertThrows(IllegalArgumentException.class, () -> new StableDiffusion3.SkipLayerGuidance(new int[] {0}, 1, 0.5, 0.2));
    }

    /**
     * Image-to-image as StableDiffusion3Img2ImgPipeline: t_start = int(N − N·strength) (5 steps at 0.5: 2, where SD 1.x's
     * rule gives 3), the encoded pictures repeated over the prompts, scale_noise to σ_{t_start}, the flow loop from there.
     */
    @Test
    void imageToImage() {
        StableDiffusion3 p = withT5;
        int steps = 5, begin = 2;
        double g = 3.0, strength = 0.5;
        float[] px = new float[3 * 16 * 12];
        java.util.Random r = new java.util.Random(4);
        for (int i = 0; i < px.length; i++) px[i] = (float) (r.nextDouble() * 2 - 1);
        double[] want, got;
        try (Tensor img = cpu.upload(DType.F32, px, 1, 3, 16, 12)) { // one picture for both prompts
            float[] enc;
            try (Tensor e = p.vae().encodeScaled(img, 3)) {
                enc = e.toFloatArray();
            }
            float[] noise;
            try (Tensor z = Noise.gaussian(cpu, DType.F32, 3, StableDiffusion.INIT_STREAM, LATENT)) {
                noise = z.toFloatArray();
            }
            double[] sig = DiffusersReference.flowSigmas(steps, 3.0, 1000, false);
            double[] x = new double[noise.length];
            for (int i = 0; i < x.length; i++) x[i] = sig[begin] * noise[i] + (1 - sig[begin]) * enc[i % enc.length];
            want = DiffusersReference.flowEuler(x, sig, 1000, model(p, g, 0), begin);
            StableDiffusion.Options o = StableDiffusion3.defaults().withSteps(steps).withGuidance(g).withSeed(3);
            try (Tensor l = p.sampleFromImage(PROMPTS, NEG, img, strength, o, SEQ, null)) {
                assertArrayEquals(LATENT, l.shape());
                float[] f = l.toFloatArray();
                got = new double[f.length];
                for (int i = 0; i < f.length; i++) got[i] = f[i];
            }
            double err = relL2(got, want);
            assertTrue(err < 1e-4, "SD3 image-to-image relL2 " + err);
            double[] sd1Rule = DiffusersReference.flowEuler(x, sig, 1000, model(p, g, 0), begin + 1);
            assertTrue(relL2(got, sd1Rule) > 1e-3, "SD3's get_timesteps, not SD 1.x's");
            String m = assertThrows(IllegalArgumentException.class, () -> p.sampleFromImage(PROMPTS, NEG, img, 1.5, o, SEQ, null)).getMessage();
            assertTrue(m.contains("strength"), m);
        }
        try (Tensor odd = cpu.upload(DType.F32, new float[3 * 14 * 12], 1, 3, 14, 12)) {
            String m = assertThrows(IllegalArgumentException.class, () -> p.sampleFromImage(PROMPTS, NEG, odd, 0.5, StableDiffusion3.defaults(), SEQ, null))
                    .getMessage();
            assertTrue(m.contains("multiples of 4"), m);
        }
    }

    @Test
    void picturesAndDefaults() {
        assertEquals(32, withT5.defaultSize()); // sample_size 16 × the VAE's 2
        StableDiffusion.Options d = StableDiffusion3.defaults();
        assertEquals(28, d.steps());
        assertEquals(7.0, d.guidance());
        var imgs = withT5.generate(List.of("a cat"), null, d.withSteps(2).withSize(16, 12), null);
        assertEquals(1, imgs.length);
        assertEquals(16, imgs[0].getWidth());
        assertEquals(12, imgs[0].getHeight());
    }

    @Test
    void refusals() {
        StableDiffusion.Options o = StableDiffusion3.defaults().withSteps(2).withSize(16, 16);
        String m = assertThrows(IllegalArgumentException.class, () -> withT5.sample(PROMPTS, null, o.withScheduler(DiffusersSampler.Kind.EULER), null))
                .getMessage();
        assertTrue(m.contains("flow-euler"), m);
        m = assertThrows(IllegalArgumentException.class, () -> withT5.sample(PROMPTS, null, o.withSize(14, 16), null)).getMessage();
        assertTrue(m.contains("multiples of 4"), m);
        m = assertThrows(IllegalArgumentException.class, () -> withT5.sample(PROMPTS, List.of("x"), o, null)).getMessage();
        assertTrue(m.contains("negative prompts"), m);
        m = assertThrows(IllegalArgumentException.class, () -> withT5.sample(PROMPTS, null, o.withGuidanceRescale(0.5), null)).getMessage();
        assertTrue(m.contains("guidance_rescale"), m);
        m = assertThrows(IllegalArgumentException.class, () -> withT5.sample(PROMPTS, null, o, 0, null)).getMessage();
        assertTrue(m.contains("maxSequenceLength"), m);
        m = assertThrows(IllegalArgumentException.class, () -> withT5.encodePrompts(PROMPTS, 5, SEQ)).getMessage();
        assertTrue(m.contains("clipSkip"), m);
    }

    @Test
    void folderRefusals() throws Exception {
        Path bad = Sd3Fixture.write(tmp.resolve("bad"), 40, false, false);
        Files.writeString(bad.resolve("scheduler/scheduler_config.json"), "{\"_class_name\": \"EulerDiscreteScheduler\"}");
        String m = assertThrows(IllegalArgumentException.class, () -> StableDiffusion3.load(cpu, bad)).getMessage();
        assertTrue(m.contains("flow-matching"), m);
        Files.writeString(bad.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusion3Img2ImgPipeline\"}");
        m = assertThrows(IllegalArgumentException.class, () -> StableDiffusion3.load(cpu, bad)).getMessage();
        assertTrue(m.contains("image-to-image"), m);
        assertTrue(StableDiffusion3.accepts(tmp.resolve("sd3")));
        assertTrue(!StableDiffusion3.accepts(bad));
    }

    /** txt2img on an SD3 folder writes the pictures, and its latents are the API's for the same settings. */
    @Test
    void txt2imgCommand(@TempDir Path out) throws Exception {
        Path dir = tmp.resolve("sd3");
        String[] r = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--prompt", "a blue dog",
                "--negative-prompt", "blurry", "--steps", "2", "--guidance", "3", "--width", "16", "--height", "12", "--seed", "7",
                "--max-sequence-length", "9", "--out", out.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        for (String f : new String[] {"image-0.png", "image-1.png", "grid.png", "latents.safetensors"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        float[] cli;
        try (var f = dev.surpass.io.SafeTensors.open(out.resolve("latents.safetensors")); Tensor t = f.tensor("latents", cpu)) {
            cli = t.toFloatArray();
        }
        StableDiffusion.Options o = StableDiffusion3.defaults().withSteps(2).withGuidance(3).withSize(16, 12).withSeed(7);
        try (Tensor l = withT5.sample(List.of("a red cat", "a blue dog"), List.of("blurry", "blurry"), o, 9, null)) {
            assertArrayEquals(l.toFloatArray(), cli);
        }
        String[] bad = dev.surpass.cli.CliRuns.run("txt2img", "--model", dir.toString(), "--prompt", "a", "--scheduler", "ddim", "--steps", "2",
                "--out", out.toString(), "--device", "cpu");
        assertEquals("2", bad[0]);
        assertTrue(bad[2].contains("flow-euler"), bad[2]);
    }

    @Test
    void callsLeaveNothingAllocated() {
        StableDiffusion.Options o = StableDiffusion3.defaults().withSize(12, 16).withSteps(2);
        for (StableDiffusion3 p : new StableDiffusion3[] {withT5, noT5}) {
            for (double g : new double[] {1, 4}) {
                // a first call builds the models' caches for its shapes (CLIP's causal mask, T5's position bias, per batch size)
                try (Tensor warm = p.sample(PROMPTS, NEG, o.withGuidance(g), SEQ, null); Tensor img = p.decode(warm)) {
                    assertArrayEquals(LATENT, warm.shape());
                }
                int base = cpu.liveAllocations();
                try (Tensor lat = p.sample(PROMPTS, NEG, o.withGuidance(g), SEQ, null); Tensor img = p.decode(lat)) {
                    assertEquals(base + 2, cpu.liveAllocations(), "guidance " + g + ": only the latents and the images are left");
                }
                assertEquals(base, cpu.liveAllocations(), "guidance " + g);
            }
        }
    }
}
