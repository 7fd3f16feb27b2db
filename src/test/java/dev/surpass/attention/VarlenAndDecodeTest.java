package dev.surpass.attention;

import static dev.surpass.attention.AttnFixture.SEED;
import static dev.surpass.attention.AttnFixture.assertClose;
import static dev.surpass.attention.AttnFixture.poisoned;
import static dev.surpass.attention.AttnFixture.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Varlen batches, the paged cache and decode (split-KV, shuffled pages, decode = causal prefill row). */
class VarlenAndDecodeTest {
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

    @Test
    void varlenWithEmptySequencesEqualsPerSequencePrefill() {
        int hq = 4, hkv = 2, d = 64;
        int[] cuQ = {0, 7, 7, 72, 72, 73}, cuK = {0, 9, 20, 85, 85, 85}; // seq 1: no queries; seq 3: empty; seq 4: no keys
        int tq = 73, tk = 85;
        for (AttentionOptions o : new AttentionOptions[] {AttentionOptions.causal(), AttentionOptions.defaults().window(3, 1)}) {
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                float[][] x = AttentionParity.qkv(SEED + 10, t, tq * hq * d, tk * hkv * d);
                try (Scope sc = Scope.open()) {
                    Tensor q = sc.track(dev.upload(t, x[0], tq, hq, d));
                    Tensor k = sc.track(dev.upload(t, x[1], tk, hkv, d));
                    Tensor v = sc.track(dev.upload(t, x[2], tk, hkv, d));
                    Tensor out = sc.track(poisoned(dev, t, tq, hq, d));
                    Tensor lse = sc.track(poisoned(dev, DType.F32, hq, tq));
                    VectorAttention.prefillVarlen(q, k, v, cuQ, cuK, out, lse, o);
                    float[] ov = out.toFloatArray(), lv = lse.toFloatArray();
                    ReferenceAttention.Result ref = ReferenceAttention.prefillVarlen(x[0], x[1], x[2], cuQ, cuK, hq, hkv, d, o);
                    assertClose(ov, ref.out(), ParityMath.tolerance(t), t + " " + o + " varlen vs reference");
                    assertClose(lv, ref.lse(), 1e-5, t + " " + o + " varlen lse vs reference");
                    // each sequence on its own through the dense entry gives the same rows (bit for bit)
                    for (int s = 0; s + 1 < cuQ.length; s++) {
                        int nq = cuQ[s + 1] - cuQ[s], nk = cuK[s + 1] - cuK[s];
                        if (nq == 0) continue;
                        Tensor qs = sc.track(dev.upload(t, Arrays.copyOfRange(x[0], cuQ[s] * hq * d, cuQ[s + 1] * hq * d), 1, nq, hq, d));
                        Tensor ks = sc.track(dev.upload(t, Arrays.copyOfRange(x[1], cuK[s] * hkv * d, cuK[s + 1] * hkv * d), 1, nk, hkv, d));
                        Tensor vs = sc.track(dev.upload(t, Arrays.copyOfRange(x[2], cuK[s] * hkv * d, cuK[s + 1] * hkv * d), 1, nk, hkv, d));
                        AttentionOutput one = sc.track(Attention.prefillWithLse(qs, ks, vs, o));
                        assertArrayEquals(one.out().toFloatArray(), Arrays.copyOfRange(ov, cuQ[s] * hq * d, cuQ[s + 1] * hq * d),
                                "sequence " + s + " " + t + " " + o);
                        float[] l1 = one.lse().toFloatArray();
                        for (int h = 0; h < hq; h++) {
                            for (int i = 0; i < nq; i++) assertEquals(l1[h * nq + i], lv[h * tq + cuQ[s] + i], "lse seq " + s + " h" + h + " i" + i);
                        }
                    }
                    for (int h = 0; h < hq; h++) assertEquals(Float.NEGATIVE_INFINITY, lv[h * tq + 72], "query with no keys");
                }
            }
        }
    }

    /** A cache holding {@code len} tokens of k/v ([len, hkv, d]) for one sequence, pages handed out in {@code order}. */
    private PagedKvCache cache(Scope sc, DType t, float[] k, float[] v, int len, int hkv, int d, int pageSize, int[] order) {
        int pages = (len + pageSize - 1) / pageSize + 2;
        PagedKvCache c = sc.track(PagedKvCache.create(dev, t, pages, pageSize, hkv, d));
        if (order != null) c.setFreePageOrder(order);
        else c.shuffleFreePages(SEED);
        int id = c.newSequence();
        assertEquals(0, id);
        Tensor tk = sc.track(dev.upload(t, k, len, hkv, d)), tv = sc.track(dev.upload(t, v, len, hkv, d));
        c.appendPrompt(id, tk, tv);
        return c;
    }

    @Test
    void decodeOfTokenTEqualsRowTOfCausalPrefill() {
        int n = 300, hq = 8, hkv = 2, d = 64;
        DType t = DType.F32;
        float[][] x = AttentionParity.qkv(SEED + 20, t, n * hq * d, n * hkv * d);
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(t, x[0], 1, n, hq, d));
            Tensor k = sc.track(dev.upload(t, x[1], 1, n, hkv, d));
            Tensor v = sc.track(dev.upload(t, x[2], 1, n, hkv, d));
            AttentionOutput full = sc.track(Attention.prefillWithLse(q, k, v, AttentionOptions.causal()));
            float[] fo = full.out().toFloatArray(), fl = full.lse().toFloatArray();
            PagedKvCache c = sc.track(PagedKvCache.create(dev, t, 400, 3, hkv, d));
            c.shuffleFreePages(SEED);
            int id = c.newSequence();
            for (int tok = 0; tok < n; tok++) {
                try (Tensor kt = dev.upload(t, Arrays.copyOfRange(x[1], tok * hkv * d, (tok + 1) * hkv * d), 1, hkv, d);
                     Tensor vt = dev.upload(t, Arrays.copyOfRange(x[2], tok * hkv * d, (tok + 1) * hkv * d), 1, hkv, d)) {
                    c.append(new int[] {id}, kt, vt);
                }
                if (tok % 37 != 0 && tok != n - 1) continue;
                assertEquals(tok + 1, c.length(id));
                try (Tensor qt = dev.upload(t, Arrays.copyOfRange(x[0], tok * hq * d, (tok + 1) * hq * d), 1, hq, d);
                     AttentionOutput r = Attention.decodeWithLse(qt, c, new int[] {id}, AttentionOptions.defaults())) {
                    double[] want = toDouble(Arrays.copyOfRange(fo, tok * hq * d, (tok + 1) * hq * d));
                    assertClose(r.out().toFloatArray(), want, 1e-6, "decode of token " + tok);
                    float[] l = r.lse().toFloatArray();
                    for (int h = 0; h < hq; h++) assertEquals(fl[h * n + tok], l[h], 1e-5, "lse token " + tok + " head " + h);
                }
            }
        }
    }

    @Test
    void shuffledPagesEqualContiguousPages() {
        int len = 203, hq = 4, hkv = 4, d = 96;
        for (DType t : new DType[] {DType.F32, DType.F16}) {
            for (int ps : new int[] {1, 3, 16}) {
                float[][] x = AttentionParity.qkv(SEED + 30 + ps, t, hq * d, len * hkv * d);
                try (Scope sc = Scope.open()) {
                    int pages = (len + ps - 1) / ps + 2;
                    int[] identity = new int[pages];
                    for (int i = 0; i < pages; i++) identity[i] = i;
                    PagedKvCache contiguous = cache(sc, t, x[1], x[2], len, hkv, d, ps, identity);
                    PagedKvCache shuffled = cache(sc, t, x[1], x[2], len, hkv, d, ps, null);
                    int[] pt = shuffled.pageTable(0);
                    assertTrue(!Arrays.equals(pt, Arrays.copyOf(identity, pt.length)), "the shuffle moved pages");
                    Tensor q = sc.track(dev.upload(t, x[0], 1, hq, d));
                    float[] a = sc.track(Attention.decode(q, contiguous, new int[] {0}, AttentionOptions.defaults())).toFloatArray();
                    float[] b = sc.track(Attention.decode(q, shuffled, new int[] {0}, AttentionOptions.defaults())).toFloatArray();
                    assertArrayEquals(a, b, t + " page size " + ps);
                    float[][] kk = {x[1]}, vv = {x[2]};
                    assertClose(a, ReferenceAttention.decode(x[0], kk, vv, hq, hkv, d, AttentionOptions.defaults()).out(),
                            ParityMath.tolerance(t), t + " page size " + ps + " vs reference");
                }
            }
        }
    }

    @Test
    void splitKvMergeEqualsNoSplit() {
        int hq = 8, hkv = 2, d = 128;
        int[] lens = {1, 64, 65, 700, 0};
        DType t = DType.BF16;
        try (Scope sc = Scope.open()) {
            PagedKvCache c = sc.track(PagedKvCache.create(dev, t, 1000, 16, hkv, d));
            c.shuffleFreePages(SEED);
            int[] ids = new int[lens.length];
            float[][] ks = new float[lens.length][], vs = new float[lens.length][];
            fill(sc, c, t, lens, hkv, d, SEED + 40, SEED + 50, ids, ks, vs);
            float[] qv = ParityMath.random(SEED + 60, lens.length * hq * d, 2f, t);
            Tensor q = sc.track(dev.upload(t, qv, lens.length, hq, d));
            AttentionOptions o = AttentionOptions.defaults().softcap(20f);
            ReferenceAttention.Result ref = ReferenceAttention.decode(qv, ks, vs, hq, hkv, d, o);
            float[] whole = null, wholeLse = null;
            for (int split : new int[] {Integer.MAX_VALUE, 64, 192, 256}) {
                Tensor out = sc.track(poisoned(dev, t, lens.length, hq, d));
                Tensor lse = sc.track(poisoned(dev, DType.F32, lens.length, hq));
                VectorAttention.decode(q, c, ids, out, lse, o, split);
                float[] ov = out.toFloatArray(), lv = lse.toFloatArray();
                assertClose(ov, ref.out(), ParityMath.tolerance(t), "split " + split + " vs reference");
                assertClose(lv, ref.lse(), 1e-5, "split " + split + " lse vs reference");
                for (int h = 0; h < hq; h++) assertEquals(Float.NEGATIVE_INFINITY, lv[4 * hq + h], "empty sequence lse");
                for (int x0 = 4 * hq * d; x0 < 5 * hq * d; x0++) assertEquals(0f, ov[x0], "empty sequence out");
                if (whole == null) {
                    whole = ov;
                    wholeLse = lv;
                } else {
                    assertClose(ov, toDouble(whole), 4e-3, "split " + split + " vs no split"); // bf16 output rounding
                    assertClose(lv, toDouble(wholeLse), 1e-6, "split " + split + " lse vs no split");
                }
            }
            assertTrue(VectorAttention.defaultSplitTokens(1, 1, 5000, 0) < 5000, "a long sequence is split by default");
            assertEquals(Integer.MAX_VALUE, VectorAttention.defaultSplitTokens(1, 1, VectorAttention.MIN_SPLIT_TOKENS, 0));
        }
    }

    /**
     * One new sequence per length in {@code c} (random K from {@code kSeed + b}, V from
     * {@code vSeed + b}, rounded to {@code t}); their ids and values into {@code ids}, {@code ks}, {@code vs}.
     */
    private void fill(Scope sc, PagedKvCache c, DType t, int[] lens, int hkv, int d, long kSeed, long vSeed, int[] ids,
                             float[][] ks, float[][] vs) {
        for (int b = 0; b < lens.length; b++) {
            ids[b] = c.newSequence();
            ks[b] = ParityMath.random(kSeed + b, lens[b] * hkv * d, 2f, t);
            vs[b] = ParityMath.random(vSeed + b, lens[b] * hkv * d, 1f, t);
            if (lens[b] > 0) {
                c.appendPrompt(ids[b], sc.track(dev.upload(t, ks[b], lens[b], hkv, d)), sc.track(dev.upload(t, vs[b], lens[b], hkv, d)));
            }
        }
    }

    @Test
    void sequenceMajorDecodeEqualsHeadMajorBitForBit() {
        // GQA (4 query heads per kv head), a head dim with a vector tail (80) and one without,
        // fp32 (bulk copy + gather into the K tile) and bf16 (widened per element), with and without splits
        int hq = 8, hkv = 2;
        int[] lens = {1, 300, 1500, 0, 64};
        for (int d : new int[] {64, 80}) {
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                try (Scope sc = Scope.open()) {
                    PagedKvCache c = sc.track(PagedKvCache.create(dev, t, 300, 16, hkv, d));
                    c.shuffleFreePages(SEED + d);
                    int[] ids = new int[lens.length];
                    float[][] ks = new float[lens.length][], vs = new float[lens.length][];
                    fill(sc, c, t, lens, hkv, d, SEED + 70, SEED + 80, ids, ks, vs);
                    float[] qv = ParityMath.random(SEED + 90 + d, lens.length * hq * d, 2f, t);
                    Tensor q = sc.track(dev.upload(t, qv, lens.length, hq, d));
                    for (AttentionOptions o : new AttentionOptions[] {AttentionOptions.defaults(), AttentionOptions.defaults().softcap(20f)}) {
                        ReferenceAttention.Result ref = ReferenceAttention.decode(qv, ks, vs, hq, hkv, d, o);
                        for (int split : new int[] {Integer.MAX_VALUE, 256, 448}) {
                            float[][] got = new float[2][], gotLse = new float[2][];
                            for (int way = 0; way < 2; way++) {
                                Tensor out = sc.track(poisoned(dev, t, lens.length, hq, d));
                                Tensor lse = sc.track(poisoned(dev, DType.F32, lens.length, hq));
                                VectorAttention.decode(q, c, ids, out, lse, o, split, way == 0 ? Long.MAX_VALUE : 0);
                                got[way] = out.toFloatArray();
                                gotLse[way] = lse.toFloatArray();
                            }
                            String what = t + " d " + d + " split " + split + " softcap " + o.softcap();
                            assertArrayEquals(got[0], got[1], what + ": sequence-major vs head-major");
                            assertArrayEquals(gotLse[0], gotLse[1], what + ": lse");
                            assertClose(got[1], ref.out(), ParityMath.tolerance(t), what + " vs reference");
                            assertClose(gotLse[1], ref.lse(), 1e-5, what + " lse vs reference");
                        }
                    }
                }
            }
        }
    }

    @Test
    void alibiVarlenEqualsReference() {
        int hq = 6, hkv = 2, d = 64;
        int[] cuQ = {0, 7, 7, 72, 72, 73}, cuK = {0, 9, 20, 85, 85, 85};
        int tq = 73, tk = 85;
        float[] slopes = Alibi.slopes(hq);
        for (AttentionOptions o : new AttentionOptions[] {AttentionOptions.causal().alibi(slopes),
                AttentionOptions.defaults().window(3, 1).alibi(VectorAttentionTest.oddSlopes(hq))}) {
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                float[][] x = AttentionParity.qkv(SEED + 15, t, tq * hq * d, tk * hkv * d);
                try (Scope sc = Scope.open()) {
                    Tensor q = sc.track(dev.upload(t, x[0], tq, hq, d));
                    Tensor k = sc.track(dev.upload(t, x[1], tk, hkv, d));
                    Tensor v = sc.track(dev.upload(t, x[2], tk, hkv, d));
                    AttentionOutput r = sc.track(Attention.prefillVarlenWithLse(q, k, v, cuQ, cuK, o));
                    ReferenceAttention.Result ref = ReferenceAttention.prefillVarlen(x[0], x[1], x[2], cuQ, cuK, hq, hkv, d, o);
                    assertClose(r.out().toFloatArray(), ref.out(), ParityMath.tolerance(t), t + " " + o + " varlen vs reference");
                    assertClose(r.lse().toFloatArray(), ref.lse(), 1e-5, t + " " + o + " varlen lse vs reference");
                }
            }
        }
    }

    @Test
    void alibiDecodeEqualsReferenceAndCausalPrefillRow() {
        // GQA 4, splits and both item orders, a left window; and token t's decode = row t of a causal ALiBi prefill
        int hq = 8, hkv = 2, d = 64;
        int[] lens = {1, 300, 1500, 0, 64};
        DType t = DType.F32;
        try (Scope sc = Scope.open()) {
            PagedKvCache c = sc.track(PagedKvCache.create(dev, t, 300, 16, hkv, d));
            c.shuffleFreePages(SEED + 3);
            int[] ids = new int[lens.length];
            float[][] ks = new float[lens.length][], vs = new float[lens.length][];
            fill(sc, c, t, lens, hkv, d, SEED + 170, SEED + 180, ids, ks, vs);
            float[] qv = ParityMath.random(SEED + 190, lens.length * hq * d, 2f, t);
            Tensor q = sc.track(dev.upload(t, qv, lens.length, hq, d));
            for (AttentionOptions o : new AttentionOptions[] {AttentionOptions.defaults().alibi(Alibi.slopes(hq)),
                    AttentionOptions.defaults().window(700, -1).softcap(20f).alibi(VectorAttentionTest.oddSlopes(hq))}) {
                ReferenceAttention.Result ref = ReferenceAttention.decode(qv, ks, vs, hq, hkv, d, o);
                for (int split : new int[] {Integer.MAX_VALUE, 256}) {
                    for (int way = 0; way < 2; way++) {
                        Tensor out = sc.track(poisoned(dev, t, lens.length, hq, d));
                        Tensor lse = sc.track(poisoned(dev, DType.F32, lens.length, hq));
                        VectorAttention.decode(q, c, ids, out, lse, o, split, way == 0 ? Long.MAX_VALUE : 0);
                        String what = o + " split " + split + " way " + way;
                        assertClose(out.toFloatArray(), ref.out(), ParityMath.tolerance(t), what + " vs reference");
                        assertClose(lse.toFloatArray(), ref.lse(), 1e-5, what + " lse vs reference");
                    }
                }
            }
        }
        int n = 90;
        AttentionOptions o = AttentionOptions.causal().alibi(Alibi.slopes(hq));
        float[][] x = AttentionParity.qkv(SEED + 25, t, n * hq * d, n * hkv * d);
        try (Scope sc = Scope.open()) {
            Tensor q = sc.track(dev.upload(t, x[0], 1, n, hq, d));
            Tensor k = sc.track(dev.upload(t, x[1], 1, n, hkv, d));
            Tensor v = sc.track(dev.upload(t, x[2], 1, n, hkv, d));
            float[] fo = sc.track(Attention.prefill(q, k, v, o)).toFloatArray();
            PagedKvCache c = sc.track(PagedKvCache.create(dev, t, 40, 3, hkv, d));
            int id = c.newSequence();
            c.appendPrompt(id, sc.track(k.reshape(n, hkv, d)), sc.track(v.reshape(n, hkv, d)));
            Tensor qt = sc.track(dev.upload(t, Arrays.copyOfRange(x[0], (n - 1) * hq * d, n * hq * d), 1, hq, d));
            float[] r = sc.track(Attention.decode(qt, c, new int[] {id}, o)).toFloatArray();
            assertClose(r, toDouble(Arrays.copyOfRange(fo, (n - 1) * hq * d, n * hq * d)), 1e-6, "decode of the last token");
        }
    }

    @Test
    void cacheBookkeeping() {
        int hkv = 2, d = 32;
        DType t = DType.F16;
        try (Scope sc = Scope.open()) {
            PagedKvCache c = sc.track(PagedKvCache.create(dev, t, 3, 2, hkv, d));
            int a = c.newSequence(), b = c.newSequence();
            Tensor one = sc.track(dev.upload(t, ParityMath.random(SEED, 2 * hkv * d, 1f, t), 2, hkv, d));
            c.append(new int[] {a, b}, one, one);          // 2 pages used
            c.append(new int[] {a, b}, one, one);          // same pages (page size 2)
            assertEquals(1, c.freePages());
            assertEquals(2, c.length(a));
            IllegalStateException full = assertThrows(IllegalStateException.class, () -> c.append(new int[] {a, b}, one, one));
            assertTrue(full.getMessage().startsWith("cache full: "), full.getMessage());
            assertEquals(2, c.length(a), "a failed append changes nothing");
            assertEquals(2, c.length(b));
            Tensor prompt = sc.track(dev.upload(t, ParityMath.random(SEED + 1, 3 * hkv * d, 1f, t), 3, hkv, d));
            assertThrows(IllegalStateException.class, () -> c.appendPrompt(a, prompt, prompt));
            c.freeSequence(b);
            assertEquals(2, c.freePages());
            c.appendPrompt(a, prompt, prompt);
            assertEquals(5, c.length(a));
            assertEquals(3, c.pageTable(a).length);
            assertThrows(IllegalArgumentException.class, () -> c.length(b));
            assertThrows(IllegalArgumentException.class, () -> c.setFreePageOrder(new int[] {0}));
            c.close();
            assertThrows(IllegalStateException.class, c::newSequence);
        }
    }
}
