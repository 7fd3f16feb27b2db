package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.Test;

class ActivationTest extends CpuOpTest {
    @Test
    void referenceErfMatchesKnownValues() {
        // Values from the literature (Abramowitz & Stegun tables, computed to 16+ digits).
        assertEquals(0.5204998778130465, ReferenceActivation.erf(0.5), 1e-15);
        assertEquals(0.8427007929497149, ReferenceActivation.erf(1), 1e-15);
        assertEquals(0.9953222650189527, ReferenceActivation.erf(2), 1e-15);
        assertEquals(-0.9953222650189527, ReferenceActivation.erf(-2), 1e-15);
        assertEquals(1.1283791670955126e-10, ReferenceActivation.erf(1e-10), 1e-24);
        assertEquals(2.209049699858544e-05, ReferenceActivation.erfc(3), 1e-18);
        assertEquals(1.5374597944280349e-12, ReferenceActivation.erfc(5), 1e-25);
        assertEquals(2.088487583762545e-45, ReferenceActivation.erfc(10), 1e-57);
        assertEquals(0.15729920705028513, ReferenceActivation.erfc(1), 1e-15);
        // Continuity where the series hands over to the continued fraction.
        assertEquals(ReferenceActivation.erfc(Math.nextDown(2.5)), ReferenceActivation.erfc(2.5), 1e-15);
        // GELU in closed form at x = 1: Φ(1) = 0.8413447460685429.
        assertEquals(0.8413447460685429, ReferenceActivation.geluErf(1), 1e-15);
        assertEquals(-1 * (1 - 0.8413447460685429), ReferenceActivation.geluErf(-1), 1e-15);
        // The tanh form, as written in GPT-2, where it does not cancel.
        for (double v : new double[] {-2, -0.5, 0.3, 1, 4}) {
            double u = Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v);
            assertEquals(0.5 * v * (1 + Math.tanh(u)), ReferenceActivation.geluTanh(v), 1e-15);
        }
    }

    @Test
    void vectorErfIsAccurateOnMinusTenToTen() {
        int n = 2_000_001;
        float[] x = new float[n + 64], y = new float[n + 64];
        for (int i = 0; i < n; i++) x[i] = -10f + 20f * i / (n - 1);
        for (int k = 0; k < 64; k++) x[n + k] = (float) Math.scalb(1.0, -k * 2); // tiny arguments
        VectorActivation.erf(x, y);
        double worst = 0;
        float at = 0;
        for (int i = 0; i < x.length; i++) {
            double ref = ReferenceActivation.erf(x[i]);
            if (ref == 0) continue;
            double rel = Math.abs(y[i] - ref) / Math.abs(ref);
            if (rel > worst) {
                worst = rel;
                at = x[i];
            }
        }
        assertTrue(worst < 1.5e-7, "erf max relative error " + worst + " at x=" + at);
        float[] special = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 3.92f, 4f, 1e30f};
        float[] out = new float[special.length];
        VectorActivation.erf(special, out);
        assertArrayEquals(new float[] {0f, -0f, 1f, -1f, Float.NaN, 1f, 1f, 1f}, out);
        // Φ(-x) from erfc, against the float64 reference, where 1 + erf would have cancelled.
        for (float v : new float[] {-3f, -5.5f, -8f, -12f}) {
            assertEquals(ReferenceActivation.geluErf(v), gelu(v), 1e-6 * Math.abs(ReferenceActivation.geluErf(v)), "gelu(" + v + ")");
        }
    }

    @Test
    void vectorExpIsWithinOneUlp() {
        var sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        int n = sp.loopBound(1_000_000);
        float[] x = new float[n], y = new float[n];
        for (int i = 0; i < n; i++) x[i] = -103f + (88.7f + 103f) * i / (n - 1);
        for (int i = 0; i < n; i += sp.length()) {
            VectorMath.exp(jdk.incubator.vector.FloatVector.fromArray(sp, x, i)).intoArray(y, i);
        }
        for (int i = 0; i < n; i++) {
            double ref = Math.exp(x[i]);
            if (ref < Float.MIN_NORMAL) continue;
            assertTrue(Math.abs(y[i] - ref) <= Math.ulp((float) ref), "exp(" + x[i] + ") = " + y[i] + ", want " + ref);
        }
        float[] sx = new float[sp.length()], sy = new float[sp.length()];
        float[] special = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 0f, 89f, -110f, 88.7f, -87f};
        System.arraycopy(special, 0, sx, 0, Math.min(special.length, sx.length));
        VectorMath.exp(jdk.incubator.vector.FloatVector.fromArray(sp, sx, 0)).intoArray(sy, 0);
        float[] want = {0f, Float.POSITIVE_INFINITY, Float.NaN, 1f, Float.POSITIVE_INFINITY, 0f, (float) Math.exp(88.7f), (float) Math.exp(-87f)};
        for (int i = 0; i < Math.min(special.length, sx.length); i++) {
            assertEquals(want[i], sy[i], Float.isFinite(want[i]) ? Math.ulp(want[i]) : 0f, "exp(" + special[i] + ")");
        }
    }

    @Test
    void saturatedTails() {
        float[] x = {10f, -10f, 100f, -100f, 50f, -50f, 3e38f, -3e38f};
        try (Tensor t = d.upload(DType.F32, x, x.length);
             Tensor ge = Activation.gelu(t, Activation.Gelu.ERF);
             Tensor gt = Activation.gelu(t, Activation.Gelu.TANH);
             Tensor si = Activation.silu(t)) {
            float[][] got = {ge.toFloatArray(), gt.toFloatArray(), si.toFloatArray()};
            for (int i = 0; i < x.length; i++) {
                double[] ref = {ReferenceActivation.geluErf(x[i]), ReferenceActivation.geluTanh(x[i]), ReferenceActivation.silu(x[i])};
                for (int k = 0; k < 3; k++) {
                    assertFalse(Float.isNaN(got[k][i]), "op " + k + " at " + x[i]);
                    assertEquals(ref[k], got[k][i], 4 * Math.ulp((float) ref[k]) + 1e-37, "op " + k + " at " + x[i]);
                }
            }
            assertEquals(10f, got[0][0]);
            assertEquals(100f, got[2][2]);
            assertEquals(-7.619853024160527e-23, got[0][1], 1e-28); // -10·Φ(-10), kept to fp32 precision
        }
        assertEquals(ReferenceActivation.geluErf(-5), gelu(-5f), 1e-12);
    }

    private float gelu(float v) {
        try (Tensor t = d.upload(DType.F32, new float[] {v}, 1); Tensor g = Activation.gelu(t)) {
            return g.getFloat(0);
        }
    }

    @Test
    void matchesTheReferenceInFp32IncludingTheTails() {
        // Relative accuracy per element, tails included (GELU-erf takes Φ(x) from erfc there).
        float[] x = ParityMath.random(SEED, 40_000, 12f, DType.F32);
        try (Tensor t = d.upload(DType.F32, x, x.length);
             Tensor ge = Activation.gelu(t);
             Tensor gt = Activation.gelu(t, Activation.Gelu.TANH);
             Tensor si = Activation.silu(t)) {
            check("gelu_erf", x, ge.toFloatArray(), ReferenceActivation.geluErf(x), v -> 1e-6);
            check("silu", x, si.toFloatArray(), ReferenceActivation.silu(x), v -> 1e-6);
            // x·σ(2u): the fp32 rounding of 2u = 2√(2/π)(x + 0.044715x³) (a few ulps) is amplified
            // by |2u| in the negative tail.
            check("gelu_tanh", x, gt.toFloatArray(), ReferenceActivation.geluTanh(x),
                    v -> 1e-6 + 3e-7 * Math.abs(1.5957691216 * (v + 0.044715 * v * v * v)));
        }
    }

    // Per element: |got - ref| ≤ tol(x)·|ref| + 1e-37 (below that the fp32 result is subnormal).
    private static void check(String op, float[] x, float[] got, double[] ref, java.util.function.DoubleUnaryOperator tol) {
        for (int i = 0; i < got.length; i++) {
            double err = Math.abs(got[i] - ref[i]);
            assertTrue(err <= tol.applyAsDouble(x[i]) * Math.abs(ref[i]) + 1e-37,
                    op + "(" + x[i] + "): got " + got[i] + " want " + ref[i] + " seed=" + SEED);
        }
    }

    @Test
    void validation() {
        Tensor i = d.upload(new int[] {1, 2}, 2);
        Tensor c = d.upload(DType.F32, new float[] {1, 2}, 2);
        c.close();
        Tensor f = d.upload(DType.F32, new float[] {1, 2}, 2);
        var e1 = assertThrows(IllegalArgumentException.class, () -> Activation.gelu(null));
        assertTrue(e1.getMessage().startsWith("gelu: x is null"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> Activation.silu(i));
        assertTrue(e2.getMessage().contains("silu: x has dtype I32"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class, () -> Activation.silu(c));
        assertTrue(e3.getMessage().contains("silu: x") && e3.getMessage().contains("is closed"), e3.getMessage());
        var e4 = assertThrows(IllegalArgumentException.class, () -> Activation.gelu(f, null));
        assertTrue(e4.getMessage().contains("gelu: approx is null"), e4.getMessage());
    }

    @Test
    void emptyTensors() {
        try (Tensor x = d.allocate(DType.F16, 4, 0); Tensor y = Activation.gelu(x); Tensor z = Activation.silu(x)) {
            assertArrayEquals(new long[] {4, 0}, y.shape());
            assertEquals(0, z.numel());
        }
    }

    @Test
    void resultsDoNotDependOnThreading() {
        for (DType t : new DType[] {DType.F32, DType.F16}) {
            long[] s = {77, 3001};
            float[] x = ParityMath.random(SEED, 77 * 3001, 8f, t);
            try (Tensor a = d.upload(t, x, s); Tensor o1 = d.allocate(t, s); Tensor o2 = d.allocate(t, s)) {
                for (VectorActivation.Op op : VectorActivation.Op.values()) {
                    VectorActivation.apply(op, a, o1, true);
                    VectorActivation.apply(op, a, o2, false);
                    assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), op + " " + t + " seed=" + SEED);
                }
            }
        }
    }

    /**
     * Softcap {@code cap·tanh(x/cap)} against the float64 reference from tiny to huge inputs (fp32:
     * within a few ulp of the result, relative), its limits ±cap at ±∞ and NaN kept, every dtype,
     * and a cap that is not positive and finite refused by name.
     */
    @Test
    void softcapMatchesReferenceAndLimits() {
        float cap = 30f;
        float[] x = {0f, -0f, 1e-30f, -3e-6f, 0.01f, -1f, 7.5f, 29f, -30f, 45f, 300f, -1e6f, Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        try (Tensor t = d.upload(DType.F32, x, x.length); Tensor y = Activation.softcap(t, cap)) {
            float[] got = y.toFloatArray();
            double[] want = ReferenceActivation.softcap(x, cap);
            for (int i = 0; i < x.length - 3; i++) {
                assertEquals(want[i], got[i], 4 * Math.ulp((float) want[i]) + 1e-45, "softcap(" + x[i] + ")");
            }
            assertEquals(cap, got[x.length - 3]);
            assertEquals(-cap, got[x.length - 2]);
            assertTrue(Float.isNaN(got[x.length - 1]));
        }
        for (DType dt : new DType[] {DType.F16, DType.BF16}) {
            float[] v = ParityMath.random(7, 1000, 80f, dt);
            try (Tensor t = d.upload(dt, v, 10, 100); Tensor y = Activation.softcap(t, cap)) {
                assertEquals(dt, y.dtype());
                var r = ParityMath.compare(y.toFloatArray(), ReferenceActivation.softcap(v, cap), ParityMath.tolerance(dt));
                assertTrue(r.passed(), dt + ": " + r);
            }
        }
        try (Tensor t = d.upload(DType.F32, new float[] {1}, 1)) {
            for (float bad : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
                var e = assertThrows(IllegalArgumentException.class, () -> Activation.softcap(t, bad));
                assertTrue(e.getMessage().contains("cap"), e.getMessage());
            }
        }
    }
}
