package dev.surpass.model.pixart;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersReference;
import dev.surpass.model.decoder.RefMath;
import dev.surpass.model.sd.PixArtPipeline;
import dev.surpass.model.sd.StableDiffusion;
import dev.surpass.model.vae.VaeFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PixArtPipeline} on a tiny random PixArt-α folder (transformer sample_size 128, so the
 * resolution conditions are passed; a T5 tokenizer.json, a gated-gelu T5 encoder, the ×2 test VAE, the
 * Hub's DPM-Solver++ config). The pipeline's own logic — lower-casing, T5 ids with {@code </s>} and
 * padding, the masks, [negative; prompt], the conditions, the learned-sigma split, guidance and the
 * scheduler — is checked against a composition done here: the text encoder and transformer called
 * directly (each checked against float64 in its own tests), guidance in float64 and
 * {@link DiffusersReference#dpm}. PyTorch parity of the whole: {@code tools/parity/diffusers_pixart_parity.py}.
 */
class PixArtPipelineTest {
    static final String[] WORDS = {"a", "red", "cat", "on", "mat", "two", "blue", "birds", "blurry"};
    static final int E = 24, DKV = 12, FF = 40, NL = 2, TH = 2, VOCAB = 3 + WORDS.length + 20;
    static final List<String> PROMPTS = List.of("A Red cat on a mat ", "two blue birds");
    static final List<String> NEG = List.of("blurry", "");
    static final long[] LATENT = {2, 4, 8, 8}; // 16×16 pictures: the test VAE is ×2

    @TempDir
    static Path tmp;
    static Path alphaDir;
    static Device cpu;
    static PixArtPipeline pipe;

    @BeforeAll
    static void load() {
        alphaDir = write(tmp.resolve("alpha"), "PixArtAlphaPipeline", 128, true, 3);
        cpu = Device.cpu();
        pipe = PixArtPipeline.load(cpu, alphaDir);
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
        if (cpu != null) cpu.close();
    }

    static Path write(Path dir, String cls, int sample, boolean extra, long seed) {
        try {
            for (String d : new String[] {"tokenizer", "text_encoder", "transformer", "scheduler"}) Files.createDirectories(dir.resolve(d));
            Files.writeString(dir.resolve("model_index.json"), "{\"_class_name\": \"" + cls + "\", \"_diffusers_version\": \"0.30.0\"}");
            StringBuilder vocab = new StringBuilder("[[\"<pad>\", 0.0], [\"</s>\", 0.0], [\"<unk>\", 0.0]");
            for (int i = 0; i < WORDS.length; i++) vocab.append(", [\"\u2581").append(WORDS[i]).append("\", ").append(-1 - 0.01 * i).append(']');
            for (char c = 'a'; c < 'a' + 20; c++) vocab.append(", [\"").append(c).append("\", -8.0]");
            vocab.append(']');
            String added = "{\"id\": %d, \"content\": \"%s\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}";
            Files.writeString(dir.resolve("tokenizer").resolve("tokenizer.json"), "{\"version\": \"1.0\", \"added_tokens\": ["
                    + String.format(added, 0, "<pad>") + ", " + String.format(added, 1, "</s>") + ", " + String.format(added, 2, "<unk>") + "], "
                    + "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"always\", \"split\": true}, "
                    + "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
                    + "{\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"</s>\": {\"id\": \"</s>\", \"ids\": [1], \"tokens\": [\"</s>\"]}}}, "
                    + "\"decoder\": null, \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": " + vocab + ", \"byte_fallback\": false}}");
            Random r = new Random(seed);
            Map<String, RefMath.Entry> t5 = new LinkedHashMap<>();
            t5.put("shared.weight", new RefMath.Entry(RefMath.fill(new float[VOCAB * E], r, 1), VOCAB, E));
            for (int l = 0; l < NL; l++) {
                String p = "encoder.block." + l + ".layer.";
                for (String n : new String[] {"q", "k", "v"}) t5.put(p + "0.SelfAttention." + n + ".weight", new RefMath.Entry(RefMath.fill(new float[TH * DKV * E], r, 0.3), TH * DKV, E));
                t5.put(p + "0.SelfAttention.o.weight", new RefMath.Entry(RefMath.fill(new float[E * TH * DKV], r, 0.3), E, TH * DKV));
                if (l == 0) t5.put(p + "0.SelfAttention.relative_attention_bias.weight", new RefMath.Entry(RefMath.fill(new float[32 * TH], r, 1), 32, TH));
                t5.put(p + "0.layer_norm.weight", new RefMath.Entry(RefMath.around1(E, r, 0.2), E));
                t5.put(p + "1.DenseReluDense.wi_0.weight", new RefMath.Entry(RefMath.fill(new float[FF * E], r, 0.3), FF, E));
                t5.put(p + "1.DenseReluDense.wi_1.weight", new RefMath.Entry(RefMath.fill(new float[FF * E], r, 0.3), FF, E));
                t5.put(p + "1.DenseReluDense.wo.weight", new RefMath.Entry(RefMath.fill(new float[E * FF], r, 0.3), E, FF));
                t5.put(p + "1.layer_norm.weight", new RefMath.Entry(RefMath.around1(E, r, 0.2), E));
            }
            t5.put("encoder.final_layer_norm.weight", new RefMath.Entry(RefMath.around1(E, r, 0.2), E));
            RefMath.writeCheckpoint(dir.resolve("text_encoder"), "{\"architectures\": [\"T5EncoderModel\"], \"model_type\": \"t5\", \"d_model\": " + E
                    + ", \"d_kv\": " + DKV + ", \"d_ff\": " + FF + ", \"num_heads\": " + TH + ", \"num_layers\": " + NL + ", \"vocab_size\": " + VOCAB
                    + ", \"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 128, \"layer_norm_epsilon\": 1e-6, "
                    + "\"feed_forward_proj\": \"gated-gelu\", \"pad_token_id\": 0, \"eos_token_id\": 1}", t5, DType.F32, 1);
            new PixArtFixture(seed + 1, 3, 32, 2, E, sample, extra, null).write(dir.resolve("transformer"), DType.F32, 1);
            VaeFixture.tiny(seed + 2).write(dir.resolve("vae"), DType.F32, false);
            Files.writeString(dir.resolve("scheduler").resolve("scheduler_config.json"), """
                    {"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver++", "beta_end": 0.02, "beta_schedule": "linear",
                     "beta_start": 0.0001, "dynamic_thresholding_ratio": 0.995, "euler_at_final": false, "lambda_min_clipped": -Infinity,
                     "lower_order_final": true, "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
                     "solver_order": 2, "solver_type": "midpoint", "steps_offset": 0, "thresholding": false, "timestep_spacing": "linspace",
                     "trained_betas": null, "use_karras_sigmas": false, "use_lu_lambdas": false, "variance_type": null}
                    """);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** ᾱ of the linear schedule 1e-4 .. 0.02 over 1000 steps. */
    static double[] linearAlphasCumprod() {
        double[] ac = new double[1000];
        double p = 1;
        for (int i = 0; i < 1000; i++) {
            p *= 1 - (1e-4 + (0.02 - 1e-4) * i / 999.0);
            ac[i] = p;
        }
        return ac;
    }

    /** The T5 ids by hand: every word of these prompts is one ▁word piece (id 3 + its index), then </s> (1), then pad (0). */
    static int[] ids(String prompt, int len) {
        int[] r = new int[len];
        int n = 0;
        String text = prompt.toLowerCase(java.util.Locale.ROOT).strip();
        if (!text.isEmpty()) for (String wd : text.split(" +")) r[n++] = 3 + Arrays.asList(WORDS).indexOf(wd);
        r[n] = 1;
        return r;
    }

    static float[] noise(long seed) {
        return PixArtTransformer2DModelTest.randn(seed, (int) (LATENT[0] * LATENT[1] * LATENT[2] * LATENT[3]), 1);
    }

    /** [neg; prompt] T5 states under the given masks, the transformer on [x; x] with (16, 16) and 1, ε's guidance in float64. */
    static DiffusersReference.Model model(double g, boolean masked) {
        return model(g, masked, 8, 8);
    }

    /** As {@link #model(double, boolean)} on latents of hl × wl (pictures twice that; the resolution condition is (2·hl, 2·wl)). */
    static DiffusersReference.Model model(double g, boolean masked, int hl, int wl) {
        int[][] ids = new int[4][], mask = new int[4][120];
        for (int i = 0; i < 2; i++) {
            ids[i] = ids(NEG.get(i), 120);
            ids[2 + i] = ids(PROMPTS.get(i), 120);
        }
        // the mask, plainly: 1 up to and including </s>
        for (int i = 0; i < 4; i++) {
            int eos = 0;
            while (ids[i][eos] != 1) eos++;
            for (int j = 0; j < 120; j++) mask[i][j] = !masked || j <= eos ? 1 : 0;
        }
        float[][] res = new float[4][];
        float[] ar = new float[4];
        for (int i = 0; i < 4; i++) {
            res[i] = new float[] {2 * hl, 2 * wl};
            ar[i] = (float) ((double) hl / wl);
        }
        return (xin, t) -> {
            int n = xin.length, plane = hl * wl;
            float[] both = new float[2 * n];
            for (int i = 0; i < n; i++) both[i] = both[n + i] = (float) xin[i];
            float[] out;
            try (Tensor text = pipe.textEncoder().forward(ids, mask); Tensor in = cpu.upload(DType.F32, both, 4, 4, hl, wl);
                 Tensor o = pipe.transformer().forward(in, new float[] {(float) t, (float) t, (float) t, (float) t}, text, mask, res, ar)) {
                out = o.toFloatArray();
            }
            double[] e = new double[n];
            for (int b = 0; b < 2; b++) {
                for (int i = 0; i < 4 * plane; i++) { // channels [0, 4) of the 8: ε, the learned sigma dropped
                    double u = out[b * 8 * plane + i], c = out[(2 + b) * 8 * plane + i];
                    e[b * 4 * plane + i] = u + g * (c - u);
                }
            }
            return e;
        };
    }

    static double[] sample(int steps, double g, float[] start) {
        return sample(steps, g, start, 8, 8);
    }

    static double[] sample(int steps, double g, float[] start, int hl, int wl) {
        long[] shape = {2, 4, hl, wl};
        try (Tensor z = cpu.upload(DType.F32, start, shape);
             Tensor l = pipe.sample(PROMPTS, NEG, PixArtPipeline.defaults().withSize(2 * wl, 2 * hl).withSteps(steps).withGuidance(g).withLatents(z), null)) {
            assertArrayEquals(shape, l.shape());
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
    void tokenizesAsEncodePrompt() {
        PixArtPipeline.Tokens t = pipe.tokenize(List.of("  A Red cat ON a mat ", ""), 120);
        assertArrayEquals(ids("a red cat on a mat", 120), t.ids()[0]);
        int[] m = new int[120];
        Arrays.fill(m, 0, 7, 1);
        assertArrayEquals(m, t.mask()[0]);
        int[] empty = new int[120];
        empty[0] = 1;
        assertArrayEquals(empty, t.ids()[1], "\"\" is </s> alone");
        // truncation keeps max_length − 1 pieces and then </s>
        PixArtPipeline.Tokens cut = pipe.tokenize(List.of("two blue birds on a mat"), 4);
        assertArrayEquals(new int[] {3 + 5, 3 + 6, 3 + 7, 1}, cut.ids()[0]);
        assertEquals(120, pipe.kind().maxSequenceLength());
    }

    /**
     * The Hub's PixArt folders ship T5's {@code spiece.model} without a tokenizer.json: the same
     * pieces as a raw SentencePiece model (written here as its protobuf) give the same ids and mask.
     */
    @Test
    void spieceModelTokenizesAsTheTokenizerJson() throws IOException {
        Path dir = write(tmp.resolve("spiece"), "PixArtAlphaPipeline", 8, false, 4);
        Files.delete(dir.resolve("tokenizer").resolve("tokenizer.json"));
        java.io.ByteArrayOutputStream model = new java.io.ByteArrayOutputStream();
        String[] specials = {"<pad>", "</s>", "<unk>"};
        int[] types = {3, 3, 2}; // CONTROL, CONTROL, UNKNOWN
        for (int i = 0; i < 3; i++) proto(model, 1, piece(specials[i], 0f, types[i]));
        for (int i = 0; i < WORDS.length; i++) proto(model, 1, piece("\u2581" + WORDS[i], (float) (-1 - 0.01 * i), 1));
        for (char c = 'a'; c < 'a' + 20; c++) proto(model, 1, piece(String.valueOf(c), -8f, 1));
        java.io.ByteArrayOutputStream trainer = new java.io.ByteArrayOutputStream(), norm = new java.io.ByteArrayOutputStream();
        varintField(trainer, 3, 1); // model_type UNIGRAM
        varintField(trainer, 40, 2); // unk_id
        varintField(norm, 3, 1); // add_dummy_prefix
        varintField(norm, 4, 1); // remove_extra_whitespaces
        varintField(norm, 5, 1); // escape_whitespaces
        proto(model, 2, trainer.toByteArray());
        proto(model, 3, norm.toByteArray());
        Files.write(dir.resolve("tokenizer").resolve("spiece.model"), model.toByteArray());
        List<String> prompts = List.of("  A Red cat ON a mat ", "", "two blue birds");
        try (PixArtPipeline p = PixArtPipeline.load(cpu, dir)) {
            PixArtPipeline.Tokens a = p.tokenize(prompts, 120), b = pipe.tokenize(prompts, 120);
            assertArrayEquals(b.ids(), a.ids());
            assertArrayEquals(b.mask(), a.mask());
        }
    }

    private static byte[] piece(String text, float score, int type) {
        java.io.ByteArrayOutputStream m = new java.io.ByteArrayOutputStream();
        proto(m, 1, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        varint(m, 2 << 3 | 5);
        int bits = Float.floatToIntBits(score);
        for (int i = 0; i < 4; i++) m.write(bits >>> (8 * i) & 0xFF);
        if (type != 1) varintField(m, 3, type);
        return m.toByteArray();
    }

    private static void proto(java.io.ByteArrayOutputStream out, int field, byte[] b) {
        varint(out, (long) field << 3 | 2);
        varint(out, b.length);
        out.writeBytes(b);
    }

    private static void varintField(java.io.ByteArrayOutputStream out, int field, long v) {
        varint(out, (long) field << 3);
        varint(out, v);
    }

    private static void varint(java.io.ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) (v & 0x7F) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    @Test
    void dpmPipelineMatchesTheComposition() {
        float[] z = PixArtTransformer2DModelTest.randn(1, 2 * 4 * 8 * 12, 1); // 24 wide, 16 high: the resolution is (16, 24), the aspect 2/3
        double[] got = sample(5, 4.5, z, 8, 12);
        double[] want = DiffusersReference.dpm(toDouble(z), linearAlphasCumprod(), 5, model(4.5, true, 8, 12));
        double err = relL2(got, want);
        assertTrue(err < 1e-4, "PixArt-α pipeline vs composition: relL2 " + err);
        // the masks matter, and so does the guidance order: each far outside that
        assertTrue(relL2(got, DiffusersReference.dpm(toDouble(z), linearAlphasCumprod(), 5, model(4.5, false, 8, 12))) > 1e-3, "the text masks are visible");
        assertTrue(relL2(got, DiffusersReference.dpm(toDouble(z), linearAlphasCumprod(), 5, model(-3.5, true, 8, 12))) > 1e-2, "the guidance order is visible");
    }

    @Test
    void withoutGuidanceOnlyThePromptsRun() {
        float[] z = noise(2);
        double[] got = sample(3, 1.0, z);
        DiffusersReference.Model guided = model(1.0, true); // u + 1·(c − u) = c: the same as the prompts alone
        double err = relL2(got, DiffusersReference.dpm(toDouble(z), linearAlphasCumprod(), 3, guided));
        assertTrue(err < 1e-4, "guidance 1: relL2 " + err);
    }

    @Test
    void refusals() throws IOException {
        StableDiffusion.Options o = PixArtPipeline.defaults().withSize(16, 16).withSteps(2);
        assertThrows(IllegalArgumentException.class, () -> pipe.sample(PROMPTS, List.of("x"), o, null));
        assertThrows(IllegalArgumentException.class, () -> pipe.sample(List.of(), null, o, null));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> pipe.sample(PROMPTS, null, o.withClipSkip(1), null)).getMessage().contains("clip skip"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> pipe.sample(PROMPTS, null, o.withGuidanceRescale(0.5), null)).getMessage().contains("rescale"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> pipe.sample(PROMPTS, null, o.withSize(18, 16), null)).getMessage().contains("multiples of 4"));
        try (Tensor wrong = cpu.upload(DType.F32, new float[4 * 64], 1, 4, 8, 8)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> pipe.sample(PROMPTS, null, o.withLatents(wrong), null)).getMessage().contains("latents"));
        }
        // model_index naming another pipeline; a Σ folder whose transformer wants the α conditions
        Path other = tmp.resolve("other");
        Files.createDirectories(other);
        Files.writeString(other.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        assertFalse(PixArtPipeline.accepts(other));
        assertTrue(PixArtPipeline.accepts(alphaDir));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PixArtPipeline.load(cpu, other)).getMessage().contains("StableDiffusionPipeline"));
        Files.writeString(alphaDir.resolve("model_index.json"), "{\"_class_name\": \"PixArtSigmaPipeline\"}");
        try {
            int live = cpu.liveAllocations();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PixArtPipeline.load(cpu, alphaDir));
            assertTrue(e.getMessage().contains("use_additional_conditions"), e.getMessage());
            assertEquals(live, cpu.liveAllocations(), "a failed load frees what it loaded");
        } finally {
            Files.writeString(alphaDir.resolve("model_index.json"), "{\"_class_name\": \"PixArtAlphaPipeline\"}");
        }
    }

    @Test
    void sigmaFolderRunsWithItsLength() {
        Path dir = write(tmp.resolve("sigma"), "PixArtSigmaPipeline", 8, false, 9);
        try (PixArtPipeline s = PixArtPipeline.load(cpu, dir)) {
            assertEquals(PixArtPipeline.Kind.SIGMA, s.kind());
            assertEquals(300, s.kind().maxSequenceLength());
            assertEquals(16, s.defaultSize()); // sample_size 8 × the ×2 VAE
            try (Tensor l = s.sample(PROMPTS, NEG, PixArtPipeline.defaults().withSteps(2), null)) {
                assertArrayEquals(LATENT, l.shape());
                for (float v : l.toFloatArray()) assertTrue(Float.isFinite(v));
            }
        }
    }

    /** Sampling with and without guidance and the decode free all they allocate; close frees the models. */
    @Test
    void callsLeaveNothingAllocated() {
        try (Device d = Device.cpu()) {
            int before = d.liveAllocations();
            PixArtPipeline p = PixArtPipeline.load(d, alphaDir);
            StableDiffusion.Options o = PixArtPipeline.defaults().withSize(16, 16).withSteps(2);
            try (Tensor warm = p.sample(PROMPTS, NEG, o, null)) {
                assertArrayEquals(LATENT, warm.shape());
            }
            int base = d.liveAllocations();
            for (double g : new double[] {1, 4.5}) {
                try (Tensor lat = p.sample(PROMPTS, null, o.withGuidance(g), null); Tensor img = p.decode(lat)) {
                    assertEquals(base + 2, d.liveAllocations(), "guidance " + g + ": only the latents and the images are left");
                }
                assertEquals(base, d.liveAllocations(), "guidance " + g);
            }
            p.close();
            p.close();
            assertEquals(before, d.liveAllocations(), "close frees the three models");
            assertThrows(IllegalStateException.class, () -> p.sample(PROMPTS, null, o, null));
        }
    }

    /**
     * Resolution binning (transformer sample_size 32: the 256 table): 300×100 is generated at its bin 432×144
     * and resized back, pixel for pixel as sampling at the bin, decoding and {@link PixArtImageProcessor#resizeAndCrop};
     * with binning off it is today's run at 300×100 exactly.
     */
    @Test
    void generateBinsTheSizeAndResizesBack() {
        Path dir = write(tmp.resolve("alpha32"), "PixArtAlphaPipeline", 32, false, 5);
        try (PixArtPipeline p = PixArtPipeline.load(cpu, dir)) {
            List<String> one = List.of("a red cat");
            StableDiffusion.Options o = PixArtPipeline.defaults().withSize(300, 100).withSteps(2).withGuidance(1).withSeed(7);
            assertArrayEquals(new int[] {432, 144}, p.binnedSize(300, 100));
            assertArrayEquals(new int[] {256, 256}, p.binnedSize(0, 0)); // the default 64 (32 × the ×2 VAE) is square
            java.awt.image.BufferedImage[] want;
            try (Tensor l = p.sample(one, null, o.withSize(432, 144), null); Tensor img = p.decode(l);
                 Tensor back = PixArtImageProcessor.resizeAndCrop(img, 300, 100)) {
                assertArrayEquals(new long[] {1, 3, 144, 432}, img.shape());
                want = dev.surpass.model.vae.AutoencoderKL.toImages(back);
            }
            int live = cpu.liveAllocations(); // after a run at the bin's size (its per-size caches are made)
            java.awt.image.BufferedImage[] binned = p.generate(one, null, o, null);
            assertEquals(live, cpu.liveAllocations(), "generate frees what it allocates");
            assertEquals(300, binned[0].getWidth());
            assertEquals(100, binned[0].getHeight());
            assertArrayEquals(pixels(want[0]), pixels(binned[0]), "binned generate = sample at the bin, decode, resize and crop");
            java.awt.image.BufferedImage[] plain = p.generate(one, null, o, null, false);
            java.awt.image.BufferedImage[] today;
            try (Tensor l = p.sample(one, null, o, null); Tensor img = p.decode(l)) {
                assertArrayEquals(new long[] {1, 3, 100, 300}, img.shape());
                today = dev.surpass.model.vae.AutoencoderKL.toImages(img);
            }
            assertArrayEquals(pixels(today[0]), pixels(plain[0]), "binning off: sample and decode at the size given");
            assertFalse(Arrays.equals(pixels(plain[0]), pixels(binned[0])), "binning changes the picture");
        }
        // no table for the fixture's sample_size 8 (Σ) nor 128 → 1024 is fine; 8 is refused by name
        Path sigma = write(tmp.resolve("sigma8"), "PixArtSigmaPipeline", 8, false, 9);
        try (PixArtPipeline s = PixArtPipeline.load(cpu, sigma)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> s.binnedSize(16, 16)).getMessage().contains("sample_size 8"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> s.generate(PROMPTS, null, PixArtPipeline.defaults().withSteps(1), null))
                    .getMessage().contains("binning off"));
        }
        assertArrayEquals(new int[] {1344, 768}, pipe.binnedSize(1280, 720)); // sample_size 128: the 1024 table
    }

    /** txt2img on a PixArt folder bins by default (latents at the bin, pictures at the size asked for) and not with --no-resolution-binning. */
    @Test
    void txt2imgBinsUnlessTurnedOff(@TempDir Path out) throws Exception {
        Path dir = write(tmp.resolve("alpha32cli"), "PixArtAlphaPipeline", 32, false, 5);
        String[] args = {"txt2img", "--model", dir.toString(), "--prompt", "a red cat", "--steps", "2", "--guidance", "1", "--width", "300",
                "--height", "100", "--seed", "7", "--device", "cpu", "--out"};
        for (boolean binning : new boolean[] {true, false}) {
            Path o = out.resolve(binning ? "binned" : "plain");
            String[] a = Arrays.copyOf(args, args.length + (binning ? 1 : 2));
            a[args.length] = o.toString();
            if (!binning) a[args.length + 1] = "--no-resolution-binning";
            String[] r = dev.surpass.cli.CliRuns.run(a);
            assertEquals("0", r[0], r[1] + r[2]);
            try (var f = dev.surpass.io.SafeTensors.open(o.resolve("latents.safetensors")); Tensor t = f.tensor("latents", cpu)) {
                assertArrayEquals(binning ? new long[] {1, 4, 72, 216} : new long[] {1, 4, 50, 150}, t.shape());
            }
            java.awt.image.BufferedImage im = javax.imageio.ImageIO.read(o.resolve("image-0.png").toFile());
            assertEquals(300, im.getWidth());
            assertEquals(100, im.getHeight());
            try (PixArtPipeline p = PixArtPipeline.load(cpu, dir)) {
                java.awt.image.BufferedImage[] api = p.generate(List.of("a red cat"), null,
                        PixArtPipeline.defaults().withSize(300, 100).withSteps(2).withGuidance(1).withSeed(7), null, binning);
                assertArrayEquals(pixels(api[0]), pixels(im), "binning " + binning + ": the CLI's picture is generate's");
            }
        }
        Path sigma = write(tmp.resolve("sigma8cli"), "PixArtSigmaPipeline", 8, false, 9);
        String[] bad = dev.surpass.cli.CliRuns.run("txt2img", "--model", sigma.toString(), "--prompt", "a", "--steps", "1", "--device", "cpu",
                "--out", out.resolve("bad").toString());
        assertEquals("2", bad[0]);
        assertTrue(bad[2].contains("--no-resolution-binning"), bad[2]);
    }

    static int[] pixels(java.awt.image.BufferedImage im) {
        return im.getRGB(0, 0, im.getWidth(), im.getHeight(), null, 0, im.getWidth());
    }
}
