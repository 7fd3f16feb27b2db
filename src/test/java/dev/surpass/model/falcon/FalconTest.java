package dev.surpass.model.falcon;

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
 * {@code FalconForCausalLM} (rotary): a tiny random checkpoint of the new decoder architecture
 * (falcon-40b style: hidden 128, 4 q-heads of 32 in 2 K/V groups, the fused query_key_value laid out
 * per group, ln_attn + ln_mlp, biases, 2 layers, ffn 96, vocab 80, untied head) in HF naming; the
 * shared decode, batching and CUDA checks ({@link DecoderModelSuite}), and the forward against a
 * float64 reference written from HF's modeling_falcon (its _split_heads views of the fused
 * projection), where the group layout, the two norms and the erf GELU are shown to matter; then
 * falcon-7b's multi-query block with one input_layernorm, no biases and a tied head, and the
 * sequential per-head [q | k | v] variant in bf16.
 */
class FalconTest extends DecoderModelSuite<Falcon> {
    static final int E = 128, H = 4, D = 32, NL = 2, F = 96, V = 80;
    static final double TOL = 1e-4, EPS = 1e-5, THETA = 10000;

    /** The block variants: new architecture (kv groups), falcon-7b (multi-query, parallel), sequential (per-head [q|k|v]). */
    enum Arch {
        NEW(2), MULTI_QUERY(1), SEQUENTIAL(H);

        final int kv;

        Arch(int kv) {
            this.kv = kv;
        }
    }

    static final Map<String, Entry> W = weights(new Random(54), Arch.NEW, true);
    static final Map<String, Entry> WMQ = weights(new Random(52), Arch.MULTI_QUERY, false);
    static final Map<String, Entry> WSEQ = weights(new Random(53), Arch.SEQUENTIAL, true);

    static Map<String, Entry> weights(Random r, Arch arch, boolean bias) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("transformer.word_embeddings.weight", new Entry(fill(new float[V * E], r, 1.0), V, E));
        int rows = (H + 2 * arch.kv) * D;
        for (int l = 0; l < NL; l++) {
            String p = "transformer.h." + l + ".";
            String[] norms = switch (arch) {
                case NEW -> new String[] {"ln_attn", "ln_mlp"};
                case MULTI_QUERY -> new String[] {"input_layernorm"};
                case SEQUENTIAL -> new String[] {"input_layernorm", "post_attention_layernorm"};
            };
            for (String n : norms) {
                m.put(p + n + ".weight", new Entry(around1(E, r, 0.3), E));
                m.put(p + n + ".bias", new Entry(fill(new float[E], r, 0.2), E));
            }
            putLinear(m, r, p + "self_attention.query_key_value", rows, E, bias);
            putLinear(m, r, p + "self_attention.dense", E, H * D, bias);
            putLinear(m, r, p + "mlp.dense_h_to_4h", F, E, bias);
            putLinear(m, r, p + "mlp.dense_4h_to_h", E, F, bias);
        }
        m.put("transformer.ln_f.weight", new Entry(around1(E, r, 0.2), E));
        m.put("transformer.ln_f.bias", new Entry(fill(new float[E], r, 0.1), E));
        m.put("lm_head.weight", new Entry(fill(new float[V * E], r, 0.5), V, E));
        return m;
    }

    static void putLinear(Map<String, Entry> m, Random r, String name, int out, int in, boolean bias) {
        m.put(name + ".weight", new Entry(fill(new float[out * in], r, 1 / Math.sqrt(in)), out, in));
        if (bias) m.put(name + ".bias", new Entry(fill(new float[out], r, 0.3), out));
    }

    static String config(Arch arch, boolean bias, boolean tied) {
        String block = switch (arch) {
            case NEW -> "\"new_decoder_architecture\": true, \"num_kv_heads\": 2, \"parallel_attn\": true";
            case MULTI_QUERY -> "\"new_decoder_architecture\": false, \"multi_query\": true, \"parallel_attn\": true";
            case SEQUENTIAL -> "\"new_decoder_architecture\": false, \"multi_query\": false, \"parallel_attn\": false";
        };
        return "{\"architectures\": [\"FalconForCausalLM\"], \"model_type\": \"falcon\", \"hidden_size\": 128, \"num_hidden_layers\": 2,"
                + " \"num_attention_heads\": 4, " + block + ", \"ffn_hidden_size\": 96, \"vocab_size\": 80, \"max_position_embeddings\": 64,"
                + " \"rope_theta\": 10000.0, \"layer_norm_epsilon\": 1e-5, \"alibi\": false, \"bias\": " + bias + ", \"tie_word_embeddings\": " + tied
                + ", \"eos_token_id\": 11}";
    }

    FalconTest() {
        super("falcon", V, d -> writeCheckpoint(d, config(Arch.NEW, true, false), W, DType.F32, 1), Falcon::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** What the reference changes, to show each part matters. */
    enum Drop { NONE, FLAT_LAYOUT, ONE_NORM, TANH_GELU }

    /** HF's _split_heads of one fused row: q [H·D], k and v [kv·D] (the new architecture's broadcast k / v is GQA's kv-head g for group g). */
    static double[][] split(double[] row, Arch arch, boolean flat) {
        int kv = arch.kv;
        double[] q = new double[H * D], k = new double[kv * D], v = new double[kv * D];
        if (arch == Arch.MULTI_QUERY || flat) { // [all q | k heads | v heads]
            System.arraycopy(row, 0, q, 0, H * D);
            System.arraycopy(row, H * D, k, 0, kv * D);
            System.arraycopy(row, (H + kv) * D, v, 0, kv * D);
        } else if (arch == Arch.NEW) { // view(..., kv, H/kv + 2, D): per group its q heads, then k, then v
            int per = H / kv;
            for (int g = 0; g < kv; g++) {
                int base = g * (per + 2) * D;
                System.arraycopy(row, base, q, g * per * D, per * D);
                System.arraycopy(row, base + per * D, k, g * D, D);
                System.arraycopy(row, base + (per + 1) * D, v, g * D, D);
            }
        } else { // view(..., H, 3, D)
            for (int h = 0; h < H; h++) {
                System.arraycopy(row, h * 3 * D, q, h * D, D);
                System.arraycopy(row, h * 3 * D + D, k, h * D, D);
                System.arraycopy(row, h * 3 * D + 2 * D, v, h * D, D);
            }
        }
        return new double[][] {q, k, v};
    }

    /** float64 FalconForCausalLM on one sequence → logits [L][V], changed by {@code drop}. */
    static double[][] reference(Map<String, Entry> wm, int[] ids, Arch arch, Drop drop) {
        Function<String, float[]> w = k -> wm.containsKey(k) ? wm.get(k).data() : null;
        int n = ids.length, kv = arch.kv, rows = (H + 2 * kv) * D;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.apply("transformer.word_embeddings.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "transformer.h." + l + ".";
            String n1 = arch == Arch.NEW ? "ln_attn" : "input_layernorm";
            double[][] a = layerNorm(x, w.apply(p + n1 + ".weight"), w.apply(p + n1 + ".bias"), EPS);
            double[][] fused = linear(a, w.apply(p + "self_attention.query_key_value.weight"), w.apply(p + "self_attention.query_key_value.bias"), E, rows);
            double[][] q = new double[n][], k = new double[n][], v = new double[n][];
            for (int t = 0; t < n; t++) {
                double[][] s = split(fused[t], arch, drop == Drop.FLAT_LAYOUT);
                q[t] = s[0];
                k[t] = s[1];
                v[t] = s[2];
            }
            ropeHalf(q, H, D, D, THETA);
            ropeHalf(k, kv, D, D, THETA);
            double[][] attn = linear(causalAttention(q, k, v, H, kv, D), w.apply(p + "self_attention.dense.weight"),
                    w.apply(p + "self_attention.dense.bias"), H * D, E);
            double[][] m;
            if (arch == Arch.SEQUENTIAL) {
                addInPlace(x, attn);
                m = layerNorm(x, w.apply(p + "post_attention_layernorm.weight"), w.apply(p + "post_attention_layernorm.bias"), EPS);
            } else {
                m = arch == Arch.NEW && drop != Drop.ONE_NORM ? layerNorm(x, w.apply(p + "ln_mlp.weight"), w.apply(p + "ln_mlp.bias"), EPS) : a;
            }
            double[][] up = linear(m, w.apply(p + "mlp.dense_h_to_4h.weight"), w.apply(p + "mlp.dense_h_to_4h.bias"), E, F);
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = drop == Drop.TANH_GELU ? geluTanh(row[i]) : geluErf(row[i]);
            double[][] mlp = linear(up, w.apply(p + "mlp.dense_4h_to_h.weight"), w.apply(p + "mlp.dense_4h_to_h.bias"), F, E);
            if (arch != Arch.SEQUENTIAL) addInPlace(mlp, attn); // mlp_output += attention_output
            addInPlace(x, mlp);
        }
        double[][] hn = layerNorm(x, w.apply("transformer.ln_f.weight"), w.apply("transformer.ln_f.bias"), EPS);
        return linear(hn, w.apply("lm_head.weight"), null, E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(W, seq, Arch.NEW, Drop.NONE), TOL);
        FalconConfig c = model.config();
        assertTrue(c.newArchitecture() && c.twoNorms() && c.bias() && !c.geluTanh() && !model.tiedHead());
        assertEquals(2, c.nKvHead());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            for (Drop d : new Drop[] {Drop.FLAT_LAYOUT, Drop.ONE_NORM}) {
                assertTrue(maxRelErr(got, reference(W, seq, Arch.NEW, d)) > 20 * TOL, d + " matters");
            }
            assertTrue(maxRelErr(got, reference(W, seq, Arch.NEW, Drop.TANH_GELU)) > 5 * TOL, "the erf GELU matters");
        }
    }

    @Test
    void multiQueryTiedAndSequentialBf16() throws IOException {
        // falcon-7b: one K/V head, parallel block from one input_layernorm, no biases, the head tied to the embedding
        Map<String, Entry> tied = new LinkedHashMap<>(WMQ);
        tied.remove("lm_head.weight");
        Map<String, Entry> want = new LinkedHashMap<>(WMQ);
        want.put("lm_head.weight", WMQ.get("transformer.word_embeddings.weight"));
        Path t = tmp.resolve("falcon-7b-style");
        writeCheckpoint(t, config(Arch.MULTI_QUERY, false, true), tied, DType.F32, 1);
        int[] seq = ids(4, 27);
        try (Falcon m = Falcon.load(cpu, t); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.tiedHead() && m.config().multiQuery() && !m.config().twoNorms());
            assertEquals(1, m.numKvHeads());
            assertTrue(maxRelErr(lg.toFloatArray(), reference(want, seq, Arch.MULTI_QUERY, Drop.NONE)) <= TOL);
        }
        // sequential, per-head [q | k | v], bf16 weights widened on load
        Map<String, Entry> rounded = new LinkedHashMap<>();
        for (var e : WSEQ.entrySet()) rounded.put(e.getKey(), new Entry(rounded(e.getValue().data(), DType.BF16), e.getValue().shape()));
        Path s = tmp.resolve("falcon-sequential-bf16");
        writeCheckpoint(s, config(Arch.SEQUENTIAL, true, false), WSEQ, DType.BF16, 2);
        try (Falcon m = Falcon.load(cpu, s); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(!m.config().parallelAttn() && m.numKvHeads() == H);
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(rounded, seq, Arch.SEQUENTIAL, Drop.NONE)) <= TOL);
            assertTrue(maxRelErr(got, reference(rounded, seq, Arch.SEQUENTIAL, Drop.FLAT_LAYOUT)) > 20 * TOL, "the per-head layout matters");
        }
    }

    @Test
    void freesEverythingItAllocates() throws IOException {
        Map<String, Entry> missing = new LinkedHashMap<>(W);
        missing.remove("transformer.h.1.self_attention.query_key_value.bias");
        Path bad = tmp.resolve("leak");
        writeCheckpoint(bad, config(Arch.NEW, true, false), missing, DType.F32, 1);
        dev.surpass.model.decoder.DecoderChecks.freesEverything(cpu, () -> Falcon.load(cpu, dir), new int[][] {ids(5, 9), ids(6, 3)},
                () -> Falcon.load(cpu, bad));
    }

    @Test
    void foundByItsFamilyAndConfigErrorsNamed() throws IOException {
        assertEquals("falcon", ModelFamilies.find(dir).family());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var e = assertThrows(IllegalArgumentException.class, () -> FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.NEW, true, false).replace("\"alibi\": false", "\"alibi\": true")), "cfg")));
        assertTrue(e.getMessage().contains("alibi"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.NEW, true, false).replace("\"rope_theta\": 10000.0,", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0},")), "cfg")));
        assertTrue(e.getMessage().contains("rope_scaling"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.NEW, true, false).replace("\"parallel_attn\": true", "\"parallel_attn\": false")), "cfg")));
        assertTrue(e.getMessage().contains("parallel_attn"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.NEW, true, false).replace("\"num_kv_heads\": 2", "\"num_kv_heads\": 3")), "cfg")));
        assertTrue(e.getMessage().contains("num_kv_heads"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.NEW, true, false).replace("\"bias\": true", "\"bias\": true, \"activation\": \"relu\"")), "cfg")));
        assertTrue(e.getMessage().contains("activation"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.SEQUENTIAL, true, false).replace("\"bias\": true", "\"bias\": true, \"num_kv_heads\": 2")), "cfg")));
        assertTrue(e.getMessage().contains("num_kv_heads"), e.getMessage());
        // the new architecture with num_ln_in_parallel_attn 1: one input_layernorm for both
        FalconConfig one = FalconConfig.parse(new ConfigJson(json.readTree(
                config(Arch.NEW, true, false).replace("\"bias\": true", "\"bias\": true, \"num_ln_in_parallel_attn\": 1")), "cfg"));
        assertFalse(one.twoNorms());
        Map<String, Entry> missing = new LinkedHashMap<>(W);
        missing.remove("transformer.h.1.ln_mlp.bias");
        Path d = tmp.resolve("falcon-missing");
        writeCheckpoint(d, config(Arch.NEW, true, false), missing, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Falcon.load(cpu, d));
        assertTrue(e.getMessage().contains("transformer.h.1.ln_mlp.bias"), e.getMessage());
        assertFalse(FalconConfig.looksLikeFalcon(tmp.resolve("nothing-here")));
    }

    /** tiiuae/falcon-7b's and falcon-40b's config.json as published (transformers-native versions). */
    @Test
    void falcon7bAnd40bConfigsAsPublished() throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        String f7 = "{\"alibi\": false, \"apply_residual_connection_post_layernorm\": false, \"architectures\": [\"FalconForCausalLM\"],"
                + " \"attention_dropout\": 0.0, \"bias\": false, \"bos_token_id\": 11, \"eos_token_id\": 11, \"hidden_dropout\": 0.0,"
                + " \"hidden_size\": 4544, \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"falcon\","
                + " \"multi_query\": true, \"new_decoder_architecture\": false, \"num_attention_heads\": 71, \"num_hidden_layers\": 32,"
                + " \"parallel_attn\": true, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.33.0.dev0\", \"use_cache\": true,"
                + " \"vocab_size\": 65024}";
        FalconConfig c = FalconConfig.parse(new ConfigJson(json.readTree(f7), "falcon-7b"));
        assertEquals(64, c.headDim());
        assertEquals(1, c.nKvHead());
        assertEquals(4 * 4544, c.intermediate());
        assertEquals((71 + 2) * 64, c.qkvRows());
        assertTrue(c.parallelAttn() && !c.twoNorms() && !c.bias() && c.tieEmbeddings() && !c.geluTanh());
        String f40 = "{\"alibi\": false, \"architectures\": [\"FalconForCausalLM\"], \"bias\": false, \"bos_token_id\": 11, \"eos_token_id\": 11,"
                + " \"hidden_size\": 8192, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"falcon\", \"new_decoder_architecture\": true,"
                + " \"num_attention_heads\": 128, \"num_hidden_layers\": 60, \"num_kv_heads\": 8, \"parallel_attn\": true,"
                + " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 65024}";
        c = FalconConfig.parse(new ConfigJson(json.readTree(f40), "falcon-40b"));
        assertEquals(8, c.nKvHead());
        assertEquals((128 + 16) * 64, c.qkvRows());
        assertTrue(c.newArchitecture() && c.twoNorms());
    }
}
