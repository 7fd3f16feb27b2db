package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
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
 * <p>Threads: the output (per batch) is cut into at most {@link Parallel#threads()} macro tiles
 * along M and/or N (whichever has more micro tiles), each run by one thread with its own
 * thread-local packing buffers. Block sizes: {@code -Dsurpass.gemm.kc/mc/nc} (defaults tuned on a
 * 2-core AVX-512 Zen 5: KC=384, MC=192, NC=3072).
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

    static final int KC = Math.max(1, Integer.getInteger("surpass.gemm.kc", 384));
    static final int MC = roundUp(Math.max(1, Integer.getInteger("surpass.gemm.mc", 192)), MR);
    static final int NC = roundUp(Math.max(1, Integer.getInteger("surpass.gemm.nc", 3072)), NR);

    /** Below this many multiply-adds a product runs on the calling thread. */
    private static final long PARALLEL_MIN_FMAS = 1L << 18;

    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** Per-thread packing buffers, grown on demand and reused across calls. */
    private static final class Buffers {
        float[] a = new float[0];
        float[] b = new float[0];
        final float[] tile = new float[MR * NR];

        float[] a(int n) {
            if (a.length < n) a = new float[n];
            return a;
        }

        float[] b(int n) {
            if (b.length < n) b = new float[n];
            return b;
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
                    packB(pr, bBase, pc, kc, j0 + jc, nc, bp);
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

    private static float load(MemorySegment s, DType t, long index) {
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
     * panels: panel q holds {@code bp[q*NR*kc + t*NR + j] = B[p0 + t][j0 + q*NR + j]}, zero
     * columns past nc. B is read from [K,N] memory, or from [N,K] when transposed.
     */
    private static void packB(Problem pr, long bBase, int p0, int kc, int j0, int nc, float[] bp) {
        final MemorySegment b = pr.b;
        final int n = pr.n, k = pr.k;
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int panel = jr * kc;
            if (pr.bTransposed) {
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
