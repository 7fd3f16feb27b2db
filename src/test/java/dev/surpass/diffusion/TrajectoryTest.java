package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import org.junit.jupiter.api.Test;

/**
 * Whole sampling runs on the CPU from a seed with a toy analytic "model" (ε = c·x, guided between
 * two such models) against a float64 trajectory transcribed from the formulas with the same Philox
 * noise: a 20-step DDIM (η = 0, diffusers guidance order) and a 50-step DDPM (fixed small variance,
 * DiT guidance order) on DiT's respaced linear schedule. {@link #run} is shared with the GPU test.
 */
class TrajectoryTest {
    static final long SEED = Long.getLong("surpass.seed", 7);
    static final long[] SHAPE = {2, 4, 13, 13};
    static final double C_COND = 0.3, C_UNCOND = 0.1, SCALE = 4;
    /** Stream of the initial noise, apart from the step streams (0 .. steps−1). */
    static final long INIT_STREAM = 1L << 40;

    /** Runs the sampler on {@code dev} and returns the final latents. */
    static float[] run(Device dev, DType t, boolean ddim) {
        int steps = ddim ? 20 : 50;
        NoiseSchedule sch = NoiseSchedule.ditLinear(1000).respace(NoiseSchedule.spaceTimesteps(1000, ddim ? "ddim20" : "50"));
        StepOptions o = StepOptions.defaults().withSeed(SEED)
                .withGuidance(ddim ? Guidance.diffusers(SCALE) : Guidance.condFirst(SCALE));
        DdimStep dd = new DdimStep(sch, 0);
        DdpmStep dp = new DdpmStep(sch, DdpmStep.Variance.FIXED_SMALL);
        Tensor x = Noise.gaussian(dev, t, SEED, INIT_STREAM, SHAPE);
        for (int i = steps - 1; i >= 0; i--) {
            Tensor next;
            try (Tensor c = Elementwise.scale(x, (float) C_COND); Tensor u = Elementwise.scale(x, (float) C_UNCOND);
                 Tensor mo = concatBatch(dev, ddim ? u : c, ddim ? c : u)) {
                next = ddim ? dd.step(x, mo, i, i - 1, o) : dp.step(x, mo, i, o);
            }
            x.close();
            x = next;
        }
        try (Tensor last = x) {
            return last.toFloatArray();
        }
    }

    /** [a; b] along the batch (through the host: the test's model, not the op under test). */
    private static Tensor concatBatch(Device dev, Tensor a, Tensor b) {
        float[] fa = a.toFloatArray(), fb = b.toFloatArray();
        float[] r = new float[fa.length + fb.length];
        System.arraycopy(fa, 0, r, 0, fa.length);
        System.arraycopy(fb, 0, r, fa.length, fb.length);
        long[] s = a.shape();
        s[0] *= 2;
        return dev.upload(a.dtype(), r, s);
    }

    /** The float64 trajectory. */
    static double[] reference(DType t, boolean ddim) {
        int steps = ddim ? 20 : 50;
        NoiseSchedule sch = NoiseSchedule.ditLinear(1000).respace(NoiseSchedule.spaceTimesteps(1000, ddim ? "ddim20" : "50"));
        int n = (int) dev.surpass.Shapes.numel(SHAPE);
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = t.round(Philox.normal(SEED, INIT_STREAM, i));
        double cEff = C_UNCOND + SCALE * (C_COND - C_UNCOND);
        for (int s = steps - 1; s >= 0; s--) {
            double abt = sch.alphaCumprod(s), abp = s > 0 ? sch.alphaCumprod(s - 1) : 1.0;
            for (int i = 0; i < n; i++) {
                double eps = cEff * x[i];
                double x0 = (x[i] - Math.sqrt(1 - abt) * eps) / Math.sqrt(abt);
                if (ddim) {
                    x[i] = Math.sqrt(abp) * x0 + Math.sqrt(1 - abp) * eps;
                } else {
                    double beta = 1 - abt / abp;
                    double mean = beta * Math.sqrt(abp) / (1 - abt) * x0 + (1 - abp) * Math.sqrt(1 - beta) / (1 - abt) * x[i];
                    if (s > 0) mean += Math.sqrt(beta * (1 - abp) / (1 - abt)) * Philox.normal(SEED, s, i);
                    x[i] = mean;
                }
            }
        }
        return x;
    }

    @Test
    void ddim20StepsF32MatchesFloat64() {
        check(DType.F32, true, 2e-5);
    }

    @Test
    void ddpm50StepsF32MatchesFloat64() {
        check(DType.F32, false, 2e-5);
    }

    @Test
    void ddim20StepsBf16StaysClose() {
        check(DType.BF16, true, 3e-2);
    }

    private static void check(DType t, boolean ddim, double tol) {
        try (Device cpu = Device.cpu()) {
            ParityResult r = ParityMath.compare(run(cpu, t, ddim), reference(t, ddim), tol);
            assertTrue(r.passed(), (ddim ? "DDIM-20 " : "DDPM-50 ") + t + " seed " + SEED + ": " + r);
            System.out.println("[trajectory] " + (ddim ? "DDIM-20 " : "DDPM-50 ") + t + " vs float64: " + r);
        }
    }
}
