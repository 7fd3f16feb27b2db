package dev.surpass.diffusion;

import static dev.surpass.diffusion.NoiseScheduleTest.assertMsg;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import org.junit.jupiter.api.Test;

/** Bad input gets an IllegalArgumentException that names the problem and the fix. */
class SamplerValidationTest {
    private static final NoiseSchedule SCH = NoiseSchedule.ditLinear(1000).respace(NoiseSchedule.spaceTimesteps(1000, "ddim50"));
    private static final StepOptions O = StepOptions.defaults();

    @Test
    void shapesAndBatches() {
        DdimStep st = new DdimStep(SCH, 0);
        try (Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            Tensor x = sc.track(cpu.zeros(DType.F32, 2, 4, 3, 3));
            Tensor same = sc.track(cpu.zeros(DType.F32, 2, 4, 3, 3));
            Tensor odd = sc.track(cpu.zeros(DType.F32, 3, 4, 3, 3));
            Tensor wrongHw = sc.track(cpu.zeros(DType.F32, 2, 4, 3, 4));
            Tensor sigma = sc.track(cpu.zeros(DType.F32, 2, 8, 3, 3));
            Tensor rank3 = sc.track(cpu.zeros(DType.F32, 2, 4, 9));
            Tensor f16 = sc.track(cpu.zeros(DType.F16, 2, 4, 3, 3));
            Tensor ints = sc.track(cpu.upload(new int[72], 2, 4, 3, 3));
            assertMsg(() -> st.step(x, odd, 10, 9, O.withGuidance(Guidance.dit(4))), "batch must be even");
            assertMsg(() -> st.step(x, same, 10, 9, O.withGuidance(Guidance.dit(4))), "expected 4 (2 × x's batch 2: [cond; uncond])");
            assertMsg(() -> st.step(x, odd, 10, 9, O), "expected 2 (x's batch; no guidance)");
            assertMsg(() -> st.step(x, wrongHw, 10, 9, O), "modelOut's dim 3 is 4 but x's is 3");
            assertMsg(() -> st.step(x, sigma, 10, 9, O), "set StepOptions.withLearnedSigma(true)");
            assertMsg(() -> st.step(x, same, 10, 9, O.withLearnedSigma(true)), "2 × x's channels = 8");
            assertMsg(() -> st.step(x, rank3, 10, 9, O), "rank 3 but x has rank 4");
            assertMsg(() -> st.step(x, f16, 10, 9, O), "convert one with Tensor.to(DType)");
            assertMsg(() -> st.step(ints, same, 10, 9, O), "expected F32, F16 or BF16");
            assertMsg(() -> st.step(x, null, 10, 9, O), "modelOut is null");
            assertMsg(() -> st.step(x, same, 10, 9, null), "options are null");
            Tensor one = sc.track(cpu.zeros(DType.F32, 5));
            Tensor oneTwice = sc.track(cpu.zeros(DType.F32, 10));
            assertMsg(() -> st.step(one, oneTwice, 10, 9, O.withGuidance(Guidance.dit(4))), "needs at least 3 channels");
            assertMsg(() -> st.step(one, one, 10, 9, O.withLearnedSigma(true)), "learnedSigma needs a channel dim");
            Tensor closed = cpu.zeros(DType.F32, 2, 4, 3, 3);
            closed.close();
            assertMsg(() -> st.step(closed, same, 10, 9, O), "is closed");
        }
    }

    @Test
    void timestepsAndSchedules() {
        DdimStep dd = new DdimStep(SCH, 0);
        DdpmStep dp = new DdpmStep(SCH, DdpmStep.Variance.LEARNED_RANGE);
        EulerStep eu = new EulerStep(NoiseSchedule.karrasSigmas(10, 0.03, 14.6));
        try (Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            Tensor x = sc.track(cpu.zeros(DType.F32, 1, 4, 2, 2)), m = sc.track(cpu.zeros(DType.F32, 1, 4, 2, 2));
            assertMsg(() -> dd.step(x, m, 50, 49, O), "timestep t = 50 is out of range [0, 50)");
            assertMsg(() -> dd.step(x, m, 10, 10, O), "tPrev = 10 must be in [-1, t = 10)");
            assertMsg(() -> dd.step(x, m, -1, -2, O), "out of range");
            assertMsg(() -> dp.step(x, m, 10, O), "LEARNED_RANGE reads the model's variance channels");
            assertMsg(() -> eu.step(x, m, 10, O), "step i = 10 is out of range [0, 10)");
            assertMsg(() -> eu.step(x, m, 0, O.withClipSample(1)), "clipSample is not part of the Euler scheduler");
            NoiseSchedule z = NoiseSchedule.scaledLinear(1000, 0.00085, 0.012).rescaleZeroTerminalSnr();
            assertMsg(() -> new DdimStep(z, 0).step(x, m, 999, 979, O), "use Prediction.V");
            sc.track(new DdimStep(z, 0).step(x, m, 999, 979, O.withPrediction(Prediction.V))); // fine with v
            DpmSolverStep dpm = new DpmSolverStep(new double[] {10, 1, 0});
            Tensor wrong = sc.track(cpu.zeros(DType.F32, 1, 4, 2, 3));
            assertMsg(() -> dpm.step(x, m, wrong, 0, O), "prevX0 has shape [1, 4, 2, 3]");
            assertMsg(() -> dpm.step(x, m, m, 2, O), "step i = 2 is out of range [0, 2)");
        }
        assertMsg(() -> new EulerStep(new double[] {1, 2, 0}), "sigmas must decrease");
        assertMsg(() -> new EulerStep(new double[] {1}), "at least 2 entries");
        assertMsg(() -> new DpmSolverStep(new double[] {2, 0, 0}), "sigmas must be finite");
        assertMsg(() -> new DdimStep(SCH, -1), "eta must be >= 0");
        assertMsg(() -> new Guidance(Double.NaN, Guidance.Order.COND_FIRST, Guidance.ALL), "finite");
        assertMsg(() -> StepOptions.defaults().withClipSample(-1), "clipSample must be >= 0");
    }
}
