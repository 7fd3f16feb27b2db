package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the diffusion entries on the CPU: schedules (training steps 0, negative, huge; betas NaN or
 * outside [0, 1]; timestep specs and spacings), sigma tables, guidance, and the four sampler steps with
 * random shapes (batch 0, rank 1..4), model outputs that are or are not doubled for guidance and
 * learned sigma, timesteps at and past the schedule's ends, every prediction type. A step either
 * matches {@link ReferenceSamplers} or is refused with a message naming the argument. The CUDA twin is
 * {@link CudaDiffusionFuzzTest}.
 */
class DiffusionFuzzTest {
    static Device cpu;
    static final NoiseSchedule SCHEDULE = NoiseSchedule.linear(50, 1e-4, 0.02);

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        Fuzz.finish("diffusion.");
        cpu.close();
    }

    static int trainSteps(Gen g) {
        return g.weighted(6, 1) == 0 ? g.between(1, 60) : g.pickInt(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 1 << 28);
    }

    static double betas(Gen g) {
        return g.weighted(6, 1) == 0 ? g.between(0.0, 0.05) : g.pickDouble(Double.NaN, -0.1, 1.0, 1.5, Double.POSITIVE_INFINITY, 0.0, 0.999);
    }

    @Test
    void schedules() {
        Fuzz.forAll("diffusion.schedules", 200, g -> schedules(trainSteps(g), betas(g), betas(g), g.between(0, 4), spec(g), trainSteps(g),
                g.anyInt()));
    }

    private static void schedules(int steps, double b0, double b1, int kind, String spec, int sampling, int offsetPick) {
        String in = "T " + steps + " betas " + b0 + ", " + b1 + " kind " + kind;
        NoiseSchedule s = Fuzz.call("diffusion.schedule", in, () -> switch (kind) {
            case 0 -> NoiseSchedule.linear(steps, b0, b1);
            case 1 -> NoiseSchedule.scaledLinear(steps, b0, b1);
            case 2 -> NoiseSchedule.cosine(steps);
            case 3 -> NoiseSchedule.ditLinear(steps);
            default -> NoiseSchedule.fromBetas(steps > 0 && steps < 100 ? filled(steps, b0, b1) : new double[0]);
        }, "timesteps", "beta", "T =", "steps");
        int[] spaced = Fuzz.call("diffusion.spaceTimesteps", in + " spec '" + spec + "'", () -> NoiseSchedule.spaceTimesteps(steps, spec),
                "spaceTimesteps");
        if (spaced != null) {
            for (int i = 0; i < spaced.length; i++) {
                assertTrue(spaced[i] >= 0 && spaced[i] < steps && (i == 0 || spaced[i] > spaced[i - 1]), in + Arrays.toString(spaced));
            }
        }
        if (s == null) return;
        for (int i = 0; i < s.size(); i++) {
            double a = s.alphaCumprod(i);
            assertTrue(a >= 0 && a <= 1 && (i == 0 || a <= s.alphaCumprod(i - 1)), in + ": alpha_cumprod[" + i + "] = " + a);
        }
        int offset = Math.floorMod(offsetPick, 3) == 0 ? offsetPick : Math.floorMod(offsetPick, 3);
        for (NoiseSchedule.Spacing sp : NoiseSchedule.Spacing.values()) {
            int[] ts = Fuzz.call("diffusion.timesteps", in + " " + sampling + " steps " + sp + " offset " + offset,
                    () -> s.timesteps(sampling, sp, offset), "timesteps");
            if (ts != null) for (int t : ts) assertTrue(t >= 0 && t < s.size(), in + " " + Arrays.toString(ts));
        }
        if (spaced != null && spaced.length > 0 && spaced[spaced.length - 1] < s.size()) {
            NoiseSchedule r = Fuzz.call("diffusion.respace", in, () -> s.respace(spaced), "respace");
            assertTrue(r != null && r.size() == spaced.length, in);
        }
        Fuzz.call("diffusion.sigmasAt", in, () -> s.sigmasAt(new double[] {0, s.size() - 1, (s.size() - 1) / 2.0}), "sigmasAt");
        Fuzz.reject("diffusion.sigmasAt", in, () -> s.sigmasAt(new double[] {s.size()}), "sigmasAt");
        Fuzz.reject("diffusion.sigmasAt", in, () -> s.sigmasAt(new double[] {Double.NaN}), "sigmasAt");
    }

    private static double[] filled(int n, double a, double b) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = i % 2 == 0 ? a : b;
        return x;
    }

    static String spec(Gen g) {
        return g.bool() ? g.pick("ddim10", "ddim1", "ddim0", "ddim-3", "ddim", "10", "5,5", "1,2,3", "", " ", "abc",
                "ddim2147483647", "2147483647", "99999999999", ",", "3,,4", "-1", "ddim 5") : String.valueOf(g.between(0, 70));
    }

    @Test
    void sigmaTables() {
        Fuzz.forAll("diffusion.sigmaTables", 100, g -> sigmaTables(sigmaList(g), trainSteps(g), betas(g), betas(g)));
    }

    private static void sigmaTables(double[] sigmas, int karrasSteps, double lo, double hi) {
        String in = Arrays.toString(sigmas);
        Fuzz.call("diffusion.euler", in, () -> new EulerStep(sigmas), "sigma", "euler");
        Fuzz.call("diffusion.dpmpp2m", in, () -> new DpmSolverStep(sigmas), "sigma", "dpmpp2m");
        double[] k = Fuzz.call("diffusion.karras", karrasSteps + " " + lo + " " + hi * 100,
                () -> karrasSteps > 100_000 ? NoiseSchedule.karrasSigmas(0, lo, hi * 100) : NoiseSchedule.karrasSigmas(karrasSteps, lo, hi * 100),
                "karrasSigmas");
        if (k != null) Fuzz.call("diffusion.euler", "karras " + Arrays.toString(k), () -> new EulerStep(k), "sigma");
    }

    static double[] sigmaList(Gen g) {
        double[] a = g.doubleArray(0, 5, () -> g.bool() ? g.between(0.0, 20.0) : g.pickDouble(Double.NaN, -1.0, 0.0, Double.POSITIVE_INFINITY));
        return a.length > 0 && a[0] == a[0] ? sortedDesc(a) : a;
    }

    private static double[] sortedDesc(double[] a) {
        double[] b = a.clone();
        Arrays.sort(b);
        for (int i = 0; i < b.length / 2; i++) {
            double t = b[i];
            b[i] = b[b.length - 1 - i];
            b[b.length - 1 - i] = t;
        }
        return b;
    }

    /** Which sampler a step case runs. */
    enum Sampler { DDIM, DDPM, EULER, DPMPP }

    /**
     * One sampler step on {@code dev}: x of {@code shape}; the model output doubled for guidance and
     * learned sigma as asked, maybe with a wrong dim ({@code lie}); timestep {@code t} anywhere.
     */
    static void stepCase(Device dev, String prop, Sampler sampler, long[] shape, boolean guided, int guideChannels, boolean learned,
                         DdpmStep.Variance variance, Prediction pred, int t, int tPrev, int lie, long seed) {
        long[] ms = shape.clone();
        if (ms.length > 0 && guided) ms[0] *= 2;
        if (ms.length > 1 && learned) ms[1] *= 2;
        if (lie >= 0 && lie < ms.length) ms[lie] += 1;
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b), nm = (int) Arrays.stream(ms).reduce(1, (a, b) -> a * b);
        float[] xa = ParityMath.random(seed, n, 1, DType.F32), ma = ParityMath.random(seed + 1, nm, 1, DType.F32);
        float[] pa = ParityMath.random(seed + 2, n, 1, DType.F32);
        Guidance g = guided ? new Guidance(3.5, seed % 2 == 0 ? Guidance.Order.COND_FIRST : Guidance.Order.UNCOND_FIRST, guideChannels) : null;
        StepOptions o = StepOptions.defaults().withPrediction(pred).withGuidance(g).withLearnedSigma(learned).withSeed(seed);
        double[] sig = SCHEDULE.sigmasAt(SCHEDULE.timesteps(10, NoiseSchedule.Spacing.LEADING, 0));
        DdimStep ddim = new DdimStep(SCHEDULE, seed % 3 == 0 ? 0.5 : 0);
        DdpmStep ddpm = new DdpmStep(SCHEDULE, variance);
        EulerStep euler = new EulerStep(sig);
        DpmSolverStep dpm = new DpmSolverStep(sig);
        try (Tensor x = dev.upload(DType.F32, xa, shape); Tensor m = dev.upload(DType.F32, ma, ms);
             Tensor prev = dev.upload(DType.F32, pa, shape)) {
            String in = sampler + " x " + Arrays.toString(shape) + " modelOut " + Arrays.toString(ms) + " " + o + " t " + t + " tPrev " + tPrev
                    + " variance " + variance;
            Tensor out = Fuzz.call(prop, in, () -> switch (sampler) {
                case DDIM -> ddim.step(x, m, t, tPrev, o);
                case DDPM -> ddpm.step(x, m, t, o);
                case EULER -> euler.step(x, m, t, o);
                case DPMPP -> dpm.step(x, m, prev, t, o);
            }, "modelOut", "timestep", "tPrev", "step i", "guidance", "learnedSigma", "LEARNED_RANGE", "alpha_cumprod", "x must have rank");
            if (out == null) {
                boolean shapesOk = lie < 0 || lie >= ms.length;
                boolean channelsOk = !guided || guideChannels == Guidance.ALL || shape.length < 2 || guideChannels <= shape[1];
                boolean tOk = switch (sampler) {
                    case DDIM -> t >= 0 && t < SCHEDULE.size() && tPrev >= -1 && tPrev < t;
                    case DDPM -> t >= 0 && t < SCHEDULE.size() && (variance != DdpmStep.Variance.LEARNED_RANGE || learned);
                    case EULER, DPMPP -> t >= 0 && t < sig.length - 1;
                };
                boolean rankOk = shape.length >= 1 && (!learned || shape.length >= 2) && !(guided && shape.length < 2 && guideChannels > 1);
                assertTrue(!(shapesOk && channelsOk && tOk && rankOk), prop + ": a valid step was refused: " + in);
                return;
            }
            try (out) {
                double[] ref = switch (sampler) {
                    case DDIM -> ReferenceSamplers.ddim(xa, shape, ma, ddim, t, tPrev, o);
                    case DDPM -> ReferenceSamplers.ddpm(xa, shape, ma, ddpm, t, o);
                    case EULER -> ReferenceSamplers.euler(xa, shape, ma, euler, t, o);
                    case DPMPP -> ReferenceSamplers.dpmSolver(xa, shape, ma, pa, new double[n], dpm, t, o);
                };
                ParityResult r = ParityMath.compare(out.toFloatArray(), ref, 1e-4);
                if (!r.passed()) throw new AssertionError(prop + ": mismatch relL2=" + r.relL2() + " nonFinite=" + r.nonFinite() + " for " + in);
            }
        }
    }

    @Test
    void steps() {
        Fuzz.forAll("diffusion.steps", 300, g -> stepCase(cpu, "diffusion.step", g.pick(Sampler.class),
                g.longArray(0, 4, () -> g.between(0L, 4L)), g.bool(), g.pickInt(Guidance.ALL, 1, 2, 3, 5), g.bool(),
                g.pick(DdpmStep.Variance.class), g.pick(Prediction.class), timestep(g), timestep(g),
                g.weighted(5, 1) == 0 ? -1 : g.between(0, 3), g.between(0, 999)));
    }

    static int timestep(Gen g) {
        return g.bool() ? g.pickInt(0, 1, 8, 9, 10, 48, 49, 50, -1, -2, Integer.MIN_VALUE, Integer.MAX_VALUE) : g.between(0, 49);
    }

    /** Constructors refuse bad values where they are built (regression examples of the contract). */
    @Test
    void constructorsRefuseBadValues() {
        Fuzz.reject("diffusion.ctor", "guidance NaN", () -> new Guidance(Double.NaN, Guidance.Order.COND_FIRST, Guidance.ALL), "guidance scale");
        Fuzz.reject("diffusion.ctor", "guidance channels 0", () -> new Guidance(1, Guidance.Order.COND_FIRST, 0), "guided channels");
        Fuzz.reject("diffusion.ctor", "ddim eta -1", () -> new DdimStep(SCHEDULE, -1), "eta");
        Fuzz.reject("diffusion.ctor", "ddpm null", () -> new DdpmStep(SCHEDULE, null), "variance");
        Fuzz.reject("diffusion.ctor", "clip NaN", () -> StepOptions.defaults().withClipSample(Double.NaN), "clipSample");
        Fuzz.reject("diffusion.ctor", "euler churn", () -> new EulerStep(new double[] {2, 1, 0}, -1, 0, 1, 1), "s_churn");
        Fuzz.reject("diffusion.ctor", "linear T = MAX", () -> NoiseSchedule.linear(Integer.MAX_VALUE, 1e-4, 0.02), "training timesteps");
        Fuzz.reject("diffusion.ctor", "cosine T = MAX", () -> NoiseSchedule.cosine(Integer.MAX_VALUE), "training timesteps");
        // regression: "," split into no section and divided by zero
        Fuzz.reject("diffusion.ctor", "spec ','", () -> NoiseSchedule.spaceTimesteps(10, ","), "spaceTimesteps");
        Fuzz.reject("diffusion.ctor", "ddim2147483647", () -> NoiseSchedule.spaceTimesteps(Integer.MAX_VALUE, "ddim2147483647"),
                "training timesteps");
    }

    /** Noise with shapes that are empty, negative, huge or overflowing. */
    @Test
    void noise() {
        Fuzz.forAll("diffusion.noise", 100, g -> noise(g.shape(0, 4, 9), g.dtype(), g.anyLong()));
    }

    private static void noise(long[] shape, DType dtype, long seed) {
        if (!(Gen.safeToAllocate(dtype, shape) && Gen.safeToAllocate(DType.F32, shape))) return;
        Tensor z = Fuzz.call("diffusion.noise", dtype + Arrays.toString(shape), () -> Noise.gaussian(cpu, dtype, seed, 0, shape), "shape", "gaussian");
        if (z != null) {
            try (z) {
                for (float v : z.toFloatArray()) assertTrue(Float.isFinite(v));
            }
        }
    }
}
