package dev.surpass.attention;

import static dev.surpass.attention.AttnFixture.SEED;
import static dev.surpass.attention.AttnFixture.assertClose;
import static dev.surpass.attention.AttnFixture.assertNoNaN;
import static dev.surpass.attention.AttnFixture.poisoned;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * CUDA attention kernels against the float64 reference, outputs poisoned with NaN before each
 * launch: prefill (tensor-core and simple kernels, every dtype, head dim and option, odd lengths,
 * Nq ≠ Nk, window edges, GQA 1/4/8), varlen with empty sequences, paged decode (page sizes 1/3/16,
 * shuffled pages, forced split counts, GQA groups that need several blocks) and attention maps;
 * ALiBi in each of them.
 * Each case is its own dynamic test and skips visibly without a GPU. Replay with -Dsurpass.seed=N;
 * -Dsurpass.cuda.sync=true (on by default with -ea) reports a kernel fault at its launch.
 */
@Tag("gpu")
class CudaAttentionTest {
    private static final DType[] DTYPES = {DType.F32, DType.F16, DType.BF16};
    private static final AttentionOptions PLAIN = AttentionOptions.defaults();
    private static final AttentionOptions CAUSAL = AttentionOptions.causal();

    private record Prefill(int b, int nq, int nk, int hq, int hkv, int d, AttentionOptions o) {
        @Override
        public String toString() {
            return "B" + b + " Nq" + nq + " Nk" + nk + " Hq" + hq + " Hkv" + hkv + " D" + d + " " + o;
        }
    }

    private static List<Prefill> prefills() {
        List<Prefill> ps = new ArrayList<>();
        for (int n : new int[] {1, 7, 63, 64, 65, 127, 1000}) {
            ps.add(new Prefill(1, n, n, 2, 2, 64, PLAIN));
            ps.add(new Prefill(1, n, n, 2, 2, 64, CAUSAL));
        }
        int[][] nqnk = {{7, 63}, {65, 7}, {1, 1000}, {1000, 1}, {63, 129}, {200, 64}};
        for (int[] x : nqnk) {
            ps.add(new Prefill(2, x[0], x[1], 4, 2, 64, CAUSAL));
            ps.add(new Prefill(1, x[0], x[1], 2, 1, 32, PLAIN));
        }
        for (int d : AttentionChecks.HEAD_DIMS) {
            ps.add(new Prefill(1, 65, 130, 2, 1, d, CAUSAL));
            ps.add(new Prefill(2, 33, 47, 2, 2, d, PLAIN.softcap(5f)));
        }
        for (int group : new int[] {1, 4, 8}) ps.add(new Prefill(2, 65, 65, 8, 8 / group, 64, CAUSAL));
        ps.add(new Prefill(1, 127, 127, 2, 2, 64, CAUSAL.window(8, 0)));
        ps.add(new Prefill(1, 127, 127, 2, 2, 64, CAUSAL.window(64, -1)));
        ps.add(new Prefill(1, 63, 65, 2, 1, 32, PLAIN.window(3, 5)));
        ps.add(new Prefill(1, 65, 63, 2, 2, 64, PLAIN.window(0, 0)));
        ps.add(new Prefill(1, 7, 65, 2, 2, 64, PLAIN.window(-1, 0)));
        ps.add(new Prefill(1, 130, 70, 2, 2, 128, PLAIN.window(0, 63)));
        ps.add(new Prefill(1, 300, 300, 2, 2, 128, PLAIN.window(64, 64)));
        ps.add(new Prefill(1, 100, 300, 2, 2, 80, CAUSAL.window(200, -1)));
        ps.add(new Prefill(1, 63, 63, 4, 2, 64, CAUSAL.softcap(5f).scale(0.3f)));
        ps.add(new Prefill(3, 129, 129, 4, 4, 96, CAUSAL.scale(0.05f)));
        ps.add(new Prefill(1, 5, 0, 2, 2, 64, PLAIN)); // no keys: every row 0 and -inf
        // ALiBi (the sm_80 kernels; the Hopper kernel refuses it): every head dim, Nq ≠ Nk, windows, softcap, GQA
        for (int d : AttentionChecks.HEAD_DIMS) ps.add(new Prefill(1, 65, 130, 4, 2, d, CAUSAL.alibi(Alibi.slopes(4))));
        ps.add(new Prefill(2, 7, 63, 3, 1, 64, PLAIN.alibi(Alibi.slopes(3))));
        ps.add(new Prefill(1, 200, 64, 8, 2, 128, PLAIN.window(20, 5).alibi(Alibi.slopes(8))));
        ps.add(new Prefill(1, 300, 300, 4, 4, 64, CAUSAL.softcap(5f).alibi(new float[] {0.9f, -0.05f, 0.3f, 0.01f})));
        ps.add(new Prefill(1, 1000, 1000, 2, 1, 64, CAUSAL.alibi(Alibi.slopes(2))));
        return ps;
    }

    private static void assumeGpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
    }

    @TestFactory
    Stream<DynamicTest> prefill() {
        List<DynamicTest> tests = new ArrayList<>();
        int i = 0;
        for (Prefill p : prefills()) {
            for (DType t : DTYPES) {
                for (boolean simple : t == DType.F32 ? new boolean[] {true} : new boolean[] {false, true}) {
                    long seed = SEED + i++;
                    String name = "prefill " + p + " " + t + (simple ? " simple" : " mma");
                    tests.add(DynamicTest.dynamicTest(name, () -> runPrefill(p, t, simple, seed, name)));
                }
            }
        }
        return tests.stream();
    }

    private static void runPrefill(Prefill p, DType t, boolean simple, long seed, String name) {
        assumeGpu();
        float[][] x = AttentionParity.qkv(seed, t, p.b * p.nq * p.hq * p.d, p.b * p.nk * p.hkv * p.d);
        ReferenceAttention.Result ref = ReferenceAttention.prefill(x[0], x[1], x[2], p.b, p.nq, p.nk, p.hq, p.hkv, p.d, p.o);
        try (Device gpu = Device.cuda(0)) {
            try (Scope sc = Scope.open()) {
                Tensor q = sc.track(gpu.upload(t, x[0], p.b, p.nq, p.hq, p.d));
                Tensor k = sc.track(gpu.upload(t, x[1], p.b, p.nk, p.hkv, p.d));
                Tensor v = sc.track(gpu.upload(t, x[2], p.b, p.nk, p.hkv, p.d));
                Tensor out = sc.track(poisoned(gpu, t, p.b, p.nq, p.hq, p.d));
                Tensor lse = sc.track(poisoned(gpu, DType.F32, p.b, p.hq, p.nq));
                CudaAttention.prefill(q, k, v, out, lse, p.o, simple);
                float[] ov = out.toFloatArray(), lv = lse.toFloatArray();
                assertNoNaN(ov, name + " out");
                assertNoNaN(lv, name + " lse");
                assertClose(ov, ref.out(), ParityMath.tolerance(t), name + " out");
                assertClose(lv, ref.lse(), ParityMath.tolerance(DType.F32), name + " lse");
            }
            assertEquals(0, gpu.liveAllocations(), name + ": leaked device memory");
        }
    }

    @TestFactory
    Stream<DynamicTest> varlen() {
        List<DynamicTest> tests = new ArrayList<>();
        // seq 1: no queries; seq 3: empty; seq 4: queries but no keys; seq 5: long
        int[] cuQ = {0, 7, 7, 72, 72, 73, 1073}, cuK = {0, 9, 20, 85, 85, 85, 1085};
        int i = 0;
        for (AttentionOptions o : new AttentionOptions[] {PLAIN, CAUSAL, PLAIN.window(3, 1), CAUSAL.window(100, -1).softcap(7f),
                CAUSAL.alibi(Alibi.slopes(4))}) {
            for (DType t : DTYPES) {
                for (boolean simple : t == DType.F32 ? new boolean[] {true} : new boolean[] {false, true}) {
                    for (int d : new int[] {64, 72}) {
                        long seed = SEED + 1000 + i++;
                        String name = "varlen cuQ" + Arrays.toString(cuQ) + " cuK" + Arrays.toString(cuK) + " D" + d + " " + o + " " + t
                                + (simple ? " simple" : " mma");
                        tests.add(DynamicTest.dynamicTest(name, () -> runVarlen(cuQ, cuK, 4, 2, d, o, t, simple, seed, name)));
                    }
                }
            }
        }
        return tests.stream();
    }

    private static void runVarlen(int[] cuQ, int[] cuK, int hq, int hkv, int d, AttentionOptions o, DType t, boolean simple, long seed,
                                  String name) {
        assumeGpu();
        int tq = cuQ[cuQ.length - 1], tk = cuK[cuK.length - 1];
        float[][] x = AttentionParity.qkv(seed, t, tq * hq * d, tk * hkv * d);
        ReferenceAttention.Result ref = ReferenceAttention.prefillVarlen(x[0], x[1], x[2], cuQ, cuK, hq, hkv, d, o);
        int maxQ = 0, maxK = 0;
        for (int s = 0; s + 1 < cuQ.length; s++) {
            maxQ = Math.max(maxQ, cuQ[s + 1] - cuQ[s]);
            maxK = Math.max(maxK, cuK[s + 1] - cuK[s]);
        }
        try (Device gpu = Device.cuda(0)) {
            try (Scope sc = Scope.open()) {
                Tensor q = sc.track(gpu.upload(t, x[0], tq, hq, d));
                Tensor k = sc.track(gpu.upload(t, x[1], tk, hkv, d));
                Tensor v = sc.track(gpu.upload(t, x[2], tk, hkv, d));
                Tensor out = sc.track(poisoned(gpu, t, tq, hq, d));
                Tensor lse = sc.track(poisoned(gpu, DType.F32, hq, tq));
                CudaAttention.prefillVarlen(q, k, v, cuQ, cuK, maxQ, maxK, out, lse, o, simple);
                float[] ov = out.toFloatArray(), lv = lse.toFloatArray();
                assertNoNaN(ov, name + " out");
                assertNoNaN(lv, name + " lse");
                assertClose(ov, ref.out(), ParityMath.tolerance(t), name + " out");
                assertClose(lv, ref.lse(), ParityMath.tolerance(DType.F32), name + " lse");
            }
            assertEquals(0, gpu.liveAllocations(), name + ": leaked device memory");
        }
    }

    @TestFactory
    Stream<DynamicTest> decode() {
        List<DynamicTest> tests = new ArrayList<>();
        int[] lens = {1, 7, 65, 130, 1000};
        int[][] heads = {{8, 2}, {6, 2}, {16, 1}, {4, 4}};
        AttentionOptions[] opts = {PLAIN, PLAIN.window(31, -1).softcap(8f), PLAIN.scale(0.2f)};
        int i = 0;
        for (DType t : DTYPES) {
            for (int ps : new int[] {1, 3, 16}) {
                for (int[] hh : heads) {
                    for (int splits : new int[] {0, 1, 3, 7}) {
                        AttentionOptions o = opts[i % opts.length];
                        int d = new int[] {64, 72, 128, 256}[i % 4];
                        long seed = SEED + 2000 + i++;
                        String name = "decode lens" + Arrays.toString(lens) + " page " + ps + " Hq" + hh[0] + " Hkv" + hh[1] + " D" + d
                                + " splits " + (splits == 0 ? "auto" : splits) + " " + o + " " + t;
                        tests.add(DynamicTest.dynamicTest(name, () -> runDecode(lens, ps, hh[0], hh[1], d, o, t, splits, seed, name)));
                    }
                }
            }
            // ALiBi: per-head slopes across the blocks of a GQA group, with and without splits
            for (int[] hh : heads) {
                for (int splits : new int[] {1, 3, 0}) {
                    AttentionOptions o = (splits == 3 ? PLAIN.window(31, -1).softcap(8f) : PLAIN).alibi(Alibi.slopes(hh[0]));
                    int d = splits == 1 ? 72 : 128;
                    long seed = SEED + 2500 + i++;
                    String name = "decode alibi lens" + Arrays.toString(lens) + " page 16 Hq" + hh[0] + " Hkv" + hh[1] + " D" + d
                            + " splits " + (splits == 0 ? "auto" : splits) + " " + o + " " + t;
                    tests.add(DynamicTest.dynamicTest(name, () -> runDecode(lens, 16, hh[0], hh[1], d, o, t, splits, seed, name)));
                }
            }
        }
        return tests.stream();
    }

    private static void runDecode(int[] lens, int pageSize, int hq, int hkv, int d, AttentionOptions o, DType t, int splits, long seed,
                                  String name) {
        assumeGpu();
        int batch = lens.length, pages = 0, row = hkv * d;
        float[][] ks = new float[batch][], vs = new float[batch][];
        for (int b = 0; b < batch; b++) {
            ks[b] = ParityMath.random(seed + 10 + 2L * b, lens[b] * row, 2f, t);
            vs[b] = ParityMath.random(seed + 11 + 2L * b, lens[b] * row, 1f, t);
            pages += (lens[b] + pageSize - 1) / pageSize;
        }
        float[] qh = ParityMath.random(seed, batch * hq * d, 2f, t);
        ReferenceAttention.Result ref = ReferenceAttention.decode(qh, ks, vs, hq, hkv, d, o);
        try (Device gpu = Device.cuda(0)) {
            try (Scope sc = Scope.open()) {
                PagedKvCache cache = sc.track(PagedKvCache.create(gpu, t, pages + 3, pageSize, hkv, d));
                cache.shuffleFreePages(seed);
                int[] ids = new int[batch];
                for (int b = 0; b < batch; b++) {
                    ids[b] = cache.newSequence();
                    try (Tensor pk = gpu.upload(t, ks[b], lens[b], hkv, d); Tensor pv = gpu.upload(t, vs[b], lens[b], hkv, d)) {
                        cache.appendPrompt(ids[b], pk, pv);
                    }
                }
                // reverse the batch order: row b of q belongs to sequence ids[batch-1-b]
                int[] order = new int[batch];
                for (int b = 0; b < batch; b++) order[b] = ids[batch - 1 - b];
                float[] qr = new float[qh.length];
                double[] refOut = new double[ref.out().length], refLse = new double[ref.lse().length];
                for (int b = 0; b < batch; b++) {
                    int src = batch - 1 - b;
                    System.arraycopy(qh, src * hq * d, qr, b * hq * d, hq * d);
                    System.arraycopy(ref.out(), src * hq * d, refOut, b * hq * d, hq * d);
                    System.arraycopy(ref.lse(), src * hq, refLse, b * hq, hq);
                }
                Tensor q = sc.track(gpu.upload(t, qr, batch, hq, d));
                Tensor out = sc.track(poisoned(gpu, t, batch, hq, d));
                Tensor lse = sc.track(poisoned(gpu, DType.F32, batch, hq));
                synchronized (cache) {
                    CudaAttention.decode(q, cache, order, out, lse, o, splits);
                }
                float[] ov = out.toFloatArray(), lv = lse.toFloatArray();
                assertNoNaN(ov, name + " out");
                assertNoNaN(lv, name + " lse");
                assertClose(ov, refOut, ParityMath.tolerance(t), name + " out");
                assertClose(lv, refLse, ParityMath.tolerance(DType.F32), name + " lse");
            }
            assertEquals(0, gpu.liveAllocations(), name + ": leaked device memory");
        }
    }

    @TestFactory
    Stream<DynamicTest> probabilities() {
        List<DynamicTest> tests = new ArrayList<>();
        int i = 0;
        for (DType t : DTYPES) {
            for (AttentionOptions o : new AttentionOptions[] {PLAIN, CAUSAL, CAUSAL.window(5, 0).softcap(4f), CAUSAL.alibi(Alibi.slopes(4))}) {
                long seed = SEED + 3000 + i++;
                String name = "probabilities B2 Nq65 Nk40 Hq4 Hkv2 D72 " + o + " " + t;
                tests.add(DynamicTest.dynamicTest(name, () -> runProbabilities(t, o, seed, name)));
            }
        }
        return tests.stream();
    }

    private static void runProbabilities(DType t, AttentionOptions o, long seed, String name) {
        assumeGpu();
        int b = 2, nq = 65, nk = 40, hq = 4, hkv = 2, d = 72;
        int[] heads = {3, 0}, rows = {0, 1, 24, 64};
        float[][] x = AttentionParity.qkv(seed, t, b * nq * hq * d, b * nk * hkv * d);
        double[] ref = ReferenceAttention.probabilities(x[0], x[1], b, nq, nk, hq, hkv, d, heads, rows, o);
        try (Device gpu = Device.cuda(0)) {
            try (Scope sc = Scope.open()) {
                Tensor q = sc.track(gpu.upload(t, x[0], b, nq, hq, d));
                Tensor k = sc.track(gpu.upload(t, x[1], b, nk, hkv, d));
                Tensor v = sc.track(gpu.upload(t, x[2], b, nk, hkv, d));
                AttentionOutput r = sc.track(Attention.prefillWithLse(q, k, v, o));
                Tensor out = sc.track(poisoned(gpu, DType.F32, b, heads.length, rows.length, nk));
                CudaAttention.probabilities(q, k, r.lse(), heads, rows, out, o);
                float[] p = out.toFloatArray();
                assertNoNaN(p, name);
                // the LSE carries the dtype's rounding of nothing (fp32 softmax): fp32-level agreement
                assertClose(p, ref, 1e-4, name);
            }
            assertEquals(0, gpu.liveAllocations(), name + ": leaked device memory");
        }
    }
}
