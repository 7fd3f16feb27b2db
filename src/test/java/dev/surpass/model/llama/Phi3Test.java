package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code Phi3ForCausalLM} through {@link Llama}: LlamaTest's weights stored as Phi-3 stores them —
 * q, k and v rows fused in {@code qkv_proj}, gate and up rows in {@code gate_up_proj} — with a
 * sliding window of 6 on every layer; the shared decode and batching checks, and the forward against
 * LlamaTest's float64 reference of the unfused weights.
 */
class Phi3Test extends DecoderModelSuite<Llama> {
    static String config(String extra) {
        return LlamaTest.config("null", false).replace("LlamaForCausalLM", "Phi3ForCausalLM").replace("\"llama\"", "\"phi3\"")
                .replace("\"rope_scaling\": null", "\"rope_scaling\": null, \"sliding_window\": 6" + extra);
    }

    /** LlamaTest's weights with q/k/v and gate/up fused as Phi-3 stores them. */
    static Map<String, Entry> fused() {
        Map<String, Entry> e = new LinkedHashMap<>(entries(w, true));
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            e.remove(p + "self_attn.q_proj.weight");
            e.remove(p + "self_attn.k_proj.weight");
            e.remove(p + "self_attn.v_proj.weight");
            e.remove(p + "mlp.gate_proj.weight");
            e.remove(p + "mlp.up_proj.weight");
            e.put(p + "self_attn.qkv_proj.weight", new Entry(concat(w.get(p + "self_attn.q_proj.weight"), w.get(p + "self_attn.k_proj.weight"),
                    w.get(p + "self_attn.v_proj.weight")), (HQ + 2L * HKV) * D, E));
            e.put(p + "mlp.gate_up_proj.weight", new Entry(concat(w.get(p + "mlp.gate_proj.weight"), w.get(p + "mlp.up_proj.weight")), 2L * F, E));
        }
        return e;
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    Phi3Test() {
        super("phi3", V, d -> writeCheckpoint(d, config(""), fused(), DType.F32, 1), Llama::load,
                new Cases(24, 9, new int[] {4, 12, 1, 7, 15, 2, 5, 3}, 5, new int[] {6, 3, 9, 2}, 6, 5));
    }

    @Test
    void forwardMatchesFloat64Reference() throws IOException {
        int[] windows = {6, 6};
        assertForwardMatches(new int[][] {ids(1, 30), ids(2, 30)}, seq -> reference(w, seq, invFreq(false), false, windows), TOL);
        assertArrayEquals(windows, model.config().slidingWindows());
        int[] seq = ids(3, 30);
        try (Tensor lg = Decoding.forward(model, new int[][] {seq})) {
            assertTrue(maxRelErr(lg.toFloatArray(), reference(w, seq, invFreq(false), false, new int[] {-1, -1})) > 100 * TOL, "the window matters");
        }
        // null: no window; LongRoPE factor lists must cover the rotary dims (16 here), named when they do not
        assertArrayEquals(new int[] {-1, -1}, Qwen2Test.parse(config("").replace("\"sliding_window\": 6", "\"sliding_window\": null")).slidingWindows());
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Test.parse(config("").replace("\"rope_scaling\": null",
                "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1.0], \"long_factor\": [1.0]}")));
        assertTrue(e.getMessage().contains("rope_scaling.short_factor") && e.getMessage().contains("16"), e.getMessage());
    }

    /** The fused rows kept 16-bit on the CPU (-Dsurpass.cpu.weights16) give the widened model's logits. */
    @Test
    void fusedRowsKeptSixteenBit() throws IOException {
        java.nio.file.Path d = tmp.resolve("phi3-bf16");
        writeCheckpoint(d, config(""), fused(), DType.BF16, 1);
        int[] seq = ids(5, 20);
        float[] widened;
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            widened = lg.toFloatArray();
        }
        String old = System.setProperty("surpass.cpu.weights16", "true");
        try (Llama m = Llama.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            assertArrayEquals(widened, lg.toFloatArray());
            assertTrue(maxRelErr(widened, reference(rounded(w, DType.BF16), seq, invFreq(false), false, new int[] {6, 6})) <= TOL);
        } finally {
            if (old == null) System.clearProperty("surpass.cpu.weights16");
            else System.setProperty("surpass.cpu.weights16", old);
        }
    }

    /** generation_config.json's eos_token_id (instruct models' end-of-turn ids) is what generate stops at by default, as in HF. */
    @Test
    void generationConfigEosIdsWin() throws IOException {
        java.nio.file.Path d = tmp.resolve("phi3-genconfig");
        writeCheckpoint(d, config(""), fused(), DType.F32, 1);
        var family = dev.surpass.cli.ModelFamilies.findGenerator(d);
        try (var g = family.open(cpu, d)) {
            assertArrayEquals(new int[] {2, 79}, g.defaultStopIds(), "config.json's");
        }
        java.nio.file.Files.writeString(d.resolve("generation_config.json"), "{\"bos_token_id\": 1, \"eos_token_id\": [2, 7, 32007]}");
        try (var g = family.open(cpu, d)) {
            assertArrayEquals(new int[] {2, 7, 32007}, g.defaultStopIds());
        }
        java.nio.file.Files.writeString(d.resolve("generation_config.json"), "{\"eos_token_id\": \"two\"}");
        var e = assertThrows(IllegalArgumentException.class, () -> family.open(cpu, d).close());
        assertTrue(e.getMessage().contains("generation_config.json") && e.getMessage().contains("eos_token_id"), e.getMessage());
    }
}
