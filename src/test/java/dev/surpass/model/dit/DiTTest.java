package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DiT on the CPU against the float64 forward of {@link DiTFixture} (written from models.py):
 * the tiny config (depth 2, hidden 64, 2 heads of 32, patch 2, 8×8, 4 channels, learn_sigma) and
 * the issue's (hidden 96, 3 heads of 32) and a head-dim-72 one; loading with an {@code ema.}
 * prefix, without pos_embed, from bf16; config inference; forward_with_cfg's conventions;
 * the fixed embeddings against their formulas; bad input.
 */
class DiTTest {
    static final long SEED = Long.getLong("surpass.seed", 0xD17L);
    /** fp32 GEMMs and attention through two blocks vs float64. */
    static final double TOL_F32 = 1e-4;

    @TempDir
    static Path tmp;
    static Device cpu;
    static DiTFixture fx;
    static Path file;

    @BeforeAll
    static void setUp() {
        cpu = Device.cpu();
        fx = new DiTFixture(DiTFixture.tiny(), SEED);
        file = fx.write(tmp.resolve("tiny.safetensors"));
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    static float[] check(DiTFixture f, DiT m, int n, float[] t, int[] y, double tol) {
        DiTConfig c = f.cfg;
        float[] x = DiTFixture.randomLatents(SEED + 1, n * c.inChannels() * c.inputSize() * c.inputSize());
        double[] ref = f.forward(x, n, t, y);
        try (Tensor xt = m.device().upload(m.dtype(), x, n, c.inChannels(), c.inputSize(), c.inputSize());
             Tensor out = m.forward(xt, t, y)) {
            assertArrayEquals(new long[] {n, c.outChannels(), c.inputSize(), c.inputSize()}, out.shape());
            float[] got = out.toFloatArray();
            double err = DiTFixture.relL2(got, ref);
            assertTrue(err < tol, "relL2 " + err + " >= " + tol + " (seed " + SEED + ")");
            return got;
        }
    }

    @Test
    void forwardMatchesFloat64Reference() {
        try (DiT m = DiT.load(cpu, file)) {
            assertEquals(fx.cfg, m.config());
            assertTrue(m.posEmbedFromCheckpoint());
            check(fx, m, 3, new float[] {999f, 0f, 417.5f}, new int[] {3, 10, 0}, TOL_F32);
        }
    }

    @Test
    void issueConfigAndHeadDim72() {
        // The issue's config (hidden 96, 3 heads of 32) and DiT-XL's head dim 72 (hidden 144, 2 heads).
        for (DiTConfig c : new DiTConfig[] {
            new DiTConfig(8, 2, 4, 96, 2, 3, 384, 10, 11, true),
            new DiTConfig(4, 2, 4, 144, 1, 2, 576, 5, 6, false)}) {
            DiTFixture f = new DiTFixture(c, SEED + c.hiddenSize());
            Path p = f.write(tmp.resolve("h" + c.hiddenSize() + ".safetensors"));
            try (DiT m = DiT.load(cpu, p)) {
                assertEquals(c, m.config());
                check(f, m, 2, new float[] {5f, 731f}, new int[] {1, c.numClasses()}, TOL_F32);
            }
        }
    }

    @Test
    void emaPrefixNoPosEmbedAndBf16Weights() {
        // ema. prefix, pos_embed absent (recomputed), input size and heads from the metadata.
        Path p = fx.write(tmp.resolve("ema.safetensors"), "ema.", DType.F32, false, Map.of("num_heads", "2", "input_size", "8"));
        try (DiT m = DiT.load(cpu, p)) {
            assertFalse(m.posEmbedFromCheckpoint());
            check(fx, m, 2, new float[] {12f, 500f}, new int[] {4, 7}, TOL_F32);
        }
        // module. prefix, input size and heads from a config.json beside the file.
        Path dir = tmp.resolve("cfgdir");
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), "{\"input_size\": 8, \"num_heads\": 2, \"learn_sigma\": true}");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Path q = fx.write(dir.resolve("m.safetensors"), "module.", DType.F32, false, null);
        try (DiT m = DiT.load(cpu, q)) {
            assertEquals(fx.cfg, m.config());
        }
        // bf16 checkpoint: widened to fp32 exactly, so the reference on the rounded weights matches.
        DiTFixture b = new DiTFixture(DiTFixture.tiny(), SEED);
        b.roundTo(DType.BF16);
        Path pb = b.write(tmp.resolve("bf16.safetensors"), "", DType.BF16, true, Map.of("num_heads", "2"));
        try (DiT m = DiT.load(cpu, pb)) {
            check(b, m, 1, new float[] {250f}, new int[] {2}, TOL_F32);
        }
    }

    @Test
    void bf16ComputeIsCloseToFp32() {
        try (DiT m = DiT.load(cpu, file, DType.BF16)) {
            assertEquals(DType.BF16, m.dtype());
            check(fx, m, 2, new float[] {999f, 3f}, new int[] {1, 2}, 0.05);
        }
    }

    @Test
    void forwardWithCfgFollowsTheOfficialCode() {
        DiTConfig c = fx.cfg;
        int b = 2, per = c.inChannels() * c.inputSize() * c.inputSize();
        float[] x = DiTFixture.randomLatents(SEED + 5, 2 * b * per);
        float[] t = {600f, 600f, 600f, 600f};
        int[] y = {3, 7, 10, 10};
        double s = 4.0;
        try (DiT m = DiT.load(cpu, file);
             Tensor xt = cpu.upload(DType.F32, x, 2 * b, c.inChannels(), c.inputSize(), c.inputSize());
             Tensor got = m.forwardWithCfg(xt, t, y, s)) {
            // Expected from forward on [half; half]: ε channels [:3] guided in both halves, the rest each half's own.
            float[] dup = new float[2 * b * per];
            System.arraycopy(x, 0, dup, 0, b * per);
            System.arraycopy(x, 0, dup, b * per, b * per);
            float[] f;
            try (Tensor dt = cpu.upload(DType.F32, dup, 2 * b, c.inChannels(), c.inputSize(), c.inputSize()); Tensor o = m.forward(dt, t, y)) {
                f = o.toFloatArray();
            }
            float[] g = got.toFloatArray();
            int oc = c.outChannels(), plane = c.inputSize() * c.inputSize();
            for (int n = 0; n < 2 * b; n++) {
                for (int ch = 0; ch < oc; ch++) {
                    for (int i = 0; i < plane; i++) {
                        int at = (n * oc + ch) * plane + i;
                        float want;
                        if (ch < 3) {
                            float cond = f[((n % b) * oc + ch) * plane + i], unc = f[((n % b + b) * oc + ch) * plane + i];
                            want = unc + (float) s * (cond - unc);
                        } else {
                            want = f[at];
                        }
                        assertEquals(want, g[at], 0f, "n " + n + " channel " + ch + " element " + i);
                    }
                }
            }
            // The second half of x is ignored.
            float[] x2 = x.clone();
            for (int i = b * per; i < x2.length; i++) x2[i] = -x2[i];
            try (Tensor xt2 = cpu.upload(DType.F32, x2, 2 * b, c.inChannels(), c.inputSize(), c.inputSize());
                 Tensor got2 = m.forwardWithCfg(xt2, t, y, s)) {
                assertArrayEquals(g, got2.toFloatArray());
            }
        }
    }

    @Test
    void timestepEmbeddingIsCosFirstOver128() {
        float[] t = {0f, 1f, 10f, 999f, 0.5f};
        float[] e = DiTEmbeddings.timestepFrequencies(t, 256);
        for (int n = 0; n < t.length; n++) {
            for (int k = 0; k < 128; k++) {
                double f = Math.exp(-Math.log(10000) * k / 128);
                double arg = t[n] * f;
                // fp32 evaluation as in PyTorch: the argument carries up to ~2 ulps of fp32 rounding.
                double tol = 1e-6 + 3 * Math.ulp((float) arg);
                assertEquals(Math.cos(arg), e[n * 256 + k], tol, "cos t=" + t[n] + " k=" + k);
                assertEquals(Math.sin(arg), e[n * 256 + 128 + k], tol, "sin t=" + t[n] + " k=" + k);
            }
        }
        assertEquals(1f, e[0]);                                  // t = 0: cos 0 = 1 first …
        assertEquals(0f, e[128]);                                // … then sin 0 = 0
        assertEquals((float) Math.cos(1), e[256], 1e-7);         // k = 0 has frequency 1
        assertEquals((float) Math.cos(Math.exp(-Math.log(10000) / 128)), e[257], 1e-7); // / 128, not / 127
    }

    @Test
    void posEmbedIsSinFirstColumnFirst() {
        // dim 8: halves of 4 (column j, then row i), each [sin(pos·ω) | cos(pos·ω)], ω = [1, 1/100].
        float[] p = DiTEmbeddings.posEmbed(8, 2);
        int tok = 1;  // i = 0, j = 1
        float[] want = {(float) Math.sin(1), (float) Math.sin(0.01), (float) Math.cos(1), (float) Math.cos(0.01), 0f, 0f, 1f, 1f};
        for (int k = 0; k < 8; k++) assertEquals(want[k], p[tok * 8 + k], 1e-7, "token 1 col " + k);
        tok = 2;  // i = 1, j = 0
        float[] want2 = {0f, 0f, 1f, 1f, (float) Math.sin(1), (float) Math.sin(0.01), (float) Math.cos(1), (float) Math.cos(0.01)};
        for (int k = 0; k < 8; k++) assertEquals(want2[k], p[tok * 8 + k], 1e-7, "token 2 col " + k);
        // And the table the fixture writes (same formula as models.py) for the tiny model.
        float[] big = DiTEmbeddings.posEmbed(64, 4), fix = DiTFixture.posEmbed64(64, 4);
        for (int i = 0; i < big.length; i++) assertEquals(fix[i], big[i], 1e-7);
    }

    @Test
    void configIsInferredAndPresetsMatch() {
        DiTConfig xl = DiTConfig.preset("DiT-XL/2", 32);
        assertEquals(28, xl.depth());
        assertEquals(1152, xl.hiddenSize());
        assertEquals(16, xl.numHeads());
        assertEquals(72, xl.headDim());
        assertEquals(8, xl.outChannels());
        assertEquals(256, xl.tokens());
        assertEquals(1000, xl.nullClass());
        assertEquals(6, DiTConfig.preset("S/8", 32).numHeads());
        assertEquals(12, DiTConfig.preset("DiT-B-4", 32).numHeads());
        assertEquals(24, DiTConfig.preset("dit-l/2", 64).depth());
        assertThrows(IllegalArgumentException.class, () -> DiTConfig.preset("DiT-M/2", 32));
        // No pos_embed and no hint: the input size cannot be inferred; the message says what to add.
        Path p = fx.write(tmp.resolve("nohint.safetensors"), "", DType.F32, false, Map.of("num_heads", "2"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, p));
        assertTrue(e.getMessage().contains("input_size"), e.getMessage());
        // hidden 64 is no preset: num_heads must be given.
        Path q = fx.write(tmp.resolve("noheads.safetensors"), "", DType.F32, true, null);
        e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, q));
        assertTrue(e.getMessage().contains("num_heads"), e.getMessage());
        // An explicit config works, and a wrong one is refused naming the tensor.
        try (DiT m = DiT.load(cpu, q, fx.cfg, DType.F32)) {
            assertEquals(2, m.config().numHeads());
        }
        e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, q, fx.cfg.withInputSize(16), DType.F32));
        assertTrue(e.getMessage().contains("pos_embed"), e.getMessage());
    }

    @Test
    void badInputIsRefusedAndCloseIsFinal() {
        DiT m = DiT.load(cpu, file);
        DiTConfig c = m.config();
        try (Tensor x = cpu.upload(DType.F32, DiTFixture.randomLatents(1, 2 * 4 * 64), 2, 4, 8, 8);
             Tensor wrong = cpu.upload(DType.F32, DiTFixture.randomLatents(1, 2 * 4 * 36), 2, 4, 6, 6)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(x, new float[] {1, 2}, new int[] {0, 11}));
            assertTrue(e.getMessage().contains("y[1] = 11"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(wrong, new float[] {1, 2}, new int[] {0, 1}));
            assertTrue(e.getMessage().contains("x has shape"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(x, new float[] {1}, new int[] {0, 1}));
            assertTrue(e.getMessage().contains("t has 1 values"), e.getMessage());
            try (Tensor x3 = cpu.upload(DType.F32, DiTFixture.randomLatents(1, 3 * 4 * 64), 3, 4, 8, 8)) {
                e = assertThrows(IllegalArgumentException.class, () -> m.forwardWithCfg(x3, new float[] {1, 1, 1}, new int[] {0, 1, c.nullClass()}, 4));
                assertTrue(e.getMessage().contains("even"), e.getMessage());
            }
            int live = cpu.liveAllocations();
            m.close();
            assertTrue(cpu.liveAllocations() < live, "close freed the weights");
            assertThrows(IllegalStateException.class, () -> m.forward(x, new float[] {1, 2}, new int[] {0, 1}));
            m.close();
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, tmp.resolve("missing.safetensors")));
        assertTrue(e.getMessage().contains("not a file"));
    }

    /**
     * The official checkpoint format: a train.py-style {@code torch.save} file ({@code ema}, {@code model},
     * {@code opt}, {@code args}; fp16, written by PyTorch 1.13: {@code make_tiny_dit_pt.py}) loads
     * directly (converted on the fly; the num_heads hint from config.json beside it) and gives exactly
     * what the same ema tensors give from a safetensors file written by Python.
     */
    @Test
    void officialPtFileLoadsLikeItsSafetensors() throws java.io.IOException {
        Path dir = java.nio.file.Files.createDirectories(tmp.resolve("pt"));
        for (String f : new String[] {"tiny_dit.pt", "tiny_dit_ema.safetensors", "config.json"}) {
            try (java.io.InputStream in = DiTTest.class.getResourceAsStream(f)) {
                java.nio.file.Files.copy(in, dir.resolve(f));
            }
        }
        float[] x = DiTFixture.randomLatents(SEED + 3, 2 * 4 * 8 * 8);
        float[] t = {10f, 900f};
        int[] y = {3, 10};
        float[][] out = new float[2][];
        String[] files = {"tiny_dit.pt", "tiny_dit_ema.safetensors"};
        for (int i = 0; i < 2; i++) {
            try (DiT m = DiT.load(cpu, dir.resolve(files[i])); Tensor xt = cpu.upload(DType.F32, x, 2, 4, 8, 8); Tensor o = m.forward(xt, t, y)) {
                assertEquals(64, m.config().hiddenSize());
                out[i] = o.toFloatArray();
            }
        }
        assertArrayEquals(out[1], out[0], 0f);
        assertTrue(dev.surpass.cli.ModelFamilies.find(dir.resolve("tiny_dit.pt")) != null, "surpass forward takes the .pt");
        try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith("surpass-tiny_dit.pt-")), "the temporary conversion is deleted");
        }
    }
}
