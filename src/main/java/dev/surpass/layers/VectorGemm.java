package dev.surpass.layers;

import dev.surpass.backend.Lanes;
import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.LaneTranspose;
import dev.surpass.backend.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU SGEMM behind {@link Gemm}: a GotoBLAS/BLIS-style blocked matrix product on the Vector
 * API.
 *
 * <p>Loop nest for one output tile (rows {@code [i0,i1)}, cols {@code [j0,j1)} of one batch):
 * <pre>
 * for jc in N step NC                      // B block: KC x NC packed, lives in L2/L3
 *   for pc in K step KC
 *     pack B[pc:pc+kc, jc:jc+nc] into NR-column panels (k-major, NR contiguous)
 *     for ic in M step MC                  // A block: MC x KC packed, lives in L2
 *       pack A[ic:ic+mc, pc:pc+kc] into MR-row panels (k-major, MR contiguous)
 *       for jr in nc step NR               // one B micro-panel (KC x NR) stays in L1
 *         for ir in mc step MR
 *           micro-kernel: C[MR x NR] (+)= Apanel · Bpanel
 * </pre>
 * The micro-kernel keeps an MR x NR tile of C in registers ({@code MR * NV} vector accumulators,
 * {@code NR = NV * lanes}): per k it loads NV vectors of B and broadcasts MR values of A, then
 * issues MR * NV independent FMAs. With AVX-512 (16 fp32 lanes, 32 registers) the tile is 12 x 32:
 * 24 accumulators + 2 B vectors + 1 broadcast (8 x 48, 6 x 64 and 14 x 32 measured no better).
 * Edge tiles run the same kernel on zero-padded
 * panels into a scratch tile and copy the valid part out, so every element of C is summed in the
 * same order whatever the tiling: results do not depend on the thread count.
 *
 * <p>B is packed from either layout ({@code [K,N]} or, for {@code linear}, the weight's
 * {@code [N,K]}), so Wᵀ is never materialised. F16/BF16 operands are widened to fp32 while
 * packing; a 16-bit output is accumulated in an fp32 scratch and rounded once at the end.
 *
 * <p>Threads: with fewer fp32 batches than threads (one large product: the common case) each
 * batch runs on all threads with its B blocks packed once and shared ({@link #runShared}: panels
 * packed by whichever thread needs them first, rows handed out in shrinking chunks so a thread
 * slowed down by other load does not hold the others up). Otherwise the batches (and, for 16-bit
 * dtypes, macro tiles along M and/or N) are split over the threads, each with its own
 * thread-local packing buffers. fp32 {@code linear} with at most {@link #SMALL_M} rows (decode,
 * a short prompt or sentence) streams the weight without packing ({@link #fewRows}, {@link #narrow}). Block sizes:
 * {@code -Dsurpass.gemm.kc/mc/nc} (defaults measured on a 2-core AVX-512 Zen 5: KC=1024, MC=144,
 * NC=3072; 384/192/3072 without AVX-512).
 */
final class VectorGemm {
    private VectorGemm() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** fp32 lanes per vector. */
    static final int L = S.length();
    /** Vectors per micro-tile row: 2 with AVX-512 (12 x 32 tile), 3 otherwise (4 x 3 vectors). */
    static final int NV = L >= 16 ? 2 : 3;
    /** Micro-tile columns. */
    static final int NR = NV * L;
    /** Micro-tile rows: 12 with 32 vector registers (AVX-512), else 4 (AVX2/NEON have 16). */
    static final int MR = L >= 16 ? 12 : 4;

    // AVX-512 (measured on Zen 5): a long K block (one pass over C for K <= 1024; C of a large
    // product lives in DRAM, so every pass costs) with A blocks of 144 x 1024 fp32 (576 KiB, L2).
    static final int KC = Math.max(1, Integer.getInteger("surpass.gemm.kc", L >= 16 ? 1024 : 384));
    static final int MC = roundUp(Math.max(1, Integer.getInteger("surpass.gemm.mc", L >= 16 ? 144 : 192)), MR);
    static final int NC = roundUp(Math.max(1, Integer.getInteger("surpass.gemm.nc", 3072)), NR);

    /**
     * {@code linear} with at most this many rows of x (decode steps, short prompts and sentences)
     * skips the packing and streams the weight rows directly ({@code -Dsurpass.gemm.smallM}, 0
     * disables). {@link #narrow} takes two vectors' worth of rows at a time; past that it runs once
     * per 2L rows, reading the weight again each time, which still beats packing it up to about
     * 160 rows (2-core Zen 5, 768/3072-wide weights in and out of cache, packed → streamed: 48 rows
     * 1.9 → 1.1 ms, 128 rows 2.8 → 2.3 ms, but 256 rows 4.3 → 4.8 ms): the default is eight vectors'
     * worth, 128 rows.
     */
    static final int SMALL_M = Integer.getInteger("surpass.gemm.smallM", 8 * L);

    /** Below this many multiply-adds a product runs on the calling thread. */
    static final long PARALLEL_MIN_FMAS = 1L << 18;

    static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    /** 64-bit lanes of {@link #S}'s shape: {@link #narrow} broadcasts two adjacent weights as one. */
    private static final VectorSpecies<Long> S64 = VectorSpecies.of(long.class, S.vectorShape());

    /** Per-thread packing buffers, grown on demand and reused across calls. */
    private static final class Buffers {
        float[] a = new float[0];
        float[] b = new float[0];
        final float[] tile = new float[MR * NR];
        /** {@link #narrow}'s product tile. */
        final float[] narrow = new float[NARROW_W * 4 * L];

        float[] a(int n) {
            if (a.length < n) a = new float[n];
            return a;
        }

        float[] b(int n) {
            if (b.length < n) b = new float[n];
            return b;
        }

        int[] order = new int[0];
        int[] later = new int[0];
        /** Row pieces being packed ({@link #packB}, {@link #packRows}). */
        float[] row = new float[0];

        float[] row(int n) {
            if (row.length < n) row = new float[n];
            return row;
        }

        /** {0, s, 2s, ..., (L-1)s} for {@link #stride}: the gather of one column out of L rows s apart ({@link #packB}). */
        private final int[] strideIndex = new int[L];
        private int stride;

        int[] strideIndex(int s) {
            if (stride != s) {
                for (int i = 0; i < L; i++) strideIndex[i] = i * s;
                stride = s;
            }
            return strideIndex;
        }

        int[] order(int n) {
            if (order.length < n) order = new int[n];
            return order;
        }

        int[] later(int n) {
            if (later.length < n) later = new int[n];
            return later;
        }

        /** The shared packed-B buffer of {@link #runShared}, taken for one call (null while taken). */
        float[] shared;

        float[] takeShared(int n) {
            float[] s = shared;
            shared = null;
            return s != null && s.length >= n ? s : new float[n];
        }

        void giveShared(float[] s) {
            if (shared == null || shared.length < s.length) shared = s;
        }
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** The operands of one call, read-only and shared by the tasks. */
    private record Problem(MemorySegment a, MemorySegment b, float[] bias, MemorySegment out, DType dtype,
                           int m, int n, int k, boolean bTransposed, boolean bBatched) {}

    /** See {@link CudaGemm#gemm}: same contract, on host tensors. Arguments are validated by {@link Gemm}. */
    static void gemm(Tensor a, Tensor b, Tensor bias, Tensor out, long batch, int m, int n, int k,
                     boolean bTransposed, boolean bBatched) {
        gemm(a, b, bias, out, batch, m, n, k, bTransposed, bBatched, Parallel.threads());
    }

    /** As above with the output cut for {@code parts} threads (tests check the result does not depend on it). */
    static void gemm(Tensor a, Tensor b, Tensor bias, Tensor out, long batch, int m, int n, int k,
                     boolean bTransposed, boolean bBatched, int parts) {
        assert a.dtype() == b.dtype() && a.dtype() == out.dtype();
        float[] biasF = bias == null ? null : widen(bias);
        Problem pr = new Problem(a.hostSegment(), b.hostSegment(), biasF, out.hostSegment(), a.dtype(),
                m, n, k, bTransposed, bBatched);
        if (m == 0 || n == 0 || batch == 0) return;
        if (k == 0) {
            fillBias(pr, batch);
            return;
        }
        long fmas = batch * m * (long) n * k;
        int want = fmas < PARALLEL_MIN_FMAS ? 1 : Math.max(1, parts);
        if (bTransposed && !bBatched && pr.dtype == DType.F32 && batch * m <= SMALL_M && batch * m * (long) k <= Integer.MAX_VALUE) {
            int rows = (int) (batch * m);
            boolean narrow = rows > DOT_ROWS && NATIVE == ByteOrder.LITTLE_ENDIAN // pairs of weights as one long
                    && (long) k * roundUp(Math.min(rows, 2 * L), L) <= Integer.MAX_VALUE;
            if (narrow) {
                // more than two vectors' worth of rows: chunks of 2L rows, each reading the weight anew
                for (int i0 = 0; i0 < rows; i0 += 2 * L) narrow(pr, i0, Math.min(2 * L, rows - i0), want);
                return;
            }
            if (rows <= 2 * L) {
                fewRows(pr, rows, want);
                return;
            }
            // more rows than fewRows takes and no narrow: the blocked path below
        }
        // Cut each batch's output into tm x tn macro tiles when there are fewer batches than threads.
        int perBatch = (int) Math.max(1, Math.min(want, (want + batch - 1) / batch));
        int mTiles = (m + MR - 1) / MR, nTiles = (n + NR - 1) / NR;
        int tm = 1, tn = 1;
        while (tm * tn < perBatch) {
            boolean canM = tm < mTiles, canN = tn < nTiles;
            if (!canM && !canN) break;
            // split the side whose tiles hold more micro tiles
            if (canM && (!canN || (double) mTiles / tm >= (double) nTiles / tn)) tm++;
            else tn++;
        }
        if (perBatch > 1 && pr.dtype == DType.F32) {
            // Fewer batches than threads: one batch at a time, B blocks packed once and shared.
            for (long p = 0; p < batch; p++) runShared(pr, p, perBatch);
            return;
        }
        final int fTm = tm, fTn = tn;
        long tasks = batch * tm * tn;
        Parallel.forRange(tasks, 1, (lo, hi) -> {
            Buffers buf = BUFFERS.get();
            for (long t = lo; t < hi; t++) {
                long p = t / (fTm * fTn);
                int r = (int) (t % (fTm * fTn));
                int im = r / fTn, in = r % fTn;
                int i0 = split(mTiles, fTm, im) * MR, i1 = Math.min(m, split(mTiles, fTm, im + 1) * MR);
                int j0 = split(nTiles, fTn, in) * NR, j1 = Math.min(n, split(nTiles, fTn, in + 1) * NR);
                if (i0 < i1 && j0 < j1) runTile(pr, buf, p, i0, i1, j0, j1);
            }
        });
    }

    /**
     * One batch on {@code parts} threads with the B blocks shared. Each (NC, KC) block of B is one
     * phase (one {@link Parallel#forParts} region). Its NR panels are packed once, into one shared buffer, by whichever
     * thread needs a panel first (claimed with a CAS: a thread never waits for a panel that
     * nobody is packing, and one being packed by another thread is put off until last, so no
     * thread idles while there is work). The products are taken in chunks: runs of micro-tile
     * rows (A packed by the chunk's thread) times all the block's panels, shrinking towards the
     * end of the phase (guided self-scheduling) so that both threads finish together even when
     * one is slowed down on a shared machine; with few rows, panel ranges instead. No thread ever
     * waits for one that has not started, so this cannot deadlock.
     * Every element is still summed in the same order (the same balanced K blocks, added in
     * order), whoever computes it.
     */
    private static void runShared(Problem pr, long p, int parts) {
        final int m = pr.m, n = pr.n, k = pr.k;
        final long aBase = p * m * (long) k;
        final long bBase = pr.bBatched ? p * k * (long) n : 0;
        final int kBlocks = (k + KC - 1) / KC;
        final int kc0 = (k + kBlocks - 1) / kBlocks;
        final int ncMax = Math.min(NC, roundUp(n, NR));
        final int mTiles = (m + MR - 1) / MR;
        final boolean byRows = mTiles >= 2 * parts;
        final Buffers mine = BUFFERS.get();
        // Checked out for the whole call: while this thread joins it may run another GEMM's parts.
        final float[] bp = mine.takeShared(kc0 * ncMax);
        final MemorySegment c = pr.out;
        final long cBase = p * m * (long) n * 4L;
        final long ldc = n * 4L;
        try {
            for (int jc = 0; jc < n; jc += NC) {
                final int nc = Math.min(NC, n - jc), fjc = jc;
                final int panels = (nc + NR - 1) / NR;
                // by columns: a fixed grid of row tiles x panel ranges
                final int colChunks = byRows ? 1 : Math.max(1, Math.min(panels, parts * 4 / Math.max(1, mTiles)));
                final int gridChunks = byRows ? 0 : mTiles * colChunks;
                for (int pc = 0; pc < k; pc += kc0) {
                    final int kc = Math.min(kc0, k - pc), fpc = pc;
                    final AtomicIntegerArray state = new AtomicIntegerArray((panels + PACK_GROUP - 1) / PACK_GROUP); // per group: 0 free, 1 packing, 2 packed
                    final AtomicInteger next = new AtomicInteger(), chunks = new AtomicInteger();
                    int threads = parts;
                    if ((long) kc * nc * m < (1 << 16)) threads = 1;
                    Parallel.forParts(threads, part -> {
                        Buffers buf = BUFFERS.get();
                        int[] order = buf.order(panels);
                        while (true) {
                            int t0, t1, q0, q1;
                            if (byRows) {
                                int cur, take;
                                do {
                                    cur = next.get();
                                    if (cur >= mTiles) return;
                                    take = Math.max(2, (mTiles - cur + 2 * parts - 1) / (2 * parts));
                                    take = Math.min(take, mTiles - cur);
                                } while (!next.compareAndSet(cur, cur + take));
                                t0 = cur;
                                t1 = cur + take;
                                q0 = 0;
                                q1 = panels;
                            } else {
                                int ch = next.getAndIncrement();
                                if (ch >= gridChunks) return;
                                t0 = ch / colChunks;
                                t1 = t0 + 1;
                                q0 = split(panels, colChunks, ch % colChunks);
                                q1 = split(panels, colChunks, ch % colChunks + 1);
                            }
                            if (q0 >= q1) continue;
                            // Start each chunk at its own panel so the threads pack different ones.
                            int len = q1 - q0, rot = (int) ((long) len * (chunks.getAndIncrement() % parts) / parts);
                            for (int i = 0; i < len; i++) order[i] = q0 + (i + rot) % len;
                            multiply(pr, buf, aBase, t0 * MR, Math.min(m, t1 * MR), fpc, kc, kc0, bp, order, len,
                                    state, bBase, fjc, nc, c, cBase, ldc);
                        }
                    });
                }
            }
        } finally {
            mine.giveShared(bp);
        }
    }

    /**
     * Panels packed together (one claim): {@code PACK_GROUP * NR} columns, so packing reads runs of
     * 512 bytes of each row of B rather than 128 (rows of B are far apart).
     */
    static final int PACK_GROUP = 4;

    /**
     * Makes sure panel q of the block at (jc, pc) is packed (with the rest of its group of
     * {@link #PACK_GROUP}); false when another thread is packing it.
     */
    private static boolean claimPanel(Problem pr, AtomicIntegerArray state, int q, long bBase, int pc, int kc,
                                      int jc, int nc, float[] bp) {
        int g = q / PACK_GROUP;
        int s = state.get(g);
        if (s == 2) return true;
        if (s == 0 && state.compareAndSet(g, 0, 1)) {
            try {
                int jr = g * PACK_GROUP * NR;
                packB(pr, bBase, pc, kc, jc + jr, Math.min(PACK_GROUP * NR, nc - jr), bp, jr * kc);
            } catch (RuntimeException | Error e) {
                state.set(g, 0);
                throw e;
            }
            state.set(g, 2);
            return true;
        }
        return state.get(g) == 2;
    }

    /**
     * Rows [i0,i1) of C times the B panels {@code order[0..len)} of the block at (jc, pc): packs
     * the rows of A (MC at a time), packs any panel nobody has packed yet (a panel another thread
     * is packing is done last), and runs the micro-kernels; the first K block stores (+ bias),
     * later ones add.
     */
    private static void multiply(Problem pr, Buffers buf, long aBase, int i0, int i1, int pc, int kc, int kc0,
                                 float[] bp, int[] order, int len, AtomicIntegerArray state, long bBase,
                                 int jc, int nc, MemorySegment c, long cBase, long ldc) {
        float[] ap = buf.a(kc0 * Math.min(MC, roundUp(i1 - i0, MR)));
        int[] later = buf.later(len);
        boolean first = pc == 0;
        float[] bias = first ? pr.bias : null;
        for (int ic = i0; ic < i1; ic += MC) {
            int mc = Math.min(MC, i1 - ic);
            packA(pr, aBase, ic, mc, pc, kc, ap);
            int nLater = 0;
            for (int i = 0; i < len; i++) {
                int q = order[i];
                if (claimPanel(pr, state, q, bBase, pc, kc, jc, nc, bp)) {
                    panel(buf, ap, mc, kc, bp, q, nc, jc, ic, first, bias, c, cBase, ldc);
                } else {
                    later[nLater++] = q;
                }
            }
            while (nLater > 0) { // panels other threads are packing right now
                int kept = 0;
                for (int i = 0; i < nLater; i++) {
                    int q = later[i];
                    if (claimPanel(pr, state, q, bBase, pc, kc, jc, nc, bp)) {
                        panel(buf, ap, mc, kc, bp, q, nc, jc, ic, first, bias, c, cBase, ldc);
                    } else {
                        later[kept++] = q;
                    }
                }
                nLater = kept;
                if (nLater > 0) Thread.onSpinWait();
            }
        }
    }

    /** Rows [ic, ic+mc) of C (A packed in {@code ap}) times packed B panel q of the block at jc. */
    private static void panel(Buffers buf, float[] ap, int mc, int kc, float[] bp, int q, int nc, int jc, int ic,
                              boolean first, float[] bias, MemorySegment c, long cBase, long ldc) {
        int jr = q * NR;
        int nr = Math.min(NR, nc - jr);
        int bOff = jr * kc;
        int biasOff = jc + jr;
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            long cAt = cBase + (ic + ir) * ldc + (jc + jr) * 4L;
            kernel(kc, ap, ir * kc, bp, bOff, buf.tile);
            addTile(buf.tile, mr, nr, c, cAt, ldc, first, bias, biasOff);
        }
    }

    /**
     * {@code linear} with more rows than this (and at most {@link #SMALL_M}) takes {@link #narrow},
     * in chunks of two vectors' worth; fewer (decode) take {@link #fewRows}, whose dot products do
     * not waste lanes on absent rows.
     */
    static final int DOT_ROWS = Integer.getInteger("surpass.gemm.dotRows", 4);

    /**
     * Weight rows per tile of {@link #narrow}: 6 x nv accumulators + nv vectors of xᵀ + a
     * broadcast. (More broadcasts in one loop stop C2 inlining them, which boxes every vector.)
     */
    static final int NARROW_W = 6;

    /**
     * Tiles of {@link #narrow} claimed at once: 48 columns of y, whole 64-byte lines of each row,
     * so two threads do not write into the same lines (one tile at a time ran no faster on two
     * threads than on one).
     */
    private static final int NARROW_GROUP = 8;

    /**
     * fp32 {@code y = x·Wᵀ (+ bias)} for rows {@code [row0, row0 + rows)} of x ({@code rows <= 2 * L}), as {@code yᵀ = W·xᵀ} with
     * the weight [N,K] read where it lies: unlike the blocked path nothing of the weight is packed
     * (for few rows packing it would cost more than the product), and unlike {@link #fewRows} no
     * sums are taken across lanes. Two adjacent k share a vector: xᵀ is copied to
     * {@code xt[s][2i + q] = x[i][2s + q]} (q = 0, 1; rows padded with zeros to nv whole vectors),
     * one 64-bit broadcast brings W[j][2s] and W[j][2s + 1] into alternate lanes, and a tile of
     * weight rows keeps its sums in {@code rows * nv} vector accumulators over all of K. Then
     * y[i][j] = (even chain + odd chain) (+ W[j][K-1]·x[i][K-1] for an odd K) (+ bias). Each
     * element of y is computed whole by whichever thread claims its tile, so the result does not
     * depend on the thread count; tiles are claimed a few at a time ({@link #NARROW_GROUP}) so
     * that a thread slowed by other load on the machine does not hold the others up.
     */
    private static void narrow(Problem pr, int row0, int rows, int parts) {
        final int n = pr.n, k = pr.k, steps = k / 2;
        final int nv = rows <= L / 2 ? 1 : rows <= L ? 2 : 4, ldx = nv * L;
        final MemorySegment a = pr.a, w = pr.b;
        final Buffers mine = BUFFERS.get();
        // Checked out for the whole call, like runShared's B: while this thread joins it may run another GEMM's parts.
        final float[] xt = mine.takeShared(steps * ldx);
        try {
            float[] x = new float[rows * k];
            MemorySegment.copy(a, F32, (long) row0 * k * 4L, x, 0, rows * k);
            for (int st = 0; st < steps; st++) {
                int at = st * ldx;
                for (int i = 0; i < rows; i++) {
                    xt[at + 2 * i] = x[i * k + 2 * st];
                    xt[at + 2 * i + 1] = x[i * k + 2 * st + 1];
                }
                for (int lane = 2 * rows; lane < ldx; lane++) xt[at + lane] = 0f;
            }
            final int tiles = (n + NARROW_W - 1) / NARROW_W, groups = (tiles + NARROW_GROUP - 1) / NARROW_GROUP;
            final AtomicInteger next = new AtomicInteger();
            Parallel.forParts(Math.max(1, Math.min(parts, groups)), part -> {
                float[] tile = BUFFERS.get().narrow;
                for (int g; (g = next.getAndIncrement()) < groups; ) {
                    for (int q = g * NARROW_GROUP, qEnd = Math.min(tiles, q + NARROW_GROUP); q < qEnd; q++) {
                        int j0 = q * NARROW_W, wr = Math.min(NARROW_W, n - j0);
                        switch (nv) {
                            case 1 -> narrow1(w, j0, wr, k, steps, xt, tile);
                            case 2 -> narrow2(w, j0, wr, k, steps, xt, tile);
                            default -> narrow4(w, j0, wr, k, steps, xt, tile);
                        }
                        for (int i = 0; i < rows; i++) {
                            for (int r = 0; r < wr; r++) {
                                int at = r * ldx + 2 * i;
                                float v = tile[at] + tile[at + 1];
                                if (k % 2 != 0) v = Math.fma(x[i * k + k - 1], w.getAtIndex(F32, (long) (j0 + r) * k + k - 1), v);
                                if (pr.bias != null) v += pr.bias[j0 + r];
                                pr.out.setAtIndex(F32, (long) (row0 + i) * n + j0 + r, v);
                            }
                        }
                    }
                }
            });
        } finally {
            mine.giveShared(xt);
        }
    }

    /** Byte offset of weight row {@code j0 + r}, or of the last real one past {@code wr} (its sums are discarded). */
    private static long wRow(int j0, int r, int wr, int k) {
        return (long) (j0 + Math.min(r, wr - 1)) * k * 4L;
    }

    /** W[at / 4] and W[at / 4 + 1] in alternate lanes. */
    private static FloatVector pairAt(MemorySegment w, long at) {
        return LongVector.broadcast(S64, w.get(I64, at)).reinterpretAsFloats();
    }

    /** tile[r * L + lane] = Σ_s pair(W[j0 + r], s) · xt[s * L + lane] for r < NARROW_W: one vector of xᵀ per step. */
    private static void narrow1(MemorySegment w, int j0, int wr, int k, int steps, float[] xt, float[] tile) {
        long r0 = wRow(j0, 0, wr, k), r1 = wRow(j0, 1, wr, k), r2 = wRow(j0, 2, wr, k);
        long r3 = wRow(j0, 3, wr, k), r4 = wRow(j0, 4, wr, k), r5 = wRow(j0, 5, wr, k);
        FloatVector z = FloatVector.zero(S);
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z;
        for (int s = 0; s < steps; s++) {
            FloatVector u = FloatVector.fromArray(S, xt, s * L);
            long tb = s * 8L;
            c0 = pairAt(w, r0 + tb).fma(u, c0);
            c1 = pairAt(w, r1 + tb).fma(u, c1);
            c2 = pairAt(w, r2 + tb).fma(u, c2);
            c3 = pairAt(w, r3 + tb).fma(u, c3);
            c4 = pairAt(w, r4 + tb).fma(u, c4);
            c5 = pairAt(w, r5 + tb).fma(u, c5);
        }
        c0.intoArray(tile, 0); c1.intoArray(tile, L); c2.intoArray(tile, 2 * L);
        c3.intoArray(tile, 3 * L); c4.intoArray(tile, 4 * L); c5.intoArray(tile, 5 * L);
    }

    /** As {@link #narrow1} with two vectors of xᵀ per step: tile[r * 2L + lane]. */
    private static void narrow2(MemorySegment w, int j0, int wr, int k, int steps, float[] xt, float[] tile) {
        long r0 = wRow(j0, 0, wr, k), r1 = wRow(j0, 1, wr, k), r2 = wRow(j0, 2, wr, k);
        long r3 = wRow(j0, 3, wr, k), r4 = wRow(j0, 4, wr, k), r5 = wRow(j0, 5, wr, k);
        FloatVector z = FloatVector.zero(S);
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, d0 = z, d1 = z, d2 = z, d3 = z, d4 = z, d5 = z;
        for (int s = 0; s < steps; s++) {
            FloatVector u0 = FloatVector.fromArray(S, xt, 2 * s * L), u1 = FloatVector.fromArray(S, xt, 2 * s * L + L);
            long tb = s * 8L;
            FloatVector a;
            a = pairAt(w, r0 + tb); c0 = a.fma(u0, c0); d0 = a.fma(u1, d0);
            a = pairAt(w, r1 + tb); c1 = a.fma(u0, c1); d1 = a.fma(u1, d1);
            a = pairAt(w, r2 + tb); c2 = a.fma(u0, c2); d2 = a.fma(u1, d2);
            a = pairAt(w, r3 + tb); c3 = a.fma(u0, c3); d3 = a.fma(u1, d3);
            a = pairAt(w, r4 + tb); c4 = a.fma(u0, c4); d4 = a.fma(u1, d4);
            a = pairAt(w, r5 + tb); c5 = a.fma(u0, c5); d5 = a.fma(u1, d5);
        }
        int s = 2 * L;
        c0.intoArray(tile, 0); d0.intoArray(tile, L); c1.intoArray(tile, s); d1.intoArray(tile, s + L);
        c2.intoArray(tile, 2 * s); d2.intoArray(tile, 2 * s + L); c3.intoArray(tile, 3 * s); d3.intoArray(tile, 3 * s + L);
        c4.intoArray(tile, 4 * s); d4.intoArray(tile, 4 * s + L); c5.intoArray(tile, 5 * s); d5.intoArray(tile, 5 * s + L);
    }

    /** As {@link #narrow1} with four vectors of xᵀ per step: tile[r * 4L + lane]. */
    private static void narrow4(MemorySegment w, int j0, int wr, int k, int steps, float[] xt, float[] tile) {
        long r0 = wRow(j0, 0, wr, k), r1 = wRow(j0, 1, wr, k), r2 = wRow(j0, 2, wr, k);
        long r3 = wRow(j0, 3, wr, k), r4 = wRow(j0, 4, wr, k), r5 = wRow(j0, 5, wr, k);
        FloatVector z = FloatVector.zero(S);
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, d0 = z, d1 = z, d2 = z, d3 = z, d4 = z, d5 = z;
        FloatVector e0 = z, e1 = z, e2 = z, e3 = z, e4 = z, e5 = z, f0 = z, f1 = z, f2 = z, f3 = z, f4 = z, f5 = z;
        for (int s = 0; s < steps; s++) {
            int at = 4 * s * L;
            FloatVector u0 = FloatVector.fromArray(S, xt, at), u1 = FloatVector.fromArray(S, xt, at + L);
            FloatVector u2 = FloatVector.fromArray(S, xt, at + 2 * L), u3 = FloatVector.fromArray(S, xt, at + 3 * L);
            long tb = s * 8L;
            FloatVector a;
            a = pairAt(w, r0 + tb); c0 = a.fma(u0, c0); d0 = a.fma(u1, d0); e0 = a.fma(u2, e0); f0 = a.fma(u3, f0);
            a = pairAt(w, r1 + tb); c1 = a.fma(u0, c1); d1 = a.fma(u1, d1); e1 = a.fma(u2, e1); f1 = a.fma(u3, f1);
            a = pairAt(w, r2 + tb); c2 = a.fma(u0, c2); d2 = a.fma(u1, d2); e2 = a.fma(u2, e2); f2 = a.fma(u3, f2);
            a = pairAt(w, r3 + tb); c3 = a.fma(u0, c3); d3 = a.fma(u1, d3); e3 = a.fma(u2, e3); f3 = a.fma(u3, f3);
            a = pairAt(w, r4 + tb); c4 = a.fma(u0, c4); d4 = a.fma(u1, d4); e4 = a.fma(u2, e4); f4 = a.fma(u3, f4);
            a = pairAt(w, r5 + tb); c5 = a.fma(u0, c5); d5 = a.fma(u1, d5); e5 = a.fma(u2, e5); f5 = a.fma(u3, f5);
        }
        int s = 4 * L;
        c0.intoArray(tile, 0); d0.intoArray(tile, L); e0.intoArray(tile, 2 * L); f0.intoArray(tile, 3 * L);
        c1.intoArray(tile, s); d1.intoArray(tile, s + L); e1.intoArray(tile, s + 2 * L); f1.intoArray(tile, s + 3 * L);
        c2.intoArray(tile, 2 * s); d2.intoArray(tile, 2 * s + L); e2.intoArray(tile, 2 * s + 2 * L); f2.intoArray(tile, 2 * s + 3 * L);
        c3.intoArray(tile, 3 * s); d3.intoArray(tile, 3 * s + L); e3.intoArray(tile, 3 * s + 2 * L); f3.intoArray(tile, 3 * s + 3 * L);
        c4.intoArray(tile, 4 * s); d4.intoArray(tile, 4 * s + L); e4.intoArray(tile, 4 * s + 2 * L); f4.intoArray(tile, 4 * s + 3 * L);
        c5.intoArray(tile, 5 * s); d5.intoArray(tile, 5 * s + L); e5.intoArray(tile, 5 * s + 2 * L); f5.intoArray(tile, 5 * s + 3 * L);
    }

    /** Weight rows per step of {@link #fewRows}. */
    private static final int FEW_W = 4;
    /** Rows of x per step of {@link #fewRows}. */
    private static final int FEW_X = 4;

    /**
     * fp32 {@code y = x·Wᵀ (+ bias)} for few rows of x: the weight [N,K] is read where it lies,
     * {@link #FEW_W} rows at a time against up to {@link #FEW_X} rows of x (a heap copy), as
     * vector dot products along K: lane-wise sums over full vectors, reduced across lanes, then
     * the ragged end of K and the bias added in order. Threads take disjoint ranges of weight
     * rows, so each element is summed the same way whatever the thread count.
     */
    private static void fewRows(Problem pr, int rows, int parts) {
        final int n = pr.n, k = pr.k;
        final float[] x = new float[rows * k];
        MemorySegment.copy(pr.a, F32, 0, x, 0, rows * k);
        if (rows == 1) {
            oneRow(pr, x, parts);
            return;
        }
        final int groups = (n + FEW_W - 1) / FEW_W;
        final int p = Math.max(1, Math.min(parts, groups));
        Parallel.forParts(p, part -> {
            int g0 = split(groups, p, part), g1 = split(groups, p, part + 1);
            int j0 = g0 * FEW_W, j1 = Math.min(n, g1 * FEW_W);
            for (int j = j0; j < j1; j += FEW_W) {
                int w = Math.min(FEW_W, j1 - j);
                for (int i = 0; i < rows; i += FEW_X) {
                    dots(pr, x, i, Math.min(FEW_X, rows - i), j, w);
                }
            }
        });
    }

    /** Weight rows per step of {@link #oneRow}: independent accumulator chains, so the FMAs and the lane sums overlap. */
    private static final int ONE_W = 8;

    /**
     * {@link #fewRows} for a single row of x (a batch-1 decode step): {@link #ONE_W} weight rows
     * per step against the one row, instead of {@link #dots}' 4 x 4 tile, three quarters of which
     * would repeat that row. Every element is summed exactly as {@link #dots} sums it (lane-wise
     * over full vectors, the lanes added left to right from 0 as {@link Lanes#sum} does, then the
     * ragged end of K and the bias), so the two paths give the same bits.
     */
    private static void oneRow(Problem pr, float[] x, int parts) {
        final int groups = (pr.n + ONE_W - 1) / ONE_W;
        final int p = Math.max(1, Math.min(parts, groups));
        Parallel.forParts(p, part -> {
            int g0 = split(groups, p, part), g1 = split(groups, p, part + 1);
            int j1 = Math.min(pr.n, g1 * ONE_W);
            float[] lanes = new float[ONE_W * L];
            for (int j = g0 * ONE_W; j < j1; j += ONE_W) dots1(pr, x, j, Math.min(ONE_W, j1 - j), lanes);
        });
    }

    /** y[0][j0+q] for q < wr (at most {@link #ONE_W}); {@code lanes} is scratch for the accumulators. */
    private static void dots1(Problem pr, float[] x, int j0, int wr, float[] lanes) {
        final int k = pr.k;
        final MemorySegment w = pr.b, out = pr.out;
        final int full = k / L * L;
        final long ldw = k * 4L;
        // Missing weight rows repeat the last real one (their results are discarded).
        long w0 = (long) j0 * ldw, w1 = (long) (j0 + Math.min(1, wr - 1)) * ldw;
        long w2 = (long) (j0 + Math.min(2, wr - 1)) * ldw, w3 = (long) (j0 + Math.min(3, wr - 1)) * ldw;
        long w4 = (long) (j0 + Math.min(4, wr - 1)) * ldw, w5 = (long) (j0 + Math.min(5, wr - 1)) * ldw;
        long w6 = (long) (j0 + Math.min(6, wr - 1)) * ldw, w7 = (long) (j0 + Math.min(7, wr - 1)) * ldw;
        FloatVector z = FloatVector.zero(S);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
        for (int t = 0; t < full; t += L) {
            long tb = t * 4L;
            FloatVector u = FloatVector.fromArray(S, x, t);
            a0 = u.fma(FloatVector.fromMemorySegment(S, w, w0 + tb, NATIVE), a0);
            a1 = u.fma(FloatVector.fromMemorySegment(S, w, w1 + tb, NATIVE), a1);
            a2 = u.fma(FloatVector.fromMemorySegment(S, w, w2 + tb, NATIVE), a2);
            a3 = u.fma(FloatVector.fromMemorySegment(S, w, w3 + tb, NATIVE), a3);
            a4 = u.fma(FloatVector.fromMemorySegment(S, w, w4 + tb, NATIVE), a4);
            a5 = u.fma(FloatVector.fromMemorySegment(S, w, w5 + tb, NATIVE), a5);
            a6 = u.fma(FloatVector.fromMemorySegment(S, w, w6 + tb, NATIVE), a6);
            a7 = u.fma(FloatVector.fromMemorySegment(S, w, w7 + tb, NATIVE), a7);
        }
        a0.intoArray(lanes, 0); a1.intoArray(lanes, L); a2.intoArray(lanes, 2 * L); a3.intoArray(lanes, 3 * L);
        a4.intoArray(lanes, 4 * L); a5.intoArray(lanes, 5 * L); a6.intoArray(lanes, 6 * L); a7.intoArray(lanes, 7 * L);
        for (int q = 0; q < wr; q++) {
            float sum = Lanes.sum(lanes, q * L, L);
            long wo = (long) (j0 + q) * ldw;
            for (int t = full; t < k; t++) sum = Math.fma(x[t], w.get(F32, wo + t * 4L), sum);
            if (pr.bias != null) sum += pr.bias[j0 + q];
            out.setAtIndex(F32, j0 + q, sum);
        }
    }

    /** y[i0+r][j0+q] for r < xr, q < wr (each at most 4): see {@link #fewRows}. */
    private static void dots(Problem pr, float[] x, int i0, int xr, int j0, int wr) {
        final int n = pr.n, k = pr.k;
        final MemorySegment w = pr.b, out = pr.out;
        final int full = k / L * L;
        final long ldw = k * 4L;
        // Missing weight rows / x rows repeat the last real one (their results are discarded).
        long w0 = (long) j0 * ldw, w1 = (long) (j0 + Math.min(1, wr - 1)) * ldw;
        long w2 = (long) (j0 + Math.min(2, wr - 1)) * ldw, w3 = (long) (j0 + Math.min(3, wr - 1)) * ldw;
        int x0 = i0 * k, x1 = (i0 + Math.min(1, xr - 1)) * k, x2 = (i0 + Math.min(2, xr - 1)) * k, x3 = (i0 + Math.min(3, xr - 1)) * k;
        FloatVector z = FloatVector.zero(S);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        for (int t = 0; t < full; t += L) {
            long tb = t * 4L;
            FloatVector v0 = FloatVector.fromMemorySegment(S, w, w0 + tb, NATIVE);
            FloatVector v1 = FloatVector.fromMemorySegment(S, w, w1 + tb, NATIVE);
            FloatVector v2 = FloatVector.fromMemorySegment(S, w, w2 + tb, NATIVE);
            FloatVector v3 = FloatVector.fromMemorySegment(S, w, w3 + tb, NATIVE);
            FloatVector u = FloatVector.fromArray(S, x, x0 + t);
            a00 = u.fma(v0, a00); a01 = u.fma(v1, a01); a02 = u.fma(v2, a02); a03 = u.fma(v3, a03);
            u = FloatVector.fromArray(S, x, x1 + t);
            a10 = u.fma(v0, a10); a11 = u.fma(v1, a11); a12 = u.fma(v2, a12); a13 = u.fma(v3, a13);
            u = FloatVector.fromArray(S, x, x2 + t);
            a20 = u.fma(v0, a20); a21 = u.fma(v1, a21); a22 = u.fma(v2, a22); a23 = u.fma(v3, a23);
            u = FloatVector.fromArray(S, x, x3 + t);
            a30 = u.fma(v0, a30); a31 = u.fma(v1, a31); a32 = u.fma(v2, a32); a33 = u.fma(v3, a33);
        }
        float[] acc = {
            Lanes.sum(a00), Lanes.sum(a01), Lanes.sum(a02), Lanes.sum(a03),
            Lanes.sum(a10), Lanes.sum(a11), Lanes.sum(a12), Lanes.sum(a13),
            Lanes.sum(a20), Lanes.sum(a21), Lanes.sum(a22), Lanes.sum(a23),
            Lanes.sum(a30), Lanes.sum(a31), Lanes.sum(a32), Lanes.sum(a33)};
        for (int r = 0; r < xr; r++) {
            int xo = (i0 + r) * k;
            for (int q = 0; q < wr; q++) {
                float sum = acc[r * 4 + q];
                long wo = (long) (j0 + q) * ldw;
                for (int t = full; t < k; t++) sum = Math.fma(x[xo + t], w.get(F32, wo + t * 4L), sum);
                if (pr.bias != null) sum += pr.bias[j0 + q];
                out.setAtIndex(F32, (long) (i0 + r) * n + j0 + q, sum);
            }
        }
    }

    /** Start (in micro tiles) of part {@code i} of {@code tiles} cut into {@code parts}. */
    private static int split(int tiles, int parts, int i) {
        return (int) ((long) tiles * i / parts);
    }

    private static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }

    /** K = 0: the output is the bias (or zeros). */
    private static void fillBias(Problem pr, long batch) {
        long rows = batch * pr.m;
        for (long i = 0; i < rows; i++) {
            for (int j = 0; j < pr.n; j++) {
                store(pr.out, pr.dtype, i * pr.n + j, pr.bias == null ? 0f : pr.bias[j]);
            }
        }
    }

    private static float[] widen(Tensor t) {
        return t.toFloatArray();
    }

    /** One macro tile of batch {@code p}: rows [i0,i1) x cols [j0,j1) of C. */
    private static void runTile(Problem pr, Buffers buf, long p, int i0, int i1, int j0, int j1) {
        final int m = pr.m, n = pr.n, k = pr.k;
        final int mt = i1 - i0, nt = j1 - j0;
        long aBase = p * m * (long) k;
        long bBase = pr.bBatched ? p * k * (long) n : 0;
        // Balanced K blocks: the same for every tile, so the summation order never depends on tiling.
        int kBlocks = (k + KC - 1) / KC;
        int kc0 = (k + kBlocks - 1) / kBlocks;
        int ncMax = Math.min(NC, roundUp(nt, NR));
        int mcMax = Math.min(MC, roundUp(mt, MR));
        float[] bp = buf.b(kc0 * ncMax);
        float[] ap = buf.a(kc0 * mcMax);

        boolean f32 = pr.dtype == DType.F32;
        Arena arena = f32 ? null : Arena.ofConfined();
        try {
            MemorySegment c;
            long cOff, ldc;
            if (f32) {
                c = pr.out;
                cOff = ((p * m + i0) * (long) n + j0) * 4L;
                ldc = n * 4L;
            } else {
                c = arena.allocate((long) mt * nt * 4L, 64);
                cOff = 0;
                ldc = nt * 4L;
            }
            for (int jc = 0; jc < nt; jc += NC) {
                int nc = Math.min(NC, nt - jc);
                for (int pc = 0; pc < k; pc += kc0) {
                    int kc = Math.min(kc0, k - pc);
                    boolean first = pc == 0;
                    packB(pr, bBase, pc, kc, j0 + jc, nc, bp, 0);
                    for (int ic = 0; ic < mt; ic += MC) {
                        int mc = Math.min(MC, mt - ic);
                        packA(pr, aBase, i0 + ic, mc, pc, kc, ap);
                        for (int jr = 0; jr < nc; jr += NR) {
                            int nr = Math.min(NR, nc - jr);
                            int bOff = jr * kc; // panel jr/NR starts at (jr/NR)*NR*kc
                            float[] bias = first ? pr.bias : null;
                            int biasOff = j0 + jc + jr;
                            for (int ir = 0; ir < mc; ir += MR) {
                                int mr = Math.min(MR, mc - ir);
                                int aOff = ir * kc;
                                long cAt = cOff + (ic + ir) * ldc + (jc + jr) * 4L;
                                kernel(kc, ap, aOff, bp, bOff, buf.tile);
                                addTile(buf.tile, mr, nr, c, cAt, ldc, first, bias, biasOff);
                            }
                        }
                    }
                }
            }
            if (!f32) {
                for (int i = 0; i < mt; i++) {
                    long dst = (p * m + i0 + i) * (long) n + j0;
                    for (int j = 0; j < nt; j++) {
                        store(pr.out, pr.dtype, dst + j, c.getAtIndex(F32, (long) i * nt + j));
                    }
                }
            }
        } finally {
            if (arena != null) arena.close();
        }
    }

    // ---- packing ----------------------------------------------------------------------------

    static float load(MemorySegment s, DType t, long index) {
        return switch (t) {
            case F32 -> s.getAtIndex(F32, index);
            case BF16 -> Float.intBitsToFloat((s.getAtIndex(I16, index) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(s.getAtIndex(I16, index));
            default -> throw new AssertionError(t);
        };
    }

    private static void store(MemorySegment s, DType t, long index, float v) {
        switch (t) {
            case F32 -> s.setAtIndex(F32, index, v);
            case BF16 -> s.setAtIndex(I16, index, DType.floatToBf16(v));
            case F16 -> s.setAtIndex(I16, index, Float.floatToFloat16(v));
            default -> throw new AssertionError(t);
        }
    }

    /**
     * Packs rows [i0, i0+mc) x cols [p0, p0+kc) of A into MR-row panels: panel q holds
     * {@code ap[q*MR*kc + t*MR + r] = A[i0 + q*MR + r][p0 + t]}, zero rows past mc.
     */
    private static void packA(Problem pr, long aBase, int i0, int mc, int p0, int kc, float[] ap) {
        final MemorySegment a = pr.a;
        final int k = pr.k;
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int panel = ir * kc;
            if (mr == MR && pr.dtype == DType.F32 && LaneTranspose.AVAILABLE && MR <= L && kc >= L) {
                // A whole fp32 panel: its MR row pieces copied out in bulk, then 16 × 16 blocks
                // transposed through registers (the element-by-element transpose cost as much as
                // the product itself at a 3×3 convolution's N of 128). Each transposed row is
                // stored whole, L lanes at stride MR < L, in increasing order: its last L - MR
                // lanes (from the unused source rows MR..L-1) are overwritten by the next row's
                // store, and the block's last row's by the next block, the scalar tail, or the
                // next panel, all packed later; where that would pass the end of ap the block
                // goes the scalar way.
                float[] rows = BUFFERS.get().row(L * kc); // L rows of kc; rows MR.. only fill the dropped lanes
                for (int r = 0; r < MR; r++) MemorySegment.copy(a, F32, (aBase + (long) (i0 + ir + r) * k + p0) * 4L, rows, r * kc, kc);
                int t = 0;
                for (; t + L <= kc && panel + (t + L) * MR + (L - MR) <= ap.length; t += L) {
                    LaneTranspose.transpose(rows, t, kc, ap, panel + t * MR, MR);
                }
                for (; t < kc; t++) {
                    for (int r = 0; r < MR; r++) ap[panel + t * MR + r] = rows[r * kc + t];
                }
                continue;
            }
            for (int r = 0; r < mr; r++) {
                long src = aBase + (long) (i0 + ir + r) * k + p0;
                int dst = panel + r;
                if (pr.dtype == DType.F32) {
                    long byteAt = src * 4L;
                    for (int t = 0; t < kc; t++) ap[dst + t * MR] = a.get(F32, byteAt + t * 4L);
                } else {
                    for (int t = 0; t < kc; t++) ap[dst + t * MR] = load(a, pr.dtype, src + t);
                }
            }
            for (int r = mr; r < MR; r++) {
                for (int t = 0; t < kc; t++) ap[panel + r + t * MR] = 0f;
            }
        }
    }

    /**
     * Packs rows [p0, p0+kc) x cols [j0, j0+nc) of B (the logical [K,N] operand) into NR-column
     * panels: panel q holds {@code bp[bpOff + q*NR*kc + t*NR + j] = B[p0 + t][j0 + q*NR + j]}, zero
     * columns past nc. B is read from [K,N] memory, or from [N,K] when transposed.
     */
    private static void packB(Problem pr, long bBase, int p0, int kc, int j0, int nc, float[] bp, int bpOff) {
        final MemorySegment b = pr.b;
        final int n = pr.n, k = pr.k;
        int start = 0;
        if (!pr.bTransposed && pr.dtype == DType.F32 && nc >= NR) {
            // Full panels row by row: each row of B is read once, sequentially (reading panel by
            // panel would touch kc rows, one page apart, for every 128 bytes).
            int full = nc / NR;
            for (int t = 0; t < kc; t++) {
                long rowAt = (bBase + (long) (p0 + t) * n + j0) * 4L;
                int dst = bpOff + t * NR;
                for (int q = 0; q < full; q++) {
                    long at = rowAt + q * (long) NR * 4L;
                    int d = dst + q * NR * kc;
                    for (int v = 0; v < NV; v++) {
                        FloatVector.fromMemorySegment(S, b, at + v * L * 4L, NATIVE).intoArray(bp, d + v * L);
                    }
                }
            }
            start = full * NR;
        }
        for (int jr = start; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int panel = bpOff + jr * kc;
            if (pr.bTransposed && pr.dtype == DType.F32 && nr == NR) {
                // W [N,K], a whole panel: its NR row pieces are copied out in bulk, then each k's
                // NR values are gathered L at a time into one contiguous run of the panel (the
                // element-by-element transpose made packing cost more than a 33-row product).
                Buffers buf = BUFFERS.get();
                float[] rows = buf.row(NR * kc);
                int[] idx = buf.strideIndex(kc);
                for (int j = 0; j < NR; j++) MemorySegment.copy(b, F32, (bBase + (long) (j0 + jr + j) * k + p0) * 4L, rows, j * kc, kc);
                int t = 0;
                if (LaneTranspose.AVAILABLE) { // whole 16 × 16 blocks through registers: ~2x the gathers' rate
                    for (; t + L <= kc; t += L) {
                        for (int v = 0; v < NV; v++) LaneTranspose.transpose(rows, v * L * kc + t, kc, bp, panel + t * NR + v * L, NR);
                    }
                }
                for (; t < kc; t++) {
                    int dst = panel + t * NR;
                    for (int v = 0; v < NV; v++) FloatVector.fromArray(S, rows, v * L * kc + t, idx, 0).intoArray(bp, dst + v * L);
                }
            } else if (pr.bTransposed) {
                // W [N,K]: column j of B is row j of W, contiguous along k.
                for (int j = 0; j < nr; j++) {
                    long src = bBase + (long) (j0 + jr + j) * k + p0;
                    int dst = panel + j;
                    if (pr.dtype == DType.F32) {
                        long byteAt = src * 4L;
                        for (int t = 0; t < kc; t++) bp[dst + t * NR] = b.get(F32, byteAt + t * 4L);
                    } else {
                        for (int t = 0; t < kc; t++) bp[dst + t * NR] = load(b, pr.dtype, src + t);
                    }
                }
                if (nr < NR) {
                    for (int t = 0; t < kc; t++) {
                        for (int j = nr; j < NR; j++) bp[panel + t * NR + j] = 0f;
                    }
                }
            } else if (pr.dtype == DType.F32 && nr == NR) {
                for (int t = 0; t < kc; t++) {
                    long byteAt = (bBase + (long) (p0 + t) * n + j0 + jr) * 4L;
                    int dst = panel + t * NR;
                    for (int v = 0; v < NV; v++) {
                        FloatVector.fromMemorySegment(S, b, byteAt + v * L * 4L, NATIVE).intoArray(bp, dst + v * L);
                    }
                }
            } else {
                for (int t = 0; t < kc; t++) {
                    long src = bBase + (long) (p0 + t) * n + j0 + jr;
                    int dst = panel + t * NR;
                    for (int j = 0; j < nr; j++) bp[dst + j] = load(b, pr.dtype, src + j);
                    for (int j = nr; j < NR; j++) bp[dst + j] = 0f;
                }
            }
        }
    }

    // ---- prepacked weights ({@link LinearWeight}) --------------------------------------------

    /** Most output panels per work item of {@link #linearPacked} (128 columns: whole 64-byte lines of each row of y). */
    private static final int PACKED_PANELS = 4;

    /** Row tiles per work item of {@link #linearPacked} (96 rows with AVX-512): a short input's rows are one chunk. */
    private static final int PACKED_TILES = 8;

    /** Rows of the small tile {@link #linearPacked} uses for the rows past the last full MR tile. */
    private static final int SMALL_TILE = 4;

    /**
     * fp32 W [N, K] on the host packed once for {@link #linearPacked}: NR-column panels over the
     * whole of K, {@code wp[(q*k + t)*NR + j] = W[q*NR + j][t]}, zero columns past N — what
     * {@link #packB} gives for one K block as long as K, so it packs them (in parallel, by panel
     * ranges) and the micro-kernels read each K block in place. The caller ({@link LinearWeight})
     * has checked that the size fits an array.
     */
    static float[] packWeight(Tensor w, int n, int k) {
        final Problem pr = new Problem(null, w.hostSegment(), null, null, DType.F32, 0, n, k, true, false);
        final int panels = (n + NR - 1) / NR;
        final float[] wp = new float[panels * k * NR];
        Parallel.forRange(panels, Math.max(1, (1 << 16) / Math.max(1, k * NR)), (lo, hi) -> {
            int j0 = (int) lo * NR;
            packB(pr, 0, 0, k, j0, Math.min(n, (int) hi * NR) - j0, wp, j0 * k);
        });
        return wp;
    }

    /**
     * fp32 {@code y [rows, N] = x [rows, K] · Wᵀ (+ bias)} with W prepacked by {@link #packWeight}:
     * the blocked path without packing B. x is packed once into row tiles over all of K — MR rows,
     * then {@link #SMALL_TILE}-row tiles for the rest (a 15-token sentence computes 16 rows, not
     * 24) — in parallel when there are many. Work items are (a run of up to {@link #PACKED_PANELS}
     * panels, a chunk of up to {@link #PACKED_TILES} row tiles), panel-run major, claimed one at a
     * time by whichever thread is free: for a short input an item reads its panels once, from
     * memory, for all the rows. Every element is summed as the blocked path sums it — the same
     * balanced K blocks, each a sequential chain of fp32 FMAs, added in order — so for the same
     * operands the result equals {@code linear}'s on the blocked path bit for bit, and does not
     * depend on the thread count.
     */
    static void linearPacked(Tensor x, float[] wp, int n, int k, Tensor bias, Tensor out, int rows, int parts) {
        final float[] biasF = bias == null ? null : widen(bias);
        final MemorySegment a = x.hostSegment(), c = out.hostSegment();
        if (rows == 0 || n == 0) return;
        if (k == 0) {
            fillBias(new Problem(a, null, biasF, c, DType.F32, rows, n, 0, true, false), 1);
            return;
        }
        final int kBlocks = (k + KC - 1) / KC, kc0 = (k + kBlocks - 1) / kBlocks;
        final int full = rows / MR, tiles = full + (rows - full * MR + SMALL_TILE - 1) / SMALL_TILE;
        final int want = (long) rows * n * k < PARALLEL_MIN_FMAS ? 1 : Math.max(1, parts);
        // x as row tiles over all of K: tile ti at ti * MR * k. Checked out for the whole call, like
        // runShared's B: while this thread joins it may run another GEMM's parts.
        final Buffers mine = BUFFERS.get();
        final float[] ap = mine.takeShared(tiles * MR * k);
        try {
            if (want > 1 && tiles > 4) {
                Parallel.forRange(tiles, 4, (lo, hi) -> packRows(a, k, rows, full, (int) lo, (int) hi, ap));
            } else {
                packRows(a, k, rows, full, 0, tiles, ap);
            }
            multiplyPacked(ap, wp, n, k, biasF, c, rows, full, tiles, kc0, want);
        } finally {
            mine.giveShared(ap);
        }
    }

    /** True when {@link #linearPacked} can pack x [rows, k] whole (into one array). */
    static boolean packedFits(int rows, int k) {
        return (long) (rows / MR + (MR + SMALL_TILE - 1) / SMALL_TILE) * MR * k <= Integer.MAX_VALUE - 8; // tiles <= full + ceil((MR-1)/4)
    }

    /** The products of {@link #linearPacked} once x is packed. */
    private static void multiplyPacked(float[] ap, float[] wp, int n, int k, float[] biasF, MemorySegment c, int rows, int full,
                                       int tiles, int kc0, int want) {
        final int panels = (n + NR - 1) / NR, chunks = (tiles + PACKED_TILES - 1) / PACKED_TILES;
        // runs short enough that each thread gets several items
        final int perRun = Math.max(1, Math.min(PACKED_PANELS, panels * chunks / (4 * want)));
        final int runs = (panels + perRun - 1) / perRun, items = runs * chunks;
        final long ldc = n * 4L;
        final AtomicInteger next = new AtomicInteger();
        Parallel.forParts(Math.min(want, items), part -> {
            float[] tile = BUFFERS.get().tile;
            for (int it; (it = next.getAndIncrement()) < items; ) {
                int run = it / chunks, chunk = it % chunks;
                for (int q = run * perRun, qEnd = Math.min(panels, q + perRun); q < qEnd; q++) {
                    int nr = Math.min(NR, n - q * NR);
                    for (int ti = chunk * PACKED_TILES, tEnd = Math.min(tiles, ti + PACKED_TILES); ti < tEnd; ti++) {
                        boolean big = ti < full;
                        int tr = tileRows(ti, full), i0 = tileStart(ti, full);
                        int mr = Math.min(tr, rows - i0), aBase = ti * MR * k;
                        long cAt = (i0 * (long) n + q * NR) * 4L;
                        for (int pc = 0; pc < k; pc += kc0) {
                            int kc = Math.min(kc0, k - pc), bOff = (q * k + pc) * NR;
                            if (big) kernel(kc, ap, aBase + pc * tr, wp, bOff, tile);
                            else kernelSmall(kc, ap, aBase + pc * tr, wp, bOff, tile);
                            boolean first = pc == 0;
                            addTile(tile, mr, nr, c, cAt, ldc, first, first ? biasF : null, q * NR);
                        }
                    }
                }
            }
        });
    }

    /** Packs row tiles [t0, t1) of x for {@link #linearPacked}: {@code ap[ti*MR*k + t*tr + r] = x[row0 + r][t]}, zero rows past the end. */
    private static void packRows(MemorySegment a, int k, int rows, int full, int t0, int t1, float[] ap) {
        float[] row = BUFFERS.get().row(k);
        for (int ti = t0; ti < t1; ti++) {
            int tr = tileRows(ti, full), i0 = tileStart(ti, full);
            int mr = Math.min(tr, rows - i0), base = ti * MR * k;
            for (int r = 0; r < mr; r++) {
                MemorySegment.copy(a, F32, (long) (i0 + r) * k * 4L, row, 0, k); // one bulk read, then array stores
                for (int t = 0; t < k; t++) ap[base + t * tr + r] = row[t];
            }
            for (int r = mr; r < tr; r++) {
                for (int t = 0; t < k; t++) ap[base + t * tr + r] = 0f;
            }
        }
    }

    /** Rows of x's row tile {@code ti} in {@link #linearPacked}: MR for the first {@code full} tiles, then {@link #SMALL_TILE}. */
    private static int tileRows(int ti, int full) {
        return ti < full ? MR : SMALL_TILE;
    }

    /** First row of x in row tile {@code ti} (see {@link #tileRows}). */
    private static int tileStart(int ti, int full) {
        return ti < full ? ti * MR : full * MR + (ti - full) * SMALL_TILE;
    }

    /** tile[SMALL_TILE x NR] = Apanel · Bpanel over kc steps (A packed {@link #SMALL_TILE} rows wide). */
    private static void kernelSmall(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        if (MR == SMALL_TILE) kernel4(kc, ap, aOff, bp, bOff, tile);
        else kernel4x2(kc, ap, aOff, bp, bOff, tile);
    }

    // ---- micro-kernels ----------------------------------------------------------------------
    // The kernels only multiply: they leave the MR x NR product in a scratch tile (L1-resident),
    // and addTile moves it into C. Keeping the kernel this small keeps C2 inlining the whole
    // loop body and the accumulators in registers.

    /** tile[MR x NR] = Apanel · Bpanel over kc steps. */
    static void kernel(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        if (MR == 12) kernel12(kc, ap, aOff, bp, bOff, tile);
        else kernel4(kc, ap, aOff, bp, bOff, tile);
    }

    private static void kernel12(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z;
        FloatVector c3_0 = z, c3_1 = z, c4_0 = z, c4_1 = z, c5_0 = z, c5_1 = z;
        FloatVector c6_0 = z, c6_1 = z, c7_0 = z, c7_1 = z, c8_0 = z, c8_1 = z;
        FloatVector c9_0 = z, c9_1 = z, c10_0 = z, c10_1 = z, c11_0 = z, c11_1 = z;
        for (int t = 0; t < kc; t++) {
            int bi = bOff + t * NR;
            int ai = aOff + t * 12;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector a;
            a = FloatVector.broadcast(S, ap[ai + 0]);
            c0_0 = a.fma(b0, c0_0); c0_1 = a.fma(b1, c0_1);
            a = FloatVector.broadcast(S, ap[ai + 1]);
            c1_0 = a.fma(b0, c1_0); c1_1 = a.fma(b1, c1_1);
            a = FloatVector.broadcast(S, ap[ai + 2]);
            c2_0 = a.fma(b0, c2_0); c2_1 = a.fma(b1, c2_1);
            a = FloatVector.broadcast(S, ap[ai + 3]);
            c3_0 = a.fma(b0, c3_0); c3_1 = a.fma(b1, c3_1);
            a = FloatVector.broadcast(S, ap[ai + 4]);
            c4_0 = a.fma(b0, c4_0); c4_1 = a.fma(b1, c4_1);
            a = FloatVector.broadcast(S, ap[ai + 5]);
            c5_0 = a.fma(b0, c5_0); c5_1 = a.fma(b1, c5_1);
            a = FloatVector.broadcast(S, ap[ai + 6]);
            c6_0 = a.fma(b0, c6_0); c6_1 = a.fma(b1, c6_1);
            a = FloatVector.broadcast(S, ap[ai + 7]);
            c7_0 = a.fma(b0, c7_0); c7_1 = a.fma(b1, c7_1);
            a = FloatVector.broadcast(S, ap[ai + 8]);
            c8_0 = a.fma(b0, c8_0); c8_1 = a.fma(b1, c8_1);
            a = FloatVector.broadcast(S, ap[ai + 9]);
            c9_0 = a.fma(b0, c9_0); c9_1 = a.fma(b1, c9_1);
            a = FloatVector.broadcast(S, ap[ai + 10]);
            c10_0 = a.fma(b0, c10_0); c10_1 = a.fma(b1, c10_1);
            a = FloatVector.broadcast(S, ap[ai + 11]);
            c11_0 = a.fma(b0, c11_0); c11_1 = a.fma(b1, c11_1);
        }
        c0_0.intoArray(tile, 0 * NR); c0_1.intoArray(tile, 0 * NR + L);
        c1_0.intoArray(tile, 1 * NR); c1_1.intoArray(tile, 1 * NR + L);
        c2_0.intoArray(tile, 2 * NR); c2_1.intoArray(tile, 2 * NR + L);
        c3_0.intoArray(tile, 3 * NR); c3_1.intoArray(tile, 3 * NR + L);
        c4_0.intoArray(tile, 4 * NR); c4_1.intoArray(tile, 4 * NR + L);
        c5_0.intoArray(tile, 5 * NR); c5_1.intoArray(tile, 5 * NR + L);
        c6_0.intoArray(tile, 6 * NR); c6_1.intoArray(tile, 6 * NR + L);
        c7_0.intoArray(tile, 7 * NR); c7_1.intoArray(tile, 7 * NR + L);
        c8_0.intoArray(tile, 8 * NR); c8_1.intoArray(tile, 8 * NR + L);
        c9_0.intoArray(tile, 9 * NR); c9_1.intoArray(tile, 9 * NR + L);
        c10_0.intoArray(tile, 10 * NR); c10_1.intoArray(tile, 10 * NR + L);
        c11_0.intoArray(tile, 11 * NR); c11_1.intoArray(tile, 11 * NR + L);
    }

    private static void kernel4(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00;
        for (int t = 0; t < kc; t++) {
            int bi = bOff + t * NR;
            int ai = aOff + t * 4;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector b2 = FloatVector.fromArray(S, bp, bi + 2 * L);
            FloatVector a = FloatVector.broadcast(S, ap[ai]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02);
            a = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12);
            a = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22);
            a = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, L); c02.intoArray(tile, 2 * L);
        c10.intoArray(tile, NR); c11.intoArray(tile, NR + L); c12.intoArray(tile, NR + 2 * L);
        c20.intoArray(tile, 2 * NR); c21.intoArray(tile, 2 * NR + L); c22.intoArray(tile, 2 * NR + 2 * L);
        c30.intoArray(tile, 3 * NR); c31.intoArray(tile, 3 * NR + L); c32.intoArray(tile, 3 * NR + 2 * L);
    }

    /** As {@link #kernel12} for 4 rows (NV = 2): the small tile of {@link #linearPacked} with AVX-512. */
    private static void kernel4x2(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int t = 0; t < kc; t++) {
            int bi = bOff + t * NR;
            int ai = aOff + t * 4;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector a = FloatVector.broadcast(S, ap[ai]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, L);
        c10.intoArray(tile, NR); c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR); c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR); c31.intoArray(tile, 3 * NR + L);
    }

    /**
     * Moves the valid mr x nr part of a product tile into C at {@code c + cAt} (row stride ldc
     * bytes): the first K block stores it (+ bias), later blocks add it to C. Full rows go by
     * vectors, the ragged right edge by scalars; both do the same single fp32 add per element.
     */
    static void addTile(float[] tile, int mr, int nr, MemorySegment c, long cAt, long ldc,
                        boolean first, float[] bias, int biasOff) {
        int full = nr / L * L;
        for (int r = 0; r < mr; r++) {
            long row = cAt + r * ldc;
            int tr = r * NR;
            for (int j = 0; j < full; j += L) {
                FloatVector v = FloatVector.fromArray(S, tile, tr + j);
                long at = row + j * 4L;
                if (!first) v = v.add(FloatVector.fromMemorySegment(S, c, at, NATIVE));
                else if (bias != null) v = v.add(FloatVector.fromArray(S, bias, biasOff + j));
                v.intoMemorySegment(c, at, NATIVE);
            }
            for (int j = full; j < nr; j++) {
                float v = tile[tr + j];
                long at = row + j * 4L;
                if (!first) v += c.get(F32, at);
                else if (bias != null) v += bias[biasOff + j];
                c.set(F32, at, v);
            }
        }
    }
}
