package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code Gemma2ForCausalLM} (and {@code GemmaForCausalLM}) through {@link Llama}: LlamaTest's sizes
 * with Gemma's RMSNorm weights stored as offsets from 1, the embedding scaled by √hidden and tied
 * to the head, a GELU-tanh MLP, and Gemma 2's post-attention and pre/post-feedforward norms, score
 * scale {@code query_pre_attn_scalar^-0.5} (24 here, not the head dim), attention and final-logit
 * soft caps set low (3 and 4) so they bite, and a window of 6 on the even layer. The shared decode
 * and batching checks (paged decode with the soft cap and scale), and the forward against a
 * float64 reference written from HF's modeling_gemma2, where each difference is shown to matter.
 */
class Gemma2Test extends DecoderModelSuite<Llama> {
    static final Map<String, float[]> wg = gemmaWeights(true);
    static final double QPA = 24, ATTN_CAP = 3, FINAL_CAP = 4;

    /** LlamaTest's weights without lm_head, the norms as small offsets from 1, Gemma 2's two MLP norms when {@code v2}. */
    static Map<String, float[]> gemmaWeights(boolean v2) {
        Map<String, float[]> m = new LinkedHashMap<>(w);
        m.remove("lm_head.weight");
        Random r = new Random(67);
        for (String k : m.keySet().toArray(new String[0])) if (k.endsWith("norm.weight")) m.put(k, fill(new float[E], r, 0.3));
        if (v2) {
            for (int l = 0; l < NL; l++) {
                m.put("model.layers." + l + ".pre_feedforward_layernorm.weight", fill(new float[E], r, 0.3));
                m.put("model.layers." + l + ".post_feedforward_layernorm.weight", fill(new float[E], r, 0.3));
            }
        }
        // a tied head scaled down: the embedding rows are multiplied by √128 ≈ 11 on the way in
        float[] emb = m.get("model.embed_tokens.weight").clone();
        for (int i = 0; i < emb.length; i++) emb[i] *= 0.3f;
        m.put("model.embed_tokens.weight", emb);
        return m;
    }

    static String config(boolean v2, String extra) {
        return "{\"architectures\": [\"" + (v2 ? "Gemma2" : "Gemma") + "ForCausalLM\"], \"model_type\": \"" + (v2 ? "gemma2" : "gemma") + "\","
                + " \"hidden_size\": 128, \"intermediate_size\": 96, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                + " \"num_key_value_heads\": 2, \"head_dim\": 32, \"vocab_size\": 80, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0,"
                + " \"max_position_embeddings\": 64, \"hidden_act\": \"gelu_pytorch_tanh\", \"hidden_activation\": \"gelu_pytorch_tanh\","
                + " \"eos_token_id\": 1, \"attention_bias\": false"
                + (v2 ? ", \"query_pre_attn_scalar\": 24, \"attn_logit_softcapping\": 3.0, \"final_logit_softcapping\": 4.0, \"sliding_window\": 6" : "")
                + extra + "}";
    }

    Gemma2Test() {
        super("gemma2", V, d -> writeCheckpoint(d, config(true, ""), entries(wg, false), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** Which parts of Gemma 2 the reference applies (all on: the model; one off: shows that part matters). */
    record Parts(boolean sandwich, double scale, double attnCap, double finalCap, int[] windows, boolean embedScale, double[] globalInv,
                 double[] localInv) {
        Parts(boolean sandwich, double scale, double attnCap, double finalCap, int[] windows, boolean embedScale) {
            this(sandwich, scale, attnCap, finalCap, windows, embedScale, invFreq(false), null);
        }

        static final Parts GEMMA2 = new Parts(true, Math.pow(QPA, -0.5), ATTN_CAP, FINAL_CAP, new int[] {6, -1}, true);
        static final Parts GEMMA = new Parts(false, 1 / Math.sqrt(D), 0, 0, new int[] {-1, -1}, true);
    }

    static float[] plusOne(float[] v) {
        float[] o = new float[v.length];
        for (int i = 0; i < v.length; i++) o[i] = 1f + v[i];
        return o;
    }

    /** float64 Gemma(2/3)ForCausalLM on one sequence → logits [L][V] (Gemma 3: q/k norms when the weights have them, local RoPE). */
    static double[][] reference(Map<String, float[]> w, int[] ids, Parts p) {
        int n = ids.length;
        double[][] x = new double[n][E];
        float normalizer = (float) Math.sqrt(E);
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < E; i++) x[t][i] = w.get("model.embed_tokens.weight")[ids[t] * E + i] * (p.embedScale() ? normalizer : 1);
        }
        for (int l = 0; l < NL; l++) {
            double[] inv = p.localInv() != null && p.windows()[l] > 0 ? p.localInv() : p.globalInv();
            String q0 = "model.layers." + l + ".";
            double[][] a = rmsNorm(x, plusOne(w.get(q0 + "input_layernorm.weight")), EPS);
            double[][] q = linear(a, w.get(q0 + "self_attn.q_proj.weight"), null, E, HQ * D);
            double[][] k = linear(a, w.get(q0 + "self_attn.k_proj.weight"), null, E, HKV * D);
            double[][] v = linear(a, w.get(q0 + "self_attn.v_proj.weight"), null, E, HKV * D);
            if (w.containsKey(q0 + "self_attn.q_norm.weight")) {
                headNorm(q, HQ, plusOne(w.get(q0 + "self_attn.q_norm.weight")));
                headNorm(k, HKV, plusOne(w.get(q0 + "self_attn.k_norm.weight")));
            }
            rope(q, HQ, inv);
            rope(k, HKV, inv);
            double[][] o = causalAttention(q, k, v, HQ, HKV, D, p.windows()[l], p.scale(), p.attnCap());
            double[][] attn = linear(o, w.get(q0 + "self_attn.o_proj.weight"), null, HQ * D, E);
            double[][] m;
            if (p.sandwich()) {
                addInPlace(x, rmsNorm(attn, plusOne(w.get(q0 + "post_attention_layernorm.weight")), EPS));
                m = rmsNorm(x, plusOne(w.get(q0 + "pre_feedforward_layernorm.weight")), EPS);
            } else {
                addInPlace(x, attn);
                m = rmsNorm(x, plusOne(w.get(q0 + "post_attention_layernorm.weight")), EPS);
            }
            double[][] g = linear(m, w.get(q0 + "mlp.gate_proj.weight"), null, E, F);
            double[][] u = linear(m, w.get(q0 + "mlp.up_proj.weight"), null, E, F);
            for (int t = 0; t < n; t++) for (int i = 0; i < F; i++) g[t][i] = geluTanh(g[t][i]) * u[t][i];
            double[][] mlp = linear(g, w.get(q0 + "mlp.down_proj.weight"), null, F, E);
            addInPlace(x, p.sandwich() ? rmsNorm(mlp, plusOne(w.get(q0 + "post_feedforward_layernorm.weight")), EPS) : mlp);
        }
        double[][] logits = linear(rmsNorm(x, plusOne(w.get("model.norm.weight")), EPS), w.get("model.embed_tokens.weight"), null, E, V);
        if (p.finalCap() > 0) for (double[] row : logits) for (int i = 0; i < V; i++) row[i] = p.finalCap() * Math.tanh(row[i] / p.finalCap());
        return logits;
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wg, seq, Parts.GEMMA2), TOL);
        LlamaConfig.Gemma g = model.config().gemma();
        assertEquals(new LlamaConfig.Gemma((float) Math.sqrt(128), Activation.Gelu.TANH, true, (float) Math.pow(24, -0.5), 3f, 4f, null), g);
        assertTrue(model.tiedHead());
        assertArrayEquals(new int[] {6, -1}, model.config().slidingWindows());
        int[] seq = ids(1, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            Parts all = Parts.GEMMA2;
            Parts[] without = {
                new Parts(false, all.scale(), all.attnCap(), all.finalCap(), all.windows(), true),
                new Parts(true, 1 / Math.sqrt(D), all.attnCap(), all.finalCap(), all.windows(), true),
                new Parts(true, all.scale(), 0, all.finalCap(), all.windows(), true),
                new Parts(true, all.scale(), all.attnCap(), 0, all.windows(), true),
                new Parts(true, all.scale(), all.attnCap(), all.finalCap(), new int[] {-1, -1}, true),
                new Parts(true, all.scale(), all.attnCap(), all.finalCap(), all.windows(), false)};
            String[] what = {"sandwich norms", "query_pre_attn_scalar", "attention soft cap", "final soft cap", "window", "√hidden"};
            for (int i = 0; i < without.length; i++) {
                Map<String, float[]> wv = without[i].sandwich() ? wg : gemmaWeights(true);
                assertTrue(maxRelErr(got, reference(wv, seq, without[i])) > 100 * TOL, what[i] + " should matter");
            }
        }
    }

    @Test
    void gemmaOneMatchesItsReference() throws IOException {
        Map<String, float[]> w1 = gemmaWeights(false);
        Path d = tmp.resolve("gemma1");
        writeCheckpoint(d, config(false, ""), entries(w1, false), DType.BF16, 2);
        Map<String, float[]> r = rounded(w1, DType.BF16);
        int[] seq = ids(3, 25);
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertEquals("gemma", m.config().modelType());
            assertTrue(m.tiedHead() && !m.config().gemma().sandwichNorms() && m.config().gemma().finalSoftcap() == 0);
            assertTrue(maxRelErr(lg.toFloatArray(), reference(r, seq, Parts.GEMMA)) <= TOL);
            dev.surpass.model.decoder.DecoderChecks.incrementalEqualsFull(m, seq, 4, 1e-4);
        }
    }

    @Test
    void configReadsAsHfDoes() throws IOException {
        // defaults: Gemma 2's caps 50 / 30 and query_pre_attn_scalar 256; null turns a cap off; layer_types overrides the even-layer rule
        String bare = config(true, "").replace(", \"query_pre_attn_scalar\": 24, \"attn_logit_softcapping\": 3.0, \"final_logit_softcapping\": 4.0", "");
        LlamaConfig.Gemma g = Qwen2Test.parse(bare).gemma();
        assertEquals(50f, g.attnSoftcap());
        assertEquals(30f, g.finalSoftcap());
        assertEquals((float) Math.pow(256, -0.5), g.queryScale());
        assertEquals(0f, Qwen2Test.parse(config(true, "").replace("\"final_logit_softcapping\": 4.0", "\"final_logit_softcapping\": null")).gemma().finalSoftcap());
        assertArrayEquals(new int[] {-1, 6}, Qwen2Test.parse(config(true, ", \"layer_types\": [\"full_attention\", \"sliding_attention\"]")).slidingWindows());
        assertEquals(Activation.Gelu.ERF, Qwen2Test.parse(config(false, "").replace("\"hidden_activation\": \"gelu_pytorch_tanh\"", "\"hidden_activation\": \"gelu\"")).gemma().mlpGelu());
        var e = assertThrows(IllegalArgumentException.class,
                () -> Qwen2Test.parse(config(false, "").replace("\"hidden_activation\": \"gelu_pytorch_tanh\"", "\"hidden_activation\": \"relu\"")));
        assertTrue(e.getMessage().contains("hidden_activation"), e.getMessage());
        assertTrue(Qwen2Test.parse(config(false, "")).tieEmbeddings(), "Gemma ties its head by default");
    }
}
