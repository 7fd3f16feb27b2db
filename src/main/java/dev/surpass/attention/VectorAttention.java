package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link Attention}: the FlashAttention algorithm with the Vector API.
 *
 * <p>Prefill works on a block of {@link #BM} query rows of one (sequence, head) at a time and
 * streams the keys in tiles of {@link #BN}: {@code S = Q·Kᵀ} is vectorised over the keys (K tile
 * transposed, four query rows times two vectors of keys held in registers), the online softmax runs
 * in the exp2 domain (scores pre-multiplied by {@code scale·log2 e}, a running max {@code m} and
 * sum {@code l} per row, the accumulator rescaled by {@code 2^(m_old − m_new)}), and {@code O += P·V}
 * is vectorised over D. Tiles that no row of the block can see (causal, window) are skipped, not
 * masked; only boundary tiles are masked. The output is normalised once at the end and
 * {@code lse = m·ln 2 + ln l} (natural log). A row that sees no key gives 0 and −∞.
 *
 * <p>Work is spread over threads by (sequence, query block, head), largest first, pulled from a
 * shared counter; every item is computed the same way whichever thread takes it, so results do not
 * depend on the thread count.
 *
 * <p>Decode treats the query heads that share a kv-head as the rows of one block (GQA packing),
 * reads the keys through the page table, splits long sequences into chunks computed in parallel
 * (split-KV) and merges the partial results by their LSE ({@link #merge}).
 *
 * <p>All operands are widened to fp32 tiles on the fly (F16/BF16 inputs), so the arithmetic is the
 * same for every dtype; outputs are rounded to the input dtype, LSE stays fp32. Implementations
 * only assert: {@link Attention} has validated every shape and index.
 */
final class VectorAttention {
    private VectorAttention() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Query rows per block. */
    static final int BM = 64;
    /** Keys per tile. */
    static final int BN = 64;
    /** Tile width padded to whole vectors. */
    private static final int BNP = roundUp(BN, L);
    /** Sequences at most this long are not split in decode. */
    static final int MIN_SPLIT_TOKENS = 256;

    private static final float LOG2E = (float) (1 / Math.log(2));
    private static final double LN2 = Math.log(2);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());

    static int roundUp(int x, int m) {
        return (x + m - 1) / m * m;
    }

    // ---- layouts and numerics --------------------------------------------------------------------

    /**
     * Packed sequences: sequence {@code b} has query rows {@code [qStart, qStart+nq)} and keys
     * {@code [kStart, kStart+nk)} of the packed [rows, H, D] tensors; the LSE of (row i, head h) is
     * at {@code lseBase[b] + h·lseHeadStride + i}.
     */
    record Layout(int[] qStart, int[] nq, int[] kStart, int[] nk, long[] lseBase, long lseHeadStride) {
        int batch() {
            return nq.length;
        }

        /** [B, N, H, D] tensors, LSE [B, Hq, Nq]. */
        static Layout dense(int batch, int nq, int nk, int hq) {
            int[] qs = new int[batch], nqs = new int[batch], ks = new int[batch], nks = new int[batch];
            long[] lb = new long[batch];
            for (int b = 0; b < batch; b++) {
                qs[b] = b * nq;
                nqs[b] = nq;
                ks[b] = b * nk;
                nks[b] = nk;
                lb[b] = (long) b * hq * nq;
            }
            return new Layout(qs, nqs, ks, nks, lb, nq);
        }

        /** Varlen: cumulative offsets; LSE [Hq, totalQ]. */
        static Layout varlen(int[] cuQ, int[] cuK) {
            int batch = cuQ.length - 1;
            int[] qs = new int[batch], nqs = new int[batch], ks = new int[batch], nks = new int[batch];
            long[] lb = new long[batch];
            for (int b = 0; b < batch; b++) {
                qs[b] = cuQ[b];
                nqs[b] = cuQ[b + 1] - cuQ[b];
                ks[b] = cuK[b];
                nks[b] = cuK[b + 1] - cuK[b];
                lb[b] = cuQ[b];
            }
            return new Layout(qs, nqs, ks, nks, lb, cuQ[batch]);
        }
    }

    /**
     * How queries are pre-scaled and scores post-processed so that the softmax works on base-2
     * logits: without softcap {@code q·(scale·log2 e)}; with softcap {@code c}, {@code q·(scale/c)},
     * then {@code tanh(s)·(c·log2 e)}.
     */
    private record Numerics(float qScale, float capLog2e) {
        static Numerics of(AttentionOptions o, int d) {
            float scale = o.scaleFor(d), cap = o.softcap();
            return cap > 0 ? new Numerics(scale / cap, cap * LOG2E) : new Numerics(scale * LOG2E, 0f);
        }
    }

    /** Element offset of key row {@code c} of the current tile. */
    @FunctionalInterface
    private interface KeyRows {
        long offset(int c);
    }

    // ---- per-thread tiles ------------------------------------------------------------------------

    private static final class Work {
        final int d, dp;
        final float[] q;   // [BM][d] pre-scaled query rows
        final float[] kt;  // [d][BNP] K tile, transposed
        final float[] vt;  // [BN][dp] V tile (columns d..dp stay zero)
        final float[] s;   // [BM][BNP] scores, then probabilities
        final float[] o;   // [BM][dp] unnormalised output
        final float[] m = new float[BM], l = new float[BM];
        final int[] lo = new int[BM], hi = new int[BM];    // visible keys per row (absolute)
        final int[] tlo = new int[BM], thi = new int[BM];  // visible keys per row in the tile
        final float[] row; // staging for one row (≥ dp, ≥ d)

        Work(int d) {
            this.d = d;
            this.dp = roundUp(d, L);
            q = new float[BM * d];
            kt = new float[d * BNP];
            vt = new float[BN * dp];
            s = new float[BM * BNP];
            o = new float[BM * dp];
            row = new float[dp];
        }
    }

    private static final ThreadLocal<Work> WORK = new ThreadLocal<>();

    private static Work work(int d) {
        Work w = WORK.get();
        if (w == null || w.d != d) {
            w = new Work(d);
            WORK.set(w);
        }
        return w;
    }

    // ---- prefill -----------------------------------------------------------------------------------

    /** Dense prefill into {@code out} [B,Nq,Hq,D] and, when not null, {@code lse} [B,Hq,Nq] fp32. */
    static void prefill(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, AttentionOptions o) {
        int b = (int) q.dim(0), nq = (int) q.dim(1), hq = (int) q.dim(2), d = (int) q.dim(3);
        int nk = (int) k.dim(1), hkv = (int) k.dim(2);
        run(q, k, v, out, lse, hq, hkv, d, Layout.dense(b, nq, nk, hq), o);
    }

    /** Varlen prefill into {@code out} [totalQ,Hq,D] and, when not null, {@code lse} [Hq,totalQ] fp32. */
    static void prefillVarlen(Tensor q, Tensor k, Tensor v, int[] cuQ, int[] cuK, Tensor out, Tensor lse, AttentionOptions o) {
        run(q, k, v, out, lse, (int) q.dim(1), (int) k.dim(1), (int) q.dim(2), Layout.varlen(cuQ, cuK), o);
    }

    private static void run(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, int hq, int hkv, int d, Layout lay,
                            AttentionOptions o) {
        assert hq % hkv == 0 && d > 0;
        DType dt = q.dtype();
        MemorySegment qs = q.hostSegment(), ks = k.hostSegment(), vs = v.hostSegment(), os = out.hostSegment();
        MemorySegment ls = lse == null ? null : lse.hostSegment();
        Numerics num = Numerics.of(o, d);
        // Blocks of BM rows per sequence, most work first (causal blocks at the bottom are the
        // expensive ones), then every head of each block.
        int blocks = 0;
        for (int b = 0; b < lay.batch(); b++) blocks += (lay.nq()[b] + BM - 1) / BM;
        long[] order = new long[blocks]; // (cost << 32 | index) sorted descending
        int[] blockSeq = new int[blocks], blockRow = new int[blocks];
        int n = 0;
        for (int b = 0; b < lay.batch(); b++) {
            int nqb = lay.nq()[b], nkb = lay.nk()[b];
            for (int i0 = 0; i0 < nqb; i0 += BM) {
                int i1 = Math.min(nqb, i0 + BM) - 1;
                long cost = (long) Math.max(0, o.keyHi(i1, nqb, nkb) - o.keyLo(i0, nqb, nkb) + 1) * (i1 - i0 + 1);
                blockSeq[n] = b;
                blockRow[n] = i0;
                order[n] = (Math.min(cost, Integer.MAX_VALUE) << 32) | n;
                n++;
            }
        }
        Arrays.sort(order);
        final int nb = blocks;
        long items = (long) nb * hq;
        forEachItem(items, item -> {
            int blk = (int) order[nb - 1 - (int) (item / hq)];
            int h = (int) (item % hq);
            prefillBlock(work(d), qs, ks, vs, os, ls, dt, hq, hkv, lay, blockSeq[blk], h, blockRow[blk], o, num);
        });
    }

    private static void prefillBlock(Work w, MemorySegment qs, MemorySegment ks, MemorySegment vs, MemorySegment os,
                                     MemorySegment ls, DType dt, int hq, int hkv, Layout lay, int b, int h, int i0,
                                     AttentionOptions o, Numerics num) {
        int d = w.d;
        int nqb = lay.nq()[b], nkb = lay.nk()[b];
        int nr = Math.min(BM, nqb - i0);
        int g = h / (hq / hkv);
        int kLo = Integer.MAX_VALUE, kHi = -1;
        for (int r = 0; r < nr; r++) {
            long off = ((long) (lay.qStart()[b] + i0 + r) * hq + h) * d;
            HostRows.read(qs, dt, off, w.q, r * d, d);
            int lo = o.keyLo(i0 + r, nqb, nkb), hi = o.keyHi(i0 + r, nqb, nkb);
            w.lo[r] = lo;
            w.hi[r] = hi;
            if (lo <= hi) {
                kLo = Math.min(kLo, lo);
                kHi = Math.max(kHi, hi);
            }
        }
        scaleRows(w.q, nr * d, num.qScale());
        begin(w, nr);
        long kRow0 = (long) lay.kStart()[b] * hkv + g;
        for (long c0 = kLo; c0 <= kHi; c0 += BN) {
            int t0 = (int) c0;
            int n = (int) Math.min(BN, kHi - c0 + 1);
            boolean any = false;
            for (int r = 0; r < nr; r++) {
                int a = Math.max(w.lo[r], t0) - t0, z = Math.min(w.hi[r], t0 + n - 1) - t0;
                w.tlo[r] = a;
                w.thi[r] = z;
                any |= a <= z;
            }
            if (!any) continue; // no row of the block sees this tile: skipped, not masked
            loadKv(w, ks, vs, dt, n, c -> (kRow0 + (long) (t0 + c) * hkv) * d);
            tile(w, nr, n, num.capLog2e());
        }
        for (int r = 0; r < nr; r++) {
            float lse = finishRow(w, r);
            long row = (long) (lay.qStart()[b] + i0 + r) * hq + h;
            HostRows.write(w.row, 0, os, dt, row * d, d);
            if (ls != null) ls.setAtIndex(F32, lay.lseBase()[b] + h * lay.lseHeadStride() + i0 + r, lse);
        }
    }

    // ---- decode ------------------------------------------------------------------------------------

    /**
     * Split size for decode: no split for sequences up to {@link #MIN_SPLIT_TOKENS}; otherwise
     * enough chunks that (sequences × kv-heads × chunks) keeps every thread busy twice over.
     */
    static int defaultSplitTokens(int batch, int hkv, int maxLen) {
        if (maxLen <= MIN_SPLIT_TOKENS) return Integer.MAX_VALUE;
        long items = (long) batch * hkv;
        int want = (int) Math.max(1, (2L * Parallel.threads() + items - 1) / items);
        int splits = Math.min(want, (maxLen + MIN_SPLIT_TOKENS - 1) / MIN_SPLIT_TOKENS);
        if (splits <= 1) return Integer.MAX_VALUE;
        return roundUp((maxLen + splits - 1) / splits, BN);
    }

    /**
     * Decode {@code q} [B,Hq,D] against the cached keys of {@code seqIds} into {@code out} [B,Hq,D]
     * and, when not null, {@code lse} [B,Hq]; sequences are cut into chunks of {@code splitTokens}
     * visible keys whose partial results are merged.
     */
    static void decode(Tensor q, PagedKvCache cache, int[] seqIds, Tensor out, Tensor lse, AttentionOptions o,
                       int splitTokens) {
        assert splitTokens > 0;
        int batch = (int) q.dim(0), hq = (int) q.dim(1), d = (int) q.dim(2);
        int hkv = cache.numKvHeads(), group = hq / hkv, ps = cache.pageSize();
        DType dt = q.dtype();
        MemorySegment qs = q.hostSegment(), ks = cache.kPool().hostSegment(), vs = cache.vPool().hostSegment();
        MemorySegment os = out.hostSegment(), ls = lse == null ? null : lse.hostSegment();
        AttentionOptions causal = o.causal(true);
        Numerics num = Numerics.of(o, d);
        int[][] pages = new int[batch][];
        int[] lo = new int[batch], hi = new int[batch], splits = new int[batch];
        int maxSplits = 1;
        for (int b = 0; b < batch; b++) {
            int len = cache.length(seqIds[b]);
            pages[b] = cache.pageTable(seqIds[b]);
            lo[b] = causal.keyLo(0, 1, len);
            hi[b] = causal.keyHi(0, 1, len);
            long visible = Math.max(0, hi[b] - lo[b] + 1);
            splits[b] = (int) Math.max(1, (visible + splitTokens - 1) / splitTokens);
            maxSplits = Math.max(maxSplits, splits[b]);
        }
        int chunks = (group + BM - 1) / BM; // heads of one group per block
        int ms = maxSplits;
        float[] partO = new float[batch * hq * ms * d];
        float[] partL = new float[batch * hq * ms];
        long items = (long) batch * hkv * chunks * ms;
        forEachItem(items, item -> {
            int s = (int) (item % ms);
            long rest = item / ms;
            int chunk = (int) (rest % chunks);
            rest /= chunks;
            int g = (int) (rest % hkv), b = (int) (rest / hkv);
            int h0 = g * group + chunk * BM, nr = Math.min(BM, (g + 1) * group - h0);
            if (s >= splits[b]) {
                for (int r = 0; r < nr; r++) partL[((b * hq) + h0 + r) * ms + s] = Float.NEGATIVE_INFINITY;
                return; // unused split slot of a shorter sequence: an empty part
            }
            long from = lo[b] + (long) s * splitTokens, to = Math.min(hi[b] + 1L, from + splitTokens);
            Work w = work(d);
            for (int r = 0; r < nr; r++) HostRows.read(qs, dt, ((long) b * hq + h0 + r) * d, w.q, r * d, d);
            scaleRows(w.q, nr * d, num.qScale());
            begin(w, nr);
            int[] pt = pages[b];
            for (long c0 = from; c0 < to; c0 += BN) {
                int t0 = (int) c0, n = (int) Math.min(BN, to - c0);
                for (int r = 0; r < nr; r++) {
                    w.tlo[r] = 0;
                    w.thi[r] = n - 1;
                }
                loadKv(w, ks, vs, dt, n, c -> {
                    int t = t0 + c;
                    return (((long) pt[t / ps] * ps + t % ps) * hkv + g) * d;
                });
                tile(w, nr, n, num.capLog2e());
            }
            for (int r = 0; r < nr; r++) {
                int p = ((b * hq) + h0 + r) * ms + s;
                partL[p] = finishRow(w, r);
                System.arraycopy(w.row, 0, partO, p * d, d);
            }
        });
        forEachItem((long) batch * hq, bh -> {
            Work w = work(d);
            int p0 = (int) bh * ms;
            float l = merge(partO, partL, p0, ms, d, w.row);
            HostRows.write(w.row, 0, os, dt, bh * d, d);
            if (ls != null) ls.setAtIndex(F32, bh, l);
        });
    }

    /**
     * Merges {@code parts} partial results over disjoint key sets: part {@code p0+s} has normalised
     * output {@code partO[(p0+s)·d ..]} and LSE {@code partL[p0+s]}. With {@code M = max lse_s} and
     * {@code W = Σ e^(lse_s − M)}: {@code dst = Σ o_s·e^(lse_s − M)/W}, returns {@code M + ln W}.
     * Empty parts (LSE −∞) weigh 0; all empty gives 0 and −∞.
     */
    static float merge(float[] partO, float[] partL, int p0, int parts, int d, float[] dst) {
        float mx = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < parts; s++) mx = Math.max(mx, partL[p0 + s]);
        Arrays.fill(dst, 0, d, 0f);
        if (mx == Float.NEGATIVE_INFINITY) return Float.NEGATIVE_INFINITY;
        double wsum = 0;
        for (int s = 0; s < parts; s++) wsum += Math.exp((double) partL[p0 + s] - mx);
        for (int s = 0; s < parts; s++) {
            float wt = (float) (Math.exp((double) partL[p0 + s] - mx) / wsum);
            if (wt == 0f) continue;
            int base = (p0 + s) * d, x = 0;
            for (; x + L <= d; x += L) {
                FloatVector.fromArray(S, partO, base + x).fma(FloatVector.broadcast(S, wt), FloatVector.fromArray(S, dst, x)).intoArray(dst, x);
            }
            for (; x < d; x++) dst[x] = Math.fma(partO[base + x], wt, dst[x]);
        }
        return (float) (mx + Math.log(wsum));
    }

    // ---- attention probabilities ---------------------------------------------------------------------

    /**
     * {@code out} [B, heads.length, rows.length, Nk] fp32 = {@code exp(S − lse)} for visible keys,
     * 0 elsewhere; {@code S} as in the forward pass (scale, softcap), {@code lse} [B,Hq,Nq].
     */
    static void probabilities(Tensor q, Tensor k, Tensor lse, int[] heads, int[] rows, Tensor out, AttentionOptions o) {
        int nq = (int) q.dim(1), hq = (int) q.dim(2), d = (int) q.dim(3);
        int nk = (int) k.dim(1), hkv = (int) k.dim(2), batch = (int) q.dim(0);
        DType dt = q.dtype();
        MemorySegment qs = q.hostSegment(), ks = k.hostSegment(), ls = lse.hostSegment(), os = out.hostSegment();
        float scale = o.scaleFor(d), cap = o.softcap();
        int nh = heads.length, nr = rows.length;
        forEachItem((long) batch * nh * nr, item -> {
            int ri = (int) (item % nr), hi = (int) ((item / nr) % nh), b = (int) (item / ((long) nr * nh));
            int h = heads[hi], i = rows[ri], g = h / (hq / hkv);
            Work w = work(d);
            float[] qa = w.q, ka = w.row, p = new float[nk];
            Arrays.fill(qa, 0, w.dp, 0f);
            Arrays.fill(ka, 0f);
            HostRows.read(qs, dt, ((long) (b * nq + i) * hq + h) * d, qa, 0, d);
            float lse1 = ls.getAtIndex(F32, ((long) b * hq + h) * nq + i);
            int lo = o.keyLo(i, nq, nk), hiKey = o.keyHi(i, nq, nk);
            for (int j = lo; j <= hiKey; j++) {
                HostRows.read(ks, dt, ((long) (b * nk + j) * hkv + g) * d, ka, 0, d);
                FloatVector acc = FloatVector.zero(S);
                for (int x = 0; x < w.dp; x += L) {
                    acc = FloatVector.fromArray(S, qa, x).fma(FloatVector.fromArray(S, ka, x), acc);
                }
                double sj = (double) acc.reduceLanes(VectorOperators.ADD) * scale;
                if (cap > 0) sj = cap * Math.tanh(sj / cap);
                p[j] = (float) Math.exp(sj - lse1);
            }
            MemorySegment.copy(p, 0, os, F32, item * nk * 4L, nk);
        });
    }

    // ---- the tile step -----------------------------------------------------------------------------

    private static void begin(Work w, int nr) {
        Arrays.fill(w.m, 0, nr, Float.NEGATIVE_INFINITY);
        Arrays.fill(w.l, 0, nr, 0f);
        Arrays.fill(w.o, 0, nr * w.dp, 0f);
    }

    private static void scaleRows(float[] a, int n, float f) {
        int x = 0;
        for (; x + L <= n; x += L) FloatVector.fromArray(S, a, x).mul(f).intoArray(a, x);
        for (; x < n; x++) a[x] *= f;
    }

    /** Widens key rows {@code 0..n-1} of the tile to fp32: K transposed into {@code kt}, V into {@code vt}. */
    private static void loadKv(Work w, MemorySegment ks, MemorySegment vs, DType dt, int n, KeyRows rows) {
        int d = w.d, dp = w.dp;
        float[] row = w.row, kt = w.kt;
        for (int c = 0; c < n; c++) {
            long off = rows.offset(c);
            HostRows.read(ks, dt, off, row, 0, d);
            for (int x = 0; x < d; x++) kt[x * BNP + c] = row[x];
            HostRows.read(vs, dt, off, w.vt, c * dp, d);
        }
    }

    /**
     * One K/V tile for {@code nr} rows: scores, online-softmax update of (m, l, O), O += P·V. Row r
     * sees tile keys {@code [tlo[r], thi[r]]}; an empty range leaves the row untouched.
     */
    private static void tile(Work w, int nr, int n, float capLog2e) {
        int nc = roundUp(n, L);
        float[] s = w.s;
        qk(w, nr, nc);
        for (int r = 0; r < nr; r++) {
            int sb = r * BNP, a = w.tlo[r], z = w.thi[r];
            if (a > z) {
                Arrays.fill(s, sb, sb + nc, 0f);
                continue;
            }
            if (capLog2e != 0f) {
                for (int c = 0; c < nc; c += L) {
                    FloatVector.fromArray(S, s, sb + c).lanewise(VectorOperators.TANH).mul(capLog2e).intoArray(s, sb + c);
                }
            }
            for (int c = 0; c < a; c++) s[sb + c] = Float.NEGATIVE_INFINITY;
            for (int c = z + 1; c < nc; c++) s[sb + c] = Float.NEGATIVE_INFINITY;
            FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int c = 0; c < nc; c += L) vmax = vmax.max(FloatVector.fromArray(S, s, sb + c));
            float mOld = w.m[r];
            float mNew = Math.max(mOld, vmax.reduceLanes(VectorOperators.MAX));
            if (mNew == Float.NEGATIVE_INFINITY) { // only -inf scores (infinite inputs): nothing to add
                Arrays.fill(s, sb, sb + nc, 0f);
                continue;
            }
            FloatVector vsum = FloatVector.zero(S);
            for (int c = 0; c < nc; c += L) {
                FloatVector p = exp2(FloatVector.fromArray(S, s, sb + c).sub(mNew));
                p.intoArray(s, sb + c);
                vsum = vsum.add(p);
            }
            float alpha = mOld == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp((mOld - mNew) * LN2);
            w.l[r] = w.l[r] * alpha + vsum.reduceLanes(VectorOperators.ADD);
            w.m[r] = mNew;
            if (alpha != 1f) {
                int ob = r * w.dp;
                for (int x = 0; x < w.dp; x += L) FloatVector.fromArray(S, w.o, ob + x).mul(alpha).intoArray(w.o, ob + x);
            }
        }
        pv(w, nr, n);
    }

    /** Normalises row r of O into {@code w.row} (0 for an empty row); returns its natural-log LSE. */
    private static float finishRow(Work w, int r) {
        float l = w.l[r];
        if (!(l > 0)) {
            Arrays.fill(w.row, 0, w.d, 0f);
            return Float.NEGATIVE_INFINITY;
        }
        float inv = 1f / l;
        int ob = r * w.dp;
        for (int x = 0; x < w.dp; x += L) FloatVector.fromArray(S, w.o, ob + x).mul(inv).intoArray(w.row, x);
        return (float) (w.m[r] * LN2 + Math.log(l));
    }

    /** {@code s[r][0..nc) = q[r] · kt[:, 0..nc)}: vectorised over keys, 4 rows × 2 vectors per step. */
    private static void qk(Work w, int nr, int nc) {
        final int d = w.d;
        final float[] q = w.q, kt = w.kt, s = w.s;
        int r = 0;
        for (; r + 4 <= nr; r += 4) {
            final int q0 = r * d, q1 = q0 + d, q2 = q1 + d, q3 = q2 + d;
            final int s0 = r * BNP, s1 = s0 + BNP, s2 = s1 + BNP, s3 = s2 + BNP;
            int c = 0;
            for (; c + 2 * L <= nc; c += 2 * L) {
                FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00;
                FloatVector a20 = a00, a21 = a00, a30 = a00, a31 = a00;
                for (int x = 0, kb = c; x < d; x++, kb += BNP) {
                    FloatVector k0 = FloatVector.fromArray(S, kt, kb), k1 = FloatVector.fromArray(S, kt, kb + L);
                    FloatVector b0 = FloatVector.broadcast(S, q[q0 + x]);
                    a00 = k0.fma(b0, a00);
                    a01 = k1.fma(b0, a01);
                    FloatVector b1 = FloatVector.broadcast(S, q[q1 + x]);
                    a10 = k0.fma(b1, a10);
                    a11 = k1.fma(b1, a11);
                    FloatVector b2 = FloatVector.broadcast(S, q[q2 + x]);
                    a20 = k0.fma(b2, a20);
                    a21 = k1.fma(b2, a21);
                    FloatVector b3 = FloatVector.broadcast(S, q[q3 + x]);
                    a30 = k0.fma(b3, a30);
                    a31 = k1.fma(b3, a31);
                }
                a00.intoArray(s, s0 + c);
                a01.intoArray(s, s0 + c + L);
                a10.intoArray(s, s1 + c);
                a11.intoArray(s, s1 + c + L);
                a20.intoArray(s, s2 + c);
                a21.intoArray(s, s2 + c + L);
                a30.intoArray(s, s3 + c);
                a31.intoArray(s, s3 + c + L);
            }
            for (; c < nc; c += L) {
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                for (int x = 0, kb = c; x < d; x++, kb += BNP) {
                    FloatVector k0 = FloatVector.fromArray(S, kt, kb);
                    a0 = k0.fma(FloatVector.broadcast(S, q[q0 + x]), a0);
                    a1 = k0.fma(FloatVector.broadcast(S, q[q1 + x]), a1);
                    a2 = k0.fma(FloatVector.broadcast(S, q[q2 + x]), a2);
                    a3 = k0.fma(FloatVector.broadcast(S, q[q3 + x]), a3);
                }
                a0.intoArray(s, s0 + c);
                a1.intoArray(s, s1 + c);
                a2.intoArray(s, s2 + c);
                a3.intoArray(s, s3 + c);
            }
        }
        for (; r < nr; r++) {
            final int q0 = r * d, s0 = r * BNP;
            for (int c = 0; c < nc; c += L) {
                FloatVector a0 = FloatVector.zero(S);
                for (int x = 0, kb = c; x < d; x++, kb += BNP) {
                    a0 = FloatVector.fromArray(S, kt, kb).fma(FloatVector.broadcast(S, q[q0 + x]), a0);
                }
                a0.intoArray(s, s0 + c);
            }
        }
    }

    /** {@code o[r] += Σ_c p[r][c]·v[c]} for c < n: vectorised over D, 4 rows × 2 vectors per step. */
    private static void pv(Work w, int nr, int n) {
        final int dp = w.dp;
        final float[] p = w.s, vt = w.vt, o = w.o;
        int r = 0;
        for (; r + 4 <= nr; r += 4) {
            final int p0 = r * BNP, p1 = p0 + BNP, p2 = p1 + BNP, p3 = p2 + BNP;
            final int o0 = r * dp, o1 = o0 + dp, o2 = o1 + dp, o3 = o2 + dp;
            int x = 0;
            for (; x + 2 * L <= dp; x += 2 * L) {
                FloatVector a00 = FloatVector.fromArray(S, o, o0 + x), a01 = FloatVector.fromArray(S, o, o0 + x + L);
                FloatVector a10 = FloatVector.fromArray(S, o, o1 + x), a11 = FloatVector.fromArray(S, o, o1 + x + L);
                FloatVector a20 = FloatVector.fromArray(S, o, o2 + x), a21 = FloatVector.fromArray(S, o, o2 + x + L);
                FloatVector a30 = FloatVector.fromArray(S, o, o3 + x), a31 = FloatVector.fromArray(S, o, o3 + x + L);
                for (int c = 0, vb = x; c < n; c++, vb += dp) {
                    FloatVector v0 = FloatVector.fromArray(S, vt, vb), v1 = FloatVector.fromArray(S, vt, vb + L);
                    FloatVector b0 = FloatVector.broadcast(S, p[p0 + c]);
                    a00 = v0.fma(b0, a00);
                    a01 = v1.fma(b0, a01);
                    FloatVector b1 = FloatVector.broadcast(S, p[p1 + c]);
                    a10 = v0.fma(b1, a10);
                    a11 = v1.fma(b1, a11);
                    FloatVector b2 = FloatVector.broadcast(S, p[p2 + c]);
                    a20 = v0.fma(b2, a20);
                    a21 = v1.fma(b2, a21);
                    FloatVector b3 = FloatVector.broadcast(S, p[p3 + c]);
                    a30 = v0.fma(b3, a30);
                    a31 = v1.fma(b3, a31);
                }
                a00.intoArray(o, o0 + x);
                a01.intoArray(o, o0 + x + L);
                a10.intoArray(o, o1 + x);
                a11.intoArray(o, o1 + x + L);
                a20.intoArray(o, o2 + x);
                a21.intoArray(o, o2 + x + L);
                a30.intoArray(o, o3 + x);
                a31.intoArray(o, o3 + x + L);
            }
            for (; x < dp; x += L) {
                FloatVector a0 = FloatVector.fromArray(S, o, o0 + x), a1 = FloatVector.fromArray(S, o, o1 + x);
                FloatVector a2 = FloatVector.fromArray(S, o, o2 + x), a3 = FloatVector.fromArray(S, o, o3 + x);
                for (int c = 0, vb = x; c < n; c++, vb += dp) {
                    FloatVector v0 = FloatVector.fromArray(S, vt, vb);
                    a0 = v0.fma(FloatVector.broadcast(S, p[p0 + c]), a0);
                    a1 = v0.fma(FloatVector.broadcast(S, p[p1 + c]), a1);
                    a2 = v0.fma(FloatVector.broadcast(S, p[p2 + c]), a2);
                    a3 = v0.fma(FloatVector.broadcast(S, p[p3 + c]), a3);
                }
                a0.intoArray(o, o0 + x);
                a1.intoArray(o, o1 + x);
                a2.intoArray(o, o2 + x);
                a3.intoArray(o, o3 + x);
            }
        }
        for (; r < nr; r++) {
            final int p0 = r * BNP, o0 = r * dp;
            for (int x = 0; x < dp; x += L) {
                FloatVector a0 = FloatVector.fromArray(S, o, o0 + x);
                for (int c = 0, vb = x; c < n; c++, vb += dp) {
                    a0 = FloatVector.fromArray(S, vt, vb).fma(FloatVector.broadcast(S, p[p0 + c]), a0);
                }
                a0.intoArray(o, o0 + x);
            }
        }
    }

    // ---- exp2 ----------------------------------------------------------------------------------------

    // 2^f = e^(f·ln2) for f in [-1/2, 1/2]: Taylor to degree 7 (truncation error < 6e-9).
    private static final float C1 = (float) LN2, C2 = (float) (LN2 * LN2 / 2), C3 = (float) (Math.pow(LN2, 3) / 6),
            C4 = (float) (Math.pow(LN2, 4) / 24), C5 = (float) (Math.pow(LN2, 5) / 120), C6 = (float) (Math.pow(LN2, 6) / 720),
            C7 = (float) (Math.pow(LN2, 7) / 5040);

    /**
     * {@code 2^x} for {@code x ≤ 0} (the softmax's {@code s − max}), about 1 ulp: {@code x = n + f}
     * with integer {@code n} and {@code |f| ≤ 1/2}, {@code 2^f} by polynomial, {@code 2^n} added to
     * the exponent. Below −126 (and at −∞) the result is 0; NaN stays NaN.
     */
    static FloatVector exp2(FloatVector x) {
        FloatVector xc = x.max(-126f).min(0f);
        // n = round(xc): for xc ≤ 0, truncating xc − 1/2 rounds to nearest.
        IntVector n = (IntVector) xc.sub(0.5f).convert(VectorOperators.F2I, 0);
        FloatVector f = xc.sub((FloatVector) n.convert(VectorOperators.I2F, 0));
        FloatVector p = f.fma(C7, C6);
        p = p.fma(f, FloatVector.broadcast(S, C5));
        p = p.fma(f, FloatVector.broadcast(S, C4));
        p = p.fma(f, FloatVector.broadcast(S, C3));
        p = p.fma(f, FloatVector.broadcast(S, C2));
        p = p.fma(f, FloatVector.broadcast(S, C1));
        p = p.fma(f, FloatVector.broadcast(S, 1f));
        FloatVector r = ((IntVector) p.reinterpretAsInts()).add(n.lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
        return r.blend(0f, x.compare(VectorOperators.LT, -126f));
    }

    // ---- threads -------------------------------------------------------------------------------------

    @FunctionalInterface
    private interface Item {
        void run(long item);
    }

    /** Runs items {@code [0, n)} on up to {@link Parallel#threads()} workers pulling from one counter. */
    private static void forEachItem(long n, Item body) {
        if (n <= 0) return;
        int workers = (int) Math.min(Parallel.threads(), n);
        if (workers <= 1) {
            for (long i = 0; i < n; i++) body.run(i);
            return;
        }
        AtomicLong next = new AtomicLong();
        Parallel.forRange(workers, 1, (lo, hi) -> {
            for (long t = lo; t < hi; t++) {
                for (long i; (i = next.getAndIncrement()) < n; ) body.run(i);
            }
        });
    }
}
