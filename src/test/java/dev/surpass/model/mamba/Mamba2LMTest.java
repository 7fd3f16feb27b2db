package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.io.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A small random Mamba-2 LM (d_model 32, 2 layers, 4 heads of 16 channels, 2 groups, d_state 8,
 * d_conv 4, vocab 50 padded to 56) in HF's {@code Mamba2ForCausalLM} naming and in mamba_ssm's,
 * checked against a float64 straight-line reference that runs the SSD recurrence per head (Δ, A,
 * its bias and D one per head; B and C one per group), and prefill + decode against re-running the
 * whole sequence. With two groups the two namings' gated norms differ (per group in mamba_ssm, over
 * all channels in HF), so each is checked against its own reference and shown to differ.
 */
class Mamba2LMTest {
    static final int DM = 32, NL = 2, H = 4, P = 16, DI = H * P, G = 2, N = 8, W = 4, V = 50, VP = 56;
    static final int GN = G * N, CD = DI + 2 * GN, PROJ = 2 * DI + 2 * GN + H;
    static final long SEED = 20261128L;

    @TempDir
    static Path tmp;

    static Device cpu;
    static Weights weights;
    static Path hfDir, ssmDir;

    /** Host copies of every weight, in the checkpoint's layout. */
    static final class Weights {
        float[] emb = new float[VP * DM], head = new float[VP * DM], normF = new float[DM];
        float[][] norm = new float[NL][], inProj = new float[NL][], convW = new float[NL][], convB = new float[NL][],
                dtBias = new float[NL][], aLog = new float[NL][], d = new float[NL][], gnorm = new float[NL][], outW = new float[NL][];

        Weights(long seed, boolean dPerChannel) {
            Random r = new Random(seed);
            MambaLMTest.Weights.fill(emb, r, 1.0);
            MambaLMTest.Weights.fill(head, r, 0.5);
            for (int i = 0; i < DM; i++) normF[i] = 1 + 0.2f * (r.nextFloat() - 0.5f);
            for (int l = 0; l < NL; l++) {
                norm[l] = new float[DM];
                for (int i = 0; i < DM; i++) norm[l][i] = 1 + 0.2f * (r.nextFloat() - 0.5f);
                inProj[l] = MambaLMTest.Weights.fill(new float[PROJ * DM], r, 1 / Math.sqrt(DM));
                convW[l] = MambaLMTest.Weights.fill(new float[CD * W], r, 0.5);
                convB[l] = MambaLMTest.Weights.fill(new float[CD], r, 0.2);
                dtBias[l] = new float[H];
                aLog[l] = new float[H];
                for (int h = 0; h < H; h++) {
                    double dt = Math.exp(Math.log(1e-2) + r.nextDouble() * (Math.log(0.5) - Math.log(1e-2)));
                    dtBias[l][h] = (float) (dt + Math.log(-Math.expm1(-dt))); // inverse softplus
                    aLog[l][h] = (float) Math.log(1 + 15 * r.nextDouble());
                }
                d[l] = new float[dPerChannel ? DI : H];
                for (int i = 0; i < d[l].length; i++) d[l][i] = 1 + 0.2f * (r.nextFloat() - 0.5f);
                gnorm[l] = new float[DI];
                for (int i = 0; i < DI; i++) gnorm[l][i] = 1 + 0.2f * (r.nextFloat() - 0.5f);
                outW[l] = MambaLMTest.Weights.fill(new float[DM * DI], r, 1 / Math.sqrt(DI));
            }
        }
    }

    enum Naming { SSM, HF }

    /** How the reference computes the mixer's output: the gated norm per group, over all channels, or no norm (z gates the scan). */
    enum Norm { PER_GROUP, WHOLE, NONE }

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        weights = new Weights(SEED, false);
        hfDir = write("hf", weights, Naming.HF, hfConfig(""), true);
        ssmDir = write("ssm", weights, Naming.SSM, ssmConfig(""), true);
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    /** As transformers writes a Mamba2Config (json.dump spells infinity {@code Infinity}); {@code extra} adds fields. */
    static String hfConfig(String extra) {
        return "{\"architectures\": [\"Mamba2ForCausalLM\"], \"model_type\": \"mamba2\", \"hidden_size\": 32, \"num_hidden_layers\": 2,"
                + " \"num_heads\": 4, \"head_dim\": 16, \"n_groups\": 2, \"state_size\": 8, \"expand\": 2, \"conv_kernel\": 4,"
                + " \"vocab_size\": 50, \"pad_vocab_size_multiple\": 8, \"chunk_size\": 256, \"layer_norm_epsilon\": 1e-5,"
                + " \"use_bias\": false, \"use_conv_bias\": true, \"hidden_act\": \"silu\", \"residual_in_fp32\": true, \"rms_norm\": true,"
                + " \"time_step_limit\": [0.0, Infinity], \"time_step_rank\": \"auto\", \"tie_word_embeddings\": false,"
                + " \"eos_token_id\": 0" + extra + "}";
    }

    /** As mamba_ssm writes a MambaConfig with a Mamba2 layer; {@code extra} adds ssm_cfg fields. */
    static String ssmConfig(String extra) {
        return "{\"d_model\": 32, \"d_intermediate\": 0, \"n_layer\": 2, \"vocab_size\": 50, \"ssm_cfg\": {\"layer\": \"Mamba2\","
                + " \"d_state\": 8, \"headdim\": 16, \"ngroups\": 2" + extra + "}, \"attn_layer_idx\": [], \"attn_cfg\": {},"
                + " \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": true, \"pad_vocab_size_multiple\": 8,"
                + " \"tie_embeddings\": false}";
    }

    static Path write(String name, Weights w, Naming naming, String config, boolean gatedNorm) throws IOException {
        return write(name, w, naming, config, gatedNorm, DType.F32);
    }

    /** Writes a checkpoint folder with every tensor stored in {@code dtype}. */
    static Path write(String name, Weights w, Naming naming, String config, boolean gatedNorm, DType dtype) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config);
        Map<String, float[]> data = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        String p = "backbone.";
        MambaLMTest.put(data, shapes, p + (naming == Naming.HF ? "embeddings.weight" : "embedding.weight"), w.emb, VP, DM);
        for (int l = 0; l < NL; l++) {
            String lp = p + "layers." + l + ".", mp = lp + "mixer.";
            MambaLMTest.put(data, shapes, mp + "in_proj.weight", w.inProj[l], PROJ, DM);
            MambaLMTest.put(data, shapes, mp + "conv1d.weight", w.convW[l], CD, 1, W);
            MambaLMTest.put(data, shapes, mp + "conv1d.bias", w.convB[l], CD);
            MambaLMTest.put(data, shapes, mp + "dt_bias", w.dtBias[l], H);
            MambaLMTest.put(data, shapes, mp + "A_log", w.aLog[l], H);
            MambaLMTest.put(data, shapes, mp + "D", w.d[l], w.d[l].length);
            if (gatedNorm) MambaLMTest.put(data, shapes, mp + "norm.weight", w.gnorm[l], DI);
            MambaLMTest.put(data, shapes, mp + "out_proj.weight", w.outW[l], DM, DI);
            MambaLMTest.put(data, shapes, lp + "norm.weight", w.norm[l], DM);
        }
        MambaLMTest.put(data, shapes, p + "norm_f.weight", w.normF, DM);
        MambaLMTest.put(data, shapes, "lm_head.weight", w.head, VP, DM);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (var e : data.entrySet()) tensors.put(e.getKey(), cpu.upload(dtype, e.getValue(), shapes.get(e.getKey())));
            SafeTensors.write(dir.resolve("model.safetensors"), tensors);
        } finally {
            for (Tensor t : tensors.values()) t.close();
        }
        return dir;
    }

    // ---------------------------------------------------------------------------------------------
    // float64 straight-line reference of Mamba2ForCausalLM / MambaLMHeadModel(Mamba2) on one sequence

    static double[][] reference(Weights w, int[] ids, Norm norm, double gatedEps) {
        return MambaLMTest.lmReference(w.emb, w.norm, w.normF, w.head, ids, (l, hn) -> {
            int len = hn.length;
            double[][] proj = new double[len][PROJ];
            for (int t = 0; t < len; t++) {
                for (int o = 0; o < PROJ; o++) {
                    double s = 0;
                    for (int k = 0; k < DM; k++) s += w.inProj[l][o * DM + k] * hn[t][k];
                    proj[t][o] = s;
                }
            }
            // [z | xBC | dt]; the depthwise causal conv over xBC, then SiLU
            double[][] xbc = MambaLMTest.causalConvSilu(proj, DI, CD, w.convW[l], w.convB[l]);
            double[][][] state = new double[H][P][N];
            double[][] y = new double[len][DI];
            for (int t = 0; t < len; t++) {
                for (int hd = 0; hd < H; hd++) {
                    int g = hd / (H / G);
                    double dt = proj[t][DI + CD + hd] + w.dtBias[l][hd];
                    if (dt <= 20) dt = Math.log1p(Math.exp(dt));
                    double decay = Math.exp(dt * -Math.exp(w.aLog[l][hd]));
                    for (int p = 0; p < P; p++) {
                        int c = hd * P + p;
                        double x = xbc[t][c], acc = 0;
                        for (int n = 0; n < N; n++) {
                            state[hd][p][n] = decay * state[hd][p][n] + dt * xbc[t][DI + g * N + n] * x;
                            acc += state[hd][p][n] * xbc[t][DI + GN + g * N + n];
                        }
                        y[t][c] = acc + (w.d[l].length == DI ? w.d[l][c] : w.d[l][hd]) * x;
                    }
                }
            }
            double[][] out = new double[len][DM];
            for (int t = 0; t < len; t++) {
                double[] v = new double[DI];
                for (int c = 0; c < DI; c++) v[c] = y[t][c] * MambaLMTest.silu(proj[t][c]);
                if (norm != Norm.NONE) {
                    int parts = norm == Norm.PER_GROUP ? G : 1, width = DI / parts;
                    for (int q = 0; q < parts; q++) {
                        double ss = 0;
                        for (int c = q * width; c < (q + 1) * width; c++) ss += v[c] * v[c];
                        double inv = 1 / Math.sqrt(ss / width + gatedEps);
                        for (int c = q * width; c < (q + 1) * width; c++) v[c] *= inv * w.gnorm[l][c];
                    }
                }
                for (int m = 0; m < DM; m++) {
                    double s = 0;
                    for (int c = 0; c < DI; c++) s += w.outW[l][m * DI + c] * v[c];
                    out[t][m] = s;
                }
            }
            return out;
        });
    }

    /** The largest rel L2 error over positions of {@code dir}'s logits for {@code seqs} against the reference. */
    static double worstError(Path dir, Weights w, int[][] seqs, Norm norm, double gatedEps) {
        double worst = 0;
        try (MambaLM lm = MambaLM.load(cpu, dir); Tensor lg = lm.forward(seqs)) {
            assertArrayEquals(new long[] {seqs.length, seqs[0].length, VP}, lg.shape());
            float[] got = lg.toFloatArray();
            for (int b = 0; b < seqs.length; b++) {
                double[][] want = reference(w, seqs[b], norm, gatedEps);
                for (int t = 0; t < seqs[b].length; t++) {
                    worst = Math.max(worst, MambaLMTest.relL2(got, (b * seqs[b].length + t) * VP, want[t]));
                }
            }
        }
        return worst;
    }

    static int[][] randomSeqs(long seed, int batch, int len) {
        Random r = new Random(seed);
        int[][] s = new int[batch][];
        for (int b = 0; b < batch; b++) s[b] = MambaLMTest.randomIds(r, len);
        return s;
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void configsOfBothNamingsReadTheirConventions() {
        MambaConfig hf = MambaConfig.load(hfDir), ssm = MambaConfig.load(ssmDir);
        for (MambaConfig c : new MambaConfig[] {hf, ssm}) {
            assertTrue(c.isMamba2());
            assertEquals(DI, c.dInner());
            assertEquals(N, c.dState());
            assertEquals(VP, c.paddedVocab());
            assertEquals(CD, c.convChannels());
            assertEquals(0, c.dtRank());
            assertFalse(c.tieEmbeddings());
            assertEquals(H, c.mamba2().nHeads());
            assertEquals(P, c.mamba2().headDim());
            assertEquals(G, c.mamba2().nGroups());
            assertTrue(c.mamba2().gatedNorm());
        }
        assertFalse(hf.mamba2().normPerGroup(), "HF's MambaRMSNormGated normalises over all channels");
        assertTrue(ssm.mamba2().normPerGroup(), "mamba_ssm's RMSNormGated normalises per group");
        assertTrue(MambaConfig.looksLikeMamba(hfDir));
        assertTrue(MambaConfig.looksLikeMamba(ssmDir));
        assertNull(MambaConfig.parse(json(MambaLMTest.hfConfig()), "mamba1").mamba2());
        // HF's defaults are Codestral's: 128 heads of 64, 8 groups, d_state 128, untied head
        MambaConfig dflt = MambaConfig.parse(json("{\"model_type\": \"mamba2\", \"hidden_size\": 4096, \"num_hidden_layers\": 2,"
                + " \"vocab_size\": 32768}"), "cfg");
        assertEquals(new MambaConfig.Mamba2(128, 64, 8, true, false, false, 1e-5f), dflt.mamba2());
        assertEquals(128, dflt.dState());
        assertFalse(dflt.tieEmbeddings());
        // mamba_ssm's Mamba2 defaults: headdim 64, 1 group, d_state 128, tied head
        MambaConfig ms = MambaConfig.parse(json("{\"d_model\": 768, \"n_layer\": 24, \"vocab_size\": 50277, \"ssm_cfg\": {\"layer\": \"Mamba2\"},"
                + " \"pad_vocab_size_multiple\": 16}"), "cfg");
        assertEquals(new MambaConfig.Mamba2(24, 64, 1, true, true, false, 1e-5f), ms.mamba2());
        assertEquals(128, ms.dState());
        assertEquals(50288, ms.paddedVocab());
        assertTrue(ms.tieEmbeddings());
    }

    static final com.fasterxml.jackson.databind.ObjectMapper LENIENT = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    static com.fasterxml.jackson.databind.JsonNode json(String s) {
        try {
            return LENIENT.readTree(s); // as config.json is read: Python's json writes Infinity
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void forwardMatchesFloat64ReferenceInEachNaming() {
        for (int len : new int[] {1, 5, 37}) {
            int[][] seqs = randomSeqs(SEED + len, 2, len);
            double hf = worstError(hfDir, weights, seqs, Norm.WHOLE, 1e-5);
            assertTrue(hf < 1e-5, "HF naming, L " + len + ": rel L2 " + hf + " (seed " + SEED + ")");
            double ssm = worstError(ssmDir, weights, seqs, Norm.PER_GROUP, 1e-5);
            assertTrue(ssm < 1e-5, "mamba_ssm naming, L " + len + ": rel L2 " + ssm + " (seed " + SEED + ")");
        }
        // the two gated norms really differ with two groups: each naming is far from the other's reference
        int[][] seqs = randomSeqs(SEED + 99, 1, 9);
        assertTrue(worstError(hfDir, weights, seqs, Norm.PER_GROUP, 1e-5) > 1e-3);
        assertTrue(worstError(ssmDir, weights, seqs, Norm.WHOLE, 1e-5) > 1e-3);
    }

    @Test
    void mambaSsmVariants() throws IOException {
        int[][] seqs = randomSeqs(SEED + 3, 2, 11);
        // rmsnorm false: no norm.weight, the scan gates y by silu(z)
        Path noNorm = write("ssm-nonorm", weights, Naming.SSM, ssmConfig(", \"rmsnorm\": false"), false);
        assertFalse(MambaConfig.load(noNorm).mamba2().gatedNorm());
        double e = worstError(noNorm, weights, seqs, Norm.NONE, 0);
        assertTrue(e < 1e-5, "rmsnorm false: rel L2 " + e);
        // D_has_hdim: D has one entry per channel
        Weights perChannel = new Weights(SEED + 1, true);
        Path dh = write("ssm-dhdim", perChannel, Naming.SSM, ssmConfig(", \"D_has_hdim\": true"), true);
        e = worstError(dh, perChannel, seqs, Norm.PER_GROUP, 1e-5);
        assertTrue(e < 1e-5, "D_has_hdim: rel L2 " + e);
        // HF's gated norm takes layer_norm_epsilon (mamba_ssm's is fixed at 1e-5)
        Path eps = write("hf-eps", weights, Naming.HF, hfConfig("").replace("\"layer_norm_epsilon\": 1e-5", "\"layer_norm_epsilon\": 0.5"), true);
        assertEquals(0.5f, MambaConfig.load(eps).mamba2().gatedNormEps());
    }

    @Test
    void prefillThenDecodeMatchesFullForward() {
        for (Path dir : new Path[] {hfDir, ssmDir}) {
            int prompt = 6, steps = 15, batch = 3;
            int[][] seqs = new int[batch][prompt + steps];
            int[][] p = randomSeqs(SEED + 5, batch, prompt);
            for (int b = 0; b < batch; b++) System.arraycopy(p[b], 0, seqs[b], 0, prompt);
            List<float[]> stepLogits = new ArrayList<>();
            try (MambaLM lm = MambaLM.load(cpu, dir); MambaState st = lm.newState(batch)) {
                assertArrayEquals(new long[] {batch, GN, W - 1}, st.conv(0, 1).shape());
                assertArrayEquals(new long[] {batch, DI, N}, st.ssm(1).shape());
                float[] last = new float[batch * VP];
                try (Tensor lg = st.prefill(p)) {
                    float[] all = lg.toFloatArray();
                    for (int b = 0; b < batch; b++) System.arraycopy(all, (b * prompt + prompt - 1) * VP, last, b * VP, VP);
                }
                stepLogits.add(last);
                for (int i = 0; i + 1 < steps; i++) {
                    int[] tok = new int[batch];
                    for (int b = 0; b < batch; b++) {
                        tok[b] = Sampling.greedy().pick(last, b * VP, V, null);
                        seqs[b][prompt + i] = tok[b];
                    }
                    try (Tensor lg = st.step(tok)) {
                        last = lg.toFloatArray();
                    }
                    stepLogits.add(last);
                }
                for (int b = 0; b < batch; b++) seqs[b][prompt + steps - 1] = Sampling.greedy().pick(last, b * VP, V, null);
                try (Tensor full = lm.forward(seqs)) {
                    float[] f = full.toFloatArray();
                    int len = prompt + steps;
                    for (int i = 0; i < stepLogits.size(); i++) {
                        for (int b = 0; b < batch; b++) {
                            double[] want = new double[VP];
                            for (int v = 0; v < VP; v++) want[v] = f[(b * len + prompt - 1 + i) * VP + v];
                            double err = MambaLMTest.relL2(stepLogits.get(i), b * VP, want);
                            assertTrue(err < 1e-5, dir.getFileName() + " step " + i + " b " + b + ": rel L2 " + err);
                        }
                    }
                }
                // batch-1 steps take the one-GEMM path: generate() follows the same greedy chain
                int[] gen = lm.generate(p[0], steps, Sampling.greedy(), null);
                assertArrayEquals(Arrays.copyOfRange(seqs[0], prompt, prompt + steps), gen, dir.getFileName().toString());
            }
        }
    }

    @Test
    void chunkedPrefillAndRaggedBatchesAgree() {
        int[] ids = randomSeqs(SEED + 6, 1, 12)[0];
        try (MambaLM lm = MambaLM.load(cpu, hfDir); MambaState st = lm.newState(1); Tensor full = lm.forward(new int[][] {ids})) {
            st.prefill(new int[][] {Arrays.copyOf(ids, 2)}).close(); // shorter than the conv window
            try (Tensor rest = st.prefill(new int[][] {Arrays.copyOfRange(ids, 2, 12)})) {
                float[] f = full.toFloatArray();
                double[] want = new double[10 * VP];
                for (int i = 0; i < want.length; i++) want[i] = f[2 * VP + i];
                assertTrue(MambaLMTest.relL2(rest.toFloatArray(), 0, want) < 1e-5);
            }
            Random r = new Random(SEED + 7);
            int[][] prompts = {MambaLMTest.randomIds(r, 3), MambaLMTest.randomIds(r, 8), MambaLMTest.randomIds(r, 1)};
            int[][] batch = lm.generate(prompts, 6, Sampling.greedy(), null, null);
            for (int b = 0; b < prompts.length; b++) {
                assertArrayEquals(lm.generate(prompts[b], 6, Sampling.greedy(), null), batch[b], "sequence " + b);
            }
        }
    }

    /** A prompt longer than the prefill piece goes in pieces with the state carried: the same logits as one pass. */
    @Test
    void longPromptsArePrefilledInPieces() {
        int[][] seqs = randomSeqs(SEED + 9, 2, 23);
        int old = MambaState.prefillChunk;
        try (MambaLM lm = MambaLM.load(cpu, ssmDir); Tensor whole = lm.forward(seqs)) {
            MambaState.prefillChunk = 5;
            try (MambaState st = lm.newState(2); Tensor pieces = st.prefill(seqs)) {
                assertEquals(23, st.position());
                assertArrayEquals(whole.shape(), pieces.shape());
                float[] a = whole.toFloatArray(), b = pieces.toFloatArray();
                double[] want = new double[a.length];
                for (int i = 0; i < a.length; i++) want[i] = a[i];
                assertTrue(MambaLMTest.relL2(b, 0, want) < 1e-6);
            }
        } finally {
            MambaState.prefillChunk = old;
        }
    }

    /** A bf16 checkpoint loads widened: the float64 reference of the bf16-rounded weights, in both norms' namings. */
    @Test
    void bf16CheckpointLoadsWidened() throws IOException {
        Path bf = write("hf-bf16", weights, Naming.HF, hfConfig(""), true, DType.BF16);
        Weights rounded = new Weights(SEED, false);
        for (float[][] per : new float[][][] {rounded.norm, rounded.inProj, rounded.convW, rounded.convB, rounded.dtBias, rounded.aLog, rounded.d,
                rounded.gnorm, rounded.outW}) {
            for (float[] a : per) for (int i = 0; i < a.length; i++) a[i] = DType.BF16.round(a[i]);
        }
        for (float[] a : new float[][] {rounded.emb, rounded.head, rounded.normF}) for (int i = 0; i < a.length; i++) a[i] = DType.BF16.round(a[i]);
        int[][] seqs = randomSeqs(SEED + 8, 1, 7);
        double e = worstError(bf, rounded, seqs, Norm.WHOLE, 1e-5);
        assertTrue(e < 1e-5, "bf16: rel L2 " + e);
        assertTrue(worstError(bf, weights, seqs, Norm.WHOLE, 1e-5) > 1e-4, "the rounded weights are what the model holds");
    }

    @Test
    void forwardFamilyAndCommand() {
        assertNotNull(ModelFamilies.findGenerator(hfDir));
        assertNotNull(ModelFamilies.findGenerator(ssmDir));
        String[] r = MambaLMTest.cli("generate", "--model", hfDir.toString(), "--ids", "3,1,4", "--max-new-tokens", "4", "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        try (MambaLM lm = MambaLM.load(cpu, hfDir)) {
            int[] want = lm.generate(new int[] {3, 1, 4}, 4, Sampling.greedy(), null);
            // eos_token_id 0 from config.json (its Infinity did not stop it being read) ends the run early if picked
            int end = 0;
            while (end < want.length && want[end] != 0) end++;
            int[] cut = Arrays.copyOf(want, Math.min(want.length, end + 1));
            assertEquals(Arrays.stream(cut).mapToObj(String::valueOf).collect(java.util.stream.Collectors.joining(" ")), r[1].strip());
        }
        assertArrayEquals(new int[] {0}, MambaForward.eosIds(hfDir));
    }

    @Test
    void unsupportedSettingsAreRefusedByName() {
        String[][] cases = {
            {hfConfig("").replace("[0.0, Infinity]", "[0.0, 0.1]"), "time_step_limit"},
            {hfConfig("").replace("\"num_heads\": 4", "\"num_heads\": 5"), "num_heads"},
            {hfConfig("").replace("\"n_groups\": 2", "\"n_groups\": 3"), "n_groups"},
            {hfConfig("").replace("\"silu\"", "\"gelu\""), "hidden_act"},
            {ssmConfig(", \"norm_before_gate\": true"), "norm_before_gate"},
            {ssmConfig(", \"d_ssm\": 32"), "d_ssm"},
            {ssmConfig(", \"dt_limit\": [0.001, 0.1]"), "dt_limit"},
            {ssmConfig("").replace("\"d_intermediate\": 0", "\"d_intermediate\": 128"), "d_intermediate"},
            {ssmConfig("").replace("\"attn_layer_idx\": []", "\"attn_layer_idx\": [1]"), "attn_layer_idx"},
            {ssmConfig("").replace("\"Mamba2\"", "\"Mamba3\""), "ssm_cfg.layer"},
        };
        for (String[] c : cases) {
            var e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.parse(json(c[0]), "cfg.json"), c[1]);
            assertTrue(e.getMessage().contains("cfg.json") && e.getMessage().contains(c[1]), e.getMessage());
        }
    }

    @Test
    void misshapenTensorIsNamed() throws IOException {
        Path dir = write("bad-dtbias", weights, Naming.HF, hfConfig(""), true);
        // a checkpoint whose heads disagree with the config: dt_bias of 4 heads, config says 2 heads of 32
        Files.writeString(dir.resolve("config.json"), hfConfig("").replace("\"num_heads\": 4, \"head_dim\": 16", "\"num_heads\": 2, \"head_dim\": 32"));
        var e = assertThrows(IllegalArgumentException.class, () -> MambaLM.load(cpu, dir));
        assertTrue(e.getMessage().contains("in_proj.weight"), e.getMessage());
    }

    /**
     * GPU: the mixer's ops (the gather of Δ onto channels, the three conv parts, the gated norm) on
     * CUDA against the CPU: prefill, then decode steps through the captured graph, logits within rel
     * L2 1e-4 per position; the device-side greedy pick equals the CPU's.
     */
    @Test
    @Tag("gpu")
    void cudaMatchesCpuPrefillAndDecode() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        int batch = 2, prompt = 7, steps = 12;
        int[][] p = randomSeqs(SEED + 13, batch, prompt);
        try (Device gpu = Device.cuda(0)) {
            for (Path dir : new Path[] {hfDir, ssmDir}) {
                try (MambaLM c = MambaLM.load(cpu, dir); MambaLM g = MambaLM.load(gpu, dir);
                     MambaState sc = c.newState(batch); MambaState sg = g.newState(batch)) {
                    float[] lc, lg;
                    try (Tensor a = sc.prefill(p); Tensor b = sg.prefill(p)) {
                        lc = a.toFloatArray();
                        lg = b.toFloatArray();
                    }
                    MambaLMTest.compareRows(lc, lg, dir + " prefill");
                    int[] tok = new int[batch];
                    for (int b = 0; b < batch; b++) tok[b] = Sampling.greedy().pick(lc, (b * prompt + prompt - 1) * VP, V, null);
                    for (int i = 0; i < steps; i++) {
                        try (Tensor a = sc.step(tok); Tensor b = sg.step(tok)) {
                            lc = a.toFloatArray();
                            lg = b.toFloatArray();
                        }
                        MambaLMTest.compareRows(lc, lg, dir + " step " + i);
                        for (int b = 0; b < batch; b++) tok[b] = Sampling.greedy().pick(lc, b * VP, V, null);
                    }
                    assertEquals(Arrays.toString(sc.stepGreedy(tok)), Arrays.toString(sg.stepGreedy(tok)), dir + " stepGreedy");
                    int[] one = p[0];
                    assertArrayEquals(c.generate(one, 5, Sampling.greedy(), null), g.generate(one, 5, Sampling.greedy(), null),
                            dir + " batch-1 generate");
                }
            }
        }
    }
}
