package dev.surpass.model.bert;

import static dev.surpass.model.decoder.RefMath.around1;
import static dev.surpass.model.decoder.RefMath.fill;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny random BERT (2 layers, hidden 64 = 2 heads of 32, intermediate 77, vocab 53, 19
 * positions, 3 token types) saved with HF names against a float64 straight-line reference written
 * here: post-LN, exact-erf GELU, additive-mask attention. The batch is padded, and the padded
 * positions hold "poisoned" ids and token types, which must not change any real token's output.
 */
class BertModelTest {
    static final int E = 64, NL = 2, H = 2, D = 32, F = 77, V = 53, P = 19, T = 3;
    static final double EPS = 1e-6;
    static final String CONFIG = "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": 64,"
            + " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 77, \"max_position_embeddings\": 19,"
            + " \"type_vocab_size\": 3, \"vocab_size\": 53, \"layer_norm_eps\": 1e-6, \"hidden_act\": \"gelu\","
            + " \"position_embedding_type\": \"absolute\"}";

    @TempDir
    static Path tmp;
    static Device cpu;
    static Map<String, float[]> w;
    static Path dir;
    static BertModel model;

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        w = weights(new Random(20261127L));
        dir = tmp.resolve("bert");
        writeCheckpoint(dir, CONFIG, entries(w, "bert."), DType.F32, 1);
        model = BertModel.load(cpu, dir);
    }

    @AfterAll
    static void tearDown() {
        model.close();
        cpu.close();
    }

    /** BERT sizes: hidden E, layers NL, intermediate F, vocab V, positions P, token types T; embedding and weight scales. */
    record Dims(int e, int nl, int f, int v, int p, int t, double embScale, double biasScale) {
        static final Dims TINY = new Dims(E, NL, F, V, P, T, 0.5, 0.1);
    }

    static Map<String, float[]> weights(Random r) {
        return weights(r, Dims.TINY);
    }

    /** Random weights in the HF naming (without the "bert." prefix) for the sizes {@code d}. */
    static Map<String, float[]> weights(Random r, Dims d) {
        int e = d.e(), f = d.f();
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("embeddings.word_embeddings.weight", fill(new float[d.v() * e], r, d.embScale()));
        m.put("embeddings.position_embeddings.weight", fill(new float[d.p() * e], r, 0.4 * d.embScale()));
        m.put("embeddings.token_type_embeddings.weight", fill(new float[d.t() * e], r, 0.4 * d.embScale()));
        m.put("embeddings.LayerNorm.weight", around1(e, r, 0.2));
        m.put("embeddings.LayerNorm.bias", fill(new float[e], r, d.biasScale()));
        for (int l = 0; l < d.nl(); l++) {
            String p = "encoder.layer." + l + ".";
            for (String s : new String[] {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
                m.put(p + s + ".weight", fill(new float[e * e], r, 1 / Math.sqrt(e)));
                m.put(p + s + ".bias", fill(new float[e], r, d.biasScale()));
            }
            m.put(p + "attention.output.LayerNorm.weight", around1(e, r, 0.2));
            m.put(p + "attention.output.LayerNorm.bias", fill(new float[e], r, d.biasScale()));
            m.put(p + "intermediate.dense.weight", fill(new float[f * e], r, 1 / Math.sqrt(e)));
            m.put(p + "intermediate.dense.bias", fill(new float[f], r, d.biasScale()));
            m.put(p + "output.dense.weight", fill(new float[e * f], r, 1 / Math.sqrt(f)));
            m.put(p + "output.dense.bias", fill(new float[e], r, d.biasScale()));
            m.put(p + "output.LayerNorm.weight", around1(e, r, 0.2));
            m.put(p + "output.LayerNorm.bias", fill(new float[e], r, d.biasScale()));
        }
        return m;
    }

    static long[] shapeOf(String name, Dims d) {
        int e = d.e();
        if (name.contains("word_embeddings")) return new long[] {d.v(), e};
        if (name.contains("position_embeddings")) return new long[] {d.p(), e};
        if (name.contains("token_type_embeddings")) return new long[] {d.t(), e};
        if (name.endsWith("intermediate.dense.weight")) return new long[] {d.f(), e};
        if (name.endsWith("intermediate.dense.bias")) return new long[] {d.f()};
        if (name.endsWith("output.dense.weight") && !name.contains("attention")) return new long[] {e, d.f()};
        if (name.endsWith(".weight") && !name.contains("LayerNorm")) return new long[] {e, e};
        return new long[] {e};
    }

    static Map<String, Entry> entries(Map<String, float[]> w, String prefix) {
        return entries(w, prefix, Dims.TINY);
    }

    static Map<String, Entry> entries(Map<String, float[]> w, String prefix, Dims d) {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (var e : w.entrySet()) m.put(prefix + e.getKey(), new Entry(e.getValue(), shapeOf(e.getKey(), d)));
        return m;
    }

    // ---------------------------------------------------------------------------------------------
    // float64 reference of one sequence (transformers' BertModel, eval mode, extended additive mask)

    static double[][] reference(int[] ids, int[] mask, int[] types) {
        int[] pos = new int[ids.length];
        for (int t = 0; t < pos.length; t++) pos[t] = t;
        return reference(ids, mask, types, pos);
    }

    /** The same with the position ids given (RoBERTa counts them from its padding id). */
    static double[][] reference(int[] ids, int[] mask, int[] types, int[] pos) {
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < E; i++) {
                x[t][i] = (double) w.get("embeddings.word_embeddings.weight")[ids[t] * E + i]
                        + w.get("embeddings.position_embeddings.weight")[pos[t] * E + i]
                        + w.get("embeddings.token_type_embeddings.weight")[types[t] * E + i];
            }
        }
        x = ln(x, "embeddings.LayerNorm");
        for (int l = 0; l < NL; l++) {
            String p = "encoder.layer." + l + ".";
            double[][] q = lin(x, p + "attention.self.query", E, E);
            double[][] k = lin(x, p + "attention.self.key", E, E);
            double[][] v = lin(x, p + "attention.self.value", E, E);
            double[][] ctx = new double[n][E];
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < n; i++) {
                    double[] s = new double[n];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        if (mask[j] == 0) continue;
                        double dot = 0;
                        for (int c = 0; c < D; c++) dot += q[i][h * D + c] * k[j][h * D + c];
                        s[j] = dot / Math.sqrt(D);
                        mx = Math.max(mx, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) if (mask[j] == 1) sum += s[j] = Math.exp(s[j] - mx);
                    for (int j = 0; j < n; j++) {
                        if (mask[j] == 0) continue;
                        for (int c = 0; c < D; c++) ctx[i][h * D + c] += s[j] / sum * v[j][h * D + c];
                    }
                }
            }
            double[][] a = lin(ctx, p + "attention.output.dense", E, E);
            for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) a[t][i] += x[t][i];
            x = ln(a, p + "attention.output.LayerNorm");
            double[][] inter = lin(x, p + "intermediate.dense", E, F);
            for (double[] row : inter) for (int i = 0; i < F; i++) row[i] = row[i] * 0.5 * (1 + erf(row[i] / Math.sqrt(2)));
            double[][] o = lin(inter, p + "output.dense", F, E);
            for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) o[t][i] += x[t][i];
            x = ln(o, p + "output.LayerNorm");
        }
        return x;
    }

    static double[][] lin(double[][] x, String name, int in, int out) {
        float[] wt = w.get(name + ".weight"), b = w.get(name + ".bias");
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int i = 0; i < in; i++) s += x[t][i] * wt[o * in + i];
                y[t][o] = s;
            }
        }
        return y;
    }

    static double[][] ln(double[][] x, String name) {
        float[] g = w.get(name + ".weight"), b = w.get(name + ".bias");
        double[][] y = new double[x.length][E];
        for (int t = 0; t < x.length; t++) {
            double mean = 0, var = 0;
            for (double v : x[t]) mean += v;
            mean /= E;
            for (double v : x[t]) var += (v - mean) * (v - mean);
            var /= E;
            for (int i = 0; i < E; i++) y[t][i] = (x[t][i] - mean) / Math.sqrt(var + EPS) * g[i] + b[i];
        }
        return y;
    }

    /**
     * erf in float64: the Maclaurin series for |x| < 2.5 (terms stay below ~100, so ~1e-14), else
     * 1 − erfc with erfc's continued fraction {@code e^{-x²}/√π / (x + ½/(x + 1/(x + 3/2/(x + …)))}.
     */
    static double erf(double x) {
        double a = Math.abs(x);
        if (a < 2.5) {
            double term = x, sum = x;
            for (int k = 1; k < 200; k++) {
                term *= -x * x / k;
                double add = term / (2 * k + 1);
                sum += add;
                if (Math.abs(add) < 1e-17) break;
            }
            return 2 / Math.sqrt(Math.PI) * sum;
        }
        double f = a;
        for (int n = 120; n >= 1; n--) f = a + (n / 2.0) / f;
        double erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
        return Math.signum(x) * (1 - erfc);
    }

    @Test
    void erfOfTheReferenceIsRight() {
        assertEquals(0.8427007929497149, erf(1), 1e-15);
        assertEquals(-0.9953222650189527, erf(-2), 1e-14);
        assertEquals(0.9999999845827421, erf(4), 1e-15);
        assertEquals(0.999593047982555, erf(2.5), 1e-15);
        assertEquals(0.9993114861033549, erf(2.4), 1e-14);
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void paddedBatchMatchesTheFloat64Reference() {
        Random r = new Random(7);
        int n = 11;
        int[] lens = {11, 6, 1};
        int[][] ids = new int[3][n], mask = new int[3][n], types = new int[3][n];
        for (int b = 0; b < 3; b++) {
            for (int t = 0; t < n; t++) {
                boolean real = t < lens[b];
                ids[b][t] = real ? r.nextInt(V) : V - 1 - r.nextInt(5);  // poisoned pads: arbitrary real ids
                types[b][t] = real ? r.nextInt(T) : T - 1;
                mask[b][t] = real ? 1 : 0;
            }
        }
        float[] got;
        try (Tensor h = model.forward(ids, mask, types)) {
            assertArrayEquals(new long[] {3, n, E}, h.shape());
            got = h.toFloatArray();
        }
        double worst = 0;
        for (int b = 0; b < 3; b++) {
            double[][] ref = reference(ids[b], mask[b], types[b]);
            for (int t = 0; t < n; t++) { // padded rows too: they attend to the real keys, like HF
                for (int i = 0; i < E; i++) worst = Math.max(worst, Math.abs(got[(b * n + t) * E + i] - ref[t][i]));
            }
        }
        assertTrue(worst < 2e-4, "max |surpass − float64 reference| = " + worst);
        // Unpadded single rows give the same real-token outputs as the padded batch.
        for (int b = 1; b < 3; b++) {
            int[][] one = {java.util.Arrays.copyOf(ids[b], lens[b])}, oneT = {java.util.Arrays.copyOf(types[b], lens[b])};
            try (Tensor h = model.forward(one, null, oneT)) {
                float[] s = h.toFloatArray();
                for (int i = 0; i < lens[b] * E; i++) {
                    assertEquals(s[i], got[b * n * E + i], 1e-5, "sequence " + b + " element " + i);
                }
            }
        }
    }

    @Test
    void tokenTypesDefaultToZeroAndMatter() {
        int[][] ids = {{3, 17, 40, 9, 51}};
        try (Tensor a = model.forward(ids, null, null); Tensor b = model.forward(ids, null, new int[][] {{0, 0, 0, 0, 0}});
             Tensor c = model.forward(ids, null, new int[][] {{0, 1, 2, 1, 0}})) {
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), 0f);
            double[][] ref = reference(ids[0], new int[] {1, 1, 1, 1, 1}, new int[] {0, 1, 2, 1, 0});
            float[] got = c.toFloatArray();
            for (int t = 0; t < 5; t++) for (int i = 0; i < E; i++) assertEquals(ref[t][i], got[t * E + i], 2e-4);
        }
    }

    @Test
    void loadsWithoutPrefixAndFromBf16() throws IOException {
        Path plain = tmp.resolve("plain");
        writeCheckpoint(plain, CONFIG, entries(w, ""), DType.F32, 2);
        Path half = tmp.resolve("bf16");
        writeCheckpoint(half, CONFIG, entries(w, ""), DType.BF16, 1);
        int[][] ids = {{1, 2, 3, 4, 5, 6, 7}};
        try (BertModel m = BertModel.load(cpu, plain); BertModel hm = BertModel.load(cpu, half); Tensor a = model.forward(ids, null, null);
             Tensor b = m.forward(ids, null, null); Tensor c = hm.forward(ids, null, null)) {
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), 0f);
            float[] x = a.toFloatArray(), y = c.toFloatArray();
            double diff = 0;
            for (int i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i] - y[i]));
            assertTrue(diff > 0 && diff < 0.2, "bf16 weights change the output a little: " + diff);
        }
    }

    @Test
    void badInputsNameTheArgument() {
        var e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{1, 53}}, null, null));
        assertTrue(e.getMessage().contains("inputIds[0][1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{1, 2}, {3}}, null, null));
        assertTrue(e.getMessage().contains("inputIds[1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{1, 2}}, new int[][] {{1, 2}}, null));
        assertTrue(e.getMessage().contains("attentionMask[0][1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{1, 2}}, null, new int[][] {{3, 0}}));
        assertTrue(e.getMessage().contains("tokenTypeIds[0][0]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {new int[P + 1]}, null, null));
        assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
    }

    @Test
    void missingTensorAndBadConfigAreNamed() throws IOException {
        Map<String, Entry> less = entries(w, "");
        less.remove("encoder.layer.1.output.dense.bias");
        Path d = tmp.resolve("missing");
        writeCheckpoint(d, CONFIG, less, DType.F32, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, d));
        assertTrue(e.getMessage().contains("encoder.layer.1.output.dense.bias"), e.getMessage());
        Path c = tmp.resolve("badcfg");
        writeCheckpoint(c, CONFIG.replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\""), entries(w, ""), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, c));
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        Path n = tmp.resolve("nolayers");
        writeCheckpoint(n, CONFIG.replace("\"num_hidden_layers\": 2,", ""), entries(w, ""), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, n));
        assertTrue(e.getMessage().contains("num_hidden_layers"), e.getMessage());
    }

    @Test
    void closedModelThrows() {
        BertModel m = BertModel.load(cpu, dir);
        m.close();
        m.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> m.forward(new int[][] {{1}}, null, null));
    }

    /**
     * A checkpoint with HF's pooler: {@code pooler_output = tanh(h[:, 0]·Wpᵀ + bp)} against the float64
     * reference (the first token of each sequence, padded or not), and through {@code surpass forward}.
     */
    @Test
    void poolerMatchesTheFloat64Reference() throws IOException {
        Random r = new Random(61);
        float[] pw = fill(new float[E * E], r, 1 / Math.sqrt(E)), pb = fill(new float[E], r, 0.1);
        Map<String, Entry> withPooler = entries(w, "bert.");
        withPooler.put("bert.pooler.dense.weight", new Entry(pw, new long[] {E, E}));
        withPooler.put("bert.pooler.dense.bias", new Entry(pb, new long[] {E}));
        Path pdir = tmp.resolve("bert-pooler");
        writeCheckpoint(pdir, CONFIG, withPooler, DType.F32, 1);
        int[][] ids = {{5, 6, 7, 8, 9}, {11, 12, 13, 0, 0}};
        int[][] mask = {{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}};
        try (BertModel m = BertModel.load(cpu, pdir); Tensor last = m.forward(ids, mask, null); Tensor pooled = m.pooler(last)) {
            assertTrue(m.hasPooler() && !model.hasPooler());
            assertArrayEquals(new long[] {2, E}, pooled.shape());
            float[] got = pooled.toFloatArray();
            for (int s = 0; s < 2; s++) {
                double[] h0 = reference(ids[s], mask[s], new int[ids[s].length])[0];
                for (int o = 0; o < E; o++) {
                    double acc = pb[o];
                    for (int i = 0; i < E; i++) acc += pw[o * E + i] * h0[i];
                    assertEquals(Math.tanh(acc), got[s * E + o], 1e-5, "sequence " + s + " unit " + o);
                }
            }
            assertThrows(IllegalStateException.class, () -> model.pooler(last));
            assertThrows(IllegalArgumentException.class, () -> m.pooler(pooled));
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("input_ids", cpu.upload(new long[] {5, 6, 7, 8, 9, 11, 12, 13, 0, 0}, 2, 5));
            in.put("attention_mask", cpu.upload(new long[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 2, 5));
            Map<String, Tensor> out = ModelFamilies.find(pdir).forward(cpu, pdir, in);
            try {
                assertArrayEquals(got, out.get("pooler_output").toFloatArray(), 0f);
            } finally {
                for (Tensor t : out.values()) t.close();
                for (Tensor t : in.values()) t.close();
            }
        }
    }

    /**
     * RoBERTa (and XLM-R): the same encoder under {@code roberta.}, position ids counted from
     * pad_token_id as HF's create_position_ids_from_input_ids (pad tokens at the padding id, the others
     * from padding id + 1), checked against the float64 reference with those positions; 19 positions
     * hold 17 tokens.
     */
    @Test
    void robertaPositionsCountFromThePaddingId() throws IOException {
        String cfg = CONFIG.replace("\"BertModel\"", "\"RobertaModel\"").replace("\"bert\"", "\"roberta\"").replace("}", ", \"pad_token_id\": 1}");
        Path rdir = tmp.resolve("roberta");
        writeCheckpoint(rdir, cfg, entries(w, "roberta."), DType.F32, 1);
        assertTrue(BertConfig.looksLikeBert(rdir));
        int[][] ids = {{5, 6, 7, 8, 9}, {11, 12, 1, 1, 1}};
        int[][] mask = {{1, 1, 1, 1, 1}, {1, 1, 0, 0, 0}};
        int[][] pos = {{2, 3, 4, 5, 6}, {2, 3, 1, 1, 1}};
        try (BertModel m = BertModel.load(cpu, rdir); Tensor out = m.forward(ids, mask, null)) {
            assertTrue(m.config().robertaPositions() && m.config().maxTokens() == P - 2);
            float[] got = out.toFloatArray();
            for (int s = 0; s < 2; s++) {
                double[][] want = reference(ids[s], mask[s], new int[5], pos[s]);
                for (int t = 0; t < 5; t++) {
                    for (int i = 0; i < E; i++) assertEquals(want[t][i], got[(s * 5 + t) * E + i], 2e-5, "s " + s + " t " + t + " i " + i);
                }
            }
            int[][] tooLong = {new int[P - 1]};
            java.util.Arrays.fill(tooLong[0], 5);
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(tooLong, null, null));
            assertTrue(e.getMessage().contains("at most " + (P - 2)), e.getMessage());
        }
    }

    @Test
    void forwardFamilyRunsBert() {
        forwardFamilyMatches(cpu, dir, model, new int[][] {{5, 6, 7, 8}, {9, 10, 0, 0}}, new int[][] {{1, 1, 1, 1}, {1, 1, 0, 0}});
        assertTrue(Files.isDirectory(dir));
    }

    /** `surpass forward`'s bert family on {@code dir} (no pooler) gives {@code model.forward}'s last hidden state, bit for bit. */
    static void forwardFamilyMatches(Device cpu, Path dir, BertModel model, int[][] ids, int[][] mask) {
        ModelForward f = ModelFamilies.find(dir);
        assertTrue(f != null && f.family().equals("bert"), "bert family should accept " + dir);
        int b = ids.length, n = ids[0].length;
        long[] flatIds = new long[b * n], flatMask = new long[b * n];
        for (int i = 0; i < b * n; i++) {
            flatIds[i] = ids[i / n][i % n];
            flatMask[i] = mask[i / n][i % n];
        }
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("input_ids", cpu.upload(flatIds, b, n));
        in.put("attention_mask", cpu.upload(flatMask, b, n));
        Map<String, Tensor> out = f.forward(cpu, dir, in);
        try (Tensor want = model.forward(ids, mask, null)) {
            assertArrayEquals(want.toFloatArray(), out.get("last_hidden_state").toFloatArray(), 0f);
            assertEquals(java.util.Set.of("last_hidden_state"), out.keySet(), "no pooler in the checkpoint, no pooler_output");
        } finally {
            for (Tensor t : out.values()) t.close();
            for (Tensor t : in.values()) t.close();
        }
    }
}
