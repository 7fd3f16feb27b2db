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
 * {@code Qwen3MoeForCausalLM} through {@link Llama}: Qwen3Test's tiny model (per-head q/k norms, no
 * biases) with an untied lm_head, as Qwen3-30B-A3B has, with {@code decoder_sparse_step} 2: layer 0 dense, layer 1 a mixture of 6
 * experts of moe_intermediate_size 48, top-3, renormalised ({@code norm_topk_prob} true), no shared
 * expert; the shared decode and batching checks, the forward against the float64 reference (routing,
 * renormalisation and the q/k norms shown to matter), and named refusals.
 */
class Qwen3MoeTest extends DecoderModelSuite<Llama> {
    static final int NE = 6, K = 3, FE = 48;
    static final Map<String, float[]> wm = mixture();

    static Map<String, float[]> mixture() {
        Map<String, float[]> m = new LinkedHashMap<>(Qwen3Test.wn);
        MoeRef.putMixture(m, 1, Names.QWEN, NE, FE, 0, new Random(6363));
        return m;
    }

    static String config(String extra) {
        return Qwen3Test.config(", \"num_experts\": " + NE + ", \"num_experts_per_tok\": " + K + ", \"moe_intermediate_size\": " + FE
                + ", \"norm_topk_prob\": true, \"decoder_sparse_step\": 2, \"mlp_only_layers\": []" + extra)
                .replace("Qwen3ForCausalLM", "Qwen3MoeForCausalLM").replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false").replace("\"qwen3\"", "\"qwen3_moe\"");
    }

    static Map<String, Entry> entries(Map<String, float[]> w) {
        return MoeRef.entries(w, true, NE, FE, 0);
    }

    Qwen3MoeTest() {
        super("qwen3_moe", V, d -> writeCheckpoint(d, config(""), entries(wm), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static double[][] reference(Map<String, float[]> w, int[] seq, Routing routing) {
        return LlamaTest.reference(w, seq, Qwen2Test.invFreq1e6(), false, new int[] {-1, -1}, MoeRef.mlp(Names.QWEN, NE, K, FE, true, routing));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wm, seq, Routing.HF), TOL);
        LlamaConfig c = model.config();
        assertTrue(c.qkNorm() && !c.attentionBias() && !c.outputBias() && !model.tiedHead());
        MoeConfig moe = c.moe();
        assertTrue(!moe.sparse(0) && moe.sparse(1) && moe.normTopK() && moe.sharedIntermediate() == 0);
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            // routing, the renormalisation and the q/k norms each matter
            MoeRef.assertEachMatters(got, r -> reference(wm, seq, r), Routing.DENSE_AVERAGE, Routing.RAW);
            assertTrue(maxRelErr(got, reference(MoeRef.withoutQkNorms(wm), seq, Routing.HF)) > 100 * TOL, "q/k norms");
        }
    }

    @Test
    void configReadsAsHfDoes() throws IOException {
        // Qwen3MoeConfig's defaults: 128 experts, top-8, moe 768, norm_topk_prob false, no shared expert, every layer sparse
        MoeConfig d = Qwen2Test.parse(Qwen3Test.config("").replace("\"qwen3\"", "\"qwen3_moe\"")).moe();
        assertEquals(128, d.experts());
        assertEquals(8, d.topK());
        assertEquals(768, d.intermediate());
        assertEquals(0, d.sharedIntermediate());
        assertFalse(d.normTopK());
        assertArrayEquals(new boolean[] {true, true}, d.sparse());
        // mlp_only_layers wins over the step; attention_bias puts biases on q, k, v and o as in Qwen3
        assertArrayEquals(new boolean[] {false, false}, Qwen2Test.parse(config("").replace("[]", "[1]")).moe().sparse());
        LlamaConfig biased = Qwen2Test.parse(config("").replace("\"attention_bias\": false", "\"attention_bias\": true"));
        assertTrue(biased.attentionBias() && biased.outputBias() && biased.qkNorm());
        // transformers 5 may name the count num_local_experts
        assertEquals(6, Qwen2Test.parse(config("").replace("\"num_experts\"", "\"num_local_experts\"")).moe().experts());
    }

    @Test
    void badConfigsAndCheckpointsAreRefusedByName() throws IOException {
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_experts_per_tok\": 3", "\"num_experts_per_tok\": 7")));
        assertTrue(e.getMessage().contains("num_experts_per_tok") && e.getMessage().contains("num_experts"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("[]", "\"all\"")));
        assertTrue(e.getMessage().contains("mlp_only_layers"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config(", \"use_sliding_window\": true")));
        assertTrue(e.getMessage().contains("use_sliding_window"), e.getMessage());
        Map<String, Entry> bad = entries(wm);
        Entry gate = bad.get("model.layers.1.mlp.gate.weight");
        bad.put("model.layers.1.mlp.gate.weight", new Entry(gate.data(), E, NE));
        Path d = tmp.resolve("qwen3moe-transposed-router");
        writeCheckpoint(d, config(""), bad, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d).close());
        assertTrue(e.getMessage().contains("model.layers.1.mlp.gate.weight") && e.getMessage().contains("shape"), e.getMessage());
    }
}
