package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link DiffusersSampler} against float64 transcriptions of diffusers' scheduler loops
 * ({@link DiffusersReference}), with a toy
 * analytic model whose output depends on x and on the timestep it is given (so the timesteps and
 * the input scaling are checked too), guided or not, ε- and v-prediction.
 */
class DiffusersSamplerTest {
    static final long[] SHAPE = {2, 3, 5, 7};
    static final int N = (int) (SHAPE[0] * SHAPE[1] * SHAPE[2] * SHAPE[3]);

    /** Stable Diffusion 1.x's scheduler config (PNDM). */
    static SchedulerConfig sd15() {
        return new SchedulerConfig("PNDMScheduler", 1000, 0.00085, 0.012, "scaled_linear", null, "epsilon", null, 1, false, false, 1.0, true,
                false, false, 2, "dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null);
    }

    /** The toy model: cond / uncond outputs at (x, t). */
    static double model(double x, double t, int k, boolean cond) {
        return cond ? 0.3 * x + 0.05 * Math.sin(t * 0.01 + 0.1 * k) : 0.1 * x + 0.02 * Math.cos(t * 0.013 + 0.07 * k);
    }

    static double[] start() {
        double[] x = new double[N];
        java.util.Random r = new java.util.Random(42);
        for (int i = 0; i < N; i++) x[i] = r.nextGaussian();
        return x;
    }

    /** The guided model output at (x_in, t), diffusers' order (uncond + g·(cond − uncond)). */
    static double[] out(double[] xin, double t, double g) {
        double[] e = new double[N];
        for (int i = 0; i < N; i++) {
            double c = model(xin[i], t, i, true);
            e[i] = g > 1 ? model(xin[i], t, i, false) + g * (c - model(xin[i], t, i, false)) : c;
        }
        return e;
    }

    /** Runs the sampler through tensors on the CPU, the model computed on the host. */
    static double[] runSampler(SchedulerConfig cfg, DiffusersSampler.Kind kind, int steps, double g) {
        return runSampler(Device.cpu(), cfg, kind, steps, g);
    }

    /** {@link #runSampler(SchedulerConfig, DiffusersSampler.Kind, int, double)} with the latents on {@code dev}. */
    static double[] runSampler(Device dev, SchedulerConfig cfg, DiffusersSampler.Kind kind, int steps, double g) {
        double[] x0 = start();
        try (DiffusersSampler s = DiffusersSampler.create(cfg, kind, steps, 0, 5)) {
            float[] xf = new float[N];
            for (int i = 0; i < N; i++) xf[i] = (float) (x0[i] * s.initNoiseSigma());
            Tensor x = dev.upload(DType.F32, xf, SHAPE);
            for (int i = 0; i < s.evaluations(); i++) {
                float[] cur = x.toFloatArray();
                float t = s.timestep(i);
                double sc = s.inputScale(i);
                int b = g > 1 ? 2 : 1;
                float[] mo = new float[N * b];
                for (int k = 0; k < N; k++) {
                    double xin = cur[k] * sc;
                    if (g > 1) {
                        mo[k] = (float) model(xin, t, k, false);
                        mo[N + k] = (float) model(xin, t, k, true);
                    } else {
                        mo[k] = (float) model(xin, t, k, true);
                    }
                }
                long[] ms = SHAPE.clone();
                ms[0] *= b;
                Tensor next;
                try (Tensor m = dev.upload(DType.F32, mo, ms)) {
                    next = s.step(x, m, i, g);
                }
                x.close();
                x = next;
            }
            try (Tensor last = x) {
                float[] r = last.toFloatArray();
                double[] d = new double[N];
                for (int i = 0; i < N; i++) d[i] = r[i];
                return d;
            }
        }
    }

    static double relL2(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    // ---- tests ------------------------------------------------------------------------------------

    @ParameterizedTest(name = "pndm steps={0} guidance={1} v={2}")
    @CsvSource({"50, 7.5, false", "20, 1, false", "7, 3, true", "2, 2, false", "1, 5, false"})
    void pndmMatchesDiffusers(int steps, double g, boolean v) {
        SchedulerConfig c = v ? sd15().withPredictionType("v_prediction") : sd15();
        double err = relL2(runSampler(c, null, steps, g), DiffusersReference.pndm(start(), DiffusersReference.sdAlphasCumprod(), steps, v, (x, t) -> out(x, t, g)));
        assertTrue(err < 2e-5, "pndm relL2 " + err);
    }

    @ParameterizedTest(name = "ddim steps={0} guidance={1} spacing={2}")
    @CsvSource({"50, 7.5, leading", "13, 1, linspace", "10, 4, trailing"})
    void ddimMatchesDiffusers(int steps, double g, String spacing) {
        SchedulerConfig c = new SchedulerConfig("DDIMScheduler", 1000, 0.00085, 0.012, "scaled_linear", null, "epsilon", spacing, 1, null,
                false, 1.0, null, false, false, 2, "dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null);
        double err = relL2(runSampler(c, null, steps, g), DiffusersReference.ddim(start(), DiffusersReference.sdAlphasCumprod(), steps, spacing, (x, t) -> out(x, t, g)));
        assertTrue(err < 2e-5, "ddim relL2 " + err);
    }

    @ParameterizedTest(name = "euler steps={0} guidance={1} v={2}")
    @CsvSource({"30, 7.5, false", "9, 1, true"})
    void eulerMatchesDiffusers(int steps, double g, boolean v) {
        SchedulerConfig c = v ? sd15().withPredictionType("v_prediction") : sd15();
        double err = relL2(runSampler(c, DiffusersSampler.Kind.EULER, steps, g), DiffusersReference.euler(start(), DiffusersReference.sdAlphasCumprod(), steps, v, (x, t) -> out(x, t, g)));
        assertTrue(err < 2e-5, "euler relL2 " + err);
    }

    @ParameterizedTest(name = "dpm++2m steps={0} guidance={1}")
    @CsvSource({"25, 7.5", "4, 1", "16, 3"})
    void dpmMatchesDiffusers(int steps, double g) {
        double err = relL2(runSampler(sd15(), DiffusersSampler.Kind.DPMPP_2M, steps, g), DiffusersReference.dpm(start(), DiffusersReference.sdAlphasCumprod(), steps, (x, t) -> out(x, t, g)));
        assertTrue(err < 2e-5, "dpm relL2 " + err);
    }

    /** sd15's schedule under another scheduler class, spacing, prediction, clip and solver settings. */
    static SchedulerConfig sdAs(String cls, String spacing, boolean v, Boolean clip, boolean karras, int order, String solverType) {
        return new SchedulerConfig(cls, 1000, 0.00085, 0.012, "scaled_linear", null, v ? "v_prediction" : "epsilon", spacing, 1, null, clip, 1.0,
                null, false, karras, order, "dpmsolver++", solverType, "zero", Double.NEGATIVE_INFINITY, null);
    }

    @ParameterizedTest(name = "euler-a steps={0} guidance={1} v={2}")
    @CsvSource({"30, 7.5, false", "9, 1, true", "2, 3, false"})
    void eulerAncestralMatchesDiffusers(int steps, double g, boolean v) {
        SchedulerConfig c = sdAs("EulerAncestralDiscreteScheduler", null, v, null, false, 2, "midpoint");
        double err = relL2(runSampler(c, null, steps, g),
                DiffusersReference.eulerAncestral(start(), DiffusersReference.sdAlphasCumprod(), steps, v, (x, t) -> out(x, t, g), 5));
        assertTrue(err < 2e-6, "euler-a relL2 " + err);
    }

    @ParameterizedTest(name = "ddpm steps={0} guidance={1} v={2} clip={3}")
    @CsvSource({"50, 7.5, false, false", "13, 1, true, false", "20, 3, false, true", "1, 2, false, false"})
    void ddpmMatchesDiffusers(int steps, double g, boolean v, boolean clip) {
        SchedulerConfig c = sdAs("DDPMScheduler", null, v, clip, false, 2, "midpoint");
        double err = relL2(runSampler(c, null, steps, g),
                DiffusersReference.ddpm(start(), DiffusersReference.sdAlphasCumprod(), steps, v, clip ? 1 : 0, (x, t) -> out(x, t, g), 5));
        assertTrue(err < 2e-6, "ddpm relL2 " + err);
    }

    @ParameterizedTest(name = "heun steps={0} guidance={1} v={2}")
    @CsvSource({"25, 7.5, false", "7, 1, true", "1, 3, false"})
    void heunMatchesDiffusers(int steps, double g, boolean v) {
        SchedulerConfig c = sdAs("HeunDiscreteScheduler", null, v, null, false, 2, "midpoint");
        try (DiffusersSampler s = DiffusersSampler.create(c, null, steps, 0, 5)) {
            assertEquals(2 * steps - 1, s.evaluations());
            assertEquals(2, s.order());
        }
        double err = relL2(runSampler(c, null, steps, g),
                DiffusersReference.heun(start(), DiffusersReference.sdAlphasCumprod(), steps, v, (x, t) -> out(x, t, g)));
        assertTrue(err < 2e-6, "heun relL2 " + err);
    }

    @ParameterizedTest(name = "unipc steps={0} guidance={1} order={2} {3} v={4}")
    @CsvSource({"20, 7.5, 2, bh2, false", "10, 1, 2, bh2, true", "12, 3, 3, bh2, false", "9, 2, 1, bh2, false", "8, 4, 2, bh2, true",
            "15, 2, 3, midpoint, true", "2, 5, 2, bh2, false", "1, 5, 2, bh2, false"})
    void unipcMatchesDiffusers(int steps, double g, int order, String solver, boolean v) {
        SchedulerConfig c = sdAs("UniPCMultistepScheduler", null, v, null, false, order, solver);
        double err = relL2(runSampler(c, null, steps, g), DiffusersReference.unipc(start(), DiffusersReference.sdAlphasCumprod(), steps, order,
                solver.equals("bh1"), v, (x, t) -> out(x, t, g)));
        assertTrue(err < 2e-6, "unipc relL2 " + err);
    }

    @ParameterizedTest(name = "sde-dpmsolver++ steps={0} guidance={1}")
    @CsvSource({"25, 7.5", "4, 1", "16, 3"})
    void sdeDpmMatchesDiffusers(int steps, double g) {
        SchedulerConfig c = new SchedulerConfig("DPMSolverMultistepScheduler", 1000, 0.00085, 0.012, "scaled_linear", null, "epsilon", null, 1,
                null, null, 1.0, null, false, false, 2, "sde-dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null);
        double err = relL2(runSampler(c, null, steps, g),
                DiffusersReference.dpmSde(start(), DiffusersReference.sdAlphasCumprod(), steps, (x, t) -> out(x, t, g), 5));
        assertTrue(err < 2e-6, "sde-dpmsolver++ relL2 " + err);
    }

    /**
     * SD's ᾱ after diffusers' {@code rescale_zero_terminal_snr} (on √ᾱ: shift the last to 0, scale the first back; betas
     * from the ratios, ᾱ their cumprod again), then {@code alphas_cumprod[-1] = 2**-24} as Euler / Euler-a / DPM / UniPC set it.
     */
    static double[] zeroSnrAlphasCumprod() {
        double[] ac = DiffusersReference.sdAlphasCumprod();
        int n = ac.length;
        double a0 = Math.sqrt(ac[0]), aT = Math.sqrt(ac[n - 1]);
        double[] ab = new double[n];
        for (int i = 0; i < n; i++) {
            double s = (Math.sqrt(ac[i]) - aT) * a0 / (a0 - aT);
            ab[i] = s * s;
        }
        double p = 1;
        double[] r = new double[n];
        for (int i = 0; i < n; i++) {
            p *= i == 0 ? ab[0] : ab[i] / ab[i - 1];
            r[i] = p;
        }
        r[n - 1] = 0x1p-24;
        return r;
    }

    @ParameterizedTest(name = "zero-SNR {0} steps={1} guidance={2}")
    @CsvSource({"EulerAncestralDiscreteScheduler, 20, 7.5", "UniPCMultistepScheduler, 15, 5", "EulerDiscreteScheduler, 12, 3"})
    void zeroTerminalSnrFloorsTheLastAlphaCumprod(String cls, int steps, double g) {
        SchedulerConfig base = sdAs(cls, null, true, null, false, 2, "bh2");
        SchedulerConfig c = new SchedulerConfig(base.className(), 1000, 0.00085, 0.012, "scaled_linear", null, "v_prediction", null, 1, null, null,
                1.0, null, true, false, 2, "dpmsolver++", "bh2", "zero", Double.NEGATIVE_INFINITY, null);
        double[] ac = zeroSnrAlphasCumprod();
        try (DiffusersSampler s = DiffusersSampler.create(c, null, steps, 0, 5)) {
            if (!cls.startsWith("UniPC")) assertEquals(Math.sqrt((1 - 0x1p-24) / 0x1p-24), s.initNoiseSigma(), 1e-6); // σ_max ≈ 4096
        }
        DiffusersReference.Model m = (x, t) -> out(x, t, g);
        double[] want = switch (cls) {
            case "EulerAncestralDiscreteScheduler" -> DiffusersReference.eulerAncestral(start(), ac, steps, true, m, 5);
            case "UniPCMultistepScheduler" -> DiffusersReference.unipc(start(), ac, steps, 2, false, true, m);
            default -> DiffusersReference.euler(start(), ac, steps, true, m);
        };
        double err = relL2(runSampler(c, null, steps, g), want);
        // Euler's fused x + (x − x0)·(σ' − σ)/σ rounds at x's scale (σ_0 ≈ 4096 here): the Euler tests' 2e-5
        assertTrue(err < (cls.startsWith("EulerDiscrete") ? 2e-5 : 2e-6), cls + " zero-SNR relL2 " + err);
    }

    @Test
    void newSchedulersTimestepsAsDiffusersSetsThem() {
        // UniPC, linspace: round(linspace(0, 999, N + 1))[::-1][:-1]; init_noise_sigma 1
        try (DiffusersSampler u = DiffusersSampler.create(sdAs("UniPCMultistepScheduler", null, false, null, false, 2, "bh2"), null, 20, 0, 1)) {
            assertEquals(20, u.evaluations());
            assertEquals(999f, u.timestep(0));
            assertEquals(949f, u.timestep(1)); // round(999·19/20) = round(949.05)
            assertEquals(50f, u.timestep(19)); // round(49.95)
            assertEquals(1.0, u.initNoiseSigma());
            assertEquals(1.0, u.inputScale(3));
        }
        // UniPC, leading: T div (N + 1) = 90, (10..1)·90 + 1
        try (DiffusersSampler u = DiffusersSampler.create(sdAs("UniPCMultistepScheduler", "leading", false, null, false, 2, "bh2"), null, 10, 0, 1)) {
            assertEquals(901f, u.timestep(0));
            assertEquals(91f, u.timestep(9));
        }
        // DDPM, leading with steps_offset 1: 981, 961, …, 1
        try (DiffusersSampler d = DiffusersSampler.create(sdAs("DDPMScheduler", null, false, null, false, 2, "midpoint"), null, 50, 0, 1)) {
            assertEquals(981f, d.timestep(0));
            assertEquals(961f, d.timestep(1));
            assertEquals(1f, d.timestep(49));
            assertEquals(1.0, d.initNoiseSigma());
        }
        // DDPM, trailing: round(arange(1000, 0, −1000/3)) − 1 = 999, 666, 332
        try (DiffusersSampler d = DiffusersSampler.create(sdAs("DDPMScheduler", "trailing", false, null, false, 2, "midpoint"), null, 3, 0, 1)) {
            assertEquals(999f, d.timestep(0));
            assertEquals(666f, d.timestep(1));
            assertEquals(332f, d.timestep(2));
        }
        // Heun: [t0, t1, t1, …, t_{N−1}, t_{N−1}]; the second evaluation of a step sees σ_{k+1}'s scaling
        try (DiffusersSampler h = DiffusersSampler.create(sdAs("HeunDiscreteScheduler", null, false, null, false, 2, "midpoint"), null, 10, 0, 1)) {
            assertEquals(19, h.evaluations());
            assertEquals(999f, h.timestep(0));
            assertEquals(888f, h.timestep(1)); // float32(999·8/9) = 888
            assertEquals(888f, h.timestep(2));
            assertEquals(0f, h.timestep(18));
            assertEquals(h.inputScale(1), h.inputScale(2));
            assertEquals(14.6146, h.initNoiseSigma(), 1e-3);
        }
        // Euler-a, leading: init_noise_sigma √(σ_max² + 1); timesteps (N−1−i)·(T div N) + 1
        try (DiffusersSampler e = DiffusersSampler.create(sdAs("EulerAncestralDiscreteScheduler", "leading", false, null, false, 2, "midpoint"), null,
                20, 0, 1)) {
            assertEquals(951f, e.timestep(0));
            assertEquals(1f, e.timestep(19));
            double ac = DiffusersReference.sdAlphasCumprod()[951], sig = Math.sqrt((1 - ac) / ac);
            assertEquals(Math.sqrt(sig * sig + 1), e.initNoiseSigma(), 1e-9);
        }
    }

    @Test
    void uniPcCoefficientsByHand() {
        // Order-1 UniP is DPM-Solver++'s first-order step: x' = (σ'/σ)·x − α'(e^{−h} − 1)·x0 (VP sigmas)
        SchedulerConfig c = sdAs("UniPCMultistepScheduler", null, false, null, false, 2, "bh2");
        try (DiffusersSampler u = DiffusersSampler.create(c, null, 10, 0, 1)) {
            double[] p = u.uniCoefficients(0, 1, 1, false);
            StepPlan q = new DpmSolverStep(DiffusersReference.dpmSigmas(DiffusersReference.sdAlphasCumprod(), 10)).plan(0, StepOptions.defaults());
            assertEquals(q.p0(), p[0], 1e-12);
            assertEquals(q.p1(), p[1], 1e-12);
            // a UniC of order 1 with ρ = ½ splits the x0 weight evenly between the old and the new output
            double[] cc = u.uniCoefficients(0, 1, 1, true);
            // m0: −α·hφ1 + ½α·B = −½α·hφ1 (bh2: B = hφ1); this: −½α·B, the same
            assertEquals(cc[1], cc[2], 1e-15);
            assertEquals(0.5 * q.p1(), cc[2], 1e-12);
            assertEquals(p[0], cc[0], 1e-15);
        }
        // solve against a known system
        double[] x = DiffusersSampler.solve(new double[][] {{2, 1, 0}, {1, 3, 1}, {0, 1, 4}}, new double[] {3, 5, 5});
        assertArrayEquals(new double[] {1, 1, 1}, x, 1e-12);
    }

    @Test
    void karrasSigmasForHeunAndUniPc() {
        // Heun's Karras table is Euler's (between the interpolated ends, timesteps unrounded), each entry after the first twice
        try (DiffusersSampler h = DiffusersSampler.create(sdAs("HeunDiscreteScheduler", null, false, null, true, 2, "midpoint"), null, 8, 0, 1);
             DiffusersSampler e = DiffusersSampler.create(sdAs("EulerDiscreteScheduler", null, false, null, true, 2, "midpoint"), null, 8, 0, 1)) {
            assertEquals(15, h.evaluations());
            assertEquals(e.timestep(0), h.timestep(0));
            for (int k = 1; k < 8; k++) {
                assertEquals(e.timestep(k), h.timestep(2 * k - 1));
                assertEquals(e.timestep(k), h.timestep(2 * k));
                assertEquals(e.inputScale(k), h.inputScale(2 * k), 1e-15);
            }
            assertEquals(e.initNoiseSigma(), h.initNoiseSigma(), 1e-12);
        }
        // UniPC's is DPM-Solver's (over all training sigmas, timesteps rounded)
        try (DiffusersSampler u = DiffusersSampler.create(sdAs("UniPCMultistepScheduler", null, false, null, true, 2, "bh2"), null, 10, 0, 1);
             DiffusersSampler d = DiffusersSampler.create(sdAs("DPMSolverMultistepScheduler", null, false, null, true, 2, "midpoint"), null, 10, 0, 1)) {
            for (int k = 0; k < 10; k++) assertEquals(d.timestep(k), u.timestep(k));
            assertEquals(999f, u.timestep(0));
            assertEquals(0f, u.timestep(9));
        }
    }

    @Test
    void parsesTheNewNames() {
        assertEquals(DiffusersSampler.Kind.EULER_ANCESTRAL, DiffusersSampler.Kind.parse("euler-a"));
        assertEquals(DiffusersSampler.Kind.EULER_ANCESTRAL, DiffusersSampler.Kind.parse("euler_ancestral"));
        assertEquals(DiffusersSampler.Kind.EULER_ANCESTRAL, DiffusersSampler.Kind.parse("EulerAncestralDiscreteScheduler"));
        assertEquals(DiffusersSampler.Kind.UNIPC, DiffusersSampler.Kind.parse("unipc"));
        assertEquals(DiffusersSampler.Kind.UNIPC, DiffusersSampler.Kind.parse("UniPCMultistepScheduler"));
        assertEquals(DiffusersSampler.Kind.DDPM, DiffusersSampler.Kind.parse("ddpm"));
        assertEquals(DiffusersSampler.Kind.DDPM, DiffusersSampler.Kind.parse("DDPMScheduler"));
        assertEquals(DiffusersSampler.Kind.HEUN, DiffusersSampler.Kind.parse("heun"));
        assertEquals(DiffusersSampler.Kind.HEUN, DiffusersSampler.Kind.parse("HeunDiscreteScheduler"));
        assertEquals(DiffusersSampler.Kind.EULER, DiffusersSampler.Kind.parse("euler"));
    }

    @Test
    void newSchedulersRefuseWhatTheyDoNotImplement(@TempDir Path dir) throws IOException {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(
                sdAs("EulerAncestralDiscreteScheduler", null, false, null, true, 2, "midpoint"), null, 10, 0, 1)).getMessage().contains("use_karras_sigmas"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(
                sdAs("HeunDiscreteScheduler", null, false, true, false, 2, "midpoint"), null, 10, 0, 1)).getMessage().contains("clip_sample"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(
                sdAs("UniPCMultistepScheduler", null, false, null, false, 4, "bh2"), null, 10, 0, 1)).getMessage().contains("solver_order 4"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(
                sdAs("UniPCMultistepScheduler", null, false, null, false, 2, "bh3"), null, 10, 0, 1)).getMessage().contains("solver_type"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(
                sdAs("UniPCMultistepScheduler", null, false, null, false, 2, "bh1"), null, 10, 0, 1)).getMessage().contains("bh1"));
        for (String field : new String[] {"\"disable_corrector\": [0]", "\"predict_x0\": false", "\"lower_order_final\": false",
                "\"thresholding\": true", "\"variance_type\": \"fixed_large\"", "\"sigma_min\": 0.1, \"use_karras_sigmas\": true"}) {
            Files.writeString(dir.resolve("scheduler_config.json"), "{\"_class_name\": \"UniPCMultistepScheduler\", " + field + "}");
            SchedulerConfig c = SchedulerConfig.load(dir);
            String name = field.substring(1, field.indexOf('"', 1));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(c, null, 10, 0, 1)).getMessage().contains(name), field);
        }
        Files.writeString(dir.resolve("scheduler_config.json"), "{\"_class_name\": \"UniPCMultistepScheduler\", \"disable_corrector\": []}");
        try (DiffusersSampler u = DiffusersSampler.create(SchedulerConfig.load(dir), null, 10, 0, 1)) {
            assertEquals(DiffusersSampler.Kind.UNIPC, u.kind());
        }
        try (DiffusersSampler h = DiffusersSampler.create(sdAs("HeunDiscreteScheduler", null, false, null, false, 2, "midpoint"), null, 10, 0, 1)) {
            assertThrows(IllegalArgumentException.class, () -> h.begin(3));
        }
    }

    @Test
    void timestepsAsDiffusersSetsThem() {
        try (DiffusersSampler p = DiffusersSampler.create(sd15(), null, 50, 0, 1)) {
            assertEquals(51, p.evaluations());
            assertEquals(981, p.timestep(0));
            assertEquals(961, p.timestep(1));
            assertEquals(961, p.timestep(2));
            assertEquals(941, p.timestep(3));
            assertEquals(1, p.timestep(50));
            assertEquals(1.0, p.initNoiseSigma());
        }
        try (DiffusersSampler e = DiffusersSampler.create(sd15(), DiffusersSampler.Kind.EULER, 50, 0, 1)) {
            assertEquals(999f, e.timestep(0));
            assertEquals((float) (999.0 * 48 / 49), e.timestep(1));
            assertEquals(0f, e.timestep(49));
            // linspace spacing: init_noise_sigma is the largest sigma (≈ 14.61 for SD's schedule)
            assertEquals(14.6146, e.initNoiseSigma(), 1e-3);
            assertEquals(1 / Math.sqrt(e.initNoiseSigma() * e.initNoiseSigma() + 1), e.inputScale(0), 1e-12);
        }
        try (DiffusersSampler d = DiffusersSampler.create(sd15(), DiffusersSampler.Kind.DPMPP_2M, 20, 0, 1)) {
            assertEquals(999f, d.timestep(0));
            assertEquals(949f, d.timestep(1)); // round(999·19/20) = round(949.05)
            assertEquals(50f, d.timestep(19));
        }
    }

    @Test
    void karrasSigmasAndTheirTimesteps() {
        SchedulerConfig k = new SchedulerConfig("EulerDiscreteScheduler", 1000, 0.00085, 0.012, "scaled_linear", null, "epsilon", null, 1, null,
                null, 1.0, null, false, true, 2, "dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null);
        try (DiffusersSampler d = DiffusersSampler.create(k, DiffusersSampler.Kind.DPMPP_2M, 10, 0, 1)) {
            double[] all = k.noiseSchedule().sigmas();
            double[] ks = NoiseSchedule.karrasSigmas(10, all[0], all[999]);
            // the first Karras sigma is the largest training sigma: timestep 999; the last the smallest: 0
            assertEquals(999f, d.timestep(0));
            assertEquals(0f, d.timestep(9));
            double[] t = d.sigmaToT(new double[] {ks[4]});
            double ls = Math.log(ks[4]);
            int lo = (int) Math.floor(t[0]);
            double l0 = Math.log(all[lo]), l1 = Math.log(all[lo + 1]);
            assertTrue(l0 <= ls && ls <= l1, "sigma_to_t brackets log sigma");
            assertEquals(ls, l0 + (l1 - l0) * (t[0] - lo), 1e-9);
        }
    }

    @Test
    void refusesWhatIsNotImplemented(@TempDir Path dir) throws IOException {
        SchedulerConfig noPrk = new SchedulerConfig("PNDMScheduler", 1000, 0.00085, 0.012, "scaled_linear", null, "epsilon", null, 1, false, false,
                1.0, false, false, false, 2, "dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(noPrk, null, 10, 0, 1))
                .getMessage().contains("skip_prk_steps"));
        Files.writeString(dir.resolve("scheduler_config.json"), "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"solver_order\": 3}");
        SchedulerConfig o3 = SchedulerConfig.load(dir);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(o3, null, 10, 0, 1))
                .getMessage().contains("solver_order 3"));
        Files.writeString(dir.resolve("scheduler_config.json"), "{\"_class_name\": \"EulerDiscreteScheduler\", \"use_exponential_sigmas\": true}");
        SchedulerConfig ex = SchedulerConfig.load(dir);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(ex, null, 10, 0, 1))
                .getMessage().contains("use_exponential_sigmas"));
        Files.writeString(dir.resolve("scheduler_config.json"), "{\"_class_name\": \"LMSDiscreteScheduler\"}");
        SchedulerConfig lms = SchedulerConfig.load(dir);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(lms, null, 10, 0, 1))
                .getMessage().contains("LMSDiscreteScheduler"));
        Files.writeString(dir.resolve("scheduler_config.json"), "{\"beta_schedule\": \"sigmoid\"}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.load(dir)).getMessage().contains("sigmoid"));
        Files.writeString(dir.resolve("scheduler_config.json"), "{\"timestep_spacing\": 3}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.load(dir)).getMessage().contains("timestep_spacing"));
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(sd15(), null, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(sd15(), null, 1001, 0, 1));
        try (DiffusersSampler s = DiffusersSampler.create(sd15(), null, 5, 0, 1)) {
            assertThrows(IllegalArgumentException.class, () -> s.timestep(6));
            try (Tensor x = Device.cpu().upload(DType.F32, new float[N], SHAPE)) {
                assertTrue(assertThrows(IllegalArgumentException.class, () -> s.step(x, x, 1, 1)).getMessage().contains("out of order"));
            }
        }
    }

    @Test
    void readsStableDiffusionSchedulerConfig(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("scheduler"));
        Files.writeString(dir.resolve("scheduler").resolve("scheduler_config.json"), """
                {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
                 "steps_offset": 1, "trained_betas": null, "clip_sample": false, "lambda_min_clipped": -Infinity}
                """);
        SchedulerConfig c = SchedulerConfig.load(dir);
        assertEquals(sd15(), new SchedulerConfig(c.className(), c.numTrainTimesteps(), c.betaStart(), c.betaEnd(), c.betaSchedule(), null,
                c.predictionType(), c.timestepSpacing(), c.stepsOffset(), c.setAlphaToOne(), c.clipSample(), c.clipSampleRange(),
                c.skipPrkSteps(), c.rescaleBetasZeroSnr(), c.useKarrasSigmas(), c.solverOrder(), c.algorithmType(), c.solverType(),
                c.finalSigmasType(), c.lambdaMinClipped(), c.unsupported()));
        assertArrayEquals(DiffusersReference.sdAlphasCumprod(), c.noiseSchedule().alphasCumprod(), 1e-12);
    }
}
