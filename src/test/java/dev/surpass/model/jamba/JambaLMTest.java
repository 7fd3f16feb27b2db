package dev.surpass.model.jamba;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.io.SafeTensors;
import dev.surpass.model.mamba.Sampling;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link JambaLM} on a tiny random HF-named checkpoint: hidden 64, 4 layers with attn_layer_period 2
 * / offset 1 (layers 1 and 3 attention, 2 query heads of 32 sharing 1 kv head; 0 and 2 Mamba with
 * d_state 6, d_conv 3, expand 2, dt_rank "auto" = 4), expert_layer_period 2 / offset 0 (layers 0
 * and 2 have 3 experts routed top-2; 1 and 3 a dense SwiGLU MLP of 40), vocab 53. Logits against
 * the float64 composition below (HF's eager JambaForCausalLM written out per token); decode against
 * full recomputation; batched generation with prompts of different lengths against one-by-one;
 * refusals by config field and tensor; no leaked allocations; CUDA against the CPU.
 */
class JambaLMTest {
    static final int H = 64, NL = 4, HQ = 2, HKV = 1, HD = 32, F = 40, NE = 3, TOPK = 2, N = 6, W = 3, DI = 128, R = 4, V = 53;
    static final double EPS = 1e-6;
    static final long SEED = 20260412L;
    static Device cpu;
    static Path tmp, dir;
    static Map<String, float[]> w = new LinkedHashMap<>();
    static Map<String, long[]> shapes = new LinkedHashMap<>();

    static boolean attn(int l) {
        return l % 2 == 1;
    }

    static boolean moe(int l) {
        return l % 2 == 0;
    }

    static String config(String extra) {
        return "{\"architectures\": [\"JambaForCausalLM\"], \"model_type\": \"jamba\", \"vocab_size\": 53, \"hidden_size\": 64,"
                + " \"intermediate_size\": 40, \"num_hidden_layers\": 4, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
                + " \"hidden_act\": \"silu\", \"rms_norm_eps\": 1e-6, \"num_experts\": 3, \"num_experts_per_tok\": 2,"
                + " \"expert_layer_period\": 2, \"expert_layer_offset\": 0, \"attn_layer_period\": 2, \"attn_layer_offset\": 1,"
                + " \"use_mamba_kernels\": false, \"mamba_d_state\": 6, \"mamba_d_conv\": 3, \"mamba_expand\": 2,"
                + " \"mamba_dt_rank\": \"auto\", \"mamba_conv_bias\": true, \"mamba_proj_bias\": false,"
                + " \"tie_word_embeddings\": false, \"eos_token_id\": 2" + extra + "}";
    }

    static void put(Random r, String name, double scale, double offset, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (offset + scale * r.nextGaussian());
        w.put(name, v);
        shapes.put(name, shape);
    }

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        tmp = Files.createTempDirectory("jamba-test");
        Random r = new Random(SEED);
        put(r, "model.embed_tokens.weight", 1, 0, V, H);
        put(r, "model.final_layernorm.weight", 0.1, 1, H);
        put(r, "lm_head.weight", 1 / Math.sqrt(H), 0, V, H);
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            put(r, p + "input_layernorm.weight", 0.1, 1, H);
            put(r, p + "pre_ff_layernorm.weight", 0.1, 1, H);
            if (attn(l)) {
                put(r, p + "self_attn.q_proj.weight", 1 / Math.sqrt(H), 0, HQ * HD, H);
                put(r, p + "self_attn.k_proj.weight", 1 / Math.sqrt(H), 0, HKV * HD, H);
                put(r, p + "self_attn.v_proj.weight", 1 / Math.sqrt(H), 0, HKV * HD, H);
                put(r, p + "self_attn.o_proj.weight", 1 / Math.sqrt(HQ * HD), 0, H, HQ * HD);
            } else {
                String m = p + "mamba.";
                put(r, m + "in_proj.weight", 1 / Math.sqrt(H), 0, 2 * DI, H);
                put(r, m + "conv1d.weight", 0.3, 0, DI, 1, W);
                put(r, m + "conv1d.bias", 0.1, 0, DI);
                put(r, m + "x_proj.weight", 3 / Math.sqrt(DI), 0, R + 2 * N, DI);
                put(r, m + "dt_proj.weight", 0.3, 0, DI, R);
                put(r, m + "dt_proj.bias", 0.5, -3, DI);
                float[] aLog = new float[DI * N];
                for (int i = 0; i < aLog.length; i++) aLog[i] = (float) (Math.log(1 + i % N) + 0.1 * r.nextGaussian());
                w.put(m + "A_log", aLog);
                shapes.put(m + "A_log", new long[] {DI, N});
                put(r, m + "D", 0.1, 1, DI);
                put(r, m + "out_proj.weight", 1 / Math.sqrt(DI), 0, H, DI);
                put(r, m + "dt_layernorm.weight", 0.2, 1, R);
                put(r, m + "b_layernorm.weight", 0.2, 1, N);
                put(r, m + "c_layernorm.weight", 0.2, 1, N);
            }
            String f = p + "feed_forward.";
            if (moe(l)) {
                put(r, f + "router.weight", 2 / Math.sqrt(H), 0, NE, H);
                for (int j = 0; j < NE; j++) mlp(r, f + "experts." + j + ".");
            } else {
                mlp(r, f);
            }
        }
        dir = write("base", config(""), null);
    }

    private static void mlp(Random r, String p) {
        put(r, p + "gate_proj.weight", 1 / Math.sqrt(H), 0, F, H);
        put(r, p + "up_proj.weight", 1 / Math.sqrt(H), 0, F, H);
        put(r, p + "down_proj.weight", 1 / Math.sqrt(F), 0, H, F);
    }

    /** Writes the weights (edited by {@code edit} on a copy, may be null) and {@code config} to a new folder. */
    static Path write(String name, String config, Consumer<Map<String, float[]>> edit) throws IOException {
        return write(name, config, edit, DType.F32);
    }

    static Path write(String name, String config, Consumer<Map<String, float[]>> edit, DType dtype) throws IOException {
        Path d = Files.createDirectories(tmp.resolve(name));
        Files.writeString(d.resolve("config.json"), config);
        Map<String, float[]> data = new LinkedHashMap<>(w);
        if (edit != null) edit.accept(data);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (var e : data.entrySet()) {
                long[] s = shapes.get(e.getKey());
                if (e.getValue().length != Arrays.stream(s).reduce(1, (a, b) -> a * b)) s = new long[] {e.getValue().length};
                tensors.put(e.getKey(), cpu.upload(dtype, e.getValue(), s));
            }
            SafeTensors.write(d.resolve("model.safetensors"), tensors);
        } finally {
            for (Tensor t : tensors.values()) t.close();
        }
        return d;
    }

    @AfterAll
    static void tearDown() throws IOException {
        cpu.close();
        try (var walk = Files.walk(tmp)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // float64 reference (HF's eager forward, one sequence, token by token)

    /** Deliberately wrong variants, to show the comparison can fail. */
    enum Variant { EXACT, RENORMALISED_TOPK, NO_DT_BC_NORM_WEIGHTS, ROPE_LESS_SCALE }

    static double[] wd(String k) {
        float[] f = w.get(k);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** {@code W [out, in] · x}. */
    static double[] mv(String k, double[] x) {
        float[] m = w.get(k);
        int in = x.length, out = m.length / in;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < in; i++) s += (double) m[o * in + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    static double[] rms(double[] x, double[] wt) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double inv = 1 / Math.sqrt(ss / x.length + EPS);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = (wt == null ? 1 : wt[i]) * x[i] * inv;
        return y;
    }

    static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }

    static double[] swiglu(String p, double[] x) {
        double[] g = mv(p + "gate_proj.weight", x), u = mv(p + "up_proj.weight", x);
        for (int i = 0; i < g.length; i++) g[i] = silu(g[i]) * u[i];
        return mv(p + "down_proj.weight", g);
    }

    /** Logits {@code [L][V]} of one sequence. */
    static double[][] reference(int[] ids, Variant variant) {
        int len = ids.length;
        double[][] h = new double[len][];
        double[] emb = wd("model.embed_tokens.weight");
        for (int t = 0; t < len; t++) h[t] = Arrays.copyOfRange(emb, ids[t] * H, ids[t] * H + H);
        for (int l = 0; l < NL; l++) {
            String p = "model.layers." + l + ".";
            double[][] x = new double[len][];
            for (int t = 0; t < len; t++) x[t] = rms(h[t], wd(p + "input_layernorm.weight"));
            double[][] mix = attn(l) ? attention(p + "self_attn.", x, variant) : mamba(p + "mamba.", x, variant);
            for (int t = 0; t < len; t++) {
                for (int i = 0; i < H; i++) h[t][i] += mix[t][i];
                double[] y = rms(h[t], wd(p + "pre_ff_layernorm.weight"));
                double[] ff = moe(l) ? mixture(p + "feed_forward.", y, variant) : swiglu(p + "feed_forward.", y);
                for (int i = 0; i < H; i++) h[t][i] += ff[i];
            }
        }
        double[][] out = new double[len][];
        for (int t = 0; t < len; t++) out[t] = mv("lm_head.weight", rms(h[t], wd("model.final_layernorm.weight")));
        return out;
    }

    static double[][] attention(String p, double[][] x, Variant variant) {
        int len = x.length;
        double[][] q = new double[len][], k = new double[len][], v = new double[len][], out = new double[len][];
        for (int t = 0; t < len; t++) {
            q[t] = mv(p + "q_proj.weight", x[t]);
            k[t] = mv(p + "k_proj.weight", x[t]);
            v[t] = mv(p + "v_proj.weight", x[t]);
        }
        double scale = variant == Variant.ROPE_LESS_SCALE ? 1.0 / HD : 1 / Math.sqrt(HD);
        for (int t = 0; t < len; t++) {
            double[] o = new double[HQ * HD];
            for (int hh = 0; hh < HQ; hh++) {
                int kh = hh / (HQ / HKV);
                double[] s = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u <= t; u++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++) d += q[t][hh * HD + i] * k[u][kh * HD + i];
                    s[u] = d * scale;
                    max = Math.max(max, s[u]);
                }
                double sum = 0;
                for (int u = 0; u <= t; u++) sum += s[u] = Math.exp(s[u] - max);
                for (int u = 0; u <= t; u++) for (int i = 0; i < HD; i++) o[hh * HD + i] += s[u] / sum * v[u][kh * HD + i];
            }
            out[t] = mv(p + "o_proj.weight", o);
        }
        return out;
    }

    static double[][] mamba(String p, double[][] x, Variant variant) {
        int len = x.length;
        double[] cw = wd(p + "conv1d.weight"), cb = wd(p + "conv1d.bias"), dtB = wd(p + "dt_proj.bias"), aLog = wd(p + "A_log"), dd = wd(p + "D");
        boolean norms = variant != Variant.NO_DT_BC_NORM_WEIGHTS;
        double[][] xs = new double[len][], zs = new double[len][];
        for (int t = 0; t < len; t++) {
            double[] xz = mv(p + "in_proj.weight", x[t]);
            xs[t] = Arrays.copyOfRange(xz, 0, DI);
            zs[t] = Arrays.copyOfRange(xz, DI, 2 * DI);
        }
        double[][] state = new double[DI][N];
        double[][] out = new double[len][];
        for (int t = 0; t < len; t++) {
            double[] xc = new double[DI];
            for (int c = 0; c < DI; c++) {
                double s = cb[c];
                for (int j = 0; j < W; j++) {
                    int u = t - (W - 1) + j;
                    if (u >= 0) s += cw[c * W + j] * xs[u][c];
                }
                xc[c] = silu(s);
            }
            double[] dbc = mv(p + "x_proj.weight", xc);
            double[] dt = rms(Arrays.copyOfRange(dbc, 0, R), norms ? wd(p + "dt_layernorm.weight") : null);
            double[] b = rms(Arrays.copyOfRange(dbc, R, R + N), norms ? wd(p + "b_layernorm.weight") : null);
            double[] cc = rms(Arrays.copyOfRange(dbc, R + N, R + 2 * N), norms ? wd(p + "c_layernorm.weight") : null);
            double[] delta = mv(p + "dt_proj.weight", dt);
            double[] y = new double[DI];
            for (int c = 0; c < DI; c++) {
                double dl = delta[c] + dtB[c];
                dl = dl > 20 ? dl : Math.log1p(Math.exp(dl));
                double s = 0;
                for (int n = 0; n < N; n++) {
                    state[c][n] = Math.exp(-Math.exp(aLog[c * N + n]) * dl) * state[c][n] + dl * b[n] * xc[c];
                    s += state[c][n] * cc[n];
                }
                y[c] = (s + dd[c] * xc[c]) * silu(zs[t][c]);
            }
            out[t] = mv(p + "out_proj.weight", y);
        }
        return out;
    }

    static double[] mixture(String p, double[] x, Variant variant) {
        double[] logits = mv(p + "router.weight", x);
        double max = Arrays.stream(logits).max().orElseThrow(), sum = 0;
        double[] pr = new double[NE];
        for (int e = 0; e < NE; e++) sum += pr[e] = Math.exp(logits[e] - max);
        for (int e = 0; e < NE; e++) pr[e] /= sum;
        boolean[] taken = new boolean[NE];
        int[] top = new int[TOPK];
        double total = 0;
        for (int j = 0; j < TOPK; j++) {
            int best = -1;
            for (int e = 0; e < NE; e++) if (!taken[e] && (best < 0 || pr[e] > pr[best])) best = e;
            taken[best] = true;
            top[j] = best;
            total += pr[best];
        }
        double[] y = new double[H];
        for (int j = 0; j < TOPK; j++) {
            double[] o = swiglu(p + "experts." + top[j] + ".", x);
            double wt = variant == Variant.RENORMALISED_TOPK ? pr[top[j]] / total : pr[top[j]];
            for (int i = 0; i < H; i++) y[i] += wt * o[i];
        }
        return y;
    }

    // ---------------------------------------------------------------------------------------------

    static int[] randomIds(Random r, int len) {
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) ids[i] = r.nextInt(V);
        return ids;
    }

    /** Worst per-position rel L2 of {@code got} (rows of V from {@code off}) against {@code ref}. */
    static double worst(float[] got, int off, double[][] ref) {
        double worst = 0;
        for (int t = 0; t < ref.length; t++) {
            double num = 0, den = 0;
            for (int v = 0; v < V; v++) {
                double d = got[off + t * V + v] - ref[t][v];
                num += d * d;
                den += ref[t][v] * ref[t][v];
            }
            worst = Math.max(worst, Math.sqrt(num / den));
        }
        return worst;
    }

    @Test
    void logitsMatchFloat64ReferenceAndTheVariantsDoNot() {
        Random r = new Random(SEED + 1);
        int len = 11;
        int[][] ids = {randomIds(r, len), randomIds(r, len)};
        try (JambaLM lm = JambaLM.load(cpu, dir); Tensor lg = lm.forward(ids)) {
            assertArrayEquals(new long[] {2, len, V}, lg.shape());
            float[] got = lg.toFloatArray();
            for (int b = 0; b < 2; b++) {
                double err = worst(got, b * len * V, reference(ids[b], Variant.EXACT));
                assertTrue(err < 2e-6, "sequence " + b + ": rel L2 " + err);
                for (Variant wrong : new Variant[] {Variant.RENORMALISED_TOPK, Variant.NO_DT_BC_NORM_WEIGHTS, Variant.ROPE_LESS_SCALE}) {
                    double e = worst(got, b * len * V, reference(ids[b], wrong));
                    assertTrue(e > 1e-3, wrong + " should differ, rel L2 " + e);
                }
            }
        }
    }

    @Test
    void decodeMatchesFullRecomputation() {
        Random r = new Random(SEED + 2);
        int[][] prompts = {randomIds(r, 5), randomIds(r, 9)};
        int steps = 7;
        try (JambaLM lm = JambaLM.load(cpu, dir); JambaState st = lm.newState(2, 9 + steps)) {
            int[][] seq = {prompts[0].clone(), prompts[1].clone()};
            for (int b = 0; b < 2; b++) {
                try (Tensor lg = lm.prefill(st, b, prompts[b]); Tensor full = lm.forward(new int[][] {prompts[b]})) {
                    assertArrayEquals(full.toFloatArray(), lg.toFloatArray(), 0f, "prefill into a state = forward");
                }
            }
            for (int i = 0; i < steps; i++) {
                int[] tok = {r.nextInt(V), r.nextInt(V)};
                float[] got;
                try (Tensor lg = lm.step(st, tok)) {
                    got = lg.toFloatArray();
                }
                for (int b = 0; b < 2; b++) {
                    seq[b] = Arrays.copyOf(seq[b], seq[b].length + 1);
                    seq[b][seq[b].length - 1] = tok[b];
                    try (Tensor full = lm.forward(new int[][] {seq[b]})) {
                        float[] f = full.toFloatArray();
                        double num = 0, den = 0;
                        for (int v = 0; v < V; v++) {
                            double d = got[b * V + v] - f[(seq[b].length - 1) * V + v];
                            num += d * d;
                            den += (double) f[(seq[b].length - 1) * V + v] * f[(seq[b].length - 1) * V + v];
                        }
                        assertTrue(Math.sqrt(num / den) < 1e-5, "step " + i + " sequence " + b + ": rel L2 " + Math.sqrt(num / den));
                    }
                    double ref = worst(got, b * V, new double[][] {reference(seq[b], Variant.EXACT)[seq[b].length - 1]});
                    assertTrue(ref < 2e-6, "step " + i + " sequence " + b + " vs float64: " + ref);
                }
            }
        }
    }

    /** HF's repetition_penalty: each greedy token is the argmax of the full recomputation after the seen tokens' logits are penalised. */
    @Test
    void repetitionPenaltyFollowsHf() {
        Random r = new Random(SEED + 4);
        int[][] prompts = {randomIds(r, 5), randomIds(r, 3)};
        double pen = 1.8;
        try (JambaLM lm = JambaLM.load(cpu, dir)) {
            int[][] got = lm.generate(prompts, 10, Sampling.greedy(), dev.surpass.model.mamba.LogitsRules.repetitionPenalty(pen), null, null);
            int[][] plain = lm.generate(prompts, 10, Sampling.greedy(), null, null);
            boolean differs = false;
            for (int b = 0; b < prompts.length; b++) {
                differs |= !Arrays.equals(plain[b], got[b]);
                int[] seq = prompts[b].clone();
                java.util.BitSet seen = new java.util.BitSet();
                for (int t : seq) seen.set(t);
                for (int t : got[b]) {
                    float[] f;
                    try (Tensor lg = lm.forward(new int[][] {seq})) {
                        f = lg.toFloatArray();
                    }
                    Sampling.penalize(f, (seq.length - 1) * V, V, seen, pen);
                    assertEquals(Sampling.greedy().pick(f, (seq.length - 1) * V, V, null), t, "sequence " + b);
                    seen.set(t);
                    seq = Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = t;
                }
            }
            assertTrue(differs, "the penalty changes the picks");
        }
    }

    @Test
    void batchedGenerationEqualsOneByOne() {
        Random r = new Random(SEED + 3);
        int[][] prompts = {randomIds(r, 3), randomIds(r, 10), randomIds(r, 6)};
        try (JambaLM lm = JambaLM.load(cpu, dir)) {
            for (Sampling s : new Sampling[] {Sampling.greedy(), new Sampling(0.9, 20, 0.95, 77)}) {
                int[][] all = lm.generate(prompts, 12, s, null, null);
                for (int b = 0; b < prompts.length; b++) {
                    assertEquals(12, all[b].length);
                    // sequence b samples from stream b: alone it must be given that stream, so compare greedy only one by one
                    if (s.temperature() == 0) assertArrayEquals(lm.generate(new int[][] {prompts[b]}, 12, s, null, null)[0], all[b], "prompt " + b);
                }
                if (s.temperature() == 0) {
                    // greedy ids equal the argmax of the full recomputation of each prefix
                    int[] seq = prompts[1].clone();
                    for (int t : all[1]) {
                        try (Tensor lg = lm.forward(new int[][] {seq})) {
                            float[] f = lg.toFloatArray();
                            assertEquals(Sampling.greedy().pick(f, (seq.length - 1) * V, V, null), t);
                        }
                        seq = Arrays.copyOf(seq, seq.length + 1);
                        seq[seq.length - 1] = t;
                    }
                } else {
                    // the same seed gives the same tokens; each row's stream does not depend on the batch
                    assertArrayEquals(all[2], lm.generate(new int[][] {prompts[0], prompts[1], prompts[2]}, 12, s, null, null)[2]);
                    assertArrayEquals(all[1], lm.generate(new int[][] {prompts[2], prompts[1]}, 12, s, null, null)[1]);
                }
            }
            // a stop id ends its sequence (and is returned)
            int[] g = lm.generate(new int[][] {prompts[0]}, 12, Sampling.greedy(), null, null)[0];
            int[] stopped = lm.generate(new int[][] {prompts[0]}, 12, Sampling.greedy(), new int[] {g[3]}, null)[0];
            int first = 0;
            while (g[first] != g[3]) first++;
            assertArrayEquals(Arrays.copyOf(g, first + 1), stopped);
        }
    }

    /** A BF16 checkpoint is widened on load: the same logits as an F32 checkpoint of the BF16-rounded values. */
    @Test
    void sixteenBitCheckpointIsWidened() throws IOException {
        Path bf16 = write("bf16", config(""), null, DType.BF16);
        Path rounded = write("rounded", config(""), m -> m.replaceAll((k, v) -> {
            try (Tensor t = cpu.upload(DType.BF16, v, v.length)) {
                return t.toFloatArray();
            }
        }));
        int[][] ids = {randomIds(new Random(SEED + 7), 9)};
        try (JambaLM a = JambaLM.load(cpu, bf16); JambaLM b = JambaLM.load(cpu, rounded); JambaLM f32 = JambaLM.load(cpu, dir);
             Tensor la = a.forward(ids); Tensor lb = b.forward(ids); Tensor lf = f32.forward(ids)) {
            assertArrayEquals(lb.toFloatArray(), la.toFloatArray(), 0f);
            double[][] ref = new double[9][V];
            float[] f = lf.toFloatArray();
            for (int t = 0; t < 9; t++) for (int v = 0; v < V; v++) ref[t][v] = f[t * V + v];
            double err = worst(la.toFloatArray(), 0, ref);
            assertTrue(err > 1e-4 && err < 0.1, "BF16 rounding should show, moderately: rel L2 " + err);
        }
    }

    @Test
    void tiedHeadUsesTheEmbedding() throws IOException {
        Path tied = write("tied", config("").replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"),
                m -> m.remove("lm_head.weight"));
        float[] saved = w.get("lm_head.weight");
        w.put("lm_head.weight", w.get("model.embed_tokens.weight"));
        try (JambaLM lm = JambaLM.load(cpu, tied); Tensor lg = lm.forward(new int[][] {randomIds(new Random(SEED + 4), 6)})) {
            assertTrue(lm.tiedHead());
            int[] ids = randomIds(new Random(SEED + 4), 6);
            assertTrue(worst(lg.toFloatArray(), 0, reference(ids, Variant.EXACT)) < 2e-6);
        } finally {
            w.put("lm_head.weight", saved);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JambaLM.load(cpu, write("untied-missing", config(""), m -> m.remove("lm_head.weight"))));
        assertTrue(e.getMessage().contains("lm_head.weight") && e.getMessage().contains("tie_word_embeddings"), e.getMessage());
    }

    @Test
    void refusesUnsupportedConfigsAndBadTensorsByName() throws IOException {
        String[][] cases = {
                {", \"mamba_proj_bias\": true", "mamba_proj_bias"},
                {", \"hidden_act\": \"gelu\"", "hidden_act"},
                {", \"attn_layer_offset\": 2", "attn_layer_offset"},
                {", \"expert_layer_offset\": 3", "expert_layer_offset"},
                {", \"num_experts_per_tok\": 4", "num_experts_per_tok"},
                {", \"num_key_value_heads\": 3", "num_key_value_heads"},
                {", \"num_attention_heads\": 4", "head dim"},
                {", \"mamba_d_conv\": 1", "mamba_d_conv"},
        };
        int k = 0;
        for (String[] c : cases) {
            Path d = Files.createDirectories(tmp.resolve("bad" + k++));
            // later keys win in config(): the extra ones are appended after the defaults
            Files.writeString(d.resolve("config.json"), config(c[0]));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JambaLM.load(cpu, d), c[1]);
            assertTrue(e.getMessage().contains(c[1]), c[1] + ": " + e.getMessage());
        }
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> JambaLM.load(cpu, write("missing", config(""), m -> m.remove("model.layers.2.mamba.c_layernorm.weight"))));
        assertTrue(missing.getMessage().contains("model.layers.2.mamba.c_layernorm.weight"), missing.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> JambaLM.load(cpu, write("shape", config(""), m -> m.put("model.layers.0.feed_forward.router.weight", new float[4 * H]))));
        assertTrue(shape.getMessage().contains("router.weight"), shape.getMessage());
        try (JambaLM lm = JambaLM.load(cpu, dir)) {
            IllegalArgumentException id = assertThrows(IllegalArgumentException.class, () -> lm.forward(new int[][] {{1, V}}));
            assertTrue(id.getMessage().contains("token id " + V), id.getMessage());
            assertThrows(IllegalArgumentException.class, () -> lm.forward(new int[][] {{1, 2}, {3}}));
            IllegalArgumentException big = assertThrows(IllegalArgumentException.class,
                    () -> lm.generate(new int[][] {{1, 2}}, 262143, Sampling.greedy(), null, null));
            assertTrue(big.getMessage().contains("max_position_embeddings"), big.getMessage());
        }
    }

    @Test
    void freesEverythingItAllocates() {
        long before = cpu.liveAllocations();
        try (JambaLM lm = JambaLM.load(cpu, dir)) {
            try (Tensor lg = lm.forward(new int[][] {randomIds(new Random(5), 8)})) {
                assertEquals(8L * V, lg.numel());
            }
            lm.generate(new int[][] {{1, 2, 3}, {4, 5}}, 5, Sampling.greedy(), null, null);
            lm.generate(new int[][] {{1, 2, 3}}, 5, new Sampling(1.0, 0, 1.0, 3), null, null);
        }
        assertEquals(before, cpu.liveAllocations(), "live allocations after close");
        // a failed load frees what it uploaded
        assertThrows(IllegalArgumentException.class,
                () -> JambaLM.load(cpu, write("leak", config(""), m -> m.remove("model.final_layernorm.weight"))));
        assertEquals(before, cpu.liveAllocations(), "live allocations after a failed load");
    }

    @Test
    void wiredIntoForwardAndGenerate() {
        assertInstanceOf(JambaForward.class, ModelFamilies.find(dir));
        assertInstanceOf(JambaForward.class, ModelFamilies.findGenerator(dir));
        try (var g = new JambaForward().open(cpu, dir)) {
            assertArrayEquals(new int[] {2}, g.defaultStopIds());
            assertTrue(g.describe().contains("2 attention, 2 mamba"), g.describe());
        }
    }

    @Test
    @Tag("gpu")
    void cudaMatchesCpu() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(SEED + 6);
        int[][] prompts = {randomIds(r, 13), randomIds(r, 13)};
        try (Device gpu = Device.cuda(0); JambaLM c = JambaLM.load(cpu, dir); JambaLM g = JambaLM.load(gpu, dir)) {
            try (Tensor a = c.forward(prompts); Tensor b = g.forward(prompts)) {
                float[] fa = a.toFloatArray(), fb = b.toFloatArray();
                for (int s = 0; s < 2; s++) {
                    double[][] ref = new double[13][V];
                    for (int t = 0; t < 13; t++) for (int v = 0; v < V; v++) ref[t][v] = fa[(s * 13 + t) * V + v];
                    double err = worst(fb, s * 13 * V, ref);
                    assertTrue(err < 1e-4, "sequence " + s + " CUDA vs CPU rel L2 " + err);
                }
            }
            try (JambaState sc = c.newState(2, 30); JambaState sg = g.newState(2, 30)) {
                for (int b = 0; b < 2; b++) {
                    try (Tensor x = c.prefill(sc, b, prompts[b]); Tensor y = g.prefill(sg, b, prompts[b])) {
                        assertEquals(x.numel(), y.numel());
                    }
                }
                for (int i = 0; i < 8; i++) {
                    int[] tok = {r.nextInt(V), r.nextInt(V)};
                    try (Tensor x = c.step(sc, tok); Tensor y = g.step(sg, tok)) {
                        float[] fx = x.toFloatArray(), fy = y.toFloatArray();
                        for (int b = 0; b < 2; b++) {
                            double[][] ref = new double[1][V];
                            for (int v = 0; v < V; v++) ref[0][v] = fx[b * V + v];
                            double err = worst(fy, b * V, ref);
                            assertTrue(err < 1e-4, "step " + i + " row " + b + " CUDA vs CPU rel L2 " + err);
                        }
                    }
                }
            }
            assertArrayEquals(c.generate(prompts, 10, Sampling.greedy(), null, null)[1], g.generate(prompts, 10, Sampling.greedy(), null, null)[1]);
        }
    }
}
