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
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code Qwen2MoeForCausalLM} through {@link Llama}: Qwen2Test's tiny model (q/k/v biases, rope_theta 1e6) with an untied lm_head, as the
 * real Qwen MoE checkpoints have, with {@code mlp_only_layers [0]}: layer 0 keeps the dense MLP of
 * intermediate_size 96, layer 1 is a mixture of 5 experts of moe_intermediate_size 40, top-2, not
 * renormalised, plus a shared expert of 72 gated by {@code sigmoid(shared_expert_gate · x)}; the
 * shared decode and batching checks, the forward against the float64 reference (routing, the missing
 * renormalisation and the shared expert shown to matter), the fused layout, and named refusals.
 */
class Qwen2MoeTest extends DecoderModelSuite<Llama> {
    static final int NE = 5, K = 2, FE = 40, FS = 72;
    static final Map<String, float[]> wm = mixture();

    static Map<String, float[]> mixture() {
        Map<String, float[]> m = new LinkedHashMap<>(Qwen2Test.withQkvBiases());
        MoeRef.putMixture(m, 1, Names.QWEN, NE, FE, FS, new Random(5151));
        return m;
    }

    static String config(String extra) {
        return Qwen2Test.config(", \"num_experts\": " + NE + ", \"num_experts_per_tok\": " + K + ", \"moe_intermediate_size\": " + FE
                + ", \"shared_expert_intermediate_size\": " + FS + ", \"mlp_only_layers\": [0], \"decoder_sparse_step\": 1" + extra)
                .replace("Qwen2ForCausalLM", "Qwen2MoeForCausalLM").replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false").replace("\"qwen2\"", "\"qwen2_moe\"");
    }

    static Map<String, Entry> entries(Map<String, float[]> w) {
        return MoeRef.entries(w, true, NE, FE, FS);
    }

    Qwen2MoeTest() {
        super("qwen2_moe", V, d -> writeCheckpoint(d, config(""), entries(wm), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static double[][] reference(Map<String, float[]> w, int[] seq, Routing routing) {
        return LlamaTest.reference(w, seq, Qwen2Test.invFreq1e6(), false, new int[] {-1, -1}, MoeRef.mlp(Names.QWEN, NE, K, FE, false, routing));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wm, seq, Routing.HF), TOL);
        LlamaConfig c = model.config();
        assertTrue(c.attentionBias() && !c.outputBias() && !model.tiedHead());
        MoeConfig moe = c.moe();
        assertTrue(!moe.sparse(0) && moe.sparse(1) && !moe.normTopK());
        assertEquals(FS, moe.sharedIntermediate());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            // routing, no renormalisation (norm_topk_prob false) and the shared expert each matter
            MoeRef.assertEachMatters(got, r -> reference(wm, seq, r), Routing.DENSE_AVERAGE, Routing.RENORMALISED, Routing.NO_SHARED);
        }
    }

    /** transformers 5's fused experts (the shared expert keeps its tensors) give the same logits. */
    @Test
    void fusedExpertTensorsOfTransformers5() throws IOException {
        Map<String, Entry> fused = entries(wm);
        MoeRef.fuse(fused, wm, 1, Names.QWEN, NE, FE);
        Path d = tmp.resolve("qwen2moe-fused");
        writeCheckpoint(d, config(""), fused, DType.F32, 1);
        int[] seq = ids(4, 25);
        try (Tensor a = Decoding.forward(model, new int[][] {seq}); Llama m = Llama.load(cpu, d); Tensor b = Decoding.forward(m, new int[][] {seq})) {
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
        }
    }

    @Test
    void configReadsAsHfDoes() throws IOException {
        // HF's defaults: 60 experts, top-4, moe 1408, shared 5632, norm_topk_prob false, every layer sparse
        MoeConfig d = Qwen2Test.parse(Qwen2Test.config("").replace("\"qwen2\"", "\"qwen2_moe\"")).moe();
        assertEquals(60, d.experts());
        assertEquals(4, d.topK());
        assertEquals(1408, d.intermediate());
        assertEquals(5632, d.sharedIntermediate());
        assertFalse(d.normTopK());
        assertTrue(d.sparse(0) && d.sparse(1));
        // decoder_sparse_step 2: layer 1 only; num_experts 0: all dense; qkv_bias false: no biases
        assertArrayEquals(new boolean[] {false, true}, Qwen2Test.parse(config("").replace("[0]", "[]").replace("\"decoder_sparse_step\": 1",
                "\"decoder_sparse_step\": 2")).moe().sparse());
        assertArrayEquals(new boolean[] {false, false}, Qwen2Test.parse(config("").replace("\"num_experts\": 5", "\"num_experts\": 0")).moe().sparse());
        assertFalse(Qwen2Test.parse(config(", \"qkv_bias\": false")).attentionBias());
        assertTrue(Qwen2Test.parse(config(", \"norm_topk_prob\": true")).moe().normTopK());
        assertEquals("Qwen2Moe", LlamaConfig.TYPES.get("qwen2_moe"));
    }

    @Test
    void badConfigsAndCheckpointsAreRefusedByName() throws IOException {
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 6")));
        assertTrue(e.getMessage().contains("num_experts_per_tok"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("[0]", "[2]")));
        assertTrue(e.getMessage().contains("mlp_only_layers"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"decoder_sparse_step\": 1", "\"decoder_sparse_step\": 0")));
        assertTrue(e.getMessage().contains("decoder_sparse_step"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config(Qwen2Test.WINDOWED)));
        assertTrue(e.getMessage().contains("use_sliding_window"), e.getMessage());
        // with layer_types the window is where they say
        assertArrayEquals(new int[] {-1, 6}, Qwen2Test.parse(config(Qwen2Test.WINDOWED + ", \"layer_types\": [\"full_attention\", \"sliding_attention\"]"))
                .slidingWindows());
        for (String gone : new String[] {"model.layers.1.mlp.shared_expert_gate.weight", "model.layers.1.mlp.shared_expert.down_proj.weight",
                "model.layers.1.mlp.experts.4.up_proj.weight", "model.layers.0.mlp.up_proj.weight"}) {
            Map<String, Entry> missing = entries(wm);
            missing.remove(gone);
            Path d = tmp.resolve("qwen2moe-missing-" + gone);
            writeCheckpoint(d, config(""), missing, DType.F32, 1);
            e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d).close());
            assertTrue(e.getMessage().contains(gone), e.getMessage());
        }
    }
}
