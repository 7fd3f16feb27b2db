package dev.surpass.model.pixart;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.dit.DiTEmbeddings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PixArtTransformer2DModel} on tiny random checkpoints against the float64 forward of
 * {@link PixArtFixture} (diffusers' arithmetic, the mask as a −10000 bias): with the resolution and
 * aspect-ratio conditions on a latent of another size than sample_size (the position grid
 * recomputed), and with interpolation_scale 0.5 from bf16 weights in diffusers' sharded layout;
 * padded text tokens that must not matter; the position table; refusals; leaks.
 */
class PixArtTransformer2DModelTest {
    static final int B = 3, S = 7;

    @TempDir
    static Path tmp;
    static Device cpu;
    static PixArtFixture alpha;
    static PixArtTransformer2DModel alphaModel;

    @BeforeAll
    static void load() {
        cpu = Device.cpu();
        alpha = new PixArtFixture(5, 3, 32, 2, 24, 8, true, null);
        alphaModel = PixArtTransformer2DModel.load(cpu, alpha.write(tmp.resolve("alpha").resolve("transformer"), DType.F32, 1).getParent());
    }

    @AfterAll
    static void close() {
        if (alphaModel != null) alphaModel.close();
        if (cpu != null) cpu.close();
    }

    static float[] randn(long seed, int n, double scale) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
        return v;
    }

    static int[][] mask(int... lengths) {
        int[][] m = new int[lengths.length][S];
        for (int i = 0; i < lengths.length; i++) java.util.Arrays.fill(m[i], 0, lengths[i], 1);
        return m;
    }

    static final float[] T = {999f, 421.5f, 3f};
    static final float[][] RES = {{1024, 768}, {512, 512}, {768, 1024}};
    static final float[] AR = {1024f / 768, 1f, 768f / 1024};

    static float[] run(PixArtTransformer2DModel m, float[] x, int hh, int ww, float[] text, int caption, int[][] mask, float[][] res, float[] ar) {
        try (Tensor xt = cpu.upload(DType.F32, x, B, 4, hh, ww); Tensor tt = cpu.upload(DType.F32, text, B, S, caption);
             Tensor o = m.forward(xt, T, tt, mask, res, ar)) {
            assertArrayEquals(new long[] {B, 8, hh, ww}, o.shape());
            return o.toFloatArray();
        }
    }

    static double relL2(float[] got, double[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void additionalConditionsOnAnotherSizeMatchFloat64() {
        int hh = 8, ww = 12; // sample_size 8: the 4×6 grid is rescaled to base 4
        float[] x = randn(1, B * 4 * hh * ww, 1), text = randn(2, B * S * 24, 1);
        int[][] m = mask(S, 4, 1);
        float[] got = run(alphaModel, x, hh, ww, text, 24, m, RES, AR);
        double[] want = alpha.forward(x, B, hh, ww, T, text, S, m, RES, AR);
        double err = relL2(got, want);
        assertTrue(err < 1e-5, "α with additional conditions: relL2 " + err);
        // the conditions are used: another resolution moves the output far beyond that
        float[][] other = {{512, 512}, {512, 512}, {512, 512}};
        double moved = relL2(run(alphaModel, x, hh, ww, text, 24, m, other, new float[] {1, 1, 1}), want);
        assertTrue(moved > 1e-3, "resolution changes the output: " + moved);
    }

    @Test
    void interpolatedSixteenBitShardsMatchFloat64() throws IOException {
        PixArtFixture f = new PixArtFixture(7, 2, 32, 3, 16, 16, false, 0.5);
        f.roundTo(DType.BF16);
        Path dir = f.write(tmp.resolve("sigma"), DType.BF16, 2);
        assertTrue(Files.exists(dir.resolve("diffusion_pytorch_model.safetensors.index.json")));
        int hh = 12, ww = 8;
        float[] x = randn(3, B * 4 * hh * ww, 1), text = randn(4, B * S * 16, 1);
        int[][] m = mask(2, S, 5);
        try (PixArtTransformer2DModel model = PixArtTransformer2DModel.load(cpu, dir)) {
            float[] got = run(model, x, hh, ww, text, 16, m, null, null);
            double err = relL2(got, f.forward(x, B, hh, ww, T, text, S, m, null, null));
            assertTrue(err < 1e-5, "interpolation 0.5, bf16 shards: relL2 " + err);
        }
    }

    @Test
    void paddedTokensDoNotMatterAndUnmaskingDoes() {
        int hh = 8, ww = 8;
        float[] x = randn(5, B * 4 * hh * ww, 1), text = randn(6, B * S * 24, 1);
        int[][] m = mask(3, S, 1);
        float[] base = run(alphaModel, x, hh, ww, text, 24, m, RES, AR);
        float[] changed = text.clone();
        for (int n = 0; n < B; n++) {
            for (int j = 0; j < S; j++) {
                if (m[n][j] == 0) for (int k = 0; k < 24; k++) changed[(n * S + j) * 24 + k] = 50f * (k % 3 - 1) + j;
            }
        }
        assertArrayEquals(base, run(alphaModel, x, hh, ww, changed, 24, m, RES, AR), "padded text states must not change the output");
        float[] unmasked = run(alphaModel, x, hh, ww, changed, 24, mask(S, S, S), RES, AR);
        double diff = 0;
        for (int i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(base[i] - unmasked[i]));
        assertTrue(diff > 1e-2, "unmasking the changed tokens changes the output: " + diff);
        // a sample's mask acts on that sample only: sample 1 (all kept) is the same under both masks
        float[] keep = run(alphaModel, x, hh, ww, changed, 24, mask(1, S, 1), RES, AR);
        int per = 8 * hh * ww;
        assertArrayEquals(java.util.Arrays.copyOfRange(base, per, 2 * per), java.util.Arrays.copyOfRange(keep, per, 2 * per));
    }

    @Test
    void positionTable() {
        // on the native grid with scale 1 it is DiT's table
        assertArrayEquals(DiTEmbeddings.posEmbed(32, 5), PixArtTransformer2DModel.posEmbed(32, 5, 5, 5, 1.0));
        // interpolated, non-square: against the float64 formula
        float[] got = PixArtTransformer2DModel.posEmbed(48, 6, 10, 64, 2.0);
        double[] want = PixArtFixture.pos(48, 6, 10, 64, 2.0);
        for (int i = 0; i < got.length; i++) assertEquals(want[i], got[i], 1e-6, "entry " + i);
        assertThrows(IllegalArgumentException.class, () -> PixArtTransformer2DModel.posEmbed(30, 2, 2, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> PixArtTransformer2DModel.posEmbed(32, 2, 2, 2, 0));
    }

    /** {@code surpass forward} finds the family for PixArtTransformer2DModel folders and the older Transformer2DModel ones, root or transformer/. */
    @Test
    void forwardFamilyAcceptsPixArtFolders() throws IOException {
        assertEquals("pixart", dev.surpass.cli.ModelFamilies.find(tmp.resolve("alpha")).family());
        Path old = tmp.resolve("old-class");
        Files.createDirectories(old);
        Files.writeString(old.resolve("config.json"), alpha.config().replace("PixArtTransformer2DModel", "Transformer2DModel"));
        assertEquals("pixart", dev.surpass.cli.ModelFamilies.find(old).family());
        assertTrue(PixArtTransformer2DConfig.load(old).useAdditionalConditions());
        Files.writeString(old.resolve("config.json"), alpha.config().replace("PixArtTransformer2DModel", "Transformer2DModel")
                .replace("ada_norm_single", "ada_norm_zero"));
        assertTrue(!new PixArtForward().accepts(old), "a DiT's Transformer2DModel is not PixArt's");
    }

    @Test
    void configRefusals() throws IOException {
        String ok = alpha.config();
        String[][] bad = {
            {"\"norm_type\": \"ada_norm_single\"", "\"norm_type\": \"ada_norm_zero\"", "norm_type"},
            {"\"attention_head_dim\": 32", "\"attention_head_dim\": 40", "attention_head_dim"},
            {"\"num_attention_heads\": 3", "\"num_attention_heads\": 2", "multiple of 3"},
            {"\"cross_attention_dim\": 96", "\"cross_attention_dim\": 64", "cross_attention_dim"},
            {"\"activation_fn\": \"gelu-approximate\"", "\"activation_fn\": \"geglu\"", "activation_fn"},
            {"\"norm_elementwise_affine\": false", "\"norm_elementwise_affine\": true", "norm_elementwise_affine"},
            {"\"out_channels\": 8", "\"out_channels\": 6", "out_channels"},
        };
        for (String[] b : bad) {
            Path d = tmp.resolve("bad-" + b[2].replace(' ', '-'));
            Files.createDirectories(d);
            Files.writeString(d.resolve("config.json"), ok.replace(b[0], b[1]));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PixArtTransformer2DConfig.load(d), b[1]);
            assertTrue(e.getMessage().contains(b[2]) && e.getMessage().contains("config.json"), e.getMessage());
        }
        // a checkpoint that does not match the config: a tensor of another shape, named
        Path d = tmp.resolve("wrong-shape");
        PixArtFixture f = new PixArtFixture(9, 3, 32, 1, 24, 8, true, null);
        f.write(d, DType.F32, 1);
        Files.writeString(d.resolve("config.json"), f.config().replace("\"caption_channels\": 24", "\"caption_channels\": 20"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PixArtTransformer2DModel.load(cpu, d));
        assertTrue(e.getMessage().contains("caption_projection.linear_1.weight"), e.getMessage());
        Files.writeString(d.resolve("config.json"), f.config().replace("\"use_additional_conditions\": true", "\"use_additional_conditions\": false"));
        e = assertThrows(IllegalArgumentException.class, () -> PixArtTransformer2DModel.load(cpu, d));
        assertTrue(e.getMessage().contains("use_additional_conditions"), e.getMessage());
    }

    @Test
    void forwardRefusals() {
        float[] x = randn(8, B * 4 * 64, 1), text = randn(9, B * S * 24, 1);
        try (Tensor xt = cpu.upload(DType.F32, x, B, 4, 8, 8); Tensor tt = cpu.upload(DType.F32, text, B, S, 24);
             Tensor odd = cpu.upload(DType.F32, randn(1, B * 4 * 7 * 8, 1), B, 4, 7, 8);
             Tensor narrow = cpu.upload(DType.F32, randn(2, B * S * 20, 1), B, S, 20);
             Tensor half = xt.to(DType.F16)) {
            PixArtTransformer2DModel m = alphaModel;
            String[][] cases = {{"latents"}, {"timesteps"}, {"text"}, {"textMask row 1"}, {"masks every"}, {"additional conditions"}, {"resolution"}, {"F32"}};
            assertMessage(cases[0][0], () -> m.forward(odd, T, tt, null, RES, AR));
            assertMessage(cases[1][0], () -> m.forward(xt, new float[] {1, 2}, tt, null, RES, AR));
            assertMessage(cases[2][0], () -> m.forward(xt, T, narrow, null, RES, AR));
            assertMessage(cases[3][0], () -> m.forward(xt, T, tt, new int[][] {mask(S)[0], new int[S - 1], mask(S)[0]}, RES, AR));
            assertMessage(cases[4][0], () -> m.forward(xt, T, tt, mask(S, 0, S), RES, AR));
            assertMessage(cases[5][0], () -> m.forward(xt, T, tt, null, null, null));
            assertMessage(cases[6][0], () -> m.forward(xt, T, tt, null, new float[][] {{1, 2}, {1}, {1, 2}}, AR));
            assertMessage(cases[7][0], () -> m.forward(half, T, tt, null, RES, AR));
        }
    }

    static void assertMessage(String part, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
    }

    /** After a warm-up (which caches the position table) each forward frees all it allocates; close frees the rest. */
    @Test
    void forwardLeavesNothingAllocatedAndCloseFreesAll() {
        try (Device d = Device.cpu()) {
            int before = d.liveAllocations();
            PixArtTransformer2DModel m = PixArtTransformer2DModel.load(d, tmp.resolve("alpha"));
            float[] x = randn(10, B * 4 * 64, 1), text = randn(11, B * S * 24, 1);
            try (Tensor xt = d.upload(DType.F32, x, B, 4, 8, 8); Tensor tt = d.upload(DType.F32, text, B, S, 24)) {
                m.forward(xt, T, tt, mask(S, 2, 4), RES, AR).close();
                int base = d.liveAllocations();
                for (int i = 0; i < 2; i++) {
                    try (Tensor o = m.forward(xt, T, tt, mask(1, S, 3), RES, AR)) {
                        assertEquals(base + 1, d.liveAllocations(), "only the output is left");
                    }
                    assertEquals(base, d.liveAllocations());
                }
            }
            m.close();
            m.close();
            assertEquals(before, d.liveAllocations(), "close frees the weights and the cached tables");
            assertThrows(IllegalStateException.class, () -> m.forward(null, T, null, null));
        }
    }
}
