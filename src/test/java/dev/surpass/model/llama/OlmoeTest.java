package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.RefMath.Entry;
import dev.surpass.model.llama.MoeRef.Names;
import dev.surpass.model.llama.MoeRef.Routing;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code OlmoeForCausalLM} through {@link Llama}: LlamaTest's pre-norm layers with OLMo 2's q/k
 * RMSNorms over the whole projections ({@code q_norm [Hq·D]}, {@code k_norm [Hkv·D]}, before RoPE)
 * and on every layer a mixture of 5 experts of intermediate_size 40, top-3, not renormalised
 * ({@code norm_topk_prob} false); the shared decode and batching checks, the forward against the
 * float64 reference (routing and the q/k norms shown to matter), and named refusals.
 */
class OlmoeTest extends DecoderModelSuite<Llama> {
    static final int NE = 5, K = 3, FE = 40;
    static final Map<String, float[]> wm = mixture();

    static Map<String, float[]> mixture() {
        Map<String, float[]> m = new LinkedHashMap<>(w);
        Random r = new Random(8383);
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".self_attn.";
            m.put(p + "q_norm.weight", around1(HQ * D, r, 0.3));
            m.put(p + "k_norm.weight", around1(HKV * D, r, 0.3));
            MoeRef.putMixture(m, l, Names.QWEN, NE, FE, 0, r);
        }
        return m;
    }

    static String config(String extra) {
        return LlamaTest.config("null", false).replace("LlamaForCausalLM", "OlmoeForCausalLM").replace("\"llama\"", "\"olmoe\"")
                .replace("\"intermediate_size\": 96", "\"intermediate_size\": " + FE)
                .replace("\"rope_scaling\": null", "\"rope_scaling\": null, \"num_experts\": " + NE + ", \"num_experts_per_tok\": " + K
                        + ", \"norm_topk_prob\": false, \"clip_qkv\": null" + extra);
    }

    static Map<String, Entry> entries(Map<String, float[]> w) {
        Map<String, Entry> e = MoeRef.entries(w, true, NE, FE, 0);
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".self_attn.";
            e.put(p + "q_norm.weight", new Entry(w.get(p + "q_norm.weight"), HQ * D));
            e.put(p + "k_norm.weight", new Entry(w.get(p + "k_norm.weight"), HKV * D));
        }
        return e;
    }

    OlmoeTest() {
        super("olmoe", V, d -> writeCheckpoint(d, config(""), entries(wm), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static double[][] reference(Map<String, float[]> w, int[] seq, Routing routing) {
        return LlamaTest.reference(w, seq, invFreq(false), false, new int[] {-1, -1}, MoeRef.mlp(Names.QWEN, NE, K, FE, false, routing));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wm, seq, Routing.HF), TOL);
        LlamaConfig c = model.config();
        assertTrue(c.qkNormWhole() && !c.qkNorm() && !c.attentionBias() && !c.outputBias());
        MoeConfig moe = c.moe();
        assertTrue(moe.sparse(0) && moe.sparse(1) && !moe.normTopK());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            // routing, no renormalisation (norm_topk_prob false) and the q/k norms each matter
            MoeRef.assertEachMatters(got, r -> reference(wm, seq, r), Routing.DENSE_AVERAGE, Routing.RENORMALISED);
            assertTrue(maxRelErr(got, reference(MoeRef.withoutQkNorms(wm), seq, Routing.HF)) > 100 * TOL, "q/k norms");
        }
    }

    @Test
    void configReadsAsHfDoes() throws IOException {
        // OlmoeConfig's defaults: 64 experts, top-8, not renormalised, rms_norm_eps 1e-5; no window
        // (a sliding_window reaches only flash attention in HF: eager and SDPA have no window)
        LlamaConfig c = Qwen2Test.parse(config(", \"sliding_window\": 4").replace("\"num_experts\": 5, \"num_experts_per_tok\": 3, \"norm_topk_prob\": false, ", "")
                .replace(", \"rms_norm_eps\": 1e-6", ""));
        assertEquals(64, c.moe().experts());
        assertEquals(8, c.moe().topK());
        assertEquals(FE, c.moe().intermediate());
        assertFalse(c.moe().normTopK());
        assertEquals(1e-5f, c.rmsEps());
        assertArrayEquals(new int[] {-1, -1}, c.slidingWindows());
        LlamaConfig biased = Qwen2Test.parse(config(", \"attention_bias\": true"));
        assertTrue(biased.attentionBias() && biased.outputBias());
    }

    @Test
    void badConfigsAreRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"clip_qkv\": null", "\"clip_qkv\": 8.0")));
        assertTrue(e.getMessage().contains("clip_qkv"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_experts\": 5", "\"num_experts\": 0")));
        assertTrue(e.getMessage().contains("num_experts"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_experts_per_tok\": 3", "\"num_experts_per_tok\": 6")));
        assertTrue(e.getMessage().contains("num_experts_per_tok"), e.getMessage());
    }
}
