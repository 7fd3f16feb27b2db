package dev.surpass.model.bert;

import static dev.surpass.model.decoder.RefMath.around1;
import static dev.surpass.model.decoder.RefMath.fill;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.RefMath;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
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
 * A tiny random ModernBERT (4 layers: 0 and 3 global, 1 and 2 local; hidden 128 = 4 heads of 32 (a head dim the fused kernel takes, so unpadded runs use it),
 * intermediate 40, vocab 50, local_attention 8 so a local query sees |i − j| <= 4) saved as
 * transformers' ModernBertForMaskedLM ({@code model.} prefix, with an MLM head that must be
 * ignored), against a float64 reference written here from HF's eager path: rows of 23 tokens reach
 * well past the window; padded rows as HF computes them.
 */
class ModernBertTest {
    static final int E = 128, NL = 4, H = 4, D = 32, F = 40, V = 50, P = 64, HALF = 4;
    static final double EPS = 1e-5, GLOBAL_THETA = 160000, LOCAL_THETA = 10000;
    static final String CONFIG = "{\"architectures\": [\"ModernBertForMaskedLM\"], \"model_type\": \"modernbert\", \"hidden_size\": 128,"
            + " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"intermediate_size\": 40, \"max_position_embeddings\": 64,"
            + " \"vocab_size\": 50, \"norm_eps\": 1e-5, \"hidden_activation\": \"gelu\", \"local_attention\": 8,"
            + " \"global_attn_every_n_layers\": 3, \"global_rope_theta\": 160000.0, \"local_rope_theta\": 10000.0,"
            + " \"norm_bias\": false, \"attention_bias\": false, \"mlp_bias\": false, \"pad_token_id\": 1}";
    static final String BIASED = CONFIG.replace("\"norm_bias\": false, \"attention_bias\": false, \"mlp_bias\": false",
            "\"norm_bias\": true, \"attention_bias\": true, \"mlp_bias\": true");

    @TempDir
    static Path tmp;
    static Device cpu;
    static Map<String, float[]> w;
    static Path dir;
    static ModernBert model;

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        w = weights(new Random(20261128L), false);
        dir = tmp.resolve("modernbert");
        Map<String, Entry> en = entries(w, "model.");
        Random r = new Random(3); // the MLM head: present in the checkpoint, not read
        en.put("head.dense.weight", new Entry(fill(new float[E * E], r, 0.1), E, E));
        en.put("head.norm.weight", new Entry(around1(E, r, 0.1), E));
        en.put("decoder.weight", new Entry(fill(new float[V * E], r, 0.1), V, E));
        en.put("decoder.bias", new Entry(fill(new float[V], r, 0.1), V));
        writeCheckpoint(dir, CONFIG, en, DType.F32, 2);
        model = ModernBert.load(cpu, dir);
    }

    @AfterAll
    static void tearDown() {
        model.close();
        cpu.close();
    }

    /** Random weights in ModernBertModel's naming (no prefix); layer 0 has no attn_norm. */
    static Map<String, float[]> weights(Random r, boolean biases) {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("embeddings.tok_embeddings.weight", fill(new float[V * E], r, 1.0));
        m.put("embeddings.norm.weight", around1(E, r, 0.2));
        if (biases) m.put("embeddings.norm.bias", fill(new float[E], r, 0.1));
        for (int l = 0; l < NL; l++) {
            String p = "layers." + l + ".";
            if (l > 0) {
                m.put(p + "attn_norm.weight", around1(E, r, 0.2));
                if (biases) m.put(p + "attn_norm.bias", fill(new float[E], r, 0.1));
            }
            m.put(p + "attn.Wqkv.weight", fill(new float[3 * E * E], r, 2.5 / Math.sqrt(E)));
            m.put(p + "attn.Wo.weight", fill(new float[E * E], r, 1 / Math.sqrt(E)));
            m.put(p + "mlp_norm.weight", around1(E, r, 0.2));
            m.put(p + "mlp.Wi.weight", fill(new float[2 * F * E], r, 1.5 / Math.sqrt(E)));
            m.put(p + "mlp.Wo.weight", fill(new float[E * F], r, 1 / Math.sqrt(F)));
            if (biases) {
                m.put(p + "attn.Wqkv.bias", fill(new float[3 * E], r, 0.1));
                m.put(p + "attn.Wo.bias", fill(new float[E], r, 0.1));
                m.put(p + "mlp_norm.bias", fill(new float[E], r, 0.1));
                m.put(p + "mlp.Wi.bias", fill(new float[2 * F], r, 0.1));
                m.put(p + "mlp.Wo.bias", fill(new float[E], r, 0.1));
            }
        }
        m.put("final_norm.weight", around1(E, r, 0.2));
        if (biases) m.put("final_norm.bias", fill(new float[E], r, 0.1));
        return m;
    }

    static long[] shapeOf(String name) {
        if (name.contains("tok_embeddings")) return new long[] {V, E};
        if (name.endsWith("Wqkv.weight")) return new long[] {3 * E, E};
        if (name.endsWith("Wqkv.bias")) return new long[] {3 * E};
        if (name.endsWith("mlp.Wi.weight")) return new long[] {2 * F, E};
        if (name.endsWith("mlp.Wi.bias")) return new long[] {2 * F};
        if (name.endsWith("mlp.Wo.weight")) return new long[] {E, F};
        if (name.endsWith("attn.Wo.weight")) return new long[] {E, E};
        return new long[] {E};
    }

    static Map<String, Entry> entries(Map<String, float[]> w, String prefix) {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (var e : w.entrySet()) m.put(prefix + e.getKey(), new Entry(e.getValue(), shapeOf(e.getKey())));
        return m;
    }

    // ---------------------------------------------------------------------------------------------
    // float64 reference

    /** What the reference computes; each switch away from HF shows a feature matters. */
    record Variant(boolean window, double globalTheta, double localTheta, boolean layer0Identity, boolean gateSecond) {
        static final Variant HF = new Variant(true, GLOBAL_THETA, LOCAL_THETA, true, true);
    }

    static double[][] reference(Map<String, float[]> w, int[] ids, int[] mask) {
        return reference(w, ids, mask, Variant.HF);
    }

    /** One row of the padded batch: last hidden state [n][E]. */
    static double[][] reference(Map<String, float[]> w, int[] ids, int[] mask, Variant var) {
        int n = ids.length;
        float[] tok = w.get("embeddings.tok_embeddings.weight");
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = tok[ids[t] * E + i];
        x = ln(w, x, "embeddings.norm");
        for (int l = 0; l < NL; l++) {
            String p = "layers." + l + ".";
            double[][] hn;
            if (l > 0) hn = ln(w, x, p + "attn_norm");
            else hn = var.layer0Identity() ? x : RefMath.layerNorm(x, ones(E), null, EPS);
            double[][] qkv = RefMath.linear(hn, w.get(p + "attn.Wqkv.weight"), w.get(p + "attn.Wqkv.bias"), E, 3 * E);
            boolean local = l % 3 != 0;
            double theta = local ? var.localTheta() : var.globalTheta();
            double[][] q = new double[n][E], k = new double[n][E], v = new double[n][E];
            for (int t = 0; t < n; t++) {
                for (int i = 0; i < E; i++) {
                    q[t][i] = qkv[t][i];
                    k[t][i] = qkv[t][E + i];
                    v[t][i] = qkv[t][2 * E + i];
                }
                rope(q[t], t, theta);
                rope(k[t], t, theta);
            }
            double[][] ctx = new double[n][E];
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < n; i++) {
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        double dot = 0;
                        for (int c = 0; c < D; c++) dot += q[i][h * D + c] * k[j][h * D + c];
                        s[j] = dot / Math.sqrt(D);
                        boolean out = mask[j] == 0 || (local && var.window() && Math.abs(i - j) > HALF);
                        if (out) s[j] = (float) s[j] + -Float.MAX_VALUE; // HF adds the float32 minimum in float32
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j < n; j++) for (int c = 0; c < D; c++) ctx[i][h * D + c] += s[j] / sum * v[j][h * D + c];
                }
            }
            double[][] o = RefMath.linear(ctx, w.get(p + "attn.Wo.weight"), w.get(p + "attn.Wo.bias"), E, E);
            RefMath.addInPlace(o, x);
            x = o;
            double[][] m = ln(w, x, p + "mlp_norm");
            double[][] wi = RefMath.linear(m, w.get(p + "mlp.Wi.weight"), w.get(p + "mlp.Wi.bias"), E, 2 * F);
            double[][] glu = new double[n][F];
            for (int t = 0; t < n; t++) {
                for (int i = 0; i < F; i++) {
                    double u = var.gateSecond() ? wi[t][i] : wi[t][F + i], g = var.gateSecond() ? wi[t][F + i] : wi[t][i];
                    glu[t][i] = 0.5 * u * (1 + BertModelTest.erf(u / Math.sqrt(2))) * g;
                }
            }
            double[][] out = RefMath.linear(glu, w.get(p + "mlp.Wo.weight"), w.get(p + "mlp.Wo.bias"), F, E);
            RefMath.addInPlace(out, x);
            x = out;
        }
        return ln(w, x, "final_norm");
    }

    /** HF's rotate-half rotary embedding of each head of {@code x} at position {@code t}. */
    static void rope(double[] x, int t, double theta) {
        for (int h = 0; h < H; h++) {
            for (int f = 0; f < D / 2; f++) {
                double a = t * Math.pow(theta, -2.0 * f / D), c = Math.cos(a), s = Math.sin(a);
                int i = h * D + f, j = i + D / 2;
                double x1 = x[i], x2 = x[j];
                x[i] = x1 * c - x2 * s;
                x[j] = x2 * c + x1 * s;
            }
        }
    }

    static float[] ones(int n) {
        float[] o = new float[n];
        Arrays.fill(o, 1f);
        return o;
    }

    static double[][] ln(Map<String, float[]> w, double[][] x, String name) {
        return RefMath.layerNorm(x, w.get(name + ".weight"), w.get(name + ".bias"), EPS);
    }

    /** The reference's last hidden state of one unpadded sequence, mean-pooled and L2-normalised (sentence-transformers' pipeline). */
    static double[] meanNormalized(int[] ids) {
        int[] ones = new int[ids.length];
        Arrays.fill(ones, 1);
        double[] mean = new double[E];
        for (double[] row : reference(w, ids, ones)) for (int i = 0; i < E; i++) mean[i] += row[i] / ids.length;
        double norm = 0;
        for (double v : mean) norm += v * v;
        for (int i = 0; i < E; i++) mean[i] /= Math.sqrt(norm);
        return mean;
    }

    /** max |got[s] − want| over every row of the padded output. */
    static double worst(float[] got, int s, int n, double[][] want) {
        double m = 0;
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) m = Math.max(m, Math.abs(got[(s * n + t) * E + i] - want[t][i]));
        return m;
    }

    // ---------------------------------------------------------------------------------------------

    static final int[] LENS = {23, 9, 1};

    /** Lengths 23 / 9 / 1 padded to 23 with id 1 (masked). */
    static int[][][] batch() {
        Random r = new Random(11);
        int n = 23;
        int[][] ids = new int[3][n], mask = new int[3][n];
        for (int b = 0; b < 3; b++) {
            for (int t = 0; t < n; t++) {
                boolean real = t < LENS[b];
                ids[b][t] = real ? 2 + r.nextInt(V - 2) : 1;
                mask[b][t] = real ? 1 : 0;
            }
        }
        return new int[][][] {ids, mask};
    }

    @Test
    void paddedBatchMatchesTheFloat64ReferenceAndEachFeatureMatters() {
        int[][][] in = batch();
        int[][] ids = in[0], mask = in[1];
        int n = ids[0].length;
        float[] got;
        try (Tensor h = model.forward(ids, mask)) {
            assertArrayEquals(new long[] {3, n, E}, h.shape());
            got = h.toFloatArray();
        }
        double worst = 0;
        for (int b = 0; b < 3; b++) worst = Math.max(worst, worst(got, b, n, reference(w, ids[b], mask[b]))); // padded rows too
        assertTrue(worst < 2e-4, "max |surpass − float64 reference| = " + worst);
        Map<String, Variant> off = new LinkedHashMap<>();
        off.put("the local window", new Variant(false, GLOBAL_THETA, LOCAL_THETA, true, true));
        off.put("the global rope theta", new Variant(true, LOCAL_THETA, LOCAL_THETA, true, true));
        off.put("the local rope theta", new Variant(true, GLOBAL_THETA, GLOBAL_THETA, true, true));
        off.put("layer 0's Identity attn_norm", new Variant(true, GLOBAL_THETA, LOCAL_THETA, false, true));
        off.put("the GeGLU chunk order (act(input) * gate)", new Variant(true, GLOBAL_THETA, LOCAL_THETA, true, false));
        for (var e : off.entrySet()) {
            double d = worst(got, 0, n, reference(w, ids[0], mask[0], e.getValue()));
            assertTrue(d > 1e-2, e.getKey() + " must matter: " + d);
        }
        // The unpadded rows and the packed path give the real tokens' values of the padded batch.
        // (those runs have no padding, so they take the fused kernel with its window: fp32 rounding apart from the unfused path)
        MpnetTest.assertUnpaddedAndPackedAgree(got, ids, LENS, E, model, one -> model.forward(one, null), 1e-4);
    }

    @Test
    void biasesAreReadWhenTheConfigAsksAndTransformers5ConfigMatches() throws IOException {
        Map<String, float[]> wb = weights(new Random(7), true);
        Path biased = tmp.resolve("biased");
        writeCheckpoint(biased, BIASED.replace("ModernBertForMaskedLM", "ModernBertModel"), entries(wb, ""), DType.F32, 1);
        int[][][] in = batch();
        try (ModernBert m = ModernBert.load(cpu, biased); Tensor h = m.forward(in[0], in[1])) {
            float[] got = h.toFloatArray();
            double worst = 0;
            for (int b = 0; b < 3; b++) worst = Math.max(worst, worst(got, b, 23, reference(wb, in[0][b], in[1][b])));
            assertTrue(worst < 2e-4, "with biases: " + worst);
            Map<String, float[]> noBias = new LinkedHashMap<>(wb);
            noBias.keySet().removeIf(k -> k.endsWith(".bias"));
            assertTrue(worst(got, 0, 23, reference(noBias, in[0][0], in[1][0])) > 1e-2, "the biases must matter");
        }
        // transformers 5 writes the thetas per layer type; the same model must come out
        String v5 = CONFIG.replace("\"global_rope_theta\": 160000.0, \"local_rope_theta\": 10000.0,",
                "\"layer_types\": [\"full_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\"],"
                        + " \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 160000.0},"
                        + " \"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 10000.0}},");
        assertTrue(v5.contains("rope_parameters"));
        Path five = tmp.resolve("v5");
        writeCheckpoint(five, v5, entries(w, ""), DType.F32, 1);
        try (ModernBert m = ModernBert.load(cpu, five); Tensor a = m.forward(in[0], in[1]); Tensor b = model.forward(in[0], in[1])) {
            assertEquals(model.config(), m.config());
            assertArrayEquals(b.toFloatArray(), a.toFloatArray(), 0f);
        }
        // defaults: the HF thetas, window 128, every third layer global
        ModernBert.Config c = ModernBert.Config.parse(new dev.surpass.model.decoder.ConfigJson(
                new com.fasterxml.jackson.databind.ObjectMapper().readTree("{\"hidden_size\": 64, \"num_hidden_layers\": 4, \"num_attention_heads\": 4,"
                        + " \"intermediate_size\": 40, \"vocab_size\": 50}"), "config.json"));
        assertEquals(160000.0, c.globalTheta());
        assertEquals(10000.0, c.localTheta());
        assertEquals(128, c.localAttention());
        assertTrue(!c.local(0) && c.local(1) && c.local(2) && !c.local(3));
        assertArrayEquals(new boolean[] {false, true, true, false}, c.localRope());
        assertEquals(1e-5f, c.normEps());
    }

    @Test
    void refusalsNameTheFileAndField() throws IOException {
        String[][] configs = {
            {CONFIG.replace("\"gelu\"", "\"relu\""), "hidden_activation"},
            {CONFIG.replace("\"global_rope_theta\": 160000.0,", "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"linear\", \"factor\": 2.0}},"),
                "rope_type"},
            {CONFIG.replace("\"pad_token_id\": 1", "\"pad_token_id\": 1, \"layer_types\": [\"full_attention\"]"), "layer_types"},
            {CONFIG.replace("\"pad_token_id\": 1", "\"pad_token_id\": 1, \"layer_types\": [\"full_attention\", \"chunked\", \"full_attention\","
                + " \"full_attention\"]"), "layer_types"},
            {CONFIG.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"), "num_attention_heads"},
            {CONFIG.replace("\"local_attention\": 8", "\"local_attention\": -8"), "local_attention"},
        };
        int k = 0;
        for (String[] c : configs) {
            Path d = tmp.resolve("bad-config-" + k++);
            writeCheckpoint(d, c[0], entries(w, ""), DType.F32, 1);
            var e = assertThrows(IllegalArgumentException.class, () -> ModernBert.load(cpu, d).close());
            assertTrue(e.getMessage().contains(c[1]) && e.getMessage().contains("config.json"), e.getMessage());
        }
        Map<String, Entry> missing = entries(w, "");
        missing.remove("layers.2.mlp.Wi.weight");
        Path noWi = tmp.resolve("no-wi");
        writeCheckpoint(noWi, CONFIG, missing, DType.F32, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> ModernBert.load(cpu, noWi).close());
        assertTrue(e.getMessage().contains("layers.2.mlp.Wi.weight"), e.getMessage());
        Map<String, Entry> wrong = entries(w, "");
        wrong.put("layers.1.attn.Wqkv.weight", new Entry(w.get("layers.1.attn.Wqkv.weight"), E, 3 * E));
        Path badShape = tmp.resolve("bad-shape");
        writeCheckpoint(badShape, CONFIG, wrong, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> ModernBert.load(cpu, badShape).close());
        assertTrue(e.getMessage().contains("layers.1.attn.Wqkv.weight"), e.getMessage());
        Path wantsBias = tmp.resolve("wants-bias");
        writeCheckpoint(wantsBias, BIASED, entries(w, ""), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> ModernBert.load(cpu, wantsBias).close());
        assertTrue(e.getMessage().contains("embeddings.norm.bias"), e.getMessage());
        int[][] tooLong = {new int[P + 1]};
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(tooLong, null));
        assertTrue(e.getMessage().contains("at most " + P), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{3, V}}, null));
        assertTrue(e.getMessage().contains("inputIds[0][1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{3, 4}}, new int[][] {{1, 2}}));
        assertTrue(e.getMessage().contains("attentionMask[0][1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forwardPacked(new int[][] {{3}, {}}));
        assertTrue(e.getMessage().contains("inputIds[1]"), e.getMessage());
    }

    @Test
    void forwardFamilyTakesAModernBertFolder() {
        assertTrue(ModernBert.looksLikeModernBert(dir));
        assertFalse(BertConfig.looksLikeBert(dir));
        ModelForward f = ModelFamilies.find(dir);
        assertTrue(f != null && f.family().equals("modernbert"), "modernbert family should accept " + dir);
        int[][][] in = batch();
        int b = 3, n = 23;
        long[] flatIds = new long[b * n], flatMask = new long[b * n];
        for (int i = 0; i < b * n; i++) {
            flatIds[i] = in[0][i / n][i % n];
            flatMask[i] = in[1][i / n][i % n];
        }
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        inputs.put("input_ids", cpu.upload(flatIds, b, n));
        inputs.put("attention_mask", cpu.upload(flatMask, b, n));
        Map<String, Tensor> out = f.forward(cpu, dir, inputs);
        try (Tensor want = model.forward(in[0], in[1])) {
            assertEquals(java.util.Set.of("last_hidden_state"), out.keySet());
            assertArrayEquals(want.toFloatArray(), out.get("last_hidden_state").toFloatArray(), 0f);
        } finally {
            for (Tensor t : out.values()) t.close();
            for (Tensor t : inputs.values()) t.close();
        }
    }

    @Test
    void sentenceTransformersFolderMeanPoolsAndNormalizes() throws IOException {
        Path st = tmp.resolve("st");
        writeCheckpoint(st, CONFIG.replace("ModernBertForMaskedLM", "ModernBertModel"), entries(w, ""), DType.F32, 1);
        MpnetTest.writeMeanNormalizeModules(st, E, 60);
        List<String> sentences = List.of("Hello worlds.", "t9 t10 t11 hello t12 worlds world t13 t14 t15 t16 t17 t18 t19 t20", "world");
        try (SentenceEmbeddings se = SentenceEmbeddings.load(cpu, st)) {
            float[][] got = se.embed(sentences);
            for (int s = 0; s < sentences.size(); s++) {
                int[] ids = se.tokenizer().encode(sentences.get(s), true);
                double[] want = meanNormalized(ids);
                for (int i = 0; i < E; i++) assertEquals(want[i], got[s][i], 2e-5, "sentence " + s + " dim " + i);
            }
        }
    }

    /** {@code surpass embed --model DIR} on a bare ModernBERT folder (no modules.json): mean pooling and L2, as for BERT folders. */
    @Test
    void embedCommandTakesABareFolder() throws IOException {
        Path bare = tmp.resolve("bare");
        writeCheckpoint(bare, CONFIG, entries(w, "model."), DType.F32, 1);
        Files.writeString(bare.resolve("tokenizer.json"), MpnetTest.tokenizerJson());
        Path file = tmp.resolve("embeddings.safetensors");
        EmbedCommandTest.Run r = EmbedCommandTest.run("embed", "--device", "cpu", "--model", bare.toString(), "--out", file.toString(), "Hello worlds.");
        assertEquals(0, r.code(), r.err());
        int[] ids = dev.surpass.text.Tokenizer.load(bare.resolve("tokenizer.json")).encode("Hello worlds.", true);
        double[] want = meanNormalized(ids);
        try (dev.surpass.io.SafeTensorsFile f = dev.surpass.io.SafeTensors.open(file); Tensor t = f.tensor("embeddings", cpu)) {
            assertArrayEquals(new long[] {1, E}, t.shape());
            float[] v = t.toFloatArray();
            for (int i = 0; i < E; i++) assertEquals(want[i], v[i], 2e-5, "dim " + i);
        }
    }
}
