package dev.surpass.attention;

import static dev.surpass.attention.AttnFixture.SEED;
import static dev.surpass.attention.AttnFixture.assertClose;
import static dev.surpass.attention.AttnFixture.assertNoNaN;
import static dev.surpass.attention.AttnFixture.poisoned;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.backend.VectorExp;
import dev.surpass.parity.ParityMath;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * {@link VectorAttention} against {@link ReferenceAttention}, called directly on NaN-poisoned
 * outputs: every option × dtype on odd lengths, Nq ≠ Nk both ways, window edges, GQA 1/4/8, every
 * head dim, and a few long sequences (1000, 2049).
 */
class VectorAttentionTest {
    Device dev;

    @BeforeEach
    void open() {
        dev = Device.cpu();
    }

    @AfterEach
    void close() {
        assertEquals(0, dev.liveAllocations(), "leaked tensors");
        dev.close();
    }

    record P(int b, int nq, int nk, int hq, int hkv, int d, AttentionOptions o, DType t) {
        @Override
        public String toString() {
            return t + " B" + b + " Nq" + nq + " Nk" + nk + " Hq" + hq + " Hkv" + hkv + " D" + d + " " + o;
        }
    }

    /** Runs VectorAttention.prefill into poisoned out/lse and compares with the reference. */
    void check(P p, long seed) {
        float[][] x = AttentionParity.qkv(seed, p.t, p.b * p.nq * p.hq * p.d, p.b * p.nk * p.hkv * p.d);
        ReferenceAttention.Result ref = ReferenceAttention.prefill(x[0], x[1], x[2], p.b, p.nq, p.nk, p.hq, p.hkv, p.d, p.o);
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(p.t, x[0], p.b, p.nq, p.hq, p.d));
            Tensor k = sc.track(dev.upload(p.t, x[1], p.b, p.nk, p.hkv, p.d));
            Tensor v = sc.track(dev.upload(p.t, x[2], p.b, p.nk, p.hkv, p.d));
            Tensor out = sc.track(poisoned(dev, p.t, p.b, p.nq, p.hq, p.d));
            Tensor lse = sc.track(poisoned(dev, DType.F32, p.b, p.hq, p.nq));
            VectorAttention.prefill(q, k, v, out, lse, p.o);
            float[] o = out.toFloatArray(), l = lse.toFloatArray();
            assertNoNaN(o, p + " out");
            assertNoNaN(l, p + " lse");
            assertClose(o, ref.out(), ParityMath.tolerance(p.t), p + " out seed=" + seed);
            assertClose(l, ref.lse(), ParityMath.tolerance(DType.F32), p + " lse seed=" + seed);
        }
    }

    static final AttentionOptions[] OPTIONS = {
        AttentionOptions.defaults(),
        AttentionOptions.causal(),
        AttentionOptions.defaults().window(5, 2),
        AttentionOptions.causal().window(9, -1),
        AttentionOptions.defaults().window(0, 0),
        AttentionOptions.defaults().window(-1, 3),
        AttentionOptions.causal().softcap(4f),
        AttentionOptions.defaults().softcap(30f).scale(0.5f),
    };

    @TestFactory
    Stream<DynamicTest> everyOptionAndDtypeOnOddLengths() {
        List<DynamicTest> tests = new ArrayList<>();
        int[][] lens = {{1, 1}, {7, 7}, {63, 64}, {64, 63}, {65, 65}, {127, 7}, {7, 127}, {1, 65}};
        int i = 0;
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (AttentionOptions o : OPTIONS) {
                for (int[] nn : lens) {
                    P p = new P(2, nn[0], nn[1], 4, 2, 32, o, t);
                    long seed = SEED + i++;
                    tests.add(DynamicTest.dynamicTest(p.toString(), () -> check(p, seed)));
                }
            }
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> headDimsAndGqaRatios() {
        List<DynamicTest> tests = new ArrayList<>();
        int i = 100;
        for (int d : AttentionChecks.HEAD_DIMS) {
            for (int[] heads : new int[][] {{2, 2}, {8, 2}, {8, 1}}) {
                P p = new P(1, 65, 70, heads[0], heads[1], d, AttentionOptions.causal(), d == 64 ? DType.BF16 : DType.F32);
                long seed = SEED + i++;
                tests.add(DynamicTest.dynamicTest(p.toString(), () -> check(p, seed)));
            }
        }
        return tests.stream();
    }

    /** Slopes larger than the standard ones (a strong bias) and one negative: the sign and the scale show. */
    static float[] oddSlopes(int hq) {
        float[] s = new float[hq];
        for (int h = 0; h < hq; h++) s[h] = h == 1 ? -0.05f : 0.7f / (h + 1);
        return s;
    }

    @TestFactory
    Stream<DynamicTest> alibiOnAwkwardShapes() {
        List<DynamicTest> tests = new ArrayList<>();
        int i = 600;
        // {nq, nk}: a few rows (the per-row tile path), blocks of many rows (the row-vectorised path), Nq ≠ Nk both ways
        int[][] lens = {{1, 1}, {3, 70}, {7, 7}, {65, 65}, {127, 63}, {63, 130}, {200, 200}};
        int[][] heads = {{4, 4}, {8, 2}, {3, 1}, {12, 4}};
        for (int hi = 0; hi < heads.length; hi++) {
            int hq = heads[hi][0], hkv = heads[hi][1];
            AttentionOptions[] opts = {
                AttentionOptions.causal().alibi(Alibi.slopes(hq)),
                AttentionOptions.defaults().alibi(Alibi.slopes(hq)),
                AttentionOptions.defaults().alibi(oddSlopes(hq)),
                AttentionOptions.causal().window(9, -1).alibi(oddSlopes(hq)),
                AttentionOptions.defaults().window(5, 2).alibi(Alibi.slopes(hq)),
                AttentionOptions.causal().softcap(4f).alibi(oddSlopes(hq)),
            };
            for (AttentionOptions o : opts) {
                for (int[] nn : lens) {
                    DType t = new DType[] {DType.F32, DType.BF16, DType.F16}[(i + hi) % 3];
                    P p = new P(hi % 2 + 1, nn[0], nn[1], hq, hkv, hi == 1 ? 64 : 32, o, t);
                    long seed = SEED + i++;
                    tests.add(DynamicTest.dynamicTest(p.toString(), () -> check(p, seed)));
                }
            }
        }
        return tests.stream();
    }

    @Test
    void alibiSlopesFollowHf() {
        // torch 1.13, transformers' build_alibi_tensor slopes (fp32 base, torch.pow in fp32; torch's
        // fp32 pow is off by an ulp from the correctly rounded power at a few places: within 1 ulp)
        assertUlp(new float[] {3.906250000e-03f}, Alibi.slopes(1));
        assertUlp(new float[] {6.250000000e-02f, 3.906250000e-03f, 2.500000000e-01f}, Alibi.slopes(3));
        assertUlp(new float[] {5.000000000e-01f, 2.500000000e-01f, 1.250000000e-01f, 6.250000000e-02f, 3.125000000e-02f,
            1.562500000e-02f, 7.812500000e-03f, 3.906250000e-03f, 7.071067691e-01f, 3.535533845e-01f, 1.767766774e-01f,
            8.838833869e-02f}, Alibi.slopes(12));
        assertUlp(new float[] {7.071067691e-01f, 4.999999702e-01f, 3.535533845e-01f, 2.499999851e-01f, 1.767766774e-01f,
            1.249999851e-01f, 8.838833869e-02f, 6.249999255e-02f, 4.419416562e-02f, 3.124999441e-02f, 2.209708281e-02f,
            1.562499721e-02f, 1.104854047e-02f, 7.812498137e-03f, 5.524270236e-03f, 3.906248836e-03f}, Alibi.slopes(16));
        assertUlp(new float[] {
            7.071067691e-01f, 4.999999702e-01f, 3.535533845e-01f, 2.499999851e-01f, 1.767766774e-01f,
            1.249999851e-01f, 8.838833869e-02f, 6.249999255e-02f, 4.419416562e-02f, 3.124999441e-02f,
            2.209708281e-02f, 1.562499721e-02f, 1.104854047e-02f, 7.812498137e-03f, 5.524270236e-03f,
            3.906248836e-03f, 8.408964276e-01f, 5.946035981e-01f, 4.204482436e-01f, 2.973017991e-01f}, Alibi.slopes(20));
        assertUlp(new float[] {
            9.170040488e-01f, 8.408964276e-01f, 7.711054087e-01f, 7.071067691e-01f, 6.484197974e-01f,
            5.946035981e-01f, 5.452538729e-01f, 5.000000000e-01f, 4.585020542e-01f, 4.204482436e-01f,
            3.855527341e-01f, 3.535534143e-01f, 3.242099285e-01f, 2.973017991e-01f, 2.726269662e-01f,
            2.500000298e-01f, 2.292510420e-01f, 2.102241218e-01f, 1.927763820e-01f, 1.767767221e-01f,
            1.621049643e-01f, 1.486509144e-01f, 1.363134831e-01f, 1.250000149e-01f, 1.146255210e-01f,
            1.051120684e-01f, 9.638819098e-02f, 8.838836104e-02f, 8.105248958e-02f, 7.432545722e-02f,
            6.815674901e-02f, 6.250001490e-02f, 5.731276423e-02f, 5.255603790e-02f, 4.819409922e-02f,
            4.419418424e-02f, 4.052624479e-02f, 3.716273233e-02f, 3.407837451e-02f, 3.125000745e-02f,
            2.865638398e-02f, 2.627801895e-02f, 2.409704961e-02f, 2.209709212e-02f, 2.026312426e-02f,
            1.858136617e-02f, 1.703918912e-02f, 1.562500373e-02f, 1.432819292e-02f, 1.313901041e-02f,
            1.204852574e-02f, 1.104854699e-02f, 1.013156213e-02f, 9.290684015e-03f, 8.519594558e-03f,
            7.812502794e-03f, 7.164096460e-03f, 6.569505669e-03f, 6.024263334e-03f, 5.524273962e-03f,
            5.065781530e-03f, 4.645342007e-03f, 4.259797279e-03f, 3.906251397e-03f, 9.576032758e-01f,
            8.781260848e-01f, 8.052451611e-01f, 7.384130359e-01f, 6.771277189e-01f, 6.209288836e-01f,
            5.693942904e-01f, 5.221368670e-01f, 4.788016081e-01f, 4.390629828e-01f, 4.026225507e-01f,
            3.692064881e-01f, 3.385638297e-01f, 3.104644120e-01f, 2.846971154e-01f, 2.610684037e-01f,
            2.394007742e-01f, 2.195314765e-01f, 2.013112605e-01f, 1.846032292e-01f, 1.692819148e-01f,
            1.552321911e-01f, 1.423485428e-01f, 1.305341870e-01f, 1.197003797e-01f, 1.097657308e-01f,
            1.006556153e-01f, 9.230160713e-02f, 8.464094996e-02f, 7.761608809e-02f, 7.117426395e-02f,
            6.526709348e-02f, 5.985018611e-02f, 5.488286167e-02f, 5.032780394e-02f, 4.615079984e-02f,
            4.232047126e-02f, 3.880804032e-02f, 3.558713198e-02f, 3.263354301e-02f, 2.992508933e-02f,
            2.744142897e-02f, 2.516390011e-02f, 2.307539806e-02f, 2.116023377e-02f, 1.940401830e-02f,
            1.779356413e-02f, 1.631676964e-02f}, Alibi.slopes(112));
        // MPT's build_mpt_alibi_tensor (torch 1.13): heads, alibi_bias_max
        assertUlp(new float[] {5.000000000e-01f, 2.500000000e-01f, 1.250000000e-01f, 6.250000000e-02f, 3.125000000e-02f, 1.562500000e-02f, 7.812500000e-03f, 3.906250000e-03f, 7.071067691e-01f, 3.535533845e-01f, 1.767766923e-01f, 8.838834614e-02f}, Alibi.mpt(12, 8f));
        assertUlp(new float[] {6.250000000e-02f, 3.906250000e-03f, 2.441406250e-04f, 1.525878906e-05f, 2.500000000e-01f, 1.562500000e-02f}, Alibi.mpt(6, 16f));
        assertUlp(new float[] {5.000000000e-01f, 2.500000000e-01f, 1.250000000e-01f, 6.250000000e-02f, 3.125000000e-02f, 1.562500000e-02f, 7.812500000e-03f, 3.906250000e-03f}, Alibi.mpt(8, 8f));
        assertUlp(new float[] {6.250000000e-02f, 3.906250000e-03f, 2.500000000e-01f}, Alibi.mpt(3, 8f));
        assertThrows(IllegalArgumentException.class, () -> Alibi.slopes(0));
        assertThrows(IllegalArgumentException.class, () -> Alibi.mpt(4, 0f));
    }

    private static void assertUlp(float[] want, float[] got) {
        assertEquals(want.length, got.length, "slopes");
        for (int h = 0; h < want.length; h++) {
            assertTrue(Math.abs(want[h] - got[h]) <= Math.ulp(want[h]), "slope " + h + ": " + got[h] + " vs HF " + want[h]);
        }
    }

    @Test
    void longSequences() {
        check(new P(1, 1000, 1000, 2, 1, 32, AttentionOptions.causal(), DType.F32), SEED + 200);
        check(new P(1, 65, 2049, 2, 2, 32, AttentionOptions.defaults(), DType.BF16), SEED + 201);
        check(new P(1, 2049, 2049, 1, 1, 32, AttentionOptions.causal().window(300, 0), DType.F16), SEED + 202);
    }

    @Test
    void fullyMaskedRowsGiveZeroAndMinusInfinity() {
        // causal with Nq > Nk: rows 0..Nq-Nk-1 see nothing; window(0,0) with Nk < Nq likewise.
        for (AttentionOptions o : new AttentionOptions[] {AttentionOptions.causal(), AttentionOptions.defaults().window(0, 0)}) {
            int nq = 70, nk = 5, hq = 2, d = 32;
            float[][] x = AttentionParity.qkv(SEED + 300, DType.F32, nq * hq * d, nk * hq * d);
            try (Scope sc = Scope.open()) {
                Tensor q = sc.track(dev.upload(DType.F32, x[0], 1, nq, hq, d));
                Tensor k = sc.track(dev.upload(DType.F32, x[1], 1, nk, hq, d));
                Tensor v = sc.track(dev.upload(DType.F32, x[2], 1, nk, hq, d));
                Tensor out = sc.track(poisoned(dev, DType.F32, 1, nq, hq, d));
                Tensor lse = sc.track(poisoned(dev, DType.F32, 1, hq, nq));
                VectorAttention.prefill(q, k, v, out, lse, o);
                float[] ov = out.toFloatArray(), lv = lse.toFloatArray();
                for (int i = 0; i < nq - nk; i++) {
                    for (int h = 0; h < hq; h++) {
                        assertEquals(Float.NEGATIVE_INFINITY, lv[h * nq + i], o + " lse row " + i);
                        for (int x0 = 0; x0 < d; x0++) assertEquals(0f, ov[(i * hq + h) * d + x0], o + " out row " + i);
                    }
                }
                for (int i = nq - nk; i < nq; i++) assertTrue(Float.isFinite(lv[i]), o + " row " + i + " sees a key");
            }
        }
        // and no keys at all
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(DType.BF16, ParityMath.random(SEED, 3 * 2 * 64, 1f, DType.BF16), 1, 3, 2, 64));
            Tensor k = sc.track(dev.allocate(DType.BF16, 1, 0, 2, 64));
            Tensor out = sc.track(poisoned(dev, DType.BF16, 1, 3, 2, 64));
            Tensor lse = sc.track(poisoned(dev, DType.F32, 1, 2, 3));
            VectorAttention.prefill(q, k, k, out, lse, AttentionOptions.defaults());
            for (float f : out.toFloatArray()) assertEquals(0f, f);
            for (float f : lse.toFloatArray()) assertEquals(Float.NEGATIVE_INFINITY, f);
        }
    }

    @Test
    void exp2IsAccurateAndZeroBelowRange() {
        int n = FloatVector.SPECIES_PREFERRED.length();
        float[] x = new float[n], y = new float[n];
        double worst = 0;
        for (int step = 0; step <= 200_000; step += n) {
            for (int j = 0; j < n; j++) x[j] = -(step + j) * 1.3e-3f; // 0 .. -260
            VectorAttention.exp2(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).intoArray(y, 0);
            for (int j = 0; j < n; j++) {
                double want = Math.pow(2, x[j]);
                if (x[j] < -126) {
                    assertEquals(0f, y[j], "exp2(" + x[j] + ")");
                } else {
                    worst = Math.max(worst, Math.abs(y[j] - want) / want);
                }
            }
        }
        assertTrue(worst < 5e-7, "exp2 relative error " + worst);
        x[0] = Float.NEGATIVE_INFINITY;
        x[1] = Float.NaN;
        VectorAttention.exp2(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).intoArray(y, 0);
        assertEquals(0f, y[0]);
        assertTrue(Float.isNaN(y[1]));
    }

    @Test
    void fastAndClampedExp2AreAccurate() {
        int n = FloatVector.SPECIES_PREFERRED.length();
        float[] x = new float[n], fast = new float[n], clamped = new float[n];
        double worst = 0;
        for (int step = 0; step <= 200_000; step += n) {
            for (int j = 0; j < n; j++) x[j] = -(step + j) * 1.3e-3f; // 0 .. -260
            FloatVector v = FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0);
            VectorExp.exp2NonPositiveFast(v).intoArray(fast, 0);
            VectorExp.exp2Clamped(v.neg()).intoArray(clamped, 0);
            for (int j = 0; j < n; j++) {
                if (x[j] < -126) {
                    assertTrue(fast[j] >= 0 && fast[j] < 2e-38f, "fast exp2(" + x[j] + ") = " + fast[j]);
                    continue;
                }
                worst = Math.max(worst, Math.abs(fast[j] - Math.pow(2, x[j])) / Math.pow(2, x[j]));
                if (-x[j] <= 127) worst = Math.max(worst, Math.abs(clamped[j] - Math.pow(2, -x[j])) / Math.pow(2, -x[j]));
            }
        }
        assertTrue(worst < 2.5e-7, "exp2 relative error " + worst);
        x[0] = Float.NaN;
        VectorExp.exp2NonPositiveFast(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).intoArray(fast, 0);
        assertTrue(Float.isNaN(fast[0]));
    }

    @Test
    void mergeMatchesReferenceFormula() {
        int d = 72;
        float[] o = ParityMath.random(SEED + 400, 3 * d, 1f, DType.F32);
        float[] l = {2.5f, Float.NEGATIVE_INFINITY, -1.25f};
        float[] dst = new float[d + 16];
        float lse = VectorAttention.merge(o, l, 0, 3, d, dst);
        double[] o1 = new double[d], o3 = new double[d];
        for (int x = 0; x < d; x++) {
            o1[x] = o[x];
            o3[x] = o[2 * d + x];
        }
        double[] ref = ReferenceAttention.merge(o1, l[0], o3, l[2]);
        float[] got = java.util.Arrays.copyOf(dst, d);
        assertClose(got, java.util.Arrays.copyOf(ref, d), 1e-6, "merged output");
        assertEquals(ref[d], lse, 1e-6, "merged lse");
        float[] empty = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
        assertEquals(Float.NEGATIVE_INFINITY, VectorAttention.merge(o, empty, 0, 2, d, dst));
        for (int x = 0; x < d; x++) assertEquals(0f, dst[x]);
    }

    @Test
    void resultsDoNotDependOnBlockOrderOrThreads() {
        // Same inputs twice (work is pulled from a shared counter): bit-identical.
        P p = new P(2, 130, 130, 4, 2, 64, AttentionOptions.causal(), DType.F32);
        float[][] x = AttentionParity.qkv(SEED + 500, p.t, p.b * p.nq * p.hq * p.d, p.b * p.nk * p.hkv * p.d);
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(p.t, x[0], p.b, p.nq, p.hq, p.d));
            Tensor k = sc.track(dev.upload(p.t, x[1], p.b, p.nk, p.hkv, p.d));
            Tensor v = sc.track(dev.upload(p.t, x[2], p.b, p.nk, p.hkv, p.d));
            float[] a = sc.track(Attention.prefill(q, k, v, p.o)).toFloatArray();
            float[] b = sc.track(Attention.prefill(q, k, v, p.o)).toFloatArray();
            org.junit.jupiter.api.Assertions.assertArrayEquals(a, b);
        }
    }
}
