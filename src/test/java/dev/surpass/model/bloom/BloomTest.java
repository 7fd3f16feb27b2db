package dev.surpass.model.bloom;

import static dev.surpass.model.decoder.RefMath.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.attention.Alibi;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code BloomForCausalLM}: a tiny random checkpoint (hidden 128, 4 heads of 32, 2 layers, MLP 512,
 * vocab 80, tied head) with the hub's key names (no {@code transformer.} prefix); the shared decode
 * and batching checks (decode against the paged cache with ALiBi = prefill), and the forward against
 * a float64 reference written from HF's modeling_bloom, with HF's own absolute ALiBi form
 * ({@code slope·j} added through baddbmm), in both residual forms, from a prefixed sharded bf16 copy
 * too; the ALiBi, the per-head split of query_key_value and the residual choice are shown to matter.
 */
class BloomTest extends DecoderModelSuite<Bloom> {
    static final int E = 128, H = 4, D = 32, NL = 2, F = 4 * E, V = 80;
    static final double TOL = 1e-4;
    static final Map<String, Entry> W = weights(new Random(91), "");

    static Map<String, Entry> weights(Random r, String p) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put(p + "word_embeddings.weight", new Entry(fill(new float[V * E], r, 0.15), V, E)); // also the head: logits of a few units
        m.put(p + "word_embeddings_layernorm.weight", new Entry(fill(new float[E], r, 0.3), E)); // small: the tied head is not an echo
        m.put(p + "word_embeddings_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
        for (int l = 0; l < NL; l++) {
            String lp = p + "h." + l + ".";
            m.put(lp + "input_layernorm.weight", new Entry(around1(E, r, 0.2), E));
            m.put(lp + "input_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(lp + "self_attention.query_key_value.weight", new Entry(fill(new float[3 * E * E], r, 1.5 / Math.sqrt(E)), 3 * E, E));
            m.put(lp + "self_attention.query_key_value.bias", new Entry(fill(new float[3 * E], r, 0.2), 3 * E));
            m.put(lp + "self_attention.dense.weight", new Entry(fill(new float[E * E], r, 1 / Math.sqrt(E)), E, E));
            m.put(lp + "self_attention.dense.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(lp + "post_attention_layernorm.weight", new Entry(around1(E, r, 0.2), E));
            m.put(lp + "post_attention_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(lp + "mlp.dense_h_to_4h.weight", new Entry(fill(new float[F * E], r, 1 / Math.sqrt(E)), F, E));
            m.put(lp + "mlp.dense_h_to_4h.bias", new Entry(fill(new float[F], r, 0.1), F));
            m.put(lp + "mlp.dense_4h_to_h.weight", new Entry(fill(new float[E * F], r, 1 / Math.sqrt(F)), E, F));
            m.put(lp + "mlp.dense_4h_to_h.bias", new Entry(fill(new float[E], r, 0.1), E));
        }
        m.put(p + "ln_f.weight", new Entry(around1(E, r, 0.2), E));
        m.put(p + "ln_f.bias", new Entry(fill(new float[E], r, 0.1), E));
        return m;
    }

    static String config(boolean postLn) {
        return "{\"architectures\": [\"BloomForCausalLM\"], \"model_type\": \"bloom\", \"hidden_size\": 128, \"n_layer\": 2,"
                + " \"n_head\": 4, \"vocab_size\": 80, \"seq_length\": 64, \"layer_norm_epsilon\": 1e-5, \"apply_residual_connection_post_layernorm\": " + postLn
                + ", \"pretraining_tp\": 1, \"slow_but_exact\": false, \"bos_token_id\": 1, \"eos_token_id\": 2}";
    }

    BloomTest() {
        super("bloom", V, d -> writeCheckpoint(d, config(false), W, DType.F32, 1), Bloom::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** The variants of the reference a deliberate mistake would give. */
    enum Variant { HF, NO_ALIBI, ALIBI_REVERSED, QKV_BLOCKED }

    /**
     * float64 BloomForCausalLM on one sequence → logits [L][V], from weights {@code w} (names
     * without a prefix). HF: scores = alibi·1 + (q·kᵀ)/√D (baddbmm, beta 1, alpha 1/√D), alibi[h, j]
     * = slope_h·j, then the causal mask and softmax.
     */
    static double[][] reference(Map<String, Entry> w, int[] ids, boolean postLn, Variant variant) {
        int n = ids.length;
        float[] slopes = Alibi.slopes(H);
        if (variant == Variant.ALIBI_REVERSED) for (int i = 0; i < H / 2; i++) {
            float t = slopes[i];
            slopes[i] = slopes[H - 1 - i];
            slopes[H - 1 - i] = t;
        }
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.get("word_embeddings.weight").data()[ids[t] * E + i];
        x = layerNorm(x, d(w, "word_embeddings_layernorm.weight"), d(w, "word_embeddings_layernorm.bias"), 1e-5);
        for (int l = 0; l < NL; l++) {
            String p = "h." + l + ".";
            double[][] a = layerNorm(x, d(w, p + "input_layernorm.weight"), d(w, p + "input_layernorm.bias"), 1e-5);
            double[][] fused = linear(a, d(w, p + "self_attention.query_key_value.weight"), d(w, p + "self_attention.query_key_value.bias"), E, 3 * E);
            double[][] ctx = new double[n][E];
            for (int h = 0; h < H; h++) {
                // HF: fused.view(B, L, H, 3, D); blocked (wrong) reads all q, then all k, then all v
                int qo = variant == Variant.QKV_BLOCKED ? h * D : h * 3 * D;
                int ko = variant == Variant.QKV_BLOCKED ? E + h * D : h * 3 * D + D;
                int vo = variant == Variant.QKV_BLOCKED ? 2 * E + h * D : h * 3 * D + 2 * D;
                for (int i = 0; i < n; i++) {
                    double[] s = new double[i + 1];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int c = 0; c < D; c++) dot += fused[i][qo + c] * fused[j][ko + c];
                        double bias = variant == Variant.NO_ALIBI ? 0 : (double) slopes[h] * j;
                        s[j] = bias + dot / Math.sqrt(D);
                        mx = Math.max(mx, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += s[j] = Math.exp(s[j] - mx);
                    for (int j = 0; j <= i; j++) for (int c = 0; c < D; c++) ctx[i][h * D + c] += s[j] / sum * fused[j][vo + c];
                }
            }
            double[][] attn = linear(ctx, d(w, p + "self_attention.dense.weight"), d(w, p + "self_attention.dense.bias"), E, E);
            addInPlace(attn, postLn ? a : x);
            double[][] m = layerNorm(attn, d(w, p + "post_attention_layernorm.weight"), d(w, p + "post_attention_layernorm.bias"), 1e-5);
            double[][] up = linear(m, d(w, p + "mlp.dense_h_to_4h.weight"), d(w, p + "mlp.dense_h_to_4h.bias"), E, F);
            // bloom_gelu_forward: x·0.5·(1 + tanh(0.79788456·x·(1 + 0.044715·x²)))
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = row[i] * 0.5 * (1 + Math.tanh(0.79788456 * row[i] * (1 + 0.044715 * row[i] * row[i])));
            double[][] out = linear(up, d(w, p + "mlp.dense_4h_to_h.weight"), d(w, p + "mlp.dense_4h_to_h.bias"), F, E);
            addInPlace(out, postLn ? m : attn);
            x = out;
        }
        return linear(layerNorm(x, d(w, "ln_f.weight"), d(w, "ln_f.bias"), 1e-5), d(w, "word_embeddings.weight"), null, E, V);
    }

    private static float[] d(Map<String, Entry> w, String name) {
        return w.get(name).data();
    }

    @Test
    void forwardMatchesFloat64Reference() throws IOException {
        assertForwardMatches(new int[][] {ids(1, 40), ids(2, 40)}, seq -> reference(W, seq, false, Variant.HF), TOL);
        assertTrue(model.tiedHead() && !model.config().residualPostLayerNorm());
        assertTrue(model.attentionOptions(0).hasAlibi());
        int[] seq = ids(3, 40);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(W, seq, false, Variant.HF)) <= TOL);
            for (Variant v : new Variant[] {Variant.NO_ALIBI, Variant.ALIBI_REVERSED, Variant.QKV_BLOCKED}) {
                assertTrue(maxRelErr(got, reference(W, seq, false, v)) > 100 * TOL, v + " would be caught");
            }
            assertTrue(maxRelErr(got, reference(W, seq, true, Variant.HF)) > 100 * TOL, "the residual choice matters");
        }
    }

    @Test
    void prefixedShardedBf16PostLayerNormCheckpoint() throws IOException {
        // transformer.-prefixed names (a BloomForCausalLM save) with an lm_head copy, two bf16 shards, the post-LN residual
        Map<String, Entry> prefixed = new LinkedHashMap<>();
        for (var e : W.entrySet()) prefixed.put("transformer." + e.getKey(), e.getValue());
        prefixed.put("lm_head.weight", W.get("word_embeddings.weight"));
        Path p = tmp.resolve("bloom-prefixed");
        writeCheckpoint(p, config(true), prefixed, DType.BF16, 2);
        Map<String, Entry> bf = new LinkedHashMap<>();
        for (var e : W.entrySet()) bf.put(e.getKey(), new Entry(rounded(e.getValue().data(), DType.BF16), e.getValue().shape()));
        int[] seq = ids(4, 33);
        try (Bloom m = Bloom.load(cpu, p); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.config().residualPostLayerNorm() && m.tiedHead());
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(bf, seq, true, Variant.HF)) <= TOL, "bf16 weights widened, post-LN residual");
            assertFalse(maxRelErr(got, reference(bf, seq, false, Variant.HF)) <= TOL);
        }
    }

    @Test
    void configReadsAliasesAndRefusesBadShapes() throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        BloomConfig c = BloomConfig.parse(new ConfigJson(json.readTree(config(false).replace("\"hidden_size\": 128", "\"n_embed\": 128").replace(" \"seq_length\": 64,", "")
                .replace("\"n_layer\"", "\"num_hidden_layers\"")), "cfg"));
        assertEquals(128, c.hidden());
        assertEquals(2, c.nLayer());
        assertEquals(512, c.intermediate());
        assertEquals(65536, c.maxPositions());
        var e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.parse(new ConfigJson(json.readTree(
                config(false).replace("\"n_head\": 4", "\"n_head\": 5")), "cfg")));
        assertTrue(e.getMessage().contains("n_head"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.parse(new ConfigJson(json.readTree(
                config(false).replace("\"vocab_size\": 80,", "")), "cfg")));
        assertTrue(e.getMessage().contains("vocab_size"), e.getMessage());
    }
}
