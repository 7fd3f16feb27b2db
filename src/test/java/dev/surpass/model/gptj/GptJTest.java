package dev.surpass.model.gptj;

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
 * {@code GPTJForCausalLM}: a tiny random checkpoint (n_embd 128, 4 heads of 32, rotary_dim 12
 * interleaved, 2 layers, n_inner 96, vocab 80, gelu_new, untied head with its bias) in HF naming; the
 * shared decode, batching and CUDA checks ({@link DecoderModelSuite}), and the forward against a
 * float64 reference written from HF's modeling_gptj with its own interleaved rotation
 * (rotate_every_two, sin / cos repeat_interleave'd), where the interleaving, the partial rotary, the
 * parallel block and the head bias are shown to matter.
 */
class GptJTest extends DecoderModelSuite<GptJ> {
    static final int E = 128, H = 4, D = 32, NL = 2, F = 96, V = 80, ROT = 12;
    static final double TOL = 1e-4, EPS = 1e-5;
    static final Map<String, Entry> W = weights(new Random(64));

    static Map<String, Entry> weights(Random r) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("transformer.wte.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        for (int l = 0; l < NL; l++) {
            String p = "transformer.h." + l + ".";
            m.put(p + "ln_1.weight", new Entry(around1(E, r, 0.2), E));
            m.put(p + "ln_1.bias", new Entry(fill(new float[E], r, 0.1), E));
            for (String n : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                m.put(p + "attn." + n + ".weight", new Entry(fill(new float[E * E], r, (n.equals("q_proj") ? 2 : 1) / Math.sqrt(E)), E, E));
            }
            m.put(p + "mlp.fc_in.weight", new Entry(fill(new float[F * E], r, 1 / Math.sqrt(E)), F, E));
            m.put(p + "mlp.fc_in.bias", new Entry(fill(new float[F], r, 0.1), F));
            m.put(p + "mlp.fc_out.weight", new Entry(fill(new float[E * F], r, 1 / Math.sqrt(F)), E, F));
            m.put(p + "mlp.fc_out.bias", new Entry(fill(new float[E], r, 0.1), E));
        }
        m.put("transformer.ln_f.weight", new Entry(around1(E, r, 0.2), E));
        m.put("transformer.ln_f.bias", new Entry(fill(new float[E], r, 0.1), E));
        m.put("lm_head.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        m.put("lm_head.bias", new Entry(fill(new float[V], r, 0.5), V));
        return m;
    }

    static String config() {
        return "{\"architectures\": [\"GPTJForCausalLM\"], \"model_type\": \"gptj\", \"n_embd\": 128, \"n_layer\": 2, \"n_head\": 4,"
                + " \"n_inner\": 96, \"vocab_size\": 80, \"n_positions\": 64, \"rotary_dim\": 12, \"layer_norm_epsilon\": 1e-5,"
                + " \"activation_function\": \"gelu_new\", \"tie_word_embeddings\": false, \"eos_token_id\": 0}";
    }

    GptJTest() {
        super("gptj", V, d -> writeCheckpoint(d, config(), W, DType.F32, 1), GptJ::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** What the reference leaves out or changes, to show each part matters. */
    enum Drop { NONE, ROTATE_HALF, FULL_ROTARY, SEQUENTIAL, HEAD_BIAS }

    /**
     * HF's apply_rotary_pos_emb of GPT-J on the first {@code rot} dims of each head, row t at position
     * t: pair (2i, 2i+1) turns by t · 10000^(−2i/rot): (x₂ᵢ cos − x₂ᵢ₊₁ sin, x₂ᵢ₊₁ cos + x₂ᵢ sin).
     */
    static void ropeInterleaved(double[][] x, int rot) {
        for (int t = 0; t < x.length; t++) {
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < rot / 2; i++) {
                    double ang = t * Math.pow(10000, -2.0 * i / rot);
                    int a = h * D + 2 * i;
                    double x0 = x[t][a], x1 = x[t][a + 1];
                    x[t][a] = x0 * Math.cos(ang) - x1 * Math.sin(ang);
                    x[t][a + 1] = x1 * Math.cos(ang) + x0 * Math.sin(ang);
                }
            }
        }
    }

    /** float64 GPTJForCausalLM on one sequence → logits [L][V], changed by {@code drop}. */
    static double[][] reference(Map<String, Entry> wm, int[] ids, Drop drop) {
        Function<String, float[]> w = k -> wm.get(k).data();
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.apply("transformer.wte.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "transformer.h." + l + ".";
            double[][] a = layerNorm(x, w.apply(p + "ln_1.weight"), w.apply(p + "ln_1.bias"), EPS);
            double[][] q = linear(a, w.apply(p + "attn.q_proj.weight"), null, E, E);
            double[][] k = linear(a, w.apply(p + "attn.k_proj.weight"), null, E, E);
            double[][] v = linear(a, w.apply(p + "attn.v_proj.weight"), null, E, E);
            if (drop == Drop.ROTATE_HALF) {
                ropeHalf(q, H, D, ROT, 10000);
                ropeHalf(k, H, D, ROT, 10000);
            } else {
                ropeInterleaved(q, drop == Drop.FULL_ROTARY ? D : ROT);
                ropeInterleaved(k, drop == Drop.FULL_ROTARY ? D : ROT);
            }
            double[][] attn = linear(causalAttention(q, k, v, H, H, D), w.apply(p + "attn.out_proj.weight"), null, E, E);
            if (drop == Drop.SEQUENTIAL) { // the MLP on the updated stream instead
                addInPlace(x, attn);
                a = layerNorm(x, w.apply(p + "ln_1.weight"), w.apply(p + "ln_1.bias"), EPS);
            }
            double[][] up = linear(a, w.apply(p + "mlp.fc_in.weight"), w.apply(p + "mlp.fc_in.bias"), E, F);
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = geluTanh(row[i]);
            double[][] mlp = linear(up, w.apply(p + "mlp.fc_out.weight"), w.apply(p + "mlp.fc_out.bias"), F, E);
            if (drop != Drop.SEQUENTIAL) addInPlace(mlp, attn);
            addInPlace(x, mlp);
        }
        double[][] hn = layerNorm(x, w.apply("transformer.ln_f.weight"), w.apply("transformer.ln_f.bias"), EPS);
        return linear(hn, w.apply("lm_head.weight"), drop == Drop.HEAD_BIAS ? null : w.apply("lm_head.bias"), E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(W, seq, Drop.NONE), TOL);
        GptJConfig c = model.config();
        assertEquals(ROT, c.rotaryDim());
        assertEquals(F, c.intermediate());
        assertTrue(c.geluTanh() && !model.tiedHead());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            for (Drop d : new Drop[] {Drop.ROTATE_HALF, Drop.FULL_ROTARY, Drop.SEQUENTIAL, Drop.HEAD_BIAS}) {
                assertTrue(maxRelErr(got, reference(W, seq, d)) > 20 * TOL, d + " matters");
            }
        }
    }

    @Test
    void tiedHeadKeepsItsBiasAndBf16() throws IOException {
        Map<String, Entry> tied = new LinkedHashMap<>(W);
        tied.remove("lm_head.weight");
        Map<String, Entry> rounded = new LinkedHashMap<>();
        for (var e : W.entrySet()) rounded.put(e.getKey(), new Entry(rounded(e.getValue().data(), DType.BF16), e.getValue().shape()));
        rounded.put("lm_head.weight", rounded.get("transformer.wte.weight"));
        Path t = tmp.resolve("gptj-tied-bf16");
        writeCheckpoint(t, config().replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"), tied, DType.BF16, 2);
        int[] seq = ids(4, 27);
        try (GptJ m = GptJ.load(cpu, t); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.tiedHead());
            assertTrue(maxRelErr(lg.toFloatArray(), reference(rounded, seq, Drop.NONE)) <= TOL);
        }
    }

    @Test
    void freesEverythingItAllocates() throws IOException {
        Map<String, Entry> missing = new LinkedHashMap<>(W);
        missing.remove("transformer.h.1.attn.k_proj.weight");
        Path bad = tmp.resolve("leak");
        writeCheckpoint(bad, config(), missing, DType.F32, 1);
        dev.surpass.model.decoder.DecoderChecks.freesEverything(cpu, () -> GptJ.load(cpu, dir), new int[][] {ids(5, 9), ids(6, 3)},
                () -> GptJ.load(cpu, bad));
    }

    @Test
    void foundByItsFamilyAndConfigErrorsNamed() throws IOException {
        assertEquals("gptj", ModelFamilies.find(dir).family());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        // n_inner null: 4 · n_embd
        assertEquals(4 * E, GptJConfig.parse(new ConfigJson(json.readTree(config().replace("\"n_inner\": 96", "\"n_inner\": null")), "cfg"))
                .intermediate());
        var e = assertThrows(IllegalArgumentException.class, () -> GptJConfig.parse(new ConfigJson(json.readTree(
                config().replace("\"rotary_dim\": 12", "\"rotary_dim\": null")), "cfg")));
        assertTrue(e.getMessage().contains("rotary_dim"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GptJConfig.parse(new ConfigJson(json.readTree(
                config().replace("\"rotary_dim\": 12", "\"rotary_dim\": 13")), "cfg")));
        assertTrue(e.getMessage().contains("rotary_dim"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GptJConfig.parse(new ConfigJson(json.readTree(
                config().replace("\"gelu_new\"", "\"relu\"")), "cfg")));
        assertTrue(e.getMessage().contains("activation_function"), e.getMessage());
        Map<String, Entry> noBias = new LinkedHashMap<>(W);
        noBias.remove("lm_head.bias");
        Path d = tmp.resolve("gptj-nobias");
        writeCheckpoint(d, config(), noBias, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> GptJ.load(cpu, d));
        assertTrue(e.getMessage().contains("lm_head.bias"), e.getMessage());
        assertFalse(GptJConfig.looksLikeGptJ(tmp.resolve("nothing-here")));
    }

    /** EleutherAI/gpt-j-6b's config.json as published: 16 heads of 256, rotary_dim 64. */
    @Test
    void gptj6bConfigAsPublished() throws IOException {
        String s = "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPTJForCausalLM\"], \"attn_pdrop\": 0.0, \"bos_token_id\": 50256,"
                + " \"embd_pdrop\": 0.0, \"eos_token_id\": 50256, \"gradient_checkpointing\": false, \"initializer_range\": 0.02,"
                + " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gptj\", \"n_embd\": 4096, \"n_head\": 16, \"n_inner\": null, \"n_layer\": 28,"
                + " \"n_positions\": 2048, \"resid_pdrop\": 0.0, \"rotary\": true, \"rotary_dim\": 64, \"scale_attn_weights\": true,"
                + " \"summary_activation\": null, \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\": true, \"summary_type\": \"cls_index\","
                + " \"summary_use_proj\": true, \"tie_word_embeddings\": false, \"tokenizer_class\": \"GPT2Tokenizer\", \"use_cache\": true,"
                + " \"vocab_size\": 50400}";
        GptJConfig c = GptJConfig.parse(new ConfigJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(s), "gpt-j-6b"));
        assertEquals(256, c.headDim());
        assertEquals(64, c.rotaryDim());
        assertEquals(16384, c.intermediate());
        assertEquals(2048, c.maxPositions());
        assertTrue(c.geluTanh() && !c.tieEmbeddings());
    }
}
