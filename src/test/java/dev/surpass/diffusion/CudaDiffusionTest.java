package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The CUDA sampler kernels: every {@link DiffusionParity} case against the float64 reference (output
 * poisoned by allocation: every case writes a fresh tensor and compares all of it), CPU ↔ CUDA step
 * by step (bit-identical without noise — both sides use the same explicit fma sequence; within a few
 * ulps with noise), Philox words bit for bit and normals within 4 ulps, and whole 20-step DDIM /
 * 50-step DDPM trajectories CPU ↔ CUDA. Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaDiffusionTest {
    static final long SEED = Long.getLong("surpass.seed", 0x5eed_d1ffL);

    private static Device cuda() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        return Device.cuda(0);
    }

    @TestFactory
    Stream<DynamicTest> referenceVsCuda() {
        List<ParityCase> all = DiffusionParity.cases();
        return IntStream.range(0, all.size()).mapToObj(i -> {
            ParityCase c = all.get(i);
            return DynamicTest.dynamicTest(c.op() + " " + c.shape() + " " + c.dtype(), () -> {
                try (Device d = cuda()) {
                    ParityResult r = c.run(d, SEED + i);
                    assertTrue(r.passed(), c.op() + " " + c.shape() + " " + c.dtype() + " seed " + (SEED + i) + ": " + r);
                }
            });
        });
    }

    @Test
    void philoxWordsAreBitIdentical() {
        try (Device d = cuda(); Device cpu = Device.cpu()) {
            for (long seed : new long[] {0, 42, 0x299f31d0a4093822L, -1}) {
                for (long stream : new long[] {0, 1, 249, 1L << 40, -1}) {
                    try (Tensor g = Noise.philoxWords(d, seed, stream, 100_003); Tensor c = Noise.philoxWords(cpu, seed, stream, 100_003)) {
                        assertArrayEquals(c.toIntArray(), g.toIntArray(), "seed " + seed + " stream " + stream);
                    }
                }
            }
        }
    }

    @Test
    void noiseTensorsAgree() {
        try (Device d = cuda(); Device cpu = Device.cpu()) {
            for (long n : new long[] {1, 3, 1000, 2 * 4 * 13 * 13, 1 << 20}) {
                try (Tensor g = Noise.gaussian(d, DType.F32, 7, 3, n); Tensor c = Noise.gaussian(cpu, DType.F32, 7, 3, n)) {
                    float[] a = c.toFloatArray(), b = g.toFloatArray();
                    int exact = 0;
                    for (int i = 0; i < a.length; i++) {
                        assertEquals(a[i], b[i], 4 * Math.ulp(Math.max(1f, Math.abs(a[i]))), "n " + n + " element " + i);
                        if (a[i] == b[i]) exact++;
                    }
                    System.out.printf("[noise] n=%d: %d of %d normals bit-identical%n", n, exact, a.length);
                }
                for (DType t : new DType[] {DType.F16, DType.BF16}) {
                    try (Tensor g = Noise.gaussian(d, t, 7, 3, n); Tensor c = Noise.gaussian(cpu, t, 7, 3, n)) {
                        float[] a = c.toFloatArray(), b = g.toFloatArray();
                        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 2 * Math.ulp(t.round(Math.abs(a[i]) + 1e-3f)) + 1e-2f * Math.abs(a[i]), t + " element " + i);
                    }
                }
            }
        }
    }

    /** Noise-free steps give the same bits on CPU and GPU, on the packed and the scalar kernel paths. */
    @Test
    void noiseFreeStepsAreBitIdentical() {
        List<long[]> shapes = List.of(new long[] {1000}, new long[] {3}, new long[] {2, 4, 13, 13}, new long[] {2, 4, 32, 32});
        NoiseSchedule sch = NoiseSchedule.ditLinear(1000).respace(NoiseSchedule.spaceTimesteps(1000, "ddim50"));
        NoiseSchedule lin = NoiseSchedule.linear(1000, 1e-4, 0.02);
        double[] sig = lin.sigmasAt(lin.timesteps(20, NoiseSchedule.Spacing.LINSPACE, 0));
        try (Device d = cuda(); Device cpu = Device.cpu()) {
            for (long[] s : shapes) {
                for (Prediction p : Prediction.values()) {
                    for (Guidance g : guidances(s)) {
                        StepOptions o = StepOptions.defaults().withPrediction(p).withGuidance(g);
                        compare(cpu, d, s, o, (x, m, st) -> new DdimStep(sch, 0).step(x, m, 30, 29, o), true);
                        compare(cpu, d, s, o, (x, m, st) -> new EulerStep(sig).step(x, m, 4, o), true);
                        compare(cpu, d, s, o, (x, m, st) -> new DpmSolverStep(sig).step(x, m, st, 7, o), true);
                        compare(cpu, d, s, o, (x, m, st) -> new DdimStep(sch, 1).step(x, m, 30, 29, o.withSeed(3)), false);
                        compare(cpu, d, s, o, (x, m, st) -> new DdpmStep(sch, DdpmStep.Variance.FIXED_SMALL).step(x, m, 30, o.withSeed(3)), false);
                    }
                }
            }
        }
    }

    private static List<Guidance> guidances(long[] s) {
        List<Guidance> g = new ArrayList<>();
        g.add(null);
        g.add(Guidance.diffusers(7.5));
        if (s.length >= 2) g.add(Guidance.dit(4));
        return g;
    }

    interface Step {
        Tensor run(Tensor x, Tensor modelOut, Tensor state);
    }

    private static void compare(Device cpu, Device gpu, long[] s, StepOptions o, Step step, boolean exact) {
        long[] ms = s.clone();
        if (o.guidance() != null) ms[0] *= 2;
        int n = (int) dev.surpass.Shapes.numel(s);
        float[] x = ParityMath.random(SEED, n, 2, DType.F32);
        float[] m = ParityMath.random(SEED + 1, (int) dev.surpass.Shapes.numel(ms), 1, DType.F32);
        float[] prev = ParityMath.random(SEED + 2, n, 1, DType.F32);
        float[][] got = new float[2][];
        float[][] state = new float[2][];
        Device[] ds = {cpu, gpu};
        for (int k = 0; k < 2; k++) {
            try (Scope sc = Scope.open()) {
                Tensor st = sc.track(ds[k].upload(DType.F32, prev, s));
                Tensor out = sc.track(step.run(sc.track(ds[k].upload(DType.F32, x, s)), sc.track(ds[k].upload(DType.F32, m, ms)), st));
                got[k] = out.toFloatArray();
                state[k] = st.toFloatArray();
            }
        }
        String what = java.util.Arrays.toString(s) + " " + o;
        if (exact) {
            assertArrayEquals(got[0], got[1], "CPU vs CUDA bits: " + what);
            assertArrayEquals(state[0], state[1], "CPU vs CUDA state bits: " + what);
        } else {
            for (int i = 0; i < n; i++) assertEquals(got[0][i], got[1][i], 1e-5f * Math.max(1, Math.abs(got[0][i])), what + " element " + i);
        }
    }

    /** Whole trajectories from one seed agree CPU ↔ CUDA: DDIM-20 (η = 0) bit for bit, DDPM-50 within 1e-5 relative L2. */
    @Test
    void trajectoriesAgree() {
        try (Device d = cuda(); Device cpu = Device.cpu()) {
            for (boolean ddim : new boolean[] {true, false}) {
                float[] c = TrajectoryTest.run(cpu, DType.F32, ddim), g = TrajectoryTest.run(d, DType.F32, ddim);
                double[] cd = new double[c.length];
                for (int i = 0; i < c.length; i++) cd[i] = c[i];
                ParityResult r = ParityMath.compare(g, cd, 1e-5);
                System.out.println("[trajectory] " + (ddim ? "DDIM-20" : "DDPM-50") + " CPU vs CUDA: " + r);
                assertTrue(r.passed(), (ddim ? "DDIM-20" : "DDPM-50") + ": " + r);
                ParityResult ref = ParityMath.compare(g, TrajectoryTest.reference(DType.F32, ddim), 2e-5);
                assertTrue(ref.passed(), "CUDA vs float64: " + ref);
            }
        }
    }
}
