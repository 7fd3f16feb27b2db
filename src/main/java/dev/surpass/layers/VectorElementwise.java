package dev.surpass.layers;

import static dev.surpass.layers.HostRows.scratch;

import dev.surpass.DType;
import dev.surpass.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link Elementwise}: fp32 Vector API loops over fixed blocks of the flat index space, blocks
 * spread over threads. F32 operands are read and written in place in their host segments; F16/BF16
 * blocks are widened into thread-local scratch, computed in fp32 and rounded back. Tails use masks,
 * so every element goes through the same instructions wherever it sits.
 */
final class VectorElementwise {
    private VectorElementwise() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    /** Elements per block: fixed, so results do not depend on the number of threads. */
    static final int BLOCK = 16384;
    /** Blocks per task at least (about 64K elements per thread before splitting pays). */
    private static final int GRAIN = 4;

    /** out[i] = a[i] (+ or ·) b[i % b.numel()]. */
    static void binary(boolean add, Tensor a, Tensor b, Tensor out, boolean parallel) {
        DType dt = a.dtype();
        long n = a.numel();
        long m = b.numel();
        MemorySegment as = a.hostSegment(), bs = b.hostSegment(), os = out.hostSegment();
        // A b shorter than a block is expanded once to BLOCK + m fp32 values, bx[k] = b[k % m]: any
        // block then reads one contiguous run of it starting at (block start) % m.
        final MemorySegment bx;
        if (m < BLOCK && m < n) {  // a repeating b: worth the copy; b as long as a needs none
            float[] e = new float[(int) (Math.min(BLOCK, n) + m)];
            HostRows.read(bs, dt, 0, e, 0, (int) m);
            for (int k = (int) m; k < e.length; k++) e[k] = e[k - (int) m];
            bx = MemorySegment.ofArray(e);
        } else {
            bx = null;
        }
        long blocks = (n + BLOCK - 1) / BLOCK;
        HostRows.forRange(parallel, blocks, GRAIN, (lo, hi) -> {
            for (long blk = lo; blk < hi; blk++) {
                long s = blk * BLOCK;
                int len = (int) Math.min(BLOCK, n - s);
                MemorySegment src, dst;
                long srcOff, dstOff;
                float[] sa = null;
                if (dt == DType.F32) {
                    src = as; srcOff = s; dst = os; dstOff = s;
                } else {
                    sa = scratch(0, len);
                    HostRows.read(as, dt, s, sa, 0, len);
                    src = dst = MemorySegment.ofArray(sa); srcOff = dstOff = 0;
                }
                if (bx != null) {
                    binaryRun(add, src, srcOff, bx, s % m, dst, dstOff, len);
                } else {
                    for (long p = s; p < s + len; ) {
                        long j = p % m;
                        int r = (int) Math.min(m - j, s + len - p);
                        if (dt == DType.F32) {
                            binaryRun(add, src, srcOff + (p - s), bs, j, dst, dstOff + (p - s), r);
                        } else {
                            float[] sb = scratch(1, r);
                            HostRows.read(bs, dt, j, sb, 0, r);
                            binaryRun(add, src, srcOff + (p - s), MemorySegment.ofArray(sb), 0, dst, dstOff + (p - s), r);
                        }
                        p += r;
                    }
                }
                if (sa != null) HostRows.write(sa, 0, os, dt, s, len);
            }
        });
    }

    /** out[i] = a[i] · s. */
    static void scale(Tensor a, float s, Tensor out, boolean parallel) {
        unary(a, out, parallel, GRAIN, (x, xi, o, oi, len) -> scaleRun(x, xi, s, o, oi, len));
    }

    /** An fp32 kernel over one run: {@code o[oi..oi+len) = f(x[xi..xi+len))}, offsets in fp32 elements; x and o may be the same run. */
    @FunctionalInterface
    interface UnaryRun {
        void run(MemorySegment x, long xi, MemorySegment o, long oi, int len);
    }

    /**
     * Applies {@code run} to {@code x} into {@code out} (same dtype and size) block by block, at
     * least {@code grain} blocks per task: F32 in place in the host segments, F16/BF16 widened into
     * scratch 0, computed there and rounded back.
     */
    static void unary(Tensor x, Tensor out, boolean parallel, int grain, UnaryRun run) {
        DType dt = x.dtype();
        long n = x.numel();
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        long blocks = (n + BLOCK - 1) / BLOCK;
        HostRows.forRange(parallel, blocks, grain, (lo, hi) -> {
            for (long blk = lo; blk < hi; blk++) {
                long st = blk * BLOCK;
                int len = (int) Math.min(BLOCK, n - st);
                if (dt == DType.F32) {
                    run.run(xs, st, os, st, len);
                } else {
                    float[] sa = scratch(0, len);
                    HostRows.read(xs, dt, st, sa, 0, len);
                    MemorySegment seg = MemorySegment.ofArray(sa);
                    run.run(seg, 0, seg, 0, len);
                    HostRows.write(sa, 0, os, dt, st, len);
                }
            }
        });
    }

    // Offsets are in fp32 elements of the given segments.
    private static void binaryRun(boolean add, MemorySegment a, long ai, MemorySegment b, long bi,
                                  MemorySegment o, long oi, int r) {
        int i = 0;
        int bound = S.loopBound(r);
        for (; i < bound; i += S.length()) {
            FloatVector va = FloatVector.fromMemorySegment(S, a, (ai + i) * 4, NO);
            FloatVector vb = FloatVector.fromMemorySegment(S, b, (bi + i) * 4, NO);
            (add ? va.add(vb) : va.mul(vb)).intoMemorySegment(o, (oi + i) * 4, NO);
        }
        if (i < r) {
            VectorMask<Float> m = S.indexInRange(i, r);
            FloatVector va = FloatVector.fromMemorySegment(S, a, (ai + i) * 4, NO, m);
            FloatVector vb = FloatVector.fromMemorySegment(S, b, (bi + i) * 4, NO, m);
            (add ? va.add(vb) : va.mul(vb)).intoMemorySegment(o, (oi + i) * 4, NO, m);
        }
    }

    private static void scaleRun(MemorySegment a, long ai, float s, MemorySegment o, long oi, int r) {
        int i = 0;
        int bound = S.loopBound(r);
        for (; i < bound; i += S.length()) {
            FloatVector.fromMemorySegment(S, a, (ai + i) * 4, NO).mul(s).intoMemorySegment(o, (oi + i) * 4, NO);
        }
        if (i < r) {
            VectorMask<Float> m = S.indexInRange(i, r);
            FloatVector.fromMemorySegment(S, a, (ai + i) * 4, NO, m).mul(s).intoMemorySegment(o, (oi + i) * 4, NO, m);
        }
    }
}
