package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the attention entries on the CPU: a valid case (random batch, lengths 0..9, GQA heads,
 * options) with at most one argument broken — a wrong rank, dim, dtype, head dim, head ratio, a
 * null or closed tensor, bad {@code cuSeqlens}, unknown / repeated / freed sequence ids, a q batch
 * that disagrees with {@code seqIds}. Unbroken cases must match {@link ReferenceAttention}; broken
 * ones must be refused with a message naming the argument. The CUDA twin of these properties is
 * {@link CudaAttentionFuzzTest}.
 */
class AttentionFuzzTest {
    static Device cpu;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        Fuzz.finish("attention.");
        cpu.close();
    }

    /** What one property breaks: nothing, or one argument (named in the message it must give). */
    enum Break { NONE, Q_RANK, K_DIM, V_SHAPE, DTYPE, HEAD_DIM, HEAD_RATIO, NULL_K, CLOSED_V, NULL_OPTS }

    static Break breaks(Gen g) {
        return g.weighted(6, 6) == 0 ? Break.NONE : g.pick(Break.class);
    }

    static AttentionOptions options(Gen g) {
        AttentionOptions o = AttentionOptions.defaults().causal(g.bool()).window(g.between(-1, 4), g.between(-1, 4))
                .softcap(g.pickFloat(0f, 0f, 5f, 30f));
        float scale = g.pickFloat(Float.NaN, 0.05f, 1f);
        return Float.isNaN(scale) ? o : o.scale(scale);
    }

    /** Dense prefill on {@code dev}; returns whether it ran (shared with the CUDA twin). */
    static boolean prefillCase(Device dev, String prop, int b, int nq, int nk, int hkv, int group, DType dtype,
                               AttentionOptions opts, Break br, long seed) {
        int hq = hkv * group, d = 32;
        long[] qs = {b, nq, hq, d}, ks = {b, nk, hkv, d};
        float[] qa = ParityMath.random(seed, b * nq * hq * d, 1, dtype), ka = ParityMath.random(seed + 1, b * nk * hkv * d, 1, dtype),
                va = ParityMath.random(seed + 2, b * nk * hkv * d, 1, dtype);
        try (Tensor q = dev.upload(dtype, qa, qs); Tensor k = dev.upload(dtype, ka, ks); Tensor v = dev.upload(dtype, va, ks);
             Tensor q3 = q.reshape(b, (long) nq * hq, d); Tensor kd = dev.upload(dtype, new float[(b + 1) * nk * hkv * d], b + 1, nk, hkv, d);
             Tensor k64 = dev.upload(dtype, new float[b * nk * hkv * 64], b, nk, hkv, 64);
             Tensor q64 = dev.upload(dtype, new float[b * nq * hq * 64], b, nq, hq, 64);
             Tensor kOther = dev.upload(dtype == DType.F32 ? DType.BF16 : DType.F32, ka, ks);
             Tensor qOdd = dev.upload(dtype, new float[b * nq * (2 * hkv + 1) * d], b, nq, 2L * hkv + 1, d)) {
            Tensor closedV = dev.upload(dtype, va, ks);
            closedV.close();
            Tensor qq = q, kk = k, vv = v;
            AttentionOptions oo = opts;
            String[] names = {};
            switch (br) {
                case NONE -> {}
                case Q_RANK -> { qq = q3; names = new String[] {"q must have rank 4"}; }
                case K_DIM -> { kk = kd; vv = kd; names = new String[] {"batch"}; }
                case V_SHAPE -> { vv = kd; names = new String[] {"v has shape"}; }
                case DTYPE -> { kk = kOther; names = new String[] {"k has dtype"}; }
                case HEAD_DIM -> { kk = k64; vv = k64; names = new String[] {"head dim"}; }
                case HEAD_RATIO -> { qq = hkv == 1 ? q64 : qOdd; names = hkv == 1 ? new String[] {"head dim"} : new String[] {"heads"}; }
                case NULL_K -> { kk = null; names = new String[] {"k is null"}; }
                case CLOSED_V -> { vv = closedV; names = new String[] {"v ("}; }
                case NULL_OPTS -> { oo = null; names = new String[] {"opts is null"}; }
            }
            String in = dtype + " b" + b + " nq" + nq + " nk" + nk + " hq" + hq + " hkv" + hkv + " " + opts + " break " + br;
            Tensor qf = qq, kf = kk, vf = vv;
            AttentionOptions of = oo;
            if (br != Break.NONE) {
                Fuzz.reject(prop, in, () -> Attention.prefillWithLse(qf, kf, vf, of), names);
                return false;
            }
            AttentionOutput out = Fuzz.call(prop, in, () -> Attention.prefillWithLse(qf, kf, vf, of));
            if (out == null) throw new AssertionError(prop + ": a valid case was refused: " + in);
            try (out) {
                ReferenceAttention.Result ref = ReferenceAttention.prefill(qa, ka, va, b, nq, nk, hq, hkv, d, opts);
                check(prop, in, out.out().toFloatArray(), ref.out(), ParityMath.tolerance(dtype));
            }
            return true;
        }
    }

    static void check(String prop, String in, float[] got, double[] ref, double tol) {
        // Fully masked rows are 0 in both (documented); NaN anywhere is a failure.
        ParityResult r = ParityMath.compare(got, ref, tol);
        if (!r.passed()) throw new AssertionError(prop + ": mismatch relL2=" + r.relL2() + " nonFinite=" + r.nonFinite() + " for " + in);
    }

    @Test
    void prefill() {
        Fuzz.forAll("attention.prefill", 150, g -> prefillCase(cpu, "attention.prefill", g.between(0, 2), g.between(0, 9),
                g.between(0, 9), g.between(1, 2), g.between(1, 3), g.floating(), options(g), breaks(g), g.between(0, 1000)));
    }

    /** One slope per query head: zero, small, large and negative ones. */
    static float[] slopes(Gen g, int hq) {
        float[] s = new float[hq];
        for (int h = 0; h < hq; h++) s[h] = g.pickFloat(0f, 0.01f, 0.3f, 1f, -0.2f);
        return s;
    }

    @Test
    void prefillWithAlibi() {
        Fuzz.forAll("attention.prefill_alibi", 100, g -> {
            int hkv = g.between(1, 2), group = g.between(1, 3);
            prefillCase(cpu, "attention.prefill_alibi", g.between(0, 2), g.between(0, 9), g.between(0, 9), hkv, group, g.floating(),
                    options(g).alibi(slopes(g, hkv * group)), breaks(g), g.between(0, 1000));
        });
    }

    /** Varlen prefill with random (often invalid) offsets; valid ones must match the reference. */
    static void varlenCase(Device dev, String prop, int[] lensQ, int[] lensK, int[] cuQraw, boolean useRaw, AttentionOptions opts,
                           long seed) {
        int hq = 2, hkv = 1, d = 32;
        int[] cuQ = cumulative(lensQ), cuK = cumulative(lensK.length == lensQ.length ? lensK : Arrays.copyOf(lensK, lensQ.length));
        int totalQ = cuQ[cuQ.length - 1], totalK = cuK[cuK.length - 1];
        int[] q0 = useRaw ? cuQraw : cuQ;
        float[] qa = ParityMath.random(seed, totalQ * hq * d, 1, DType.F32), ka = ParityMath.random(seed + 1, totalK * hkv * d, 1, DType.F32),
                va = ParityMath.random(seed + 2, totalK * hkv * d, 1, DType.F32);
        try (Tensor q = dev.upload(DType.F32, qa, totalQ, hq, d); Tensor k = dev.upload(DType.F32, ka, totalK, hkv, d);
             Tensor v = dev.upload(DType.F32, va, totalK, hkv, d)) {
            String in = "cuQ " + Arrays.toString(q0) + " cuK " + Arrays.toString(cuK) + " totalQ " + totalQ + " " + opts;
            boolean valid = validCu(q0, totalQ) && q0.length == cuK.length;
            if (!valid) {
                Fuzz.reject(prop, in, () -> Attention.prefillVarlen(q, k, v, q0, cuK, opts), "cuSeqlensQ");
                return;
            }
            try (Tensor o = Fuzz.call(prop, in, () -> Attention.prefillVarlen(q, k, v, q0, cuK, opts))) {
                if (o == null) throw new AssertionError(prop + ": a valid case was refused: " + in);
                ReferenceAttention.Result ref = ReferenceAttention.prefillVarlen(qa, ka, va, q0, cuK, hq, hkv, d, opts);
                check(prop, in, o.toFloatArray(), ref.out(), ParityMath.tolerance(DType.F32));
            }
        }
    }

    static int[] cumulative(int[] lens) {
        int[] cu = new int[lens.length + 1];
        for (int i = 0; i < lens.length; i++) cu[i + 1] = cu[i] + lens[i];
        return cu;
    }

    static boolean validCu(int[] cu, int total) {
        if (cu == null || cu.length < 1 || cu[0] != 0 || cu[cu.length - 1] != total) return false;
        for (int i = 1; i < cu.length; i++) if (cu[i] < cu[i - 1]) return false;
        return true;
    }

    @Test
    void varlen() {
        Fuzz.forAll("attention.varlen", 120, g -> varlenCase(cpu, "attention.varlen", lens(g), lens(g), rawCu(g), g.bool(), options(g),
                g.between(0, 1000)));
    }

    static int[] lens(Gen g) {
        return g.intArray(0, 4, () -> g.between(0, 6));
    }

    static int[] rawCu(Gen g) {
        return g.intArray(0, 5, () -> g.bool() ? g.between(-3, 14) : g.pickInt(Integer.MIN_VALUE, Integer.MAX_VALUE));
    }

    /**
     * Paged decode: sequences of random lengths in a cache of random page size, then a decode over
     * ids that may be unknown, repeated or freed, with a q batch that may disagree.
     */
    static void decodeCase(Device dev, String prop, int pageSize, int[] lens, int[] pick, int freeOne, int batchDelta,
                           AttentionOptions opts, long seed) {
        int hq = 2, hkv = 1, d = 32, total = Arrays.stream(lens).sum();
        int pages = lens.length + total / pageSize + 1;
        try (PagedKvCache cache = PagedKvCache.create(dev, DType.F32, pages, pageSize, hkv, d)) {
            cache.shuffleFreePages(seed);
            List<float[]> ks = new ArrayList<>(), vs = new ArrayList<>();
            int[] ids = new int[lens.length];
            for (int s = 0; s < lens.length; s++) {
                ids[s] = cache.newSequence();
                float[] ka = ParityMath.random(seed + 10 * s, lens[s] * hkv * d, 1, DType.F32);
                float[] va = ParityMath.random(seed + 10 * s + 1, lens[s] * hkv * d, 1, DType.F32);
                ks.add(ka);
                vs.add(va);
                try (Tensor k = dev.upload(DType.F32, ka, lens[s], hkv, d); Tensor v = dev.upload(DType.F32, va, lens[s], hkv, d)) {
                    cache.appendPrompt(ids[s], k, v);
                }
            }
            int freed = Integer.MIN_VALUE;
            if (freeOne >= 0 && freeOne < ids.length) {
                freed = ids[freeOne];
                cache.freeSequence(freed);
            }
            // the chosen ids: indices into ids, or raw ids beyond them
            int[] seqIds = new int[pick.length];
            for (int i = 0; i < pick.length; i++) seqIds[i] = pick[i] >= 0 && pick[i] < ids.length ? ids[pick[i]] : pick[i] + 1000;
            int batch = Math.max(0, seqIds.length + batchDelta);
            float[] qa = ParityMath.random(seed + 7, batch * hq * d, 1, DType.F32);
            try (Tensor q = dev.upload(DType.F32, qa, batch, hq, d)) {
                String in = "page " + pageSize + " lens " + Arrays.toString(lens) + " seqIds " + Arrays.toString(seqIds) + " freed "
                        + freed + " batch " + batch + " " + opts;
                boolean distinct = Arrays.stream(seqIds).distinct().count() == seqIds.length;
                boolean known = true;
                for (int id : seqIds) known &= cache.contains(id);
                if (batch != seqIds.length) {
                    Fuzz.reject(prop, in, () -> Attention.decode(q, cache, seqIds, opts), "seqIds");
                } else if (!distinct || !known) {
                    Fuzz.reject(prop, in, () -> Attention.decode(q, cache, seqIds, opts), "seqIds[");
                } else {
                    try (Tensor o = Fuzz.call(prop, in, () -> Attention.decode(q, cache, seqIds, opts))) {
                        if (o == null) throw new AssertionError(prop + ": a valid case was refused: " + in);
                        float[][] kSeq = new float[seqIds.length][], vSeq = new float[seqIds.length][];
                        for (int i = 0; i < seqIds.length; i++) {
                            int s = Arrays.binarySearch(ids, seqIds[i]);
                            kSeq[i] = ks.get(s);
                            vSeq[i] = vs.get(s);
                        }
                        ReferenceAttention.Result ref = ReferenceAttention.decode(qa, kSeq, vSeq, hq, hkv, d, opts);
                        check(prop, in, o.toFloatArray(), ref.out(), ParityMath.tolerance(DType.F32));
                    }
                }
            }
        }
    }

    @Test
    void decode() {
        Fuzz.forAll("attention.decode", 120, g -> decodeCase(cpu, "attention.decode", g.between(1, 5), lens(g),
                g.intArray(0, 4, () -> g.index(4)), g.between(-1, 3), g.weighted(8, 1) == 0 ? 0 : g.pickInt(-1, 1), options(g),
                g.between(0, 1000)));
    }

    /** Cache creation and page orders: sizes that are 0, negative or overflow int, non-permutations. */
    @Test
    void cacheCreate() {
        Fuzz.forAll("attention.cacheCreate", 150, g -> cacheCreate(cacheSize(g), cacheSize(g), cacheSize(g),
                g.pickInt(32, 32, 64, 128, 0, -1, 33, 257, Integer.MAX_VALUE), g.intArray(0, 5, () -> g.index(4))));
    }

    private static void cacheCreate(int numPages, int pageSize, int heads, int headDim, int[] order) {
        long bytes = (long) numPages * pageSize * heads * headDim * 4 * 2;
        boolean sane = numPages > 0 && pageSize > 0 && heads > 0 && (long) numPages * pageSize <= Integer.MAX_VALUE;
        if (!(!sane || bytes < Gen.SAFE_BYTES || bytes >= Gen.HOPELESS_BYTES || headDim % 8 != 0)) return;
        String in = "pages " + numPages + " pageSize " + pageSize + " heads " + heads + " headDim " + headDim;
        PagedKvCache c = Fuzz.call("attention.cacheCreate", in, () -> PagedKvCache.create(cpu, DType.F32, numPages, pageSize, heads, headDim),
                "numPages", "pageSize", "numKvHeads", "head dim", "tokens", "allocate");
        if (c == null) return;
        try (c) {
            boolean permutation = order.length == numPages && Arrays.stream(order).distinct().count() == numPages
                    && Arrays.stream(order).allMatch(p -> p >= 0 && p < numPages);
            Object r = Fuzz.call("attention.cachePageOrder", in + " order " + Arrays.toString(order), () -> {
                c.setFreePageOrder(order);
                return order;
            }, "setFreePageOrder");
            if ((r != null) != permutation) throw new AssertionError("setFreePageOrder " + Arrays.toString(order) + " of " + numPages);
        }
    }

    static int cacheSize(Gen g) {
        return g.weighted(8, 1) == 0 ? g.between(1, 4) : g.pickInt(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 1 << 16);
    }

    /** attentionProbabilities with random (often out-of-range) head and row indices. */
    @Test
    void probabilities() {
        Fuzz.forAll("attention.probabilities", 100, g -> probabilities(g.between(1, 6), g.between(1, 6), heads(g), heads(g), options(g)));
    }

    private static void probabilities(int nq, int nk, int[] heads, int[] rows, AttentionOptions opts) {
        int b = 1, hq = 2, hkv = 1, d = 32;
        float[] qa = ParityMath.random(nq, b * nq * hq * d, 1, DType.F32), ka = ParityMath.random(nk, b * nk * hkv * d, 1, DType.F32);
        try (Tensor q = cpu.upload(DType.F32, qa, b, nq, hq, d); Tensor k = cpu.upload(DType.F32, ka, b, nk, hkv, d);
             Tensor v = cpu.upload(DType.F32, ka, b, nk, hkv, d); AttentionOutput lo = Attention.prefillWithLse(q, k, v, opts)) {
            String in = "nq " + nq + " nk " + nk + " heads " + Arrays.toString(heads) + " rows " + Arrays.toString(rows) + " " + opts;
            boolean valid = Arrays.stream(heads).allMatch(h -> h >= 0 && h < hq) && Arrays.stream(rows).allMatch(r -> r >= 0 && r < nq);
            if (!valid) {
                Fuzz.reject("attention.probabilities", in, () -> Attention.attentionProbabilities(q, k, lo.lse(), heads, rows, opts),
                        "heads[", "rows[");
                return;
            }
            try (Tensor p = Fuzz.call("attention.probabilities", in,
                    () -> Attention.attentionProbabilities(q, k, lo.lse(), heads, rows, opts))) {
                double[] ref = ReferenceAttention.probabilities(qa, ka, b, nq, nk, hq, hkv, d, heads, rows, opts);
                check("attention.probabilities", in, p.toFloatArray(), ref, 1e-4);
            }
        }
    }

    static int[] heads(Gen g) {
        return g.intArray(0, 3, () -> g.index(2));
    }

    /** Regression: options with out-of-range values are refused where they are built. */
    @Test
    void optionsRefuseBadValues() {
        Fuzz.reject("attention.options", "window(-2, 0)", () -> AttentionOptions.defaults().window(-2, 0), "window left");
        Fuzz.reject("attention.options", "softcap(NaN)", () -> AttentionOptions.defaults().softcap(Float.NaN), "softcap");
        Fuzz.reject("attention.options", "scale(-1)", () -> AttentionOptions.defaults().scale(-1), "scale");
        Fuzz.reject("attention.options", "scale(+inf)", () -> AttentionOptions.defaults().scale(Float.POSITIVE_INFINITY), "scale");
    }
}
