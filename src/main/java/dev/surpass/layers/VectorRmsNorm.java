package dev.surpass.layers;

import dev.surpass.backend.Lanes;
import static dev.surpass.layers.HostRows.scratch;

import dev.surpass.DType;
import dev.surpass.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link RmsNorm}: one row at a time, rows spread over threads; fp32 Σx² (fused multiply-add),
 * then {@code y = x · rstd · w}. F32 rows in place; F16/BF16 rows through thread-local scratch.
 */
final class VectorRmsNorm {
    private VectorRmsNorm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    static void rmsNorm(Tensor x, Tensor weight, Tensor out, long rows, int cols, float eps, boolean parallel) {
        DType dt = x.dtype();
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        MemorySegment w = VectorLayerNorm.param(weight, cols);
        long grain = Math.max(1, 16384 / Math.max(cols, 1));
        HostRows.forRange(parallel, rows, grain, (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long off = r * cols;
                if (dt == DType.F32) {
                    row(xs, off, w, os, off, cols, eps);
                } else {
                    float[] sa = scratch(0, cols);
                    HostRows.read(xs, dt, off, sa, 0, cols);
                    MemorySegment seg = MemorySegment.ofArray(sa);
                    row(seg, 0, w, seg, 0, cols, eps);
                    HostRows.write(sa, 0, os, dt, off, cols);
                }
            }
        });
    }

    /** RMSNorm of the fp32 row x[xi..xi+n) into o[oi..); w fp32 [n] or null; o may alias x. */
    static void row(MemorySegment x, long xi, MemorySegment w, MemorySegment o, long oi, int n, float eps) {
        int bound = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO);
            acc = v.fma(v, acc);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m);
            acc = v.fma(v, acc); // masked lanes load 0 and add 0
        }
        float ms = Lanes.sum(acc) / n;
        float rstd = (float) (1 / Math.sqrt((double) ms + eps));
        i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector y = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO).mul(rstd);
            if (w != null) y = y.mul(FloatVector.fromMemorySegment(S, w, i * 4L, NO));
            y.intoMemorySegment(o, (oi + i) * 4, NO);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector y = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m).mul(rstd);
            if (w != null) y = y.mul(FloatVector.fromMemorySegment(S, w, i * 4L, NO, m));
            y.intoMemorySegment(o, (oi + i) * 4, NO, m);
        }
    }
}
