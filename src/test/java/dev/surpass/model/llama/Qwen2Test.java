package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code Qwen2ForCausalLM} through {@link Llama}: LlamaTest's tiny model with q/k/v biases and no
 * o_proj bias, tied embeddings, rope_theta 1e6, and {@code use_sliding_window} with
 * {@code max_window_layers} 1 (layer 0 full, layer 1 a window of 6); the shared decode and batching
 * checks, the forward against the float64 reference, and how the config's window fields are read.
 */
class Qwen2Test extends DecoderModelSuite<Llama> {
    static final Map<String, float[]> wq = withQkvBiases();

    static Map<String, float[]> withQkvBiases() {
        Map<String, float[]> m = new LinkedHashMap<>(w);
        // the tied head reads the embedding: halved, its logits spread like LlamaTest's lm_head (0.5)
        float[] emb = m.get("model.embed_tokens.weight").clone();
        for (int i = 0; i < emb.length; i++) emb[i] *= 0.5f;
        m.put("model.embed_tokens.weight", emb);
        Random r = new Random(53);
        for (int l = 0; l < NL; l++) putQkvBiases(m, l, r, 0.3);
        return m;
    }

    static String config(String extra) {
        return "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\", \"hidden_size\": 128, \"intermediate_size\": 96,"
                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32,"
                + " \"vocab_size\": 80, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, \"max_position_embeddings\": 64,"
                + " \"hidden_act\": \"silu\", \"tie_word_embeddings\": true, \"eos_token_id\": 2" + extra + "}";
    }

    static final String WINDOWED = ", \"use_sliding_window\": true, \"sliding_window\": 6, \"max_window_layers\": 1";

    static double[] invFreq1e6() {
        double[] f = new double[D / 2];
        for (int i = 0; i < f.length; i++) f[i] = Math.pow(1e6, -2.0 * i / D);
        return f;
    }

    Qwen2Test() {
        super("qwen2", V, d -> writeCheckpoint(d, config(WINDOWED), entries(wq, false), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        int[] windows = {-1, 6};
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wq, seq, invFreq1e6(), true, windows), TOL);
        assertTrue(model.tiedHead());
        assertArrayEquals(windows, model.config().slidingWindows());
        assertTrue(model.config().attentionBias() && !model.config().outputBias());
        int[] seq = ids(1, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            // each difference matters: the biases, the window, theta
            assertTrue(maxRelErr(got, reference(w, seq, invFreq1e6(), true, windows)) > 100 * TOL, "q/k/v biases");
            assertTrue(maxRelErr(got, reference(wq, seq, invFreq1e6(), true, new int[] {-1, -1})) > 100 * TOL, "window");
            assertTrue(maxRelErr(got, reference(wq, seq, invFreq(false), true, windows)) > 100 * TOL, "theta");
        }
    }

    static LlamaConfig parse(String json) throws IOException {
        return LlamaConfig.parse(new ConfigJson(new ObjectMapper().readTree(json), "cfg"));
    }

    @Test
    void windowFieldsAreReadAsHfDoes() throws IOException {
        // no use_sliding_window: no window, whatever sliding_window says
        assertArrayEquals(new int[] {-1, -1}, parse(config(", \"sliding_window\": 6")).slidingWindows());
        // max_window_layers defaults to 28: no layer of 2 gets the window
        assertArrayEquals(new int[] {-1, -1}, parse(config(", \"use_sliding_window\": true, \"sliding_window\": 6")).slidingWindows());
        // layer_types overrides the rule
        assertArrayEquals(new int[] {6, -1}, parse(config(WINDOWED + ", \"layer_types\": [\"sliding_attention\", \"full_attention\"]")).slidingWindows());
        // Mistral: every layer, default 4096
        String mistral = MistralTest.config("null").replace(", \"sliding_window\": null", "");
        assertArrayEquals(new int[] {4096, 4096}, parse(mistral).slidingWindows());
        // a Llama config has no window and keeps o_proj's bias with attention_bias
        LlamaConfig llama = parse(LlamaTest.config("null", false).replace("\"hidden_act\"", "\"attention_bias\": true, \"sliding_window\": 4, \"hidden_act\""));
        assertArrayEquals(new int[] {-1, -1}, llama.slidingWindows());
        assertTrue(llama.attentionBias() && llama.outputBias());
        // named errors
        var e = assertThrows(IllegalArgumentException.class, () -> parse(config(WINDOWED + ", \"layer_types\": [\"full_attention\"]")));
        assertTrue(e.getMessage().contains("layer_types"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> parse(config(", \"use_sliding_window\": true, \"sliding_window\": 0")));
        assertTrue(e.getMessage().contains("sliding_window"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> parse(config("").replace("\"qwen2\"", "\"not_a_model\"")));
        assertTrue(e.getMessage().contains("not_a_model"), e.getMessage());
        assertFalse(LlamaConfig.looksLikeLlama(tmp.resolve("nowhere")));
    }
}
