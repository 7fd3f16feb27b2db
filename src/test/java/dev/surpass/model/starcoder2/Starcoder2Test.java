package dev.surpass.model.starcoder2;

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
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@code Starcoder2ForCausalLM}: a tiny random checkpoint (hidden 128, 4 q-heads / 2 kv-heads of 32,
 * 2 layers, intermediate 96, vocab 80, biases everywhere, gelu_pytorch_tanh, a sliding window of 7,
 * rope_theta 1000, untied head) in HF naming; the shared decode, batching and CUDA checks
 * ({@link DecoderModelSuite}: the decode passes the window), and the forward against a float64
 * reference written from HF's modeling_starcoder2, where the window, the biases, the tanh GELU and the
 * sequential residual are shown to matter.
 */
class Starcoder2Test extends DecoderModelSuite<Starcoder2> {
    static final int E = 128, H = 4, HKV = 2, D = 32, NL = 2, F = 96, V = 80, WINDOW = 7;
    static final double TOL = 1e-4, EPS = 1e-5, THETA = 1000;
    static final Map<String, Entry> W = weights(new Random(71), true);
    static final Map<String, Entry> WNB = weights(new Random(72), false);

    static Map<String, Entry> weights(Random r, boolean bias) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new Entry(fill(new float[V * E], r, 1.0), V, E));
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            for (String n : new String[] {"input_layernorm", "post_attention_layernorm"}) {
                m.put(p + n + ".weight", new Entry(around1(E, r, 0.2), E));
                m.put(p + n + ".bias", new Entry(fill(new float[E], r, 0.1), E));
            }
            putLinear(m, r, p + "self_attn.q_proj", H * D, E, bias);
            putLinear(m, r, p + "self_attn.k_proj", HKV * D, E, bias);
            putLinear(m, r, p + "self_attn.v_proj", HKV * D, E, bias);
            putLinear(m, r, p + "self_attn.o_proj", E, H * D, bias);
            putLinear(m, r, p + "mlp.c_fc", F, E, bias);
            putLinear(m, r, p + "mlp.c_proj", E, F, bias);
        }
        m.put("model.norm.weight", new Entry(around1(E, r, 0.2), E));
        m.put("model.norm.bias", new Entry(fill(new float[E], r, 0.1), E));
        m.put("lm_head.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        return m;
    }

    static void putLinear(Map<String, Entry> m, Random r, String name, int out, int in, boolean bias) {
        m.put(name + ".weight", new Entry(fill(new float[out * in], r, 1 / Math.sqrt(in)), out, in));
        if (bias) m.put(name + ".bias", new Entry(fill(new float[out], r, 0.2), out));
    }

    static String config(boolean bias) {
        return "{\"architectures\": [\"Starcoder2ForCausalLM\"], \"model_type\": \"starcoder2\", \"hidden_size\": 128, \"num_hidden_layers\": 2,"
                + " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 96, \"vocab_size\": 80,"
                + " \"max_position_embeddings\": 64, \"rope_theta\": 1000.0, \"norm_epsilon\": 1e-5, \"sliding_window\": 7,"
                + " \"hidden_act\": \"gelu_pytorch_tanh\", \"use_bias\": " + bias + ", \"tie_word_embeddings\": false, \"eos_token_id\": 0}";
    }

    Starcoder2Test() {
        super("starcoder2", V, d -> writeCheckpoint(d, config(true), W, DType.F32, 1), Starcoder2::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** What the reference leaves out or changes, to show each part matters. */
    enum Drop { NONE, WINDOW, O_BIAS, ERF_GELU, PARALLEL }

    /** float64 Starcoder2ForCausalLM on one sequence → logits [L][V], changed by {@code drop}. */
    static double[][] reference(Map<String, Entry> wm, int[] ids, Drop drop) {
        Function<String, float[]> w = k -> wm.containsKey(k) ? wm.get(k).data() : null;
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.apply("model.embed_tokens.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            double[][] a = layerNorm(x, w.apply(p + "input_layernorm.weight"), w.apply(p + "input_layernorm.bias"), EPS);
            double[][] q = linear(a, w.apply(p + "self_attn.q_proj.weight"), w.apply(p + "self_attn.q_proj.bias"), E, H * D);
            double[][] k = linear(a, w.apply(p + "self_attn.k_proj.weight"), w.apply(p + "self_attn.k_proj.bias"), E, HKV * D);
            double[][] v = linear(a, w.apply(p + "self_attn.v_proj.weight"), w.apply(p + "self_attn.v_proj.bias"), E, HKV * D);
            ropeHalf(q, H, D, D, THETA);
            ropeHalf(k, HKV, D, D, THETA);
            double[][] o = causalAttention(q, k, v, H, HKV, D, drop == Drop.WINDOW ? -1 : WINDOW);
            double[][] attn = linear(o, w.apply(p + "self_attn.o_proj.weight"), drop == Drop.O_BIAS ? null : w.apply(p + "self_attn.o_proj.bias"),
                    H * D, E);
            double[][] m = drop == Drop.PARALLEL ? a : null; // a parallel block: the MLP on the same normed input
            addInPlace(x, attn);
            if (m == null) m = layerNorm(x, w.apply(p + "post_attention_layernorm.weight"), w.apply(p + "post_attention_layernorm.bias"), EPS);
            double[][] up = linear(m, w.apply(p + "mlp.c_fc.weight"), w.apply(p + "mlp.c_fc.bias"), E, F);
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = drop == Drop.ERF_GELU ? geluErf(row[i]) : geluTanh(row[i]);
            addInPlace(x, linear(up, w.apply(p + "mlp.c_proj.weight"), w.apply(p + "mlp.c_proj.bias"), F, E));
        }
        double[][] hn = layerNorm(x, w.apply("model.norm.weight"), w.apply("model.norm.bias"), EPS);
        return linear(hn, w.apply("lm_head.weight"), null, E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(W, seq, Drop.NONE), TOL);
        Starcoder2Config c = model.config();
        assertEquals(WINDOW, model.slidingWindow(1));
        assertTrue(c.geluTanh() && c.useBias() && !model.tiedHead());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            for (Drop d : new Drop[] {Drop.WINDOW, Drop.O_BIAS, Drop.PARALLEL}) {
                assertTrue(maxRelErr(got, reference(W, seq, d)) > 20 * TOL, d + " matters");
            }
            // the erf GELU moves the logits by ~2e-3 here, the fp32 forward sits ~5e-6 from the reference
            assertTrue(maxRelErr(got, reference(W, seq, Drop.ERF_GELU)) > 10 * TOL, "the tanh GELU matters");
        }
    }

    @Test
    void noBiasesTiedHeadAndBf16() throws IOException {
        // use_bias false, tie_word_embeddings (HF's default): the head is the embedding; bf16 weights widened on load
        Map<String, Entry> tied = new LinkedHashMap<>(WNB);
        tied.remove("lm_head.weight");
        Map<String, Entry> want = new LinkedHashMap<>(WNB);
        want.put("lm_head.weight", WNB.get("model.embed_tokens.weight"));
        Map<String, Entry> rounded = new LinkedHashMap<>();
        for (var e : want.entrySet()) rounded.put(e.getKey(), new Entry(rounded(e.getValue().data(), DType.BF16), e.getValue().shape()));
        Path t = tmp.resolve("sc2-nobias-tied");
        writeCheckpoint(t, config(false).replace(", \"tie_word_embeddings\": false", ""), tied, DType.BF16, 2);
        int[] seq = ids(4, 27);
        try (Starcoder2 m = Starcoder2.load(cpu, t); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.tiedHead() && !m.config().useBias());
            assertTrue(maxRelErr(lg.toFloatArray(), reference(rounded, seq, Drop.NONE)) <= TOL);
        }
    }

    @Test
    void freesEverythingItAllocates() throws IOException {
        Map<String, Entry> missing = new LinkedHashMap<>(W);
        missing.remove("model.layers.1.mlp.c_proj.weight");
        Path bad = tmp.resolve("leak");
        writeCheckpoint(bad, config(true), missing, DType.F32, 1);
        dev.surpass.model.decoder.DecoderChecks.freesEverything(cpu, () -> Starcoder2.load(cpu, dir), new int[][] {ids(5, 9), ids(6, 3)},
                () -> Starcoder2.load(cpu, bad));
    }

    @Test
    void foundByItsFamilyAndConfigErrorsNamed() throws IOException {
        assertEquals("starcoder2", ModelFamilies.find(dir).family());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        // transformers 5: rope_parameters; no sliding_window: none
        String v5 = config(true).replace("\"rope_theta\": 1000.0,", "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500.0},")
                .replace(" \"sliding_window\": 7,", "");
        Starcoder2Config c = Starcoder2Config.parse(new ConfigJson(json.readTree(v5), "cfg"));
        assertEquals(500.0, c.ropeTheta());
        assertEquals(-1, c.slidingWindow());
        var e = assertThrows(IllegalArgumentException.class, () -> Starcoder2Config.parse(new ConfigJson(json.readTree(
                config(true).replace("\"rope_theta\": 1000.0,", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0},")), "cfg")));
        assertTrue(e.getMessage().contains("linear") && e.getMessage().contains("rope_scaling"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Starcoder2Config.parse(new ConfigJson(json.readTree(
                config(true).replace("\"gelu_pytorch_tanh\"", "\"relu\"")), "cfg")));
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Starcoder2Config.parse(new ConfigJson(json.readTree(
                config(true).replace("\"sliding_window\": 7", "\"sliding_window\": -3")), "cfg")));
        assertTrue(e.getMessage().contains("sliding_window"), e.getMessage());
        Map<String, Entry> noBias = new LinkedHashMap<>(W);
        noBias.remove("model.layers.1.mlp.c_fc.bias");
        Path d = tmp.resolve("sc2-missing");
        writeCheckpoint(d, config(true), noBias, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Starcoder2.load(cpu, d));
        assertTrue(e.getMessage().contains("model.layers.1.mlp.c_fc.bias"), e.getMessage());
        assertFalse(Starcoder2Config.looksLikeStarcoder2(tmp.resolve("nothing-here")));
    }

    /** bigcode/starcoder2-3b's config.json as published: 24 heads of 128, 2 kv-heads, window 4096, rope_theta 999999.4420358813. */
    @Test
    void starcoder2_3bConfigAsPublished() throws IOException {
        String sc = "{\"architectures\": [\"Starcoder2ForCausalLM\"], \"attention_dropout\": 0.1, \"residual_dropout\": 0.1,"
                + " \"embedding_dropout\": 0.1, \"bos_token_id\": 0, \"eos_token_id\": 0, \"hidden_act\": \"gelu_pytorch_tanh\","
                + " \"hidden_size\": 3072, \"initializer_range\": 0.018042, \"intermediate_size\": 12288, \"max_position_embeddings\": 16384,"
                + " \"mlp_type\": \"default\", \"model_type\": \"starcoder2\", \"norm_epsilon\": 1e-05, \"norm_type\": \"layer_norm\","
                + " \"num_attention_heads\": 24, \"num_hidden_layers\": 30, \"num_key_value_heads\": 2, \"rope_theta\": 999999.4420358813,"
                + " \"sliding_window\": 4096, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.37.0.dev0\", \"use_bias\": true,"
                + " \"use_cache\": true, \"vocab_size\": 49152}";
        Starcoder2Config c = Starcoder2Config.parse(new ConfigJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(sc), "starcoder2-3b"));
        assertEquals(128, c.headDim());
        assertEquals(4096, c.slidingWindow());
        assertEquals(2, c.nKvHead());
        assertTrue(c.geluTanh() && c.useBias() && c.tieEmbeddings());
        assertEquals(0, c.eosIds()[0]);
    }
}
