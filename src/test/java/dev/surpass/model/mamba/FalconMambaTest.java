package dev.surpass.model.mamba;

import static dev.surpass.model.mamba.MambaLMTest.DI;
import static dev.surpass.model.mamba.MambaLMTest.SEED;
import static dev.surpass.model.mamba.MambaLMTest.V;
import static dev.surpass.model.mamba.MambaLMTest.VP;
import static dev.surpass.model.mamba.MambaLMTest.randomIds;
import static dev.surpass.model.mamba.MambaLMTest.relL2;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.cli.ModelForward;
import dev.surpass.cli.ModelGenerate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * HF {@code FalconMambaForCausalLM} through {@link MambaLM}: MambaLMTest's random Mamba-1 weights
 * (d_model 32, 2 layers, d_state 8, dt_rank 2, vocab 50 padded to 56) with an untied head, in the HF
 * naming under a falcon_mamba config.json whose {@code expand} disagrees with its
 * {@code intermediate_size} (HF keeps the latter). Checked against MambaLMTest's float64 reference
 * with the weight-free RMSNorm of dt, B and C, which is shown to matter; prefill + decode (batch 1
 * and 2, the two projection layouts of a step) against the full forward; batched generation; the
 * config's refusals.
 */
class FalconMambaTest {
    static Device cpu;
    static MambaLMTest.Weights weights;
    static Path falconDir, plainDir;

    @BeforeAll
    static void setUp() throws IOException {
        MambaLMTest.tmp = Files.createTempDirectory("falcon-mamba-test");
        cpu = Device.cpu();
        MambaLMTest.cpu = cpu;
        weights = new MambaLMTest.Weights(SEED);
        falconDir = write("falcon", config(""));
        plainDir = write("plain", MambaLMTest.hfConfig().replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"));
    }

    @AfterAll
    static void tearDown() throws IOException {
        cpu.close();
        try (var walk = Files.walk(MambaLMTest.tmp)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** A falcon_mamba config.json as HF writes one (mixer_rms_eps left to its default); {@code extra} adds fields. */
    static String config(String extra) {
        return "{\"architectures\": [\"FalconMambaForCausalLM\"], \"model_type\": \"falcon_mamba\", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 2, \"vocab_size\": 50, \"pad_vocab_size_multiple\": 8, \"state_size\": 8,"
                + " \"expand\": 16, \"intermediate_size\": 64, \"conv_kernel\": 4, \"time_step_rank\": \"auto\","
                + " \"layer_norm_epsilon\": 1e-5, \"use_bias\": false, \"use_conv_bias\": true, \"hidden_act\": \"silu\","
                + " \"residual_in_fp32\": true, \"tie_word_embeddings\": false, \"use_mambapy\": false, \"eos_token_id\": 11"
                + extra + "}";
    }

    static Path write(String name, String config) throws IOException {
        return MambaLMTest.write(name, weights, MambaLMTest.Naming.HF, MambaLMTest.Head.UNTIED, config, null);
    }

    /** Largest per-position rel L2 of {@code dir}'s logits against the reference with B/C/dt norm epsilon {@code mixEps} (0: none). */
    static double worstError(Path dir, int[][] ids, double mixEps) {
        try (MambaLM lm = MambaLM.load(cpu, dir); Tensor logits = lm.forward(ids)) {
            float[] got = logits.toFloatArray();
            int len = ids[0].length;
            double worst = 0;
            for (int b = 0; b < ids.length; b++) {
                double[][] want = MambaLMTest.reference(weights, weights.head, ids[b], mixEps);
                for (int t = 0; t < len; t++) worst = Math.max(worst, relL2(got, (b * len + t) * VP, want[t]));
            }
            return worst;
        }
    }

    @Test
    void configReadsFalconFieldsAndHfDefaults() throws IOException {
        MambaConfig c = MambaConfig.load(falconDir);
        assertTrue(c.normsDtBC());
        assertEquals(1e-6f, c.mixerRmsEps());
        assertEquals(DI, c.dInner(), "intermediate_size wins over expand · hidden_size, as in HF");
        assertEquals(MambaLMTest.R, c.dtRank());
        assertFalse(c.tieEmbeddings());
        assertFalse(c.isMamba2());
        assertTrue(MambaConfig.looksLikeMamba(falconDir));
        assertFalse(MambaConfig.load(plainDir).normsDtBC());
        // HF defaults when only the essentials are given: tied head, eps 1e-5 / 1e-6, dt_rank ceil(d/16), expand 2
        Path bare = MambaLMTest.tmp.resolve("bare");
        Files.createDirectories(bare);
        Files.writeString(bare.resolve("config.json"), "{\"model_type\": \"falcon_mamba\", \"hidden_size\": 40, \"num_hidden_layers\": 3,"
                + " \"vocab_size\": 100}");
        MambaConfig d = MambaConfig.load(bare);
        assertTrue(d.tieEmbeddings());
        assertEquals(1e-5f, d.normEps());
        assertEquals(1e-6f, d.mixerRmsEps());
        assertEquals(3, d.dtRank());
        assertEquals(80, d.dInner());
        assertEquals(16, d.dState());
        assertEquals(4, d.dConv());
        assertTrue(d.convBias());
        assertFalse(d.projBias());
        // the architectures entry alone is enough
        Files.writeString(bare.resolve("config.json"), "{\"architectures\": [\"FalconMambaForCausalLM\"], \"hidden_size\": 40,"
                + " \"num_hidden_layers\": 3, \"vocab_size\": 100, \"mixer_rms_eps\": 0.25}");
        assertTrue(MambaConfig.looksLikeMamba(bare));
        assertEquals(0.25f, MambaConfig.load(bare).mixerRmsEps());
        // plain Mamba keeps refusing an intermediate_size that disagrees with expand
        Files.writeString(bare.resolve("config.json"), "{\"model_type\": \"mamba\", \"hidden_size\": 40, \"num_hidden_layers\": 3,"
                + " \"vocab_size\": 100, \"expand\": 16, \"intermediate_size\": 80}");
        var e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(bare));
        assertTrue(e.getMessage().contains("intermediate_size"), e.getMessage());
    }

    @Test
    void badFalconConfigNamesFileAndField() throws IOException {
        Path dir = MambaLMTest.tmp.resolve("bad-falcon");
        Files.createDirectories(dir);
        for (String[] c : new String[][] {
                {", \"mixer_rms_eps\": 0", "mixer_rms_eps"},
                {", \"mixer_rms_eps\": -1e-6", "mixer_rms_eps"},
                {", \"mixer_rms_eps\": \"small\"", "mixer_rms_eps"},
                {", \"hidden_act\": \"gelu\"", "hidden_act"},
                {", \"ssm_cfg\": {\"d_state\": 8}", "ssm_cfg"}}) {
            String cfg = config("").replace(", \"hidden_act\": \"silu\"", "").replace("}", c[0] + "}");
            Files.writeString(dir.resolve("config.json"), cfg);
            var e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir), c[0]);
            assertTrue(e.getMessage().contains(c[1]) && e.getMessage().contains("config.json"), e.getMessage());
        }
        Files.writeString(dir.resolve("config.json"), config("").replace("\"model_type\": \"falcon_mamba\"", "\"model_type\": \"mamba2\""));
        var e = assertThrows(IllegalArgumentException.class, () -> MambaConfig.load(dir));
        assertTrue(e.getMessage().contains("FalconMamba") && e.getMessage().contains("config.json"), e.getMessage());
        // a missing or misshapen x_proj is named with its file
        String gone = "backbone.layers.1.mixer.x_proj.weight";
        Path missing = MambaLMTest.write("falcon-missing", weights, MambaLMTest.Naming.HF, MambaLMTest.Head.UNTIED, config(""), m -> m.remove(gone));
        e = assertThrows(IllegalArgumentException.class, () -> MambaLM.load(cpu, missing));
        assertTrue(e.getMessage().contains(gone), e.getMessage());
        Path untied = MambaLMTest.write("falcon-nohead", weights, MambaLMTest.Naming.HF, MambaLMTest.Head.TIED, config(""), null);
        e = assertThrows(IllegalArgumentException.class, () -> MambaLM.load(cpu, untied));
        assertTrue(e.getMessage().contains("lm_head.weight"), e.getMessage());
    }

    @Test
    void forwardMatchesFloat64ReferenceAndTheNormsMatter() throws IOException {
        Random r = new Random(SEED + 31);
        for (int len : new int[] {1, 5, 19}) {
            int[][] ids = {randomIds(r, len), randomIds(r, len)};
            double with = worstError(falconDir, ids, 1e-6), without = worstError(falconDir, ids, 0);
            assertTrue(with < 1e-5, "L " + len + ": rel L2 " + with + " against the reference with the norms (seed " + SEED + ")");
            assertTrue(without > 1e-3, "L " + len + ": rel L2 " + without + " against the reference without them: the norms must matter");
            // the same weights as plain HF Mamba follow the reference without the norms
            assertTrue(worstError(plainDir, ids, 0) < 1e-5);
        }
        // mixer_rms_eps is the norms' epsilon: a large one gives other logits, which the reference with it matches
        Path bigEps = write("falcon-eps", config(", \"mixer_rms_eps\": 0.5"));
        int[][] ids = {randomIds(r, 9)};
        assertTrue(worstError(bigEps, ids, 0.5) < 1e-5);
        assertTrue(worstError(bigEps, ids, 1e-6) > 1e-3, "mixer_rms_eps must be used");
    }

    @Test
    void prefillThenDecodeMatchesFullForward() {
        Random r = new Random(SEED + 32);
        for (int batch : new int[] {1, 2}) { // a batch-1 step slices one x_proj product; batch 2 runs one GEMM per part
            int prompt = 6, steps = 15;
            int[][] seqs = new int[batch][prompt + steps];
            for (int b = 0; b < batch; b++) System.arraycopy(randomIds(r, prompt), 0, seqs[b], 0, prompt);
            try (MambaLM lm = MambaLM.load(cpu, falconDir); MambaState st = lm.newState(batch)) {
                List<float[]> stepLogits = MambaLMTest.greedyChain(st, seqs, prompt, steps); // positions prompt − 1, prompt, …
                int len = prompt + steps;
                for (int b = 0; b < batch; b++) {
                    double[][] want = MambaLMTest.reference(weights, weights.head, seqs[b], 1e-6);
                    for (int i = 0; i < stepLogits.size(); i++) {
                        double err = relL2(stepLogits.get(i), b * VP, want[prompt - 1 + i]);
                        assertTrue(err < 1e-5, "batch " + batch + " step " + i + " b " + b + ": rel L2 " + err + " (seed " + SEED + ")");
                    }
                }
                try (Tensor full = lm.forward(seqs)) {
                    float[] f = full.toFloatArray();
                    for (int b = 0; b < batch; b++) {
                        double[] want = new double[VP];
                        for (int v = 0; v < VP; v++) want[v] = f[(b * len + len - 2) * VP + v];
                        assertTrue(relL2(stepLogits.get(stepLogits.size() - 1), b * VP, want) < 1e-5);
                    }
                }
                int[] gen = lm.generate(Arrays.copyOf(seqs[0], prompt), steps, Sampling.greedy(), null);
                assertArrayEquals(Arrays.copyOfRange(seqs[0], prompt, prompt + steps), gen);
            }
        }
    }

    @Test
    void batchedGenerationWithRaggedPromptsMatchesOneByOne() {
        Random r = new Random(SEED + 33);
        int[][] prompts = {randomIds(r, 2), randomIds(r, 8), randomIds(r, 1)};
        int steps = 7;
        try (MambaLM lm = MambaLM.load(cpu, falconDir)) {
            int[][] batch = lm.generate(prompts, steps, Sampling.greedy(), null, null);
            for (int b = 0; b < prompts.length; b++) {
                assertArrayEquals(lm.generate(prompts[b], steps, Sampling.greedy(), null), batch[b], "sequence " + b);
            }
            Sampling s = new Sampling(1.1, 0, 1.0, 5);
            int[][] s1 = lm.generate(prompts, steps, s, null, null);
            assertArrayEquals(lm.generate(prompts[0], steps, s, null), s1[0]);
        }
    }

    @Test
    void forwardAndGenerateFamiliesTakeFalconFolders() {
        ModelForward f = ModelFamilies.find(falconDir);
        assertNotNull(f, "no family accepts " + falconDir);
        assertEquals("mamba", f.family());
        ModelGenerate g = ModelFamilies.findGenerator(falconDir);
        assertNotNull(g);
        int[] ids = randomIds(new Random(SEED + 34), 5);
        long[] flat = Arrays.stream(ids).asLongStream().toArray();
        try (Tensor in = cpu.upload(flat, 1, 5); MambaLM lm = MambaLM.load(cpu, falconDir); Tensor want = lm.forward(new int[][] {ids})) {
            Map<String, Tensor> out = f.forward(cpu, falconDir, Map.of("input_ids", in));
            try (Tensor got = out.get("logits")) {
                MambaLMTest.assertClose(want, got);
            }
        }
        try (ModelGenerate.Generator gen = g.open(cpu, falconDir)) {
            assertTrue(gen.describe().startsWith("falcon_mamba: 2 layers"), gen.describe());
            assertArrayEquals(new int[] {11}, gen.defaultStopIds());
        }
        String[] r = MambaLMTest.cli("generate", "--model", falconDir.toString(), "--ids", "3,1,4", "--max-new-tokens", "5", "--ignore-eos",
                "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        try (MambaLM lm = MambaLM.load(cpu, falconDir)) {
            int[] want = lm.generate(new int[] {3, 1, 4}, 5, Sampling.greedy(), null);
            assertEquals(Arrays.stream(want).mapToObj(String::valueOf).collect(java.util.stream.Collectors.joining(" ")), r[1].strip());
        }
    }

    /**
     * GPU: the fp32 and bf16 FalconMamba checkpoints on CUDA against the CPU: prefill, then 12 decode
     * steps (the second and later replayed from the captured CUDA graph) at batch 1 and 2, logits
     * within rel L2 1e-4 per position, and the device's greedy pick equal to the CPU's.
     */
    @Test
    @org.junit.jupiter.api.Tag("gpu")
    void cudaMatchesCpuPrefillAndDecode() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Path bf16 = MambaLMTest.write("falcon-gpu-bf16", weights.rounded(DType.BF16), MambaLMTest.Naming.HF, MambaLMTest.Head.UNTIED,
                config(""), null, k -> DType.BF16);
        Random r = new Random(SEED + 35);
        try (Device gpu = Device.cuda(0)) {
            for (Path dir : new Path[] {falconDir, bf16}) {
                for (int batch : new int[] {1, 2}) {
                    int prompt = 7;
                    int[][] p = new int[batch][];
                    for (int b = 0; b < batch; b++) p[b] = randomIds(r, prompt);
                    try (MambaLM c = MambaLM.load(cpu, dir); MambaLM g = MambaLM.load(gpu, dir);
                         MambaState sc = c.newState(batch); MambaState sg = g.newState(batch)) {
                        float[] lc;
                        try (Tensor a = sc.prefill(p); Tensor b = sg.prefill(p)) {
                            lc = a.toFloatArray();
                            MambaLMTest.compareRows(lc, b.toFloatArray(), dir + " batch " + batch + " prefill");
                        }
                        int[] tok = new int[batch];
                        for (int b = 0; b < batch; b++) tok[b] = Sampling.greedy().pick(lc, (b * prompt + prompt - 1) * VP, V, null);
                        for (int i = 0; i < 12; i++) {
                            try (Tensor a = sc.step(tok); Tensor b = sg.step(tok)) {
                                lc = a.toFloatArray();
                                MambaLMTest.compareRows(lc, b.toFloatArray(), dir + " batch " + batch + " step " + i);
                            }
                            for (int b = 0; b < batch; b++) tok[b] = Sampling.greedy().pick(lc, b * VP, V, null);
                        }
                        assertEquals(Arrays.toString(sc.stepGreedy(tok)), Arrays.toString(sg.stepGreedy(tok)), dir + " stepGreedy");
                    }
                }
            }
        }
    }
}
