package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link SelectiveScan}: the recurrence vectorised over the state dim N (one lane per state),
 * threads over (sequence, channel) rows, fp32 throughout.
 *
 * <p>Layout work: B and C are transposed once per call from {@code [Bt, G, N, L]} to per-(batch,
 * group) {@code [L, N]} fp32 arrays, so the N states of token t are contiguous lanes; channels of a
 * group share them. u, delta, z and y are streamed per row in slices of {@link #SLICE} tokens
 * through fp32 scratch (F16/BF16 widened by {@link HostRows}).
 *
 * <p>Two drivers. Sequential ({@code chunk = 0}): one task per (sequence, channel) row, scanned
 * from its initial state to the end. Chunked ({@code chunk > 0}, for few rows and long sequences,
 * where rows alone cannot keep the threads busy): each sequence is cut into chunks of {@code chunk}
 * tokens; pass 1 scans every (chunk, channel) in parallel from a zero state and keeps the chunk's
 * end state and decay product {@code P = Π exp(Δ·A)} — the pair (P, h) of the associative operator
 * {@code (a0,b0)∘(a1,b1) = (a1·a0, a1·b0 + b1)}; a sequential pass per row carries the prefix over
 * chunks ({@code h_start(c+1) = P_c·h_start(c) + h_c}, seeded from the initial state); pass 2
 * re-runs every chunk in parallel from its true start state and writes y (recomputation instead of
 * storing states, as mamba_ssm does). Both give the sequential result up to fp32 rounding.
 *
 * <p>{@code init} and {@code last} may be the same tensor (the decode step updates the state in
 * place): each row reads its initial state before it writes its last.
 */
final class VectorSelectiveScan {
    private VectorSelectiveScan() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
    /** Tokens per scratch slice. */
    static final int SLICE = 512;
    /** Chunk length of the parallel-in-time driver. */
    static final int CHUNK = 256;
    /** Below this N the states run as scalars (a vector would be mostly masked lanes). */
    private static final int VECTOR_MIN_N = 8;

    /** The chunk length {@link SelectiveScan} uses: 0 (sequential) unless rows are too few to fill the threads. */
    static int autoChunk(ScanDims dims) {
        long rows = (long) dims.sequences() * dims.dm();
        return rows < 2L * Parallel.threads() && dims.maxLength() >= 4 * CHUNK ? CHUNK : 0;
    }

    /** Inputs of one call, read-only after construction. */
    private static final class Job {
        final ScanDims dims;
        final DType dt;
        final MemorySegment u, delta, z, y, init, last;
        final float[] a, dSkip, bias;
        final float[][] bT, cT;  // [batch·G][L·N]
        final boolean softplus;

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
            this.a = HostRows.readAll(a.hostSegment(), DType.F32, dims.dm() * dims.n());
            this.dSkip = dSkip == null ? null : HostRows.readAll(dSkip.hostSegment(), DType.F32, dims.dm());
            this.bias = deltaBias == null ? null : HostRows.readAll(deltaBias.hostSegment(), DType.F32, dims.dm());
            this.softplus = softplus;
            this.bT = transpose(b.hostSegment(), dt, dims);
            this.cT = transpose(c.hostSegment(), dt, dims);
        }
    }

    /** Per-task scratch. */
    private static final class Scratch {
        final float[] u = new float[SLICE], dl = new float[SLICE], zz = new float[SLICE], out = new float[SLICE];
        final float[] h, p;

        Scratch(int n) {
            int len = (n + S.length() - 1) / S.length() * S.length();
            h = new float[len];
            p = new float[len];
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
        return Math.max(1, 65536 / Math.max(1, tokensPerTask * d.n()));
    }

    private static void sequential(Job job) {
        ScanDims d = job.dims;
        int dm = d.dm(), n = d.n();
        long rows = (long) d.sequences() * dm;
        Parallel.forRange(rows, grain(d, Math.max(1, d.maxLength())), (lo, hi) -> {
            Scratch sc = new Scratch(n);
            for (long r = lo; r < hi; r++) {
                int s = (int) (r / dm), ch = (int) (r % dm);
                readState(job.init, r * n, sc.h, n);
                run(job, s, ch, d.start(s), d.end(s), sc.h, null, true, sc);
                MemorySegment.copy(sc.h, 0, job.last, F32, r * n * 4, n);
            }
        });
    }

    private static void chunked(Job job, int chunk) {
        ScanDims d = job.dims;
        int dm = d.dm(), n = d.n(), nseq = d.sequences();
        // Chunks of every sequence, numbered globally: sequence s owns [first[s], first[s+1]).
        int[] first = new int[nseq + 1];
        for (int s = 0; s < nseq; s++) first[s + 1] = first[s] + (d.end(s) - d.start(s) + chunk - 1) / chunk;
        int total = first[nseq];
        int[] seqOf = new int[total];
        for (int s = 0; s < nseq; s++) Arrays.fill(seqOf, first[s], first[s + 1], s);
        long cells = (long) total * dm * n;
        if (cells > Integer.MAX_VALUE - 64) throw new IllegalArgumentException("selectiveScan: too many chunks for the chunked CPU scan");
        float[] decay = new float[(int) cells], local = new float[(int) cells], startState = new float[(int) cells];
        long tasks = (long) total * dm;
        // Pass 1: every (chunk, channel) from a zero state: its end state and decay product.
        Parallel.forRange(tasks, grain(d, chunk), (lo, hi) -> {
            Scratch sc = new Scratch(n);
            for (long x = lo; x < hi; x++) {
                int gc = (int) (x / dm), ch = (int) (x % dm), s = seqOf[gc];
                int t0 = d.start(s) + (gc - first[s]) * chunk, t1 = Math.min(d.end(s), t0 + chunk);
                Arrays.fill(sc.h, 0f);
                Arrays.fill(sc.p, 1f);
                run(job, s, ch, t0, t1, sc.h, sc.p, false, sc);
                int o = (int) (x * n);
                System.arraycopy(sc.h, 0, local, o, n);
                System.arraycopy(sc.p, 0, decay, o, n);
            }
        });
        // Carry the prefix over the chunks of each row, from its initial state.
        Parallel.forRange((long) nseq * dm, Math.max(1, 4096 / Math.max(1, (long) n * Math.max(1, total / nseq))), (lo, hi) -> {
            float[] h = new float[n];
            for (long r = lo; r < hi; r++) {
                int s = (int) (r / dm), ch = (int) (r % dm);
                readState(job.init, r * n, h, n);
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
            Scratch sc = new Scratch(n);
            for (long x = lo; x < hi; x++) {
                int gc = (int) (x / dm), ch = (int) (x % dm), s = seqOf[gc];
                int t0 = d.start(s) + (gc - first[s]) * chunk, t1 = Math.min(d.end(s), t0 + chunk);
                System.arraycopy(startState, (int) (x * n), sc.h, 0, n);
                run(job, s, ch, t0, t1, sc.h, null, true, sc);
            }
        });
    }

    private static void readState(MemorySegment init, long elem, float[] h, int n) {
        if (init == null) Arrays.fill(h, 0, n, 0f);
        else MemorySegment.copy(init, F32, elem * 4, h, 0, n);
    }

    /**
     * Tokens {@code [t0, t1)} of sequence s, channel ch, from state h (updated in place). When
     * {@code p} is given it is multiplied by every {@code exp(Δ·A)}; when {@code emit}, y is written.
     */
    private static void run(Job job, int s, int ch, int t0, int t1, float[] h, float[] p, boolean emit, Scratch sc) {
        ScanDims d = job.dims;
        int n = d.n(), bb = d.batchOf(s), bg = bb * d.groups() + d.groupOf(ch), aOff = ch * n;
        long row = ((long) bb * d.dm() + ch) * d.length();
        float[] bT = job.bT[bg], cT = job.cT[bg], a = job.a;
        float bias = job.bias == null ? 0f : job.bias[ch];
        float dSkip = job.dSkip == null ? 0f : job.dSkip[ch];
        for (int s0 = t0; s0 < t1; s0 += SLICE) {
            int len = Math.min(SLICE, t1 - s0);
            float[] uu = sc.u, dl = sc.dl, out = sc.out;
            HostRows.read(job.u, job.dt, row + s0, uu, 0, len);
            HostRows.read(job.delta, job.dt, row + s0, dl, 0, len);
            for (int i = 0; i < len; i++) {
                float v = dl[i] + bias;
                dl[i] = job.softplus && v <= 20f ? (float) Math.log1p(Math.exp(v)) : v;
            }
            if (n >= VECTOR_MIN_N) vectorTokens(a, aOff, bT, cT, h, p, emit, uu, dl, out, s0, len, n);
            else scalarTokens(a, aOff, bT, cT, h, p, emit, uu, dl, out, s0, len, n);
            if (!emit) continue;
            if (job.z != null) HostRows.read(job.z, job.dt, row + s0, sc.zz, 0, len);
            for (int i = 0; i < len; i++) {
                float v = out[i] + dSkip * uu[i];
                if (job.z != null) {
                    float zv = sc.zz[i];
                    v *= zv / (1f + (float) Math.exp(-zv));
                }
                out[i] = v;
            }
            HostRows.write(out, 0, job.y, job.dt, row + s0, len);
        }
    }

    private static void vectorTokens(float[] a, int aOff, float[] bT, float[] cT, float[] h, float[] p, boolean emit,
                                     float[] uu, float[] dl, float[] out, int s0, int len, int n) {
        int vl = S.length(), bound = S.loopBound(n);
        VectorMask<Float> tail = S.indexInRange(bound, n);
        for (int i = 0; i < len; i++) {
            float dt = dl[i], du = dt * uu[i];
            int bo = (s0 + i) * n;
            FloatVector acc = FloatVector.zero(S);
            for (int k = 0; k < bound; k += vl) {
                FloatVector dA = FloatVector.fromArray(S, a, aOff + k).mul(dt).lanewise(VectorOperators.EXP);
                FloatVector hv = dA.fma(FloatVector.fromArray(S, h, k), FloatVector.fromArray(S, bT, bo + k).mul(du));
                hv.intoArray(h, k);
                if (p != null) dA.mul(FloatVector.fromArray(S, p, k)).intoArray(p, k);
                if (emit) acc = hv.fma(FloatVector.fromArray(S, cT, bo + k), acc);
            }
            if (bound < n) {
                // Masked-off lanes load 0: exp(0) · 0 + 0 · du = 0, so they add nothing to acc.
                int k = bound;
                FloatVector dA = FloatVector.fromArray(S, a, aOff + k, tail).mul(dt).lanewise(VectorOperators.EXP);
                FloatVector hv = dA.fma(FloatVector.fromArray(S, h, k, tail), FloatVector.fromArray(S, bT, bo + k, tail).mul(du));
                hv.intoArray(h, k, tail);
                if (p != null) dA.mul(FloatVector.fromArray(S, p, k, tail)).intoArray(p, k, tail);
                if (emit) acc = hv.fma(FloatVector.fromArray(S, cT, bo + k, tail), acc);
            }
            if (emit) out[i] = acc.reduceLanes(VectorOperators.ADD);
        }
    }

    private static void scalarTokens(float[] a, int aOff, float[] bT, float[] cT, float[] h, float[] p, boolean emit,
                                     float[] uu, float[] dl, float[] out, int s0, int len, int n) {
        for (int i = 0; i < len; i++) {
            float dt = dl[i], du = dt * uu[i], acc = 0f;
            int bo = (s0 + i) * n;
            for (int k = 0; k < n; k++) {
                float dA = (float) Math.exp(dt * a[aOff + k]);
                h[k] = Math.fma(dA, h[k], bT[bo + k] * du);
                if (p != null) p[k] *= dA;
                acc = Math.fma(h[k], cT[bo + k], acc);
            }
            if (emit) out[i] = acc;
        }
    }

    /** B or C {@code [batch, G, N, L]} → per (batch, group) {@code [L, N]} fp32. */
    private static float[][] transpose(MemorySegment src, DType dt, ScanDims d) {
        int bg = d.batch() * d.groups(), n = d.n(), len = d.length();
        float[][] out = new float[bg][];
        for (int i = 0; i < bg; i++) out[i] = new float[len * n];
        Parallel.forRange((long) bg * n, Math.max(1, 16384 / Math.max(1, len)), (lo, hi) -> {
            float[] tmp = new float[Math.min(len, SLICE)];
            for (long r = lo; r < hi; r++) {
                float[] o = out[(int) (r / n)];
                int k = (int) (r % n);
                for (int t0 = 0; t0 < len; t0 += tmp.length) {
                    int m = Math.min(tmp.length, len - t0);
                    HostRows.read(src, dt, r * len + t0, tmp, 0, m);
                    for (int t = 0; t < m; t++) o[(t0 + t) * n + k] = tmp[t];
                }
            }
        });
        return out;
    }
}
