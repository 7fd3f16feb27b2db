package dev.surpass.model.stablelm;

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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@code StableLmForCausalLM}: a tiny random checkpoint (hidden 128, 4 q-heads / 2 kv-heads of 32, a
 * quarter of each head rotary, 2 layers, intermediate 96, vocab 80, q/k/v biases, per-head q/k
 * LayerNorms, sequential residual, SwiGLU, untied head) in HF naming; the shared decode, batching and
 * CUDA checks ({@link DecoderModelSuite}), and the forward against a float64 reference written from
 * HF's modeling_stablelm, where the partial rotary, the biases, each head's own norm weight and the
 * residual form are shown to matter; a second checkpoint with use_parallel_residual, a tied head and
 * bf16 weights.
 */
class StableLmTest extends DecoderModelSuite<StableLm> {
    static final int E = 128, H = 4, HKV = 2, D = 32, NL = 2, F = 96, V = 80, ROT = 8;
    static final double TOL = 1e-4, EPS = 1e-5, THETA = 10000;
    static final Map<String, Entry> W = weights(new Random(81), true, true, false);
    static final Map<String, Entry> WPAR = weights(new Random(82), false, false, true);

    static Map<String, Entry> weights(Random r, boolean qkvBias, boolean qkNorm, boolean parallel) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new Entry(fill(new float[V * E], r, 1.0), V, E));
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            for (String n : parallel ? new String[] {"input_layernorm"} : new String[] {"input_layernorm", "post_attention_layernorm"}) {
                m.put(p + n + ".weight", new Entry(around1(E, r, 0.2), E));
                m.put(p + n + ".bias", new Entry(fill(new float[E], r, 0.1), E));
            }
            putLinear(m, r, p + "self_attn.q_proj", H * D, E, qkvBias);
            putLinear(m, r, p + "self_attn.k_proj", HKV * D, E, qkvBias);
            putLinear(m, r, p + "self_attn.v_proj", HKV * D, E, qkvBias);
            putLinear(m, r, p + "self_attn.o_proj", E, H * D, false);
            if (qkNorm) {
                for (int h = 0; h < H; h++) m.put(p + "self_attn.q_layernorm.norms." + h + ".weight", new Entry(around1(D, r, 0.5), D));
                for (int h = 0; h < HKV; h++) m.put(p + "self_attn.k_layernorm.norms." + h + ".weight", new Entry(around1(D, r, 0.5), D));
            }
            putLinear(m, r, p + "mlp.gate_proj", F, E, false);
            putLinear(m, r, p + "mlp.up_proj", F, E, false);
            putLinear(m, r, p + "mlp.down_proj", E, F, false);
        }
        m.put("model.norm.weight", new Entry(around1(E, r, 0.2), E));
        m.put("model.norm.bias", new Entry(fill(new float[E], r, 0.1), E));
        m.put("lm_head.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        return m;
    }

    static void putLinear(Map<String, Entry> m, Random r, String name, int out, int in, boolean bias) {
        m.put(name + ".weight", new Entry(fill(new float[out * in], r, 1 / Math.sqrt(in)), out, in));
        if (bias) m.put(name + ".bias", new Entry(fill(new float[out], r, 0.3), out));
    }

    static String config(boolean qkvBias, boolean qkNorm, boolean parallel) {
        return "{\"architectures\": [\"StableLmForCausalLM\"], \"model_type\": \"stablelm\", \"hidden_size\": 128, \"num_hidden_layers\": 2,"
                + " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 96, \"vocab_size\": 80,"
                + " \"max_position_embeddings\": 64, \"partial_rotary_factor\": 0.25, \"rope_theta\": 10000, \"layer_norm_eps\": 1e-5,"
                + " \"hidden_act\": \"silu\", \"use_qkv_bias\": " + qkvBias + ", \"qk_layernorm\": " + qkNorm + ", \"use_parallel_residual\": "
                + parallel + ", \"tie_word_embeddings\": false, \"eos_token_id\": 0}";
    }

    StableLmTest() {
        super("stablelm", V, d -> writeCheckpoint(d, config(true, true, false), W, DType.F32, 1), StableLm::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** What the reference leaves out or changes, to show each part matters. */
    enum Drop { NONE, PARTIAL_ROTARY, QKV_BIAS, QK_NORM, SHARED_HEAD_NORM, RESIDUAL_FORM }

    /** LayerNorm without bias over each head's D values of rows [T][heads·D], head h with its own weight, in place. */
    static void headNorms(double[][] x, int heads, Function<Integer, float[]> weight) {
        for (double[] row : x) {
            for (int h = 0; h < heads; h++) {
                double[][] one = {Arrays.copyOfRange(row, h * D, (h + 1) * D)};
                System.arraycopy(layerNorm(one, weight.apply(h), null, EPS)[0], 0, row, h * D, D);
            }
        }
    }

    /** float64 StableLmForCausalLM on one sequence → logits [L][V], changed by {@code drop}. */
    static double[][] reference(Map<String, Entry> wm, int[] ids, boolean parallel, Drop drop) {
        Function<String, float[]> w = k -> wm.containsKey(k) ? wm.get(k).data() : null;
        int n = ids.length;
        if (drop == Drop.RESIDUAL_FORM) parallel = !parallel;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.apply("model.embed_tokens.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            double[][] a = layerNorm(x, w.apply(p + "input_layernorm.weight"), w.apply(p + "input_layernorm.bias"), EPS);
            boolean nb = drop == Drop.QKV_BIAS;
            double[][] q = linear(a, w.apply(p + "self_attn.q_proj.weight"), nb ? null : w.apply(p + "self_attn.q_proj.bias"), E, H * D);
            double[][] k = linear(a, w.apply(p + "self_attn.k_proj.weight"), nb ? null : w.apply(p + "self_attn.k_proj.bias"), E, HKV * D);
            double[][] v = linear(a, w.apply(p + "self_attn.v_proj.weight"), nb ? null : w.apply(p + "self_attn.v_proj.bias"), E, HKV * D);
            if (wm.containsKey(p + "self_attn.q_layernorm.norms.0.weight") && drop != Drop.QK_NORM) {
                boolean shared = drop == Drop.SHARED_HEAD_NORM;
                headNorms(q, H, h -> w.apply(p + "self_attn.q_layernorm.norms." + (shared ? 0 : h) + ".weight"));
                headNorms(k, HKV, h -> w.apply(p + "self_attn.k_layernorm.norms." + (shared ? 0 : h) + ".weight"));
            }
            int rot = drop == Drop.PARTIAL_ROTARY ? D : ROT;
            ropeHalf(q, H, D, rot, THETA);
            ropeHalf(k, HKV, D, rot, THETA);
            double[][] attn = linear(causalAttention(q, k, v, H, HKV, D), w.apply(p + "self_attn.o_proj.weight"), null, H * D, E);
            addInPlace(x, attn);
            double[][] m = parallel ? a : layerNorm(x, w.apply(p + (wm.containsKey(p + "post_attention_layernorm.weight") ? "post_attention_layernorm"
                    : "input_layernorm") + ".weight"), w.apply(p + (wm.containsKey(p + "post_attention_layernorm.bias") ? "post_attention_layernorm"
                    : "input_layernorm") + ".bias"), EPS);
            double[][] g = linear(m, w.apply(p + "mlp.gate_proj.weight"), null, E, F);
            double[][] u = linear(m, w.apply(p + "mlp.up_proj.weight"), null, E, F);
            for (int t = 0; t < n; t++) for (int i = 0; i < F; i++) g[t][i] = silu(g[t][i]) * u[t][i];
            addInPlace(x, linear(g, w.apply(p + "mlp.down_proj.weight"), null, F, E));
        }
        double[][] hn = layerNorm(x, w.apply("model.norm.weight"), w.apply("model.norm.bias"), EPS);
        return linear(hn, w.apply("lm_head.weight"), null, E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(W, seq, false, Drop.NONE), TOL);
        StableLmConfig c = model.config();
        assertEquals(ROT, c.rotaryDim());
        assertTrue(c.qkvBias() && c.qkLayerNorm() && !c.parallelResidual() && !model.tiedHead());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            for (Drop d : new Drop[] {Drop.PARTIAL_ROTARY, Drop.QKV_BIAS, Drop.QK_NORM, Drop.SHARED_HEAD_NORM, Drop.RESIDUAL_FORM}) {
                assertTrue(maxRelErr(got, reference(W, seq, false, d)) > 20 * TOL, d + " matters");
            }
        }
    }

    @Test
    void parallelResidualTiedHeadAndBf16() throws IOException {
        Map<String, Entry> tied = new LinkedHashMap<>(WPAR);
        tied.remove("lm_head.weight");
        Map<String, Entry> rounded = new LinkedHashMap<>();
        for (var e : WPAR.entrySet()) rounded.put(e.getKey(), new Entry(rounded(e.getValue().data(), DType.BF16), e.getValue().shape()));
        rounded.put("lm_head.weight", rounded.get("model.embed_tokens.weight"));
        Path t = tmp.resolve("stablelm-parallel-tied");
        writeCheckpoint(t, config(false, false, true).replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"), tied, DType.BF16, 2);
        int[] seq = ids(4, 27);
        try (StableLm m = StableLm.load(cpu, t); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.tiedHead() && m.config().parallelResidual() && !m.config().qkvBias());
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(rounded, seq, true, Drop.NONE)) <= TOL);
            assertTrue(maxRelErr(got, reference(rounded, seq, true, Drop.RESIDUAL_FORM)) > 20 * TOL, "the parallel residual matters");
        }
    }

    @Test
    void freesEverythingItAllocates() throws IOException {
        Map<String, Entry> missing = new LinkedHashMap<>(W);
        missing.remove("model.layers.1.self_attn.q_layernorm.norms.3.weight");
        Path bad = tmp.resolve("leak");
        writeCheckpoint(bad, config(true, true, false), missing, DType.F32, 1);
        dev.surpass.model.decoder.DecoderChecks.freesEverything(cpu, () -> StableLm.load(cpu, dir), new int[][] {ids(5, 9), ids(6, 3)},
                () -> StableLm.load(cpu, bad));
    }

    @Test
    void foundByItsFamilyAndConfigErrorsNamed() throws IOException {
        assertEquals("stablelm", ModelFamilies.find(dir).family());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        String v5 = config(true, true, false).replace("\"partial_rotary_factor\": 0.25, \"rope_theta\": 10000,",
                "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500.0, \"partial_rotary_factor\": 0.5},");
        StableLmConfig c = StableLmConfig.parse(new ConfigJson(json.readTree(v5), "cfg"));
        assertEquals(16, c.rotaryDim());
        assertEquals(500.0, c.ropeTheta());
        var e = assertThrows(IllegalArgumentException.class, () -> StableLmConfig.parse(new ConfigJson(json.readTree(
                config(true, true, false).replace("\"silu\"", "\"gelu\"")), "cfg")));
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StableLmConfig.parse(new ConfigJson(json.readTree(
                config(true, true, false).replace("\"rope_theta\": 10000,", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0},")), "cfg")));
        assertTrue(e.getMessage().contains("dynamic"), e.getMessage());
        Map<String, Entry> missing = new LinkedHashMap<>(W);
        missing.remove("model.layers.1.self_attn.k_layernorm.norms.1.weight");
        Path d = tmp.resolve("stablelm-missing");
        writeCheckpoint(d, config(true, true, false), missing, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> StableLm.load(cpu, d));
        assertTrue(e.getMessage().contains("model.layers.1.self_attn.k_layernorm.norms.1.weight"), e.getMessage());
        assertFalse(StableLmConfig.looksLikeStableLm(tmp.resolve("nothing-here")));
    }

    /** stabilityai/stablelm-2-1_6b's config.json as published: 32 heads of 64, a quarter rotary, q/k/v biases. */
    @Test
    void stablelm2ConfigAsPublished() throws IOException {
        String s = "{\"architectures\": [\"StableLmForCausalLM\"], \"bos_token_id\": 100257, \"eos_token_id\": 100257, \"hidden_act\": \"silu\","
                + " \"hidden_size\": 2048, \"initializer_range\": 0.02, \"intermediate_size\": 5632, \"max_position_embeddings\": 4096,"
                + " \"model_type\": \"stablelm\", \"layer_norm_eps\": 1e-05, \"num_attention_heads\": 32, \"num_hidden_layers\": 24,"
                + " \"num_key_value_heads\": 32, \"partial_rotary_factor\": 0.25, \"rope_theta\": 10000, \"rope_scaling\": null,"
                + " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.38.0\", \"use_cache\": true,"
                + " \"use_qkv_bias\": true, \"vocab_size\": 100352}";
        StableLmConfig c = StableLmConfig.parse(new ConfigJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(s), "stablelm-2-1_6b"));
        assertEquals(64, c.headDim());
        assertEquals(16, c.rotaryDim());
        assertTrue(c.qkvBias() && !c.qkLayerNorm() && !c.parallelResidual() && !c.tieEmbeddings());
    }
}
