package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Phi-4-mini's RoPE through {@link Llama}: a {@code Phi3ForCausalLM} (LlamaTest's weights fused as
 * Phi-3 stores them) with {@code partial_rotary_factor} 0.5 — RoPE on the first 16 of each head's 32
 * dims, HF's {@code q_rot / q_pass} split — and LongRoPE: {@code original_max_position_embeddings}
 * 40 of 64, so a forward over up to 40 tokens takes the short factors and a longer one the long
 * factors, cos and sin scaled by √(1 + ln(64/40) / ln 40) on both sides. The shared decode and
 * batching checks stay within 40 tokens (their raw decode compares against one forward over the
 * whole sequence, which past 40 takes the long factors everywhere); the forward is checked against
 * LlamaTest's float64 reference on both sides, and generation across the threshold against HF's
 * Phi-3 generate (its cache recomputed on the crossing step).
 */
class Phi3LongRopeTest extends DecoderModelSuite<Llama> {
    static final double[] SHORT = {1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0};
    static final double[] LONG = {1.0, 1.3, 1.9, 2.8, 4.5, 7.0, 11.0, 16.0};
    static final int ORIGINAL = 40;

    static String list(double[] v) {
        return java.util.Arrays.toString(v);
    }

    /** Phi-4-mini's form of config (transformers 4): top-level partial_rotary_factor and original_max_position_embeddings. */
    static String config() {
        return LlamaTest.config("null", false).replace("LlamaForCausalLM", "Phi3ForCausalLM").replace("\"llama\"", "\"phi3\"")
                .replace("\"rope_scaling\": null", "\"partial_rotary_factor\": 0.5, \"original_max_position_embeddings\": " + ORIGINAL
                        + ", \"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": " + list(SHORT) + ", \"long_factor\": " + list(LONG) + "}");
    }

    /** LongRoPE's frequencies over the 16 rotary dims, in float64: 1 / (ext_i · 10000^(2i/16)). */
    static double[] inv(double[] ext) {
        double[] f = new double[ext.length];
        for (int i = 0; i < f.length; i++) f[i] = 1 / (ext[i] * Math.pow(10000.0, 2.0 * i / (2 * ext.length)));
        return f;
    }

    static final double ATT = Math.sqrt(1 + Math.log(64.0 / ORIGINAL) / Math.log(ORIGINAL));

    Phi3LongRopeTest() {
        super("phi3-longrope", V, d -> writeCheckpoint(d, config(), Phi3Test.fused(), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static final int[] NO_WINDOW = {-1, -1};

    @Test
    void forwardMatchesFloat64ReferenceOnBothSidesOfTheThreshold() {
        LlamaConfig c = model.config();
        assertEquals(16, c.rotaryDim());
        assertEquals("longrope", c.ropeType());
        assertEquals(ATT, c.ropeAttentionFactor(), 1e-7);
        // 40 tokens reach the original context exactly: short factors; 41 and 50: long
        for (int n : new int[] {ORIGINAL, ORIGINAL + 1, 50}) {
            double[] inv = inv(n > ORIGINAL ? LONG : SHORT);
            assertForwardMatches(new int[][] {ids(1, n), ids(2, n)}, seq -> reference(w, seq, inv, ATT, false, NO_WINDOW), TOL);
        }
    }

    @Test
    void eachPartMatters() {
        int[] seq = ids(3, 50);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(w, seq, inv(LONG), ATT, false, NO_WINDOW)) <= TOL);
            // past the threshold the long factors are used, not the short ones
            assertTrue(maxRelErr(got, reference(w, seq, inv(SHORT), ATT, false, NO_WINDOW)) > 100 * TOL, "long factors");
            // cos and sin carry the attention factor
            assertTrue(maxRelErr(got, reference(w, seq, inv(LONG), 1, false, NO_WINDOW)) > 100 * TOL, "attention factor");
            // only the first 16 dims turn: rotating the whole head moves the logits far
            double[] whole = new double[D / 2];
            for (int i = 0; i < whole.length; i++) whole[i] = i < LONG.length ? inv(LONG)[i] : Math.pow(10000.0, -2.0 * i / D);
            assertTrue(maxRelErr(got, reference(w, seq, whole, ATT, false, NO_WINDOW)) > 100 * TOL, "partial rotary");
        }
    }

    @Test
    void configFormsAndBadFactors() throws IOException {
        LlamaConfig v4 = Qwen2Test.parse(config());
        // transformers 5: the factor and the original context inside rope_parameters; "su" is Phi-3's old name for longrope
        LlamaConfig v5 = Qwen2Test.parse(LlamaTest.config("null", false).replace("\"llama\"", "\"phi3\"")
                .replace("\"rope_theta\": 10000.0,", "").replace("\"rope_scaling\": null", "\"original_max_position_embeddings\": " + ORIGINAL
                        + ", \"rope_parameters\": {\"rope_type\": \"su\", \"rope_theta\": 10000.0, \"partial_rotary_factor\": 0.5, \"short_factor\": "
                        + list(SHORT) + ", \"long_factor\": " + list(LONG) + "}"));
        assertEquals(java.util.Arrays.toString(v4.invFreq()), java.util.Arrays.toString(v5.invFreq()));
        assertEquals(v4.ropeAttentionFactor(), v5.ropeAttentionFactor());
        assertEquals(16, v5.rotaryDim());
        // an explicit attention_factor wins; without original_max_position_embeddings Phi-3 takes 4096 (factor < 1: no scaling)
        LlamaConfig af = Qwen2Test.parse(config().replace("\"type\": \"longrope\"", "\"type\": \"longrope\", \"attention_factor\": 1.25"));
        assertEquals(1.25f, af.ropeAttentionFactor());
        LlamaConfig dflt = Qwen2Test.parse(config().replace("\"original_max_position_embeddings\": " + ORIGINAL + ",", ""));
        assertEquals(1f, dflt.ropeAttentionFactor());
        assertEquals(java.util.Arrays.toString(v4.invFreq()), java.util.Arrays.toString(dflt.ropeFrequencies().invFreq(4096)));
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config().replace("\"long_factor\": [1.0,", "\"long_factor\": [-1.0,")));
        assertTrue(e.getMessage().contains("rope_scaling.long_factor[0]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config().replace("\"partial_rotary_factor\": 0.5", "\"partial_rotary_factor\": 0.3")));
        assertTrue(e.getMessage().contains("partial_rotary_factor"), e.getMessage()); // 9.6 → 9 rotary dims: odd
        // Phi3Config takes no other scaling
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config().replace("\"type\": \"longrope\"", "\"type\": \"dynamic\", \"factor\": 2.0")));
        assertTrue(e.getMessage().contains("dynamic") && e.getMessage().contains("longrope"), e.getMessage());
        // a Llama's HF attention rotates the whole head: its partial factor is refused by name
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(LlamaTest.config("null", false)
                .replace("\"rope_scaling\": null", "\"rope_scaling\": null, \"partial_rotary_factor\": 0.5")));
        assertTrue(e.getMessage().contains("partial_rotary_factor") && e.getMessage().contains("llama"), e.getMessage());
    }

    /**
     * Phi-4-mini-instruct's config.json shape (transformers 4.49: top-level partial_rotary_factor 0.75 and
     * original_max_position_embeddings 4096 of 131072, 48-entry factor lists for its 96 rotary dims, a
     * tied head, a 262144 window): what it reads. The factor values here are stand-ins.
     */
    @Test
    void phi4MiniConfigShape() throws IOException {
        double[] sf = new double[48], lf = new double[48];
        for (int i = 0; i < 48; i++) {
            sf[i] = 1 + i / 100.0;
            lf[i] = 1 + i * i / 40.0;
        }
        String cfg = "{\"architectures\": [\"Phi3ForCausalLM\"], \"model_type\": \"phi3\", \"hidden_size\": 3072, \"intermediate_size\": 8192,"
                + " \"num_hidden_layers\": 32, \"num_attention_heads\": 24, \"num_key_value_heads\": 8, \"vocab_size\": 200064,"
                + " \"max_position_embeddings\": 131072, \"original_max_position_embeddings\": 4096, \"partial_rotary_factor\": 0.75,"
                + " \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"hidden_act\": \"silu\", \"sliding_window\": 262144,"
                + " \"tie_word_embeddings\": true, \"eos_token_id\": 199999, \"rope_scaling\": {\"long_factor\": " + list(lf)
                + ", \"short_factor\": " + list(sf) + ", \"type\": \"longrope\"}}";
        LlamaConfig c = Qwen2Test.parse(cfg);
        assertEquals(128, c.headDim());
        assertEquals(96, c.rotaryDim());
        assertEquals(48, c.invFreq().length);
        assertEquals(Math.sqrt(1 + Math.log(32) / Math.log(4096)), c.ropeAttentionFactor(), 1e-7);
        assertEquals(4096, c.ropeFrequencies().switchLength());
        assertEquals(1 / (lf[47] * Math.pow(10000, 94.0 / 96)), c.ropeFrequencies().invFreq(4097)[47], 1e-12);
        assertTrue(c.tieEmbeddings());
        assertEquals(262144, c.slidingWindows()[0]);
    }

    /** The greedy next token of each step as HF's Phi-3 generate gives it: a forward over the whole sequence so far. */
    static int[] stepwiseGreedy(Llama m, int[] prompt, int n) {
        int[] seq = prompt.clone(), out = new int[n];
        for (int i = 0; i < n; i++) {
            try (Tensor lg = Decoding.forward(m, new int[][] {seq})) {
                float[] last = java.util.Arrays.copyOfRange(lg.toFloatArray(), (seq.length - 1) * V, seq.length * V);
                int best = 0;
                for (int v = 1; v < V; v++) if (last[v] > last[best]) best = v;
                out[i] = best;
            }
            seq = java.util.Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = out[i];
        }
        return out;
    }

    /**
     * Generation across the original context (16 here): HF's Phi-3 drops its cache on the step a
     * sequence first passes it and runs the whole sequence again with the long factors, so every
     * step's logits are those of a forward over the sequence so far; the session does the same, and
     * each sequence's factors follow its own length, not its batch-mates'.
     */
    @Test
    void generationRecomputesTheCacheAtTheOriginalContext() throws IOException {
        java.nio.file.Path d = tmp.resolve("phi3-longrope-16");
        writeCheckpoint(d, config().replace("\"original_max_position_embeddings\": " + ORIGINAL, "\"original_max_position_embeddings\": 16"),
                Phi3Test.fused(), DType.F32, 1);
        try (Llama m = Llama.load(cpu, d)) {
            assertEquals(16, m.recomputeCacheAt());
            int[] a = ids(41, 12), b = ids(42, 5);
            int[] wantA = stepwiseGreedy(m, a, 10), wantB = stepwiseGreedy(m, b, 10);
            int[][] both = Decoding.generate(m, new int[][] {a, b}, 10, dev.surpass.model.mamba.Sampling.greedy(), 1.0, null, null);
            assertEquals(java.util.Arrays.toString(wantA), java.util.Arrays.toString(both[0]), "crosses 16 on its 5th new token");
            assertEquals(java.util.Arrays.toString(wantB), java.util.Arrays.toString(both[1]), "stays short, beside a long batch-mate");
            // without the recompute the rows cached with the short factors would stay: the logits part from the forward
            float[] full;
            int[] seq = java.util.Arrays.copyOf(a, 18);
            System.arraycopy(wantA, 0, seq, 12, 6);
            try (Tensor f = Decoding.forward(m, new int[][] {seq})) {
                full = f.toFloatArray();
            }
            try (dev.surpass.attention.PagedKvCache c0 = dev.surpass.attention.PagedKvCache.create(cpu, DType.F32, 8, 4, HKV, D);
                 dev.surpass.attention.PagedKvCache c1 = dev.surpass.attention.PagedKvCache.create(cpu, DType.F32, 8, 4, HKV, D)) {
                var caches = new dev.surpass.attention.PagedKvCache[] {c0, c1};
                int[][] sid = {{c0.newSequence()}, {c1.newSequence()}};
                int[] pos16 = new int[16];
                for (int t = 0; t < 16; t++) pos16[t] = t;
                int[] cu = {0, 16};
                try (Tensor lg = m.logits(java.util.Arrays.copyOf(seq, 16), pos16, new int[] {15}, (l, q, k, v) -> {
                    caches[l].appendPrompt(sid[l][0], k, v);
                    return dev.surpass.attention.Attention.prefillVarlen(q, k, v, cu, cu, m.attentionOptions(l));
                })) {
                    assertTrue(maxAbsDiff(lg.toFloatArray(), 0, full, 15 * V) > 1e-2, "the 16-token prefix was short");
                }
                try (Tensor lg = m.logits(new int[] {seq[16]}, new int[] {16}, null, (l, q, k, v) -> {
                    caches[l].append(sid[l], k, v);
                    return dev.surpass.attention.Attention.decode(q, caches[l], sid[l], m.attentionOptions(l));
                })) {
                    assertTrue(maxAbsDiff(lg.toFloatArray(), 0, full, 16 * V) > 1e-2, "stale short rows in the cache move the logits");
                }
            }
            var e = assertThrows(IllegalArgumentException.class, () -> m.logits(new int[] {1, 2}, new int[] {0, 1}, new int[] {1, 1}, null,
                    (l, q, k, v) -> { throw new AssertionError("not reached"); }));
            assertTrue(e.getMessage().contains("reach[1]"), e.getMessage());
        }
    }

    static double maxAbsDiff(float[] a, int ao, float[] b, int bo) {
        double w = 0;
        for (int i = 0; i < V; i++) w = Math.max(w, Math.abs(a[ao + i] - b[bo + i]));
        return w;
    }
}
