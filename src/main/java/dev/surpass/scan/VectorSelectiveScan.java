package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.LaneTranspose;
import dev.surpass.backend.Parallel;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import dev.surpass.backend.VectorExp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link SelectiveScan}: channels in the vector lanes. A task owns one sequence and a block of
 * up to {@code VL} channels of one B/C group (VL = the preferred float species' length, 16 with
 * AVX-512); every lane runs its own channel's recurrence, the N states of the block are N vectors,
 * so {@code exp(Δ·A)} is vectorised across channels and {@code y = Σ_n C·h} is a plain
 * vector fma per state (no horizontal sum). B and C of a token are shared by the block's channels
 * (one group) and enter as broadcasts.
 *
 * <p>Layout work: B and C are widened once per call into per-(batch, group) {@code [N, L]} fp32
 * arrays, the tensor's own layout: the recurrence reads state k's row at unit stride. u, delta, z
 * ({@code [Bt, Dm, L]}, one row per channel) are read {@link #SPAN} tokens at a time, a row in one
 * run (widened to fp32 by {@link HostRows}), and turned into token-major scratch {@code [t][lane]}
 * by {@link LaneTranspose}; y goes back the same way. The recurrence then runs over
 * {@link #TILE}-token pieces of the span, so its working set stays in L1. {@code A·log2e} is
 * pre-scaled per block so {@code exp(Δ·A) = 2^(Δ·A·log2e)}. The exponentials are the library's
 * deterministic vector exp2 (plain fma and integer ops), so a lane's result does not depend on the
 * lane, the tile, the thread count or the JIT tier: the decode step equals the scan bit for bit.
 *
 * <p>Two drivers. Sequential ({@code chunk = 0}): one task per (sequence, channel block), scanned
 * from its initial state to the end. Chunked ({@code chunk > 0}, for few blocks and long sequences,
 * where blocks alone cannot keep the threads busy): each sequence is cut into chunks of
 * {@code chunk} tokens; pass 1 scans every (chunk, block) in parallel from a zero state and keeps
 * the chunk's end state and decay product {@code P = Π exp(Δ·A)} — the pair (P, h) of the
 * associative operator {@code (a0,b0)∘(a1,b1) = (a1·a0, a1·b0 + b1)}; a sequential pass per row
 * carries the prefix over chunks ({@code h_start(c+1) = P_c·h_start(c) + h_c}, seeded from the
 * initial state); pass 2 re-runs every chunk in parallel from its true start state and writes y
 * (recomputation instead of storing states, as mamba_ssm does). Both give the sequential result up
 * to fp32 rounding.
 *
 * <p>{@code init} and {@code last} may be the same tensor (the decode step updates the state in
 * place): each task reads its block's initial state before it writes its last.
 */
final class VectorSelectiveScan {
    private VectorSelectiveScan() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
    /**
     * Tokens read (and y written) per visit of a block's rows: runs of 2 KB per fp32 row. Shorter
     * runs starve the memory system — one thread reading 48 rows 16 × 64 tokens at a time got
     * 6.4 GB/s, 512 tokens at a time 28 GB/s.
     */
    static final int SPAN = 512;
    /** Tokens per pass of the recurrence over all N states: its tiles stay in L1. */
    static final int TILE = 64;
    /** Chunk length of the parallel-in-time driver. */
    static final int CHUNK = 256;
    private static final float LOG2E = 1.4426950408889634f;

    /** The chunk length {@link SelectiveScan} uses: 0 (sequential) unless blocks are too few to fill the threads. */
    static int autoChunk(ScanDims dims) {
        long tasks = (long) dims.sequences() * blocks(dims);
        return tasks < 2L * Parallel.threads() && dims.maxLength() >= 4 * CHUNK ? CHUNK : 0;
    }

    /** Channel blocks: per group, ceil(channels per group / VL). */
    private static int blocks(ScanDims d) {
        if (d.dm() == 0) return 0;
        int gs = d.dm() / d.groups();
        return d.groups() * ((gs + VL - 1) / VL);
    }

    /** Inputs of one call, read-only after construction. */
    private static final class Job {
        final ScanDims dims;
        final DType dt;
        final MemorySegment u, delta, z, y, init, last;
        // D, delta_bias (F32, or null) where they lie: each block reads its own channels
        final MemorySegment dSkip, bias;
        /**
         * A·log2e per channel block, lane-major ({@code [block][k][lane]}, masked lanes 0), and each
         * block's smallest and largest value: made once per call, not once per (sequence, block)
         * (at batch 64 that repetition was a fifth of a decode step).
         */
        final float[] a2;
        final float[] a2Min, a2Max;
        final float[][] bRows, cRows;  // [batch·G][N·L] fp32: per state, its row over the tokens, as the tensor holds it
        final boolean softplus;
        final int perGroup;  // blocks per group

        Job(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor dSkip, Tensor z, Tensor deltaBias, boolean softplus,
            Tensor init, Tensor y, Tensor last, ScanDims dims) {
            this.dims = dims;
            this.dt = u.dtype();
            this.u = u.hostSegment();
            this.delta = delta.hostSegment();
            this.z = z == null ? null : z.hostSegment();
            this.y = y.hostSegment();
            this.init = init == null ? null : init.hostSegment();
            this.last = last.hostSegment();
            this.dSkip = dSkip == null ? null : dSkip.hostSegment();
            this.bias = deltaBias == null ? null : deltaBias.hostSegment();
            this.softplus = softplus;
            this.bRows = widen(b.hostSegment(), dt, dims);
            this.cRows = widen(c.hostSegment(), dt, dims);
            int gs = dims.dm() / dims.groups();
            this.perGroup = (gs + VL - 1) / VL;
            int n = dims.n(), nb = blocks(dims);
            this.a2 = new float[nb * n * VL];
            this.a2Min = new float[nb];
            this.a2Max = new float[nb];
            MemorySegment as = a.hostSegment();
            float[] rows = new float[VL * n];
            for (int blk = 0; blk < nb; blk++) {
                int c0 = c0(blk), w = width(blk), at = blk * n * VL;
                MemorySegment.copy(as, F32, (long) c0 * n * 4, rows, 0, w * n);
                toLanes(rows, n, w, a2, at);
                FloatVector lo = FloatVector.zero(S), hi = FloatVector.zero(S);  // masked lanes hold 0 anyway
                for (int i = at; i < at + n * VL; i += VL) {
                    FloatVector v = FloatVector.fromArray(S, a2, i).mul(LOG2E);
                    v.intoArray(a2, i);
                    lo = lo.min(v);  // NaN propagates, and then fails inRange's compares
                    hi = hi.max(v);
                }
                a2Min[blk] = lo.reduceLanes(VectorOperators.MIN);
                a2Max[blk] = hi.reduceLanes(VectorOperators.MAX);
            }
        }

        /** First channel of block blk. */
        int c0(int blk) {
            int gs = dims.dm() / dims.groups();
            return (blk / perGroup) * gs + (blk % perGroup) * VL;
        }

        /** Channels of block blk (≤ VL). */
        int width(int blk) {
            int gs = dims.dm() / dims.groups();
            return Math.min(VL, gs - (blk % perGroup) * VL);
        }
    }

    /**
     * Per-task scratch: tiles are token-major {@code [t][lane]}, states state-major {@code [k][lane]}.
     * Tiles hold {@code span} tokens: {@link #SPAN}, or fewer when no task runs that many (one for a
     * decode step, which allocates this per call).
     */
    private static final class Work {
        final float[] u, dl, du, zz, out;
        /** The span's rows, row-major ({@code [lane][t]}), between a tensor and a lane-major tile. */
        final float[] rows;
        final float[] h, p, a2;
        /** Rows of the states on their way to or from the lane-major arrays ({@link #loadState}, {@link #storeState}). */
        final float[] states;
        final float[] bias = new float[VL], dSkip = new float[VL];
        /** The block's smallest and largest {@code A·log2e} (masked lanes count as 0). */
        float a2Min, a2Max;

        Work(int n, int span) {
            u = new float[span * VL];
            dl = new float[span * VL];
            du = new float[span * VL];
            zz = new float[span * VL];
            out = new float[span * VL];
            rows = new float[span * VL];
            h = new float[n * VL];
            states = new float[n * VL];
            p = new float[n * VL];
            a2 = new float[n * VL];
        }

        /**
         * Loads block blk's per-channel constants: A·log2e from the job's lane-major copy, bias and D
         * (masked lanes 0) by bulk copies of the block's adjacent channels.
         */
        void block(Job job, int blk) {
            int n = job.dims.n(), c0 = job.c0(blk), w = job.width(blk);
            System.arraycopy(job.a2, blk * n * VL, a2, 0, n * VL);
            a2Min = job.a2Min[blk];
            a2Max = job.a2Max[blk];
            Arrays.fill(bias, 0f);
            Arrays.fill(dSkip, 0f);
            if (job.bias != null) MemorySegment.copy(job.bias, F32, c0 * 4L, bias, 0, w);
            if (job.dSkip != null) MemorySegment.copy(job.dSkip, F32, c0 * 4L, dSkip, 0, w);
        }
    }

    /**
     * Runs the scan; {@code chunk} 0 is the sequential driver, &gt; 0 the chunked one. Shapes were
     * validated by the entry.
     */
    static void scan(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor dSkip, Tensor z, Tensor deltaBias,
                     boolean softplus, Tensor init, Tensor y, Tensor last, ScanDims dims, int chunk) {
        if ((long) dims.length() * dims.n() > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("selectiveScan on the CPU: N·L = " + (long) dims.length() * dims.n()
                    + " exceeds a Java array; split the sequence (pass lastState as the next initialState)");
        }
        if (dims.dm() == 0 || dims.sequences() == 0) return;
        Job job = new Job(u, delta, a, b, c, dSkip, z, deltaBias, softplus, init, y, last, dims);
        if (chunk <= 0) sequential(job);
        else chunked(job, chunk);
    }

    private static long grain(ScanDims d, long tokensPerTask) {
        return Math.max(1, 65536 / Math.max(1, tokensPerTask * d.n() * VL));
    }

    private static void sequential(Job job) {
        ScanDims d = job.dims;
        int dm = d.dm(), n = d.n(), nb = blocks(d);
        long tasks = (long) d.sequences() * nb;
        int span = Math.min(SPAN, Math.max(1, d.maxLength()));
        Parallel.forRange(tasks, grain(d, Math.max(1, d.maxLength())), (lo, hi) -> {
            Work w = new Work(n, span);
            for (long x = lo; x < hi; x++) {
                int s = (int) (x / nb), blk = (int) (x % nb), c0 = job.c0(blk), width = job.width(blk);
                w.block(job, blk);
                long st = (long) s * dm + c0;  // state row of the block's first channel
                if (job.init == null) Arrays.fill(w.h, 0f);
                else loadState(job.init, st, n, width, w.h, w.states);
                run(job, s, c0, width, d.start(s), d.end(s), w.h, null, w);
                storeState(w.h, n, width, job.last, st, w.states);
            }
        });
    }

    private static void chunked(Job job, int chunk) {
        ScanDims d = job.dims;
        int dm = d.dm(), n = d.n(), nseq = d.sequences(), nb = blocks(d);
        // Chunks of every sequence, numbered globally: sequence s owns [first[s], first[s+1]).
        int[] first = new int[nseq + 1];
        for (int s = 0; s < nseq; s++) first[s + 1] = first[s] + (d.end(s) - d.start(s) + chunk - 1) / chunk;
        int total = first[nseq];
        int[] seqOf = new int[total];
        for (int s = 0; s < nseq; s++) Arrays.fill(seqOf, first[s], first[s + 1], s);
        long cells = (long) total * dm * n;
        if (cells > Integer.MAX_VALUE - 64) throw new IllegalArgumentException("selectiveScan: too many chunks for the chunked CPU scan");
        float[] decay = new float[(int) cells], local = new float[(int) cells], startState = new float[(int) cells];
        MemorySegment decayS = MemorySegment.ofArray(decay), localS = MemorySegment.ofArray(local),
                startS = MemorySegment.ofArray(startState);
        long tasks = (long) total * nb;
        // Pass 1: every (chunk, block) from a zero state: its end state and decay product.
        Parallel.forRange(tasks, grain(d, chunk), (lo, hi) -> {
            Work w = new Work(n, Math.min(SPAN, chunk));
            for (long x = lo; x < hi; x++) {
                int gc = (int) (x / nb), blk = (int) (x % nb), s = seqOf[gc], c0 = job.c0(blk), width = job.width(blk);
                int t0 = d.start(s) + (gc - first[s]) * chunk, t1 = Math.min(d.end(s), t0 + chunk);
                w.block(job, blk);
                Arrays.fill(w.h, 0f);
                Arrays.fill(w.p, 1f);
                run(job, s, c0, width, t0, t1, w.h, w.p, w);
                storeState(w.h, n, width, localS, (long) gc * dm + c0, w.states);
                storeState(w.p, n, width, decayS, (long) gc * dm + c0, w.states);
            }
        });
        // Carry the prefix over the chunks of each row, from its initial state.
        Parallel.forRange((long) nseq * dm, Math.max(1, 4096 / Math.max(1, (long) n * Math.max(1, total / nseq))), (lo, hi) -> {
            float[] h = new float[n];
            for (long r = lo; r < hi; r++) {
                int s = (int) (r / dm), ch = (int) (r % dm);
                if (job.init == null) Arrays.fill(h, 0f);
                else MemorySegment.copy(job.init, F32, r * n * 4, h, 0, n);
                for (int gc = first[s]; gc < first[s + 1]; gc++) {
                    int o = (gc * dm + ch) * n;
                    System.arraycopy(h, 0, startState, o, n);
                    for (int k = 0; k < n; k++) h[k] = decay[o + k] * h[k] + local[o + k];
                }
                MemorySegment.copy(h, 0, job.last, F32, r * n * 4, n);
            }
        });
        // Pass 2: every chunk again from its true start state, writing y.
        Parallel.forRange(tasks, grain(d, chunk), (lo, hi) -> {
            Work w = new Work(n, Math.min(SPAN, chunk));
            for (long x = lo; x < hi; x++) {
                int gc = (int) (x / nb), blk = (int) (x % nb), s = seqOf[gc], c0 = job.c0(blk), width = job.width(blk);
                int t0 = d.start(s) + (gc - first[s]) * chunk, t1 = Math.min(d.end(s), t0 + chunk);
                w.block(job, blk);
                loadState(startS, (long) gc * dm + c0, n, width, w.h, w.states);
                run(job, s, c0, width, t0, t1, w.h, null, w);
            }
        });
    }

    /**
     * States {@code [.., n]} rows {@code row0 .. row0+width} → lanes {@code h[k][lane]} (other lanes
     * 0). The rows are adjacent: one bulk copy into {@code tmp} ({@code >= width·n}), then the
     * transpose on the heap.
     */
    private static void loadState(MemorySegment src, long row0, int n, int width, float[] h, float[] tmp) {
        MemorySegment.copy(src, F32, row0 * n * 4, tmp, 0, width * n);
        toLanes(tmp, n, width, h, 0);
    }

    /**
     * Rows {@code rows[l][k]} ({@code l < width}, {@code k < n}) → lanes
     * {@code lanes[off + k·VL + l]}, other lanes 0: 16 × 16 blocks through {@link LaneTranspose}
     * when the block is full and n a multiple of 16 (a decode step does this for A and the state of
     * every block, every token: element by element it was most of the step).
     */
    private static void toLanes(float[] rows, int n, int width, float[] lanes, int off) {
        if (width == VL && n % VL == 0 && LaneTranspose.AVAILABLE) {
            for (int k = 0; k < n; k += VL) LaneTranspose.transpose(rows, k, n, lanes, off + k * VL, VL);
            return;
        }
        Arrays.fill(lanes, off, off + n * VL, 0f);
        for (int l = 0; l < width; l++) {
            for (int k = 0; k < n; k++) lanes[off + k * VL + l] = rows[l * n + k];
        }
    }

    /** The inverse of {@link #loadState}: lanes {@code h[k][lane]} → rows {@code row0 .. row0+width}, through {@code tmp}. */
    private static void storeState(float[] h, int n, int width, MemorySegment dst, long row0, float[] tmp) {
        if (width == VL && n % VL == 0 && LaneTranspose.AVAILABLE) { // see toLanes
            for (int k = 0; k < n; k += VL) LaneTranspose.transpose(h, k * VL, VL, tmp, k, n);
        } else {
            for (int l = 0; l < width; l++) {
                for (int k = 0; k < n; k++) tmp[l * n + k] = h[k * VL + l];
            }
        }
        MemorySegment.copy(tmp, 0, dst, F32, row0 * n * 4, width * n);
    }

    /**
     * Rows {@code row0 + l·rowStride} ({@code l < width}), tokens {@code [t0, t0+len)} → tile
     * {@code [t][lane]}: each row in one run into {@code rows} (widened to fp32), then turned
     * lane-major, 16 tokens at a time through {@link LaneTranspose} for a full block, the rest one by one.
     */
    private static void readTile(MemorySegment src, DType dt, long row0, long rowStride, int width, int t0, int len,
                                 float[] tile, float[] rows) {
        if (rowStride == 1) { // rows of one token (a decode step): the channels are adjacent, as the lanes are
            if (width < VL) Arrays.fill(tile, 0, VL, 0f);
            HostRows.read(src, dt, row0 + t0, tile, 0, width);
            return;
        }
        if (width < VL) Arrays.fill(tile, 0, len * VL, 0f);
        for (int l = 0; l < width; l++) HostRows.read(src, dt, row0 + l * rowStride + t0, rows, l * len, len);
        int full = transposable(width, len);
        for (int t = 0; t < full; t += VL) LaneTranspose.transpose(rows, t, len, tile, t * VL, VL);
        for (int l = 0; l < width; l++) {
            for (int t = full; t < len; t++) tile[t * VL + l] = rows[l * len + t];
        }
    }

    /** The inverse of {@link #readTile}, for y: tile {@code [t][lane]} → the rows' tokens {@code [t0, t0+len)}. */
    private static void writeTile(float[] tile, MemorySegment dst, DType dt, long row0, long rowStride, int width, int t0,
                                  int len, float[] rows) {
        if (rowStride == 1) { // see readTile
            HostRows.write(tile, 0, dst, dt, row0 + t0, width);
            return;
        }
        int full = transposable(width, len);
        for (int t = 0; t < full; t += VL) LaneTranspose.transpose(tile, t * VL, VL, rows, t, len);
        for (int l = 0; l < width; l++) {
            for (int t = full; t < len; t++) rows[l * len + t] = tile[t * VL + l];
            HostRows.write(rows, l * len, dst, dt, row0 + l * rowStride + t0, len);
        }
    }

    /** Leading tokens of a span that go through {@link LaneTranspose}: whole 16-token blocks of a full-width block. */
    private static int transposable(int width, int len) {
        return LaneTranspose.AVAILABLE && width == VL ? len - len % VL : 0;
    }

    /**
     * Tokens {@code [t0, t1)} of sequence s, channels {@code [c0, c0+width)}, from state h (updated
     * in place). Without {@code p}, y is written; with it (the chunked driver's first pass), no y:
     * {@code p} is multiplied by every {@code exp(Δ·A)}.
     */
    private static void run(Job job, int s, int c0, int width, int t0, int t1, float[] h, float[] p, Work w) {
        ScanDims d = job.dims;
        int n = d.n(), bb = d.batchOf(s), bg = bb * d.groups() + d.groupOf(c0);
        long len = d.length(), row0 = ((long) bb * d.dm() + c0) * len;
        float[] bk = job.bRows[bg], ck = job.cRows[bg];
        FloatVector biasV = FloatVector.fromArray(S, w.bias, 0), dV = FloatVector.fromArray(S, w.dSkip, 0);
        for (int s0 = t0; s0 < t1; s0 += SPAN) {
            int m = Math.min(SPAN, t1 - s0);
            readTile(job.u, job.dt, row0, len, width, s0, m, w.u, w.rows);
            readTile(job.delta, job.dt, row0, len, width, s0, m, w.dl, w.rows);
            // Δ·A·log2e within [−126, 0] for the whole span (Δ ≥ 0, A ≤ 0, their extreme product
            // in range; NaN fails the compares): the exponentials need no clamps, and give the same
            // values the clamped ones would.
            float dlMax = steps(w, biasV, job.softplus, m);
            boolean inRange = dlMax >= 0f && w.a2Max <= 0f && dlMax * w.a2Min >= -126f;
            if (p != null) {
                for (int j = 0; j < m; j += TILE) {
                    decayTokens(w.a2, bk, h, p, w.dl, w.du, s0 + j, j, Math.min(TILE, m - j), n, (int) len);
                }
                continue;
            }
            Arrays.fill(w.out, 0, m * VL, 0f);
            for (int j = 0; j < m; j += TILE) {
                if (inRange) emitTokensInRange(w.a2, bk, ck, h, w.dl, w.du, w.out, s0 + j, j, Math.min(TILE, m - j), n, (int) len);
                else emitTokens(w.a2, bk, ck, h, w.dl, w.du, w.out, s0 + j, j, Math.min(TILE, m - j), n, (int) len);
            }
            if (job.z != null) readTile(job.z, job.dt, row0, len, width, s0, m, w.zz, w.rows);
            finish(w, dV, job.z != null, m);
            writeTile(w.out, job.y, job.dt, row0, len, width, s0, m, w.rows);
        }
    }

    /**
     * Δ = softplus(delta + bias) (when asked) into {@code w.dl}, Δ·u into {@code w.du}; returns the
     * largest Δ when none is negative or NaN, else NaN. Its own method: small C2 units keep the
     * vector intrinsics inlined.
     */
    private static float steps(Work w, FloatVector biasV, boolean softplus, int m) {
        FloatVector lo = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
        FloatVector hi = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < m * VL; i += VL) {
            FloatVector v = FloatVector.fromArray(S, w.dl, i).add(biasV);
            if (softplus) v = softplus(v);
            v.intoArray(w.dl, i);
            v.mul(FloatVector.fromArray(S, w.u, i)).intoArray(w.du, i);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        float min = lo.reduceLanes(VectorOperators.MIN), max = hi.reduceLanes(VectorOperators.MAX);
        return min >= 0f ? max : Float.NaN;  // NaN anywhere propagates through min / max
    }

    /** y = (Σ C·h + D·u) · silu(z) (when z is given), in {@code w.out}. */
    private static void finish(Work w, FloatVector dV, boolean gate, int m) {
        for (int i = 0; i < m * VL; i += VL) {
            FloatVector v = dV.fma(FloatVector.fromArray(S, w.u, i), FloatVector.fromArray(S, w.out, i));
            if (gate) {
                FloatVector zv = FloatVector.fromArray(S, w.zz, i);
                v = v.mul(zv.div(exp2(zv.mul(-LOG2E)).add(1f)));
            }
            v.intoArray(w.out, i);
        }
    }

    /**
     * The recurrence over one tile, y accumulated in {@code out}: state k outer (its h and A stay in
     * registers), tokens inner. It and {@link #decayTokens} are separate methods, each one loop with
     * no branch: a flag-selected pair of loops in one method ran 1.4× slower (C2 kept fewer vectors
     * in registers).
     */
    private static void emitTokens(float[] a2, float[] bk, float[] ck, float[] h, float[] dl, float[] du, float[] out,
                                   int s0, int off, int m, int n, int len) {
        for (int k = 0; k < n; k++) {
            FloatVector hk = FloatVector.fromArray(S, h, k * VL), ak = FloatVector.fromArray(S, a2, k * VL);
            // state k's row of B and C at token s0, indexed by t: no range check per token
            int bo = k * len + s0;
            for (int t = 0; t < m; t++) {
                int i = (off + t) * VL;
                FloatVector dA = exp2(FloatVector.fromArray(S, dl, i).mul(ak));
                hk = dA.fma(hk, FloatVector.fromArray(S, du, i).mul(bk[bo + t]));
                hk.fma(FloatVector.broadcast(S, ck[bo + t]), FloatVector.fromArray(S, out, i)).intoArray(out, i);
            }
            hk.intoArray(h, k * VL);
        }
    }

    /** {@link #emitTokens} with {@link VectorExp#exp2InRange}: for a span whose Δ·A·log2e all lie in {@code [−126, 0]}. */
    private static void emitTokensInRange(float[] a2, float[] bk, float[] ck, float[] h, float[] dl, float[] du, float[] out,
                                          int s0, int off, int m, int n, int len) {
        for (int k = 0; k < n; k++) {
            FloatVector hk = FloatVector.fromArray(S, h, k * VL), ak = FloatVector.fromArray(S, a2, k * VL);
            int bo = k * len + s0;  // as in emitTokens
            for (int t = 0; t < m; t++) {
                int i = (off + t) * VL;
                FloatVector dA = VectorExp.exp2InRange(FloatVector.fromArray(S, dl, i).mul(ak));
                hk = dA.fma(hk, FloatVector.fromArray(S, du, i).mul(bk[bo + t]));
                hk.fma(FloatVector.broadcast(S, ck[bo + t]), FloatVector.fromArray(S, out, i)).intoArray(out, i);
            }
            hk.intoArray(h, k * VL);
        }
    }

    /** As {@link #emitTokens} without y, multiplying {@code p} by every {@code exp(Δ·A)} (the chunked driver's first pass). */
    private static void decayTokens(float[] a2, float[] bk, float[] h, float[] p, float[] dl, float[] du, int s0, int off,
                                    int m, int n, int len) {
        for (int k = 0; k < n; k++) {
            FloatVector hk = FloatVector.fromArray(S, h, k * VL), ak = FloatVector.fromArray(S, a2, k * VL);
            FloatVector pk = FloatVector.fromArray(S, p, k * VL);
            int bo = k * len + s0;  // as in emitTokens
            for (int t = 0; t < m; t++) {
                int i = (off + t) * VL;
                FloatVector dA = exp2(FloatVector.fromArray(S, dl, i).mul(ak));
                hk = dA.fma(hk, FloatVector.fromArray(S, du, i).mul(bk[bo + t]));
                pk = pk.mul(dA);
            }
            hk.intoArray(h, k * VL);
            pk.intoArray(p, k * VL);
        }
    }

    // ---- transcendentals (deterministic: plain fma, add and integer ops) --------------------------------

    /**
     * {@code 2^x} per lane, under 1 ulp on [−126, 127]; clamped there (below: 2^−126 instead of a
     * subnormal or 0, negligible as a decay factor; above: finite). NaN stays NaN. The library's one
     * vector exp2 ({@link VectorExp#exp2Clamped}).
     */
    static FloatVector exp2(FloatVector x) {
        return VectorExp.exp2Clamped(x);
    }

    /**
     * {@code log1p(exp(v))} for {@code v ≤ 20}, {@code v} above: {@code max(v, 0) + log1p(e)} with
     * {@code e = exp(−|v|) ∈ (0, 1]}; {@code log1p(e) = 2·atanh(s)}, {@code s = e / (2 + e) ≤ 1/3},
     * by its odd series to s^19 (error below 1e-9 relative).
     */
    static FloatVector softplus(FloatVector v) {
        FloatVector e = exp2(v.abs().mul(-LOG2E));
        FloatVector s = e.div(e.add(2f));
        FloatVector s2 = s.mul(s);
        FloatVector q = s2.fma(1f / 19, 1f / 17).fma(s2, FloatVector.broadcast(S, 1f / 15))
                .fma(s2, FloatVector.broadcast(S, 1f / 13)).fma(s2, FloatVector.broadcast(S, 1f / 11))
                .fma(s2, FloatVector.broadcast(S, 1f / 9)).fma(s2, FloatVector.broadcast(S, 1f / 7))
                .fma(s2, FloatVector.broadcast(S, 1f / 5)).fma(s2, FloatVector.broadcast(S, 1f / 3))
                .fma(s2, FloatVector.broadcast(S, 1f));
        FloatVector sp = v.blend(0f, v.compare(VectorOperators.LT, 0f)).add(s.mul(q).mul(2f));  // max(v, 0) as a blend (see VectorExp)
        return sp.blend(v, v.compare(VectorOperators.GT, 20f));
    }

    /** B or C {@code [batch, G, N, L]} → per (batch, group) {@code [N, L]} fp32 (the same layout, widened). */
    private static float[][] widen(MemorySegment src, DType dt, ScanDims d) {
        int bg = d.batch() * d.groups(), rowLen = d.n() * d.length();
        float[][] out = new float[bg][];
        Parallel.forRange(bg, Math.max(1, 65536 / Math.max(1, rowLen)), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                out[(int) r] = new float[rowLen];
                HostRows.read(src, dt, r * rowLen, out[(int) r], 0, rowLen);
            }
        });
        return out;
    }
}
