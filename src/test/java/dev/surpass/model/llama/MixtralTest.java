package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * {@code MixtralForCausalLM} through {@link Llama}: LlamaTest's tiny model whose MLPs are sparse
 * mixtures of 4 SwiGLU experts of intermediate 56, top-2, renormalised
 * ({@code block_sparse_moe.gate}, {@code block_sparse_moe.experts.j.w1/w3/w2}); the shared decode,
 * batching and continuous-batching checks, the forward against the float64 reference (where the
 * routing and the renormalisation are shown to matter), transformers 5's fused expert tensors, 16-bit
 * experts, and named refusals.
 */
class MixtralTest extends DecoderModelSuite<Llama> {
    static final int NE = 4, K = 2, FE = 56;
    static final Map<String, float[]> wm = mixture();

    static Map<String, float[]> mixture() {
        Map<String, float[]> m = new LinkedHashMap<>(w);
        Random r = new Random(4242);
        for (int l = 0; l < NL; l++) MoeRef.putMixture(m, l, Names.MIXTRAL, NE, FE, 0, r);
        return m;
    }

    static String config(String extra) {
        return LlamaTest.config("null", false).replace("LlamaForCausalLM", "MixtralForCausalLM").replace("\"llama\"", "\"mixtral\"")
                .replace("\"intermediate_size\": 96", "\"intermediate_size\": " + FE)
                .replace("\"rope_scaling\": null", "\"rope_scaling\": null, \"num_local_experts\": " + NE + ", \"num_experts_per_tok\": " + K
                        + ", \"sliding_window\": null, \"router_jitter_noise\": 0.0" + extra);
    }

    static Map<String, Entry> entries(Map<String, float[]> w) {
        return MoeRef.entries(w, true, NE, FE, 0);
    }

    MixtralTest() {
        super("mixtral", V, d -> writeCheckpoint(d, config(""), entries(wm), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    static double[][] reference(Map<String, float[]> w, int[] seq, Routing routing) {
        return LlamaTest.reference(w, seq, invFreq(false), false, new int[] {-1, -1}, MoeRef.mlp(Names.MIXTRAL, NE, K, FE, true, routing));
    }

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(wm, seq, Routing.HF), TOL);
        MoeConfig moe = model.config().moe();
        assertEquals(NE, moe.experts());
        assertEquals(K, moe.topK());
        assertTrue(moe.normTopK() && moe.sparse(0) && moe.sparse(1) && moe.sharedIntermediate() == 0);
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            float[] got = lg.toFloatArray();
            // routing matters: all experts averaged, or the top-2 probabilities not renormalised, are far off
            MoeRef.assertEachMatters(got, r -> reference(wm, seq, r), Routing.DENSE_AVERAGE, Routing.RAW);
        }
    }

    /**
     * transformers 5 with save_original_format=False: mlp.gate and fused experts give the same
     * logits; in bf16 too, widened on load or kept 16-bit on the CPU.
     */
    @Test
    void fusedExpertTensorsOfTransformers5() throws IOException {
        Map<String, Entry> fused = entries(wm);
        for (int l = 0; l < NL; l++) MoeRef.fuse(fused, wm, l, Names.MIXTRAL, NE, FE);
        Path d = tmp.resolve("mixtral-fused");
        writeCheckpoint(d, config(""), fused, DType.F32, 2);
        int[] seq = ids(4, 25);
        float[] legacy;
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            legacy = lg.toFloatArray();
        }
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertArrayEquals(legacy, lg.toFloatArray());
        }
        // bf16: widened on load, or kept 16-bit on the CPU, both the float64 reference of the rounded weights
        Path b = tmp.resolve("mixtral-fused-bf16");
        writeCheckpoint(b, config(""), fused, DType.BF16, 1);
        Map<String, float[]> r = rounded(wm, DType.BF16);
        float[] widened;
        try (Llama m = Llama.load(cpu, b); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            widened = lg.toFloatArray();
            assertTrue(maxRelErr(widened, reference(r, seq, Routing.HF)) <= TOL);
        }
        String old = System.setProperty("surpass.cpu.weights16", "true");
        try (Llama m = Llama.load(cpu, b); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            // an expert's few rows read the 16-bit weights as they lie: another summation order than the widened ones
            float[] kept = lg.toFloatArray();
            for (int i = 0; i < kept.length; i++) assertEquals(widened[i], kept[i], 1e-5 * (1 + Math.abs(widened[i])), "logit " + i);
            assertTrue(maxRelErr(kept, reference(r, seq, Routing.HF)) <= TOL);
        } finally {
            if (old == null) System.clearProperty("surpass.cpu.weights16");
            else System.setProperty("surpass.cpu.weights16", old);
        }
    }

    /** The host routing: softmax over all logits, the k largest (equal ones: the lower index first), renormalised or not. */
    @Test
    void routingPicksTheLargestProbabilities() {
        float[] logits = {0.5f, 2f, -1f, 2f, 1f, 9f /* another token's */};
        float[] p = new float[5], wts = new float[3];
        int[] top = new int[3];
        MoeMlp.route(logits, 0, 5, p, top, false, wts, 0);
        assertArrayEquals(new int[] {1, 3, 4}, top);
        double z = Math.exp(0.5) + 2 * Math.exp(2) + Math.exp(-1) + Math.exp(1);
        assertEquals(Math.exp(2) / z, wts[0], 1e-7);
        assertEquals(Math.exp(2) / z, wts[1], 1e-7);
        assertEquals(Math.exp(1) / z, wts[2], 1e-7);
        MoeMlp.route(logits, 0, 5, p, top, true, wts, 0);
        double kept = 2 * Math.exp(2) + Math.exp(1);
        assertEquals(Math.exp(2) / kept, wts[0], 1e-7);
        assertEquals(Math.exp(1) / kept, wts[2], 1e-7);
        assertEquals(1.0, wts[0] + wts[1] + wts[2], 1e-6);
    }

    @Test
    void configReadsAsHfDoes() throws IOException {
        // Mixtral's window: none unless sliding_window is set, then on every layer
        String noWindow = config("").replace(", \"sliding_window\": null", "");
        LlamaConfig c = Qwen2Test.parse(noWindow.replace(", \"rms_norm_eps\": 1e-6", "").replace(", \"rope_theta\": 10000.0", ""));
        assertArrayEquals(new int[] {-1, -1}, c.slidingWindows());
        assertEquals(1e-5f, c.rmsEps(), "MixtralConfig's rms_norm_eps");
        assertEquals(1e6, c.ropeTheta(), "MixtralConfig's rope_theta");
        assertTrue(!c.attentionBias() && !c.outputBias());
        assertArrayEquals(new int[] {6, 6}, Qwen2Test.parse(config("").replace("\"sliding_window\": null", "\"sliding_window\": 6")).slidingWindows());
        // HF's defaults: 8 experts, top-2
        MoeConfig d = Qwen2Test.parse(config("").replace("\"num_local_experts\": 4, \"num_experts_per_tok\": 2, ", "")).moe();
        assertEquals(8, d.experts());
        assertEquals(2, d.topK());
    }

    @Test
    void badConfigsAndCheckpointsAreRefusedByName() throws IOException {
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 5")));
        assertTrue(e.getMessage().contains("num_experts_per_tok") && e.getMessage().contains("num_local_experts"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_local_experts\": 4", "\"num_local_experts\": 0")));
        assertTrue(e.getMessage().contains("num_local_experts"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"num_local_experts\": 4", "\"num_local_experts\": -1")));
        assertTrue(e.getMessage().contains("num_local_experts"), e.getMessage());
        // a missing expert tensor, and a router of the wrong shape, named with the checkpoint
        Map<String, Entry> missing = entries(wm);
        missing.remove("model.layers.1.block_sparse_moe.experts.3.w2.weight");
        Path d = tmp.resolve("mixtral-missing");
        writeCheckpoint(d, config(""), missing, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d).close());
        assertTrue(e.getMessage().contains("model.layers.1.block_sparse_moe.experts.3.w2.weight"), e.getMessage());
        Path d2 = tmp.resolve("mixtral-more-experts");
        writeCheckpoint(d2, config("").replace("\"num_local_experts\": 4", "\"num_local_experts\": 5"), entries(wm), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d2).close());
        assertTrue(e.getMessage().contains("model.layers.0.block_sparse_moe.gate.weight") && e.getMessage().contains("model.safetensors"),
                e.getMessage());
        // a fused checkpoint with a misshapen down_proj
        Map<String, Entry> fused = entries(wm);
        for (int l = 0; l < NL; l++) MoeRef.fuse(fused, wm, l, Names.MIXTRAL, NE, FE);
        Entry down = fused.get("model.layers.0.mlp.experts.down_proj");
        fused.put("model.layers.0.mlp.experts.down_proj", new Entry(down.data(), NE, FE, E));
        Path d3 = tmp.resolve("mixtral-bad-fused");
        writeCheckpoint(d3, config(""), fused, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, d3).close());
        assertTrue(e.getMessage().contains("model.layers.0.mlp.experts.down_proj"), e.getMessage());
    }
}
