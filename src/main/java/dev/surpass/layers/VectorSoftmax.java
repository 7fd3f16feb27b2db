package dev.surpass.layers;

import dev.surpass.backend.Lanes;
import dev.surpass.backend.VectorExp;
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
 * CPU {@link Softmax}: one row at a time, rows spread over threads. Three fp32 passes per row:
 * the max, {@code e = exp(x - max)} written to the output while summing, then a scale by 1/sum.
 * F32 rows are used in place; F16/BF16 rows go through thread-local scratch. Edge rows follow
 * {@link ReferenceSoftmax}: all -∞ → zeros, +∞ entries share the mass, NaN → NaN row.
 */
final class VectorSoftmax {
    private VectorSoftmax() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final float LOG2E = (float) (1 / Math.log(2));

    static void softmax(Tensor x, Tensor out, long rows, int cols, boolean parallel) {
        DType dt = x.dtype();
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        long grain = Math.max(1, 16384 / Math.max(cols, 1));
        HostRows.forRange(parallel, rows, grain, (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long off = r * cols;
                if (dt == DType.F32) {
                    row(xs, off, os, off, cols);
                } else {
                    float[] sa = scratch(0, cols);
                    HostRows.read(xs, dt, off, sa, 0, cols);
                    MemorySegment seg = MemorySegment.ofArray(sa);
                    row(seg, 0, seg, 0, cols);
                    HostRows.write(sa, 0, os, dt, off, cols);
                }
            }
        });
    }

    /** Softmax of the fp32 row x[xi..xi+n) into o[oi..); offsets in elements; o may alias x. */
    static void row(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int bound = S.loopBound(n);
        // Pass 1: max (MAX propagates NaN, which then flows through every output of the row).
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i < bound; i += S.length()) {
            vmax = vmax.max(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO));
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            vmax = vmax.lanewise(VectorOperators.MAX, FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m), m);
        }
        float max = vmax.reduceLanes(VectorOperators.MAX);
        if (max == Float.NEGATIVE_INFINITY || max == Float.POSITIVE_INFINITY) {
            infiniteRow(x, xi, o, oi, n, max);
            return;
        }
        // Pass 2: e = 2^((x - max)·log2 e), stored, and summed (its own method: inlined together
        // with the other passes, the JIT gives up on inlining the exp and boxes every vector). The
        // argument is ≤ 0, so the short exp2 of the fused attention serves (half the operations of
        // VectorMath.exp: twice the rows per second), as the CUDA kernel's exp2f((v - m)·log2 e);
        // below 2^-126 of the max it gives 0 instead of a subnormal.
        float sum = expSum(x, xi, o, oi, n, max);
        // Pass 3: scale by 1/sum (sum ≥ 1: the max element contributes exp(0)).
        float inv = 1f / sum;
        i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector.fromMemorySegment(S, o, (oi + i) * 4, NO).mul(inv).intoMemorySegment(o, (oi + i) * 4, NO);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector.fromMemorySegment(S, o, (oi + i) * 4, NO, m).mul(inv).intoMemorySegment(o, (oi + i) * 4, NO, m);
        }
    }

    /** Writes exp(x - max) to o and returns the sum. */
    private static float expSum(MemorySegment x, long xi, MemorySegment o, long oi, int n, float max) {
        int bound = S.loopBound(n);
        FloatVector vsum = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector e = VectorExp.exp2NonPositive(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO).sub(max).mul(LOG2E));
            e.intoMemorySegment(o, (oi + i) * 4, NO);
            vsum = vsum.add(e);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector e = VectorExp.exp2NonPositive(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m).sub(max).mul(LOG2E));
            e.intoMemorySegment(o, (oi + i) * 4, NO, m);
            vsum = vsum.add(e, m);
        }
        return Lanes.sum(vsum);
    }

    // A row whose max is ±∞: all -∞ gives zeros; otherwise the +∞ entries share the mass equally.
    private static void infiniteRow(MemorySegment x, long xi, MemorySegment o, long oi, int n, float max) {
        int k = 0;
        if (max == Float.POSITIVE_INFINITY) {
            for (int j = 0; j < n; j++) if (x.get(HostRows.F32, (xi + j) * 4) == Float.POSITIVE_INFINITY) k++;
        }
        float share = k == 0 ? 0f : 1f / k;
        for (int j = 0; j < n; j++) {
            float v = x.get(HostRows.F32, (xi + j) * 4);
            o.set(HostRows.F32, (oi + j) * 4, v == Float.POSITIVE_INFINITY ? share : 0f);
        }
    }
}
