package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.diffusion.Philox;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link DiTSampler} on the tiny random DiT: the same seed gives the same latents; a 3-step DDIM
 * with DiT's guidance and a 3-step DDPM with learned range agree with a float64 re-implementation
 * transcribed from DiT's {@code gaussian_diffusion.py} / {@code respace.py} (schedule, respacing,
 * [cond; uncond] with channels [:3] guided, Philox noise); bad input is refused.
 */
class DiTSamplerTest {
    static final long SEED = Long.getLong("surpass.seed", 11L);

    @TempDir
    static Path tmp;
    static Device cpu;
    static DiT model;

    @BeforeAll
    static void setUp() {
        cpu = Device.cpu();
        DiTFixture fx = new DiTFixture(DiTFixture.tiny(), 99);
        model = DiT.load(cpu, fx.write(tmp.resolve("tiny.safetensors")));
    }

    @AfterAll
    static void tearDown() {
        model.close();
        cpu.close();
    }

    @Test
    void sameSeedSameLatents() {
        int[] labels = {1, 7};
        for (DiTSampler.Sampler s : DiTSampler.Sampler.values()) {
            List<Integer> seen = new ArrayList<>();
            try (Tensor a = DiTSampler.sample(model, labels, 4, 4.0, s, SEED, (d, n) -> seen.add(d));
                 Tensor b = DiTSampler.sample(model, labels, 4, 4.0, s, SEED);
                 Tensor c = DiTSampler.sample(model, labels, 4, 4.0, s, SEED + 1)) {
                assertArrayEquals(new long[] {2, 4, 8, 8}, a.shape());
                float[] av = a.toFloatArray();
                assertArrayEquals(av, b.toFloatArray(), s + ": same seed");
                assertFalse(Arrays.equals(av, c.toFloatArray()), s + ": another seed");
                for (float v : av) assertTrue(Float.isFinite(v), s + ": non-finite latent");
                assertEquals(List.of(1, 2, 3, 4), seen, s + ": progress");
            }
        }
    }

    /** ᾱ of DiT's linear schedule (T = 1000), float64. */
    static double[] alphasCumprod() {
        double[] ab = new double[1000];
        double p = 1;
        for (int i = 0; i < 1000; i++) {
            double beta = 1e-4 + (0.02 - 1e-4) * i / 999.0;
            p *= 1 - beta;
            ab[i] = p;
        }
        return ab;
    }

    /** Model output for x (fp32 from the library's forward: the reference checks the sampler, not the model). */
    static float[] out(float[] x, int n, int t, int[] y) {
        return out(model, x, n, t, y);
    }

    static float[] out(DiT model, float[] x, int n, int t, int[] y) {
        float[] tv = new float[y.length];
        Arrays.fill(tv, t);
        float[] in = x;
        if (y.length == 2 * n) {
            in = new float[2 * x.length];
            System.arraycopy(x, 0, in, 0, x.length);
            System.arraycopy(x, 0, in, x.length, x.length);
        }
        try (Tensor xt = cpu.upload(DType.F32, in, y.length, 4, 8, 8); Tensor o = model.forward(xt, tv, y)) {
            return o.toFloatArray();
        }
    }

    @Test
    void ddimWithGuidanceMatchesFloat64() {
        ddimWithGuidance(model, false, new int[] {0, 500, 999}); // space_timesteps(1000, "3"): round(0), round(499.5) = 500 (half to even), 999
    }

    /** A model loaded from a diffusers folder is guided on every ε channel and visits the leading timesteps, as diffusers' DiTPipeline does. */
    @Test
    void diffusersModelGuidesEveryChannel() throws java.io.IOException {
        DiTFixture fx = new DiTFixture(DiTFixture.tiny(), 99);
        try (DiT m = DiT.load(cpu, fx.writeDiffusers(tmp.resolve("diffusers"), DType.F32, null))) {
            assertTrue(m.diffusersLayout());
            ddimWithGuidance(m, true, new int[] {0, 333, 666}); // DDIMScheduler's leading spacing: (0, 1, 2)·(1000 div 3)
        }
    }

    /** DiT's DDIM with guidance (channels [:3], or all of them) in float64 over the library's model outputs, against DiTSampler. */
    static void ddimWithGuidance(DiT model, boolean allChannels, int[] use) {
        int[] labels = {3, 9};
        int n = 2, plane = 64, c = 4, per = c * plane;
        double s = 4.0;
        double[] ab = alphasCumprod();
        double[] x = new double[n * per];
        for (int i = 0; i < x.length; i++) x[i] = Philox.normal(SEED, DiTSampler.INIT_STREAM, i);
        int[] y = {3, 9, 10, 10};
        for (int idx = 2; idx >= 0; idx--) {
            float[] xf = toFloat(x);
            float[] o = out(model, xf, n, use[idx], y);
            double a = ab[use[idx]], ap = idx == 0 ? 1 : ab[use[idx - 1]];
            double[] nx = new double[x.length];
            for (int b = 0; b < n; b++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int i = 0; i < plane; i++) {
                        double cond = o[(b * 8 + ch) * plane + i], unc = o[((b + n) * 8 + ch) * plane + i];
                        double eps = ch < 3 || allChannels ? unc + s * (cond - unc) : cond;
                        int p = (b * c + ch) * plane + i;
                        double x0 = (xf[p] - Math.sqrt(1 - a) * eps) / Math.sqrt(a);
                        nx[p] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
                    }
                }
            }
            x = nx;
        }
        try (Tensor got = DiTSampler.sample(model, labels, 3, s, DiTSampler.Sampler.DDIM, SEED)) {
            double err = DiTFixture.relL2(got.toFloatArray(), x);
            assertTrue(err < 1e-5, "DDIM relL2 " + err);
        }
    }

    @Test
    void ddpmLearnedRangeMatchesFloat64() {
        int[] labels = {5, 0};
        int n = 2, plane = 64, c = 4, per = c * plane;
        int[] use = {0, 500, 999};
        double[] ab = alphasCumprod();
        double[] x = new double[n * per];
        for (int i = 0; i < x.length; i++) x[i] = Philox.normal(SEED, DiTSampler.INIT_STREAM, i);
        for (int idx = 2; idx >= 0; idx--) {
            float[] xf = toFloat(x);
            float[] o = out(xf, n, use[idx], labels);
            double a = ab[use[idx]], ap = idx == 0 ? 1 : ab[use[idx - 1]];
            double beta = 1 - a / ap, alpha = 1 - beta;             // respaced beta
            double post = beta * (1 - ap) / (1 - a);
            double[] nx = new double[x.length];
            for (int b = 0; b < n; b++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int i = 0; i < plane; i++) {
                        int p = (b * c + ch) * plane + i;
                        double eps = o[(b * 8 + ch) * plane + i], v = o[(b * 8 + c + ch) * plane + i];
                        double x0 = (xf[p] - Math.sqrt(1 - a) * eps) / Math.sqrt(a);
                        double mu = beta * Math.sqrt(ap) / (1 - a) * x0 + (1 - ap) * Math.sqrt(alpha) / (1 - a) * xf[p];
                        if (idx > 0) {
                            double frac = (v + 1) / 2;
                            double logVar = frac * Math.log(beta) + (1 - frac) * Math.log(post);
                            mu += Math.exp(0.5 * logVar) * Philox.normal(SEED, idx, p);
                        }
                        nx[p] = mu;
                    }
                }
            }
            x = nx;
        }
        try (Tensor got = DiTSampler.sample(model, labels, 3, 1.0, DiTSampler.Sampler.DDPM, SEED)) {
            double err = DiTFixture.relL2(got.toFloatArray(), x);
            assertTrue(err < 1e-5, "DDPM relL2 " + err);
        }
    }

    @Test
    void givenNoiseAndDpmTimesteps() {
        // diffusers' linspace spacing for 5 steps: round(linspace(0, 999, 6))[::-1][:-1].
        assertArrayEquals(new int[] {999, 799, 599, 400, 200}, DiTSampler.dpmTimesteps(5));
        float[] z = DiTFixture.randomLatents(3, 2 * 4 * 64);
        try (Tensor noise = cpu.upload(DType.F32, z, 2, 4, 8, 8);
             Tensor a = DiTSampler.sample(model, new int[] {1, 2}, 2, 3.0, DiTSampler.Sampler.DDIM, 0, 0, noise, null);
             Tensor b = DiTSampler.sample(model, new int[] {1, 2}, 2, 3.0, DiTSampler.Sampler.DDIM, 5, 0, noise, null)) {
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), "η = 0 with given noise does not depend on the seed");
            assertArrayEquals(z, noise.toFloatArray(), "the noise is not consumed");
        }
    }

    @Test
    void clipDenoisedKeepsSamplesInRangeAndZeroChangesNothing() {
        int[] labels = {1, 7};
        for (DiTSampler.Sampler s : DiTSampler.Sampler.values()) {
            try (Tensor plain = DiTSampler.sample(model, labels, 3, 4.0, s, SEED, 0, null, null);
                 Tensor off = DiTSampler.sample(model, labels, 3, 4.0, s, SEED, 0, null, 0, null);
                 Tensor clipped = DiTSampler.sample(model, labels, 3, 4.0, s, SEED, 0, null, 1.0, null)) {
                float[] p = plain.toFloatArray(), c = clipped.toFloatArray();
                assertArrayEquals(p, off.toFloatArray(), s + ": clipDenoised 0 is the old behaviour");
                float maxP = 0;
                for (float v : p) maxP = Math.max(maxP, Math.abs(v));
                assertTrue(maxP > 1, s + ": the unclipped samples leave [-1, 1] (max |x| " + maxP + ")");
                if (s != DiTSampler.Sampler.DDPM) { // DDPM's last step still adds σ·z after the clipped x0
                    for (float v : c) assertTrue(Math.abs(v) <= 1 + 1e-6f, s + ": clipped sample " + v);
                }
                assertFalse(Arrays.equals(p, c), s + ": clipping changed the samples");
            }
        }
        // One DPM-Solver++ step at t = 999 to σ = 0 returns the clipped x0 of the model's ε.
        float[] z = DiTFixture.randomLatents(5, 2 * 4 * 64);
        try (Tensor noise = cpu.upload(DType.F32, z, 2, 4, 8, 8);
             Tensor got = DiTSampler.sample(model, new int[] {2, 5}, 1, 1.0, DiTSampler.Sampler.DPMPP_2M, 0, 0, noise, 0.5, null)) {
            float[] o = out(z, 2, 999, new int[] {2, 5});
            double a = alphasCumprod()[999];
            double[] want = new double[z.length];
            for (int b = 0; b < 2; b++) {
                for (int i = 0; i < 4 * 64; i++) {
                    double x0 = (z[b * 256 + i] - Math.sqrt(1 - a) * o[b * 512 + i]) / Math.sqrt(a);
                    want[b * 256 + i] = Math.max(-0.5, Math.min(0.5, x0));
                }
            }
            double err = DiTFixture.relL2(got.toFloatArray(), want);
            assertTrue(err < 1e-5, "DPM-Solver++ clipped x0 relL2 " + err);
        }
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, labels, 2, 1.0, DiTSampler.Sampler.DDIM, 0, 0, null, -1, null));
        assertThrows(IllegalArgumentException.class,
                () -> DiTSampler.sample(model, labels, 2, 1.0, DiTSampler.Sampler.DDIM, 0, 0, null, Double.NaN, null));
    }

    @Test
    void oneChannelModelGuidesThroughForwardWithCfg() {
        // Fewer than 3 channels: DiT's forward_with_cfg guides ε and the variance channel ([:3] of 2),
        // so the sampler runs it and steps the cond half unguided. One DDIM step from given noise.
        DiTConfig c = new DiTConfig(8, 2, 1, 64, 1, 2, 256, 10, 11, true);
        try (DiT m = DiT.load(cpu, new DiTFixture(c, 2).write(tmp.resolve("c1.safetensors")));
             Tensor z = cpu.upload(DType.F32, DiTFixture.randomLatents(4, 64), 1, 1, 8, 8);
             Tensor got = DiTSampler.sample(m, new int[] {4}, 1, 3.0, DiTSampler.Sampler.DDIM, 0, 0, z, null)) {
            float[] x = z.toFloatArray(), both = new float[128];
            System.arraycopy(x, 0, both, 0, 64);
            System.arraycopy(x, 0, both, 64, 64);
            float[] g;
            // space_timesteps(1000, "1") keeps timestep 0 only; the last step goes to ᾱ_prev = 1, i.e. x0.
            try (Tensor bt = cpu.upload(DType.F32, both, 2, 1, 8, 8); Tensor o = m.forwardWithCfg(bt, new float[] {0, 0}, new int[] {4, 10}, 3.0)) {
                g = o.toFloatArray();
            }
            double a = alphasCumprod()[0];
            double[] want = new double[64];
            for (int i = 0; i < 64; i++) want[i] = (x[i] - Math.sqrt(1 - a) * g[i]) / Math.sqrt(a);
            assertTrue(DiTFixture.relL2(got.toFloatArray(), want) < 1e-5);
        }
    }

    @Test
    void badInput() {
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, new int[] {10}, 2, 4, DiTSampler.Sampler.DDIM, 0));
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, new int[] {}, 2, 4, DiTSampler.Sampler.DDIM, 0));
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, new int[] {1}, 0, 4, DiTSampler.Sampler.DDIM, 0));
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, new int[] {1}, 1001, 4, DiTSampler.Sampler.DDPM, 0));
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, new int[] {1}, 2, Double.NaN, DiTSampler.Sampler.DDPM, 0));
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.sample(model, new int[] {1}, 2, 4, null, 0));
        try (Tensor wrong = cpu.upload(DType.F32, DiTFixture.randomLatents(1, 4 * 64), 1, 4, 8, 8)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DiTSampler.sample(model, new int[] {1, 2}, 2, 4, DiTSampler.Sampler.DDIM, 0, 0, wrong, null));
            assertTrue(e.getMessage().contains("noise"), e.getMessage());
        }
        assertEquals(DiTSampler.Sampler.DPMPP_2M, DiTSampler.Sampler.parse("dpmpp2m"));
        assertEquals(DiTSampler.Sampler.DPMPP_2M, DiTSampler.Sampler.parse("DPM++2M"));
        assertThrows(IllegalArgumentException.class, () -> DiTSampler.Sampler.parse("euler"));
        // A model trained without class dropout has no null class: guidance is refused.
        DiTConfig c = new DiTConfig(8, 2, 4, 64, 1, 2, 256, 10, 10, true);
        try (DiT m = DiT.load(cpu, new DiTFixture(c, 1).write(tmp.resolve("nonull.safetensors"), "", DType.F32, true,
                Map.of("num_heads", "2", "num_classes", "10")))) {
            assertEquals(10, m.config().labelRows());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DiTSampler.sample(m, new int[] {1}, 2, 4, DiTSampler.Sampler.DDIM, 0));
            assertTrue(e.getMessage().contains("null class"), e.getMessage());
        }
    }

    static float[] toFloat(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
        return f;
    }
}
