package dev.surpass.model.t5;

import static dev.surpass.model.decoder.RefMath.around1;
import static dev.surpass.model.decoder.RefMath.fill;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static dev.surpass.model.t5.T5EncoderTest.E;
import static dev.surpass.model.t5.T5EncoderTest.FF;
import static dev.surpass.model.t5.T5EncoderTest.H;
import static dev.surpass.model.t5.T5EncoderTest.INNER;
import static dev.surpass.model.t5.T5EncoderTest.DKV;
import static dev.surpass.model.t5.T5EncoderTest.NB;
import static dev.surpass.model.t5.T5EncoderTest.V;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.RefMath;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny random T5ForConditionalGeneration (the {@link T5EncoderTest} encoder: 2 blocks, d_model 40,
 * 3 heads of 12, d_ff 70, vocab 50, 32 buckets up to distance 20; and 3 decoder blocks) saved in
 * transformers' names, against a float64 composition written here from HF's T5Stack decoder and
 * T5ForConditionalGeneration.forward: causal self-attention with decoder block 0's unidirectional
 * relative bias (buckets pinned from torch below), cross-attention over the encoder output of the
 * row's real tokens, relu / gated-gelu feed-forward, final norm, the tied head's {@code d_model^−½}
 * scaling (relu model) or an untied lm_head (gated model). 30 decoder positions reach the
 * log-spaced and the capped buckets.
 */
class T5ForConditionalGenerationTest {
    static final int ND = 3;
    static final double TOL = 5e-5;

    @TempDir
    static Path tmp;
    static Device cpu;
    static Map<String, float[]> relu, gated;
    static T5ForConditionalGeneration reluModel, gatedModel;

    static String config(String proj, boolean tied) {
        String c = T5EncoderTest.config(proj, "t5").replace("T5EncoderModel", "T5ForConditionalGeneration");
        return c.substring(0, c.lastIndexOf('}')) + ", \"num_decoder_layers\": " + ND + ", \"tie_word_embeddings\": " + tied
                + ", \"decoder_start_token_id\": 0, \"is_encoder_decoder\": true}";
    }

    /** The encoder's weights of {@link T5EncoderTest#weights} plus a decoder (and an lm_head when untied). */
    static Map<String, float[]> weights(Random r, boolean isGated, boolean tied) {
        Map<String, float[]> m = T5EncoderTest.weights(r, isGated);
        for (int l = 0; l < ND; l++) {
            String p = "decoder.block." + l + ".layer.";
            for (String a : new String[] {"0.SelfAttention.", "1.EncDecAttention."}) {
                m.put(p + a.charAt(0) + ".layer_norm.weight", around1(E, r, 0.3));
                m.put(p + a + "q.weight", fill(new float[INNER * E], r, 0.5 / Math.sqrt(E)));
                m.put(p + a + "k.weight", fill(new float[INNER * E], r, 1 / Math.sqrt(E)));
                m.put(p + a + "v.weight", fill(new float[INNER * E], r, 1 / Math.sqrt(E)));
                m.put(p + a + "o.weight", fill(new float[E * INNER], r, 3 / Math.sqrt(INNER))); // large enough to move off the input token
            }
            if (l == 0) m.put(p + "0.SelfAttention.relative_attention_bias.weight", fill(new float[NB * H], r, 1.5));
            m.put(p + "2.layer_norm.weight", around1(E, r, 0.3));
            if (isGated) {
                m.put(p + "2.DenseReluDense.wi_0.weight", fill(new float[FF * E], r, 1 / Math.sqrt(E)));
                m.put(p + "2.DenseReluDense.wi_1.weight", fill(new float[FF * E], r, 1 / Math.sqrt(E)));
            } else {
                m.put(p + "2.DenseReluDense.wi.weight", fill(new float[FF * E], r, 1 / Math.sqrt(E)));
            }
            m.put(p + "2.DenseReluDense.wo.weight", fill(new float[E * FF], r, 3 / Math.sqrt(FF)));
        }
        m.put("decoder.final_layer_norm.weight", around1(E, r, 0.3));
        if (!tied) m.put("lm_head.weight", fill(new float[V * E], r, 4 / Math.sqrt(E)));
        return m;
    }

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        relu = weights(new Random(41), false, true);
        gated = weights(new Random(42), true, false);
        writeCheckpoint(tmp.resolve("relu"), config("relu", true), T5EncoderTest.entries(relu), DType.F32, 1);
        writeCheckpoint(tmp.resolve("gated"), config("gated-gelu", false), T5EncoderTest.entries(gated), DType.F32, 2);
        reluModel = T5ForConditionalGeneration.load(cpu, tmp.resolve("relu"));
        gatedModel = T5ForConditionalGeneration.load(cpu, tmp.resolve("gated"));
    }

    @AfterAll
    static void tearDown() {
        reluModel.close();
        gatedModel.close();
        cpu.close();
    }

    // ---------------------------------------------------------------------------------------------
    // float64 reference

    /** torch 1.13's {@code _relative_position_bucket(-n, False, NB, MD)}: (distance n, bucket) where the bucket changes (printed by torch). */
    static final Map<String, int[]> TORCH_CAUSAL = Map.of(
            "32/128", new int[] {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 19, 17,
                21, 18, 24, 19, 27, 20, 31, 21, 35, 22, 40, 23, 46, 24, 52, 25, 59, 26, 67, 27, 77, 28, 87, 29, 99, 30, 113, 31},
            "32/20", new int[] {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 20,
                18, 24, 19, 28, 20, 31},
            "8/10", new int[] {1, 1, 2, 2, 3, 3, 4, 4, 6, 5, 7, 6, 8, 7});

    /** torch's decoder bucket of a key {@code n >= 0} positions before the query, from the pinned change points. */
    static int torchCausalBucket(int n, int nb, int md) {
        int[] steps = TORCH_CAUSAL.get(nb + "/" + md);
        int b = 0;
        for (int i = 0; i < steps.length; i += 2) if (n >= steps[i]) b = steps[i + 1];
        return b;
    }

    static double[][] lin(Map<String, float[]> w, double[][] x, String name, int in, int out) {
        return RefMath.linear(x, w.get(name + ".weight"), null, in, out);
    }

    /** softmax(q·kᵀ + terms)·v per head; {@code causalBias} null for cross-attention (no bias, every key). */
    static double[][] attention(double[][] q, double[][] k, double[][] v, float[] causalBias) {
        int tq = q.length, tk = k.length;
        double[][] ctx = new double[tq][INNER];
        for (int hh = 0; hh < H; hh++) {
            for (int i = 0; i < tq; i++) {
                int keys = causalBias == null ? tk : i + 1; // a masked key's weight is exactly 0 in float32
                double[] s = new double[keys];
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < keys; j++) {
                    for (int c = 0; c < DKV; c++) s[j] += q[i][hh * DKV + c] * k[j][hh * DKV + c]; // no 1/sqrt(d_kv)
                    if (causalBias != null) s[j] += causalBias[torchCausalBucket(i - j, NB, T5EncoderTest.MD) * H + hh];
                    max = Math.max(max, s[j]);
                }
                for (int j = 0; j < keys; j++) sum += s[j] = Math.exp(s[j] - max);
                for (int j = 0; j < keys; j++) for (int c = 0; c < DKV; c++) ctx[i][hh * DKV + c] += s[j] / sum * v[j][hh * DKV + c];
            }
        }
        return ctx;
    }

    /** Teacher-forced logits {@code [T][V]} of one row: input ids (unpadded) and decoder ids. */
    static double[][] reference(Map<String, float[]> w, boolean isGated, boolean tied, int[] input, int[] dec) {
        double[][] enc = T5EncoderTest.reference(w, isGated, input, T5EncoderTest.ones(input.length));
        float[] emb = w.get("shared.weight"), rel = w.get("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
        int t = dec.length;
        double[][] y = new double[t][E];
        for (int i = 0; i < t; i++) for (int c = 0; c < E; c++) y[i][c] = emb[dec[i] * E + c];
        double eps = T5EncoderTest.EPS;
        for (int l = 0; l < ND; l++) {
            String p = "decoder.block." + l + ".layer.";
            double[][] n = RefMath.rmsNorm(y, w.get(p + "0.layer_norm.weight"), eps);
            double[][] a = attention(lin(w, n, p + "0.SelfAttention.q", E, INNER), lin(w, n, p + "0.SelfAttention.k", E, INNER),
                    lin(w, n, p + "0.SelfAttention.v", E, INNER), rel);
            RefMath.addInPlace(y, lin(w, a, p + "0.SelfAttention.o", INNER, E));
            n = RefMath.rmsNorm(y, w.get(p + "1.layer_norm.weight"), eps);
            a = attention(lin(w, n, p + "1.EncDecAttention.q", E, INNER), lin(w, enc, p + "1.EncDecAttention.k", E, INNER),
                    lin(w, enc, p + "1.EncDecAttention.v", E, INNER), null);
            RefMath.addInPlace(y, lin(w, a, p + "1.EncDecAttention.o", INNER, E));
            n = RefMath.rmsNorm(y, w.get(p + "2.layer_norm.weight"), eps);
            double[][] f;
            if (isGated) {
                double[][] g = lin(w, n, p + "2.DenseReluDense.wi_0", E, FF), u = lin(w, n, p + "2.DenseReluDense.wi_1", E, FF);
                for (int i = 0; i < t; i++) for (int c = 0; c < FF; c++) g[i][c] = RefMath.geluTanh(g[i][c]) * u[i][c];
                f = g;
            } else {
                f = lin(w, n, p + "2.DenseReluDense.wi", E, FF);
                for (double[] row : f) for (int c = 0; c < FF; c++) row[c] = Math.max(row[c], 0);
            }
            RefMath.addInPlace(y, lin(w, f, p + "2.DenseReluDense.wo", FF, E));
        }
        y = RefMath.rmsNorm(y, w.get("decoder.final_layer_norm.weight"), eps);
        if (tied) {
            for (double[] row : y) for (int c = 0; c < E; c++) row[c] *= Math.pow(E, -0.5);
            return RefMath.linear(y, emb, null, E, V);
        }
        return lin(w, y, "lm_head", E, V);
    }

    static int[][] ragged(Random r, int... lens) {
        int[][] ids = new int[lens.length][];
        for (int s = 0; s < lens.length; s++) ids[s] = T5EncoderTest.randomIds(r, lens[s]);
        return ids;
    }

    /** Decoder ids starting with the start token 0, then random ids (any, eos and pad included). */
    static int[][] decoderIds(Random r, int b, int t) {
        int[][] d = new int[b][t];
        for (int[] row : d) for (int i = 1; i < t; i++) row[i] = r.nextInt(V);
        return d;
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void causalBucketsMatchTorch() {
        for (String key : TORCH_CAUSAL.keySet()) {
            int nb = Integer.parseInt(key.split("/")[0]), md = Integer.parseInt(key.split("/")[1]);
            for (int n = 0; n <= 3000; n++) {
                assertEquals(torchCausalBucket(n, nb, md), T5ForConditionalGeneration.causalBucket(-n, nb, md), "key " + n + " before, " + key);
            }
            for (int n = 1; n <= 50; n++) assertEquals(0, T5ForConditionalGeneration.causalBucket(n, nb, md), "key after the query, " + key);
        }
        assertEquals(NB - 1, T5ForConditionalGeneration.causalBucket(Integer.MIN_VALUE, NB, T5EncoderTest.MD));
    }

    @Test
    void teacherForcedLogitsMatchTheFloat64Reference() {
        for (boolean isGated : new boolean[] {false, true}) {
            T5ForConditionalGeneration m = isGated ? gatedModel : reluModel;
            Random r = new Random(isGated ? 7 : 8);
            int[][] in = ragged(r, 23, 7, 1);
            int[][] dec = decoderIds(r, 3, 30);
            try (Tensor lg = m.forward(in, dec)) {
                assertArrayEquals(new long[] {3, 30, V}, lg.shape());
                float[] got = lg.toFloatArray();
                for (int s = 0; s < 3; s++) {
                    double[][] ref = reference(isGated ? gated : relu, isGated, !isGated, in[s], dec[s]);
                    double err = RefMath.maxRelErr(Arrays.copyOfRange(got, s * 30 * V, (s + 1) * 30 * V), ref);
                    assertTrue(err < TOL, (isGated ? "gated untied" : "relu tied") + " row " + s + ": max rel err " + err);
                }
            }
        }
    }

    @Test
    void theIncrementalCacheEqualsTheFullRecomputation() {
        for (T5ForConditionalGeneration m : new T5ForConditionalGeneration[] {reluModel, gatedModel}) {
            Random r = new Random(9);
            int[][] in = ragged(r, 5, 17, 2, 9);
            int[][] dec = decoderIds(r, 4, 26);
            try (Tensor full = m.forward(in, dec); Tensor inc = m.forwardIncremental(in, dec)) {
                float[] a = full.toFloatArray(), b = inc.toFloatArray();
                double worst = 0;
                for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(a[i])));
                assertTrue(worst < 1e-5, m.describe() + ": incremental vs full " + worst);
            }
        }
    }

    /** The position of row's first maximum in {@code [off, off + V)}. */
    static int argmax(float[] v, int off) {
        int best = 0;
        for (int i = 1; i < V; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    @Test
    void greedyGenerationIsTheArgmaxLoopOverTeacherForcedLogits() {
        for (T5ForConditionalGeneration m : new T5ForConditionalGeneration[] {reluModel, gatedModel}) {
            int[][] in = ragged(new Random(10), 12, 3, 30);
            int n = 15;
            int[][] gen = m.generate(in, GenerationOptions.greedy(n).withStopIds());
            List<int[]> streamed = new ArrayList<>();
            int[][] again = m.generate(in, GenerationOptions.greedy(n).withStopIds(), (s, tok) -> streamed.add(new int[] {s, tok}));
            assertEquals(3 * n, streamed.size());
            for (int s = 0; s < 3; s++) {
                assertEquals(n, gen[s].length);
                assertArrayEquals(gen[s], again[s]);
                // argmax over the teacher-forced logits of [start, g0, .., g(n-2)], the row alone
                int[] dec = new int[n];
                System.arraycopy(gen[s], 0, dec, 1, n - 1);
                try (Tensor lg = m.forward(new int[][] {in[s]}, new int[][] {dec})) {
                    float[] v = lg.toFloatArray();
                    for (int t = 0; t < n; t++) assertEquals(argmax(v, t * V), gen[s][t], m.describe() + " row " + s + " step " + t);
                }
                assertArrayEquals(gen[s], m.generate(new int[][] {in[s]}, GenerationOptions.greedy(n).withStopIds())[0], "row " + s + " alone");
            }
            boolean varied = false;
            for (int[] g : gen) for (int t = 1; t < n; t++) varied |= g[t] != g[0];
            assertTrue(varied, "the random model generates more than one token");

            // a stop id the first row emits first at step k: it ends there, the others run on as before (up to their own stop)
            int k = 1;
            while (k < n && contains(Arrays.copyOf(gen[0], k), gen[0][k])) k++;
            if (k == n) k = 0;
            int stop = gen[0][k];
            int[][] stopped = m.generate(in, GenerationOptions.greedy(n).withStopIds(stop));
            for (int s = 0; s < 3; s++) {
                int end = 0;
                while (end < n && gen[s][end] != stop) end++;
                assertArrayEquals(Arrays.copyOf(gen[s], Math.min(end + 1, n)), stopped[s], "row " + s + " with stop id " + stop);
            }
            assertEquals(k + 1, stopped[0].length);
        }
    }

    static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }

    @Test
    void defaultsComeFromTheConfig() {
        assertEquals(0, reluModel.decoderStartTokenId());
        assertArrayEquals(new int[] {1}, reluModel.eosTokenIds());
        assertTrue(reluModel.tiedHead());
        assertTrue(!gatedModel.tiedHead());
        assertEquals(ND, reluModel.decoderLayers());
        // the default stop is eos 1: a sequence that emits it ends with it
        int[][] in = ragged(new Random(11), 4, 6);
        int[][] free = reluModel.generate(in, GenerationOptions.greedy(20).withStopIds());
        int[][] dflt = reluModel.generate(in, GenerationOptions.greedy(20));
        for (int s = 0; s < 2; s++) {
            int end = 0;
            while (end < 20 && free[s][end] != 1) end++;
            assertArrayEquals(Arrays.copyOf(free[s], Math.min(end + 1, 20)), dflt[s]);
        }
        assertEquals(0, reluModel.generate(in, GenerationOptions.greedy(0))[1].length);
    }

    @Test
    void encodeIsTheEncoder() {
        int[][] in = ragged(new Random(12), 6, 2);
        try (Tensor h = reluModel.encode(in)) {
            assertArrayEquals(new long[] {2, 6, E}, h.shape());
            float[] v = h.toFloatArray();
            assertTrue(RefMath.maxRelErr(Arrays.copyOfRange(v, 0, 6 * E), T5EncoderTest.reference(relu, false, in[0], T5EncoderTest.ones(6))) < 2e-5);
        }
    }

    @Test
    void sampledGenerationIsReproducibleAndPerRow() {
        int[][] in = ragged(new Random(13), 5, 8);
        GenerationOptions o = GenerationOptions.greedy(10).withStopIds().withSampling(new dev.surpass.model.mamba.Sampling(1.0, 0, 1.0, 77));
        int[][] a = gatedModel.generate(in, o), b = gatedModel.generate(in, o);
        for (int s = 0; s < 2; s++) assertArrayEquals(a[s], b[s]);
        assertArrayEquals(a[0], gatedModel.generate(new int[][] {in[0]}, o)[0], "row 0's stream does not depend on its batch-mates");
    }

    // ---------------------------------------------------------------------------------------------
    // beam search

    /**
     * HF's vectorised {@code _beam_search} for one input, written out here over teacher-forced
     * logits (every step recomputes the beams' prefixes: no cache): running and finished beams,
     * length penalty on finished scores, the early-stop heuristic. Float32 scores as HF's.
     */
    static int[] referenceBeam(T5ForConditionalGeneration m, int[] in, int max, int eos, int nb, double lp, GenerationOptions.EarlyStopping early) {
        final float out = -1.0e9f;
        int maxLength = 1 + max, keep = 2 * nb;
        float[] run = new float[nb], fin = new float[nb];
        Arrays.fill(run, 1, nb, out);
        Arrays.fill(fin, out);
        int[][] runSeq = new int[nb][0], finSeq = new int[nb][0];
        boolean[] done = new boolean[nb];
        boolean unsat = true;
        for (int curLen = 1; curLen < maxLength; curLen++) {
            int[][] rows = new int[nb][], prefixes = new int[nb][curLen];
            for (int k = 0; k < nb; k++) {
                rows[k] = in;
                System.arraycopy(runSeq[k], 0, prefixes[k], 1, curLen - 1);
            }
            float[] lg;
            try (Tensor t = m.forward(rows, prefixes)) {
                lg = t.toFloatArray();
            }
            // scores of (beam, token): running + log_softmax of the last position
            float[] acc = new float[nb * V];
            for (int k = 0; k < nb; k++) {
                int off = (k * curLen + curLen - 1) * V;
                double mx = Double.NEGATIVE_INFINITY, sum = 0;
                for (int v = 0; v < V; v++) mx = Math.max(mx, lg[off + v]);
                for (int v = 0; v < V; v++) sum += Math.exp(lg[off + v] - mx);
                for (int v = 0; v < V; v++) acc[k * V + v] = run[k] + (float) (lg[off + v] - mx - Math.log(sum));
            }
            Integer[] idx = new Integer[nb * V];
            for (int i = 0; i < idx.length; i++) idx[i] = i;
            Arrays.sort(idx, (a, b) -> acc[a] != acc[b] ? Float.compare(acc[b], acc[a]) : Integer.compare(a, b));
            boolean anyOpen = false, full = early == GenerationOptions.EarlyStopping.TRUE;
            for (boolean d : done) full &= d;
            List<float[]> finCand = new ArrayList<>();
            float[] merged = new float[nb + keep], masked = new float[keep];
            int[][] seqs = new int[keep][];
            boolean[] hit = new boolean[keep];
            for (int i = 0; i < keep; i++) {
                int c = idx[i], beam = c / V, tok = c % V;
                seqs[i] = Arrays.copyOf(runSeq[beam], curLen);
                seqs[i][curLen - 1] = tok;
                hit[i] = tok == eos || curLen + 1 >= maxLength;
                anyOpen |= !hit[i];
                float sc = acc[c] / (float) Math.pow(curLen, lp);
                if (full) sc += out;
                if (!unsat) sc += out;
                if (!(hit[i] && i < nb)) sc += out;
                merged[nb + i] = sc;
                masked[i] = hit[i] ? acc[c] + out : acc[c];
            }
            System.arraycopy(fin, 0, merged, 0, nb);
            int[] pick = top(merged, nb), go = top(masked, nb);
            float[] nf = new float[nb];
            int[][] ns = new int[nb][];
            boolean[] nd = new boolean[nb];
            for (int j = 0; j < nb; j++) {
                int p = pick[j];
                nf[j] = merged[p];
                ns[j] = p < nb ? finSeq[p] : seqs[p - nb];
                nd[j] = p < nb ? done[p] : hit[p - nb] && p - nb < nb;
            }
            fin = nf;
            finSeq = ns;
            done = nd;
            int[][] rs = new int[nb][];
            for (int j = 0; j < nb; j++) {
                rs[j] = seqs[go[j]];
                run[j] = masked[go[j]];
            }
            runSeq = rs;
            int hypo = early == GenerationOptions.EarlyStopping.NEVER && lp > 0 ? maxLength - 1 : curLen;
            float best = run[0] / (float) Math.pow(hypo, lp), worst = Float.POSITIVE_INFINITY;
            for (float f : fin) worst = Math.min(worst, f);
            boolean any = false, all = true;
            for (int k = 0; k < nb; k++) {
                any |= best > (done[k] ? worst : out);
                all &= done[k];
            }
            unsat &= any;
            if (!unsat || (all && early == GenerationOptions.EarlyStopping.TRUE) || !anyOpen) break;
        }
        return finSeq[0];
    }

    /** Positions of the k largest, largest first, the lower position first on ties. */
    static int[] top(float[] v, int k) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> v[a] != v[b] ? Float.compare(v[b], v[a]) : Integer.compare(a, b));
        int[] o = new int[k];
        for (int i = 0; i < k; i++) o[i] = idx[i];
        return o;
    }

    @Test
    void beamSearchIsHfsAlgorithmOverTeacherForcedLogits() {
        int[][] in = ragged(new Random(14), 9, 2, 17);
        int n = 10;
        for (T5ForConditionalGeneration m : new T5ForConditionalGeneration[] {reluModel, gatedModel}) {
            int[][] greedy = m.generate(in, GenerationOptions.greedy(n).withStopIds());
            int stop = greedy[1][2]; // a stop the greedy path of row 1 meets early, so some beams finish before the end
            Object[][] settings = {{3, 1.0, GenerationOptions.EarlyStopping.FALSE}, {4, 0.6, GenerationOptions.EarlyStopping.TRUE},
                {2, 2.0, GenerationOptions.EarlyStopping.NEVER}, {3, -0.5, GenerationOptions.EarlyStopping.FALSE}};
            for (Object[] st : settings) {
                int nb = (Integer) st[0];
                double lp = (Double) st[1];
                GenerationOptions.EarlyStopping early = (GenerationOptions.EarlyStopping) st[2];
                GenerationOptions o = GenerationOptions.greedy(n).withStopIds(stop).withBeams(nb, lp, early);
                int[][] got = m.generate(in, o);
                List<Integer> streamed = new ArrayList<>();
                m.generate(in, o, (s, tok) -> streamed.add(tok));
                int total = 0;
                for (int s = 0; s < in.length; s++) {
                    int[] want = referenceBeam(m, in[s], n, stop, nb, lp, early);
                    assertArrayEquals(want, got[s], m.describe() + ", " + nb + " beams, penalty " + lp + ", " + early + ", row " + s);
                    total += got[s].length;
                }
                assertEquals(total, streamed.size(), "every answer token is streamed");
            }
        }
    }

    @Test
    void beamOptionsAreRefusedByName() {
        assertTrue(message(() -> GenerationOptions.greedy(3).withBeams(0, 1, GenerationOptions.EarlyStopping.FALSE)).contains("numBeams is 0"));
        assertTrue(message(() -> GenerationOptions.greedy(3).withBeams(2, Double.NaN, GenerationOptions.EarlyStopping.FALSE)).contains("lengthPenalty"));
        assertTrue(message(() -> GenerationOptions.greedy(3).withBeams(2, 1, null)).contains("earlyStopping is null"));
        assertTrue(message(() -> GenerationOptions.greedy(3).withSampling(new dev.surpass.model.mamba.Sampling(0.7, 0, 1, 1))
                .withBeams(2, 1, GenerationOptions.EarlyStopping.FALSE)).contains("numBeams is 2 with sampling"));
        // with every id a stop id, 2 beams would keep (1 + 50) · 2 candidates a step: more than the 2 × 50 there are
        int[] many = new int[V];
        for (int i = 0; i < V; i++) many[i] = i;
        assertTrue(message(() -> reluModel.generate(new int[][] {{3}}, GenerationOptions.greedy(3).withStopIds(many)
                .withBeams(2, 1, GenerationOptions.EarlyStopping.FALSE))).contains("candidates"));
    }

    // ---------------------------------------------------------------------------------------------
    // refusals and leaks

    static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void badInputsAndOptionsAreRefusedByName() {
        GenerationOptions g = GenerationOptions.greedy(4);
        assertTrue(message(() -> reluModel.generate(new int[][] {{3, 4}, {5, V}}, g)).contains("inputIds[1][1] is " + V));
        assertTrue(message(() -> reluModel.generate(new int[][] {{3, 4}, {}}, g)).contains("inputIds[1] has 0 ids"));
        assertTrue(message(() -> reluModel.generate(new int[][] {{-2}}, g)).contains("inputIds[0][0] is -2"));
        assertTrue(message(() -> reluModel.generate(null, g)).contains("inputIds is null or empty"));
        assertTrue(message(() -> reluModel.generate(new int[0][], g)).contains("inputIds is null or empty"));
        assertTrue(message(() -> reluModel.generate(new int[][] {{3}}, null)).contains("options is null"));
        assertTrue(message(() -> GenerationOptions.greedy(-1)).contains("maxNewTokens is -1"));
        assertTrue(message(() -> GenerationOptions.greedy(T5ForConditionalGeneration.MAX_NEW_TOKENS + 1)).contains("maxNewTokens is 4097"));
        assertTrue(message(() -> GenerationOptions.greedy(3).withStopIds(1, -1)).contains("stopIds[1] is -1"));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3}, {4}}, new int[][] {{0, 1}})).contains("decoderInputIds has 1 rows"));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3}, {4}}, new int[][] {{0, 1}, {0}})).contains("decoderInputIds[1] has 1 ids"));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3}}, new int[][] {{}})).contains("decoderInputIds[0] has 0 ids"));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3}}, new int[][] {{0, V + 3}})).contains("decoderInputIds[0][1] is " + (V + 3)));
        int[] tooLong = new int[T5ForConditionalGeneration.MAX_NEW_TOKENS + 1];
        assertTrue(message(() -> reluModel.forward(new int[][] {{3}}, new int[][] {tooLong})).contains("expected 1..4096"));
        assertTrue(message(() -> reluModel.encode(new int[][] {{V}})).contains("inputIds[0][0] is " + V));
    }

    @Test
    void badCheckpointsAreRefusedByName() throws IOException {
        Path enc = tmp.resolve("encoderonly");
        writeCheckpoint(enc, T5EncoderTest.config("relu", "t5"), T5EncoderTest.entries(T5EncoderTest.weights(new Random(1), false)), DType.F32, 1);
        String m = message(() -> T5ForConditionalGeneration.load(cpu, enc));
        assertTrue(m.contains("no decoder") && m.contains("T5EncoderModel"), m);

        Map<String, Entry> noHead = T5EncoderTest.entries(gated);
        noHead.remove("lm_head.weight");
        Path nh = tmp.resolve("nohead");
        writeCheckpoint(nh, config("gated-gelu", false), noHead, DType.F32, 1);
        m = message(() -> T5ForConditionalGeneration.load(cpu, nh));
        assertTrue(m.contains("lm_head.weight") && m.contains("tie_word_embeddings"), m);

        Map<String, Entry> noCross = T5EncoderTest.entries(relu);
        noCross.remove("decoder.block.2.layer.1.EncDecAttention.v.weight");
        Path nc = tmp.resolve("nocross");
        writeCheckpoint(nc, config("relu", true), noCross, DType.F32, 1);
        m = message(() -> T5ForConditionalGeneration.load(cpu, nc));
        assertTrue(m.contains("decoder.block.2.layer.1.EncDecAttention.v.weight"), m);

        Path fewer = tmp.resolve("fewer");
        writeCheckpoint(fewer, config("relu", true).replace("\"num_decoder_layers\": 3", "\"num_decoder_layers\": 2"), T5EncoderTest.entries(relu),
                DType.F32, 1);
        m = message(() -> T5ForConditionalGeneration.load(cpu, fewer));
        assertTrue(m.contains("decoder.block.2.layer.0.layer_norm.weight") && m.contains("num_decoder_layers"), m);

        Path badStart = tmp.resolve("badstart");
        writeCheckpoint(badStart, config("relu", true).replace("\"decoder_start_token_id\": 0", "\"decoder_start_token_id\": " + V),
                T5EncoderTest.entries(relu), DType.F32, 1);
        m = message(() -> T5ForConditionalGeneration.load(cpu, badStart));
        assertTrue(m.contains("decoder_start_token_id") && m.contains("config.json"), m);

        Path perLayer = tmp.resolve("perlayer");
        Map<String, Entry> pl = T5EncoderTest.entries(relu);
        pl.put("decoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", new Entry(fill(new float[NB * H], new Random(2), 1), NB, H));
        writeCheckpoint(perLayer, config("relu", true), pl, DType.F32, 1);
        m = message(() -> T5ForConditionalGeneration.load(cpu, perLayer));
        assertTrue(m.contains("decoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight") && m.contains("UMT5"), m);

        int before = cpu.liveAllocations();
        message(() -> T5ForConditionalGeneration.load(cpu, nc));
        assertEquals(before, cpu.liveAllocations(), "a refused load frees what it uploaded");

        T5ForConditionalGeneration closing = T5ForConditionalGeneration.load(cpu, tmp.resolve("relu"));
        closing.close();
        closing.close();
        assertThrows(IllegalStateException.class, () -> closing.generate(new int[][] {{3}}, GenerationOptions.greedy(2)));
    }

    /** Calls free all they allocate (on a GPU a leak is device memory lost per call); close frees the weights. */
    @Test
    void callsLeaveNothingAllocated() {
        for (String name : new String[] {"relu", "gated"}) {
            try (Device d = Device.cpu()) {
                int empty = d.liveAllocations();
                try (T5ForConditionalGeneration m = T5ForConditionalGeneration.load(d, tmp.resolve(name))) {
                    int base = d.liveAllocations();
                    int[][] in = {{3, 4, 5, 6}, {7}, {8, 9}};
                    try (Tensor a = m.forward(in, decoderIds(new Random(1), 3, 5)); Tensor b = m.encode(in);
                         Tensor c = m.forwardIncremental(in, decoderIds(new Random(2), 3, 4))) {
                        assertEquals(base + 3, d.liveAllocations(), name);
                    }
                    m.generate(in, GenerationOptions.greedy(6).withStopIds());
                    m.generate(in, GenerationOptions.greedy(6));
                    m.generate(in, GenerationOptions.greedy(6).withBeams(3, 1, GenerationOptions.EarlyStopping.FALSE));
                    assertEquals(base, d.liveAllocations(), name);
                    message(() -> m.forward(in, new int[][] {{0}, {0}, {V}}));
                    assertEquals(base, d.liveAllocations(), name + " after a refusal");
                }
                assertEquals(empty, d.liveAllocations(), name + " after close");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // CLI

    static String run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code;
        try (PrintWriter o = new PrintWriter(out, true); PrintWriter e = new PrintWriter(err, true)) {
            code = dev.surpass.cli.Main.run(o, e, args);
        }
        assertEquals(0, code, err.toString());
        return out.toString();
    }

    @Test
    void surpassGenerateRunsAT5Folder() {
        int[][] in = {{3, 4, 5, 6, 7}, {9, 8}};
        int[][] want = gatedModel.generate(in, GenerationOptions.greedy(7).withStopIds());
        String out = run("generate", "--device", "cpu", "--model", tmp.resolve("gated").toString(), "--ids", "3,4,5,6,7", "--ids", "9,8",
                "--max-new-tokens", "7", "--ignore-eos");
        for (int s = 0; s < 2; s++) {
            StringBuilder line = new StringBuilder("[" + s + "]");
            for (int t : want[s]) line.append(' ').append(t);
            assertTrue(out.contains(line.toString()), out + " lacks " + line);
        }
        int[][] beams = gatedModel.generate(in, GenerationOptions.greedy(7).withStopIds().withBeams(3, 0.8, GenerationOptions.EarlyStopping.NEVER));
        out = run("generate", "--device", "cpu", "--model", tmp.resolve("gated").toString(), "--ids", "3,4,5,6,7", "--ids", "9,8",
                "--max-new-tokens", "7", "--ignore-eos", "--num-beams", "3", "--length-penalty", "0.8", "--early-stopping", "never");
        for (int s = 0; s < 2; s++) {
            StringBuilder line = new StringBuilder("[" + s + "]");
            for (int t : beams[s]) line.append(' ').append(t);
            assertTrue(out.contains(line.toString()), out + " lacks " + line);
        }
    }

    @Test
    void surpassGenerateAnswersATextPromptWithoutEchoingIt() throws IOException {
        Path dir = tmp.resolve("withtok");
        writeCheckpoint(dir, config("gated-gelu", false), T5EncoderTest.entries(gated), DType.F32, 1);
        java.nio.file.Files.writeString(dir.resolve("tokenizer.json"), T5EncoderTest.tokenizerJson());
        dev.surpass.text.Tokenizer tok = dev.surpass.text.Tokenizer.load(dir.resolve("tokenizer.json"));
        int[] ids = tok.encode("hello worlds t9 t17.");
        assertEquals(1, ids[ids.length - 1], "</s> appended as T5's tokenizer does");
        int[] want = gatedModel.generate(new int[][] {ids}, GenerationOptions.greedy(6).withStopIds())[0];
        String out = run("generate", "--device", "cpu", "--model", dir.toString(), "--prompt", "hello worlds t9 t17.", "--max-new-tokens", "6",
                "--ignore-eos").strip();
        assertEquals(tok.decode(want, true).strip(), out, "the answer alone, special tokens left out");
        assertTrue(!out.startsWith("hello"), out);
    }

    @Test
    void surpassForwardGivesTeacherForcedLogits() {
        var f = dev.surpass.cli.ModelFamilies.find(tmp.resolve("relu"));
        int[][] in = {{3, 4, 5}, {6, 0, 0}};
        int[][] dec = {{0, 7, 8, 9}, {0, 1, 2, 3}};
        try (Tensor i = cpu.upload(new int[] {3, 4, 5, 6, 0, 0}, 2, 3); Tensor mk = cpu.upload(new int[] {1, 1, 1, 1, 0, 0}, 2, 3);
             Tensor d = cpu.upload(new int[] {0, 7, 8, 9, 0, 1, 2, 3}, 2, 4)) {
            Map<String, Tensor> out = f.forward(cpu, tmp.resolve("relu"), Map.of("input_ids", i, "attention_mask", mk, "decoder_input_ids", d));
            try (Tensor lg = out.get("logits")) {
                assertArrayEquals(new long[] {2, 4, V}, lg.shape());
                float[] v = lg.toFloatArray();
                assertTrue(RefMath.maxRelErr(Arrays.copyOfRange(v, 4 * V, 8 * V), reference(relu, false, true, new int[] {6}, dec[1])) < TOL);
                assertTrue(RefMath.maxRelErr(Arrays.copyOfRange(v, 0, 4 * V), reference(relu, false, true, in[0], dec[0])) < TOL);
            }
        }
    }
}
