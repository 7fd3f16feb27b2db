package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.*;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.Test;

/** CPU {@link Gemm}: parity with the float64 {@link ReferenceGemm}, blocking edges, dtypes, validation. */
class GemmTest {
    private static final long SEED = 20240611L;

    /** Fills a tensor with NaN (or, for 16-bit dtypes, a NaN bit pattern) so unwritten elements show. */
    private static void poison(Tensor t) {
        MemorySegment s = t.hostSegment();
        long n = t.numel();
        if (t.dtype() == DType.F32) {
            for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, Float.NaN);
        } else {
            for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) 0x7fc1);
        }
    }

    /**
     * Runs {@link VectorGemm} into a poisoned output ({@code parts} macro tiles) and checks it
     * against the reference; returns the output values.
     */
    private static float[] checkVector(Device dev, DType t, int batch, int m, int n, int k, boolean bTransposed,
                                       boolean bBatched, boolean withBias, int parts, long seed) {
        int bCopies = bBatched ? batch : 1;
        float[] a = ParityMath.random(seed, batch * m * k, 1f, t);
        float[] b = ParityMath.random(seed + 1, bCopies * k * n, (float) (1 / Math.sqrt(Math.max(1, k))), t);
        float[] bias = withBias ? ParityMath.random(seed + 2, n, 1f, t) : null;
        long[] bShape = bTransposed ? new long[] {bCopies, n, k} : new long[] {bCopies, k, n};
        try (Tensor ta = dev.upload(t, a, batch, m, k);
             Tensor tb = dev.upload(t, b, bShape);
             Tensor tbias = bias == null ? null : dev.upload(t, bias, n);
             Tensor out = dev.allocate(t, batch, m, n)) {
            poison(out);
            VectorGemm.gemm(ta, tb, tbias, out, batch, m, n, k, bTransposed, bBatched, parts);
            double[] ref = ReferenceGemm.gemm(a, b, bias, batch, m, n, k, bTransposed, bBatched);
            float[] got = out.toFloatArray();
            String what = t + " batch=" + batch + " m=" + m + " n=" + n + " k=" + k + " bT=" + bTransposed + " bB=" + bBatched
                    + " bias=" + withBias + " parts=" + parts + " seed=" + seed;
            for (int i = 0; i < got.length; i++) {
                if (Float.isNaN(got[i])) fail(what + ": element " + i + " was not written");
            }
            ParityResult r = ParityMath.compare(got, ref, ParityMath.tolerance(t));
            assertTrue(r.passed(), what + ": " + r);
            return got;
        }
    }

    @Test
    void parityAcrossBlockingEdges() {
        // AVX-512: MR = 12, NR = 32, KC = 1024, MC = 144; AVX2: MR = 4, NR = 24, KC = 384,
        // MC = 192 (K blocks are balanced); NC = 3072: sizes on and around each boundary, primes,
        // and 1; M >= 24 with N >= 2 takes the shared-B path, except linear with M <= SMALL_M (8 vectors'
        // worth): the few-rows paths.
        int[][] shapes = {
            {143, 40, 50}, {145, 33, 1025}, {12, 32, 1024}, {25, 64, 2049}, {289, 70, 31},
            {1, 1, 1}, {1, 48, 1}, {8, 48, 256}, {7, 47, 255}, {9, 49, 257}, {9, 97, 3}, {17, 1, 31},
            {1, 1000, 64}, {191, 50, 20}, {192, 96, 64}, {193, 95, 513}, {13, 65, 63}, {65, 127, 129},
            {31, 149, 600}, {3, 3073, 5}, {11, 31, 383}, {12, 32, 384}, {13, 33, 385}, {25, 65, 769},
            {4, 24, 8}, {5, 25, 1},
        };
        long seed = SEED;
        try (Device dev = Device.cpu()) {
            for (int[] s : shapes) {
                for (boolean bT : new boolean[] {false, true}) {
                    checkVector(dev, DType.F32, 1, s[0], s[1], s[2], bT, false, bT, 2, seed++);
                }
            }
        }
    }

    @Test
    void sixteenBitOperandsAndOutputs() {
        long seed = SEED + 100;
        try (Device dev = Device.cpu()) {
            for (DType t : new DType[] {DType.F16, DType.BF16}) {
                for (int[] s : new int[][] {{1, 1, 1}, {3, 5, 7}, {13, 65, 63}, {65, 127, 300}, {9, 49, 257}}) {
                    checkVector(dev, t, 1, s[0], s[1], s[2], false, false, false, 2, seed++);
                    checkVector(dev, t, 2, s[0], s[1], s[2], true, false, true, 3, seed++);
                }
            }
        }
    }

    @Test
    void batchedAndSharedB() {
        long seed = SEED + 200;
        try (Device dev = Device.cpu()) {
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                checkVector(dev, t, 3, 17, 19, 33, false, false, false, 2, seed++);
                checkVector(dev, t, 3, 17, 19, 33, false, true, false, 2, seed++);
                checkVector(dev, t, 5, 9, 50, 70, true, true, true, 4, seed++);
                checkVector(dev, t, 4, 1, 1, 1, false, true, false, 2, seed++);
            }
        }
    }

    @Test
    void resultDoesNotDependOnThreadCount() {
        try (Device dev = Device.cpu()) {
            for (int[] s : new int[][] {{193, 101, 300}, {16, 400, 129}, {3, 7, 600}}) {
                for (boolean bT : new boolean[] {false, true}) {
                    long seed = SEED + 300 + s[0];
                    float[] one = checkVector(dev, DType.F32, 2, s[0], s[1], s[2], bT, false, true, 1, seed);
                    for (int parts : new int[] {2, 3, 5, 16}) {
                        float[] other = checkVector(dev, DType.F32, 2, s[0], s[1], s[2], bT, false, true, parts, seed);
                        assertArrayEquals(one, other, "parts=" + parts + " differs from 1 thread for " + Arrays.toString(s) + " bT=" + bT
                                + " seed=" + seed);
                    }
                }
            }
        }
    }

    @Test
    void fewRowsLinearPathMatchesReferenceForAnyThreadCount() {
        // linear with <= VectorGemm.SMALL_M rows streams the weight without packing (dot products
        // up to DOT_ROWS rows, the paired-k narrow kernels above): ragged K (odd, not a multiple
        // of the vector length), N not a multiple of 4 or of NARROW_W, each kernel's row counts; past
        // two vectors' worth of rows, narrow in chunks (a partial last chunk, exactly SMALL_M rows).
        try (Device dev = Device.cpu()) {
            for (int[] s : new int[][] {{1, 1, 1}, {1, 7, 33}, {2, 9, 100}, {5, 130, 257}, {16, 67, 515}, {3, 1029, 64},
                                        {8, 13, 64}, {12, 37, 1}, {17, 5, 2}, {24, 70, 384}, {32, 11, 33},
                                        {33, 70, 257}, {64, 9, 31}, {97, 67, 515}, {VectorGemm.SMALL_M, 13, 64}}) {
                long seed = SEED + 600 + s[0] * 31L + s[1];
                float[] one = checkVector(dev, DType.F32, 1, s[0], s[1], s[2], true, false, true, 1, seed);
                for (int parts : new int[] {2, 3, 7}) {
                    float[] other = checkVector(dev, DType.F32, 1, s[0], s[1], s[2], true, false, true, parts, seed);
                    assertArrayEquals(one, other, "parts=" + parts + " differs from 1 thread for " + Arrays.toString(s) + " seed=" + seed);
                }
            }
        }
    }

    @Test
    void oneRowLinearEqualsFirstRowOfTwoBitForBit() {
        // One row of x takes its own kernel (a batch-1 decode step); it must sum every element as
        // the few-rows dot products do, so a row's result does not depend on the batch around it.
        try (Device dev = Device.cpu()) {
            for (int[] s : new int[][] {{1, 1}, {5, 7}, {13, 16}, {83, 128}, {40, 256}, {256, 8}, {9, 257}}) {
                int n = s[0], k = s[1];
                long seed = SEED + 700 + n * 31L + k;
                float[] x = ParityMath.random(seed, 2 * k, 1f, DType.F32);
                float[] w = ParityMath.random(seed + 1, n * k, 0.1f, DType.F32);
                float[] bias = ParityMath.random(seed + 2, n, 1f, DType.F32);
                try (Tensor tw = dev.upload(DType.F32, w, n, k);
                     Tensor tb = dev.upload(DType.F32, bias, n);
                     Tensor x1 = dev.upload(DType.F32, Arrays.copyOf(x, k), 1, k);
                     Tensor x2 = dev.upload(DType.F32, x, 2, k);
                     Tensor y1 = Gemm.linear(x1, tw, tb);
                     Tensor y2 = Gemm.linear(x2, tw, tb)) {
                    assertArrayEquals(Arrays.copyOf(y2.toFloatArray(), n), y1.toFloatArray(), "n=" + n + " k=" + k + " seed=" + seed);
                }
            }
        }
    }

    @Test
    void linearEqualsMatmulWithTransposedWeightBitForBit() {
        int m = VectorGemm.SMALL_M + 9, n = 70, k = 300; // past the streaming paths: linear is the blocked product
        float[] x = ParityMath.random(SEED + 400, m * k, 1f, DType.F32);
        float[] w = ParityMath.random(SEED + 401, n * k, 0.1f, DType.F32);
        float[] wt = new float[k * n];
        for (int j = 0; j < n; j++) for (int t = 0; t < k; t++) wt[t * n + j] = w[j * k + t];
        try (Device dev = Device.cpu();
             Tensor tx = dev.upload(DType.F32, x, m, k);
             Tensor tw = dev.upload(DType.F32, w, n, k);
             Tensor twt = dev.upload(DType.F32, wt, k, n);
             Tensor y1 = Gemm.linear(tx, tw, null);
             Tensor y2 = Gemm.matmul(tx, twt)) {
            assertArrayEquals(y2.toFloatArray(), y1.toFloatArray(), "seed=" + (SEED + 400));
        }
    }

    @Test
    void publicShapesAndBias() {
        try (Device dev = Device.cpu()) {
            // linear over [2, 5, K] with bias
            int k = 1000, n = 33;
            float[] x = ParityMath.random(SEED + 500, 2 * 5 * k, 1f, DType.F32);
            float[] w = ParityMath.random(SEED + 501, n * k, 0.03f, DType.F32);
            float[] bias = ParityMath.random(SEED + 502, n, 1f, DType.F32);
            try (Tensor tx = dev.upload(DType.F32, x, 2, 5, k);
                 Tensor tw = dev.upload(DType.F32, w, n, k);
                 Tensor tb = dev.upload(DType.F32, bias, n);
                 Tensor y = Gemm.linear(tx, tw, tb)) {
                assertArrayEquals(new long[] {2, 5, n}, y.shape());
                ParityResult r = ParityMath.compare(y.toFloatArray(), ReferenceGemm.linear(x, w, bias, 10, n, k), 1e-5);
                assertTrue(r.passed(), "seed=" + (SEED + 500) + " " + r);
            }
            // 1-D x
            try (Tensor tx = dev.upload(DType.F32, new float[] {1, 2, 3}, 3);
                 Tensor tw = dev.upload(DType.F32, new float[] {1, 0, 0, 0, 1, 1}, 2, 3);
                 Tensor tb = dev.upload(DType.F32, new float[] {0.5f, -1}, 2);
                 Tensor y = Gemm.linear(tx, tw, tb)) {
                assertArrayEquals(new long[] {2}, y.shape());
                assertArrayEquals(new float[] {1.5f, 4f}, y.toFloatArray());
            }
            // 4-D batched matmul
            float[] a = ParityMath.random(SEED + 503, 2 * 3 * 4 * 5, 1f, DType.F32);
            float[] b = ParityMath.random(SEED + 504, 2 * 3 * 5 * 6, 1f, DType.F32);
            try (Tensor ta = dev.upload(DType.F32, a, 2, 3, 4, 5);
                 Tensor tb = dev.upload(DType.F32, b, 2, 3, 5, 6);
                 Tensor y = Gemm.matmul(ta, tb)) {
                assertArrayEquals(new long[] {2, 3, 4, 6}, y.shape());
                ParityResult r = ParityMath.compare(y.toFloatArray(), ReferenceGemm.matmul(a, b, 6, 4, 6, 5, true), 1e-5);
                assertTrue(r.passed(), "seed=" + (SEED + 503) + " " + r);
            }
            assertEquals(0, dev.liveAllocations(), "leaked tensors");
        }
    }

    @Test
    void zeroInnerDimGivesZerosOrBias() {
        try (Device dev = Device.cpu()) {
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                try (Tensor a = dev.allocate(t, 4, 0); Tensor b = dev.allocate(t, 0, 5); Tensor out = dev.allocate(t, 4, 5)) {
                    poison(out);
                    VectorGemm.gemm(a, b, null, out, 1, 4, 5, 0, false, false, 2);
                    float[] got = out.toFloatArray();
                    for (float v : got) assertEquals(0f, v, t + " K=0 without bias");
                }
                float[] bias = {1.5f, -2f, 3f};
                try (Tensor x = dev.allocate(t, 2, 0); Tensor w = dev.allocate(t, 3, 0); Tensor tb = dev.upload(t, bias, 3);
                     Tensor out = dev.allocate(t, 2, 3)) {
                    poison(out);
                    VectorGemm.gemm(x, w, tb, out, 1, 2, 3, 0, true, false, 2);
                    assertArrayEquals(new float[] {1.5f, -2f, 3f, 1.5f, -2f, 3f}, out.toFloatArray(), t + " K=0 with bias");
                }
                try (Tensor x = dev.allocate(t, 2, 0); Tensor w = dev.allocate(t, 3, 0); Tensor tb = dev.upload(t, bias, 3);
                     Tensor y = Gemm.linear(x, w, tb)) {
                    assertArrayEquals(new float[] {1.5f, -2f, 3f, 1.5f, -2f, 3f}, y.toFloatArray(), t + " public K=0");
                }
            }
        }
    }

    @Test
    void emptyMOrN() {
        try (Device dev = Device.cpu()) {
            try (Tensor a = dev.allocate(DType.F32, 0, 7); Tensor b = dev.upload(DType.F32, new float[7 * 3], 7, 3);
                 Tensor y = Gemm.matmul(a, b)) {
                assertArrayEquals(new long[] {0, 3}, y.shape());
            }
            try (Tensor a = dev.upload(DType.F32, new float[] {1, 2}, 1, 2); Tensor b = dev.allocate(DType.F32, 2, 0);
                 Tensor y = Gemm.matmul(a, b)) {
                assertArrayEquals(new long[] {1, 0}, y.shape());
            }
            try (Tensor a = dev.allocate(DType.BF16, 0, 4, 5); Tensor b = dev.allocate(DType.BF16, 0, 5, 6);
                 Tensor y = Gemm.matmul(a, b)) {
                assertArrayEquals(new long[] {0, 4, 6}, y.shape());
            }
        }
    }

    @Test
    void tf32FlagDefaultsOff() {
        if (System.getProperty("surpass.gemm.tf32") == null) assertFalse(Gemm.allowTf32(), "TF32 must be opt-in");
    }

    @Test
    void parityCasesPass() {
        try (Device dev = Device.cpu()) {
            long seed = SEED + 600;
            for (ParityCase c : GemmParity.cases()) {
                ParityResult r = c.run(dev, seed);
                assertTrue(r.passed(), c.op() + " " + c.shape() + " " + c.dtype() + " seed=" + seed + ": " + r);
                seed++;
            }
            assertEquals(0, dev.liveAllocations(), "parity cases leaked tensors");
        }
    }

    private static void assertRejects(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    @Test
    void validation() {
        try (Device dev = Device.cpu();
             Tensor a = dev.upload(DType.F32, new float[6], 2, 3);
             Tensor b = dev.upload(DType.F32, new float[12], 3, 4);
             Tensor b5 = dev.upload(DType.F32, new float[20], 5, 4);
             Tensor bh = dev.upload(DType.BF16, new float[12], 3, 4);
             Tensor vec = dev.upload(DType.F32, new float[3], 3);
             Tensor ints = dev.upload(new int[] {1, 2, 3, 4, 5, 6}, 2, 3);
             Tensor a3 = dev.upload(DType.F32, new float[2 * 2 * 3], 2, 2, 3);
             Tensor b3 = dev.upload(DType.F32, new float[3 * 3 * 4], 3, 3, 4);
             Tensor w = dev.upload(DType.F32, new float[12], 4, 3);
             Tensor bias5 = dev.upload(DType.F32, new float[5], 5)) {
            assertRejects("a is null", () -> Gemm.matmul(null, b));
            assertRejects("b is null", () -> Gemm.matmul(a, null));
            assertRejects("rank", () -> Gemm.matmul(vec, b));
            assertRejects("rank", () -> Gemm.matmul(a, vec));
            assertRejects("K=3", () -> Gemm.matmul(a, b5));
            assertRejects("dtypes differ", () -> Gemm.matmul(a, bh));
            assertRejects("I32", () -> Gemm.matmul(ints, b));
            assertRejects("batch dim 0", () -> Gemm.matmul(a3, b3));
            assertRejects("rank", () -> Gemm.matmul(a, b3));
            assertRejects("weight is null", () -> Gemm.linear(a, null, null));
            assertRejects("x is null", () -> Gemm.linear(null, w, null));
            assertRejects("weight", () -> Gemm.linear(a, b3, null));
            assertRejects("K=3", () -> Gemm.linear(a, b, null));
            assertRejects("bias", () -> Gemm.linear(a, w, bias5));
            assertRejects("bias", () -> Gemm.linear(a, w, vec));
            try (Tensor closed = dev.upload(DType.F32, new float[6], 2, 3)) {
                closed.close();
                assertRejects("closed", () -> Gemm.matmul(closed, b));
                assertRejects("closed", () -> Gemm.linear(a, w, closed));
            }
            try (Tensor x0 = dev.upload(DType.F32, new float[] {1}, new long[0])) {
                assertRejects("rank 0", () -> Gemm.linear(x0, w, null));
            }
        }
    }
}
