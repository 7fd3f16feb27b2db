package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A tiny random Llama (2 layers, hidden 128, 4 q-heads / 2 kv-heads of 32, intermediate 96, vocab
 * 80, rope_theta 10000) in HF naming, untied fp32 and, with llama3 rope scaling, tied / sharded /
 * bf16, against a float64 straight-line reference of LlamaForCausalLM (rotate-half RoPE, SwiGLU,
 * GQA); KV-cached decoding, batching and continuous batching against the full forward.
 */
class LlamaTest extends DecoderModelSuite<Llama> {
    static final int E = 128, NL = 2, HQ = 4, HKV = 2, D = 32, F = 96, V = 80, MAXPOS = 64;
    static final double EPS = 1e-6;

    static String config(String ropeScaling, boolean tie) {
        return "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 128, \"intermediate_size\": 96,"
                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32,"
                + " \"vocab_size\": 80, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, \"max_position_embeddings\": 64,"
                + " \"hidden_act\": \"silu\", \"tie_word_embeddings\": " + tie + ", \"eos_token_id\": [2, 79],"
                + " \"rope_scaling\": " + ropeScaling + "}";
    }

    static final String LLAMA3 = "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
            + " \"original_max_position_embeddings\": 16}";

    static final Map<String, float[]> w = weights(new Random(777L));

    LlamaTest() {
        super("llama", V, d -> writeCheckpoint(d, config("null", false), entries(w, true), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static Map<String, float[]> weights(Random r) {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", fill(new float[V * E], r, 1.0));
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", around1(E, r, 0.2));
            m.put(p + "self_attn.q_proj.weight", fill(new float[HQ * D * E], r, 1 / Math.sqrt(E)));
            m.put(p + "self_attn.k_proj.weight", fill(new float[HKV * D * E], r, 1 / Math.sqrt(E)));
            m.put(p + "self_attn.v_proj.weight", fill(new float[HKV * D * E], r, 1 / Math.sqrt(E)));
            m.put(p + "self_attn.o_proj.weight", fill(new float[E * HQ * D], r, 1 / Math.sqrt(HQ * D)));
            m.put(p + "post_attention_layernorm.weight", around1(E, r, 0.2));
            m.put(p + "mlp.gate_proj.weight", fill(new float[F * E], r, 1 / Math.sqrt(E)));
            m.put(p + "mlp.up_proj.weight", fill(new float[F * E], r, 1 / Math.sqrt(E)));
            m.put(p + "mlp.down_proj.weight", fill(new float[E * F], r, 1 / Math.sqrt(F)));
        }
        m.put("model.norm.weight", around1(E, r, 0.2));
        m.put("lm_head.weight", fill(new float[V * E], r, 0.5));
        return m;
    }

    static Map<String, Entry> entries(Map<String, float[]> w, boolean withHead) {
        Map<String, Entry> e = new LinkedHashMap<>();
        for (var x : w.entrySet()) {
            String k = x.getKey();
            long[] shape;
            if (k.endsWith("embed_tokens.weight") || k.equals("lm_head.weight")) shape = new long[] {V, E};
            else if (k.endsWith("q_proj.weight")) shape = new long[] {HQ * D, E};
            else if (k.endsWith("k_proj.weight") || k.endsWith("v_proj.weight")) shape = new long[] {HKV * D, E};
            else if (k.endsWith("o_proj.weight")) shape = new long[] {E, HQ * D};
            else if (k.endsWith("gate_proj.weight") || k.endsWith("up_proj.weight")) shape = new long[] {F, E};
            else if (k.endsWith("down_proj.weight")) shape = new long[] {E, F};
            else if (k.endsWith("q_proj.bias")) shape = new long[] {HQ * D};
            else if (k.endsWith("k_proj.bias") || k.endsWith("v_proj.bias")) shape = new long[] {HKV * D};
            else if (k.endsWith("gate_proj.bias") || k.endsWith("up_proj.bias")) shape = new long[] {F};
            else if (k.endsWith("q_norm.weight") || k.endsWith("k_norm.weight")) shape = new long[] {D};
            else shape = new long[] {E};
            if (!withHead && k.equals("lm_head.weight")) continue;
            e.put(k, new Entry(x.getValue(), shape));
        }
        return e;
    }

    /** Random q/k/v_proj biases of layer {@code l} into {@code m} (drawn from {@code r} in that order). */
    static void putQkvBiases(Map<String, float[]> m, int l, Random r, double scale) {
        String p = "model.layers." + l + ".self_attn.";
        m.put(p + "q_proj.bias", fill(new float[HQ * D], r, scale));
        m.put(p + "k_proj.bias", fill(new float[HKV * D], r, scale));
        m.put(p + "v_proj.bias", fill(new float[HKV * D], r, scale));
    }

    /** Inverse frequencies written from HF's formulas (default, or llama3 with the test's parameters). */
    static double[] invFreq(boolean llama3) {
        double[] f = new double[D / 2];
        for (int i = 0; i < D / 2; i++) {
            f[i] = Math.pow(10000.0, -2.0 * i / D);
            if (llama3) {
                double factor = 8, lo = 1, hi = 4, old = 16, wavelen = 2 * Math.PI / f[i];
                if (wavelen < old / hi) continue;
                if (wavelen > old / lo) {
                    f[i] /= factor;
                } else {
                    double s = (old / wavelen - lo) / (hi - lo);
                    f[i] = (1 - s) * f[i] / factor + s * f[i];
                }
            }
        }
        return f;
    }

    /** rotate-half RoPE on each head of rows [T][H·D]. */
    static void rope(double[][] x, int heads, double[] inv) {
        rope(x, heads, inv, 1);
    }

    /**
     * rotate-half RoPE over the first {@code 2·inv.length} dims of each head (the rest pass
     * through, as Phi-3's partial rotary), cos and sin multiplied by {@code scale} (LongRoPE's / yarn's attention factor).
     */
    static void rope(double[][] x, int heads, double[] inv, double scale) {
        int h2 = inv.length, r = 2 * h2;
        for (int t = 0; t < x.length; t++) {
            for (int h = 0; h < heads; h++) {
                double[] y = new double[r];
                for (int j = 0; j < r; j++) {
                    double ang = t * inv[j % h2];
                    double rot = j < h2 ? -x[t][h * D + j + h2] : x[t][h * D + j - h2];
                    y[j] = scale * (x[t][h * D + j] * Math.cos(ang) + rot * Math.sin(ang));
                }
                System.arraycopy(y, 0, x[t], h * D, r);
            }
        }
    }

    /** RMSNorm (eps {@code EPS}) over each head's D values of rows [T][H·D], in place. */
    static void headNorm(double[][] x, int heads, float[] weight) {
        for (double[] row : x) {
            for (int h = 0; h < heads; h++) {
                double ss = 0;
                for (int j = 0; j < D; j++) ss += row[h * D + j] * row[h * D + j];
                double inv = 1 / Math.sqrt(ss / D + EPS);
                for (int j = 0; j < D; j++) row[h * D + j] *= inv * weight[j];
            }
        }
    }

    /** float64 LlamaForCausalLM on one sequence → logits [L][V]. */
    static double[][] reference(Map<String, float[]> w, int[] ids, boolean llama3, boolean tied) {
        return reference(w, ids, invFreq(llama3), tied, new int[] {-1, -1});
    }

    /** The same with given inverse frequencies and a sliding window per layer (-1: none); absent biases are zero. */
    static double[][] reference(Map<String, float[]> w, int[] ids, double[] inv, boolean tied, int[] windows) {
        return reference(w, ids, inv, 1, tied, windows);
    }

    /** A layer's MLP in the reference: the weights, the layer's prefix "model.layers.i." and the normalised rows → its output. */
    interface Mlp {
        double[][] apply(Map<String, float[]> w, String layer, double[][] m);
    }

    /** The dense SwiGLU MLP {@code down(silu(gate(m)) · up(m))} of layer prefix {@code p} (absent biases zero). */
    static double[][] swiGlu(Map<String, float[]> w, String p, double[][] m) {
        double[][] g = linear(m, w.get(p + "mlp.gate_proj.weight"), w.get(p + "mlp.gate_proj.bias"), E, F);
        double[][] u = linear(m, w.get(p + "mlp.up_proj.weight"), w.get(p + "mlp.up_proj.bias"), E, F);
        for (int t = 0; t < m.length; t++) for (int i = 0; i < F; i++) g[t][i] = silu(g[t][i]) * u[t][i];
        return linear(g, w.get(p + "mlp.down_proj.weight"), w.get(p + "mlp.down_proj.bias"), F, E);
    }

    /** The same with each layer's MLP given (mixture-of-experts families). */
    static double[][] reference(Map<String, float[]> w, int[] ids, double[] inv, boolean tied, int[] windows, Mlp mlp) {
        return reference(w, ids, inv, 1, tied, windows, mlp);
    }

    /** The same with RoPE over the first 2·inv.length dims and cos/sin scaled by {@code ropeScale}. */
    static double[][] reference(Map<String, float[]> w, int[] ids, double[] inv, double ropeScale, boolean tied, int[] windows) {
        return reference(w, ids, inv, ropeScale, tied, windows, LlamaTest::swiGlu);
    }

    /** The same with the RoPE scale and each layer's MLP given. */
    static double[][] reference(Map<String, float[]> w, int[] ids, double[] inv, double ropeScale, boolean tied, int[] windows, Mlp mlp) {
        return linear(hidden(w, ids, inv, ropeScale, windows, mlp), w.get(tied ? "model.embed_tokens.weight" : "lm_head.weight"), null, E, V);
    }

    /** float64 final hidden states [L][E] (after the final norm, before the head) of one sequence. */
    static double[][] hidden(Map<String, float[]> w, int[] ids, double[] inv, double ropeScale, int[] windows, Mlp mlp) {
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = w.get("model.embed_tokens.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            double[][] a = rmsNorm(x, w.get(p + "input_layernorm.weight"), EPS);
            double[][] q = linear(a, w.get(p + "self_attn.q_proj.weight"), w.get(p + "self_attn.q_proj.bias"), E, HQ * D);
            double[][] k = linear(a, w.get(p + "self_attn.k_proj.weight"), w.get(p + "self_attn.k_proj.bias"), E, HKV * D);
            double[][] v = linear(a, w.get(p + "self_attn.v_proj.weight"), w.get(p + "self_attn.v_proj.bias"), E, HKV * D);
            float[] qn = w.get(p + "self_attn.q_norm.weight");
            if (qn != null && qn.length == D) { // Qwen3: RMSNorm over each head, before RoPE
                headNorm(q, HQ, qn);
                headNorm(k, HKV, w.get(p + "self_attn.k_norm.weight"));
            } else if (qn != null) { // OLMoE: over the whole projections
                q = rmsNorm(q, qn, EPS);
                k = rmsNorm(k, w.get(p + "self_attn.k_norm.weight"), EPS);
            }
            rope(q, HQ, inv, ropeScale);
            rope(k, HKV, inv, ropeScale);
            double[][] o = causalAttention(q, k, v, HQ, HKV, D, windows[l]);
            addInPlace(x, linear(o, w.get(p + "self_attn.o_proj.weight"), w.get(p + "self_attn.o_proj.bias"), HQ * D, E));
            double[][] m = rmsNorm(x, w.get(p + "post_attention_layernorm.weight"), EPS);
            addInPlace(x, mlp.apply(w, p, m));
        }
        return rmsNorm(x, w.get("model.norm.weight"), EPS);
    }

    // fp32 forward vs float64 over 2 layers (RoPE tables rounded to fp32 as in HF): measured ≤ 1.2e-5
    // of (1 + |ref|) (llama3, bf16 weights, 40 positions);
    // 1e-4 leaves margin while a wrong RoPE pairing or GQA mapping moves logits by ~1e-1.
    static final double TOL = 1e-4;

    @Test
    void forwardMatchesFloat64Reference() {
        // positions up to 29: angles well past 2π for the fast frequencies
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(w, seq, false, false), TOL);
    }

    /**
     * Dynamic NTK: a forward within max_position_embeddings (64) uses the default frequencies; one of
     * L > 64 tokens the base 10000·(2L/64 − 1)^(32/30) (factor 2), and the context runs to 128.
     */
    @Test
    void dynamicNtkPastMaxPositionsMatchesReference() throws IOException {
        Path d = tmp.resolve("llama-dynamic");
        writeCheckpoint(d, config("{\"type\": \"dynamic\", \"factor\": 2.0}", false), entries(w, true), DType.F32, 1);
        try (Llama m = Llama.load(cpu, d)) {
            assertEquals(128, m.maxPositions());
            for (int n : new int[] {64, 100}) {
                int[] seq = ids(50 + n, n);
                double base = n <= 64 ? 10000 : 10000 * Math.pow(2.0 * n / 64 - 1, 32.0 / 30);
                double[] inv = new double[D / 2];
                for (int i = 0; i < inv.length; i++) inv[i] = Math.pow(base, -2.0 * i / D);
                try (Tensor lg = Decoding.forward(m, new int[][] {seq})) {
                    float[] got = lg.toFloatArray();
                    assertTrue(maxRelErr(got, reference(w, seq, inv, false, new int[] {-1, -1})) <= TOL, n + " tokens");
                    if (n > 64) assertTrue(maxRelErr(got, reference(w, seq, invFreq(false), false, new int[] {-1, -1})) > 100 * TOL, "the base grows");
                }
            }
        }
    }

    @Test
    void llama3ScalingTiedShardedBf16MatchesReference() throws IOException {
        Map<String, float[]> r = rounded(w, DType.BF16);
        Path d = tmp.resolve("llama3-sharded-bf16");
        writeCheckpoint(d, config(LLAMA3, true), entries(w, false), DType.BF16, 3);
        assertTrue(Files.exists(d.resolve("model.safetensors.index.json")));
        int[] seq = ids(3, 40);
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertTrue(m.tiedHead());
            assertEquals("llama3", m.config().ropeType());
            double err = maxRelErr(lg.toFloatArray(), reference(r, seq, true, true));
            assertTrue(err <= TOL, "llama3/bf16/sharded: max rel err " + err);
            // and the scaling matters: the unscaled reference is far off
            assertTrue(maxRelErr(lg.toFloatArray(), reference(r, seq, false, true)) > 100 * TOL, "llama3 scaling changes the logits");
        }
    }

    @Test
    void sixteenBitWeightsKeptOnTheCpuMatchTheWidenedModel() throws IOException {
        Map<String, float[]> r = rounded(w, DType.BF16);
        for (boolean tied : new boolean[] {false, true}) {
            Path d = tmp.resolve("llama-bf16-kept-" + tied);
            writeCheckpoint(d, config("null", tied), entries(w, !tied), DType.BF16, 1);
            int[] seq = ids(5, 20);
            float[] widened;
            long base = cpu.liveBytes(), widenedBytes;
            try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
                widenedBytes = cpu.liveBytes() - base;
                widened = lg.toFloatArray();
            }
            String old = System.setProperty("surpass.cpu.weights16", "true");
            try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
                // the projections, the embedding and an untied lm_head (all but the norms and RoPE's tables) at half size
                long halved = (long) NL * (HQ * D * E + 2 * HKV * D * E + E * HQ * D + 3 * F * E) + (tied ? 1L : 2L) * V * E;
                assertEquals(widenedBytes - 2 * halved, cpu.liveBytes() - base, "tied " + tied);
                float[] kept = lg.toFloatArray();
                // a prompt of 20 rows widens each weight per call: the same sums
                assertArrayEquals(widened, kept, "tied " + tied);
                assertTrue(maxRelErr(kept, reference(r, seq, false, tied)) <= TOL);
                // one row at a time reads the BF16 weights as they lie (another summation order)
                dev.surpass.model.decoder.DecoderChecks.incrementalEqualsFull(m, seq, 4, 1e-4);
            } finally {
                if (old == null) System.clearProperty("surpass.cpu.weights16");
                else System.setProperty("surpass.cpu.weights16", old);
            }
        }
    }

    /** A SentencePiece-style (Llama 2) tokenizer.json over the model's 80 ids: specials, ▁, a-z, ▁a-▁z, fillers. */
    static String sentencePieceTokenizerJson() throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var root = json.createObjectNode();
        var added = root.putArray("added_tokens");
        String[] sp = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++) added.addObject().put("id", i).put("content", sp[i]).put("normalized", false).put("special", true);
        var ns = root.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "\u2581");
        ns.addObject().put("type", "Replace").put("content", "\u2581").putObject("pattern").put("String", " ");
        root.putNull("pre_tokenizer");
        var pp = root.putObject("post_processor").put("type", "TemplateProcessing");
        pp.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        ((com.fasterxml.jackson.databind.node.ArrayNode) pp.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pp.putObject("special_tokens").putObject("<s>").put("id", "<s>").putArray("ids").add(1);
        var ds = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
        ds.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("String", "\u2581");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        var model = root.putObject("model").put("type", "BPE").put("unk_token", "<unk>").put("fuse_unk", true).put("byte_fallback", false);
        var vocab = model.putObject("vocab");
        var merges = model.putArray("merges");
        for (int i = 0; i < 3; i++) vocab.put(sp[i], i);
        vocab.put("\u2581", 3);
        for (int c = 0; c < 26; c++) {
            String ch = String.valueOf((char) ('a' + c));
            vocab.put(ch, 4 + c);
            vocab.put("\u2581" + ch, 30 + c);
            merges.add("\u2581 " + ch);
        }
        for (int id = 56; id < V; id++) vocab.put("<x" + id + ">", id);
        return json.writeValueAsString(root);
    }

    @Test
    void generateStreamsSentencePieceTextInContext() throws IOException {
        Path d = tmp.resolve("llama-sp-tokenizer");
        writeCheckpoint(d, config("null", false), entries(w, true), DType.F32, 1);
        Files.writeString(d.resolve("tokenizer.json"), sentencePieceTokenizerJson());
        dev.surpass.text.Tokenizer tok = dev.surpass.text.Tokenizer.load(d.resolve("tokenizer.json"));
        int[] ids = tok.encode("hello world");
        assertArrayEquals(new int[] {1, 30 + 'h' - 'a', 4 + 'e' - 'a', 4 + 'l' - 'a', 4 + 'l' - 'a', 4 + 'o' - 'a', 30 + 'w' - 'a',
                4 + 'o' - 'a', 4 + 'r' - 'a', 4 + 'l' - 'a', 4 + 'd' - 'a'}, ids);
        try (Llama m = Llama.load(cpu, d)) {
            // prompts until one whose first new token starts with ▁ (a space), the case that streaming
            // the new tokens apart from the prompt would get wrong
            boolean spaced = false;
            for (String prompt : new String[] {"hello world", "a", "b c", "the cat", "zz", "on a hill", "q", "we go"}) {
                int[] p = tok.encode(prompt);
                int[] gen = Decoding.generate(m, new int[][] {p}, 10, dev.surpass.model.mamba.Sampling.greedy(), 1.0, new int[] {2, 79}, null)[0];
                var so = new java.io.StringWriter();
                var se = new java.io.StringWriter();
                int code = dev.surpass.cli.Main.run(new java.io.PrintWriter(so, true), new java.io.PrintWriter(se, true),
                        "generate", "--model", d.toString(), "--prompt", prompt, "--max-new-tokens", "10", "--device", "cpu");
                assertEquals(0, code, so + "" + se);
                int[] all = Arrays.copyOf(p, p.length + gen.length);
                System.arraycopy(gen, 0, all, p.length, gen.length);
                // the streamed text is the whole sequence decoded at once
                assertEquals(tok.decode(all) + System.lineSeparator(), so.toString(), prompt);
                spaced |= gen.length > 0 && tok.idToToken(gen[0]).startsWith("\u2581");
            }
            assertTrue(spaced, "no prompt's first new token starts with a space");
        }
    }

    @Test
    void linearRopeScalingDividesTheFrequencies() throws IOException {
        LlamaConfig c = LlamaConfig.parse(new dev.surpass.model.decoder.ConfigJson(
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(config("{\"type\": \"linear\", \"factor\": 4.0}", false)), "cfg"));
        double[] plain = invFreq(false);
        for (int i = 0; i < plain.length; i++) assertEquals(plain[i] / 4, c.invFreq()[i], 2e-7 * plain[i]); // fp32, as HF
        // longrope needs its factor lists, named when absent
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.parse(new dev.surpass.model.decoder.ConfigJson(
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(config("{\"rope_type\": \"longrope\", \"factor\": 4.0}", false)), "cfg")));
        assertTrue(e.getMessage().contains("rope_scaling.short_factor"), e.getMessage());
    }

    @Test
    void badCheckpointsNameTheTensorOrField() throws IOException {
        Path d = tmp.resolve("llama-nohead");
        writeCheckpoint(d, config("null", false), entries(w, false), DType.F32, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d));
        assertTrue(e.getMessage().contains("lm_head.weight"), e.getMessage());

        Path d2 = tmp.resolve("llama-badshard");
        writeCheckpoint(d2, config("null", false), entries(w, true), DType.F32, 2);
        String idx = Files.readString(d2.resolve("model.safetensors.index.json"));
        Files.writeString(d2.resolve("model.safetensors.index.json"), idx.replace("\"model.norm.weight\": \"model-00001-of-00002", "\"model.norm.weight\": \"model-00002-of-00002")
                .replace("\"model.norm.weight\": \"model-00002-of-00002.safetensors\"", "\"model.norm.weight\": \"model-00001-of-00002.safetensors\""));
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d2));
        assertTrue(e.getMessage().contains("model.norm.weight"), e.getMessage());

        Path d3 = tmp.resolve("llama-config");
        writeCheckpoint(d3, config("null", false).replace("\"intermediate_size\": 96,", ""), entries(w, true), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d3));
        assertTrue(e.getMessage().contains("intermediate_size"), e.getMessage());

        Path d4 = tmp.resolve("llama-headdim");
        writeCheckpoint(d4, config("null", false).replace("\"head_dim\": 32", "\"head_dim\": 48"), entries(w, true), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d4));
        assertTrue(e.getMessage().contains("head_dim") && e.getMessage().contains("48"), e.getMessage());
    }

    @Test
    void registeredForForwardAndGenerate() {
        assertTrue(ModelFamilies.find(dir) instanceof LlamaFamily);
        assertTrue(ModelFamilies.findGenerator(dir) instanceof LlamaFamily);
        assertFalse(ModelFamilies.find(dir) instanceof dev.surpass.model.gpt2.Gpt2Family);
        try (var g = new LlamaFamily().open(cpu, dir)) {
            assertArrayEquals(new int[] {2, 79}, g.defaultStopIds());
            assertTrue(g.describe().startsWith("llama: 2 layers"), g.describe());
        }
    }

    @Test
    void attentionAndMlpBiasesAreLoadedAndAdded() throws IOException {
        Map<String, float[]> wb = new LinkedHashMap<>(w);
        Random r = new Random(31);
        for (int l = 0; l < NL; l++) {
            putQkvBiases(wb, l, r, 0.2);
            wb.put("model.layers." + l + ".self_attn.o_proj.bias", fill(new float[E], r, 0.2));
            String m = "model.layers." + l + ".mlp.";
            wb.put(m + "gate_proj.bias", fill(new float[F], r, 0.2));
            wb.put(m + "up_proj.bias", fill(new float[F], r, 0.2));
            wb.put(m + "down_proj.bias", fill(new float[E], r, 0.2));
        }
        Path d = tmp.resolve("llama-bias");
        writeCheckpoint(d, config("null", false).replace("\"hidden_act\"", "\"attention_bias\": true, \"mlp_bias\": true, \"hidden_act\""), entries(wb, true), DType.F32, 1);
        int[] seq = ids(41, 10);
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            double err = maxRelErr(lg.toFloatArray(), reference(wb, seq, false, false));
            assertTrue(err <= TOL, "with biases: max rel err " + err);
            assertTrue(maxRelErr(lg.toFloatArray(), reference(w, seq, false, false)) > 100 * TOL, "the biases matter");
        }
    }
}
