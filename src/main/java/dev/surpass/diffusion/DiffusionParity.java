package dev.surpass.diffusion;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityCases;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.List;

/**
 * Parity cases for the sampler steps: every sampler variant × prediction type (ε, v, x0) × without
 * and with classifier-free guidance × F32/F16/BF16 × awkward latent shapes ([1], [3], [1000],
 * [2, 4, 13, 13]); DDPM's learned range (DiT's learned-sigma output, guidance on channels [:3]) on
 * the 4-channel shape. Each case draws seeded inputs rounded to the dtype, runs the public step on
 * the device and compares with {@link ReferenceSamplers} at {@link ParityMath#tolerance(DType)}
 * (DPM-Solver++ also compares the carried x0 it writes back).
 *
 * <p>Variants: DDPM fixed-small / fixed-large at a middle step and at t = 0 (no noise), DDIM η = 0
 * and η = 1 (DiT linear schedule respaced to 50 steps), Euler plain and with churn noise (Karras
 * sigmas of a scaled-linear schedule), DPM-Solver++(2M) first step, a second-order step and the
 * last step (20 linspace steps of a linear schedule).
 */
public final class DiffusionParity {
    private DiffusionParity() {}

    private static final long[][] SHAPES = {{1}, {3}, {1000}, {2, 4, 13, 13}};
    private static final NoiseSchedule DIT = NoiseSchedule.ditLinear(1000);
    private static final NoiseSchedule DIT50 = DIT.respace(NoiseSchedule.spaceTimesteps(1000, "ddim50"));
    private static final NoiseSchedule DIT250 = DIT.respace(NoiseSchedule.spaceTimesteps(1000, "250"));
    private static final double[] KARRAS;
    private static final double[] DPM_SIGMAS;

    static {
        NoiseSchedule sd = NoiseSchedule.scaledLinear(1000, 0.00085, 0.012);
        double[] lin = sd.sigmasAt(sd.timesteps(30, NoiseSchedule.Spacing.LINSPACE, 0));
        KARRAS = NoiseSchedule.karrasSigmas(30, lin[lin.length - 2], lin[0]);
        NoiseSchedule l = NoiseSchedule.linear(1000, 1e-4, 0.02);
        DPM_SIGMAS = l.sigmasAt(l.timesteps(20, NoiseSchedule.Spacing.LINSPACE, 0));
    }

    /** One sampler configuration at one step. */
    private enum Variant {
        DDPM_SMALL("ddpm", "small t=17"), DDPM_LARGE("ddpm", "large t=17"), DDPM_T0("ddpm", "small t=0"),
        DDPM_LEARNED("ddpm", "learned t=17"), DDIM_ETA0("ddim", "eta=0 t=30"), DDIM_ETA1("ddim", "eta=1 t=30"),
        DDIM_CLIP("ddim", "eta=1 clip t=45"), EULER("euler", "karras i=3"), EULER_CHURN("euler", "churn i=3"),
        DPM_FIRST("dpmpp2m", "i=0"), DPM_SECOND("dpmpp2m", "i=7"), DPM_LAST("dpmpp2m", "i=19");

        final String op, label;

        Variant(String op, String label) {
            this.op = op;
            this.label = label;
        }
    }

    public static List<ParityCase> cases() {
        List<ParityCase> cases = new ArrayList<>();
        for (DType dt : Steps.dtypes()) {
            for (Variant v : Variant.values()) {
                for (Prediction p : Prediction.values()) {
                    for (boolean cfg : new boolean[] {false, true}) {
                        for (long[] s : SHAPES) {
                            boolean learned = v == Variant.DDPM_LEARNED;
                            if (learned && s.length < 2) continue;
                            if (v == Variant.DDIM_CLIP && p != Prediction.SAMPLE) continue;
                            String label = Shapes.toString(s) + " " + v.label + " " + p.name().toLowerCase() + (cfg ? " cfg" : "");
                            cases.add(ParityCases.of(v.op, label, dt, (d, seed, t) -> run(d, seed, t, v, p, cfg, s)));
                        }
                    }
                }
            }
        }
        return cases;
    }

    private static StepOptions options(Variant v, Prediction p, boolean cfg, long[] s, long seed) {
        StepOptions o = StepOptions.defaults().withPrediction(p).withSeed(seed ^ 0x9E3779B97F4A7C15L);
        if (v == Variant.DDPM_LEARNED) o = o.withLearnedSigma(true);
        if (v == Variant.DDIM_CLIP) o = o.withClipSample(1.0);
        if (cfg) {
            boolean dit = s.length >= 2 && s[1] >= 3 && (v.op.equals("ddpm") || v.op.equals("ddim"));
            o = o.withGuidance(dit ? Guidance.dit(4.0) : Guidance.diffusers(7.5));
        }
        return o;
    }

    private static ParityResult run(Device d, long seed, DType t, Variant v, Prediction p, boolean cfg, long[] s) {
        StepOptions o = options(v, p, cfg, s, seed);
        long[] ms = s.clone();
        ms[0] *= cfg ? 2 : 1;
        if (o.learnedSigma()) ms[1] *= 2;
        int n = (int) Shapes.numel(s);
        float[] x = ParityMath.random(seed, n, v.op.equals("euler") ? 3f : 1.5f, t);
        float[] mo = ParityMath.random(seed + 1, (int) Shapes.numel(ms), 1f, t);
        try (Scope sc = Scope.open()) {
            Tensor tx = sc.track(d.upload(t, x, s)), tm = sc.track(d.upload(t, mo, ms));
            switch (v) {
                case DPM_FIRST, DPM_SECOND, DPM_LAST -> {
                    int i = v == Variant.DPM_FIRST ? 0 : v == Variant.DPM_SECOND ? 7 : 19;
                    float[] prev = ParityMath.random(seed + 2, n, 1f, t);
                    Tensor state = sc.track(d.upload(t, prev, s));
                    DpmSolverStep st = new DpmSolverStep(DPM_SIGMAS);
                    double[] x0 = new double[n];
                    double[] ref = ReferenceSamplers.dpmSolver(x, s, mo, prev, x0, st, i, o);
                    Tensor out = sc.track(st.step(tx, tm, state, i, o));
                    return ParityMath.compare(concat(out.toFloatArray(), state.toFloatArray()), concat(ref, x0), ParityMath.tolerance(t));
                }
                default -> {
                    double[] ref;
                    Tensor out;
                    switch (v) {
                        case DDIM_ETA0, DDIM_ETA1, DDIM_CLIP -> {
                            DdimStep st = new DdimStep(DIT50, v == Variant.DDIM_ETA0 ? 0 : 1);
                            int ts = v == Variant.DDIM_CLIP ? 45 : 30;
                            ref = ReferenceSamplers.ddim(x, s, mo, st, ts, ts - 1, o);
                            out = st.step(tx, tm, ts, ts - 1, o);
                        }
                        case EULER, EULER_CHURN -> {
                            EulerStep st = v == Variant.EULER ? new EulerStep(KARRAS) : new EulerStep(KARRAS, 1.0, 0, Double.POSITIVE_INFINITY, 1.0);
                            ref = ReferenceSamplers.euler(x, s, mo, st, 3, o);
                            out = st.step(tx, tm, 3, o);
                        }
                        default -> {
                            DdpmStep.Variance var = switch (v) {
                                case DDPM_LARGE -> DdpmStep.Variance.FIXED_LARGE;
                                case DDPM_LEARNED -> DdpmStep.Variance.LEARNED_RANGE;
                                default -> DdpmStep.Variance.FIXED_SMALL;
                            };
                            DdpmStep st = new DdpmStep(DIT250, var);
                            int ts = v == Variant.DDPM_T0 ? 0 : 17;
                            ref = ReferenceSamplers.ddpm(x, s, mo, st, ts, o);
                            out = st.step(tx, tm, ts, o);
                        }
                    }
                    sc.track(out);
                    return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
                }
            }
        }
    }

    private static float[] concat(float[] a, float[] b) {
        float[] r = new float[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static double[] concat(double[] a, double[] b) {
        double[] r = new double[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
