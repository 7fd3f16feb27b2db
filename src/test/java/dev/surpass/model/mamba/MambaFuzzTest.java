package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.model.decoder.DecoderFuzzCases;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes MambaLM's entries on the tiny random checkpoint of {@link MambaLMTest} (vocab 50 padded to 56):
 * forward with ids outside the vocabulary, ragged, empty or null rows (valid ones against the float64
 * reference); generate with bad prompts, maxNewTokens (up to {@code Integer.MAX_VALUE}, which must not
 * allocate a buffer that size up front), sampling and stop ids.
 */
class MambaFuzzTest {
    static Device cpu;
    static MambaLM model;
    static MambaLMTest.Weights weights;

    @BeforeAll
    static void open() throws IOException {
        cpu = Device.cpu();
        MambaLMTest.tmp = Files.createTempDirectory("mambafuzz");
        MambaLMTest.cpu = cpu;
        weights = new MambaLMTest.Weights(MambaLMTest.SEED);
        model = MambaLM.load(cpu, MambaLMTest.write("fuzz", weights, MambaLMTest.Naming.SSM, MambaLMTest.Head.TIED,
                MambaLMTest.ssmConfig(true), null));
    }

    @AfterAll
    static void close() throws IOException {
        Fuzz.finishModel("mamba");
        model.close();
        cpu.close();
        try (var s = Files.walk(MambaLMTest.tmp)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    void forward() {
        Fuzz.forAll("mamba.forward", 60, g -> forward(batches(g)));
    }

    /** A batch forward takes: rows of one non-zero length, ids below the embedding's {@code rows}. */
    static boolean validBatch(int[][] ids, int rows) {
        boolean valid = ids.length > 0;
        for (int[] r : ids) {
            valid &= r != null && r.length > 0 && ids[0] != null && r.length == ids[0].length;
            if (r != null) for (int t : r) valid &= t >= 0 && t < rows;
        }
        return valid;
    }

    private static void forward(int[][] ids) {
        String in = "ids " + Arrays.deepToString(ids);
        if (!validBatch(ids, MambaLMTest.VP)) {
            Fuzz.reject("mamba.forward", in, () -> model.forward(ids), "inputIds", "token id");
            return;
        }
        try (Tensor lg = Fuzz.call("mamba.forward", in, () -> model.forward(ids))) {
            if (lg == null) throw new AssertionError("mamba.forward: a valid batch was refused: " + in);
            float[] got = lg.toFloatArray();
            int len = ids[0].length, b = ids.length - 1;
            double[][] want = MambaLMTest.reference(weights, weights.emb, ids[b]);
            for (int t = 0; t < len; t++) {
                double err = MambaLMTest.relL2(got, (b * len + t) * MambaLMTest.VP, want[t]);
                assertTrue(err < 1e-5, "mamba.forward: relL2 " + err + " at t " + t + " for " + in);
            }
        }
    }

    static int[][] batches(Gen g) {
        return DecoderFuzzCases.batches(g, MambaLMTest.VP, 12);
    }

    @Test
    void generate() {
        Fuzz.forAll("mamba.generate", 40, g -> generate(batches(g), g.pickInt(-1, 0, 1, 4, 6),
                g.chance(0.05) ? null : DecoderFuzzCases.sampling(g), DecoderFuzzCases.stops(g, MambaLMTest.V, 2)));
    }

    private static void generate(int[][] prompts, int maxNew, Sampling sampling, int[] stops) {
        String in = "prompts " + Arrays.deepToString(prompts) + " maxNew " + maxNew + " " + sampling + " stops " + Arrays.toString(stops);
        int[][] out = Fuzz.call("mamba.generate", in, () -> model.generate(prompts, maxNew, sampling, stops, null),
                "prompts", "maxNewTokens", "sampling");
        if (out == null) return;
        for (int[] r : out) {
            assertTrue(r.length <= maxNew, in);
            for (int t : r) assertTrue(t >= 0 && t < MambaLMTest.V, "token " + t + " outside the vocabulary: " + in);
        }
    }

    /**
     * Regression: generate allocated its output buffers for maxNewTokens up front, so a huge count
     * (a Mamba has no context limit to clip it) was an OutOfMemoryError; a stop id ends it early here.
     */
    @Test
    void hugeMaxNewTokensDoesNotAllocateUpFront() {
        int[] prompt = {1, 2, 3};
        int[] first = model.generate(new int[][] {prompt}, 1, Sampling.greedy(), null, null)[0];
        int[][] out = Fuzz.call("mamba.generate", "maxNew MAX, stop at the first token", () -> model.generate(new int[][] {prompt},
                Integer.MAX_VALUE, Sampling.greedy(), first, null));
        assertTrue(out != null && out[0].length == 1 && out[0][0] == first[0], Arrays.deepToString(out));
    }

    /**
     * Mamba-2: forward on random ragged / out-of-vocabulary batches (valid ones against the float64
     * reference of {@link Mamba2LMTest}), and both namings' config.json mutated, then loaded with the
     * real weights.
     */
    @Test
    void mamba2() throws IOException {
        Mamba2LMTest.tmp = MambaLMTest.tmp;
        Mamba2LMTest.cpu = cpu;
        Mamba2LMTest.Weights w = new Mamba2LMTest.Weights(MambaLMTest.SEED, false);
        java.nio.file.Path hf = Mamba2LMTest.write("fuzz2-hf", w, Mamba2LMTest.Naming.HF, Mamba2LMTest.hfConfig(""), true);
        java.nio.file.Path ssm = Mamba2LMTest.write("fuzz2-ssm", w, Mamba2LMTest.Naming.SSM, Mamba2LMTest.ssmConfig(""), true);
        try (MambaLM m2 = MambaLM.load(cpu, hf)) {
            Fuzz.forAll("mamba2.forward", 30, g -> {
                int[][] ids = batches(g);
                String in = "ids " + Arrays.deepToString(ids);
                if (!validBatch(ids, Mamba2LMTest.VP)) {
                    Fuzz.reject("mamba2.forward", in, () -> m2.forward(ids), "inputIds", "token id");
                    return;
                }
                try (Tensor lg = Fuzz.call("mamba2.forward", in, () -> m2.forward(ids))) {
                    if (lg == null) throw new AssertionError("mamba2.forward: a valid batch was refused: " + in);
                    int len = ids[0].length, b = ids.length - 1;
                    double[][] want = Mamba2LMTest.reference(w, ids[b], Mamba2LMTest.Norm.WHOLE, 1e-5);
                    float[] got = lg.toFloatArray();
                    for (int t = 0; t < len; t++) {
                        double err = MambaLMTest.relL2(got, (b * len + t) * Mamba2LMTest.VP, want[t]);
                        assertTrue(err < 1e-5, "mamba2.forward: relL2 " + err + " at t " + t + " for " + in);
                    }
                }
            });
        }
        for (java.nio.file.Path src : new java.nio.file.Path[] {hf, ssm}) {
            Fuzz.forAll("files.mamba2.config", 20, g -> dev.surpass.fuzz.Mutate.configCase("files.mamba2.config", src,
                    MambaLMTest.tmp.resolve("cfg2"), g.anyLong(), d -> MambaLM.load(cpu, d)));
        }
    }

    /** config.json mutated (wrong types, ranges, missing keys, deep nesting, truncation) then loaded with the real weights. */
    @Test
    void configFile() {
        Fuzz.forAll("files.mamba.config", 30, g -> dev.surpass.fuzz.Mutate.configCase("files.mamba.config", MambaLMTest.tmp.resolve("fuzz"),
                MambaLMTest.tmp.resolve("cfg"), g.anyLong(), d -> MambaLM.load(cpu, d)));
    }

    /**
     * FalconMamba's config.json (mixer_rms_eps, hidden_act, an intermediate_size that wins over
     * expand) mutated, then loaded with its weights (HF naming, untied head).
     */
    @Test
    void falconConfigFile() throws IOException {
        java.nio.file.Path src = MambaLMTest.write("fuzz-falcon", weights, MambaLMTest.Naming.HF, MambaLMTest.Head.UNTIED,
                FalconMambaTest.config(", \"mixer_rms_eps\": 1e-6"), null);
        Fuzz.forAll("files.mamba.falcon_config", 20, g -> dev.surpass.fuzz.Mutate.configCase("files.mamba.falcon_config", src,
                MambaLMTest.tmp.resolve("cfg-falcon"), g.anyLong(), d -> MambaLM.load(cpu, d)));
    }
}
