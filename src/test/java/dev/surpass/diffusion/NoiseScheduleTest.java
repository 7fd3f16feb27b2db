package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Schedules, spacings, DiT respacing and sigma tables against values worked out from the formulas. */
class NoiseScheduleTest {
    @Test
    void ditLinearIsScaledLinspace() {
        NoiseSchedule s = NoiseSchedule.ditLinear(1000);
        assertEquals(1000, s.size());
        assertEquals(1e-4, s.beta(0), 1e-18);
        assertEquals(0.02, s.beta(999), 1e-18);
        NoiseSchedule s100 = NoiseSchedule.ditLinear(100);
        assertEquals(1e-3, s100.beta(0), 1e-15);
        assertEquals(0.2, s100.beta(99), 1e-15);
        double p = 1;
        for (int t = 0; t < 1000; t++) p *= 1 - s.beta(t);
        assertEquals(p, s.alphaCumprod(999), 1e-15);
        assertEquals(4.035e-5, s.alphaCumprod(999), 1e-7); // DiT's ᾱ_999 ≈ 4.04e-5
    }

    @Test
    void scaledLinearAndCosine() {
        NoiseSchedule s = NoiseSchedule.scaledLinear(1000, 0.00085, 0.012);
        assertEquals(0.00085, s.beta(0), 1e-15);
        assertEquals(0.012, s.beta(999), 1e-15);
        double mid = Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * 500 / 999;
        assertEquals(mid * mid, s.beta(500), 1e-15);
        NoiseSchedule c = NoiseSchedule.cosine(1000);
        double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        double f1 = Math.pow(Math.cos((0.001 + 0.008) / 1.008 * Math.PI / 2), 2);
        assertEquals(1 - f1 / f0, c.beta(0), 1e-15);
        assertEquals(0.999, c.beta(999), 0); // capped
        for (double b : c.betas()) assertTrue(b > 0 && b <= 0.999);
    }

    @Test
    void zeroTerminalSnrRescale() {
        NoiseSchedule s = NoiseSchedule.scaledLinear(1000, 0.00085, 0.012);
        NoiseSchedule z = s.rescaleZeroTerminalSnr();
        assertEquals(0, z.alphaCumprod(999), 1e-15);
        assertEquals(s.alphaCumprod(0), z.alphaCumprod(0), 1e-12);
        double[] a = s.alphasCumprod(), b = z.alphasCumprod();
        double a0 = Math.sqrt(a[0]), aT = Math.sqrt(a[999]);
        double want = (Math.sqrt(a[500]) - aT) * a0 / (a0 - aT);
        assertEquals(want * want, b[500], 1e-12);
        assertEquals(1, z.beta(999), 1e-12);
    }

    @Test
    void diffusersSpacings() {
        NoiseSchedule s = NoiseSchedule.linear(1000, 1e-4, 0.02);
        assertArrayEquals(new int[] {900, 800, 700, 600, 500, 400, 300, 200, 100, 0}, s.timesteps(10, NoiseSchedule.Spacing.LEADING, 0));
        assertArrayEquals(new int[] {901, 801, 701, 601, 501, 401, 301, 201, 101, 1}, s.timesteps(10, NoiseSchedule.Spacing.LEADING, 1));
        assertArrayEquals(new int[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}, s.timesteps(10, NoiseSchedule.Spacing.TRAILING, 0));
        assertArrayEquals(new int[] {999, 888, 777, 666, 555, 444, 333, 222, 111, 0}, s.timesteps(10, NoiseSchedule.Spacing.LINSPACE, 0));
        // trailing with a non-integer ratio: round(1000 − i·1000/3) − 1 = 999, 666, 332 (333.33 → 333)
        assertArrayEquals(new int[] {999, 666, 332}, s.timesteps(3, NoiseSchedule.Spacing.TRAILING, 0));
        // linspace rounds half to even like numpy: linspace(0, 999, 3) = 0, 499.5, 999 → 0, 500, 999 (half-even: 500)
        assertArrayEquals(new int[] {999, 500, 0}, s.timesteps(3, NoiseSchedule.Spacing.LINSPACE, 0));
    }

    @Test
    void ditSpaceTimestepsAndRespace() {
        int[] ddim = NoiseSchedule.spaceTimesteps(1000, "ddim50");
        assertEquals(50, ddim.length);
        assertEquals(0, ddim[0]);
        assertEquals(980, ddim[49]);
        int[] even = NoiseSchedule.spaceTimesteps(1000, "250");
        assertEquals(250, even.length);
        assertEquals(0, even[0]);
        assertEquals(999, even[249]);
        assertEquals(4, even[1]); // round(999/249 = 4.012)
        assertArrayEquals(new int[] {0, 499, 500, 999}, NoiseSchedule.spaceTimesteps(1000, "2,2"));
        NoiseSchedule base = NoiseSchedule.ditLinear(1000);
        NoiseSchedule r = base.respace(ddim);
        assertEquals(50, r.size());
        for (int i = 0; i < 50; i++) {
            assertEquals(base.alphaCumprod(ddim[i]), r.alphaCumprod(i), 1e-14);
            assertEquals(ddim[i], r.originalTimestep(i));
        }
        assertEquals(1 - base.alphaCumprod(20) / base.alphaCumprod(0), r.beta(1), 1e-15);
        assertEquals(1.0, r.alphaCumprodOrOne(-1));
    }

    @Test
    void sigmas() {
        NoiseSchedule s = NoiseSchedule.linear(1000, 1e-4, 0.02);
        double[] all = s.sigmas();
        assertEquals(Math.sqrt((1 - s.alphaCumprod(10)) / s.alphaCumprod(10)), all[10], 1e-15);
        double[] at = s.sigmasAt(new double[] {999, 10.5});
        assertEquals(3, at.length);
        assertEquals(all[999], at[0], 0);
        assertEquals((all[10] + all[11]) / 2, at[1], 1e-15);
        assertEquals(0, at[2]);
        double[] k = NoiseSchedule.karrasSigmas(10, 0.03, 14.6);
        assertEquals(11, k.length);
        assertEquals(14.6, k[0], 1e-12);
        assertEquals(0.03, k[9], 1e-12);
        assertEquals(0, k[10]);
        for (int i = 1; i < 10; i++) assertTrue(k[i] < k[i - 1]);
    }

    @Test
    void validation() {
        assertMsg(() -> NoiseSchedule.linear(0, 1e-4, 0.02), "training timesteps must be >= 1");
        assertMsg(() -> NoiseSchedule.linear(10, -1, 0.02), "beta start and end must lie in [0, 1)");
        assertMsg(() -> NoiseSchedule.ditLinear(10), "use T >= 21");
        NoiseSchedule s = NoiseSchedule.linear(100, 1e-4, 0.02);
        assertMsg(() -> s.timesteps(101, NoiseSchedule.Spacing.LEADING, 0), "101 sampling steps for a schedule of 100");
        assertMsg(() -> s.timesteps(0, NoiseSchedule.Spacing.LEADING, 0), "expected 1..100");
        assertMsg(() -> s.timesteps(10, NoiseSchedule.Spacing.LEADING, 20), "outside [0, 100)");
        assertMsg(() -> s.alphaCumprod(100), "timestep 100 is out of range [0, 100)");
        assertMsg(() -> s.respace(new int[] {5, 3}), "must increase strictly");
        assertMsg(() -> s.respace(new int[] {100}), "outside [0, 100)");
        assertMsg(() -> NoiseSchedule.spaceTimesteps(1000, "ddim999"), "exactly 999 steps");
        assertMsg(() -> NoiseSchedule.spaceTimesteps(1000, "abc"), "is not \"N\"");
        assertMsg(() -> NoiseSchedule.karrasSigmas(5, 2, 1), "sigmaMin <= sigmaMax");
        assertMsg(() -> NoiseSchedule.fromBetas(0.1, 1.5), "outside [0, 1]");
    }

    static void assertMsg(org.junit.jupiter.api.function.Executable e, String part) {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
        assertTrue(x.getMessage().contains(part), "message '" + x.getMessage() + "' lacks '" + part + "'");
    }
}
