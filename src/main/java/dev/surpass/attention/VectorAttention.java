package dev.surpass.attention;

import dev.surpass.backend.Lanes;
import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.LaneTranspose;
import dev.surpass.backend.Parallel;
import dev.surpass.backend.VectorExp;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link Attention}: the FlashAttention algorithm with the Vector API.
 *
 * <p>Prefill works on a block of {@link #BM} query rows of one (sequence, head) at a time and
 * streams the keys in tiles of {@link #BN}. Blocks of more than one vector of rows (the common
 * case) put the query rows in the vector lanes and run both GEMMs as register-blocked micro-kernels
 * (6 × 4 vectors of accumulators; see "prefill, vectorised over query rows" below), reading K and V
 * from a once-per-call fp32 pack ({@code KvPack}). Smaller blocks (short sequences, decode) use the
 * row-major form: {@code S = Q·Kᵀ} is vectorised over the keys (K tile
 * transposed, four query rows times two vectors of keys held in registers), the online softmax runs
 * in the exp2 domain (scores pre-multiplied by {@code scale·log2 e}, a running max {@code m} and
 * sum {@code l} per row, the accumulator rescaled by {@code 2^(m_old − m_new)}), and {@code O += P·V}
 * is vectorised over D. Tiles that no row of the block can see (causal, window) are skipped, not
 * masked; only boundary tiles are masked. The output is normalised once at the end and
 * {@code lse = m·ln 2 + ln l} (natural log). A row that sees no key gives 0 and −∞.
 *
 * <p>Work is spread over threads by (sequence, head, query block), pulled from a shared counter in
 * an order that keeps one head's K/V in a thread's cache and pairs cheap and expensive causal
 * blocks; every item is computed the same way whichever thread takes it, so results do not depend
 * on the thread count. Interior tiles (nothing masked, finite row maxima) take a shorter exp
 * ({@link VectorExp#exp2NonPositiveFast}); boundary tiles the exact one.
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
    /**
     * Decode goes sequence-major ({@link #decodeItem} with every head) when the keys and values it
     * reads come to more than this many bytes: past the caches, one head's rows (d values every
     * hkv·d) are too sparse for the hardware prefetcher, while all heads of a token are one run.
     */
    static final long SEQUENCE_MAJOR_BYTES = 8L << 20;
    /** A decode step with fewer multiply-adds than this runs on the calling thread. */
    private static final long PARALLEL_MIN_FMAS = 1L << 18;

    private static final float LOG2E = (float) (1 / Math.log(2));
    private static final double LN2 = Math.log(2);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

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
        // ALiBi per row: slope·log2 e and the key aligned with the row (bias −slope·|diag − key|)
        final float[] slope = new float[BM], diag = new float[BM];
        final float[] row; // staging for one row (≥ dp, ≥ d)
        // the row-vectorised prefill path (blocks of more than L rows)
        final float[] qt;  // [d][BM] pre-scaled query rows, transposed
        final float[] kn;  // [BN][d] K tile as stored
        final float[] st;  // [BN][BM] scores, then probabilities, transposed
        final float[] ot;  // [dp][BM] unnormalised output, transposed
        final float[] alpha = new float[BM]; // per-row rescale of ot for the current tile
        final int[] rowIdx = new int[L];     // {0, d, 2d, ...}: gathers column x of L rows of q
        int sink;

        Work(int d) {
            this.d = d;
            this.dp = roundUp(d, L);
            q = new float[BM * d];
            kt = new float[d * BNP];
            vt = new float[BN * dp];
            s = new float[BM * BNP];
            o = new float[BM * dp];
            row = new float[dp];
            qt = new float[d * BM];
            kn = new float[BN * d];
            st = new float[BN * BM];
            ot = new float[dp * BM];
            for (int i = 0; i < L; i++) rowIdx[i] = i * d;
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
        // Items are (sequence, head, block of BM rows), head by head so that the items a thread
        // takes one after another stream the same K/V (one head's K/V stays in its L2 cache instead
        // of every item fetching another head's from memory). Within a head the blocks go in pairs
        // from both ends (0, last, 1, last-1, ...): causal costs rise along the sequence, so each
        // pair costs about the same and the two threads stay balanced to the end.
        int items = 0;
        for (int b = 0; b < lay.batch(); b++) items += (lay.nq()[b] + BM - 1) / BM * hq;
        int[] itemSeq = new int[items], itemHead = new int[items], itemRow = new int[items];
        int n = 0;
        for (int b = 0; b < lay.batch(); b++) {
            int nbq = (lay.nq()[b] + BM - 1) / BM;
            for (int h = 0; h < hq; h++) {
                for (int j = 0; j < nbq; j++) {
                    int blk = (j & 1) == 0 ? j >> 1 : nbq - 1 - (j >> 1);
                    itemSeq[n] = b;
                    itemHead[n] = h;
                    itemRow[n] = blk * BM;
                    n++;
                }
            }
        }
        KvPack pack = KvPack.of(ks, vs, dt, hkv, d, lay);
        try {
            forEachItem(items, item -> {
                int it = (int) item;
                prefillBlock(work(d), qs, ks, vs, os, ls, dt, hq, hkv, lay, itemSeq[it], itemHead[it], itemRow[it], o, num, pack);
            });
        } finally {
            if (pack != null) pack.release();
        }
    }

    private static void prefillBlock(Work w, MemorySegment qs, MemorySegment ks, MemorySegment vs, MemorySegment os,
                                     MemorySegment ls, DType dt, int hq, int hkv, Layout lay, int b, int h, int i0,
                                     AttentionOptions o, Numerics num, KvPack pack) {
        int d = w.d;
        int nqb = lay.nq()[b], nkb = lay.nk()[b];
        int nr = Math.min(BM, nqb - i0);
        if (ROW_VECTORS && nr > L) {
            prefillBlockT(w, qs, ks, vs, os, ls, dt, hq, hkv, lay, b, h, i0, nr, o, num, pack);
            return;
        }
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
        boolean alibi = o.hasAlibi();
        if (alibi) {
            for (int r = 0; r < nr; r++) {
                w.slope[r] = o.alibiSlope(h) * LOG2E;
                w.diag[r] = i0 + r + nkb - nqb;
            }
        }
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
            tile(w, nr, n, num.capLog2e(), alibi, t0);
        }
        for (int r = 0; r < nr; r++) {
            float lse = finishRow(w, r);
            long row = (long) (lay.qStart()[b] + i0 + r) * hq + h;
            HostRows.write(w.row, 0, os, dt, row * d, d);
            if (ls != null) ls.setAtIndex(F32, lay.lseBase()[b] + h * lay.lseHeadStride() + i0 + r, lse);
        }
    }

    // ---- prefill, vectorised over query rows -----------------------------------------------------------
    //
    // Blocks of more than L rows run with the query rows in the vector lanes: Q is transposed once
    // per block (qt[x][r]), the K tile is used as stored (its elements are broadcast), and the scores
    // are kept transposed (st[c][r]). Both GEMMs are then register-blocked micro-kernels like
    // VectorGemm's: S = Q·Kᵀ as 6 keys × 4 row vectors (24 accumulators, d steps), O += P·V as
    // 6 head-dim columns × 4 row vectors accumulated into ot[x][r] over the tile's keys. The online
    // softmax is lane-wise too (one lane per row): the row max and sum are vertical, no horizontal
    // reductions, and the rescale 2^(m_old − m_new) of O is folded into the P·V kernel's accumulator
    // load. Only a block's last-row-vector-group padding and boundary tiles are masked.

    /** Whether the row-vectorised path applies: BM is a whole number of 4-vector row groups. */
    private static final boolean ROW_VECTORS = BM % (4 * L) == 0;
    /** {0, BM, 2·BM, ...}: gathers L consecutive head-dim columns of one row of ot. */
    private static final int[] COL_IDX = new int[L];

    static {
        for (int i = 0; i < L; i++) COL_IDX[i] = i * BM;
    }

    /** Row vectors per micro-kernel. */
    private static final int RG = 4 * L;

    private static void prefillBlockT(Work w, MemorySegment qs, MemorySegment ks, MemorySegment vs, MemorySegment os,
                                      MemorySegment ls, DType dt, int hq, int hkv, Layout lay, int b, int h, int i0, int nr,
                                      AttentionOptions o, Numerics num, KvPack pack) {
        final int d = w.d, dp = w.dp;
        final int nqb = lay.nq()[b], nkb = lay.nk()[b];
        final int g = h / (hq / hkv);
        final float[] qt = w.qt, row = w.row, m = w.m, l = w.l;
        final float qScale = num.qScale();
        int kLo = Integer.MAX_VALUE, kHi = -1;
        final float[] q = w.q;
        for (int r = 0; r < BM; r++) {
            if (r < nr) {
                long off = ((long) (lay.qStart()[b] + i0 + r) * hq + h) * d;
                HostRows.read(qs, dt, off, q, r * d, d);
                int lo = o.keyLo(i0 + r, nqb, nkb), hi = o.keyHi(i0 + r, nqb, nkb);
                w.lo[r] = lo;
                w.hi[r] = hi;
                if (lo <= hi) {
                    kLo = Math.min(kLo, lo);
                    kHi = Math.max(kHi, hi);
                }
            } else { // padding lanes: zero queries that see no key
                Arrays.fill(q, r * d, r * d + d, 0f);
                w.lo[r] = Integer.MAX_VALUE;
                w.hi[r] = -1;
            }
        }
        // qt[x][r] = q[r][x]·scale: a gather of L rows' column x per vector
        if (d % L == 0) {
            for (int r0 = 0; r0 < BM; r0 += L) {
                for (int x = 0; x < d; x++) {
                    FloatVector.fromArray(S, q, r0 * d + x, w.rowIdx, 0).mul(qScale).intoArray(qt, x * BM + r0);
                }
            }
        } else {
            for (int r = 0; r < BM; r++) {
                for (int x = 0, at = r; x < d; x++, at += BM) qt[at] = q[r * d + x] * qScale;
            }
        }
        Arrays.fill(m, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0f);
        Arrays.fill(w.ot, 0, dp * BM, 0f);
        final float slope = o.alibiSlope(h) * LOG2E; // 0: no ALiBi
        if (slope != 0f) for (int r = 0; r < BM; r++) w.diag[r] = i0 + r + nkb - nqb;
        long kRow0 = (long) lay.kStart()[b] * hkv + g;
        final float[] kArr = pack != null ? pack.k : w.kn, vArr = pack != null ? pack.v : w.vt;
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
            int kBase, vBase;
            if (pack != null) {
                kBase = pack.kOff[b * hkv + g] + t0 * d;
                vBase = pack.vOff[b * hkv + g] + t0 * dp;
            } else {
                kBase = 0;
                vBase = 0;
                loadRows(ks, vs, dt, kRow0 + (long) t0 * hkv, (long) hkv * d, n, d, dp, kArr, 0, vArr, 0);
            }
            if (pack != null && c0 + BN <= kHi) {
                // Touch one element per cache line of the next tile so that it is on its way into
                // the cache while this one is computed (rows of a head are far apart in the
                // tensors, but contiguous in the pack): measured 10-20% faster at N1024 D128.
                int nn = (int) Math.min(BN, kHi - c0 - BN + 1);
                // (integer xor, not a float sum: a chain of dependent float adds cost ~10%)
                int sink = 0;
                for (int i = kBase + BN * d, e = i + nn * d; i < e; i += 16) sink ^= Float.floatToRawIntBits(kArr[i]);
                for (int i = vBase + BN * dp, e = i + nn * dp; i < e; i += 16) sink ^= Float.floatToRawIntBits(vArr[i]);
                w.sink ^= sink;
            }
            int nc = qkT(w, kArr, kBase, n);
            boolean masked = maskT(w, nr, nc, num.capLog2e(), slope, t0);
            softmaxT(w, nc, masked, nr);
            pvT(w, vArr, vBase, n);
        }
        for (int r = 0; r < nr; r++) {
            float lr = l[r], lse;
            if (!(lr > 0)) {
                Arrays.fill(row, 0, d, 0f);
                lse = Float.NEGATIVE_INFINITY;
            } else {
                float inv = 1f / lr;
                int x = 0;
                for (; x + L <= d; x += L) FloatVector.fromArray(S, w.ot, x * BM + r, COL_IDX, 0).mul(inv).intoArray(row, x);
                for (int at = x * BM + r; x < d; x++, at += BM) row[x] = w.ot[at] * inv;
                lse = (float) (m[r] * LN2 + Math.log(lr));
            }
            long at = (long) (lay.qStart()[b] + i0 + r) * hq + h;
            HostRows.write(row, 0, os, dt, at * d, d);
            if (ls != null) ls.setAtIndex(F32, lay.lseBase()[b] + h * lay.lseHeadStride() + i0 + r, lse);
        }
    }

    /**
     * Rows {@code 0..n-1} of K and V, row c starting at element {@code row0·d + c·rowStride} of
     * the [rows, Hkv, D] tensors ({@code row0} counts rows of d elements), widened
     * into {@code k[kAt + c·d ..]} and {@code v[vAt + c·dp ..]} (V's columns d..dp set to zero).
     * fp32 rows that are whole vectors go by vector loads (a bulk copy call per 512-byte row costs
     * more than the copy); other dtypes through {@link HostRows}.
     */
    private static void loadRows(MemorySegment ks, MemorySegment vs, DType dt, long row0, long rowStride, int n, int d,
                                 int dp, float[] k, int kAt, float[] v, int vAt) {
        long first = row0 * d;
        if (dt == DType.F32 && d % L == 0 && n > 0) {
            long last = (first + (n - 1) * rowStride + d) * 4L;
            if (last > ks.byteSize() || last > vs.byteSize()) throw new IndexOutOfBoundsException("K/V rows");
            ByteOrder bo = ByteOrder.nativeOrder();
            for (int c = 0; c < n; c++) {
                long at = (first + c * rowStride) * 4L;
                int kr = kAt + c * d, vr = vAt + c * dp;
                for (int x = 0; x < d; x += L) {
                    FloatVector.fromMemorySegment(S, ks, at + x * 4L, bo).intoArray(k, kr + x);
                    FloatVector.fromMemorySegment(S, vs, at + x * 4L, bo).intoArray(v, vr + x);
                }
                for (int x = d; x < dp; x++) v[vr + x] = 0f;
            }
            return;
        }
        for (int c = 0; c < n; c++) {
            long off = first + c * rowStride;
            HostRows.read(ks, dt, off, k, kAt + c * d, d);
            HostRows.read(vs, dt, off, v, vAt + c * dp, d);
            for (int x = d; x < dp; x++) v[vAt + c * dp + x] = 0f;
        }
    }

    /**
     * K and V of a whole call widened to fp32 once, each (sequence, kv-head) contiguous: K rows of
     * d at {@code k[kOff[b·Hkv+g] + t·d]}, V rows of dp at {@code v[vOff[..] + t·dp]}, plus BN rows
     * of slack at the end (score micro-kernels may read past a tile's last key; those scores are
     * masked). Tiles are then read in place, contiguous and prefetch-friendly, instead of being
     * gathered (rows Hkv·D apart) for every query block. Buffers are pooled across calls.
     */
    private static final class KvPack {
        /** Largest K+V pack in bytes; bigger calls gather each tile instead. */
        static final long LIMIT = Long.getLong("surpass.attention.packBytes", 512L << 20);
        private static final java.util.concurrent.atomic.AtomicReference<java.lang.ref.SoftReference<float[][]>> POOL =
                new java.util.concurrent.atomic.AtomicReference<>();

        final float[] k, v;
        final int[] kOff, vOff;

        private KvPack(float[] k, float[] v, int[] kOff, int[] vOff) {
            this.k = k;
            this.v = v;
            this.kOff = kOff;
            this.vOff = vOff;
        }

        /** The pack for a prefill call, or null when no block takes the row-vectorised path or it is too big. */
        static KvPack of(MemorySegment ks, MemorySegment vs, DType dt, int hkv, int d, Layout lay) {
            if (!ROW_VECTORS) return null;
            int dp = roundUp(d, L), batch = lay.batch();
            boolean wide = false;
            long rows = 0;
            for (int b = 0; b < batch; b++) {
                wide |= lay.nq()[b] > L;
                rows += lay.nk()[b];
            }
            rows = rows * hkv + BN;
            long kLen = rows * d, vLen = rows * dp;
            if (!wide || (kLen + vLen) * 4 > LIMIT || vLen > Integer.MAX_VALUE - 16) return null;
            int[] kOff = new int[batch * hkv], vOff = new int[batch * hkv];
            long r = 0;
            for (int b = 0; b < batch; b++) {
                for (int g = 0; g < hkv; g++) {
                    kOff[b * hkv + g] = (int) (r * d);
                    vOff[b * hkv + g] = (int) (r * dp);
                    r += lay.nk()[b];
                }
            }
            java.lang.ref.SoftReference<float[][]> ref = POOL.getAndSet(null);
            float[][] bufs = ref == null ? null : ref.get();
            float[] k = bufs != null && bufs[0].length >= kLen ? bufs[0] : new float[(int) kLen];
            float[] v = bufs != null && bufs[1].length >= vLen ? bufs[1] : new float[(int) vLen];
            forEachItem((long) batch * hkv, item -> {
                int b = (int) (item / hkv), g = (int) (item % hkv);
                loadRows(ks, vs, dt, (long) lay.kStart()[b] * hkv + g, (long) hkv * d, lay.nk()[b], d, dp,
                        k, kOff[(int) item], v, vOff[(int) item]);
            });
            return new KvPack(k, v, kOff, vOff);
        }

        /** Hands the buffers back to the pool. */
        void release() {
            POOL.set(new java.lang.ref.SoftReference<>(new float[][] {k, v}));
        }
    }

    /** {@code st[c][·] = kn[c] · qt} for the tile's keys, in chunks of 6 (then 2); returns the keys computed (≥ n). */
    private static int qkT(Work w, float[] kn, int kBase, int n) {
        final int d = w.d;
        final float[] qt = w.qt, st = w.st;
        int c = 0;
        for (; c < n && c + 6 <= BN; c += 6) {
            for (int r0 = 0; r0 < BM; r0 += RG) qk6(qt, kn, kBase, st, d, c, r0);
        }
        for (; c < n; c += 2) {
            for (int r0 = 0; r0 < BM; r0 += RG) qk2(qt, kn, kBase, st, d, c, r0);
        }
        return c;
    }

    /** Scores of keys c..c+5 for rows r0..r0+4L: 24 accumulators over d steps. */
    private static void qk6(float[] qt, float[] kn, int kBase, float[] st, int d, int c, int r0) {
        FloatVector z = FloatVector.zero(S);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        FloatVector a40 = z, a41 = z, a42 = z, a43 = z, a50 = z, a51 = z, a52 = z, a53 = z;
        final int k0 = kBase + c * d, k1 = k0 + d, k2 = k1 + d, k3 = k2 + d, k4 = k3 + d, k5 = k4 + d;
        for (int x = 0; x < d; x++) {
            final int qb = r0 + x * BM; // one induction variable, so the bounds checks hoist
            FloatVector q0 = FloatVector.fromArray(S, qt, qb), q1 = FloatVector.fromArray(S, qt, qb + L);
            FloatVector q2 = FloatVector.fromArray(S, qt, qb + 2 * L), q3 = FloatVector.fromArray(S, qt, qb + 3 * L);
            FloatVector k;
            k = FloatVector.broadcast(S, kn[k0 + x]);
            a00 = q0.fma(k, a00); a01 = q1.fma(k, a01); a02 = q2.fma(k, a02); a03 = q3.fma(k, a03);
            k = FloatVector.broadcast(S, kn[k1 + x]);
            a10 = q0.fma(k, a10); a11 = q1.fma(k, a11); a12 = q2.fma(k, a12); a13 = q3.fma(k, a13);
            k = FloatVector.broadcast(S, kn[k2 + x]);
            a20 = q0.fma(k, a20); a21 = q1.fma(k, a21); a22 = q2.fma(k, a22); a23 = q3.fma(k, a23);
            k = FloatVector.broadcast(S, kn[k3 + x]);
            a30 = q0.fma(k, a30); a31 = q1.fma(k, a31); a32 = q2.fma(k, a32); a33 = q3.fma(k, a33);
            k = FloatVector.broadcast(S, kn[k4 + x]);
            a40 = q0.fma(k, a40); a41 = q1.fma(k, a41); a42 = q2.fma(k, a42); a43 = q3.fma(k, a43);
            k = FloatVector.broadcast(S, kn[k5 + x]);
            a50 = q0.fma(k, a50); a51 = q1.fma(k, a51); a52 = q2.fma(k, a52); a53 = q3.fma(k, a53);
        }
        int s0 = c * BM + r0;
        a00.intoArray(st, s0); a01.intoArray(st, s0 + L); a02.intoArray(st, s0 + 2 * L); a03.intoArray(st, s0 + 3 * L);
        s0 += BM;
        a10.intoArray(st, s0); a11.intoArray(st, s0 + L); a12.intoArray(st, s0 + 2 * L); a13.intoArray(st, s0 + 3 * L);
        s0 += BM;
        a20.intoArray(st, s0); a21.intoArray(st, s0 + L); a22.intoArray(st, s0 + 2 * L); a23.intoArray(st, s0 + 3 * L);
        s0 += BM;
        a30.intoArray(st, s0); a31.intoArray(st, s0 + L); a32.intoArray(st, s0 + 2 * L); a33.intoArray(st, s0 + 3 * L);
        s0 += BM;
        a40.intoArray(st, s0); a41.intoArray(st, s0 + L); a42.intoArray(st, s0 + 2 * L); a43.intoArray(st, s0 + 3 * L);
        s0 += BM;
        a50.intoArray(st, s0); a51.intoArray(st, s0 + L); a52.intoArray(st, s0 + 2 * L); a53.intoArray(st, s0 + 3 * L);
    }

    /** Scores of keys c, c+1 for rows r0..r0+4L. */
    private static void qk2(float[] qt, float[] kn, int kBase, float[] st, int d, int c, int r0) {
        FloatVector z = FloatVector.zero(S);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        final int k0 = kBase + c * d, k1 = k0 + d;
        for (int x = 0; x < d; x++) {
            final int qb = r0 + x * BM; // one induction variable, so the bounds checks hoist
            FloatVector q0 = FloatVector.fromArray(S, qt, qb), q1 = FloatVector.fromArray(S, qt, qb + L);
            FloatVector q2 = FloatVector.fromArray(S, qt, qb + 2 * L), q3 = FloatVector.fromArray(S, qt, qb + 3 * L);
            FloatVector k;
            k = FloatVector.broadcast(S, kn[k0 + x]);
            a00 = q0.fma(k, a00); a01 = q1.fma(k, a01); a02 = q2.fma(k, a02); a03 = q3.fma(k, a03);
            k = FloatVector.broadcast(S, kn[k1 + x]);
            a10 = q0.fma(k, a10); a11 = q1.fma(k, a11); a12 = q2.fma(k, a12); a13 = q3.fma(k, a13);
        }
        int s0 = c * BM + r0;
        a00.intoArray(st, s0); a01.intoArray(st, s0 + L); a02.intoArray(st, s0 + 2 * L); a03.intoArray(st, s0 + 3 * L);
        s0 += BM;
        a10.intoArray(st, s0); a11.intoArray(st, s0 + L); a12.intoArray(st, s0 + 2 * L); a13.intoArray(st, s0 + 3 * L);
    }

    /**
     * ALiBi on a transposed score tile: {@code st[c][r] −= slope·|diag[r] − (t0 + c)|} (slope in the
     * base-2 domain); called by {@link #maskT} after the softcap, as FlashAttention orders them.
     */
    private static void alibiT(Work w, int nc, float slope, int t0) {
        final float[] st = w.st;
        FloatVector neg = FloatVector.broadcast(S, -slope);
        for (int r = 0; r < BM; r += L) {
            FloatVector dg = FloatVector.fromArray(S, w.diag, r);
            for (int c = 0, at = r; c < nc; c++, at += BM) {
                FloatVector dist = dg.sub((float) (t0 + c)).abs();
                dist.fma(neg, FloatVector.fromArray(S, st, at)).intoArray(st, at);
            }
        }
    }

    /**
     * Softcap, ALiBi ({@code slope ≠ 0}, tile starting at key {@code t0}), then −∞ for every (key, row) the row does not see: keys outside {@code [tlo, thi]}
     * (rows past {@code nr} see nothing). Interior tiles (every row sees every key) are untouched.
     */
    private static boolean maskT(Work w, int nr, int nc, float capLog2e, float slope, int t0) {
        final float[] st = w.st;
        if (capLog2e != 0f) {
            for (int i = 0; i < nc * BM; i += L) {
                // VectorExp.tanh, not lanewise(TANH): that one changes by an ulp once JIT-compiled (SVML)
                VectorExp.tanh(FloatVector.fromArray(S, st, i)).mul(capLog2e).intoArray(st, i);
            }
        }
        if (slope != 0f) alibiT(w, nc, slope, t0);
        boolean interior = nr == BM;
        for (int r = 0; r < nr && interior; r++) interior = w.tlo[r] == 0 && w.thi[r] >= nc - 1;
        if (interior) return false;
        for (int r = 0; r < BM; r++) {
            int a = r < nr ? w.tlo[r] : nc, z = r < nr ? w.thi[r] : nc - 1;
            if (a > z) {
                a = nc;
                z = nc - 1;
            }
            for (int c = 0, at = r; c < Math.min(a, nc); c++, at += BM) st[at] = Float.NEGATIVE_INFINITY;
            for (int c = z + 1, at = (z + 1) * BM + r; c < nc; c++, at += BM) st[at] = Float.NEGATIVE_INFINITY;
        }
        return true;
    }

    /**
     * Online softmax over the tile, one lane per row: m_new = max(m, max_c s), p = 2^(s − m_new)
     * in place, l = l·α + Σ p with α = 2^(m − m_new) kept for {@link #pvT}. A row with no finite
     * score yet keeps m = −∞ and gets p = 0, α = 0 (its O is zero anyway). Only the row vectors
     * holding the block's {@code nr} rows take the exponentials; the padding vectors past them get
     * p = 0 and α = 0 (a 20-token sentence: 2 of the 4 vectors, half the exps).
     */
    private static void softmaxT(Work w, int nc, boolean masked, int nr) {
        final float[] st = w.st, m = w.m, l = w.l, alpha = w.alpha;
        final int used = (nr + L - 1) / L * L;
        for (int r = used; r < BM; r += L) {
            for (int c = 0, at = r; c < nc; c++, at += BM) FloatVector.zero(S).intoArray(st, at);
            FloatVector.zero(S).intoArray(alpha, r);
        }
        for (int r = 0; r < used; r += L) {
            FloatVector vmax = tileMax(st, r, nc);
            FloatVector mOld = FloatVector.fromArray(S, m, r);
            FloatVector mNew = mOld.max(vmax);
            // −∞ − (−∞) would be NaN: subtract 0 instead where nothing is visible yet
            VectorMask<Float> none = mNew.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY);
            FloatVector mSub = mNew.blend(0f, none);
            // nothing masked and every row has a finite maximum: an underflow (below 2^−126 of the
            // maximum) need not be exactly 0
            FloatVector vsum = masked || none.anyTrue() ? expSumExact(st, r, nc, mSub) : expSumFast(st, r, nc, mSub);
            FloatVector a = VectorExp.exp2NonPositive(mOld.sub(mSub));
            a.intoArray(alpha, r);
            FloatVector.fromArray(S, l, r).fma(a, vsum).intoArray(l, r);
            mNew.intoArray(m, r);
        }
    }

    /** {@code max_c st[c][r..r+L)} over c < nc (nc ≥ 1), four chains (max is exact: any order gives the same). */
    private static FloatVector tileMax(float[] st, int r, int nc) {
        FloatVector m0 = FloatVector.fromArray(S, st, r), m1 = m0, m2 = m0, m3 = m0;
        int c = 1;
        for (; c + 3 < nc; c += 4) {
            int at = r + c * BM;
            m0 = m0.max(FloatVector.fromArray(S, st, at));
            m1 = m1.max(FloatVector.fromArray(S, st, at + BM));
            m2 = m2.max(FloatVector.fromArray(S, st, at + 2 * BM));
            m3 = m3.max(FloatVector.fromArray(S, st, at + 3 * BM));
        }
        for (; c < nc; c++) m0 = m0.max(FloatVector.fromArray(S, st, r + c * BM));
        return m0.max(m1).max(m2.max(m3));
    }

    // The exp loops write VectorExp's operations out in place: a call to it inside the loop is
    // inlined or not depending on what C2 compiled first (it refuses a callee already compiled on its
    // own into a "medium method", or stops at NodeCountInliningCutoff), and a call that is not inlined
    // boxes every vector: the softmax then varied 2-4x from one JVM run to the next. Only Vector API
    // calls (always inlined) are left in these loops.

    /**
     * {@code st[c][r..r+L) = 2^(st[c][r..r+L) − m)} for c < nc, exactly 0 where masked (as
     * {@link VectorExp#exp2NonPositive}); returns the sum over c.
     */
    private static FloatVector expSumExact(float[] st, int r, int nc, FloatVector m) {
        FloatVector sum = FloatVector.zero(S);
        for (int c = 0; c < nc; c++) {
            int at = r + c * BM;
            FloatVector in = FloatVector.fromArray(S, st, at).sub(m);
            VectorMask<Float> under = in.compare(VectorOperators.LT, -126f);
            FloatVector x = in.blend(-126f, under);
            x = x.blend(0f, x.compare(VectorOperators.GT, 0f));
            FloatVector t = x.add(VectorExp.ROUND_MAGIC);
            FloatVector f = x.sub(t.sub(VectorExp.ROUND_MAGIC));
            FloatVector p = f.fma(VectorExp.P6, VectorExp.P5).fma(f, FloatVector.broadcast(S, VectorExp.P4))
                    .fma(f, FloatVector.broadcast(S, VectorExp.P3)).fma(f, FloatVector.broadcast(S, VectorExp.P2))
                    .fma(f, FloatVector.broadcast(S, VectorExp.P1)).fma(f, FloatVector.broadcast(S, 1f));
            IntVector e = ((IntVector) t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23);
            p = ((IntVector) p.reinterpretAsInts()).add(e).reinterpretAsFloats().blend(0f, under);
            p.intoArray(st, at);
            sum = sum.add(p);
        }
        return sum;
    }

    /**
     * As {@link #expSumExact} for a tile where nothing is masked and m is finite (as
     * {@link VectorExp#exp2NonPositiveFast}: an underflow gives at most 1.5·2^−126, not 0).
     */
    private static FloatVector expSumFast(float[] st, int r, int nc, FloatVector m) {
        FloatVector sum = FloatVector.zero(S);
        for (int c = 0; c < nc; c++) {
            int at = r + c * BM;
            FloatVector x = FloatVector.fromArray(S, st, at).sub(m);
            x = x.blend(-126f, x.compare(VectorOperators.LT, -126f));
            FloatVector t = x.add(VectorExp.ROUND_MAGIC);
            FloatVector f = x.sub(t.sub(VectorExp.ROUND_MAGIC));
            FloatVector p = f.fma(VectorExp.P6, VectorExp.P5).fma(f, FloatVector.broadcast(S, VectorExp.P4))
                    .fma(f, FloatVector.broadcast(S, VectorExp.P3)).fma(f, FloatVector.broadcast(S, VectorExp.P2))
                    .fma(f, FloatVector.broadcast(S, VectorExp.P1)).fma(f, FloatVector.broadcast(S, 1f));
            IntVector e = ((IntVector) t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23);
            p = ((IntVector) p.reinterpretAsInts()).add(e).reinterpretAsFloats();
            p.intoArray(st, at);
            sum = sum.add(p);
        }
        return sum;
    }

    /** {@code ot[x][r] = α[r]·ot[x][r] + Σ_{c<n} v[c][x]·p[c][r]}, in chunks of 6 head-dim columns (then 2). */
    private static void pvT(Work w, float[] vt, int vBase, int n) {
        final int dp = w.dp;
        final float[] st = w.st, ot = w.ot, alpha = w.alpha;
        int x = 0;
        for (; x + 6 <= dp; x += 6) {
            for (int r0 = 0; r0 < BM; r0 += RG) pv6(vt, vBase, st, ot, alpha, dp, n, x, r0);
        }
        for (; x < dp; x += 2) {
            for (int r0 = 0; r0 < BM; r0 += RG) pv2(vt, vBase, st, ot, alpha, dp, n, x, r0);
        }
    }

    private static void pv6(float[] vt, int vBase, float[] st, float[] ot, float[] alpha, int dp, int n, int x, int r0) {
        FloatVector al0 = FloatVector.fromArray(S, alpha, r0), al1 = FloatVector.fromArray(S, alpha, r0 + L);
        FloatVector al2 = FloatVector.fromArray(S, alpha, r0 + 2 * L), al3 = FloatVector.fromArray(S, alpha, r0 + 3 * L);
        final int o0 = x * BM + r0, o1 = o0 + BM, o2 = o1 + BM, o3 = o2 + BM, o4 = o3 + BM, o5 = o4 + BM;
        FloatVector a00 = FloatVector.fromArray(S, ot, o0).mul(al0), a01 = FloatVector.fromArray(S, ot, o0 + L).mul(al1);
        FloatVector a02 = FloatVector.fromArray(S, ot, o0 + 2 * L).mul(al2), a03 = FloatVector.fromArray(S, ot, o0 + 3 * L).mul(al3);
        FloatVector a10 = FloatVector.fromArray(S, ot, o1).mul(al0), a11 = FloatVector.fromArray(S, ot, o1 + L).mul(al1);
        FloatVector a12 = FloatVector.fromArray(S, ot, o1 + 2 * L).mul(al2), a13 = FloatVector.fromArray(S, ot, o1 + 3 * L).mul(al3);
        FloatVector a20 = FloatVector.fromArray(S, ot, o2).mul(al0), a21 = FloatVector.fromArray(S, ot, o2 + L).mul(al1);
        FloatVector a22 = FloatVector.fromArray(S, ot, o2 + 2 * L).mul(al2), a23 = FloatVector.fromArray(S, ot, o2 + 3 * L).mul(al3);
        FloatVector a30 = FloatVector.fromArray(S, ot, o3).mul(al0), a31 = FloatVector.fromArray(S, ot, o3 + L).mul(al1);
        FloatVector a32 = FloatVector.fromArray(S, ot, o3 + 2 * L).mul(al2), a33 = FloatVector.fromArray(S, ot, o3 + 3 * L).mul(al3);
        FloatVector a40 = FloatVector.fromArray(S, ot, o4).mul(al0), a41 = FloatVector.fromArray(S, ot, o4 + L).mul(al1);
        FloatVector a42 = FloatVector.fromArray(S, ot, o4 + 2 * L).mul(al2), a43 = FloatVector.fromArray(S, ot, o4 + 3 * L).mul(al3);
        FloatVector a50 = FloatVector.fromArray(S, ot, o5).mul(al0), a51 = FloatVector.fromArray(S, ot, o5 + L).mul(al1);
        FloatVector a52 = FloatVector.fromArray(S, ot, o5 + 2 * L).mul(al2), a53 = FloatVector.fromArray(S, ot, o5 + 3 * L).mul(al3);
        for (int c = 0; c < n; c++) {
            final int vb = vBase + x + c * dp, pb = r0 + c * BM; // one induction variable
            FloatVector p0 = FloatVector.fromArray(S, st, pb), p1 = FloatVector.fromArray(S, st, pb + L);
            FloatVector p2 = FloatVector.fromArray(S, st, pb + 2 * L), p3 = FloatVector.fromArray(S, st, pb + 3 * L);
            FloatVector v;
            v = FloatVector.broadcast(S, vt[vb]);
            a00 = p0.fma(v, a00); a01 = p1.fma(v, a01); a02 = p2.fma(v, a02); a03 = p3.fma(v, a03);
            v = FloatVector.broadcast(S, vt[vb + 1]);
            a10 = p0.fma(v, a10); a11 = p1.fma(v, a11); a12 = p2.fma(v, a12); a13 = p3.fma(v, a13);
            v = FloatVector.broadcast(S, vt[vb + 2]);
            a20 = p0.fma(v, a20); a21 = p1.fma(v, a21); a22 = p2.fma(v, a22); a23 = p3.fma(v, a23);
            v = FloatVector.broadcast(S, vt[vb + 3]);
            a30 = p0.fma(v, a30); a31 = p1.fma(v, a31); a32 = p2.fma(v, a32); a33 = p3.fma(v, a33);
            v = FloatVector.broadcast(S, vt[vb + 4]);
            a40 = p0.fma(v, a40); a41 = p1.fma(v, a41); a42 = p2.fma(v, a42); a43 = p3.fma(v, a43);
            v = FloatVector.broadcast(S, vt[vb + 5]);
            a50 = p0.fma(v, a50); a51 = p1.fma(v, a51); a52 = p2.fma(v, a52); a53 = p3.fma(v, a53);
        }
        a00.intoArray(ot, o0); a01.intoArray(ot, o0 + L); a02.intoArray(ot, o0 + 2 * L); a03.intoArray(ot, o0 + 3 * L);
        a10.intoArray(ot, o1); a11.intoArray(ot, o1 + L); a12.intoArray(ot, o1 + 2 * L); a13.intoArray(ot, o1 + 3 * L);
        a20.intoArray(ot, o2); a21.intoArray(ot, o2 + L); a22.intoArray(ot, o2 + 2 * L); a23.intoArray(ot, o2 + 3 * L);
        a30.intoArray(ot, o3); a31.intoArray(ot, o3 + L); a32.intoArray(ot, o3 + 2 * L); a33.intoArray(ot, o3 + 3 * L);
        a40.intoArray(ot, o4); a41.intoArray(ot, o4 + L); a42.intoArray(ot, o4 + 2 * L); a43.intoArray(ot, o4 + 3 * L);
        a50.intoArray(ot, o5); a51.intoArray(ot, o5 + L); a52.intoArray(ot, o5 + 2 * L); a53.intoArray(ot, o5 + 3 * L);
    }

    private static void pv2(float[] vt, int vBase, float[] st, float[] ot, float[] alpha, int dp, int n, int x, int r0) {
        FloatVector al0 = FloatVector.fromArray(S, alpha, r0), al1 = FloatVector.fromArray(S, alpha, r0 + L);
        FloatVector al2 = FloatVector.fromArray(S, alpha, r0 + 2 * L), al3 = FloatVector.fromArray(S, alpha, r0 + 3 * L);
        final int o0 = x * BM + r0, o1 = o0 + BM;
        FloatVector a00 = FloatVector.fromArray(S, ot, o0).mul(al0), a01 = FloatVector.fromArray(S, ot, o0 + L).mul(al1);
        FloatVector a02 = FloatVector.fromArray(S, ot, o0 + 2 * L).mul(al2), a03 = FloatVector.fromArray(S, ot, o0 + 3 * L).mul(al3);
        FloatVector a10 = FloatVector.fromArray(S, ot, o1).mul(al0), a11 = FloatVector.fromArray(S, ot, o1 + L).mul(al1);
        FloatVector a12 = FloatVector.fromArray(S, ot, o1 + 2 * L).mul(al2), a13 = FloatVector.fromArray(S, ot, o1 + 3 * L).mul(al3);
        for (int c = 0; c < n; c++) {
            final int vb = vBase + x + c * dp, pb = r0 + c * BM; // one induction variable
            FloatVector p0 = FloatVector.fromArray(S, st, pb), p1 = FloatVector.fromArray(S, st, pb + L);
            FloatVector p2 = FloatVector.fromArray(S, st, pb + 2 * L), p3 = FloatVector.fromArray(S, st, pb + 3 * L);
            FloatVector v;
            v = FloatVector.broadcast(S, vt[vb]);
            a00 = p0.fma(v, a00); a01 = p1.fma(v, a01); a02 = p2.fma(v, a02); a03 = p3.fma(v, a03);
            v = FloatVector.broadcast(S, vt[vb + 1]);
            a10 = p0.fma(v, a10); a11 = p1.fma(v, a11); a12 = p2.fma(v, a12); a13 = p3.fma(v, a13);
        }
        a00.intoArray(ot, o0); a01.intoArray(ot, o0 + L); a02.intoArray(ot, o0 + 2 * L); a03.intoArray(ot, o0 + 3 * L);
        a10.intoArray(ot, o1); a11.intoArray(ot, o1 + L); a12.intoArray(ot, o1 + 2 * L); a13.intoArray(ot, o1 + 3 * L);
    }

    // ---- decode ------------------------------------------------------------------------------------

    /**
     * Split size for decode: no split for sequences up to {@link #MIN_SPLIT_TOKENS}; otherwise
     * enough chunks that the items (sequences × kv-heads, or sequences alone when the step reads
     * more than {@link #SEQUENCE_MAJOR_BYTES} of keys and values: {@code kvBytes}) times chunks
     * keep every thread busy twice over.
     */
    static int defaultSplitTokens(int batch, int hkv, int maxLen, long kvBytes) {
        if (maxLen <= MIN_SPLIT_TOKENS) return Integer.MAX_VALUE;
        long items = kvBytes > SEQUENCE_MAJOR_BYTES ? batch : (long) batch * hkv;
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
        decode(q, cache, seqIds, out, lse, o, splitTokens, SEQUENCE_MAJOR_BYTES);
    }

    /** As above, sequence-major when the visible keys and values come to more than {@code sequenceMajorBytes} (tests force either way). */
    static void decode(Tensor q, PagedKvCache cache, int[] seqIds, Tensor out, Tensor lse, AttentionOptions o,
                       int splitTokens, long sequenceMajorBytes) {
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
        long fmas = 0, kvBytes = 0;
        for (int b = 0; b < batch; b++) {
            int len = cache.length(seqIds[b]);
            pages[b] = cache.pageTable(seqIds[b]);
            lo[b] = causal.keyLo(0, 1, len);
            hi[b] = causal.keyHi(0, 1, len);
            long visible = Math.max(0, hi[b] - lo[b] + 1);
            fmas += 2L * visible * hq * d; // q·k and p·v per visible key and head
            kvBytes += 2L * visible * hkv * d * dt.byteSize();
            splits[b] = (int) Math.max(1, (visible + splitTokens - 1) / splitTokens);
            maxSplits = Math.max(maxSplits, splits[b]);
        }
        int chunks = (group + BM - 1) / BM; // heads of one group per block
        int ms = maxSplits;
        float[] partO = new float[batch * hq * ms * d];
        float[] partL = new float[batch * hq * ms];
        long items = (long) batch * hkv * chunks * ms;
        // A short context (a small model's decode step) is a few microseconds of work: cheaper on
        // the caller than handing out to the team (whose worker would then spin between steps).
        boolean parallel = fmas >= PARALLEL_MIN_FMAS;
        // Past the caches one head's keys (d values every hkv·d: a page's tokens hold all heads) are
        // too sparse for the hardware prefetcher, so a long context goes sequence-major: one item
        // per (sequence, split) with every head. Otherwise one item per (sequence, kv head, block
        // of its query heads, split). Both run decodeItem: the same steps per head, the same code.
        if (group <= BM && kvBytes > sequenceMajorBytes) {
            forEachItem((long) batch * ms, parallel, item -> {
                int s = (int) (item % ms), b = (int) (item / ms);
                decodeItem(qs, ks, vs, dt, hq, hkv, d, ps, pages[b], lo[b], hi[b], splits[b], splitTokens, b, s, ms, 0, hkv, 0, group,
                        num, partO, partL, causal);
            });
        } else {
            forEachItem(items, parallel, item -> {
                int s = (int) (item % ms);
                long rest = item / ms;
                int chunk = (int) (rest % chunks);
                rest /= chunks;
                int g = (int) (rest % hkv), b = (int) (rest / hkv);
                int r0 = chunk * BM, nr = Math.min(BM, group - r0);
                decodeItem(qs, ks, vs, dt, hq, hkv, d, ps, pages[b], lo[b], hi[b], splits[b], splitTokens, b, s, ms, g, g + 1, r0, nr,
                        num, partO, partL, causal);
            });
        }
        forEachItem((long) batch * hq, parallel, bh -> {
            Work w = work(d);
            int p0 = (int) bh * ms;
            float l = merge(partO, partL, p0, ms, d, w.row);
            HostRows.write(w.row, 0, os, dt, bh * d, d);
            if (ls != null) ls.setAtIndex(F32, bh, l);
        });
    }

    /**
     * One item of {@link #decode}: split {@code s} of sequence {@code b}, kv heads {@code [g0, g1)},
     * query rows {@code [r0, r0+nr)} of each one's group. Tile by tile, the next tile's rows of
     * those heads (one contiguous run per token) are touched one tile ahead so they are in flight
     * together; then each kv head's keys are loaded and its query rows stepped. With several heads
     * their running (m, l, O) are kept per head between tiles and swapped through the thread's
     * {@link Work}, so each head goes through the same steps in the same order as an item of its
     * own: the parts, and the merged result, do not depend on how heads are grouped into items.
     */
    private static void decodeItem(MemorySegment qs, MemorySegment ks, MemorySegment vs, DType dt, int hq, int hkv, int d, int ps,
                                   int[] pt, int lo, int hi, int splits, int splitTokens, int b, int s, int ms, int g0, int g1,
                                   int r0, int nr, Numerics num, float[] partO, float[] partL, AttentionOptions o) {
        final int group = hq / hkv, heads = g1 - g0;
        final boolean alibi = o.hasAlibi();
        if (s >= splits) {
            for (int g = g0; g < g1; g++) {
                for (int r = 0; r < nr; r++) partL[((b * hq) + g * group + r0 + r) * ms + s] = Float.NEGATIVE_INFINITY;
            }
            return; // unused split slot of a shorter sequence: an empty part
        }
        long from = lo + (long) s * splitTokens, to = Math.min(hi + 1L, from + splitTokens);
        Work w = work(d);
        final int rowsQ = nr * d;
        // with one head the state lives in w; with several, per head in `state`, swapped through w
        HeadStates state = heads > 1 ? new HeadStates(heads, nr, d, w.dp) : null;
        float[] qAll = state != null ? state.q : w.q;
        for (int g = g0; g < g1; g++) {
            for (int r = 0; r < nr; r++) {
                HostRows.read(qs, dt, ((long) b * hq + g * group + r0 + r) * d, qAll, (g - g0) * rowsQ + r * d, d);
            }
        }
        scaleRows(qAll, heads * rowsQ, num.qScale()); // element by element: the same values however grouped
        if (state == null) begin(w, nr);
        final long rowBytes = (long) d * dt.byteSize(), tokenBytes = hkv * rowBytes, line = 64;
        for (long c0 = from; c0 < to; c0 += BN) {
            int t0 = (int) c0, n = (int) Math.min(BN, to - c0);
            // With several query rows per kv head (GQA) their compute hides the touches; with one
            // (MHA) the touching loop cost more than it saved (B1 H12 L16384 D64: 5.1 vs 3.9 ms
            // without, B4 Hq32 Hkv8 L2048 D128: 3.4 vs 4.1 ms with).
            if (group > 1 && c0 + BN < to) {
                int sink = 0;
                for (int c = 0, t1 = t0 + BN, nn = (int) Math.min(BN, to - c0 - BN); c < nn; c++) {
                    int t = t1 + c;
                    long at = ((long) pt[t / ps] * ps + t % ps) * tokenBytes + g0 * rowBytes, end = at + heads * rowBytes;
                    for (long x = at; x < end; x += line) sink ^= ks.get(ValueLayout.JAVA_BYTE, x) ^ vs.get(ValueLayout.JAVA_BYTE, x);
                }
                w.sink ^= sink;
            }
            for (int g = g0; g < g1; g++) {
                final int gg = g;
                if (state != null) state.into(w, g - g0, true);
                for (int r = 0; r < nr; r++) {
                    w.tlo[r] = 0;
                    w.thi[r] = n - 1;
                    if (alibi) { // the query is the newest token: key hi is aligned with it
                        w.slope[r] = o.alibiSlope(g * group + r0 + r) * LOG2E;
                        w.diag[r] = hi;
                    }
                }
                loadKv(w, ks, vs, dt, n, c -> {
                    int t = t0 + c;
                    return (((long) pt[t / ps] * ps + t % ps) * hkv + gg) * d;
                });
                tile(w, nr, n, num.capLog2e(), alibi, t0);
                if (state != null) state.from(w, g - g0);
            }
        }
        for (int g = g0; g < g1; g++) {
            if (state != null) state.into(w, g - g0, false);
            for (int r = 0; r < nr; r++) {
                int p = ((b * hq) + g * group + r0 + r) * ms + s;
                partL[p] = finishRow(w, r);
                System.arraycopy(w.row, 0, partO, p * d, d);
            }
        }
    }

    /**
     * The running state of several heads' query rows in one {@link #decodeItem}: per head its
     * {@code nr} scaled query rows, unnormalised output rows, max and sum, as {@link #begin} leaves
     * them in a {@link Work}; moved into the thread's Work for a head's tile step and back after.
     */
    private static final class HeadStates {
        final int nr, rowsQ, rowsO;
        final float[] q, o, m, l;

        HeadStates(int heads, int nr, int d, int dp) {
            this.nr = nr;
            rowsQ = nr * d;
            rowsO = nr * dp;
            q = new float[heads * rowsQ];
            o = new float[heads * rowsO];
            m = new float[heads * nr];
            l = new float[heads * nr];
            Arrays.fill(m, Float.NEGATIVE_INFINITY);
        }

        /** Head k's state into w (with its query rows when {@code withQ}). */
        void into(Work w, int k, boolean withQ) {
            if (withQ) System.arraycopy(q, k * rowsQ, w.q, 0, rowsQ);
            System.arraycopy(o, k * rowsO, w.o, 0, rowsO);
            System.arraycopy(m, k * nr, w.m, 0, nr);
            System.arraycopy(l, k * nr, w.l, 0, nr);
        }

        /** w's state back as head k's (the query rows do not change). */
        void from(Work w, int k) {
            System.arraycopy(w.o, 0, o, k * rowsO, rowsO);
            System.arraycopy(w.m, 0, m, k * nr, nr);
            System.arraycopy(w.l, 0, l, k * nr, nr);
        }
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
     * 0 elsewhere; {@code S} as in the forward pass (scale, softcap, ALiBi), {@code lse} [B,Hq,Nq].
     */
    static void probabilities(Tensor q, Tensor k, Tensor lse, int[] heads, int[] rows, Tensor out, AttentionOptions o) {
        int nq = (int) q.dim(1), hq = (int) q.dim(2), d = (int) q.dim(3);
        int nk = (int) k.dim(1), hkv = (int) k.dim(2), batch = (int) q.dim(0);
        DType dt = q.dtype();
        MemorySegment qs = q.hostSegment(), ks = k.hostSegment(), ls = lse.hostSegment(), os = out.hostSegment();
        float scale = o.scaleFor(d), cap = o.softcap();
        int nh = heads.length, nr = rows.length;
        long off = (long) nk - nq;
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
                double sj = (double) Lanes.sum(acc) * scale;
                if (cap > 0) sj = cap * Math.tanh(sj / cap);
                sj -= (double) o.alibiSlope(h) * Math.abs(i + off - j);
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
        if (dt == DType.F32) {
            // fp32: rows copied in bulk, K as stored into kn, then transposed L keys at a time by
            // gathers (the element-by-element transpose was most of a long-context decode step).
            // Columns of kt past n get rows of kn left from an earlier tile: finite or not, their
            // scores are masked before use, as before.
            // A row of whole vectors moves as vector loads and stores (a bulk copy per short row cost
            // more in its call than in the copying), whole 16 × 16 blocks of K go through registers
            // (LaneTranspose); the rest as before.
            float[] kn = w.kn;
            boolean whole = d % L == 0;
            for (int c = 0; c < n; c++) {
                long off = rows.offset(c) * 4L;
                if (whole) {
                    for (int x = 0; x < d; x += L) {
                        FloatVector.fromMemorySegment(S, ks, off + x * 4L, NATIVE).intoArray(kn, c * d + x);
                        FloatVector.fromMemorySegment(S, vs, off + x * 4L, NATIVE).intoArray(w.vt, c * dp + x);
                    }
                } else {
                    MemorySegment.copy(ks, F32, off, kn, c * d, d);
                    MemorySegment.copy(vs, F32, off, w.vt, c * dp, d);
                }
            }
            int c0 = 0;
            if (whole && LaneTranspose.AVAILABLE) {
                for (; c0 + L <= n; c0 += L) {
                    for (int x = 0; x < d; x += L) LaneTranspose.transpose(kn, c0 * d + x, d, kt, x * BNP + c0, BNP);
                }
            }
            for (; c0 < n; c0 += L) { // c0 + L <= BNP = BN rows of kn: the gather stays inside
                for (int x = 0; x < d; x++) FloatVector.fromArray(S, kn, c0 * d + x, w.rowIdx, 0).intoArray(kt, x * BNP + c0);
            }
            return;
        }
        for (int c = 0; c < n; c++) {
            long off = rows.offset(c);
            HostRows.read(ks, dt, off, row, 0, d);
            for (int x = 0; x < d; x++) kt[x * BNP + c] = row[x];
            HostRows.read(vs, dt, off, w.vt, c * dp, d);
        }
    }

    /**
     * One K/V tile (keys from {@code t0}) for {@code nr} rows: scores (softcap, ALiBi from
     * {@code w.slope}/{@code w.diag} when {@code alibi}), online-softmax update of (m, l, O), O += P·V. Row r
     * sees tile keys {@code [tlo[r], thi[r]]}; an empty range leaves the row untouched.
     */
    private static void tile(Work w, int nr, int n, float capLog2e, boolean alibi, int t0) {
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
                    VectorExp.tanh(FloatVector.fromArray(S, s, sb + c)).mul(capLog2e).intoArray(s, sb + c);
                }
            }
            if (alibi) { // after the softcap, as FlashAttention; only the visible keys matter
                float sl = w.slope[r], dg = w.diag[r] - t0;
                for (int c = a; c <= z; c++) s[sb + c] -= sl * Math.abs(dg - c);
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
            FloatVector vsum = expRowSum(s, sb, nc, mNew);
            float alpha = mOld == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp((mOld - mNew) * LN2);
            w.l[r] = w.l[r] * alpha + Lanes.sum(vsum);
            w.m[r] = mNew;
            if (alpha != 1f) {
                int ob = r * w.dp;
                for (int x = 0; x < w.dp; x += L) FloatVector.fromArray(S, w.o, ob + x).mul(alpha).intoArray(w.o, ob + x);
            }
        }
        pv(w, nr, n);
    }

    /** {@code s[sb+c] = 2^(s[sb+c] − m)} for c < nc (exactly 0 where masked), returns the lane sums (its own method: see {@link #expSumExact}). */
    private static FloatVector expRowSum(float[] s, int sb, int nc, float m) {
        FloatVector vsum = FloatVector.zero(S);
        for (int c = 0; c < nc; c += L) {
            FloatVector p = VectorExp.exp2NonPositive(FloatVector.fromArray(S, s, sb + c).sub(m));
            p.intoArray(s, sb + c);
            vsum = vsum.add(p);
        }
        return vsum;
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

    /** {@code s[r][0..nc) = q[r] · kt[:, 0..nc)}: vectorised over keys. */
    private static void qk(Work w, int nr, int nc) {
        rowsTimesPanel(w.q, w.d, w.kt, BNP, w.s, BNP, nr, w.d, nc, false);
    }

    /** {@code o[r] += Σ_c p[r][c]·v[c]} for c < n: vectorised over D. */
    private static void pv(Work w, int nr, int n) {
        rowsTimesPanel(w.s, BNP, w.vt, w.dp, w.o, w.dp, nr, n, w.dp, true);
    }

    /**
     * The tile step's two products, {@code c[r][j] = Σ_t a[r·as + t] · b[t·bs + j]} (added to what
     * {@code c} holds when {@code accumulate}) for rows r < nr, columns j < nj (a whole number of
     * vectors) and t < nt; row r of c starts at {@code r·cs}. Vectorised over columns, 4 rows × 2
     * vectors per step, each accumulator adding its terms in t order.
     */
    private static void rowsTimesPanel(float[] a, int as, float[] b, int bs, float[] c, int cs, int nr, int nt, int nj,
                                       boolean accumulate) {
        final FloatVector z = FloatVector.zero(S);
        int r = 0;
        for (; r + 4 <= nr; r += 4) {
            final int a0 = r * as, a1 = a0 + as, a2 = a1 + as, a3 = a2 + as;
            final int c0 = r * cs, c1 = c0 + cs, c2 = c1 + cs, c3 = c2 + cs;
            int j = 0;
            for (; j + 2 * L <= nj; j += 2 * L) {
                FloatVector x00 = z, x01 = z, x10 = z, x11 = z, x20 = z, x21 = z, x30 = z, x31 = z;
                if (accumulate) {
                    x00 = FloatVector.fromArray(S, c, c0 + j); x01 = FloatVector.fromArray(S, c, c0 + j + L);
                    x10 = FloatVector.fromArray(S, c, c1 + j); x11 = FloatVector.fromArray(S, c, c1 + j + L);
                    x20 = FloatVector.fromArray(S, c, c2 + j); x21 = FloatVector.fromArray(S, c, c2 + j + L);
                    x30 = FloatVector.fromArray(S, c, c3 + j); x31 = FloatVector.fromArray(S, c, c3 + j + L);
                }
                for (int t = 0, bb = j; t < nt; t++, bb += bs) {
                    FloatVector v0 = FloatVector.fromArray(S, b, bb), v1 = FloatVector.fromArray(S, b, bb + L);
                    FloatVector e;
                    e = FloatVector.broadcast(S, a[a0 + t]); x00 = v0.fma(e, x00); x01 = v1.fma(e, x01);
                    e = FloatVector.broadcast(S, a[a1 + t]); x10 = v0.fma(e, x10); x11 = v1.fma(e, x11);
                    e = FloatVector.broadcast(S, a[a2 + t]); x20 = v0.fma(e, x20); x21 = v1.fma(e, x21);
                    e = FloatVector.broadcast(S, a[a3 + t]); x30 = v0.fma(e, x30); x31 = v1.fma(e, x31);
                }
                x00.intoArray(c, c0 + j); x01.intoArray(c, c0 + j + L);
                x10.intoArray(c, c1 + j); x11.intoArray(c, c1 + j + L);
                x20.intoArray(c, c2 + j); x21.intoArray(c, c2 + j + L);
                x30.intoArray(c, c3 + j); x31.intoArray(c, c3 + j + L);
            }
            for (; j < nj; j += L) {
                FloatVector x0 = z, x1 = z, x2 = z, x3 = z;
                if (accumulate) {
                    x0 = FloatVector.fromArray(S, c, c0 + j); x1 = FloatVector.fromArray(S, c, c1 + j);
                    x2 = FloatVector.fromArray(S, c, c2 + j); x3 = FloatVector.fromArray(S, c, c3 + j);
                }
                for (int t = 0, bb = j; t < nt; t++, bb += bs) {
                    FloatVector v0 = FloatVector.fromArray(S, b, bb);
                    x0 = v0.fma(FloatVector.broadcast(S, a[a0 + t]), x0);
                    x1 = v0.fma(FloatVector.broadcast(S, a[a1 + t]), x1);
                    x2 = v0.fma(FloatVector.broadcast(S, a[a2 + t]), x2);
                    x3 = v0.fma(FloatVector.broadcast(S, a[a3 + t]), x3);
                }
                x0.intoArray(c, c0 + j);
                x1.intoArray(c, c1 + j);
                x2.intoArray(c, c2 + j);
                x3.intoArray(c, c3 + j);
            }
        }
        for (; r < nr; r++) {
            final int a0 = r * as, c0 = r * cs;
            for (int j = 0; j < nj; j += L) {
                FloatVector x0 = accumulate ? FloatVector.fromArray(S, c, c0 + j) : z;
                for (int t = 0, bb = j; t < nt; t++, bb += bs) {
                    x0 = FloatVector.fromArray(S, b, bb).fma(FloatVector.broadcast(S, a[a0 + t]), x0);
                }
                x0.intoArray(c, c0 + j);
            }
        }
    }

    // ---- exp2 ----------------------------------------------------------------------------------------

    /** {@code 2^x} for {@code x ≤ 0}, exactly 0 below −126: {@link VectorExp#exp2NonPositive}. */
    static FloatVector exp2(FloatVector x) {
        return VectorExp.exp2NonPositive(x);
    }

    // ---- threads -------------------------------------------------------------------------------------

    @FunctionalInterface
    private interface Item {
        void run(long item);
    }

    /** Runs items {@code [0, n)} on up to {@link Parallel#threads()} workers pulling from one counter. */
    private static void forEachItem(long n, Item body) {
        forEachItem(n, true, body);
    }

    /** As above, on the calling thread alone unless {@code parallel}. Each item is computed whole by one thread either way. */
    private static void forEachItem(long n, boolean parallel, Item body) {
        if (n <= 0) return;
        int workers = parallel ? (int) Math.min(Parallel.threads(), n) : 1;
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
