package dev.surpass.model.vae;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AutoencoderKL decoder on tiny random VAEs against the float64 decoder of {@link VaeFixture}
 * (written from diffusers' Decoder), both attention namings, the pieces that matter, 16-bit files,
 * the refusals, and on CUDA (tag gpu) against the CPU.
 */
class AutoencoderKLTest {
    static final long SEED = Long.getLong("surpass.seed", 0x7AE5EEDL);
    /** fp32 against float64 through ~20 layers of 3×3 convs: relative L2. */
    static final double TOL = 2e-5;

    @TempDir
    static Path tmp;

    static VaeFixture fx;
    static Path newNames, legacyNames;
    static Device cpu;

    @BeforeAll
    static void write() {
        fx = VaeFixture.tiny(SEED);
        newNames = fx.write(tmp.resolve("new"), DType.F32, false);
        legacyNames = fx.write(tmp.resolve("legacy"), DType.F32, true);
        cpu = Device.cpu();
    }

    @AfterAll
    static void closeDevice() {
        cpu.close();
    }

    private static float[] decode(Device d, Path dir, float[] z, long... shape) {
        try (AutoencoderKL m = AutoencoderKL.load(d, dir); Tensor zt = d.upload(DType.F32, z, shape); Tensor img = m.decode(zt)) {
            return img.toFloatArray();
        }
    }

    @Test
    void decodeMatchesFloat64Reference() {
        int n = 2, h = 5, w = 7; // awkward, non-square
        float[] z = VaeFixture.latents(SEED, n * 4 * h * w);
        double[] ref = fx.decode(z, n, h, w);
        try (AutoencoderKL m = AutoencoderKL.load(cpu, newNames); Tensor zt = cpu.upload(DType.F32, z, n, 4, h, w); Tensor img = m.decode(zt)) {
            assertArrayEquals(new long[] {n, 3, 2 * h, 2 * w}, img.shape());
            ParityResult r = ParityMath.compare(img.toFloatArray(), ref, TOL);
            assertTrue(r.passed(), r + " seed=" + SEED);
        }
    }

    @Test
    void legacyAttentionNamesGiveTheSameImages() {
        float[] z = VaeFixture.latents(SEED + 1, 4 * 6 * 3);
        assertArrayEquals(decode(cpu, newNames, z, 1, 4, 6, 3), decode(cpu, legacyNames, z, 1, 4, 6, 3));
    }

    /** Leaving any piece out of the reference moves it far beyond the tolerance: each one is checked. */
    @Test
    void eachPieceMatters() {
        int h = 4, w = 5;
        float[] z = VaeFixture.latents(SEED + 2, 4 * h * w);
        float[] got = decode(cpu, newNames, z, 1, 4, h, w);
        assertTrue(ParityMath.compare(got, fx.decode(z, 1, h, w), TOL).passed());
        for (VaeFixture.Piece p : VaeFixture.Piece.values()) {
            ParityResult r = ParityMath.compare(got, fx.decode(z, 1, h, w, EnumSet.of(p)), TOL);
            assertTrue(r.relL2() > 100 * TOL, "without " + p + ": " + r);
        }
    }

    @Test
    void otherConfigsDecode() {
        // three levels (×4), 2 layers per block, 4 groups, no post_quant_conv, no mid attention, 1-channel images
        VaeFixture f = new VaeFixture(new int[] {8, 12, 16}, 2, 4, 3, 1, false, false, SEED + 3);
        Path dir = f.write(tmp.resolve("three"), DType.F32, false);
        float[] z = VaeFixture.latents(SEED + 4, 3 * 3 * 2);
        float[] got = decode(cpu, dir, z, 1, 3, 3, 2);
        assertEquals(12 * 8, got.length);
        ParityResult r = ParityMath.compare(got, f.decode(z, 1, 3, 2), TOL);
        assertTrue(r.passed(), r.toString());
    }

    @Test
    void rowBlocksGiveTheSameImages() {
        float[] z = VaeFixture.latents(SEED + 5, 4 * 5 * 7);
        float[] whole = decode(cpu, newNames, z, 1, 4, 5, 7);
        long saved = dev.surpass.model.conv.ConvOps.blockFloats;
        try {
            dev.surpass.model.conv.ConvOps.blockFloats = 3000; // im2col in blocks of a row or less; attention in blocks of 85 query rows
            float[] blocks = decode(cpu, newNames, z, 1, 4, 5, 7);
            // the same sums, but GEMMs of other heights block theirs differently: equal to rounding
            ParityResult r = ParityMath.compare(blocks, toDouble(whole), 1e-6);
            assertTrue(r.passed(), r.toString());
        } finally {
            dev.surpass.model.conv.ConvOps.blockFloats = saved;
        }
    }

    @Test
    void decodeScaledUndoesTheScalingFactor() {
        float[] z = VaeFixture.latents(SEED + 6, 4 * 3 * 4);
        float k = (float) (1 / 0.18215);
        float[] unscaled = z.clone();
        for (int i = 0; i < unscaled.length; i++) unscaled[i] *= k; // DiTPipeline: 1 / scaling_factor * latents
        try (AutoencoderKL m = AutoencoderKL.load(cpu, newNames); Tensor zt = cpu.upload(DType.F32, z, 1, 4, 3, 4);
             Tensor a = m.decodeScaled(zt); Tensor u = cpu.upload(DType.F32, unscaled, 1, 4, 3, 4); Tensor b = m.decode(u);
             Tensor plain = m.decode(zt)) {
            assertEquals(0.18215, m.config().scalingFactor());
            assertArrayEquals(b.toFloatArray(), a.toFloatArray());
            assertFalse(ParityMath.compare(plain.toFloatArray(), fx.decode(unscaled, 1, 3, 4), 1e-2).passed(), "decode does not scale");
        }
    }

    @Test
    void sixteenBitFilesAreWidened() {
        VaeFixture f = VaeFixture.tiny(SEED + 7);
        f.roundTo(DType.BF16);
        Path b16 = f.write(tmp.resolve("bf16"), DType.BF16, true), f32 = f.write(tmp.resolve("f32r"), DType.F32, true);
        float[] z = VaeFixture.latents(SEED + 8, 4 * 4 * 3);
        float[] got = decode(cpu, b16, z, 1, 4, 4, 3);
        assertArrayEquals(decode(cpu, f32, z, 1, 4, 4, 3), got);
        assertTrue(ParityMath.compare(got, f.decode(z, 1, 4, 3), TOL).passed());
    }

    @Test
    void pipelineFolderLoadsItsVae() throws Exception {
        Path root = tmp.resolve("pipeline");
        fx.write(root.resolve("vae"), DType.F32, false);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"DiTPipeline\"}");
        float[] z = VaeFixture.latents(SEED + 9, 4 * 2 * 2);
        assertArrayEquals(decode(cpu, newNames, z, 1, 4, 2, 2), decode(cpu, root, z, 1, 4, 2, 2));
    }

    /** Attention projections stored as 1×1 conv weights [C, C, 1, 1] (either naming) load as the [C, C] linears they are. */
    @Test
    void convShapedAttentionWeightsLoad() {
        Path dir = fx.write(tmp.resolve("conv-attn"), DType.F32, true);
        Path file = dir.resolve("diffusion_pytorch_model.safetensors");
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensors.open(file)) {
            for (String n : f.names()) {
                boolean proj = n.startsWith("decoder.mid_block.attentions.0.") && n.endsWith(".weight") && !n.contains("group_norm");
                try (Tensor t = f.tensor(n, cpu); Tensor copy = t.to(cpu)) {
                    ts.put(n, proj ? copy.reshape(t.dim(0), t.dim(1), 1, 1) : copy.reshape(t.shape()));
                }
            }
        }
        SafeTensors.write(file, ts);
        ts.values().forEach(Tensor::close);
        float[] z = VaeFixture.latents(SEED + 13, 4 * 2 * 3);
        assertArrayEquals(decode(cpu, newNames, z, 1, 4, 2, 3), decode(cpu, dir, z, 1, 4, 2, 3));
    }

    /** A folder with an .fp16 variant beside the plain weights loads the plain ones (here the variant is another VAE). */
    @Test
    void thePlainWeightFileWinsOverAVariant() throws Exception {
        Path dir = tmp.resolve("variants");
        fx.write(dir, DType.F32, false);
        Path other = VaeFixture.tiny(SEED + 11).write(tmp.resolve("other"), DType.F16, false);
        Files.copy(other.resolve("diffusion_pytorch_model.safetensors"), dir.resolve("diffusion_pytorch_model.fp16.safetensors"));
        float[] z = VaeFixture.latents(SEED + 12, 4 * 3 * 3);
        assertArrayEquals(decode(cpu, newNames, z, 1, 4, 3, 3), decode(cpu, dir, z, 1, 4, 3, 3));
    }

    @Test
    void toImagesRoundsAsNumpyToPil() {
        float[] v = {-1f, 1f, 0f, 2f, -3f, 0.5f, Float.NaN, 0.001f, -0.999f, 0.2f, 0.6f, -0.4f};
        try (Tensor t = cpu.upload(DType.F32, v, 1, 3, 2, 2)) {
            BufferedImage img = AutoencoderKL.toImages(t)[0];
            assertEquals(2, img.getWidth());
            for (int y = 0; y < 2; y++) {
                for (int x = 0; x < 2; x++) {
                    int rgb = img.getRGB(x, y);
                    for (int ch = 0; ch < 3; ch++) {
                        float p = v[(ch * 2 + y) * 2 + x];
                        float u = Math.min(Math.max(p / 2 + 0.5f, 0f), 1f);
                        int want = Float.isNaN(u) ? 0 : (int) Math.rint(u * 255f);
                        assertEquals(want, (rgb >> (16 - 8 * ch)) & 255, "channel " + ch + " of " + p);
                    }
                }
            }
        }
        assertEquals(0, AutoencoderKL.toByte(-1f));
        assertEquals(255, AutoencoderKL.toByte(1f));
        assertEquals(128, AutoencoderKL.toByte(0f)); // 127.5 rounds half to even
        assertEquals(255, AutoencoderKL.toByte(5f));
    }

    // ---- refusals -------------------------------------------------------------------------------

    private static void assertRefused(Consumer<ObjectNode> edit, String... parts) {
        ObjectNode c = fx.config();
        edit.accept(c);
        Path dir = fx.write(tmp.resolve("bad-" + Integer.toHexString(c.hashCode())), DType.F32, false, c);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(cpu, dir).close());
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage()); // config.json, or the weights for a shape the config implies
        for (String p : parts) assertTrue(e.getMessage().contains(p), "\"" + e.getMessage() + "\" lacks \"" + p + "\"");
    }

    @Test
    void badConfigsAreRefusedNamingTheField() {
        assertRefused(c -> c.put("_class_name", "AutoencoderTiny"), "\"_class_name\"", "AutoencoderTiny");
        assertRefused(c -> c.put("act_fn", "gelu"), "\"act_fn\"", "gelu");
        assertRefused(c -> c.put("norm_num_groups", 7), "\"norm_num_groups\" is 7", "32");
        assertRefused(c -> c.putArray("up_block_types").add("UpDecoderBlock2D"), "\"up_block_types\"", "2 names");
        assertRefused(c -> c.putArray("up_block_types").add("UpDecoderBlock2D").add("AttnUpDecoderBlock2D"), "AttnUpDecoderBlock2D");
        assertRefused(c -> c.putArray("block_out_channels").add(32).add(-48), "\"block_out_channels\"", "entry 1");
        assertRefused(c -> c.put("layers_per_block", 0), "\"layers_per_block\"");
        assertRefused(c -> c.put("scaling_factor", "big"), "\"scaling_factor\"");
        assertRefused(c -> c.put("mid_block_add_attention", "yes"), "\"mid_block_add_attention\"");
        assertRefused(c -> c.put("latent_channels", 8), "post_quant_conv.weight", "[4, 4, 1, 1]", "[8, 8, 1, 1]");
    }

    @Test
    void missingAndMisshapenTensorsAreRefusedNamingThem() throws Exception {
        for (String drop : new String[] {"decoder.up_blocks.1.resnets.0.conv_shortcut.weight", "decoder.mid_block.attentions.0.to_v.weight",
                                         "decoder.conv_norm_out.bias"}) {
            Path dir = tmp.resolve("drop-" + drop.hashCode());
            fx.write(dir, DType.F32, false);
            rewrite(dir, drop, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(cpu, dir).close());
            assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("'" + drop + "'"), e.getMessage());
            if (drop.contains("to_v")) assertTrue(e.getMessage().contains("value.weight"), "names the legacy key too: " + e.getMessage());
        }
        Path dir = tmp.resolve("shape");
        fx.write(dir, DType.F32, false);
        rewrite(dir, "decoder.conv_in.weight", new long[] {48, 4, 1, 1});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(cpu, dir).close());
        assertTrue(e.getMessage().contains("diffusion_pytorch_model.safetensors: tensor 'decoder.conv_in.weight' has shape [48, 4, 1, 1]")
                && e.getMessage().contains("[48, 4, 3, 3]"),
                e.getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(cpu, empty));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    /** Rewrites one tensor of the folder's file: dropped (shape null) or replaced by one of another shape. */
    private static void rewrite(Path dir, String name, long[] shape) {
        Path file = dir.resolve("diffusion_pytorch_model.safetensors");
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensors.open(file)) {
            for (String n : f.names()) {
                if (!n.equals(name)) {
                    try (Tensor t = f.tensor(n, cpu)) {
                        ts.put(n, t.to(cpu)); // a copy: the file's mapping closes with it
                    }
                }
                else if (shape != null) ts.put(n, cpu.upload(DType.F32, VaeFixture.latents(1, (int) (shape[0] * shape[1] * shape[2] * shape[3])), shape));
            }
        }
        SafeTensors.write(file, ts);
        for (Tensor t : ts.values()) t.close();
    }

    @Test
    void badLatentsAreRefused() {
        try (AutoencoderKL m = AutoencoderKL.load(cpu, newNames); Tensor three = cpu.upload(DType.F32, VaeFixture.latents(1, 12), 4, 3);
             Tensor channels = cpu.upload(DType.F32, VaeFixture.latents(1, 18), 1, 3, 2, 3);
             Tensor ints = cpu.upload(new int[] {1, 2, 3, 4}, 1, 4, 1, 1)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.decode(three)).getMessage().contains("expected [N, 4, h, w]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.decode(channels)).getMessage().contains("expected [N, 4, h, w]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.decode(ints)).getMessage().contains("expected F32, F16 or BF16"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.decode(null)).getMessage().contains("null"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.toImages(three)).getMessage().contains("toImages"));
            m.close();
            assertThrows(IllegalStateException.class, () -> m.decode(channels));
        }
    }

    // ---- CUDA -----------------------------------------------------------------------------------

    @Tag("gpu")
    @Test
    void cudaMatchesCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        int n = 2, h = 5, w = 7;
        float[] z = VaeFixture.latents(SEED + 10, n * 4 * h * w);
        try (Device g = Device.cuda(0)) {
            float[] onCpu = decode(cpu, legacyNames, z, n, 4, h, w);
            float[] onGpu = decode(g, legacyNames, z, n, 4, h, w);
            ParityResult vsCpu = ParityMath.compare(onGpu, toDouble(onCpu), TOL);
            assertTrue(vsCpu.passed(), "CUDA vs CPU: " + vsCpu);
            ParityResult vsRef = ParityMath.compare(onGpu, fx.decode(z, n, h, w), TOL);
            assertTrue(vsRef.passed(), "CUDA vs float64: " + vsRef);
            long saved = dev.surpass.model.conv.ConvOps.blockFloats;
            try {
                dev.surpass.model.conv.ConvOps.blockFloats = 3000;
                assertTrue(ParityMath.compare(decode(g, legacyNames, z, n, 4, h, w), toDouble(onGpu), 1e-6).passed(), "CUDA row blocks");
            } finally {
                dev.surpass.model.conv.ConvOps.blockFloats = saved;
            }
        }
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }
}
