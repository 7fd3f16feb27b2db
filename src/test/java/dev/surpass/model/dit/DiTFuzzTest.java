package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the DiT entries on {@link DiTFixture}'s tiny model (10 classes + the null class, 8×8×4
 * latents): forward and forwardWithCfg with labels and timesteps outside their ranges (−1, 11, NaN,
 * ±inf, the schedule's ends 0 and 999, far past them), batches that disagree, odd guidance batches,
 * latents of another shape; and DiTSampler.sample with bad labels, step counts and guidance. Valid
 * forwards match the fixture's float64 transcription of DiT's models.py.
 */
class DiTFuzzTest {
    static Device cpu;
    @TempDir
    static Path tmp;
    static DiTFixture fx;
    static DiT model;

    @BeforeAll
    static void open() throws IOException {
        cpu = Device.cpu();
        fx = new DiTFixture(DiTFixture.tiny(), 0xD17L);
        model = DiT.load(cpu, fx.write(tmp.resolve("tiny.safetensors")));
    }

    @AfterAll
    static void close() {
        model.close();
        cpu.close();
        Fuzz.finishModel("dit");
    }

    @Test
    void forward() {
        Fuzz.forAll("dit.forward", 60, g -> forward(g.between(0, 3), labels(g), times(g), g.weighted(6, 1) == 0 ? -1 : g.between(0, 3),
                g.bool(), scale(g), g.weighted(5, 1) == 1));
    }

    private static void forward(int n, int[] y, float[] t, int badDim, boolean cfg, double scale, boolean lieAboutLengths) {
        DiTConfig c = fx.cfg;
        long[] shape = {n, c.inChannels(), c.inputSize(), c.inputSize()};
        if (badDim >= 0) shape[badDim] += 1;
        int numel = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        float[] x = DiTFixture.randomLatents(n + 1, numel);
        int[] yy = lieAboutLengths ? y : fit(y, n);
        float[] tt = lieAboutLengths ? t : fit(t, n);
        String in = "x " + Arrays.toString(shape) + " y " + Arrays.toString(yy) + " t " + Arrays.toString(tt) + (cfg ? " cfg " + scale : "");
        boolean labelsOk = Arrays.stream(yy).allMatch(v -> v >= 0 && v < c.labelRows());
        boolean timesOk = true;
        for (float v : tt) timesOk &= Float.isFinite(v);
        boolean valid = badDim < 0 && n > 0 && yy.length == n && tt.length == n && labelsOk && timesOk && (!cfg || (n % 2 == 0 && Double.isFinite(scale)));
        try (Tensor xt = cpu.upload(DType.F32, x, shape)) {
            java.util.concurrent.Callable<Tensor> call = cfg ? () -> model.forwardWithCfg(xt, tt, yy, scale) : () -> model.forward(xt, tt, yy);
            if (!valid) {
                Tensor out = Fuzz.call(cfg ? "dit.forwardWithCfg" : "dit.forward", in, call, "x", "y", "t", "label", "batch", "cfgScale");
                if (out != null) {
                    out.close();
                    // a batch of 0 is allowed (an empty result); anything else broken must be refused
                    assertTrue(n == 0 && badDim != 1 && badDim != 2 && badDim != 3, "dit: invalid input accepted: " + in);
                }
                return;
            }
            try (Tensor out = Fuzz.call(cfg ? "dit.forwardWithCfg" : "dit.forward", in, call)) {
                if (out == null) throw new AssertionError("dit: a valid call was refused: " + in);
                float[] got = out.toFloatArray();
                for (float v : got) assertTrue(Float.isFinite(v), "non-finite output for " + in);
                boolean moderate = true; // far past the schedule, sin(t·f) in fp32 and fp64 part ways: only finiteness is asked there
                for (float v : tt) moderate &= Math.abs(v) <= 2000;
                if (!cfg && moderate) {
                    double err = DiTFixture.relL2(got, fx.forward(x, n, tt, yy));
                    assertTrue(err < 1e-4, "dit.forward: relL2 " + err + " for " + in);
                }
            }
        }
    }

    /** {@code a} cut or repeated to length {@code n}. */
    static int[] fit(int[] a, int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = a.length == 0 ? 7 : a[i % a.length];
        return r;
    }

    static float[] fit(float[] a, int n) {
        float[] r = new float[n];
        for (int i = 0; i < n; i++) r[i] = a.length == 0 ? 250f : a[i % a.length];
        return r;
    }

    static int[] labels(Gen g) {
        return g.intArray(0, 4, () -> g.weighted(10, 1) == 0 ? g.between(0, 10) : g.pickInt(-1, 11, Integer.MIN_VALUE, Integer.MAX_VALUE));
    }

    static float[] times(Gen g) {
        return g.floatArray(0, 4, () -> switch (g.weighted(10, 3, 1)) {
            case 0 -> g.pickFloat(0f, 1f, 500f, 998f, 999f);
            case 1 -> g.between(-10f, 2000f);
            default -> g.pickFloat(Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e30f);
        });
    }

    static double scale(Gen g) {
        return g.pickDouble(1.0, 4.0, 0.0, -2.0, Double.NaN, Double.POSITIVE_INFINITY);
    }

    @Test
    void sample() {
        Fuzz.forAll("dit.sample", 25, g -> sample(labels(g), g.pickInt(-1, 0, 1, 2, 3, 1001, Integer.MAX_VALUE), scale(g),
                g.pick(DiTSampler.Sampler.class), g.anyLong()));
    }

    private static void sample(int[] labels, int steps, double guidance, DiTSampler.Sampler sampler, long seed) {
        String in = "labels " + Arrays.toString(labels) + " steps " + steps + " guidance " + guidance + " " + sampler;
        Tensor out = Fuzz.call("dit.sample", in, () -> DiTSampler.sample(model, labels, steps, guidance, sampler, seed),
                "labels", "label", "steps", "guidance", "y[");
        if (out != null) {
            try (out) {
                assertTrue(labels.length > 0 && steps >= 1 && steps <= 3, "dit.sample: accepted " + in);
                for (float v : out.toFloatArray()) assertTrue(Float.isFinite(v), "non-finite sample for " + in);
            }
        }
    }

    /**
     * The checkpoint file mutated (header bit flips, truncations, lying offsets and lengths, NaN/Inf
     * over weights, trailing garbage) then loaded: the model loads (its config is inferred from the
     * tensor shapes) and runs one forward, or the refusal names the file.
     */
    @Test
    void checkpointFile() {
        Fuzz.forAll("files.dit.safetensors", 40, g -> checkpointFile(g.anyLong()));
    }

    /** A diffusers folder's config.json mutated (wrong types, ranges, missing keys, truncation) then loaded with its real weights. */
    @Test
    void diffusersConfigFile() throws IOException {
        Path src = fx.writeDiffusers(tmp.resolve("diffusers"), DType.F32, null);
        Fuzz.forAll("files.dit.diffusers.config", 30, g -> dev.surpass.fuzz.Mutate.configCase("files.dit.diffusers.config", src,
                tmp.resolve("diffusers-cfg"), g.anyLong(), d -> DiT.load(cpu, d)));
    }

    private static void checkpointFile(long seed) throws IOException {
        byte[] valid = Files.readAllBytes(tmp.resolve("tiny.safetensors"));
        int header = 8 + (int) java.nio.ByteBuffer.wrap(valid).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
        Path f = dev.surpass.fuzz.Mutate.write(tmp.resolve("mutated.safetensors"), dev.surpass.fuzz.Mutate.bytes(valid, header, new java.util.Random(seed)));
        DiT m = Fuzz.call("files.dit.safetensors", "seed " + seed, () -> DiT.load(cpu, f), f.getFileName().toString());
        if (m == null) return;
        try (m; Tensor x = cpu.upload(DType.F32, DiTFixture.randomLatents(1, 4 * 8 * 8), 1, 4, 8, 8)) {
            Tensor out = Fuzz.call("files.dit.forward", "seed " + seed, () -> m.forward(x, new float[] {10}, new int[] {3}));
            if (out != null) out.close(); // NaN/Inf weights give non-finite outputs: documented, not an error
        }
    }
}
