package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link GroupNorm} on channels-last {@code [n, l, c]}: the rows (positions) of a sample are cut
 * into fixed blocks of rows; each block sums its rows per channel, vectorised across the channels,
 * and the blocks' partial sums are folded in block order, per group, in float64. The blocks do not
 * depend on the thread count, so neither does the result.
 *
 * <p>Numerics as {@link VectorLayerNorm}: the statistics are of {@code x - x₀} (x₀ the group's first
 * value in the sample), two passes (mean, then the squares of the centred values), fp32 per row.
 */
final class VectorGroupNorm {
    private VectorGroupNorm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    static void groupNorm(Tensor x, Tensor weight, Tensor bias, Tensor out, long n, long l, int c, int groups, float eps,
                          boolean parallel) {
        if (n == 0 || l == 0 || c == 0) return;
        DType dt = x.dtype();
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        float[] w = weight == null ? null : HostRows.readAll(weight.hostSegment(), weight.dtype(), c);
        float[] b = bias == null ? null : HostRows.readAll(bias.hostSegment(), bias.dtype(), c);
        int cg = c / groups;
        long blockRows = Math.max(1, 16384 / c);
        int blocks = (int) ((l + blockRows - 1) / blockRows);
        double count = (double) l * cg;
        for (long s = 0; s < n; s++) {
            long first = s * l * c; // element (s, 0, 0)
            float[] shift = new float[c];
            for (int g = 0; g < groups; g++) {
                float x0 = HostRows.readAll(xs.asSlice((first + (long) g * cg) * dt.byteSize()), dt, 1)[0];
                java.util.Arrays.fill(shift, g * cg, (g + 1) * cg, x0);
            }
            float[] zero = new float[c];
            // pass 1: Σ (x - x0) per group → dm
            float[][] part = new float[blocks][c];
            forBlocks(parallel, blocks, k -> sumRows(xs, dt, first, k * blockRows, Math.min(l, (k + 1) * blockRows), c, shift, zero, false, part[k]));
            float[] dm = perChannel(groupSums(part, c, cg, groups), count, cg, c);
            // pass 2: Σ ((x - x0) - dm)² per group → rstd
            forBlocks(parallel, blocks, k -> sumRows(xs, dt, first, k * blockRows, Math.min(l, (k + 1) * blockRows), c, shift, dm, true, part[k]));
            double[] sq = groupSums(part, c, cg, groups);
            float[] scale = new float[c];
            for (int ch = 0; ch < c; ch++) {
                float rstd = (float) (1 / Math.sqrt((double) (float) (sq[ch / cg] / count) + eps));
                scale[ch] = w == null ? rstd : rstd * w[ch];
            }
            forBlocks(parallel, blocks, k -> writeRows(xs, os, dt, first, k * blockRows, Math.min(l, (k + 1) * blockRows), c, shift, dm, scale, b));
        }
    }

    private interface Block {
        void run(int k);
    }

    private static void forBlocks(boolean parallel, int blocks, Block body) {
        if (parallel) Parallel.forParts(blocks, body::run);
        else for (int k = 0; k < blocks; k++) body.run(k);
    }

    /** Per group: the blocks' per-channel partials folded in block order, in float64. */
    private static double[] groupSums(float[][] part, int c, int cg, int groups) {
        double[] g = new double[groups];
        for (float[] p : part) for (int ch = 0; ch < c; ch++) g[ch / cg] += p[ch];
        return g;
    }

    private static float[] perChannel(double[] groupSum, double count, int cg, int c) {
        float[] v = new float[c];
        for (int ch = 0; ch < c; ch++) v[ch] = (float) (groupSum[ch / cg] / count);
        return v;
    }

    /** A row of fp32 values: the tensor's memory for F32, else the row widened into a scratch array. */
    private static MemorySegment row(MemorySegment xs, DType dt, long elem, int c, float[][] holder) {
        if (dt == DType.F32) return xs.asSlice(elem * 4, (long) c * 4);
        float[] sa = HostRows.scratch(0, c);
        HostRows.read(xs, dt, elem, sa, 0, c);
        holder[0] = sa;
        return MemorySegment.ofArray(sa);
    }

    /** acc[ch] = Σ over rows [lo, hi) of d (pass 1) or d² (pass 2), d = (x - shift) - dm. */
    private static void sumRows(MemorySegment xs, DType dt, long first, long lo, long hi, int c, float[] shift, float[] dm,
                                boolean squares, float[] acc) {
        java.util.Arrays.fill(acc, 0f);
        float[][] holder = new float[1][];
        int bound = S.loopBound(c);
        for (long r = lo; r < hi; r++) {
            MemorySegment seg = row(xs, dt, first + r * c, c, holder);
            int i = 0;
            for (; i < bound; i += S.length()) {
                FloatVector d = FloatVector.fromMemorySegment(S, seg, i * 4L, NO).sub(FloatVector.fromArray(S, shift, i))
                        .sub(FloatVector.fromArray(S, dm, i));
                FloatVector a = FloatVector.fromArray(S, acc, i);
                (squares ? d.fma(d, a) : a.add(d)).intoArray(acc, i);
            }
            if (i < c) {
                VectorMask<Float> m = S.indexInRange(i, c);
                FloatVector d = FloatVector.fromMemorySegment(S, seg, i * 4L, NO, m).sub(FloatVector.fromArray(S, shift, i, m))
                        .sub(FloatVector.fromArray(S, dm, i, m));
                FloatVector a = FloatVector.fromArray(S, acc, i, m);
                (squares ? d.fma(d, a) : a.add(d)).intoArray(acc, i, m);
            }
        }
    }

    /** out = ((x - shift) - dm) · scale + b over rows [lo, hi). */
    private static void writeRows(MemorySegment xs, MemorySegment os, DType dt, long first, long lo, long hi, int c, float[] shift,
                                  float[] dm, float[] scale, float[] b) {
        float[][] holder = new float[1][];
        int bound = S.loopBound(c);
        for (long r = lo; r < hi; r++) {
            long elem = first + r * c;
            MemorySegment seg = row(xs, dt, elem, c, holder);
            MemorySegment dst = dt == DType.F32 ? os.asSlice(elem * 4, (long) c * 4) : seg; // 16-bit: in the scratch, then narrowed
            int i = 0;
            for (; i < bound; i += S.length()) {
                FloatVector y = FloatVector.fromMemorySegment(S, seg, i * 4L, NO).sub(FloatVector.fromArray(S, shift, i))
                        .sub(FloatVector.fromArray(S, dm, i)).mul(FloatVector.fromArray(S, scale, i));
                if (b != null) y = y.add(FloatVector.fromArray(S, b, i));
                y.intoMemorySegment(dst, i * 4L, NO);
            }
            if (i < c) {
                VectorMask<Float> m = S.indexInRange(i, c);
                FloatVector y = FloatVector.fromMemorySegment(S, seg, i * 4L, NO, m).sub(FloatVector.fromArray(S, shift, i, m))
                        .sub(FloatVector.fromArray(S, dm, i, m)).mul(FloatVector.fromArray(S, scale, i, m));
                if (b != null) y = y.add(FloatVector.fromArray(S, b, i, m), m);
                y.intoMemorySegment(dst, i * 4L, NO, m);
            }
            if (dt != DType.F32) HostRows.write(holder[0], 0, os, dt, elem, c);
        }
    }
}
