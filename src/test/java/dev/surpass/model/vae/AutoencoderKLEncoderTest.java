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
import dev.surpass.diffusion.Noise;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AutoencoderKL encoder (diffusers' Encoder + quant_conv) on tiny random VAEs against the
 * float64 encoder of {@link VaeFixture}: the moments, the asymmetric downsample padding (a
 * symmetric one fails the check), row blocks, encodeMean / encodeScaled semantics, decoder-only
 * checkpoints, the refusals, {@link AutoencoderKL#fromImages}, and on CUDA (tag gpu) against the CPU.
 */
class AutoencoderKLEncoderTest {
    static final long SEED = Long.getLong("surpass.seed", 0xE9C0DEL);
    /** fp32 against float64 through ~15 conv layers: relative L2. */
    static final double TOL = 2e-5;

    @TempDir
    static Path tmp;
    static VaeFixture fx, plain;
    static Path withEnc, plainDir, decoderOnly;
    static Device cpu;

    @BeforeAll
    static void write() {
        fx = VaeFixture.tiny(SEED).withEncoder(SEED);
        withEnc = fx.write(tmp.resolve("enc"), DType.F32, false);
        // no quant_conv, no mid attention, 3 levels (two downsamples), 2 resnets per level
        plain = new VaeFixture(new int[] {16, 24, 32}, 2, 8, 4, 3, false, false, SEED + 1).withEncoder(SEED + 1);
        plainDir = plain.write(tmp.resolve("plain"), DType.F32, false);
        decoderOnly = VaeFixture.tiny(SEED).write(tmp.resolve("deconly"), DType.F32, false);
        cpu = Device.cpu();
    }

    @AfterAll
    static void closeDevice() {
        cpu.close();
    }

    private static float[] encode(Device d, Path dir, float[] x, long... shape) {
        try (AutoencoderKL m = AutoencoderKL.load(d, dir); Tensor xt = d.upload(DType.F32, x, shape); Tensor mo = m.encode(xt)) {
            assertArrayEquals(new long[] {shape[0], 2L * m.config().latentChannels(), shape[2] / m.config().upscale(), shape[3] / m.config().upscale()},
                    mo.shape());
            return mo.toFloatArray();
        }
    }

    @Test
    void encodeMatchesFloat64Reference() {
        int n = 2, h = 6, w = 10; // non-square; 3×5 latents
        float[] x = VaeFixture.images(SEED, n * 3 * h * w);
        float[] got = encode(cpu, withEnc, x, n, 3, h, w);
        ParityResult r = ParityMath.compare(got, fx.encode(x, n, h, w, false), TOL);
        assertTrue(r.passed(), r + " seed=" + SEED);
        ParityResult sym = ParityMath.compare(got, fx.encode(x, n, h, w, true), TOL);
        assertFalse(sym.passed(), "a symmetric downsample padding must fail the check: " + sym);
        assertTrue(sym.relL2() > 1e-2, "the padding is visible: " + sym);
    }

    @Test
    void otherConfigsEncode() {
        int n = 1, h = 12, w = 8; // two downsamples: 3×2 latents
        float[] x = VaeFixture.images(SEED + 2, n * 3 * h * w);
        ParityResult r = ParityMath.compare(encode(cpu, plainDir, x, n, 3, h, w), plain.encode(x, n, h, w, false), TOL);
        assertTrue(r.passed(), "no quant_conv, no attention, 3 levels: " + r);
    }

    @Test
    void rowBlocksGiveTheSameMoments() {
        int n = 1, h = 8, w = 6;
        float[] x = VaeFixture.images(SEED + 3, n * 3 * h * w);
        float[] whole = encode(cpu, withEnc, x, n, 3, h, w);
        long saved = ConvOps.blockFloats;
        try {
            ConvOps.blockFloats = 500;
            assertTrue(ParityMath.compare(encode(cpu, withEnc, x, n, 3, h, w), toDouble(whole), 1e-6).passed());
        } finally {
            ConvOps.blockFloats = saved;
        }
    }

    @Test
    void meanAndScaledSampleSplitTheMomentsAsDiagonalGaussian() {
        int n = 2, h = 4, w = 6, lat = 4, hw = (h / 2) * (w / 2), per = lat * hw;
        float[] x = VaeFixture.images(SEED + 4, n * 3 * h * w);
        try (AutoencoderKL m = AutoencoderKL.load(cpu, withEnc); Tensor xt = cpu.upload(DType.F32, x, n, 3, h, w);
             Tensor mo = m.encode(xt); Tensor mean = m.encodeMean(xt); Tensor sc = m.encodeScaled(xt, 9); Tensor sc2 = m.encodeScaled(xt, 9);
             Tensor other = m.encodeScaled(xt, 10);
             Tensor z = Noise.gaussian(cpu, DType.F32, 9, AutoencoderKL.SAMPLE_STREAM, n, lat, h / 2, w / 2)) {
            float[] mom = mo.toFloatArray(), mu = mean.toFloatArray(), s = sc.toFloatArray(), zz = z.toFloatArray();
            assertArrayEquals(new long[] {n, lat, h / 2, w / 2}, mean.shape());
            assertArrayEquals(new long[] {n, lat, h / 2, w / 2}, sc.shape());
            double[] want = new double[s.length];
            for (int b = 0; b < n; b++) {
                for (int i = 0; i < per; i++) {
                    assertEquals(mom[2 * b * per + i], mu[b * per + i], "mean = the first latent_channels channels");
                    double logvar = Math.min(Math.max(mom[2 * b * per + per + i], -30), 20);
                    want[b * per + i] = (mom[2 * b * per + i] + Math.exp(0.5 * logvar) * zz[b * per + i]) * 0.18215;
                }
            }
            assertTrue(ParityMath.compare(s, want, 1e-6).passed(), "(mean + std·z)·scaling_factor");
            assertArrayEquals(s, sc2.toFloatArray(), "the seed fixes the sample");
            assertFalse(Arrays.equals(s, other.toFloatArray()), "another seed, another sample");
        }
        // a shift_factor is subtracted before scaling
        ObjectNode cfg = fx.config();
        cfg.put("shift_factor", 0.5);
        cfg.put("scaling_factor", 2.0);
        Path shifted = fx.write(tmp.resolve("shifted"), DType.F32, false, cfg);
        try (AutoencoderKL a = AutoencoderKL.load(cpu, withEnc); AutoencoderKL b = AutoencoderKL.load(cpu, shifted);
             Tensor xt = cpu.upload(DType.F32, x, n, 3, h, w); Tensor sa = a.encodeScaled(xt, 3); Tensor sb = b.encodeScaled(xt, 3)) {
            float[] fa = sa.toFloatArray(), fb = sb.toFloatArray();
            for (int i = 0; i < fa.length; i++) assertEquals((fa[i] / 0.18215 - 0.5) * 2, fb[i], 1e-5);
        }
    }

    @Test
    void decoderOnlyCheckpointsLoadAndRefuseToEncode() {
        try (AutoencoderKL m = AutoencoderKL.load(cpu, decoderOnly); Tensor z = cpu.upload(DType.F32, new float[4 * 9], 1, 4, 3, 3);
             Tensor img = m.decode(z); Tensor x = cpu.upload(DType.F32, new float[3 * 16], 1, 3, 4, 4)) {
            assertArrayEquals(new long[] {1, 3, 6, 6}, img.shape());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.encode(x));
            assertTrue(e.getMessage().contains("encoder") && e.getMessage().contains("no usable encoder"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> m.encodeScaled(x, 0)); // and again: nothing half-loaded is kept
            try (Tensor again = m.decode(z)) {
                assertArrayEquals(img.toFloatArray(), again.toFloatArray(), "the decoder still works");
            }
        }
    }

    @Test
    void badImagesAreRefused() {
        try (AutoencoderKL m = AutoencoderKL.load(cpu, withEnc)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.encode(null)).getMessage().contains("null"));
            try (Tensor four = cpu.upload(DType.F32, new float[4 * 16], 1, 4, 4, 4)) {
                assertTrue(assertThrows(IllegalArgumentException.class, () -> m.encode(four)).getMessage().contains("[N, 3, H, W]"));
            }
            try (Tensor odd = cpu.upload(DType.F32, new float[3 * 15], 1, 3, 3, 5)) {
                assertTrue(assertThrows(IllegalArgumentException.class, () -> m.encode(odd)).getMessage().contains("multiples of 2"));
            }
            try (Tensor flat = cpu.upload(DType.F32, new float[48], 3, 16)) {
                assertThrows(IllegalArgumentException.class, () -> m.encodeMean(flat));
            }
            try (Tensor ints = cpu.upload(new int[48], 1, 3, 4, 4)) {
                assertTrue(assertThrows(IllegalArgumentException.class, () -> m.encode(ints)).getMessage().contains("F32"));
            }
            Tensor closed = cpu.upload(DType.F32, new float[48], 1, 3, 4, 4);
            closed.close();
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.encode(closed)).getMessage().contains("closed"));
        }
        AutoencoderKL m = AutoencoderKL.load(cpu, withEnc);
        m.close();
        try (Tensor x = cpu.upload(DType.F32, new float[48], 1, 3, 4, 4)) {
            assertThrows(IllegalStateException.class, () -> m.encode(x));
        }
    }

    @Test
    void fromImagesMapsBytesToMinusOneOne() {
        BufferedImage a = new BufferedImage(3, 2, BufferedImage.TYPE_INT_RGB), b = new BufferedImage(3, 2, BufferedImage.TYPE_INT_ARGB);
        a.setRGB(0, 0, 0xFF8000);
        a.setRGB(2, 1, 0x00FF7F);
        b.setRGB(1, 0, 0x80102030); // alpha dropped
        try (Tensor t = AutoencoderKL.fromImages(cpu, a, b)) {
            assertArrayEquals(new long[] {2, 3, 2, 3}, t.shape());
            float[] v = t.toFloatArray();
            assertEquals(1f, v[0]); // a, R, (0, 0)
            assertEquals(128 / 255f * 2 - 1, v[6]); // a, G, (0, 0)
            assertEquals(-1f, v[12]); // a, B, (0, 0)
            assertEquals(127 / 255f * 2 - 1, v[12 + 5]); // a, B, (1, 2)
            assertEquals(0x10 / 255f * 2 - 1, v[18 + 1]); // b, R, (0, 1)
            assertEquals(0x30 / 255f * 2 - 1, v[18 + 12 + 1]); // b, B, (0, 1)
        }
        BufferedImage c = new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.fromImages(cpu, a, c)).getMessage().contains("image 1"));
        assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.fromImages(cpu));
        assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.fromImages(null, a));
    }

    @Test
    void forwardCommandEncodesImages(@TempDir Path work) {
        int n = 1, h = 4, w = 6;
        float[] x = VaeFixture.images(SEED + 5, n * 3 * h * w);
        Path in = work.resolve("in.safetensors"), out = work.resolve("out.safetensors");
        try (Tensor xt = cpu.upload(DType.F32, x, n, 3, h, w)) {
            dev.surpass.io.SafeTensors.write(in, java.util.Map.of("images", xt), java.util.Map.of());
        }
        String[] r = dev.surpass.cli.CliRuns.run("forward", "--model", withEnc.toString(), "--inputs", in.toString(), "--out", out.toString(),
                "--device", "cpu");
        assertEquals("0", r[0], r[1] + r[2]);
        try (dev.surpass.io.SafeTensorsFile f = dev.surpass.io.SafeTensors.open(out); Tensor m = f.tensor("moments", cpu)) {
            assertTrue(ParityMath.compare(m.toFloatArray(), fx.encode(x, n, h, w, false), TOL).passed());
        }
    }

    // ---- CUDA -----------------------------------------------------------------------------------

    @Tag("gpu")
    @Test
    void cudaMatchesCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        int n = 2, h = 6, w = 10;
        float[] x = VaeFixture.images(SEED + 10, n * 3 * h * w);
        try (Device g = Device.cuda(0)) {
            float[] onCpu = encode(cpu, withEnc, x, n, 3, h, w);
            float[] onGpu = encode(g, withEnc, x, n, 3, h, w);
            assertTrue(ParityMath.compare(onGpu, toDouble(onCpu), TOL).passed(), "CUDA vs CPU");
            ParityResult vsRef = ParityMath.compare(onGpu, fx.encode(x, n, h, w, false), TOL);
            assertTrue(vsRef.passed(), "CUDA vs float64: " + vsRef);
            try (AutoencoderKL m = AutoencoderKL.load(g, withEnc); Tensor xt = g.upload(DType.F32, x, n, 3, h, w); Tensor s = m.encodeScaled(xt, 4);
                 AutoencoderKL mc = AutoencoderKL.load(cpu, withEnc); Tensor xc = cpu.upload(DType.F32, x, n, 3, h, w); Tensor sc = mc.encodeScaled(xc, 4)) {
                assertTrue(ParityMath.compare(s.toFloatArray(), toDouble(sc.toFloatArray()), 1e-4).passed(), "same Philox sample on both");
            }
        }
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }
}
