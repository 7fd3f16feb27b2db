package dev.surpass.model.phi;

import static dev.surpass.model.decoder.RefMath.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
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
 * {@code PhiForCausalLM} (Phi-1 / 1.5 / 2): a tiny random checkpoint (hidden 128, 4 q-heads / 2
 * kv-heads of 32, half of each head rotary, 2 layers, intermediate 96, vocab 80, biases everywhere,
 * gelu_new, untied head with its bias) in HF naming; the shared decode and batching checks, and the
 * forward against a float64 reference written from HF's modeling_phi, where the partial rotary, the
 * parallel attention + MLP, the head bias and the optional q/k LayerNorm are shown to matter.
 */
class PhiTest extends DecoderModelSuite<Phi> {
    static final int E = 128, H = 4, HKV = 2, D = 32, NL = 2, F = 96, V = 80, ROT = 16;
    static final double TOL = 1e-4, EPS = 1e-5;
    static final Map<String, Entry> W = weights(new Random(91), false);
    static final Map<String, Entry> WQK = weights(new Random(92), true);

    static Map<String, Entry> weights(Random r, boolean qkNorm) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new Entry(fill(new float[V * E], r, 1.0), V, E));
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new Entry(around1(E, r, 0.2), E));
            m.put(p + "input_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
            m.put(p + "self_attn.q_proj.weight", new Entry(fill(new float[H * D * E], r, 1 / Math.sqrt(E)), H * D, E));
            m.put(p + "self_attn.q_proj.bias", new Entry(fill(new float[H * D], r, 0.2), H * D));
            m.put(p + "self_attn.k_proj.weight", new Entry(fill(new float[HKV * D * E], r, 1 / Math.sqrt(E)), HKV * D, E));
            m.put(p + "self_attn.k_proj.bias", new Entry(fill(new float[HKV * D], r, 0.2), HKV * D));
            m.put(p + "self_attn.v_proj.weight", new Entry(fill(new float[HKV * D * E], r, 1 / Math.sqrt(E)), HKV * D, E));
            m.put(p + "self_attn.v_proj.bias", new Entry(fill(new float[HKV * D], r, 0.2), HKV * D));
            m.put(p + "self_attn.dense.weight", new Entry(fill(new float[E * H * D], r, 1 / Math.sqrt(H * D)), E, H * D));
            m.put(p + "self_attn.dense.bias", new Entry(fill(new float[E], r, 0.1), E));
            if (qkNorm) {
                m.put(p + "self_attn.q_layernorm.weight", new Entry(around1(D, r, 0.3), D));
                m.put(p + "self_attn.q_layernorm.bias", new Entry(fill(new float[D], r, 0.2), D));
                m.put(p + "self_attn.k_layernorm.weight", new Entry(around1(D, r, 0.3), D));
                m.put(p + "self_attn.k_layernorm.bias", new Entry(fill(new float[D], r, 0.2), D));
            }
            m.put(p + "mlp.fc1.weight", new Entry(fill(new float[F * E], r, 1 / Math.sqrt(E)), F, E));
            m.put(p + "mlp.fc1.bias", new Entry(fill(new float[F], r, 0.1), F));
            m.put(p + "mlp.fc2.weight", new Entry(fill(new float[E * F], r, 1 / Math.sqrt(F)), E, F));
            m.put(p + "mlp.fc2.bias", new Entry(fill(new float[E], r, 0.1), E));
        }
        m.put("model.final_layernorm.weight", new Entry(around1(E, r, 0.2), E));
        m.put("model.final_layernorm.bias", new Entry(fill(new float[E], r, 0.1), E));
        m.put("lm_head.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        m.put("lm_head.bias", new Entry(fill(new float[V], r, 0.5), V));
        return m;
    }

    static String config(boolean qkNorm) {
        return "{\"architectures\": [\"PhiForCausalLM\"], \"model_type\": \"phi\", \"hidden_size\": 128, \"num_hidden_layers\": 2,"
                + " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 96, \"vocab_size\": 80,"
                + " \"max_position_embeddings\": 64, \"partial_rotary_factor\": 0.5, \"rope_theta\": 10000.0, \"layer_norm_eps\": 1e-5,"
                + " \"hidden_act\": \"gelu_new\", \"qk_layernorm\": " + qkNorm + ", \"tie_word_embeddings\": false, \"eos_token_id\": 50256}";
    }

    PhiTest() {
        super("phi", V, d -> writeCheckpoint(d, config(false), W, DType.F32, 1), Phi::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** What the reference leaves out, to show each part matters. */
    enum Drop { NONE, PARTIAL_ROTARY, PARALLEL, HEAD_BIAS, QK_NORM }

    /** Rotate-half RoPE on the first {@code rot} dims of each of {@code heads} heads of rows [T][heads·D], base 10000. */
    static void rope(double[][] x, int heads, int rot) {
        int h2 = rot / 2;
        for (int t = 0; t < x.length; t++) {
            for (int h = 0; h < heads; h++) {
                double[] y = x[t].clone();
                for (int j = 0; j < rot; j++) {
                    double ang = t * Math.pow(10000, -2.0 * (j % h2) / rot);
                    double rv = j < h2 ? -x[t][h * D + j + h2] : x[t][h * D + j - h2];
                    y[h * D + j] = x[t][h * D + j] * Math.cos(ang) + rv * Math.sin(ang);
                }
                System.arraycopy(y, h * D, x[t], h * D, D);
            }
        }
    }

    /** LayerNorm over each head's D values of rows [T][heads·D], in place. */
    static void headLayerNorm(double[][] x, int heads, float[] w, float[] b) {
        for (double[] row : x) {
            for (int h = 0; h < heads; h++) {
                double[][] one = {java.util.Arrays.copyOfRange(row, h * D, (h + 1) * D)};
                System.arraycopy(layerNorm(one, w, b, EPS)[0], 0, row, h * D, D);
            }
        }
    }

    /** float64 PhiForCausalLM on one sequence → logits [L][V], leaving out {@code drop}. */
    static double[][] reference(Map<String, Entry> wm, int[] ids, Drop drop) {
        java.util.function.Function<String, float[]> w = k -> wm.containsKey(k) ? wm.get(k).data() : null;
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.apply("model.embed_tokens.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            double[][] a = layerNorm(x, w.apply(p + "input_layernorm.weight"), w.apply(p + "input_layernorm.bias"), EPS);
            double[][] q = linear(a, w.apply(p + "self_attn.q_proj.weight"), w.apply(p + "self_attn.q_proj.bias"), E, H * D);
            double[][] k = linear(a, w.apply(p + "self_attn.k_proj.weight"), w.apply(p + "self_attn.k_proj.bias"), E, HKV * D);
            double[][] v = linear(a, w.apply(p + "self_attn.v_proj.weight"), w.apply(p + "self_attn.v_proj.bias"), E, HKV * D);
            if (wm.containsKey(p + "self_attn.q_layernorm.weight") && drop != Drop.QK_NORM) {
                headLayerNorm(q, H, w.apply(p + "self_attn.q_layernorm.weight"), w.apply(p + "self_attn.q_layernorm.bias"));
                headLayerNorm(k, HKV, w.apply(p + "self_attn.k_layernorm.weight"), w.apply(p + "self_attn.k_layernorm.bias"));
            }
            int rot = drop == Drop.PARTIAL_ROTARY ? D : ROT;
            rope(q, H, rot);
            rope(k, HKV, rot);
            double[][] attn = linear(causalAttention(q, k, v, H, HKV, D), w.apply(p + "self_attn.dense.weight"), w.apply(p + "self_attn.dense.bias"),
                    H * D, E);
            if (drop == Drop.PARALLEL) { // a sequential block instead: the MLP on the updated stream
                addInPlace(x, attn);
                a = layerNorm(x, w.apply(p + "input_layernorm.weight"), w.apply(p + "input_layernorm.bias"), EPS);
            }
            double[][] up = linear(a, w.apply(p + "mlp.fc1.weight"), w.apply(p + "mlp.fc1.bias"), E, F);
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = geluTanh(row[i]);
            double[][] mlp = linear(up, w.apply(p + "mlp.fc2.weight"), w.apply(p + "mlp.fc2.bias"), F, E);
            if (drop != Drop.PARALLEL) addInPlace(mlp, attn);
            addInPlace(x, mlp);
        }
        double[][] hn = layerNorm(x, w.apply("model.final_layernorm.weight"), w.apply("model.final_layernorm.bias"), EPS);
        return linear(hn, w.apply("lm_head.weight"), drop == Drop.HEAD_BIAS ? null : w.apply("lm_head.bias"), E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(W, seq, Drop.NONE), TOL);
        PhiConfig c = model.config();
        assertEquals(ROT, c.rotaryDim());
        assertTrue(c.geluTanh() && !c.qkLayerNorm() && !model.tiedHead());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            for (Drop d : new Drop[] {Drop.PARTIAL_ROTARY, Drop.PARALLEL, Drop.HEAD_BIAS}) {
                assertTrue(maxRelErr(got, reference(W, seq, d)) > 100 * TOL, d + " matters");
            }
        }
    }

    @Test
    void qkLayerNormTiedHeadAndBf16() throws IOException {
        Path d = tmp.resolve("phi-qk");
        writeCheckpoint(d, config(true), WQK, DType.F32, 2);
        int[] seq = ids(4, 27);
        try (Phi m = Phi.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.config().qkLayerNorm());
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(WQK, seq, Drop.NONE)) <= TOL);
            assertTrue(maxRelErr(got, reference(WQK, seq, Drop.QK_NORM)) > 100 * TOL, "q/k LayerNorm matters");
        }
        // tied: lm_head.weight is the embedding, lm_head.bias stays; bf16 weights widened on load
        Map<String, Entry> tied = new LinkedHashMap<>(W);
        tied.remove("lm_head.weight");
        Map<String, Entry> want = new LinkedHashMap<>(W);
        want.put("lm_head.weight", W.get("model.embed_tokens.weight"));
        Path t = tmp.resolve("phi-tied-bf16");
        writeCheckpoint(t, config(false).replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"), tied, DType.BF16, 1);
        Map<String, Entry> rounded = new LinkedHashMap<>();
        for (var e : want.entrySet()) rounded.put(e.getKey(), new Entry(rounded(e.getValue().data(), DType.BF16), e.getValue().shape()));
        try (Phi m = Phi.load(cpu, t); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.tiedHead());
            assertTrue(maxRelErr(lg.toFloatArray(), reference(rounded, seq, Drop.NONE)) <= TOL);
        }
    }

    @Test
    void foundByItsFamilyAndConfigErrorsNamed() throws IOException {
        assertEquals("phi", ModelFamilies.find(dir).family());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        // transformers 5: the rotary settings inside rope_parameters
        String v5 = config(false).replace("\"partial_rotary_factor\": 0.5, \"rope_theta\": 10000.0,",
                "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500.0, \"partial_rotary_factor\": 0.25},");
        PhiConfig c = PhiConfig.parse(new ConfigJson(json.readTree(v5), "cfg"));
        assertEquals(8, c.rotaryDim());
        assertEquals(500.0, c.ropeTheta());
        // Phi-1's default partial_rotary_factor is 0.5
        assertEquals(16, PhiConfig.parse(new ConfigJson(json.readTree(config(false).replace("\"partial_rotary_factor\": 0.5,", "")), "cfg")).rotaryDim());
        var e = assertThrows(IllegalArgumentException.class, () -> PhiConfig.parse(new ConfigJson(json.readTree(
                config(false).replace("\"rope_theta\": 10000.0,", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0},")), "cfg")));
        assertTrue(e.getMessage().contains("dynamic") && e.getMessage().contains("rope_scaling"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PhiConfig.parse(new ConfigJson(json.readTree(
                config(false).replace("\"gelu_new\"", "\"relu\"")), "cfg")));
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PhiConfig.parse(new ConfigJson(json.readTree(
                config(false).replace("\"partial_rotary_factor\": 0.5", "\"partial_rotary_factor\": 0.3")), "cfg")));
        assertTrue(e.getMessage().contains("partial_rotary_factor"), e.getMessage());
        // a missing tensor is named
        Map<String, Entry> noBias = new LinkedHashMap<>(W);
        noBias.remove("lm_head.bias");
        Path d = tmp.resolve("phi-nobias");
        writeCheckpoint(d, config(false), noBias, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Phi.load(cpu, d));
        assertTrue(e.getMessage().contains("lm_head.bias"), e.getMessage());
        assertFalse(PhiConfig.looksLikePhi(tmp.resolve("nothing-here")));
    }

    /** microsoft/phi-2's config.json as published (transformers 4.37): 32 heads of 80, 32 of them rotary. */
    @Test
    void phi2ConfigAsPublished() throws IOException {
        String phi2 = "{\"_name_or_path\": \"microsoft/phi-2\", \"architectures\": [\"PhiForCausalLM\"], \"attention_dropout\": 0.0,"
                + " \"bos_token_id\": 50256, \"embd_pdrop\": 0.0, \"eos_token_id\": 50256, \"hidden_act\": \"gelu_new\", \"hidden_size\": 2560,"
                + " \"initializer_range\": 0.02, \"intermediate_size\": 10240, \"layer_norm_eps\": 1e-05, \"max_position_embeddings\": 2048,"
                + " \"model_type\": \"phi\", \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 32,"
                + " \"partial_rotary_factor\": 0.4, \"qk_layernorm\": false, \"resid_pdrop\": 0.1, \"rope_scaling\": null, \"rope_theta\": 10000.0,"
                + " \"tie_word_embeddings\": false, \"torch_dtype\": \"float16\", \"transformers_version\": \"4.37.0\", \"use_cache\": true,"
                + " \"vocab_size\": 51200}";
        PhiConfig c = PhiConfig.parse(new ConfigJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(phi2), "phi-2"));
        assertEquals(80, c.headDim());
        assertEquals(32, c.rotaryDim());
        assertEquals(32, c.nKvHead());
        assertTrue(c.geluTanh() && !c.qkLayerNorm() && !c.tieEmbeddings());
        assertEquals(50256, c.eosIds()[0]);
    }
}
