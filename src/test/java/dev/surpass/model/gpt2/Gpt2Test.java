package dev.surpass.model.gpt2;

import static dev.surpass.model.decoder.RefMath.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.DecoderModelSuite;
import dev.surpass.model.decoder.DecoderSession;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.RefMath.Entry;
import dev.surpass.model.mamba.Sampling;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A tiny random GPT-2 (2 layers, n_embd 64, 2 heads of 32, n_inner 256, vocab 96, 40 positions)
 * saved in HF naming (with and without {@code transformer.}, fp32 and bf16), against a float64
 * straight-line reference of GPT2LMHeadModel; KV-cached decoding, batching and continuous batching
 * against the full forward.
 */
class Gpt2Test extends DecoderModelSuite<Gpt2> {
    static final int E = 64, NL = 2, H = 2, D = 32, F = 256, V = 96, P = 40;
    static final String CONFIG = "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2,"
            + " \"n_head\": 2, \"n_positions\": 40, \"n_ctx\": 40, \"vocab_size\": 96, \"layer_norm_epsilon\": 1e-5,"
            + " \"activation_function\": \"gelu_new\", \"n_inner\": null, \"eos_token_id\": 95}";

    static final Map<String, float[]> w = weights(new Random(20261127L));

    Gpt2Test() {
        // batch: 8 requests of lengths 1..17
        super("gpt2", V, d -> writeCheckpoint(d, CONFIG, entries(w, "transformer."), DType.F32, 1), Gpt2::load,
                new Cases(20, 7, new int[] {3, 11, 1, 6, 17, 2, 9, 4}, 6, new int[] {5, 8, 3, 4}, 7, 6));
    }

    static Map<String, float[]> weights(Random r) {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("wte.weight", fill(new float[V * E], r, 0.5));
        m.put("wpe.weight", fill(new float[P * E], r, 0.5));
        for (int l = 0; l < NL; l++) {
            String p = "h." + l + ".";
            m.put(p + "ln_1.weight", around1(E, r, 0.2));
            m.put(p + "ln_1.bias", fill(new float[E], r, 0.1));
            m.put(p + "attn.c_attn.weight", fill(new float[E * 3 * E], r, 1 / Math.sqrt(E)));
            m.put(p + "attn.c_attn.bias", fill(new float[3 * E], r, 0.1));
            m.put(p + "attn.c_proj.weight", fill(new float[E * E], r, 1 / Math.sqrt(E)));
            m.put(p + "attn.c_proj.bias", fill(new float[E], r, 0.1));
            m.put(p + "ln_2.weight", around1(E, r, 0.2));
            m.put(p + "ln_2.bias", fill(new float[E], r, 0.1));
            m.put(p + "mlp.c_fc.weight", fill(new float[E * F], r, 1 / Math.sqrt(E)));
            m.put(p + "mlp.c_fc.bias", fill(new float[F], r, 0.1));
            m.put(p + "mlp.c_proj.weight", fill(new float[F * E], r, 1 / Math.sqrt(F)));
            m.put(p + "mlp.c_proj.bias", fill(new float[E], r, 0.1));
        }
        m.put("ln_f.weight", around1(E, r, 0.2));
        m.put("ln_f.bias", fill(new float[E], r, 0.1));
        return m;
    }

    static Map<String, Entry> entries(Map<String, float[]> w, String prefix) {
        Map<String, Entry> e = new LinkedHashMap<>();
        for (var x : w.entrySet()) {
            String k = x.getKey();
            long[] shape;
            if (k.startsWith("wte")) shape = new long[] {V, E};
            else if (k.startsWith("wpe")) shape = new long[] {P, E};
            else if (k.endsWith("c_attn.weight")) shape = new long[] {E, 3 * E};          // Conv1D [in, out]
            else if (k.endsWith("c_attn.bias")) shape = new long[] {3 * E};
            else if (k.endsWith("attn.c_proj.weight")) shape = new long[] {E, E};
            else if (k.endsWith("c_fc.weight")) shape = new long[] {E, F};
            else if (k.endsWith("c_fc.bias")) shape = new long[] {F};
            else if (k.endsWith("mlp.c_proj.weight")) shape = new long[] {F, E};
            else shape = new long[] {E};
            e.put(prefix + k, new Entry(x.getValue(), shape));
        }
        return e;
    }

    /** float64 GPT2LMHeadModel on one sequence → logits [L][V]. */
    static double[][] reference(Map<String, float[]> w, int[] ids) {
        return reference(w, ids, dev.surpass.layers.ReferenceActivation::geluTanh);
    }

    /** The same with the MLP's activation {@code act}. */
    static double[][] reference(Map<String, float[]> w, int[] ids, java.util.function.DoubleUnaryOperator act) {
        int n = ids.length;
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = (double) w.get("wte.weight")[ids[t] * E + i] + w.get("wpe.weight")[t * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "h." + l + ".";
            double[][] a = layerNorm(x, w.get(p + "ln_1.weight"), w.get(p + "ln_1.bias"), 1e-5);
            double[][] qkv = conv1d(a, w.get(p + "attn.c_attn.weight"), w.get(p + "attn.c_attn.bias"), E, 3 * E);
            double[][] q = new double[n][], k = new double[n][], v = new double[n][];
            for (int t = 0; t < n; t++) {
                q[t] = java.util.Arrays.copyOfRange(qkv[t], 0, E);
                k[t] = java.util.Arrays.copyOfRange(qkv[t], E, 2 * E);
                v[t] = java.util.Arrays.copyOfRange(qkv[t], 2 * E, 3 * E);
            }
            double[][] o = causalAttention(q, k, v, H, H, D);
            addInPlace(x, conv1d(o, w.get(p + "attn.c_proj.weight"), w.get(p + "attn.c_proj.bias"), E, E));
            double[][] m = layerNorm(x, w.get(p + "ln_2.weight"), w.get(p + "ln_2.bias"), 1e-5);
            double[][] f = conv1d(m, w.get(p + "mlp.c_fc.weight"), w.get(p + "mlp.c_fc.bias"), E, F);
            for (double[] row : f) for (int i = 0; i < F; i++) row[i] = act.applyAsDouble(row[i]);
            addInPlace(x, conv1d(f, w.get(p + "mlp.c_proj.weight"), w.get(p + "mlp.c_proj.bias"), F, E));
        }
        double[][] hn = layerNorm(x, w.get("ln_f.weight"), w.get("ln_f.bias"), 1e-5);
        return linear(hn, w.get("wte.weight"), null, E, V); // tied head: wte [V, E]
    }

    // fp32 forward vs float64 over 2 layers of width 64: measured ≤ 4e-6 of (1 + |ref|); 1e-4 leaves margin
    // without hiding a real bug (a wrong bias or transpose moves logits by ~1e-1).
    static final double TOL = 1e-4;

    @Test
    void forwardMatchesFloat64Reference() {
        assertForwardMatches(new int[][] {ids(1, 13), ids(2, 13)}, seq -> reference(w, seq), TOL);
    }

    @Test
    void otherActivationFunctionsMatchTheirReferences() throws java.io.IOException {
        int[] seq = ids(7, 13);
        for (var c : new Object[][] {{"gelu", (java.util.function.DoubleUnaryOperator) dev.surpass.layers.ReferenceActivation::geluErf},
                                     {"silu", (java.util.function.DoubleUnaryOperator) dev.surpass.layers.ReferenceActivation::silu}}) {
            java.nio.file.Path d = tmp.resolve("gpt2-" + c[0]);
            writeCheckpoint(d, CONFIG.replace("\"gelu_new\"", "\"" + c[0] + "\""), entries(w, "transformer."), DType.F32, 1);
            try (Gpt2 m = Gpt2.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
                float[] got = lg.toFloatArray();
                double err = maxRelErr(got, reference(w, seq, (java.util.function.DoubleUnaryOperator) c[1]));
                assertTrue(err <= TOL, c[0] + ": max rel err " + err);
                assertTrue(maxRelErr(got, reference(w, seq)) > 10 * TOL, c[0] + " differs from the tanh GELU");
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> {
            java.nio.file.Path d = tmp.resolve("gpt2-relu6");
            writeCheckpoint(d, CONFIG.replace("\"gelu_new\"", "\"relu6\""), entries(w, "transformer."), DType.F32, 1);
            Gpt2.load(cpu, d).close();
        });
        assertTrue(e.getMessage().contains("relu6"), e.getMessage());
    }

    @Test
    void bf16CheckpointWithoutPrefixMatchesReferenceOfRoundedWeights() throws IOException {
        Map<String, float[]> r = rounded(w, DType.BF16);
        Path d = tmp.resolve("gpt2-bf16");
        Map<String, Entry> ent = entries(w, "");
        ent.put("lm_head.weight", new Entry(w.get("wte.weight"), V, E)); // some exports store the tied head too
        writeCheckpoint(d, CONFIG, ent, DType.BF16, 1);
        int[] seq = ids(3, 9);
        try (Gpt2 m = Gpt2.load(cpu, d); Tensor lg = Decoding.forward(m, new int[][] {seq})) {
            double err = maxRelErr(lg.toFloatArray(), reference(r, seq));
            assertTrue(err <= TOL, "bf16: max rel err " + err);
        }
    }

    @Test
    void generationStopsAtTheContextAndRejectsLongPromptsAndBadIds() {
        int[] p = ids(14, P - 3);
        int[] out = Decoding.generate(model, new int[][] {p}, 10, Sampling.greedy(), 1.0, null, null)[0];
        assertEquals(3, out.length, "prompt 37 + 3 tokens fill the 40-position context");
        var e = assertThrows(IllegalArgumentException.class,
                () -> Decoding.generate(model, new int[][] {ids(15, P + 1)}, 2, Sampling.greedy(), 1.0, null, null));
        assertTrue(e.getMessage().contains("context"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Decoding.generate(model, new int[][] {{1, V}}, 2, Sampling.greedy(), 1.0, null, null));
        assertTrue(e.getMessage().contains("prompt[1] = 96"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Decoding.forward(model, new int[][] {{1, -1}}));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
    }

    @Test
    void badCheckpointsNameTheTensorOrField() throws IOException {
        Path d = tmp.resolve("gpt2-missing");
        Map<String, Entry> ent = entries(w, "transformer.");
        ent.remove("transformer.h.1.mlp.c_fc.bias");
        writeCheckpoint(d, CONFIG, ent, DType.F32, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> Gpt2.load(cpu, d));
        assertTrue(e.getMessage().contains("transformer.h.1.mlp.c_fc.bias"), e.getMessage());

        Path d2 = tmp.resolve("gpt2-shape");
        ent = entries(w, "transformer.");
        ent.put("transformer.h.0.attn.c_attn.weight", new Entry(w.get("h.0.attn.c_attn.weight"), 3 * E, E)); // [out, in]: wrong
        writeCheckpoint(d2, CONFIG, ent, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2.load(cpu, d2));
        assertTrue(e.getMessage().contains("transformer.h.0.attn.c_attn.weight") && e.getMessage().contains("[64, 192]"), e.getMessage());

        Path d3 = tmp.resolve("gpt2-config");
        writeCheckpoint(d3, CONFIG.replace("\"n_head\": 2,", ""), entries(w, ""), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2.load(cpu, d3));
        assertTrue(e.getMessage().contains("n_head"), e.getMessage());
    }

    @Test
    void closedModelAndSessionThrow() throws IOException {
        Gpt2 m = Gpt2.load(cpu, dir);
        DecoderSession s = DecoderSession.create(m, 64, 8);
        s.close();
        assertThrows(IllegalStateException.class, () -> s.add(DecoderSession.Request.greedy(new int[] {1}, 2)));
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> Decoding.forward(m, new int[][] {{1}}));
    }

    @Test
    void registeredForForwardAndGenerate() throws IOException {
        ModelForward f = ModelFamilies.find(dir);
        assertTrue(f instanceof Gpt2Family, "family " + f);
        assertSame(f, ModelFamilies.findGenerator(dir));
        int[] seq = ids(16, 5);
        try (Tensor in = cpu.upload(seq, 1, 5)) {
            Map<String, Tensor> out = f.forward(cpu, dir, Map.of("input_ids", in));
            try (Tensor lg = out.get("logits"); Tensor ref = Decoding.forward(model, new int[][] {seq})) {
                assertEquals(java.util.List.of(1L, 5L, (long) V), java.util.Arrays.stream(lg.shape()).boxed().toList());
                assertTrue(java.util.Arrays.equals(ref.toFloatArray(), lg.toFloatArray()));
            }
        }
        try (var g = ((Gpt2Family) f).open(cpu, dir)) {
            assertEquals(95, g.defaultStopIds()[0]);
            int[][] got = g.generate(new int[][] {seq}, new dev.surpass.cli.ModelGenerate.Options(4, 0, 0, 1, 0, null), null);
            assertTrue(java.util.Arrays.equals(Decoding.generate(model, new int[][] {seq}, 4, Sampling.greedy(), 1.0, null, null)[0], got[0]));
        }
        assertTrue(Files.exists(dir.resolve("config.json")));
    }

    static String[] cli(String... args) {
        return dev.surpass.cli.CliRuns.run(args);
    }

    @Test
    void surpassGenerateAndForwardOnTheCommandLine() throws IOException {
        String[] r = cli("generate", "--model", dir.toString(), "--ids", "3,1,4,1,5", "--ids", "9 2", "--max-new-tokens", "5",
                "--temperature", "0.8", "--top-k", "10", "--top-p", "0.9", "--seed", "7", "--ignore-eos", "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        int[][] want = Decoding.generate(model, new int[][] {{3, 1, 4, 1, 5}, {9, 2}}, 5, new Sampling(0.8, 10, 0.9, 7), 1.0, null, null);
        java.util.List<String> lines = r[1].strip().lines().toList();
        for (int b = 0; b < 2; b++) {
            String ids = java.util.Arrays.stream(want[b]).mapToObj(String::valueOf).collect(java.util.stream.Collectors.joining(" "));
            assertTrue(lines.contains("[" + b + "] " + ids), r[1] + " lacks [" + b + "] " + ids);
        }
        assertTrue(r[2].contains("gpt2: 2 layers") && r[2].contains("tokens/s"), r[2]);

        Path in = tmp.resolve("ids.safetensors"), out = tmp.resolve("logits.safetensors");
        int[] seq = ids(17, 6);
        try (Tensor t = cpu.upload(seq, 1, 6)) {
            dev.surpass.io.SafeTensors.write(in, Map.of("input_ids", t));
        }
        r = cli("forward", "--model", dir.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        try (var f = dev.surpass.io.SafeTensors.open(out); Tensor got = f.tensor("logits", cpu)) {
            double err = maxRelErr(got.toFloatArray(), reference(w, seq));
            assertTrue(err <= TOL, "CLI forward: max rel err " + err);
        }
    }

    @Test
    void sessionRefusesRequestsBeyondItsCacheUntilOthersLeave() {
        try (DecoderSession s = DecoderSession.create(model, 16, 4)) {
            int a = s.add(DecoderSession.Request.greedy(ids(26, 6), 5));           // 10 cached tokens: 3 pages
            var e = assertThrows(IllegalStateException.class, () -> s.add(DecoderSession.Request.greedy(ids(27, 4), 3))); // 2 pages, 1 free
            assertTrue(e.getMessage().startsWith("session full"), e.getMessage());
            s.step();
            assertTrue(s.remove(a));
            int b = s.add(DecoderSession.Request.greedy(ids(27, 4), 3));
            s.runToCompletion();
            assertEquals(3, s.tokens(b).length);
        }
    }
}
