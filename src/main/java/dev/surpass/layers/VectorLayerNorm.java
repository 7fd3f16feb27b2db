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
 * CPU {@link LayerNorm}: one row at a time, rows spread over threads, fp32 throughout.
 *
 * <p>Numerics: the statistics are taken of {@code d = x - x₀} (x₀ the row's first element), so a
 * large common offset (activations of 1000 ± 1) neither swamps the fp32 sums nor survives as a
 * rounded mean: {@code mean = x₀ + dm} with {@code dm = Σd / C}, and the output is
 * {@code ((x - x₀) - dm) · rstd · w + b}, where {@code x - x₀} is exact for values near x₀. The
 * variance is a second pass over {@code (d - dm)²} (no E[x²] - E[x]² cancellation).
 */
final class VectorLayerNorm {
    private VectorLayerNorm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    static void layerNorm(Tensor x, Tensor weight, Tensor bias, Tensor out, long rows, int cols, float eps, boolean parallel) {
        DType dt = x.dtype();
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        MemorySegment w = param(weight, cols), b = param(bias, cols);
        long grain = Math.max(1, 16384 / Math.max(cols, 1));
        HostRows.forRange(parallel, rows, grain, (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long off = r * cols;
                if (dt == DType.F32) {
                    row(xs, off, w, b, os, off, cols, eps);
                } else {
                    float[] sa = scratch(0, cols);
                    HostRows.read(xs, dt, off, sa, 0, cols);
                    MemorySegment seg = MemorySegment.ofArray(sa);
                    row(seg, 0, w, b, seg, 0, cols, eps);
                    HostRows.write(sa, 0, os, dt, off, cols);
                }
            }
        });
    }

    /** A [C] parameter as an fp32 segment: F32 in place, F16/BF16 widened once; null stays null. */
    static MemorySegment param(Tensor p, int cols) {
        if (p == null) return null;
        if (p.dtype() == DType.F32) return p.hostSegment();
        return MemorySegment.ofArray(HostRows.readAll(p.hostSegment(), p.dtype(), cols));
    }

    /**
     * LayerNorm of the fp32 row x[xi..xi+n) into o[oi..); w, b fp32 [n] or null; o may alias x.
     * Each pass is its own method: in one method the vector code was too big for C1 ("out of
     * virtual registers"), which left it stuck in slow C1 code that never reached C2.
     */
    static void row(MemorySegment x, long xi, MemorySegment w, MemorySegment b, MemorySegment o, long oi, int n, float eps) {
        float x0 = x.get(HostRows.F32, xi * 4);
        float dm = sumOffsets(x, xi, n, x0) / n;
        float var = sumSquares(x, xi, n, x0, dm) / n;
        float rstd = (float) (1 / Math.sqrt((double) var + eps));
        scale(x, xi, w, b, o, oi, n, x0, dm, rstd);
    }

    /** Pass 1: Σ (x - x0). */
    private static float sumOffsets(MemorySegment x, long xi, int n, float x0) {
        int bound = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += S.length()) {
            acc = acc.add(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO).sub(x0));
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            acc = acc.add(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m).sub(x0), m);
        }
        return Lanes.sum(acc);
    }

    /** Pass 2: Σ ((x - x0) - dm)². */
    private static float sumSquares(MemorySegment x, long xi, int n, float x0, float dm) {
        int bound = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector c = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO).sub(x0).sub(dm);
            acc = c.fma(c, acc);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector c = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m).sub(x0).sub(dm);
            acc = acc.add(c.mul(c), m);
        }
        return Lanes.sum(acc);
    }

    /** Pass 3: y = ((x - x0) - dm) · rstd · w + b. */
    private static void scale(MemorySegment x, long xi, MemorySegment w, MemorySegment b, MemorySegment o, long oi, int n,
                              float x0, float dm, float rstd) {
        int bound = S.loopBound(n);
        int i = 0;
        for (; i < bound; i += S.length()) {
            long xo = (xi + i) * 4, oo = (oi + i) * 4, po = i * 4L;
            FloatVector y = FloatVector.fromMemorySegment(S, x, xo, NO).sub(x0).sub(dm).mul(rstd);
            if (w != null) y = y.mul(FloatVector.fromMemorySegment(S, w, po, NO));
            if (b != null) y = y.add(FloatVector.fromMemorySegment(S, b, po, NO));
            y.intoMemorySegment(o, oo, NO);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            long xo = (xi + i) * 4, oo = (oi + i) * 4, po = i * 4L;
            FloatVector y = FloatVector.fromMemorySegment(S, x, xo, NO, m).sub(x0).sub(dm).mul(rstd);
            if (w != null) y = y.mul(FloatVector.fromMemorySegment(S, w, po, NO, m));
            if (b != null) y = y.add(FloatVector.fromMemorySegment(S, b, po, NO, m));
            y.intoMemorySegment(o, oo, NO, m);
        }
    }
}
