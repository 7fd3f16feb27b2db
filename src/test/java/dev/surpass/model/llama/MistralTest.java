package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@code MistralForCausalLM} through {@link Llama}: LlamaTest's tiny model with a sliding window of
 * 12 keys on every layer (HF: row i sees keys j &gt; i − 12), so every shared check (token-by-token
 * decode against the full forward, batching, continuous batching) runs with the window on both the
 * varlen prefill and the paged decode; and the forward against the float64 reference.
 */
class MistralTest extends DecoderModelSuite<Llama> {
    static final int WINDOW = 12;

    static String config(String window) {
        return "{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", \"hidden_size\": 128, \"intermediate_size\": 96,"
                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32,"
                + " \"vocab_size\": 80, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, \"max_position_embeddings\": 64,"
                + " \"hidden_act\": \"silu\", \"tie_word_embeddings\": false, \"eos_token_id\": 2, \"sliding_window\": " + window + "}";
    }

    MistralTest() {
        super("mistral", V, d -> writeCheckpoint(d, config(String.valueOf(WINDOW)), entries(w, true), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    @Test
    void forwardMatchesFloat64ReferenceWithTheWindow() {
        int[] windows = {WINDOW, WINDOW};
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(w, seq, invFreq(false), false, windows), TOL);
        assertEquals("mistral", model.config().modelType());
        assertArrayEquals(windows, model.config().slidingWindows());
        assertTrue(model.describe().startsWith("mistral: 2 layers") && model.describe().contains("sliding window 12 on 2 layers"), model.describe());
        // the window matters: without it the logits past position 12 differ
        int[] seq = ids(1, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            assertTrue(maxRelErr(lg.toFloatArray(), reference(w, seq, invFreq(false), false, new int[] {-1, -1})) > 100 * TOL);
        }
    }

    @Test
    void nullWindowIsFullAttention() throws IOException {
        Path d = tmp.resolve("mistral-nowindow");
        writeCheckpoint(d, config("null"), entries(w, true), DType.F32, 1);
        int[] seq = ids(3, 20);
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertArrayEquals(new int[] {-1, -1}, m.config().slidingWindows());
            double err = maxRelErr(lg.toFloatArray(), reference(w, seq, invFreq(false), false, new int[] {-1, -1}));
            assertTrue(err <= TOL, "max rel err " + err);
        }
    }
}
