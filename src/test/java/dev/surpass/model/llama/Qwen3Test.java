package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code Qwen3ForCausalLM} through {@link Llama}: LlamaTest's tiny model with per-head RMSNorms on q
 * and k ({@code q_norm} / {@code k_norm}, before RoPE), an explicit head_dim, tied embeddings,
 * rope_theta 1e6 and a sliding window on layer 1 (Qwen2's rule); the shared decode and batching
 * checks, and the forward against the float64 reference, where the norms are shown to matter.
 */
class Qwen3Test extends DecoderModelSuite<Llama> {
    static final Map<String, float[]> wn = withHeadNorms();

    static Map<String, float[]> withHeadNorms() {
        Map<String, float[]> m = new LinkedHashMap<>(Qwen2Test.withQkvBiases());
        m.keySet().removeIf(k -> k.endsWith("_proj.bias")); // Qwen3 has no biases unless attention_bias
        Random r = new Random(59);
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".self_attn.";
            // weights around 1 with spread, like a trained model's (a norm of all ones would hide the weight)
            m.put(p + "q_norm.weight", spread(r));
            m.put(p + "k_norm.weight", spread(r));
        }
        return m;
    }

    static float[] spread(Random r) {
        float[] v = new float[D];
        for (int i = 0; i < D; i++) v[i] = 0.5f + r.nextFloat();
        return v;
    }

    static String config(String extra) {
        return Qwen2Test.config(extra).replace("Qwen2ForCausalLM", "Qwen3ForCausalLM").replace("\"qwen2\"", "\"qwen3\"")
                .replace("\"hidden_act\"", "\"attention_bias\": false, \"hidden_act\"");
    }

    Qwen3Test() {
        super("qwen3", V, d -> writeCheckpoint(d, config(Qwen2Test.WINDOWED), entries(wn, false), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        int[] windows = {-1, 6};
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wn, seq, Qwen2Test.invFreq1e6(), true, windows), TOL);
        LlamaConfig c = model.config();
        assertEquals("qwen3", c.modelType());
        assertTrue(c.qkNorm() && !c.attentionBias() && !c.outputBias() && model.tiedHead());
        assertArrayEquals(windows, c.slidingWindows());
        int[] seq = ids(1, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            Map<String, float[]> noNorm = new LinkedHashMap<>(wn);
            noNorm.keySet().removeIf(k -> k.endsWith("_norm.weight") && k.contains("self_attn"));
            assertTrue(maxRelErr(lg.toFloatArray(), reference(noNorm, seq, Qwen2Test.invFreq1e6(), true, windows)) > 100 * TOL, "q/k norms");
        }
    }

    @Test
    void configReadsAsHfDoes() throws IOException {
        LlamaConfig plain = Qwen2Test.parse(config(""));
        assertArrayEquals(new int[] {-1, -1}, plain.slidingWindows(), "no use_sliding_window: no window");
        assertTrue(plain.qkNorm());
        // attention_bias puts biases on q, k, v and o (as Llama's)
        LlamaConfig biased = Qwen2Test.parse(config("").replace("\"attention_bias\": false", "\"attention_bias\": true"));
        assertTrue(biased.attentionBias() && biased.outputBias());
        assertFalse(Qwen2Test.parse(Qwen2Test.config("")).qkNorm());
    }
}
