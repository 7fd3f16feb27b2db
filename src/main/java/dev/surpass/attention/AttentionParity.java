package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityCases;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Parity cases for attention: prefill (plain, causal with Nq ≠ Nk both ways, window edges, softcap, ALiBi,
 * GQA 1/4/8, head dims 32/64/72/128 and a few more, odd lengths 1, 7, 63, 65, 127), varlen with an
 * empty sequence and a query-only sequence (and one with ALiBi), and paged decode with page sizes
 * 1, 3 and 16 (one long enough to be split and merged; one with ALiBi). Each case runs the public entry on the device on seeded inputs
 * rounded to the dtype and compares the output (dtype tolerance) and the LSE (fp32 tolerance) with
 * {@link ReferenceAttention}. Sized so that all of them together take a few seconds on a CPU.
 */
public final class AttentionParity {
    private AttentionParity() {}

    private static final DType[] DTYPES = {DType.F32, DType.F16, DType.BF16};

    /** A dense prefill problem. */
    private record Prefill(int b, int nq, int nk, int hq, int hkv, int d, AttentionOptions o, String label) {
        String shape() {
            return "q[" + b + "," + nq + "," + hq + "," + d + "] kv[" + b + "," + nk + "," + hkv + "," + d + "] " + label;
        }
    }

    private static final AttentionOptions PLAIN = AttentionOptions.defaults();
    private static final AttentionOptions CAUSAL = AttentionOptions.causal();

    private static List<Prefill> prefills() {
        return List.of(
                new Prefill(2, 65, 65, 4, 4, 64, PLAIN, "plain"),
                new Prefill(1, 1, 1, 2, 2, 32, PLAIN, "plain single token"),
                new Prefill(1, 127, 127, 4, 1, 32, CAUSAL, "causal GQA 4"),
                new Prefill(2, 7, 63, 8, 2, 128, CAUSAL, "causal Nq<Nk GQA 4"),
                new Prefill(1, 65, 7, 2, 2, 72, CAUSAL, "causal Nq>Nk (empty rows)"),
                new Prefill(1, 127, 127, 2, 2, 64, CAUSAL.window(8, 0), "causal window(8,0)"),
                new Prefill(1, 63, 65, 2, 1, 32, PLAIN.window(3, 5), "window(3,5)"),
                new Prefill(1, 65, 63, 2, 2, 64, PLAIN.window(0, 0), "window(0,0) diagonal only"),
                new Prefill(1, 7, 65, 2, 2, 64, PLAIN.window(-1, 0), "window(-1,0) = causal"),
                new Prefill(1, 63, 63, 4, 2, 64, CAUSAL.softcap(5f).scale(0.3f), "causal softcap 5 scale 0.3"),
                new Prefill(1, 65, 64, 8, 1, 128, CAUSAL, "causal GQA 8"),
                new Prefill(1, 33, 47, 2, 2, 80, PLAIN, "D80"),
                new Prefill(1, 17, 29, 2, 2, 96, CAUSAL, "D96"),
                new Prefill(1, 9, 21, 2, 1, 256, PLAIN, "D256"),
                new Prefill(2, 65, 70, 8, 2, 64, CAUSAL.alibi(Alibi.slopes(8)), "causal alibi GQA 4"),
                new Prefill(1, 63, 65, 3, 1, 32, PLAIN.window(9, 4).alibi(Alibi.slopes(3)), "window(9,4) alibi 3 heads"),
                new Prefill(1, 33, 33, 4, 4, 128, CAUSAL.softcap(5f).alibi(Alibi.slopes(4)), "causal softcap 5 alibi"));
    }

    public static List<ParityCase> cases() {
        List<ParityCase> cases = new ArrayList<>();
        for (DType dt : DTYPES) {
            for (Prefill p : prefills()) {
                cases.add(ParityCases.of("attention_prefill", p.shape(), dt, (d, seed, t) -> prefill(d, seed, t, p)));
            }
            int[] cuQ = {0, 7, 7, 70, 71}, cuK = {0, 7, 20, 83, 83};
            cases.add(ParityCases.of("attention_varlen", "cuQ" + Arrays.toString(cuQ) + " cuK" + Arrays.toString(cuK)
                    + " Hq4 Hkv2 D64 causal", dt, (d, seed, t) -> varlen(d, seed, t, cuQ, cuK, 4, 2, 64, CAUSAL)));
            cases.add(ParityCases.of("attention_varlen", "cuQ" + Arrays.toString(cuQ) + " cuK" + Arrays.toString(cuK)
                    + " Hq6 Hkv2 D64 causal alibi", dt, (d, seed, t) -> varlen(d, seed, t, cuQ, cuK, 6, 2, 64, CAUSAL.alibi(Alibi.slopes(6)))));
            cases.add(ParityCases.of("attention_varlen", "cuQ[0, 0, 65] cuK[0, 5, 70] Hq2 Hkv2 D32 window(4,4)", dt,
                    (d, seed, t) -> varlen(d, seed, t, new int[] {0, 0, 65}, new int[] {0, 5, 70}, 2, 2, 32, PLAIN.window(4, 4))));
            for (int ps : new int[] {1, 3, 16}) {
                int[] lens = {1, 7, 65, 130};
                cases.add(ParityCases.of("attention_decode", "lens" + Arrays.toString(lens) + " page " + ps + " Hq8 Hkv2 D64", dt,
                        (d, seed, t) -> decode(d, seed, t, lens, ps, 8, 2, 64, PLAIN)));
            }
            cases.add(ParityCases.of("attention_decode", "lens[700] page 16 Hq4 Hkv1 D128 (split-KV)", dt,
                    (d, seed, t) -> decode(d, seed, t, new int[] {700}, 16, 4, 1, 128, PLAIN)));
            cases.add(ParityCases.of("attention_decode", "lens[3, 90] page 3 Hq4 Hkv4 D72 window(31,-1) softcap 8", dt,
                    (d, seed, t) -> decode(d, seed, t, new int[] {3, 90}, 3, 4, 4, 72, PLAIN.window(31, -1).softcap(8f))));
            cases.add(ParityCases.of("attention_decode", "lens[1, 65, 700] page 16 Hq8 Hkv2 D64 alibi (split-KV)", dt,
                    (d, seed, t) -> decode(d, seed, t, new int[] {1, 65, 700}, 16, 8, 2, 64, PLAIN.alibi(Alibi.slopes(8)))));
        }
        return cases;
    }

    // ---- case bodies ---------------------------------------------------------------------------------

    /** q and k in [-2, 2] (scores of a few units: a peaked but not one-hot softmax), v in [-1, 1]. */
    static float[][] qkv(long seed, DType t, int nqElems, int nkElems) {
        return new float[][] {
            ParityMath.random(seed, nqElems, 2f, t), ParityMath.random(seed + 1, nkElems, 2f, t), ParityMath.random(seed + 2, nkElems, 1f, t)
        };
    }

    private static ParityResult prefill(Device dev, long seed, DType t, Prefill p) {
        float[][] x = qkv(seed, t, p.b * p.nq * p.hq * p.d, p.b * p.nk * p.hkv * p.d);
        ReferenceAttention.Result ref = ReferenceAttention.prefill(x[0], x[1], x[2], p.b, p.nq, p.nk, p.hq, p.hkv, p.d, p.o);
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(t, x[0], p.b, p.nq, p.hq, p.d));
            Tensor k = sc.track(dev.upload(t, x[1], p.b, p.nk, p.hkv, p.d));
            Tensor v = sc.track(dev.upload(t, x[2], p.b, p.nk, p.hkv, p.d));
            AttentionOutput r = sc.track(Attention.prefillWithLse(q, k, v, p.o));
            return both(r, ref, t);
        }
    }

    private static ParityResult varlen(Device dev, long seed, DType t, int[] cuQ, int[] cuK, int hq, int hkv, int d,
                                       AttentionOptions o) {
        int tq = cuQ[cuQ.length - 1], tk = cuK[cuK.length - 1];
        float[][] x = qkv(seed, t, tq * hq * d, tk * hkv * d);
        ReferenceAttention.Result ref = ReferenceAttention.prefillVarlen(x[0], x[1], x[2], cuQ, cuK, hq, hkv, d, o);
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(t, x[0], tq, hq, d));
            Tensor k = sc.track(dev.upload(t, x[1], tk, hkv, d));
            Tensor v = sc.track(dev.upload(t, x[2], tk, hkv, d));
            AttentionOutput r = sc.track(Attention.prefillVarlenWithLse(q, k, v, cuQ, cuK, o));
            return both(r, ref, t);
        }
    }

    /**
     * Fills a shuffled paged cache (prompt of len−1 tokens, then one token for every sequence in a
     * single append) and decodes one step.
     */
    private static ParityResult decode(Device dev, long seed, DType t, int[] lens, int pageSize, int hq, int hkv, int d,
                                       AttentionOptions o) {
        int batch = lens.length, pages = 0;
        float[][] ks = new float[batch][], vs = new float[batch][];
        for (int b = 0; b < batch; b++) {
            ks[b] = ParityMath.random(seed + 10 + 2L * b, lens[b] * hkv * d, 2f, t);
            vs[b] = ParityMath.random(seed + 11 + 2L * b, lens[b] * hkv * d, 1f, t);
            pages += (lens[b] + pageSize - 1) / pageSize;
        }
        float[] q = ParityMath.random(seed, batch * hq * d, 2f, t);
        ReferenceAttention.Result ref = ReferenceAttention.decode(q, ks, vs, hq, hkv, d, o);
        try (Scope sc = Scope.open()) {
            PagedKvCache cache = sc.track(PagedKvCache.create(dev, t, pages + 1, pageSize, hkv, d));
            cache.shuffleFreePages(seed);
            int[] ids = new int[batch];
            float[] lastK = new float[batch * hkv * d], lastV = new float[batch * hkv * d];
            int row = hkv * d;
            for (int b = 0; b < batch; b++) {
                ids[b] = cache.newSequence();
                int n = lens[b] - 1;
                if (n > 0) {
                    try (Tensor pk = dev.upload(t, Arrays.copyOf(ks[b], n * row), n, hkv, d);
                         Tensor pv = dev.upload(t, Arrays.copyOf(vs[b], n * row), n, hkv, d)) {
                        cache.appendPrompt(ids[b], pk, pv);
                    }
                }
                System.arraycopy(ks[b], n * row, lastK, b * row, row);
                System.arraycopy(vs[b], n * row, lastV, b * row, row);
            }
            try (Tensor tk = dev.upload(t, lastK, batch, hkv, d); Tensor tv = dev.upload(t, lastV, batch, hkv, d)) {
                cache.append(ids, tk, tv);
            }
            Tensor tq = sc.track(dev.upload(t, q, batch, hq, d));
            AttentionOutput r = sc.track(Attention.decodeWithLse(tq, cache, ids, o));
            return both(r, ref, t);
        }
    }

    /** The output at the dtype's tolerance and the LSE at fp32's: the first that fails, else the output's. */
    private static ParityResult both(AttentionOutput r, ReferenceAttention.Result ref, DType t) {
        ParityResult out = ParityMath.compare(r.out().toFloatArray(), ref.out(), ParityMath.tolerance(t));
        ParityResult lse = ParityMath.compare(r.lse().toFloatArray(), ref.lse(), ParityMath.tolerance(DType.F32));
        if (!out.passed()) return out;
        return lse.passed() ? out : lse;
    }
}
