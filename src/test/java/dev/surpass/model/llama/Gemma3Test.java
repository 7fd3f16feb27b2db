package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import dev.surpass.model.decoder.RefMath.Entry;
import org.junit.jupiter.api.Test;

/**
 * {@code Gemma3ForCausalLM} (model_type gemma3_text) through {@link Llama}: Gemma 2's layout (no
 * attention soft cap; a final one of 4 set in the config, which Gemma 3 reads though its checkpoints
 * leave it null), plus per-head q/k norms (offsets from 1) and two RoPEs — the windowed layer 0 rotates
 * with {@code rope_parameters.sliding_attention} (theta 10000), the full layer 1 with
 * {@code full_attention} (theta 1e6), as transformers 5 writes them. The shared decode and batching
 * checks, the forward against the float64 reference (where the local RoPE and the q/k norms are
 * shown to matter), and transformers 4's fields (rope_local_base_freq, sliding_window_pattern).
 */
class Gemma3Test extends DecoderModelSuite<Llama> {
    static final Map<String, float[]> w3 = weights();

    static Map<String, float[]> weights() {
        Map<String, float[]> m = new LinkedHashMap<>(Gemma2Test.gemmaWeights(true));
        Random r = new Random(71);
        for (int l = 0; l < NL; l++) {
            m.put("model.layers." + l + ".self_attn.q_norm.weight", fill(new float[D], r, 0.4));
            m.put("model.layers." + l + ".self_attn.k_norm.weight", fill(new float[D], r, 0.4));
        }
        return m;
    }

    static String config(String rope) {
        return "{\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\", \"hidden_size\": 128, \"intermediate_size\": 96,"
                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32, \"vocab_size\": 80,"
                + " \"rms_norm_eps\": 1e-6, \"max_position_embeddings\": 64, \"hidden_activation\": \"gelu_pytorch_tanh\", \"eos_token_id\": 1,"
                + " \"query_pre_attn_scalar\": 24, \"attn_logit_softcapping\": null, \"final_logit_softcapping\": 4.0, \"sliding_window\": 6,"
                + " \"layer_types\": [\"sliding_attention\", \"full_attention\"], \"attention_bias\": false, " + rope + "}";
    }

    static final String ROPE_V5 = "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0},"
            + " \"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 10000.0}}";

    static final Gemma2Test.Parts PARTS = new Gemma2Test.Parts(true, Math.pow(24, -0.5), 0, 4, new int[] {6, -1}, true, Qwen2Test.invFreq1e6(),
            invFreq(false));

    Gemma3Test() {
        super("gemma3", V, d -> writeCheckpoint(d, config(ROPE_V5), entries(w3, false), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> Gemma2Test.reference(w3, seq, PARTS), TOL);
        LlamaConfig c = model.config();
        assertTrue(c.qkNorm() && c.gemma().sandwichNorms() && c.gemma().attnSoftcap() == 0 && c.gemma().finalSoftcap() == 4);
        assertArrayEquals(new int[] {6, -1}, c.slidingWindows());
        int[] seq = ids(1, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            Gemma2Test.Parts oneRope = new Gemma2Test.Parts(true, PARTS.scale(), 0, 4, PARTS.windows(), true, Qwen2Test.invFreq1e6(), null);
            assertTrue(maxRelErr(got, Gemma2Test.reference(w3, seq, oneRope)) > 100 * TOL, "the local RoPE should matter");
            assertTrue(maxRelErr(got, Gemma2Test.reference(Gemma2Test.wg, seq, PARTS)) > 100 * TOL, "the q/k norms should matter");
        }
    }

    @Test
    void transformersFourFieldsAreRead() throws IOException {
        // rope_theta + rope_local_base_freq, and the window on all but every sliding_window_pattern-th layer
        String v4 = config("\"rope_theta\": 1000000.0, \"rope_local_base_freq\": 10000.0, \"sliding_window_pattern\": 2")
                .replace(" \"layer_types\": [\"sliding_attention\", \"full_attention\"],", "");
        LlamaConfig c = Qwen2Test.parse(v4);
        assertArrayEquals(new int[] {6, -1}, c.slidingWindows());
        assertArrayEquals(invFreq(false), c.gemma().localInvFreq(), 1e-7);
        assertArrayEquals(Qwen2Test.invFreq1e6(), c.invFreq(), 1e-7);
        // no soft caps by default
        assertEquals(0f, Qwen2Test.parse(v4.replace("\"final_logit_softcapping\": 4.0, ", "")).gemma().finalSoftcap());
        // and linear scaling on the global layers only (Gemma 3 4B+)
        LlamaConfig scaled = Qwen2Test.parse(config("\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"linear\", \"factor\": 8.0,"
                + " \"rope_theta\": 1000000.0}, \"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 10000.0}}"));
        assertEquals("linear", scaled.ropeType());
        assertEquals(Qwen2Test.invFreq1e6()[3] / 8, scaled.invFreq()[3], 1e-9);
        assertArrayEquals(invFreq(false), scaled.gemma().localInvFreq(), 1e-7);
        assertNull(Qwen2Test.parse(Gemma2Test.config(true, "")).gemma().localInvFreq());
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config(ROPE_V5 + ", \"use_bidirectional_attention\": true")));
        assertTrue(e.getMessage().contains("use_bidirectional_attention"), e.getMessage());
    }

    /**
     * A multimodal Gemma 3 folder (Gemma3ForConditionalGeneration: config.json's text_config, the
     * decoder under {@code language_model.model.} as the released files name it, or
     * {@code model.language_model.} as transformers 5 saves it, a vision tower beside it) loads its
     * text model: the same logits as the text-only folder.
     */
    @Test
    void multimodalFolderLoadsItsTextModel() throws IOException {
        String text = config(ROPE_V5);
        String mm = "{\"architectures\": [\"Gemma3ForConditionalGeneration\"], \"model_type\": \"gemma3\", \"eos_token_id\": [1, 7],"
                + " \"vision_config\": {\"model_type\": \"siglip_vision_model\"}, \"text_config\": " + text + "}";
        int[] seq = ids(4, 20);
        float[] want;
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            want = lg.toFloatArray();
        }
        for (String prefix : new String[] {"language_model.model.", "model.language_model."}) {
            Map<String, Entry> renamed = new LinkedHashMap<>();
            for (var e : entries(w3, false).entrySet()) renamed.put(prefix + e.getKey().substring("model.".length()), e.getValue());
            renamed.put("vision_tower.vision_model.embeddings.patch_embedding.weight", new Entry(new float[] {1, 2, 3, 4}, new long[] {2, 2}));
            java.nio.file.Path d = tmp.resolve("gemma3-mm-" + prefix.replace(".", "_"));
            writeCheckpoint(d, mm, renamed, DType.F32, 1);
            assertTrue(LlamaConfig.looksLikeLlama(d));
            try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
                assertEquals("gemma3_text", m.config().modelType());
                assertArrayEquals(new int[] {1, 7}, m.config().eosIds());
                assertArrayEquals(want, lg.toFloatArray(), 0f, prefix);
            }
        }
    }
}
