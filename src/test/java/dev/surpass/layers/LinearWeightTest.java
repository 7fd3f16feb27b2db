package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.*;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * {@link LinearWeight} on the CPU: the packed product against the float64 {@link ReferenceGemm} on
 * sizes around every tile edge (MR rows, the 4-row small tile, NR columns, K blocks), bit for bit
 * equal to {@link Gemm#linear} where that takes the blocked path, independent of the thread count,
 * 16-bit weights passed through unpacked, and validation.
 */
class LinearWeightTest extends CpuOpTest {
    /** x [rows, k], W [n, k], bias [n] (or null) as random fp32 values. */
    private record Operands(float[] x, float[] w, float[] bias, int rows, int n, int k) {
        static Operands random(long seed, int rows, int n, int k, boolean withBias) {
            return new Operands(ParityMath.random(seed, rows * k, 1f, DType.F32),
                    ParityMath.random(seed + 1, n * k, (float) (1 / Math.sqrt(Math.max(1, k))), DType.F32),
                    withBias ? ParityMath.random(seed + 2, n, 1f, DType.F32) : null, rows, n, k);
        }

        String describe() {
            return "rows=" + rows + " n=" + n + " k=" + k + " bias=" + (bias != null);
        }
    }

    /** The packed product through the public entry, checked against the float64 reference; returns it. */
    private float[] checkPacked(Operands o) {
        try (Tensor x = d.upload(DType.F32, o.x, o.rows, o.k);
             Tensor w = d.upload(DType.F32, o.w, o.n, o.k);
             Tensor b = o.bias == null ? null : d.upload(DType.F32, o.bias, o.n)) {
            LinearWeight lw = LinearWeight.of(w);
            assertTrue(lw.isPacked(), "an fp32 CPU weight is packed");
            try (Tensor y = lw.linear(x, b)) {
                assertArrayEquals(new long[] {o.rows, o.n}, y.shape());
                float[] got = y.toFloatArray();
                double[] ref = ReferenceGemm.linear(o.x, o.w, o.bias, o.rows, o.n, o.k);
                ParityResult r = ParityMath.compare(got, ref, ParityMath.tolerance(DType.F32));
                assertTrue(r.passed(), o.describe() + ": " + r);
                return got;
            }
        }
    }

    @Test
    void matchesReferenceAroundEveryTileEdge() {
        int[] rowsSet = {1, 3, 4, 5, 11, 12, 13, 15, 16, 17, 24, 31, 32, 33, 97, 101, 129};
        int[] nSet = {1, VectorGemm.NR - 1, VectorGemm.NR, VectorGemm.NR + 1, 4 * VectorGemm.NR + 3, 9 * VectorGemm.NR - 5};
        int[] kSet = {1, 2, 7, 64, 383, VectorGemm.KC, VectorGemm.KC + 1, 2 * VectorGemm.KC + 3};
        long seed = SEED;
        for (int rows : rowsSet) {
            for (int n : nSet) {
                int k = kSet[(int) Math.floorMod(seed, (long) kSet.length)];
                checkPacked(Operands.random(seed, rows, n, k, Math.floorMod(seed, 3L) != 0));
                seed++;
            }
        }
        for (int k : kSet) checkPacked(Operands.random(seed++, 15, 3 * VectorGemm.NR + 7, k, true));
    }

    @Test
    void equalsBlockedLinearBitForBit() {
        // more than SMALL_M rows: Gemm.linear takes the blocked path, whose sums are ordered the same way
        for (int rows : new int[] {VectorGemm.SMALL_M + 1, VectorGemm.SMALL_M + 31, VectorGemm.SMALL_M + 42}) {
            for (int k : new int[] {5, 384, VectorGemm.KC + 7}) {
                Operands o = Operands.random(SEED + rows * 31L + k, rows, 2 * VectorGemm.NR + 9, k, true);
                float[] packed = checkPacked(o);
                try (Tensor x = d.upload(DType.F32, o.x, rows, k);
                     Tensor w = d.upload(DType.F32, o.w, o.n, k);
                     Tensor b = d.upload(DType.F32, o.bias, o.n);
                     Tensor y = Gemm.linear(x, w, b)) {
                    assertArrayEquals(y.toFloatArray(), packed, o.describe());
                }
            }
        }
    }

    @Test
    void resultDoesNotDependOnThreadCount() {
        for (int rows : new int[] {15, 40}) {
            Operands o = Operands.random(SEED + rows, rows, 7 * VectorGemm.NR + 1, 1500, true);
            float[] first = null;
            try (Tensor x = d.upload(DType.F32, o.x, rows, o.k);
                 Tensor w = d.upload(DType.F32, o.w, o.n, o.k);
                 Tensor b = d.upload(DType.F32, o.bias, o.n)) {
                float[] wp = VectorGemm.packWeight(w, o.n, o.k);
                for (int parts : new int[] {1, 2, 3, 8}) {
                    try (Tensor y = d.allocate(DType.F32, rows, o.n)) {
                        float[] nan = new float[rows * o.n];
                        java.util.Arrays.fill(nan, Float.NaN);
                        y.hostSegment().copyFrom(java.lang.foreign.MemorySegment.ofArray(nan));
                        VectorGemm.linearPacked(x, wp, o.n, o.k, b, y, rows, parts);
                        float[] got = y.toFloatArray();
                        if (first == null) first = got;
                        else assertArrayEquals(first, got, "rows " + rows + ", parts " + parts);
                    }
                }
            }
            assertNotNull(first);
            for (float v : first) assertFalse(Float.isNaN(v), "every element written");
        }
    }

    @Test
    void leadingDimsEmptyAndZeroK() {
        try (Tensor w = d.upload(DType.F32, ParityMath.random(SEED, 5 * 3, 1f, DType.F32), 5, 3);
             Tensor b = d.upload(DType.F32, new float[] {1, 2, 3, 4, 5}, 5);
             Tensor x = d.upload(DType.F32, ParityMath.random(SEED + 1, 2 * 3 * 3, 1f, DType.F32), 2, 3, 3);
             Tensor y = LinearWeight.of(w).linear(x, b);
             Tensor expected = Gemm.linear(x, w, b)) {
            assertArrayEquals(new long[] {2, 3, 5}, y.shape());
            assertArrayEquals(expected.toFloatArray(), y.toFloatArray(), 1e-5f);
        }
        try (Tensor w = d.upload(DType.F32, new float[0], 4, 0);
             Tensor b = d.upload(DType.F32, new float[] {1, 2, 3, 4}, 4);
             Tensor x = d.upload(DType.F32, new float[0], 2, 0);
             Tensor y = LinearWeight.of(w).linear(x, b);
             Tensor y0 = LinearWeight.of(w).linear(x, null)) {
            assertArrayEquals(new float[] {1, 2, 3, 4, 1, 2, 3, 4}, y.toFloatArray());
            assertArrayEquals(new float[8], y0.toFloatArray());
        }
        try (Tensor w = d.upload(DType.F32, new float[6], 2, 3);
             Tensor x = d.upload(DType.F32, new float[0], 0, 3);
             Tensor y = LinearWeight.of(w).linear(x, null)) {
            assertArrayEquals(new long[] {0, 2}, y.shape());
        }
    }

    @Test
    void sixteenBitWeightsAreNotPackedAndEqualLinear() {
        for (DType t : new DType[] {DType.F16, DType.BF16}) {
            float[] xv = ParityMath.random(SEED, 15 * 40, 1f, t), wv = ParityMath.random(SEED + 1, 33 * 40, 0.2f, t);
            try (Tensor x = d.upload(t, xv, 15, 40);
                 Tensor w = d.upload(t, wv, 33, 40)) {
                LinearWeight lw = LinearWeight.of(w);
                assertFalse(lw.isPacked(), t + " weights are used as they are");
                try (Tensor y = lw.linear(x, null); Tensor expected = Gemm.linear(x, w, null)) {
                    assertEquals(t, y.dtype());
                    assertArrayEquals(expected.toFloatArray(), y.toFloatArray());
                }
            }
        }
    }

    private static void assertRejects(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    @Test
    void validation() {
        try (Tensor x = d.upload(DType.F32, new float[6], 2, 3);
             Tensor w = d.upload(DType.F32, new float[12], 4, 3);
             Tensor w5 = d.upload(DType.F32, new float[10], 2, 5);
             Tensor vec = d.upload(DType.F32, new float[3], 3);
             Tensor w3 = d.upload(DType.F32, new float[24], 2, 4, 3);
             Tensor ints = d.upload(new int[] {1, 2, 3, 4, 5, 6}, 2, 3);
             Tensor xh = d.upload(DType.BF16, new float[6], 2, 3);
             Tensor bias5 = d.upload(DType.F32, new float[5], 5)) {
            assertRejects("weight is null", () -> LinearWeight.of(null));
            assertRejects("rank 1", () -> LinearWeight.of(vec));
            assertRejects("rank 3", () -> LinearWeight.of(w3));
            assertRejects("I32", () -> LinearWeight.of(ints));
            LinearWeight lw = LinearWeight.of(w);
            assertRejects("x is null", () -> lw.linear(null, null));
            assertRejects("K=3", () -> LinearWeight.of(w5).linear(x, null));
            assertRejects("bias", () -> lw.linear(x, bias5));
            assertRejects("bias", () -> lw.linear(x, x));
            assertRejects("dtypes differ", () -> lw.linear(xh, null));
            try (Tensor x0 = d.upload(DType.F32, new float[] {1}, new long[0])) {
                assertRejects("rank 0", () -> lw.linear(x0, null));
            }
            Tensor closing = d.upload(DType.F32, new float[12], 4, 3);
            LinearWeight stale = LinearWeight.of(closing);
            closing.close();
            assertRejects("closed", () -> stale.linear(x, null));
            assertRejects("closed", () -> LinearWeight.of(closing));
        }
    }
}
