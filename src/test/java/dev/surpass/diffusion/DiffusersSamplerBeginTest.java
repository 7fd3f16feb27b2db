package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link DiffusersSampler#begin} and {@link DiffusersSampler#addNoise} (the image-to-image entry):
 * add_noise per scheduler class in float64, the begin index's rules, and that begin(0) changes
 * nothing. The loops started mid-way are checked end to end in StableDiffusionImg2ImgTest.
 */
class DiffusersSamplerBeginTest {
    static final long[] SHAPE = {2, 3, 5, 7};
    static final int N = 2 * 3 * 5 * 7;

    static float[] gauss(long seed) {
        Random r = new Random(seed);
        float[] v = new float[N];
        for (int i = 0; i < N; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void addNoiseAsEachSchedulerClass() {
        double[] ac = DiffusersReference.sdAlphasCumprod();
        float[] x0 = gauss(1), e = gauss(2);
        int steps = 6, i = 3;
        try (Device cpu = Device.cpu(); Tensor xt = cpu.upload(DType.F32, x0, SHAPE); Tensor et = cpu.upload(DType.F32, e, SHAPE)) {
            for (DiffusersSampler.Kind k : DiffusersSampler.Kind.values()) {
                if (k == DiffusersSampler.Kind.FLOW_EULER) continue; // flow matching: SD3 configs only (DiffusersSamplerFlowTest)
                double a, b;
                switch (k) {
                    case PNDM -> { // PLMS list [831, 665, 665, 499, ...]: entry 3 is 499
                        a = Math.sqrt(ac[499]);
                        b = Math.sqrt(1 - ac[499]);
                    }
                    case DDIM, DDPM -> { // leading, ratio 166, steps_offset 1: [831, 665, 499, 333, 167, 1]
                        int t = (steps - 1 - i) * (1000 / steps) + 1;
                        a = Math.sqrt(ac[t]);
                        b = Math.sqrt(1 - ac[t]);
                    }
                    case EULER, EULER_ANCESTRAL -> {
                        a = 1;
                        b = DiffusersReference.eulerSigmas(ac, steps)[i];
                    }
                    case HEUN -> { // the repeated table [σ0, σ1, σ1, σ2, σ2, …]: evaluation 3 is σ2
                        a = 1;
                        b = DiffusersReference.eulerSigmas(ac, steps)[2];
                    }
                    default -> {
                        double s = DiffusersReference.dpmSigmas(ac, steps)[i];
                        a = 1 / Math.sqrt(s * s + 1);
                        b = s * a;
                    }
                }
                try (DiffusersSampler s = DiffusersSampler.create(DiffusersSamplerTest.sd15(), k, steps, 0, 0); Tensor y = s.addNoise(xt, et, i)) {
                    float[] got = y.toFloatArray();
                    double[] want = new double[N];
                    for (int j = 0; j < N; j++) want[j] = a * x0[j] + b * e[j];
                    var r = dev.surpass.parity.ParityMath.compare(got, want, 1e-6);
                    assertTrue(r.passed(), k + ": " + r);
                }
            }
        }
    }

    @Test
    void beginRules() {
        try (Device cpu = Device.cpu(); Tensor x = cpu.upload(DType.F32, gauss(3), SHAPE); Tensor eps = cpu.upload(DType.F32, gauss(4), SHAPE);
             Tensor small = cpu.upload(DType.F32, new float[6], 6)) {
            try (DiffusersSampler s = DiffusersSampler.create(DiffusersSamplerTest.sd15(), null, 4, 0, 0)) {
                assertEquals(5, s.evaluations()); // PLMS: N + 1
                assertThrows(IllegalArgumentException.class, () -> s.begin(5));
                assertThrows(IllegalArgumentException.class, () -> s.begin(-1));
                s.begin(2);
                assertEquals(2, s.start());
                assertThrows(IllegalArgumentException.class, () -> s.step(x, eps, 0, 1), "steps run from the begin index");
                s.begin(1); // re-choosing before the first step is allowed
                try (Tensor y = s.step(x, eps, 1, 1)) {
                    assertThrows(IllegalStateException.class, () -> s.begin(2));
                }
                assertThrows(IllegalArgumentException.class, () -> s.addNoise(x, small, 0));
                assertThrows(IllegalArgumentException.class, () -> s.addNoise(x, eps, 9));
            }
            // begin(0) is the plain run
            for (DiffusersSampler.Kind k : DiffusersSampler.Kind.values()) {
                if (k == DiffusersSampler.Kind.FLOW_EULER) continue; // flow matching: SD3 configs only (DiffusersSamplerFlowTest)
                try (DiffusersSampler a = DiffusersSampler.create(DiffusersSamplerTest.sd15(), k, 3, 0, 0);
                     DiffusersSampler b = DiffusersSampler.create(DiffusersSamplerTest.sd15(), k, 3, 0, 0)) {
                    b.begin(0);
                    Tensor xa = copy(cpu, x), xb = copy(cpu, x);
                    for (int i = 0; i < a.evaluations(); i++) {
                        Tensor na = a.step(xa, eps, i, 1), nb = b.step(xb, eps, i, 1);
                        xa.close();
                        xb.close();
                        xa = na;
                        xb = nb;
                    }
                    org.junit.jupiter.api.Assertions.assertArrayEquals(xa.toFloatArray(), xb.toFloatArray(), k.toString());
                    xa.close();
                    xb.close();
                }
            }
        }
    }

    @org.junit.jupiter.api.Tag("gpu")
    @Test
    void cudaAddNoiseAndStartedRunMatchCpu() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        float[] x0 = gauss(5), e = gauss(6);
        try (Device cpu = Device.cpu(); Device g = Device.cuda(0)) {
            for (DiffusersSampler.Kind k : DiffusersSampler.Kind.values()) {
                if (k == DiffusersSampler.Kind.FLOW_EULER) continue; // flow matching: SD3 configs only (DiffusersSamplerFlowTest)
                float[][] r = new float[2][];
                Device[] ds = {cpu, g};
                for (int d = 0; d < 2; d++) {
                    try (DiffusersSampler s = DiffusersSampler.create(DiffusersSamplerTest.sd15(), k, 5, 0, 0);
                         Tensor xt = ds[d].upload(DType.F32, x0, SHAPE); Tensor et = ds[d].upload(DType.F32, e, SHAPE)) {
                        s.begin(2);
                        Tensor x = s.addNoise(xt, et, 2);
                        for (int i = 2; i < s.evaluations(); i++) {
                            Tensor n = s.step(x, et, i, 1);
                            x.close();
                            x = n;
                        }
                        r[d] = x.toFloatArray();
                        x.close();
                    }
                }
                double[] ref = new double[N];
                for (int i = 0; i < N; i++) ref[i] = r[0][i];
                assertTrue(dev.surpass.parity.ParityMath.compare(r[1], ref, 1e-5).passed(), k + ": CUDA vs CPU");
            }
        }
    }

    private static Tensor copy(Device d, Tensor t) {
        return d.upload(DType.F32, t.toFloatArray(), t.shape());
    }
}
