package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityTests;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Reference ↔ Vector API for every sampler step (the {@link DiffusionParity} cases on the CPU),
 * thread-count independence, and properties the formulas imply. Replay with -Dsurpass.seed=N.
 */
class SamplerStepTest {
    static final long SEED = Long.getLong("surpass.seed", 0x5eed_d1ffL);

    @TestFactory
    Stream<DynamicTest> referenceVsVector() {
        return ParityTests.dynamicTests(DiffusionParity.cases(), SEED + 0, Device::cpu);
    }

    @Test
    void everySamplerHasEveryDtypeAndPrediction() {
        Set<String> seen = new HashSet<>(), names = new HashSet<>();
        for (ParityCase c : DiffusionParity.cases()) {
            assertTrue(names.add(c.op() + " " + c.shape() + " " + c.dtype()), "duplicate " + c.op() + " " + c.shape());
            for (Prediction p : Prediction.values()) {
                if (c.shape().contains(" " + p.name().toLowerCase())) seen.add(c.op() + "/" + c.dtype() + "/" + p + "/" + c.shape().endsWith("cfg"));
            }
        }
        for (String op : List.of("ddpm", "ddim", "euler", "dpmpp2m")) {
            for (DType t : Steps.dtypes()) {
                for (Prediction p : Prediction.values()) {
                    for (boolean cfg : new boolean[] {false, true}) {
                        assertTrue(seen.contains(op + "/" + t + "/" + p + "/" + cfg), "no case " + op + " " + t + " " + p + " cfg=" + cfg);
                    }
                }
            }
        }
    }

    /** Serial and parallel CPU runs give the same bits (block boundaries do not depend on threads). */
    @Test
    void threadCountDoesNotChangeBits() {
        long[] s = {3, 4, 61, 67};
        int n = 3 * 4 * 61 * 67;
        float[] x = ParityMath.random(SEED, n, 1, DType.F32), mo = ParityMath.random(SEED + 1, 2 * n, 1, DType.F32);
        StepOptions o = StepOptions.defaults().withGuidance(Guidance.dit(4)).withSeed(5);
        DdimStep st = new DdimStep(NoiseSchedule.ditLinear(1000).respace(NoiseSchedule.spaceTimesteps(1000, "ddim50")), 1);
        try (Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            Tensor tx = sc.track(cpu.upload(DType.F32, x, s)), tm = sc.track(cpu.upload(DType.F32, mo, 6, 4, 61, 67));
            StepLayout l = Steps.layout("ddim", tx, tm, o);
            StepPlan p = st.plan(20, 19, o);
            Tensor a = sc.track(cpu.allocate(DType.F32, s)), b = sc.track(cpu.allocate(DType.F32, s));
            VectorSamplers.step(p, l, tx, tm, null, a, false);
            VectorSamplers.step(p, l, tx, tm, null, b, true);
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
            assertArrayEquals(a.toFloatArray(), sc.track(st.step(tx, tm, 20, 19, o)).toFloatArray());
        }
    }

    /** With the true ε, a deterministic DDIM step to ᾱ_prev = 1 lands on x0; v and x0 predictions agree. */
    @Test
    void ddimRecoversX0AndPredictionTypesAgree() {
        NoiseSchedule sch = NoiseSchedule.ditLinear(1000);
        int t = 400, n = 1000;
        double abar = sch.alphaCumprod(t), a = Math.sqrt(abar), b = Math.sqrt(1 - abar);
        float[] x0 = ParityMath.random(SEED, n, 1, DType.F32), eps = ParityMath.random(SEED + 1, n, 1, DType.F32);
        float[] xt = new float[n], v = new float[n];
        for (int i = 0; i < n; i++) {
            xt[i] = (float) (a * x0[i] + b * eps[i]);
            v[i] = (float) (a * eps[i] - b * x0[i]);
        }
        DdimStep st = new DdimStep(sch, 0);
        try (Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            Tensor tx = sc.track(cpu.upload(DType.F32, xt, n));
            StepOptions o = StepOptions.defaults();
            float[] fromEps = sc.track(st.step(tx, sc.track(cpu.upload(DType.F32, eps, n)), t, -1, o)).toFloatArray();
            float[] fromV = sc.track(st.step(tx, sc.track(cpu.upload(DType.F32, v, n)), t, -1, o.withPrediction(Prediction.V))).toFloatArray();
            float[] fromX0 = sc.track(st.step(tx, sc.track(cpu.upload(DType.F32, x0, n)), t, -1, o.withPrediction(Prediction.SAMPLE))).toFloatArray();
            double[] want = new double[n];
            for (int i = 0; i < n; i++) want[i] = x0[i];
            assertTrue(ParityMath.compare(fromEps, want, 1e-5).passed(), "ε");
            assertTrue(ParityMath.compare(fromV, want, 1e-5).passed(), "v");
            assertTrue(ParityMath.compare(fromX0, want, 1e-6).passed(), "x0");
        }
    }

    /** Swapping the halves and the order gives the same bits; scale 1 is the cond output (to an ulp); DiT guides [:3] only. */
    @Test
    void guidanceConventions() {
        long[] s = {2, 4, 5, 5};
        int n = 200;
        float[] x = ParityMath.random(SEED, n, 1, DType.F32);
        float[] cond = ParityMath.random(SEED + 1, n, 1, DType.F32), unc = ParityMath.random(SEED + 2, n, 1, DType.F32);
        DdimStep st = new DdimStep(NoiseSchedule.ditLinear(1000), 0);
        try (Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            Tensor tx = sc.track(cpu.upload(DType.F32, x, s));
            Tensor cu = sc.track(cpu.upload(DType.F32, cat(cond, unc), 4, 4, 5, 5));
            Tensor uc = sc.track(cpu.upload(DType.F32, cat(unc, cond), 4, 4, 5, 5));
            Tensor c = sc.track(cpu.upload(DType.F32, cond, s));
            StepOptions o = StepOptions.defaults();
            float[] dit = sc.track(st.step(tx, cu, 500, 480, o.withGuidance(Guidance.condFirst(3)))).toFloatArray();
            float[] diff = sc.track(st.step(tx, uc, 500, 480, o.withGuidance(Guidance.diffusers(3)))).toFloatArray();
            assertArrayEquals(dit, diff);
            float[] one = sc.track(st.step(tx, cu, 500, 480, o.withGuidance(Guidance.condFirst(1)))).toFloatArray();
            float[] plain = sc.track(st.step(tx, c, 500, 480, o)).toFloatArray();
            // u + 1·(c − u) is c up to one rounding of the difference
            for (int i = 0; i < n; i++) assertEquals(plain[i], one[i], 1e-6f * Math.max(1, Math.abs(plain[i])), "element " + i);
            float[] quirk = sc.track(st.step(tx, cu, 500, 480, o.withGuidance(Guidance.dit(3)))).toFloatArray();
            for (int i = 0; i < n; i++) {
                int ch = (i / 25) % 4;
                assertEquals(ch < 3 ? dit[i] : plain[i], quirk[i], "element " + i + " channel " + ch);
            }
            assertFalse(java.util.Arrays.equals(dit, plain));
        }
    }

    /** DPM-Solver++ writes this step's x0 into prevX0 and uses it on the next (second-order) step. */
    @Test
    void dpmSolverCarriesX0() {
        NoiseSchedule sch = NoiseSchedule.linear(1000, 1e-4, 0.02);
        DpmSolverStep st = new DpmSolverStep(sch.sigmasAt(sch.timesteps(10, NoiseSchedule.Spacing.LINSPACE, 0)));
        assertTrue(st.firstOrder(0));
        assertFalse(st.firstOrder(1));
        assertTrue(st.firstOrder(9));
        int n = 37;
        float[] x = ParityMath.random(SEED, n, 1, DType.F32), m = ParityMath.random(SEED + 1, n, 1, DType.F32);
        try (Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            Tensor tx = sc.track(cpu.upload(DType.F32, x, n)), tm = sc.track(cpu.upload(DType.F32, m, n));
            Tensor prev = sc.track(cpu.upload(DType.F32, new float[n], n));
            sc.track(st.step(tx, tm, prev, 0, StepOptions.defaults().withPrediction(Prediction.SAMPLE)));
            assertArrayEquals(m, prev.toFloatArray()); // x0-prediction: x0 is the model output
            Tensor last = sc.track(st.step(tx, tm, prev, 9, StepOptions.defaults().withPrediction(Prediction.SAMPLE)));
            assertArrayEquals(m, last.toFloatArray()); // final sigma 0: x_next = x0
        }
    }

    private static float[] cat(float[] a, float[] b) {
        float[] r = new float[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
