package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.RefMath.Entry;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code Olmo2ForCausalLM} through {@link Llama}: LlamaTest's projections with OLMo 2's norms — none
 * before attention and MLP, {@code post_attention_layernorm} and {@code post_feedforward_layernorm}
 * on their outputs before the residual adds, and {@code q_norm} / {@code k_norm} over the whole q and
 * k projections before RoPE; the shared decode and batching checks, and the forward against a
 * float64 reference written from transformers' modeling_olmo2, where the norms' places are shown to
 * matter.
 */
class Olmo2Test extends DecoderModelSuite<Llama> {
    static final Map<String, float[]> wo = weights();

    static Map<String, float[]> weights() {
        Map<String, float[]> m = new LinkedHashMap<>(w);
        Random r = new Random(79);
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            m.remove(p + "input_layernorm.weight");
            m.put(p + "post_feedforward_layernorm.weight", around1(E, r, 0.3));
            m.put(p + "self_attn.q_norm.weight", around1(HQ * D, r, 0.3));
            m.put(p + "self_attn.k_norm.weight", around1(HKV * D, r, 0.3));
        }
        return m;
    }

    static Map<String, Entry> olmoEntries() {
        Map<String, Entry> e = new LinkedHashMap<>(entries(wo, true));
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".self_attn.";
            e.put(p + "q_norm.weight", new Entry(wo.get(p + "q_norm.weight"), HQ * D));
            e.put(p + "k_norm.weight", new Entry(wo.get(p + "k_norm.weight"), HKV * D));
        }
        return e;
    }

    static String config() {
        return LlamaTest.config("null", false).replace("LlamaForCausalLM", "Olmo2ForCausalLM").replace("\"llama\"", "\"olmo2\"");
    }

    Olmo2Test() {
        super("olmo2", V, d -> writeCheckpoint(d, config(), olmoEntries(), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** float64 Olmo2ForCausalLM on one sequence; {@code postNorms} false puts the two norms before the sublayers (Llama's places). */
    static double[][] reference(int[] ids, boolean postNorms, boolean qkNorms) {
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = wo.get("model.embed_tokens.weight")[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            double[][] a = postNorms ? x : rmsNorm(x, wo.get(p + "post_attention_layernorm.weight"), EPS);
            double[][] q = linear(a, wo.get(p + "self_attn.q_proj.weight"), null, E, HQ * D);
            double[][] k = linear(a, wo.get(p + "self_attn.k_proj.weight"), null, E, HKV * D);
            double[][] v = linear(a, wo.get(p + "self_attn.v_proj.weight"), null, E, HKV * D);
            if (qkNorms) {
                q = rmsNorm(q, wo.get(p + "self_attn.q_norm.weight"), EPS);
                k = rmsNorm(k, wo.get(p + "self_attn.k_norm.weight"), EPS);
            }
            rope(q, HQ, invFreq(false));
            rope(k, HKV, invFreq(false));
            double[][] attn = linear(causalAttention(q, k, v, HQ, HKV, D), wo.get(p + "self_attn.o_proj.weight"), null, HQ * D, E);
            addInPlace(x, postNorms ? rmsNorm(attn, wo.get(p + "post_attention_layernorm.weight"), EPS) : attn);
            double[][] m = postNorms ? x : rmsNorm(x, wo.get(p + "post_feedforward_layernorm.weight"), EPS);
            double[][] g = linear(m, wo.get(p + "mlp.gate_proj.weight"), null, E, F);
            double[][] u = linear(m, wo.get(p + "mlp.up_proj.weight"), null, E, F);
            for (int t = 0; t < n; t++) for (int i = 0; i < F; i++) g[t][i] = silu(g[t][i]) * u[t][i];
            double[][] mlp = linear(g, wo.get(p + "mlp.down_proj.weight"), null, F, E);
            addInPlace(x, postNorms ? rmsNorm(mlp, wo.get(p + "post_feedforward_layernorm.weight"), EPS) : mlp);
        }
        return linear(rmsNorm(x, wo.get("model.norm.weight"), EPS), wo.get("lm_head.weight"), null, E, V);
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(seq, true, true), TOL);
        assertTrue(model.config().isOlmo2() && !model.tiedHead());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(seq, false, true)) > 100 * TOL, "the norms after the sublayers matter");
            assertTrue(maxRelErr(got, reference(seq, true, false)) > 100 * TOL, "the q/k norms matter");
        }
    }
}
