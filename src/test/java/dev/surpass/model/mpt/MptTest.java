package dev.surpass.model.mpt;

import static dev.surpass.model.decoder.RefMath.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
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
 * {@code MptForCausalLM}: a tiny random checkpoint (d_model 192, 6 heads of 32 — not a power of two,
 * where MPT's slopes differ from BLOOM's — 2 layers, vocab 80, alibi_bias_max 12, tied head, no
 * biases) under {@code transformer.}; the shared decode and batching checks, and the forward against
 * a float64 reference written from HF's modeling_mpt (its own ALiBi form, {@code slope·(j − (L−1))},
 * from gen_slopes), where the slopes' rule, the bias maximum and the q/k/v thirds are shown to matter.
 */
class MptTest extends DecoderModelSuite<Mpt> {
    static final int E = 192, H = 6, D = 32, NL = 2, F = 4 * E, V = 80;
    static final double MAX_BIAS = 12, TOL = 1e-4;
    static final Map<String, Entry> W = weights(new Random(17));

    static Map<String, Entry> weights(Random r) {
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("transformer.wte.weight", new Entry(fill(new float[V * E], r, 0.15), V, E)); // also the head: logits of a few units
        for (int l = 0; l < NL; l++) {
            String p = "transformer.blocks." + l + ".";
            m.put(p + "norm_1.weight", new Entry(around1(E, r, 0.2), E));
            m.put(p + "attn.Wqkv.weight", new Entry(fill(new float[3 * E * E], r, 2 / Math.sqrt(E)), 3 * E, E));
            m.put(p + "attn.out_proj.weight", new Entry(fill(new float[E * E], r, 1 / Math.sqrt(E)), E, E));
            m.put(p + "norm_2.weight", new Entry(around1(E, r, 0.2), E));
            m.put(p + "ffn.up_proj.weight", new Entry(fill(new float[F * E], r, 1 / Math.sqrt(E)), F, E));
            m.put(p + "ffn.down_proj.weight", new Entry(fill(new float[E * F], r, 1 / Math.sqrt(F)), E, F));
        }
        m.put("transformer.norm_f.weight", new Entry(around1(E, r, 0.2), E));
        return m;
    }

    static String config(String extra) {
        return "{\"architectures\": [\"MptForCausalLM\"], \"model_type\": \"mpt\", \"d_model\": 192, \"n_layers\": 2, \"n_heads\": 6,"
                + " \"vocab_size\": 80, \"max_seq_len\": 128, \"expansion_ratio\": 4, \"no_bias\": true, \"layer_norm_epsilon\": 1e-5,"
                + " \"attn_config\": {\"alibi\": true, \"alibi_bias_max\": 12, \"softmax_scale\": null, \"qk_ln\": false, \"clip_qkv\": null"
                + extra + "}, \"eos_token_id\": 0}";
    }

    MptTest() {
        super("mpt", V, d -> writeCheckpoint(d, config(""), W, DType.F32, 1), Mpt::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    /** HF's gen_slopes in double: 2^ceil(log2 H) slopes 2^−(m·maxBias/n), odd-indexed first when H is not a power of two. */
    static double[] genSlopes(int heads, double maxBias, boolean bloomRule) {
        double[] s = new double[heads];
        if (bloomRule) { // the mistake a shared helper would make: BLOOM's floor power of two and interleave
            float[] b = dev.surpass.attention.Alibi.slopes(heads);
            for (int h = 0; h < heads; h++) s[h] = b[h];
            return s;
        }
        int n = 1;
        while (n < heads) n *= 2;
        double[] all = new double[n];
        for (int i = 0; i < n; i++) all[i] = 1 / Math.pow(2, (i + 1) * maxBias / n);
        int k = 0;
        if (n == heads) return all;
        for (int i = 1; i < n && k < heads; i += 2) s[k++] = all[i];
        for (int i = 0; i < n && k < heads; i += 2) s[k++] = all[i];
        return s;
    }

    /** float64 MptForCausalLM on one sequence → logits [L][V]. */
    static double[][] reference(int[] ids, double maxBias, boolean bloomRule, boolean perHeadQkv) {
        int n = ids.length;
        double[] slopes = genSlopes(H, maxBias, bloomRule);
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = W.get("transformer.wte.weight").data()[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "transformer.blocks." + l + ".";
            double[][] a = layerNorm(x, w(p + "norm_1.weight"), null, 1e-5);
            double[][] qkv = linear(a, w(p + "attn.Wqkv.weight"), null, E, 3 * E);
            double[][] ctx = new double[n][E];
            for (int h = 0; h < H; h++) {
                int qo = perHeadQkv ? h * 3 * D : h * D, ko = perHeadQkv ? h * 3 * D + D : E + h * D, vo = perHeadQkv ? h * 3 * D + 2 * D : 2 * E + h * D;
                for (int i = 0; i < n; i++) {
                    double[] s = new double[i + 1];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int c = 0; c < D; c++) dot += qkv[i][qo + c] * qkv[j][ko + c];
                        s[j] = dot / Math.sqrt(D) + slopes[h] * (j - (n - 1)); // build_alibi_bias: arange(1 − L, 1) · slope
                        mx = Math.max(mx, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += s[j] = Math.exp(s[j] - mx);
                    for (int j = 0; j <= i; j++) for (int c = 0; c < D; c++) ctx[i][h * D + c] += s[j] / sum * qkv[j][vo + c];
                }
            }
            addInPlace(x, linear(ctx, w(p + "attn.out_proj.weight"), null, E, E));
            double[][] up = linear(layerNorm(x, w(p + "norm_2.weight"), null, 1e-5), w(p + "ffn.up_proj.weight"), null, E, F);
            for (double[] row : up) for (int i = 0; i < F; i++) row[i] = 0.5 * row[i] * (1 + dev.surpass.layers.ReferenceActivation.erf(row[i] / Math.sqrt(2)));
            addInPlace(x, linear(up, w(p + "ffn.down_proj.weight"), null, F, E));
        }
        return linear(layerNorm(x, w("transformer.norm_f.weight"), null, 1e-5), w("transformer.wte.weight"), null, E, V);
    }

    static float[] w(String name) {
        return W.get(name).data();
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 40), ids(2, 40)}, seq -> reference(seq, MAX_BIAS, false, false), TOL);
        assertEquals(12f, model.config().alibiBiasMax());
        int[] seq = ids(3, 40);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            assertTrue(maxRelErr(got, reference(seq, 8, false, false)) > 100 * TOL, "alibi_bias_max matters");
            assertTrue(maxRelErr(got, reference(seq, MAX_BIAS, true, false)) > 100 * TOL, "MPT's slope rule (not BLOOM's) matters");
            assertTrue(maxRelErr(got, reference(seq, MAX_BIAS, false, true)) > 100 * TOL, "the q/k/v thirds matter");
        }
    }

    @Test
    void unsupportedFieldsAreRefusedByName() throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String[] c : new String[][] {
            {config(", \"qk_ln\": true").replace("\"qk_ln\": false, ", ""), "attn_config.qk_ln"},
            {config("").replace("\"clip_qkv\": null", "\"clip_qkv\": 6"), "attn_config.clip_qkv"},
            {config(", \"prefix_lm\": true"), "attn_config.prefix_lm"},
            {config("").replace("\"alibi\": true", "\"alibi\": false"), "attn_config.alibi"},
            {config("").replace("\"expansion_ratio\": 4", "\"expansion_ratio\": 2"), "expansion_ratio"},
            {config("").replace("\"no_bias\": true", "\"no_bias\": false"), "no_bias"},
            {config("").replace("\"eos_token_id\": 0", "\"logit_scale\": 0.5"), "logit_scale"}}) {
            var e = assertThrows(IllegalArgumentException.class, () -> MptConfig.parse(new ConfigJson(json.readTree(c[0]), "cfg")));
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
        }
        MptConfig c = MptConfig.parse(new ConfigJson(json.readTree(config("").replace("\"softmax_scale\": null", "\"softmax_scale\": 0.25")), "cfg"));
        assertEquals(0.25f, c.softmaxScale());
        Path p = tmp.resolve("mpt-bad");
        writeCheckpoint(p, config("").replace("\"n_heads\": 6", "\"n_heads\": 5"), W, DType.F32, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> Mpt.load(cpu, p));
        assertTrue(e.getMessage().contains("n_heads"), e.getMessage());
    }
}
