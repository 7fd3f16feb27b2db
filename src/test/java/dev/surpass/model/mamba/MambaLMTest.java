package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.cli.ModelForward;
import dev.surpass.io.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A small random Mamba-1 LM (d_model 32, 2 layers, d_state 8, vocab 50 padded to 56, d_conv 4,
 * expand 2) written in the mamba_ssm and the HF namings, checked against a float64 straight-line
 * reference of the block, and prefill + decode against re-running the full sequence.
 */
class MambaLMTest {
    static final int DM = 32, NL = 2, N = 8, V = 50, VP = 56, W = 4, DI = 64, R = 2;
    static final long SEED = 20261127L;

    @TempDir
    static Path tmp;

    static Device cpu;
    static Weights weights;
    static Path ssmDir, hfDir;

    /** Host copies of every weight, row-major in the checkpoint's layout. */
    static final class Weights {
        float[] emb = new float[VP * DM], head = new float[VP * DM], normF = new float[DM];
        float[][] norm = new float[NL][], inProj = new float[NL][], convW = new float[NL][], convB = new float[NL][],
                xProj = new float[NL][], dtW = new float[NL][], dtB = new float[NL][], aLog = new float[NL][],
                d = new float[NL][], outW = new float[NL][];

        Weights(long seed) {
            Random r = new Random(seed);
            fill(emb, r, 1.0);
            fill(head, r, 0.5);
            for (int i = 0; i < DM; i++) normF[i] = 1 + 0.2f * (r.nextFloat() - 0.5f);
            for (int l = 0; l < NL; l++) {
                norm[l] = new float[DM];
                for (int i = 0; i < DM; i++) norm[l][i] = 1 + 0.2f * (r.nextFloat() - 0.5f);
                inProj[l] = fill(new float[2 * DI * DM], r, 1 / Math.sqrt(DM));
                convW[l] = fill(new float[DI * W], r, 0.5);
                convB[l] = fill(new float[DI], r, 0.2);
                xProj[l] = fill(new float[(R + 2 * N) * DI], r, 1 / Math.sqrt(DI));
                dtW[l] = fill(new float[DI * R], r, 1 / Math.sqrt(R));
                dtB[l] = new float[DI];
                for (int c = 0; c < DI; c++) {
                    double dt = Math.exp(Math.log(1e-3) + r.nextDouble() * (Math.log(0.1) - Math.log(1e-3)));
                    dtB[l][c] = (float) (dt + Math.log(-Math.expm1(-dt))); // inverse softplus
                }
                aLog[l] = new float[DI * N];
                for (int c = 0; c < DI; c++) for (int n = 0; n < N; n++) aLog[l][c * N + n] = (float) Math.log(n + 1);
                d[l] = new float[DI];
                for (int c = 0; c < DI; c++) d[l][c] = 1 + 0.1f * (r.nextFloat() - 0.5f);
                outW[l] = fill(new float[DM * DI], r, 1 / Math.sqrt(DI));
            }
        }

        /** The same weights rounded to {@code t} (what a 16-bit checkpoint of them holds). */
        Weights rounded(DType t) {
            Weights w = new Weights(SEED);
            for (float[] a : w.all()) for (int i = 0; i < a.length; i++) a[i] = t.round(a[i]);
            return w;
        }

        List<float[]> all() {
            List<float[]> l = new ArrayList<>(List.of(emb, head, normF));
            for (float[][] per : new float[][][] {norm, inProj, convW, convB, xProj, dtW, dtB, aLog, d, outW}) l.addAll(List.of(per));
            return l;
        }

        static float[] fill(float[] a, Random r, double scale) {
            for (int i = 0; i < a.length; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale * Math.sqrt(3));
            return a;
        }
    }

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        weights = new Weights(SEED);
        ssmDir = write("mamba_ssm", weights, Naming.SSM, Head.TIED, ssmConfig(true), null);
        hfDir = write("hf", weights, Naming.HF, Head.COPY, hfConfig(), null);
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    enum Naming { SSM, HF }

    enum Head { TIED, COPY, UNTIED }

    static String ssmConfig(boolean tie) {
        return "{\"d_model\": 32, \"n_layer\": 2, \"vocab_size\": 50, \"ssm_cfg\": {\"d_state\": 8, \"d_conv\": 4, \"expand\": 2},"
                + " \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": true, \"pad_vocab_size_multiple\": 8,"
                + " \"tie_embeddings\": " + tie + "}";
    }

    static String hfConfig() {
        return "{\"architectures\": [\"MambaForCausalLM\"], \"model_type\": \"mamba\", \"hidden_size\": 32, \"num_hidden_layers\": 2,"
                + " \"vocab_size\": 50, \"pad_vocab_size_multiple\": 8, \"state_size\": 8, \"expand\": 2, \"conv_kernel\": 4,"
                + " \"intermediate_size\": 64, \"time_step_rank\": \"auto\", \"layer_norm_epsilon\": 1e-5, \"use_bias\": false,"
                + " \"use_conv_bias\": true, \"residual_in_fp32\": true, \"tie_word_embeddings\": true}";
    }

    /** Writes a checkpoint folder; {@code edit} may change the tensor map (drop or reshape one). */
    static Path write(String name, Weights w, Naming naming, Head head, String config,
                      java.util.function.Consumer<Map<String, float[]>> edit) throws IOException {
        return write(name, w, naming, head, config, edit, k -> DType.F32);
    }

    /** As above, each tensor stored in {@code dtypeOf.apply(name)} (values rounded to it). */
    static Path write(String name, Weights w, Naming naming, Head head, String config,
                      java.util.function.Consumer<Map<String, float[]>> edit,
                      java.util.function.Function<String, DType> dtypeOf) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config);
        Map<String, float[]> data = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        String p = "backbone.";
        put(data, shapes, p + (naming == Naming.HF ? "embeddings.weight" : "embedding.weight"), w.emb, VP, DM);
        for (int l = 0; l < NL; l++) {
            String lp = p + "layers." + l + ".";
            String mp = lp + "mixer.";
            put(data, shapes, mp + "A_log", w.aLog[l], DI, N);
            put(data, shapes, mp + "D", w.d[l], DI);
            put(data, shapes, mp + "in_proj.weight", w.inProj[l], 2 * DI, DM);
            put(data, shapes, mp + "conv1d.weight", w.convW[l], DI, 1, W);
            put(data, shapes, mp + "conv1d.bias", w.convB[l], DI);
            put(data, shapes, mp + "x_proj.weight", w.xProj[l], R + 2 * N, DI);
            put(data, shapes, mp + "dt_proj.weight", w.dtW[l], DI, R);
            put(data, shapes, mp + "dt_proj.bias", w.dtB[l], DI);
            put(data, shapes, mp + "out_proj.weight", w.outW[l], DM, DI);
            put(data, shapes, lp + "norm.weight", w.norm[l], DM);
        }
        put(data, shapes, p + "norm_f.weight", w.normF, DM);
        if (head == Head.COPY) put(data, shapes, "lm_head.weight", w.emb.clone(), VP, DM);
        if (head == Head.UNTIED) put(data, shapes, "lm_head.weight", w.head, VP, DM);
        if (edit != null) {
            Map<String, float[]> both = new LinkedHashMap<>(data);
            edit.accept(both);
            for (String k : new ArrayList<>(data.keySet())) if (!both.containsKey(k)) data.remove(k);
            for (var e : both.entrySet()) {
                if (data.get(e.getKey()) != e.getValue()) {
                    // a reshaped tensor: the edit put a new array; make it 2-D [len / last, last] of the old last dim + 1
                    long[] s = shapes.get(e.getKey()).clone();
                    s[s.length - 1] = e.getValue().length / (data.get(e.getKey()).length / s[s.length - 1]);
                    data.put(e.getKey(), e.getValue());
                    shapes.put(e.getKey(), s);
                }
            }
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (var e : data.entrySet()) tensors.put(e.getKey(), cpu.upload(dtypeOf.apply(e.getKey()), e.getValue(), shapes.get(e.getKey())));
            SafeTensors.write(dir.resolve("model.safetensors"), tensors);
        } finally {
            for (Tensor t : tensors.values()) t.close();
        }
        return dir;
    }

    static void put(Map<String, float[]> data, Map<String, long[]> shapes, String name, float[] v, long... shape) {
        data.put(name, v);
        shapes.put(name, shape);
    }

    // ---------------------------------------------------------------------------------------------
    // float64 straight-line reference of MambaLMHeadModel on one sequence → logits [L][VP]

    static double[][] reference(Weights w, float[] head, int[] ids) {
        return reference(w, head, ids, 0);
    }

    /**
     * As above; {@code mixEps > 0} adds FalconMamba's weight-free RMSNorm (epsilon {@code mixEps})
     * of each token's dt, B and C after x_proj.
     */
    static double[][] reference(Weights w, float[] head, int[] ids, double mixEps) {
        return lmReference(w.emb, w.norm, w.normF, head, ids, (l, hn) -> {
            int len = hn.length;
            double[][] x = new double[len][DI], z = new double[len][DI];
            for (int t = 0; t < len; t++) {
                for (int c = 0; c < DI; c++) {
                    double sx = 0, sz = 0;
                    for (int k = 0; k < DM; k++) {
                        sx += w.inProj[l][c * DM + k] * hn[t][k];
                        sz += w.inProj[l][(DI + c) * DM + k] * hn[t][k];
                    }
                    x[t][c] = sx;
                    z[t][c] = sz;
                }
            }
            double[][] xc = causalConvSilu(x, 0, DI, w.convW[l], w.convB[l]);
            double[][] y = new double[len][DI];
            double[][] state = new double[DI][N];
            for (int t = 0; t < len; t++) {
                double[] dbl = new double[R + 2 * N];
                for (int o = 0; o < R + 2 * N; o++) {
                    double s = 0;
                    for (int c = 0; c < DI; c++) s += w.xProj[l][o * DI + c] * xc[t][c];
                    dbl[o] = s;
                }
                if (mixEps > 0) {
                    normalise(dbl, 0, R, mixEps);
                    normalise(dbl, R, N, mixEps);
                    normalise(dbl, R + N, N, mixEps);
                }
                for (int c = 0; c < DI; c++) {
                    double dt = w.dtB[l][c];
                    for (int r = 0; r < R; r++) dt += w.dtW[l][c * R + r] * dbl[r];
                    if (dt <= 20) dt = Math.log1p(Math.exp(dt));
                    double acc = 0;
                    for (int n = 0; n < N; n++) {
                        double a = -Math.exp(w.aLog[l][c * N + n]);
                        state[c][n] = Math.exp(dt * a) * state[c][n] + dt * dbl[R + n] * xc[t][c];
                        acc += state[c][n] * dbl[R + N + n];
                    }
                    acc += w.d[l][c] * xc[t][c];
                    y[t][c] = acc * silu(z[t][c]);
                }
            }
            double[][] out = new double[len][DM];
            for (int t = 0; t < len; t++) {
                for (int m = 0; m < DM; m++) {
                    double s = 0;
                    for (int c = 0; c < DI; c++) s += w.outW[l][m * DI + c] * y[t][c];
                    out[t][m] = s;
                }
            }
            return out;
        });
    }

    /** One layer's mixer in the float64 references: its normed input {@code [len][d_model]} → its output. */
    @FunctionalInterface
    interface MixerRef {
        double[][] apply(int layer, double[][] normed);
    }

    /**
     * The LM skeleton both Mamba references share (mamba_ssm's Add → Norm → Mixer, HF's
     * residual + mixer(norm(h)): the same sums): embedding rows, per layer the residual add, RMSNorm
     * and {@code mixer}, then RMSNorm_f of the last sum and the head → logits {@code [len][VP]}.
     */
    static double[][] lmReference(float[] emb, float[][] norm, float[] normF, float[] head, int[] ids, MixerRef mixer) {
        int len = ids.length;
        double[][] h = new double[len][DM];
        for (int t = 0; t < len; t++) for (int k = 0; k < DM; k++) h[t][k] = emb[ids[t] * DM + k];
        double[][] residual = null;
        for (int l = 0; l < norm.length; l++) {
            if (residual == null) {
                residual = h;
            } else {
                for (int t = 0; t < len; t++) for (int k = 0; k < DM; k++) residual[t][k] += h[t][k];
            }
            double[][] hn = new double[len][];
            for (int t = 0; t < len; t++) hn[t] = rms(residual[t], norm[l]);
            h = mixer.apply(l, hn);
        }
        double[][] logits = new double[len][VP];
        for (int t = 0; t < len; t++) {
            double[] f = new double[DM];
            for (int k = 0; k < DM; k++) f[k] = h[t][k] + residual[t][k];
            double[] fn = rms(f, normF);
            for (int v = 0; v < VP; v++) {
                double s = 0;
                for (int k = 0; k < DM; k++) s += head[v * DM + k] * fn[k];
                logits[t][v] = s;
            }
        }
        return logits;
    }

    /**
     * silu(depthwise causal conv) over channels {@code [from, from + channels)} of rows {@code in[t]}
     * (width W, weights {@code [channels, W]}, bias {@code [channels]}) → {@code [len][channels]}.
     */
    static double[][] causalConvSilu(double[][] in, int from, int channels, float[] convW, float[] convB) {
        double[][] out = new double[in.length][channels];
        for (int t = 0; t < in.length; t++) {
            for (int c = 0; c < channels; c++) {
                double s = convB[c];
                for (int k = 0; k < W; k++) {
                    int j = t - (W - 1) + k;
                    if (j >= 0) s += convW[c * W + k] * in[j][from + c];
                }
                out[t][c] = silu(s);
            }
        }
        return out;
    }

    static double[] rms(double[] x, float[] wt) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double inv = 1 / Math.sqrt(ss / x.length + 1e-5);
        double[] o = new double[x.length];
        for (int i = 0; i < x.length; i++) o[i] = x[i] * inv * wt[i];
        return o;
    }

    /** {@code v[from, from + n)} divided by its RMS (with {@code eps} under the root), in place. */
    static void normalise(double[] v, int from, int n, double eps) {
        double ss = 0;
        for (int i = from; i < from + n; i++) ss += v[i] * v[i];
        double inv = 1 / Math.sqrt(ss / n + eps);
        for (int i = from; i < from + n; i++) v[i] *= inv;
    }

    static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }

    static double relL2(float[] got, int off, double[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < want.length; i++) {
            double d = got[off + i] - want[i];
            num += d * d;
            den += want[i] * want[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    /** Equal up to the run-to-run jitter of the multithreaded CPU kernels. */
    static void assertClose(Tensor want, Tensor got) {
        assertArrayEquals(want.shape(), got.shape());
        float[] w = want.toFloatArray();
        double[] wd = new double[w.length];
        for (int i = 0; i < w.length; i++) wd[i] = w[i];
        double err = relL2(got.toFloatArray(), 0, wd);
        assertTrue(err < 1e-6, "rel L2 " + err);
    }

    static int[] randomIds(Random r, int len) {
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) ids[i] = r.nextInt(V);
        return ids;
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void configsOfBothNamingsAgree() {
        MambaConfig a = MambaConfig.load(ssmDir), b = MambaConfig.load(hfDir);
        assertEquals(a, b);
        assertEquals(DI, a.dInner());
        assertEquals(R, a.dtRank());
        assertEquals(VP, a.paddedVocab());
        assertEquals(V, a.vocabSize());
        assertTrue(MambaConfig.looksLikeMamba(ssmDir));
        assertTrue(MambaConfig.looksLikeMamba(hfDir));
    }

    @Test
    void bothNamingsGiveIdenticalLogits() {
        int[][] ids = {randomIds(new Random(SEED + 1), 13), randomIds(new Random(SEED + 2), 13)};
        try (MambaLM a = MambaLM.load(cpu, ssmDir); MambaLM b = MambaLM.load(cpu, hfDir);
             Tensor la = a.forward(ids); Tensor lb = b.forward(ids)) {
            assertEquals(MambaLM.Naming.MAMBA_SSM, a.naming());
            assertEquals(MambaLM.Naming.HF, b.naming());
            assertTrue(a.tiedHead());
            assertArrayEquals(new long[] {2, 13, VP}, la.shape());
            // The loaded weights are bit-identical...
            List<Tensor> wa = a.weightTensors(), wb = b.weightTensors();
            assertEquals(wa.size(), wb.size());
            for (int i = 0; i < wa.size(); i++) assertArrayEquals(wa.get(i).toFloatArray(), wb.get(i).toFloatArray(), "weight " + i);
            // ...so the logits agree to the run-to-run jitter of the multithreaded CPU kernels.
            float[] fa = la.toFloatArray(), fb = lb.toFloatArray();
            double[] want = new double[fb.length];
            for (int i = 0; i < fb.length; i++) want[i] = fb[i];
            double err = relL2(fa, 0, want);
            assertTrue(err < 1e-6, "rel L2 " + err + " (seed " + SEED + ")");
        }
    }

    @Test
    void forwardMatchesFloat64Reference() {
        Random r = new Random(SEED + 3);
        int[][] ids = {randomIds(r, 1), randomIds(r, 1)};
        check(ssmDir, weights.emb, ids);
        for (int len : new int[] {3, 17}) check(ssmDir, weights.emb, new int[][] {randomIds(r, len), randomIds(r, len)});
    }

    @Test
    void untiedHeadIsUsed() throws IOException {
        Path dir = write("untied", weights, Naming.SSM, Head.UNTIED, ssmConfig(false), null);
        check(dir, weights.head, new int[][] {randomIds(new Random(SEED + 4), 9)});
        try (MambaLM lm = MambaLM.load(cpu, dir)) {
            assertTrue(!lm.tiedHead());
        }
    }

    static void check(Path dir, float[] head, int[][] ids) {
        check(dir, weights, head, ids);
    }

    static void check(Path dir, Weights weights, float[] head, int[][] ids) {
        try (MambaLM lm = MambaLM.load(cpu, dir); Tensor logits = lm.forward(ids)) {
            float[] got = logits.toFloatArray();
            int len = ids[0].length;
            for (int b = 0; b < ids.length; b++) {
                double[][] want = reference(weights, head, ids[b]);
                for (int t = 0; t < len; t++) {
                    double err = relL2(got, (b * len + t) * VP, want[t]);
                    assertTrue(err < 1e-5, "b " + b + " t " + t + " L " + len + ": rel L2 " + err + " (seed " + SEED + ")");
                }
            }
        }
    }

    @Test
    void prefillThenDecodeMatchesFullForward() {
        Random r = new Random(SEED + 5);
        int prompt = 7, steps = 20, batch = 2;
        int[][] seqs = new int[batch][prompt + steps];
        for (int b = 0; b < batch; b++) System.arraycopy(randomIds(r, prompt), 0, seqs[b], 0, prompt);
        try (MambaLM lm = MambaLM.load(cpu, hfDir); MambaState st = lm.newState(batch)) {
            List<float[]> stepLogits = greedyChain(st, seqs, prompt, steps);
            int[][] p = new int[batch][];
            for (int b = 0; b < batch; b++) p[b] = java.util.Arrays.copyOf(seqs[b], prompt);
            assertEquals(prompt + steps - 1, st.position());
            try (Tensor full = lm.forward(seqs)) {
                float[] f = full.toFloatArray();
                int len = prompt + steps;
                for (int i = 0; i < stepLogits.size(); i++) {
                    int t = prompt - 1 + i;
                    for (int b = 0; b < batch; b++) {
                        double[] want = new double[VP];
                        for (int v = 0; v < VP; v++) want[v] = f[(b * len + t) * VP + v];
                        double err = relL2(stepLogits.get(i), b * VP, want);
                        assertTrue(err < 1e-5, "step " + i + " b " + b + ": rel L2 " + err + " (seed " + SEED + ")");
                    }
                }
            }
            // generate() with greedy sampling follows the same chain
            int[] gen = lm.generate(p[0], steps, Sampling.greedy(), null);
            assertArrayEquals(java.util.Arrays.copyOfRange(seqs[0], prompt, prompt + steps), gen);
        }
    }

    /**
     * Prefills {@code seqs[b][0, prompt)} into the fresh {@code st}, then greedily decodes {@code steps}
     * tokens into {@code seqs[b][prompt, prompt + steps)} ({@code steps − 1} steps: the last token is
     * picked, not fed). Returns the logits {@code [B·VP]} of positions {@code prompt − 1, …, prompt +
     * steps − 2}: the prefill's last, then each step's.
     */
    static List<float[]> greedyChain(MambaState st, int[][] seqs, int prompt, int steps) {
        int batch = seqs.length;
        List<float[]> out = new ArrayList<>();
        int[][] p = new int[batch][];
        for (int b = 0; b < batch; b++) p[b] = java.util.Arrays.copyOf(seqs[b], prompt);
        float[] last = new float[batch * VP];
        try (Tensor lg = st.prefill(p)) {
            float[] all = lg.toFloatArray();
            for (int b = 0; b < batch; b++) System.arraycopy(all, (b * prompt + prompt - 1) * VP, last, b * VP, VP);
        }
        out.add(last);
        for (int i = 0; i < steps; i++) {
            int[] tok = new int[batch];
            for (int b = 0; b < batch; b++) {
                tok[b] = Sampling.greedy().pick(last, b * VP, V, null);
                seqs[b][prompt + i] = tok[b];
            }
            if (i + 1 == steps) break;
            try (Tensor lg = st.step(tok)) {
                assertArrayEquals(new long[] {batch, VP}, lg.shape());
                last = lg.toFloatArray();
            }
            out.add(last);
        }
        return out;
    }

    @Test
    void chunkedPrefillEqualsOnePrefill() {
        int[] ids = randomIds(new Random(SEED + 6), 11);
        try (MambaLM lm = MambaLM.load(cpu, ssmDir); MambaState st = lm.newState(1); Tensor full = lm.forward(new int[][] {ids})) {
            st.prefill(new int[][] {java.util.Arrays.copyOf(ids, 5)}).close();
            try (Tensor rest = st.prefill(new int[][] {java.util.Arrays.copyOfRange(ids, 5, 11)})) {
                float[] f = full.toFloatArray(), g = rest.toFloatArray();
                double[] want = new double[6 * VP];
                for (int i = 0; i < want.length; i++) want[i] = f[5 * VP + i];
                assertTrue(relL2(g, 0, want) < 1e-5);
            }
        }
    }

    @Test
    void samplingIsSeededAndStaysInVocab() {
        int[] prompt = randomIds(new Random(SEED + 7), 4);
        Sampling s = new Sampling(0.9, 20, 0.95, 42);
        try (MambaLM lm = MambaLM.load(cpu, ssmDir)) {
            List<Integer> streamed = new ArrayList<>();
            int[] a = lm.generate(prompt, 12, s, streamed::add);
            int[] b = lm.generate(prompt, 12, s, null);
            assertArrayEquals(a, b);
            assertEquals(12, streamed.size());
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], streamed.get(i));
                assertTrue(a[i] >= 0 && a[i] < V, "token " + a[i] + " outside the real vocab");
            }
            int[] top1 = lm.generate(prompt, 6, new Sampling(1.0, 1, 1.0, 3), null);
            assertArrayEquals(lm.generate(prompt, 6, Sampling.greedy(), null), top1);
        }
        assertThrows(IllegalArgumentException.class, () -> new Sampling(-1, 0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1, 0, 0, 0));
    }

    @Test
    void forwardFamilyIsRegistered() {
        ModelForward f = ModelFamilies.find(hfDir);
        assertNotNull(f, "no family accepts " + hfDir);
        assertEquals("mamba", f.family());
        assertNotNull(ModelFamilies.find(ssmDir));
        int[][] ids = {randomIds(new Random(SEED + 8), 5)};
        long[] flat = new long[5];
        for (int i = 0; i < 5; i++) flat[i] = ids[0][i];
        try (Tensor in = cpu.upload(flat, 1, 5); MambaLM lm = MambaLM.load(cpu, hfDir); Tensor want = lm.forward(ids)) {
            Map<String, Tensor> out = f.forward(cpu, hfDir, Map.of("input_ids", in));
            try (Tensor got = out.get("logits")) {
                assertClose(want, got);
            }
            var e = assertThrows(IllegalArgumentException.class, () -> f.forward(cpu, hfDir, Map.of("ids", in)));
            assertTrue(e.getMessage().contains("input_ids"), e.getMessage());
        }
    }

    @Test
    void surpassForwardCommandWritesLogits() {
        Path in = tmp.resolve("cli-inputs.safetensors"), out = tmp.resolve("cli-logits.safetensors");
        int[] ids = randomIds(new Random(SEED + 9), 6);
        try (Tensor t = cpu.upload(ids, 2, 3)) {
            SafeTensors.write(in, Map.of("input_ids", t));
        }
        java.io.StringWriter so = new java.io.StringWriter(), se = new java.io.StringWriter();
        int code = dev.surpass.cli.Main.run(new java.io.PrintWriter(so, true), new java.io.PrintWriter(se, true),
                "forward", "--model", ssmDir.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals(0, code, so + "\n" + se);
        try (var f = SafeTensors.open(out); Tensor got = f.tensor("logits", cpu); MambaLM lm = MambaLM.load(cpu, ssmDir);
             Tensor want = lm.forward(new int[][] {java.util.Arrays.copyOf(ids, 3), java.util.Arrays.copyOfRange(ids, 3, 6)})) {
            assertArrayEquals(new long[] {2, 3, VP}, got.shape());
            assertClose(want, got);
        }
    }

    @Test
    void badConfigNamesFileAndField() throws IOException {
        Path dir = tmp.resolve("badcfg");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "{\"n_layer\": 2, \"vocab_size\": 50}");
        var e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir));
        assertTrue(e.getMessage().contains("d_model") && e.getMessage().contains("config.json"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"d_model\": 32, \"n_layer\": \"two\", \"vocab_size\": 50}");
        e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir));
        assertTrue(e.getMessage().contains("n_layer") && e.getMessage().contains("config.json"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"d_model\": 32, \"n_layer\": 2, \"vocab_size\": 50, \"ssm_cfg\": {\"d_conv\": 0}}");
        e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir));
        assertTrue(e.getMessage().contains("d_conv"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"d_model\": 32, \"n_layer\": 2, \"vocab_size\": 50, \"tie_embeddings\": \"yes\"}");
        e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir));
        assertTrue(e.getMessage().contains("tie_embeddings"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{not json");
        e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    @Test
    void missingOrMisshapenTensorIsNamed() throws IOException {
        String gone = "backbone.layers.1.mixer.D";
        Path dir = write("missing", weights, Naming.SSM, Head.TIED, ssmConfig(true), m -> m.remove(gone));
        var e = assertThrows(IllegalArgumentException.class, () -> MambaLM.load(cpu, dir));
        assertTrue(e.getMessage().contains(gone), e.getMessage());

        String bad = "backbone.layers.0.mixer.A_log";
        Path dir2 = write("misshapen", weights, Naming.SSM, Head.TIED, ssmConfig(true), m -> m.put(bad, new float[DI * (N + 1)]));
        e = assertThrows(IllegalArgumentException.class, () -> MambaLM.load(cpu, dir2));
        assertTrue(e.getMessage().contains(bad) && e.getMessage().contains("[64, 9]") && e.getMessage().contains("[64, 8]"), e.getMessage());

        Path dir3 = write("untied-missing", weights, Naming.SSM, Head.TIED, ssmConfig(false), null);
        e = assertThrows(IllegalArgumentException.class, () -> MambaLM.load(cpu, dir3));
        assertTrue(e.getMessage().contains("lm_head.weight"), e.getMessage());

        try (MambaLM lm = MambaLM.load(cpu, ssmDir)) {
            e = assertThrows(IllegalArgumentException.class, () -> lm.forward(new int[][] {{1, 2, VP}}));
            assertTrue(e.getMessage().contains("token id " + VP), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> lm.forward(new int[][] {{1, 2}, {3}}));
            assertTrue(e.getMessage().contains("inputIds[1]"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------------------------------------
    // 16-bit checkpoints, batched generation, `surpass generate`

    @Test
    void bf16AndF16CheckpointsLoadWidenedToF32() throws IOException {
        int[][] ids = {randomIds(new Random(SEED + 10), 11), randomIds(new Random(SEED + 11), 11)};
        for (DType t : new DType[] {DType.BF16, DType.F16}) {
            Weights w16 = weights.rounded(t);
            String name = t.name().toLowerCase(java.util.Locale.ROOT);
            // everything 16-bit (HF save_pretrained of a bf16/fp16 model) ...
            Path all16 = write(name, w16, Naming.HF, Head.TIED, hfConfig(), null, k -> t);
            // ... or 16-bit matrices with A_log, D and the norms in fp32 (mamba_ssm's mixed checkpoints)
            Path mixed = write(name + "-mixed", w16, Naming.SSM, Head.TIED, ssmConfig(true), null,
                    k -> k.endsWith("A_log") || k.endsWith(".D") || k.contains("norm") ? DType.F32 : t);
            Path f32 = write(name + "-as-f32", w16, Naming.HF, Head.TIED, hfConfig(), null, k -> DType.F32);
            try (var f = dev.surpass.io.SafeTensors.open(all16.resolve("model.safetensors"))) {
                assertEquals(t, f.info("backbone.layers.0.mixer.in_proj.weight").dtype(), "the test must write a 16-bit file");
            }
            try (MambaLM a = MambaLM.load(cpu, all16); MambaLM b = MambaLM.load(cpu, mixed); MambaLM c = MambaLM.load(cpu, f32);
                 Tensor la = a.forward(ids); Tensor lb = b.forward(ids); Tensor lc = c.forward(ids)) {
                List<Tensor> wa = a.weightTensors(), wb = b.weightTensors(), wc = c.weightTensors();
                for (int i = 0; i < wa.size(); i++) {
                    assertEquals(DType.F32, wa.get(i).dtype());
                    assertArrayEquals(wc.get(i).toFloatArray(), wa.get(i).toFloatArray(), t + " weight " + i);
                    assertArrayEquals(wc.get(i).toFloatArray(), wb.get(i).toFloatArray(), t + " mixed weight " + i);
                }
                assertClose(lc, la);
                assertClose(lc, lb);
            }
            check(all16, w16, w16.emb, ids); // and the float64 reference of the rounded weights
        }
    }

    @Test
    void batchedGenerationWithRaggedPromptsMatchesOneByOne() {
        Random r = new Random(SEED + 12);
        int[][] prompts = {randomIds(r, 3), randomIds(r, 9), randomIds(r, 1)};
        int steps = 8;
        try (MambaLM lm = MambaLM.load(cpu, ssmDir)) {
            List<int[]> streamed = new ArrayList<>();
            int[][] batch = lm.generate(prompts, steps, Sampling.greedy(), null, (b, t) -> streamed.add(new int[] {b, t}));
            assertEquals(3 * steps, streamed.size());
            for (int b = 0; b < prompts.length; b++) {
                int[] alone = lm.generate(prompts[b], steps, Sampling.greedy(), null);
                assertArrayEquals(alone, batch[b], "sequence " + b + " (seed " + SEED + ")");
                int k = 0;
                for (int[] e : streamed) if (e[0] == b) assertEquals(batch[b][k++], e[1], "streamed token of sequence " + b);
            }
            // A stop id ends only the sequences that emit it; the stop token itself is returned.
            int stop = batch[1][2];
            int[][] stopped = lm.generate(prompts, steps, Sampling.greedy(), new int[] {stop}, null);
            for (int b = 0; b < prompts.length; b++) {
                int end = 0;
                while (end < steps && batch[b][end] != stop) end++;
                int[] want = java.util.Arrays.copyOf(batch[b], Math.min(steps, end + 1));
                assertArrayEquals(want, stopped[b], "sequence " + b + " with stop id " + stop);
            }
            // Sampling: repeatable, and sequence 0 of a batch samples like a lone prompt with the same seed.
            Sampling s = new Sampling(1.3, 0, 1.0, 77);
            int[][] s1 = lm.generate(prompts, steps, s, null, null), s2 = lm.generate(prompts, steps, s, null, null);
            for (int b = 0; b < prompts.length; b++) assertArrayEquals(s1[b], s2[b]);
            assertArrayEquals(lm.generate(prompts[0], steps, s, null), s1[0]);
            var e = assertThrows(IllegalArgumentException.class, () -> lm.generate(new int[][] {{1}, {}}, 2, Sampling.greedy(), null, null));
            assertTrue(e.getMessage().contains("prompts[1]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> lm.generate(new int[][] {{1}, {2, VP}}, 2, Sampling.greedy(), null, null));
            assertTrue(e.getMessage().contains("prompts[1]") && e.getMessage().contains(String.valueOf(VP)), e.getMessage());
        }
    }

    /**
     * HF's repetition_penalty: each greedy token is the argmax of the full recomputation's last logits after the logits of
     * the tokens the sequence holds (prompt and picks so far) are divided (positive) or multiplied (negative) by it; the
     * penalty changes what is picked, and 1 is the device-argmax path's result.
     */
    @Test
    void repetitionPenaltyFollowsHf() {
        Random r = new Random(SEED + 13);
        int[][] prompts = {randomIds(r, 4), randomIds(r, 7)};
        int steps = 10;
        double pen = 1.8;
        try (MambaLM lm = MambaLM.load(cpu, ssmDir)) {
            int[][] got = lm.generate(prompts, steps, Sampling.greedy(), LogitsRules.repetitionPenalty(pen), null, null);
            for (int b = 0; b < prompts.length; b++) {
                int[] seq = prompts[b].clone();
                java.util.BitSet seen = new java.util.BitSet();
                for (int t : seq) seen.set(t);
                for (int t : got[b]) {
                    float[] f;
                    try (Tensor lg = lm.forward(new int[][] {seq})) {
                        f = lg.toFloatArray();
                    }
                    int w = lm.logitsWidth(), off = (seq.length - 1) * w, best = -1;
                    double bestV = Double.NEGATIVE_INFINITY;
                    for (int v = 0; v < V; v++) {
                        double x = f[off + v];
                        if (seen.get(v)) x = x < 0 ? x * pen : x / pen;
                        if (x > bestV) {
                            bestV = x;
                            best = v;
                        }
                    }
                    assertEquals(best, t, "sequence " + b + " after " + seq.length + " tokens");
                    seen.set(t);
                    seq = java.util.Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = t;
                }
            }
            int[][] plain = lm.generate(prompts, steps, Sampling.greedy(), null, null);
            assertArrayEquals(plain[0], lm.generate(prompts, steps, Sampling.greedy(), LogitsRules.NONE, null, null)[0]);
            assertTrue(!java.util.Arrays.equals(plain[0], got[0]) || !java.util.Arrays.equals(plain[1], got[1]), "the penalty changes the picks");
            var e = assertThrows(IllegalArgumentException.class, () -> lm.generate(prompts, 2, Sampling.greedy(), new LogitsRules(0.0, 0, 0), null, null));
            assertTrue(e.getMessage().contains("repetitionPenalty"), e.getMessage());
            // no-repeat n-grams and min new tokens: each pick is the argmax after LogitsRules over the sequence so far
            LogitsRules rules = new LogitsRules(1.0, 2, 6);
            int stop = plain[0][1];
            int[][] ng = lm.generate(prompts, steps, Sampling.greedy(), rules, new int[] {stop}, null);
            for (int b = 0; b < prompts.length; b++) {
                int[] seq = prompts[b].clone();
                for (int k = 0; k < ng[b].length; k++) {
                    float[] f;
                    try (Tensor lg = lm.forward(new int[][] {seq})) {
                        f = lg.toFloatArray();
                    }
                    int off = (seq.length - 1) * lm.logitsWidth();
                    rules.apply(f, off, V, seq, seq.length, k, new int[] {stop});
                    assertEquals(Sampling.greedy().pick(f, off, V, null), ng[b][k], "n-gram rules, sequence " + b);
                    seq = java.util.Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = ng[b][k];
                }
                for (int k = 0; k < ng[b].length && k < 6; k++) assertTrue(ng[b][k] != stop, "no stop id before 6 new tokens");
                for (int i = 0; i + 2 <= seq.length; i++) {
                    for (int j = i + 1; j + 2 <= seq.length; j++) {
                        assertTrue(seq[i] != seq[j] || seq[i + 1] != seq[j + 1] || j + 1 < prompts[b].length, "bigram repeated in sequence " + b);
                    }
                }
            }
        }
    }

    /** A byte-level BPE tokenizer.json whose ids fit the test model's 50: space, a-z, a few merges, EOS 49. */
    static String tinyTokenizerJson() {
        StringBuilder v = new StringBuilder("\"\u0120\": 0");
        for (char c = 'a'; c <= 'z'; c++) v.append(", \"").append(c).append("\": ").append(c - 'a' + 1);
        String[] merges = {"h e", "l l", "he ll", "hell o", "\u0120 w", "o r", "\u0120w or", "l d", "\u0120wor ld"};
        StringBuilder m = new StringBuilder();
        for (int i = 0; i < merges.length; i++) {
            v.append(", \"").append(merges[i].replace(" ", "")).append("\": ").append(27 + i);
            m.append(i > 0 ? ", " : "").append('"').append(merges[i]).append('"');
        }
        return "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 49, \"content\": \"<|endoftext|>\", \"single_word\": false,"
                + " \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}], \"normalizer\": null,"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
                + " \"post_processor\": null, \"decoder\": {\"type\": \"ByteLevel\"},"
                + " \"model\": {\"type\": \"BPE\", \"unk_token\": null, \"vocab\": {" + v + "}, \"merges\": [" + m + "]}}";
    }

    static String[] cli(String... args) {
        return dev.surpass.cli.CliRuns.run(args);
    }

    @Test
    void surpassGenerateStreamsIdsAndText() throws IOException {
        assertNotNull(ModelFamilies.findGenerator(hfDir));
        int[] p0 = {3, 1, 4, 1, 5}, p1 = {9, 2};
        try (MambaLM lm = MambaLM.load(cpu, ssmDir)) {
            // ids in, ids out (no tokenizer in the folder)
            String[] r = cli("generate", "--model", ssmDir.toString(), "--ids", "3,1,4,1,5", "--max-new-tokens", "6", "--device", "cpu");
            assertEquals("0", r[0], r[1] + r[2]);
            int[] want = lm.generate(p0, 6, Sampling.greedy(), null);
            assertEquals(java.util.Arrays.stream(want).mapToObj(String::valueOf).collect(java.util.stream.Collectors.joining(" ")), r[1].strip());
            assertTrue(r[2].contains("tokens/s"), r[2]);
            // a batch of two prompts with sampling: one "[i] ids" line each, as the model's batched generate gives
            r = cli("generate", "--model", ssmDir.toString(), "--ids", "3,1,4,1,5", "--ids", "9 2", "--max-new-tokens", "5",
                    "--temperature", "0.8", "--top-k", "10", "--top-p", "0.9", "--seed", "7", "--device", "cpu");
            assertEquals("0", r[0], r[1] + r[2]);
            int[][] both = lm.generate(new int[][] {p0, p1}, 5, new Sampling(0.8, 10, 0.9, 7), null, null);
            List<String> lines = r[1].strip().lines().toList();
            assertEquals(2, lines.size(), r[1]);
            for (int b = 0; b < 2; b++) {
                String ids = java.util.Arrays.stream(both[b]).mapToObj(String::valueOf).collect(java.util.stream.Collectors.joining(" "));
                assertTrue(lines.contains("[" + b + "] " + ids), r[1] + " lacks [" + b + "] " + ids);
            }
        }
        // text in, text out: tokenizer.json in the model folder is picked up by default
        Path withTok = write("with-tokenizer", weights, Naming.HF, Head.TIED, hfConfig().replace("}", ", \"eos_token_id\": 49}"), null);
        Files.writeString(withTok.resolve("tokenizer.json"), tinyTokenizerJson());
        dev.surpass.text.Tokenizer tok = dev.surpass.text.Tokenizer.load(withTok.resolve("tokenizer.json"));
        int[] ids = tok.encode("hello world");
        assertArrayEquals(new int[] {30, 35}, ids);
        try (MambaLM lm = MambaLM.load(cpu, withTok)) {
            int[] gen = lm.generate(new int[][] {ids}, 12, Sampling.greedy(), new int[] {49}, null)[0];
            String[] r = cli("generate", "--model", withTok.toString(), "--prompt", "hello world", "--max-new-tokens", "12", "--device", "cpu");
            assertEquals("0", r[0], r[1] + r[2]);
            int[] all = java.util.Arrays.copyOf(ids, ids.length + gen.length);
            System.arraycopy(gen, 0, all, ids.length, gen.length);
            assertEquals(tok.decode(all) + System.lineSeparator(), r[1]);
            assertTrue(r[2].contains("stopping at id(s) [49]"), r[2]);
        }
        // usage errors: exit 2 with the option named
        String[] r = cli("generate", "--model", ssmDir.toString(), "--prompt", "hi", "--device", "cpu");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("--tokenizer"), r[2]);
        r = cli("generate", "--model", ssmDir.toString(), "--ids", "1,x", "--device", "cpu");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("\"x\""), r[2]);
        r = cli("generate", "--model", ssmDir.toString(), "--ids", "1," + VP, "--device", "cpu");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("token id " + VP), r[2]);
        r = cli("generate", "--model", ssmDir.toString(), "--ids", "1", "--top-p", "0", "--device", "cpu");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("--top-p"), r[2]);
    }

    /**
     * GPU: the bf16 and fp32 checkpoints on CUDA against the CPU: prefill of 7 tokens then 20
     * decode steps fed the same tokens on both devices, logits within rel L2 1e-4 per position (fp32
     * arithmetic on both; different summation orders); batched ragged generation with greedy
     * sampling gives the same first tokens.
     */
    @Test
    @org.junit.jupiter.api.Tag("gpu")
    void cudaMatchesCpuPrefillAndDecode() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Path bf16 = write("gpu-bf16", weights.rounded(DType.BF16), Naming.HF, Head.TIED, hfConfig(), null, k -> DType.BF16);
        Random r = new Random(SEED + 13);
        int batch = 2, prompt = 7, steps = 20;
        int[][] p = {randomIds(r, prompt), randomIds(r, prompt)};
        try (Device gpu = Device.cuda(0)) {
            for (Path dir : new Path[] {ssmDir, bf16}) {
                try (MambaLM c = MambaLM.load(cpu, dir); MambaLM g = MambaLM.load(gpu, dir);
                     MambaState sc = c.newState(batch); MambaState sg = g.newState(batch)) {
                    float[] lc, lg;
                    try (Tensor a = sc.prefill(p); Tensor b = sg.prefill(p)) {
                        lc = a.toFloatArray();
                        lg = b.toFloatArray();
                    }
                    compareRows(lc, lg, dir + " prefill");
                    for (int i = 0; i < steps; i++) {
                        int[] tok = new int[batch];
                        for (int b = 0; b < batch; b++) tok[b] = Sampling.greedy().pick(lc, (b * (i == 0 ? prompt : 1) + (i == 0 ? prompt - 1 : 0)) * VP, V, null);
                        try (Tensor a = sc.step(tok); Tensor b = sg.step(tok)) {
                            lc = a.toFloatArray();
                            lg = b.toFloatArray();
                        }
                        compareRows(lc, lg, dir + " step " + i);
                    }
                    // The device-side greedy pick (through the captured step) equals the CPU's.
                    int[] tok = {3 % V, 5 % V};
                    assertEquals(java.util.Arrays.toString(sc.stepGreedy(tok)), java.util.Arrays.toString(sg.stepGreedy(tok)), dir + " stepGreedy");
                    int[][] ragged = {p[0], java.util.Arrays.copyOf(p[1], 3)};
                    int[][] gc = c.generate(ragged, 4, Sampling.greedy(), null, null), gg = g.generate(ragged, 4, Sampling.greedy(), null, null);
                    for (int b = 0; b < 2; b++) assertEquals(gc[b][0], gg[b][0], dir + " first generated token of sequence " + b);
                }
            }
        }
    }

    static void compareRows(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int row = 0; row < want.length / VP; row++) {
            double[] w = new double[VP];
            for (int v = 0; v < VP; v++) w[v] = want[row * VP + v];
            double err = relL2(got, row * VP, w);
            assertTrue(err < 1e-4, what + " row " + row + ": rel L2 " + err + " (seed " + SEED + ")");
        }
    }
}
