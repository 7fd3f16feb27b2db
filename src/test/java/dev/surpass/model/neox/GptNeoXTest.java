package dev.surpass.model.neox;

import static dev.surpass.model.decoder.RefMath.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
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
 * {@code GPTNeoXForCausalLM} (Pythia): a tiny random checkpoint (hidden 128, 4 heads of 32, half of
 * each head rotary, 2 layers, intermediate 96, vocab 80, biases, untied head) under
 * {@code gpt_neox.} with the fused per-head query_key_value; the shared decode and batching checks,
 * and the forward against a float64 reference written from HF's modeling_gpt_neox, in both residual
 * forms, where the per-head interleaving and the partial rotary are shown to matter.
 */
class GptNeoXTest extends DecoderModelSuite<GptNeoX> {
    static final int E = 128, H = 4, D = 32, NL = 2, F = 96, V = 80, ROT = 16;
    static final double TOL = 1e-4;
    static final Map<String, Entry> W = weights(new Random(73));

    static Map<String, Entry> weights(Random r) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("gpt_neox.embed_in.weight", new Entry(fill(new float[V * E], r, 1.0), V, E));
        for (int l = 0; l < NL; l++) {
            String p = "gpt_neox.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new Entry(around1(E, r, 0.2), E));
            m.put(p + "input_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(p + "post_attention_layernorm.weight", new Entry(around1(E, r, 0.2), E));
            m.put(p + "post_attention_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(p + "attention.query_key_value.weight", new Entry(fill(new float[3 * E * E], r, 1 / Math.sqrt(E)), 3 * E, E));
            m.put(p + "attention.query_key_value.bias", new Entry(fill(new float[3 * E], r, 0.2), 3 * E));
            m.put(p + "attention.dense.weight", new Entry(fill(new float[E * E], r, 1 / Math.sqrt(E)), E, E));
            m.put(p + "attention.dense.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(p + "mlp.dense_h_to_4h.weight", new Entry(fill(new float[F * E], r, 1 / Math.sqrt(E)), F, E));
            m.put(p + "mlp.dense_h_to_4h.bias", new Entry(fill(new float[F], r, 0.1), F));
            m.put(p + "mlp.dense_4h_to_h.weight", new Entry(fill(new float[E * F], r, 1 / Math.sqrt(F)), E, F));
            m.put(p + "mlp.dense_4h_to_h.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(p + "attention.rotary_emb.inv_freq", new Entry(new float[ROT / 2], ROT / 2)); // an old buffer: ignored
        }
        m.put("gpt_neox.final_layer_norm.weight", new Entry(around1(E, r, 0.2), E));
        m.put("gpt_neox.final_layer_norm.bias", new Entry(fill(new float[E], r, 0.1), E));
        m.put("embed_out.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        return m;
    }

    static String config(boolean parallel) {
        return "{\"architectures\": [\"GPTNeoXForCausalLM\"], \"model_type\": \"gpt_neox\", \"hidden_size\": 128, \"num_hidden_layers\": 2,"
                + " \"num_attention_heads\": 4, \"intermediate_size\": 96, \"vocab_size\": 80, \"max_position_embeddings\": 64,"
                + " \"rotary_pct\": 0.5, \"rotary_emb_base\": 10000, \"layer_norm_eps\": 1e-5, \"hidden_act\": \"gelu\","
                + " \"use_parallel_residual\": " + parallel + ", \"tie_word_embeddings\": false, \"eos_token_id\": 0}";
    }

    GptNeoXTest() {
        super("gpt_neox", V, d -> writeCheckpoint(d, config(true), W, DType.F32, 1), GptNeoX::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static float[] w(String name) {
        return W.get(name).data();
    }

    /** Rows of the fused query_key_value for part 0 (q), 1 (k) or 2 (v): per head, [q | k | v] of D rows (interleaved) or all q first (not). */
    static float[][] part(float[] qkvW, float[] qkvB, int part, boolean interleaved) {
        float[] wt = new float[E * E], b = new float[E];
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < D; i++) {
                int src = interleaved ? h * 3 * D + part * D + i : part * E + h * D + i, dst = h * D + i;
                System.arraycopy(qkvW, src * E, wt, dst * E, E);
                b[dst] = qkvB[src];
            }
        }
        return new float[][] {wt, b};
    }

    /** Rotate-half RoPE on the first {@code rot} dims of each head of rows [T][H·D], default frequencies, base 10000. */
    static void rope(double[][] x, int rot) {
        int h2 = rot / 2;
        for (int t = 0; t < x.length; t++) {
            for (int h = 0; h < H; h++) {
                double[] y = x[t].clone();
                for (int j = 0; j < rot; j++) {
                    double ang = t * Math.pow(10000, -2.0 * (j % h2) / rot);
                    double rotv = j < h2 ? -x[t][h * D + j + h2] : x[t][h * D + j - h2];
                    y[h * D + j] = x[t][h * D + j] * Math.cos(ang) + rotv * Math.sin(ang);
                }
                System.arraycopy(y, h * D, x[t], h * D, D);
            }
        }
    }

    /** float64 GPTNeoXForCausalLM on one sequence → logits [L][V]. */
    static double[][] reference(int[] ids, boolean parallel, boolean interleaved, int rot) {
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w("gpt_neox.embed_in.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "gpt_neox.layers." + l + ".";
            double[][] a = layerNorm(x, w(p + "input_layernorm.weight"), w(p + "input_layernorm.bias"), 1e-5);
            float[] qkvW = w(p + "attention.query_key_value.weight"), qkvB = w(p + "attention.query_key_value.bias");
            float[][] pq = part(qkvW, qkvB, 0, interleaved), pk = part(qkvW, qkvB, 1, interleaved), pv = part(qkvW, qkvB, 2, interleaved);
            double[][] q = linear(a, pq[0], pq[1], E, E), k = linear(a, pk[0], pk[1], E, E), v = linear(a, pv[0], pv[1], E, E);
            rope(q, rot);
            rope(k, rot);
            double[][] attn = linear(causalAttention(q, k, v, H, H, D), w(p + "attention.dense.weight"), w(p + "attention.dense.bias"), E, E);
            double[][] base = x;
            if (!parallel) {
                addInPlace(x, attn);
            }
            double[][] m = layerNorm(x, w(p + "post_attention_layernorm.weight"), w(p + "post_attention_layernorm.bias"), 1e-5);
            double[][] up = linear(m, w(p + "mlp.dense_h_to_4h.weight"), w(p + "mlp.dense_h_to_4h.bias"), E, F);
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = 0.5 * row[i] * (1 + dev.surpass.layers.ReferenceActivation.erf(row[i] / Math.sqrt(2)));
            double[][] mlp = linear(up, w(p + "mlp.dense_4h_to_h.weight"), w(p + "mlp.dense_4h_to_h.bias"), F, E);
            if (parallel) addInPlace(base, attn);
            addInPlace(x, mlp);
        }
        return linear(layerNorm(x, w("gpt_neox.final_layer_norm.weight"), w("gpt_neox.final_layer_norm.bias"), 1e-5), w("embed_out.weight"), null, E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() throws IOException {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(seq, true, true, ROT), TOL);
        assertTrue(model.config().parallelResidual() && !model.tiedHead());
        assertEquals(ROT, model.config().rotaryDim());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(seq, true, false, ROT)) > 100 * TOL, "the per-head interleaving of query_key_value matters");
            assertTrue(maxRelErr(got, reference(seq, true, true, D)) > 100 * TOL, "the partial rotary matters");
            assertTrue(maxRelErr(got, reference(seq, false, true, ROT)) > 100 * TOL, "the parallel residual matters");
        }
        // the sequential form (use_parallel_residual false), from two shards
        Path seqDir = tmp.resolve("neox-sequential");
        writeCheckpoint(seqDir, config(false), W, DType.F32, 2);
        try (GptNeoX m = GptNeoX.load(cpu, seqDir); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertFalse(m.config().parallelResidual());
            assertTrue(maxRelErr(lg.toFloatArray(), reference(seq, false, true, ROT)) <= TOL);
        }
    }

    @Test
    void configReadsBothNamings() throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        String v5 = config(true).replace("\"rotary_pct\": 0.5, \"rotary_emb_base\": 10000,",
                "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500.0, \"partial_rotary_factor\": 0.25},");
        GptNeoXConfig c = GptNeoXConfig.parse(new ConfigJson(json.readTree(v5), "cfg"));
        assertEquals(8, c.rotaryDim());
        assertEquals(500.0, c.ropeTheta());
        var e = assertThrows(IllegalArgumentException.class, () -> GptNeoXConfig.parse(new ConfigJson(json.readTree(
                config(true).replace("\"rotary_pct\": 0.5,", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}, \"rotary_pct\": 0.5,")), "cfg")));
        assertTrue(e.getMessage().contains("dynamic"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GptNeoXConfig.parse(new ConfigJson(json.readTree(
                config(true).replace("\"gelu\"", "\"relu\"")), "cfg")));
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
    }
}
