package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * {@link Gemm#linear} with an F32 x and a BF16 / F16 weight: every 16-bit pattern widens as Java's
 * scalar conversions do (both halves of a lane), the product matches the float64 reference and the
 * widened-weight product to fp32 rounding over decode-sized and larger inputs, ragged K, bias or
 * none, into a poisoned output, and does not depend on the thread count.
 */
class LinearHalfWeightTest {
    static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, FloatVector.SPECIES_PREFERRED.vectorShape());
    static final int L = SI.length();

    @Test
    void everySixteenBitPatternWidensExactly() {
        int[] pairs = new int[L];
        float[] lo = new float[L], hi = new float[L];
        for (boolean bf16 : new boolean[] {true, false}) {
            for (int p0 = 0; p0 < 65536; p0 += L) {
                for (int l = 0; l < L; l++) pairs[l] = (p0 + l) | (((p0 + l) ^ 0x8001) << 16); // low: the pattern, high: another
                IntVector v = IntVector.fromArray(SI, pairs, 0);
                VectorGemmHalf.low(v, bf16).intoArray(lo, 0);
                VectorGemmHalf.high(v, bf16).intoArray(hi, 0);
                for (int l = 0; l < L; l++) {
                    short a = (short) (p0 + l), b = (short) ((p0 + l) ^ 0x8001);
                    assertEquals(bits(a, bf16), Float.floatToRawIntBits(lo[l]), (bf16 ? "bf16 " : "f16 ") + Integer.toHexString(a & 0xFFFF));
                    assertEquals(bits(b, bf16), Float.floatToRawIntBits(hi[l]), (bf16 ? "bf16 " : "f16 ") + Integer.toHexString(b & 0xFFFF));
                }
            }
        }
    }

    static int bits(short h, boolean bf16) {
        return Float.floatToRawIntBits(bf16 ? Float.intBitsToFloat(h << 16) : Float.float16ToFloat(h));
    }

    @Test
    void productMatchesTheReferenceAndTheWidenedWeight() {
        int[] rows = {1, 2, 3, 4, 5, 9, 16, 17, 40};
        int[] ks = {1, 2, 7, 2 * L, 2 * L + 1, 6 * L + 5, 301};
        int[] ns = {1, 5, 33};
        long seed = 77;
        try (Device cpu = Device.cpu()) {
            for (DType wt : new DType[] {DType.BF16, DType.F16}) {
                for (int m : rows) {
                    for (int k : ks) {
                        for (int n : ns) {
                            float[] x = ParityMath.random(seed++, m * k, 1f, DType.F32);
                            float[] w = ParityMath.random(seed++, n * k, (float) (1 / Math.sqrt(k)), wt);
                            float[] b = ParityMath.random(seed++, n, 1f, DType.F32);
                            try (Tensor tx = cpu.upload(DType.F32, x, m, k); Tensor tw = cpu.upload(wt, w, n, k);
                                 Tensor tw32 = cpu.upload(DType.F32, w, n, k); Tensor tb = cpu.upload(DType.F32, b, n)) {
                                for (Tensor bias : new Tensor[] {tb, null}) {
                                    String what = wt + " m=" + m + " k=" + k + " n=" + n + " bias=" + (bias != null);
                                    try (Tensor got = Gemm.linear(tx, tw, bias); Tensor want = Gemm.linear(tx, tw32, bias)) {
                                        assertEquals(DType.F32, got.dtype());
                                        float[] g = got.toFloatArray();
                                        double[] ref = ReferenceGemm.gemm(x, w, bias == null ? null : b, 1, m, n, k, true, false);
                                        ParityResult r = ParityMath.compare(g, ref, ParityMath.tolerance(DType.F32));
                                        assertTrue(r.passed(), what + ": " + r);
                                        if (m > VectorGemmHalf.MAX_TOTAL_ROWS) assertArrayEquals(want.toFloatArray(), g, what + ": widened per call");
                                    }
                                }
                            }
                        }
                    }
                }
            }
            assertEquals(0, cpu.liveAllocations(), "leaked tensors");
        }
    }

    @Test
    void everyOutputIsWrittenAndThreadsDoNotChangeTheBits() {
        int m = 3, n = 501, k = 1001;
        float[] x = ParityMath.random(5, m * k, 1f, DType.F32), w = ParityMath.random(6, n * k, 0.03f, DType.F16);
        try (Device cpu = Device.cpu(); Tensor tx = cpu.upload(DType.F32, x, m, k); Tensor tw = cpu.upload(DType.F16, w, n, k)) {
            float[] one = null;
            for (int parts : new int[] {1, 2, 3, 7}) {
                try (Tensor out = cpu.upload(DType.F32, filled(m * n, Float.NaN), m, n)) {
                    assertTrue(VectorGemmHalf.linear(tx, tw, null, out, m, n, k, parts));
                    float[] got = out.toFloatArray();
                    for (int i = 0; i < got.length; i++) if (Float.isNaN(got[i])) fail("element " + i + " not written (parts " + parts + ")");
                    if (one == null) one = got;
                    else assertArrayEquals(one, got, "parts " + parts);
                }
            }
        }
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void otherMixturesAreRefused() {
        try (Device cpu = Device.cpu(); Tensor x16 = cpu.upload(DType.BF16, new float[6], 2, 3);
             Tensor w32 = cpu.upload(DType.F32, new float[12], 4, 3); Tensor w16 = cpu.upload(DType.F16, new float[12], 4, 3);
             Tensor x32 = cpu.upload(DType.F32, new float[6], 2, 3); Tensor b16 = cpu.upload(DType.F16, new float[4], 4)) {
            var e = assertThrows(IllegalArgumentException.class, () -> Gemm.linear(x16, w32, null));
            assertTrue(e.getMessage().contains("dtypes differ"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Gemm.linear(x16, w16, null));
            assertTrue(e.getMessage().contains("dtypes differ"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Gemm.linear(x32, w16, b16));
            assertTrue(e.getMessage().contains("bias"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Gemm.matmul(x32, w16));
            assertTrue(e.getMessage().contains("dtypes differ"), e.getMessage());
        }
    }
}
