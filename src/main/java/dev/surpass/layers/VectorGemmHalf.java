package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Lanes;
import dev.surpass.backend.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU {@link Gemm#linear} of an F32 x with a BF16 or F16 weight for a decode step or a short
 * prompt (at most {@link #MAX_TOTAL_ROWS} rows of x, {@link #MAX_ROWS} per pass over the weight):
 * the weight is read as it lies, half the bytes of an fp32 weight, which is what a decode step on
 * the CPU waits for.
 *
 * <p>One int lane holds two neighbouring weights, so each load of L ints brings 2L weights: the
 * even ones come out of the low halves, the odd ones out of the high halves, each widened to fp32
 * exactly with integer shifts (BF16) or a rescale by 2^112 (F16, subnormals included). x is split
 * the same way into its even and odd columns once per call, and each output sums its even chain and
 * its odd chain lane by lane, then the lanes left to right, then the columns past the last whole
 * vector pair and the bias in order. Weight rows are shared out between threads, so each output is
 * summed the same way whatever the thread count (but not in the order of the fp32-weight path: the
 * results agree with it to fp32 rounding, not bit for bit).
 */
final class VectorGemmHalf {
    private VectorGemmHalf() {}

    private static final VectorSpecies<Float> S = VectorGemm.S;
    private static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, S.vectorShape());
    private static final int L = VectorGemm.L;
    private static final ByteOrder NATIVE = VectorGemm.NATIVE;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Rows of x per pass over the weight. */
    static final int MAX_ROWS = 4;
    /** Rows of x this path takes (in passes of {@link #MAX_ROWS}); more go through the widened weight. */
    static final int MAX_TOTAL_ROWS = 4 * MAX_ROWS;
    /** Weight rows per step. */
    private static final int W_ROWS = 4;

    /**
     * {@code out = x·wᵀ (+ bias)}: x [rows, k] F32, w [n, k] BF16 or F16, bias [n] F32 or null, out
     * [rows, n] F32, in passes of up to {@link #MAX_ROWS} rows. Returns false, doing nothing, for
     * more than {@link #MAX_TOTAL_ROWS} rows.
     */
    static boolean linear(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int n, int k, int parts) {
        if (rows > MAX_TOTAL_ROWS || NATIVE != ByteOrder.LITTLE_ENDIAN) return false;
        if (x.dtype() != DType.F32 || (w.dtype() != DType.BF16 && w.dtype() != DType.F16)) {
            throw new IllegalArgumentException("linear: F32 x and a BF16 or F16 weight expected, got " + x.dtype() + " and " + w.dtype());
        }
        if (rows == 0 || n == 0) return true;
        boolean bf16 = w.dtype() == DType.BF16;
        float[] b = bias == null ? null : bias.toFloatArray();
        float[] all = x.toFloatArray();
        for (int r0 = 0; r0 < rows; r0 += MAX_ROWS) {
            int rs = Math.min(MAX_ROWS, rows - r0);
            pass(java.util.Arrays.copyOfRange(all, r0 * k, (r0 + rs) * k), w, b, out.hostSegment().asSlice((long) r0 * n * 4L), rs, n, k, parts, bf16);
        }
        return true;
    }

    /** {@code out} (F32, host) = {@code w} (BF16 or F16, host) widened, element by element, without a heap copy. */
    static void widen(Tensor w, Tensor out) {
        MemorySegment src = w.hostSegment(), dst = out.hostSegment();
        DType t = w.dtype();
        long n = w.numel();
        Parallel.forRange(n, 1 << 16, (lo, hi) -> {
            for (long i = lo; i < hi; i++) dst.setAtIndex(F32, i, VectorGemm.load(src, t, i));
        });
    }

    /** Up to {@link #MAX_ROWS} rows of x ({@code xs}) against the whole weight into {@code os}. */
    private static void pass(float[] xs, Tensor w, float[] b, MemorySegment os, int rows, int n, int k, int parts, boolean bf16) {
        MemorySegment ws = w.hostSegment();
        DType wt = w.dtype();
        int h = k / 2;
        // x's even and odd columns, rows padded to MAX_ROWS by repeating the last (their sums are dropped)
        float[] xe = new float[MAX_ROWS * h], xo = new float[MAX_ROWS * h];
        for (int r = 0; r < MAX_ROWS; r++) {
            int src = Math.min(r, rows - 1) * k;
            for (int s = 0; s < h; s++) {
                xe[r * h + s] = xs[src + 2 * s];
                xo[r * h + s] = xs[src + 2 * s + 1];
            }
        }
        // BF16 widens in registers (a shift or a mask per vector): one row of x against 8 weight rows,
        // more against 4; F16 widens a tile of 4 weight rows into even / odd buffers first (its
        // conversion is a dozen vector operations, too much code for one loop body). The loops are
        // written out, not shared through helpers: a helper returning a vector that C2 does not
        // inline boxes it (measured: a load helper cost the BF16 path 2x)
        int wRows = bf16 && rows == 1 ? 2 * W_ROWS : W_ROWS;
        int groups = (n + wRows - 1) / wRows, full = h / L * L;
        int p = (long) rows * n * k < VectorGemm.PARALLEL_MIN_FMAS ? 1 : Math.max(1, Math.min(parts, groups));
        Parallel.forParts(p, part -> {
            int g0 = (int) ((long) groups * part / p), g1 = (int) ((long) groups * (part + 1) / p);
            float[] acc = new float[MAX_ROWS * 2 * W_ROWS];
            float[] we = bf16 ? null : new float[W_ROWS * full], wo = bf16 ? null : new float[W_ROWS * full];
            long[] at = new long[2 * W_ROWS];
            for (int g = g0; g < g1; g++) {
                int j0 = g * wRows, wr = Math.min(wRows, n - j0);
                for (int q = 0; q < wRows; q++) at[q] = (long) (j0 + Math.min(q, wr - 1)) * 2L * k; // missing rows repeat the last
                if (bf16) {
                    if (rows == 1) bf16Row1(ws, at, full, xe, xo, acc);
                    else bf16Rows4(ws, at, full, h, xe, xo, acc);
                } else {
                    for (int q = 0; q < W_ROWS; q++) widenRow(ws, at[q], full, we, wo, q * full);
                    if (rows == 1) dots1(full, xe, xo, we, wo, acc);
                    else dots4(full, h, xe, xo, we, wo, acc);
                }
                for (int r = 0; r < rows; r++) {
                    for (int q = 0; q < wr; q++) {
                        float sum = acc[r * wRows + q];
                        long row = (long) (j0 + q) * k;
                        for (int s = full; s < h; s++) {
                            sum = Math.fma(xs[r * k + 2 * s], VectorGemm.load(ws, wt, row + 2 * s), sum);
                            sum = Math.fma(xs[r * k + 2 * s + 1], VectorGemm.load(ws, wt, row + 2 * s + 1), sum);
                        }
                        if (k % 2 != 0) sum = Math.fma(xs[r * k + k - 1], VectorGemm.load(ws, wt, row + k - 1), sum);
                        if (b != null) sum += b[j0 + q];
                        os.setAtIndex(F32, (long) r * n + j0 + q, sum);
                    }
                }
            }
        });
    }

    /** The first {@code 2 * full} F16 weights of the row at byte offset {@code at}, widened: even ones to {@code we}, odd to {@code wo}. */
    private static void widenRow(MemorySegment w, long at, int full, float[] we, float[] wo, int off) {
        for (int s = 0; s < full; s += L) {
            IntVector v = IntVector.fromMemorySegment(SI, w, at + 4L * s, NATIVE);
            f16(v.and(0xFFFF)).intoArray(we, off + s);
            f16(v.lanewise(VectorOperators.LSHR, 16)).intoArray(wo, off + s);
        }
    }


    /** acc[q] for q < 8: x's one row against the BF16 weight rows at byte offsets {@code at[q]}. */
    private static void bf16Row1(MemorySegment w, long[] at, int full, float[] xe, float[] xo, float[] acc) {
        long w0 = at[0], w1 = at[1], w2 = at[2], w3 = at[3], w4 = at[4], w5 = at[5], w6 = at[6], w7 = at[7];
        FloatVector z = FloatVector.zero(S);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
        for (int s = 0; s < full; s += L) {
            long t = 4L * s;
            FloatVector ue = FloatVector.fromArray(S, xe, s), uo = FloatVector.fromArray(S, xo, s);
            IntVector v0 = IntVector.fromMemorySegment(SI, w, w0 + t, NATIVE);
            a0 = uo.fma(v0.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a0));
            IntVector v1 = IntVector.fromMemorySegment(SI, w, w1 + t, NATIVE);
            a1 = uo.fma(v1.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a1));
            IntVector v2 = IntVector.fromMemorySegment(SI, w, w2 + t, NATIVE);
            a2 = uo.fma(v2.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a2));
            IntVector v3 = IntVector.fromMemorySegment(SI, w, w3 + t, NATIVE);
            a3 = uo.fma(v3.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a3));
            IntVector v4 = IntVector.fromMemorySegment(SI, w, w4 + t, NATIVE);
            a4 = uo.fma(v4.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a4));
            IntVector v5 = IntVector.fromMemorySegment(SI, w, w5 + t, NATIVE);
            a5 = uo.fma(v5.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a5));
            IntVector v6 = IntVector.fromMemorySegment(SI, w, w6 + t, NATIVE);
            a6 = uo.fma(v6.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a6));
            IntVector v7 = IntVector.fromMemorySegment(SI, w, w7 + t, NATIVE);
            a7 = uo.fma(v7.and(0xFFFF0000).reinterpretAsFloats(), ue.fma(v7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a7));
        }
        acc[0] = Lanes.sum(a0); acc[1] = Lanes.sum(a1); acc[2] = Lanes.sum(a2); acc[3] = Lanes.sum(a3);
        acc[4] = Lanes.sum(a4); acc[5] = Lanes.sum(a5); acc[6] = Lanes.sum(a6); acc[7] = Lanes.sum(a7);
    }

    /** acc[r * 4 + q]: x's rows (4, padded) against the BF16 weight rows at byte offsets {@code at[q]}, q < 4. */
    private static void bf16Rows4(MemorySegment w, long[] at, int full, int h, float[] xe, float[] xo, float[] acc) {
        long w0 = at[0], w1 = at[1], w2 = at[2], w3 = at[3];
        FloatVector z = FloatVector.zero(S);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        for (int s = 0; s < full; s += L) {
            long t = 4L * s;
            IntVector i0 = IntVector.fromMemorySegment(SI, w, w0 + t, NATIVE), i1 = IntVector.fromMemorySegment(SI, w, w1 + t, NATIVE);
            IntVector i2 = IntVector.fromMemorySegment(SI, w, w2 + t, NATIVE), i3 = IntVector.fromMemorySegment(SI, w, w3 + t, NATIVE);
            FloatVector e0 = i0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), o0 = i0.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector e1 = i1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), o1 = i1.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector e2 = i2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), o2 = i2.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector e3 = i3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), o3 = i3.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector ue = FloatVector.fromArray(S, xe, s), uo = FloatVector.fromArray(S, xo, s);
            a00 = uo.fma(o0, ue.fma(e0, a00)); a01 = uo.fma(o1, ue.fma(e1, a01));
            a02 = uo.fma(o2, ue.fma(e2, a02)); a03 = uo.fma(o3, ue.fma(e3, a03));
            ue = FloatVector.fromArray(S, xe, h + s);
            uo = FloatVector.fromArray(S, xo, h + s);
            a10 = uo.fma(o0, ue.fma(e0, a10)); a11 = uo.fma(o1, ue.fma(e1, a11));
            a12 = uo.fma(o2, ue.fma(e2, a12)); a13 = uo.fma(o3, ue.fma(e3, a13));
            ue = FloatVector.fromArray(S, xe, 2 * h + s);
            uo = FloatVector.fromArray(S, xo, 2 * h + s);
            a20 = uo.fma(o0, ue.fma(e0, a20)); a21 = uo.fma(o1, ue.fma(e1, a21));
            a22 = uo.fma(o2, ue.fma(e2, a22)); a23 = uo.fma(o3, ue.fma(e3, a23));
            ue = FloatVector.fromArray(S, xe, 3 * h + s);
            uo = FloatVector.fromArray(S, xo, 3 * h + s);
            a30 = uo.fma(o0, ue.fma(e0, a30)); a31 = uo.fma(o1, ue.fma(e1, a31));
            a32 = uo.fma(o2, ue.fma(e2, a32)); a33 = uo.fma(o3, ue.fma(e3, a33));
        }
        acc[0] = Lanes.sum(a00); acc[1] = Lanes.sum(a01); acc[2] = Lanes.sum(a02); acc[3] = Lanes.sum(a03);
        acc[4] = Lanes.sum(a10); acc[5] = Lanes.sum(a11); acc[6] = Lanes.sum(a12); acc[7] = Lanes.sum(a13);
        acc[8] = Lanes.sum(a20); acc[9] = Lanes.sum(a21); acc[10] = Lanes.sum(a22); acc[11] = Lanes.sum(a23);
        acc[12] = Lanes.sum(a30); acc[13] = Lanes.sum(a31); acc[14] = Lanes.sum(a32); acc[15] = Lanes.sum(a33);
    }

    /** acc[q] = Σ over the whole vectors of x's one row against the tile's weight row q. */
    private static void dots1(int full, float[] xe, float[] xo, float[] we, float[] wo, float[] acc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
        for (int s = 0; s < full; s += L) {
            FloatVector ue = FloatVector.fromArray(S, xe, s), uo = FloatVector.fromArray(S, xo, s);
            a0 = uo.fma(FloatVector.fromArray(S, wo, s), ue.fma(FloatVector.fromArray(S, we, s), a0));
            a1 = uo.fma(FloatVector.fromArray(S, wo, full + s), ue.fma(FloatVector.fromArray(S, we, full + s), a1));
            a2 = uo.fma(FloatVector.fromArray(S, wo, 2 * full + s), ue.fma(FloatVector.fromArray(S, we, 2 * full + s), a2));
            a3 = uo.fma(FloatVector.fromArray(S, wo, 3 * full + s), ue.fma(FloatVector.fromArray(S, we, 3 * full + s), a3));
        }
        acc[0] = Lanes.sum(a0); acc[1] = Lanes.sum(a1); acc[2] = Lanes.sum(a2); acc[3] = Lanes.sum(a3);
    }

    /** acc[r * 4 + q] = Σ over the whole vectors of x's row r (of 4, padded) against the tile's weight row q. */
    private static void dots4(int full, int h, float[] xe, float[] xo, float[] we, float[] wo, float[] acc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        for (int s = 0; s < full; s += L) {
            FloatVector e0 = FloatVector.fromArray(S, we, s), e1 = FloatVector.fromArray(S, we, full + s);
            FloatVector e2 = FloatVector.fromArray(S, we, 2 * full + s), e3 = FloatVector.fromArray(S, we, 3 * full + s);
            FloatVector o0 = FloatVector.fromArray(S, wo, s), o1 = FloatVector.fromArray(S, wo, full + s);
            FloatVector o2 = FloatVector.fromArray(S, wo, 2 * full + s), o3 = FloatVector.fromArray(S, wo, 3 * full + s);
            FloatVector ue = FloatVector.fromArray(S, xe, s), uo = FloatVector.fromArray(S, xo, s);
            a00 = uo.fma(o0, ue.fma(e0, a00)); a01 = uo.fma(o1, ue.fma(e1, a01));
            a02 = uo.fma(o2, ue.fma(e2, a02)); a03 = uo.fma(o3, ue.fma(e3, a03));
            ue = FloatVector.fromArray(S, xe, h + s);
            uo = FloatVector.fromArray(S, xo, h + s);
            a10 = uo.fma(o0, ue.fma(e0, a10)); a11 = uo.fma(o1, ue.fma(e1, a11));
            a12 = uo.fma(o2, ue.fma(e2, a12)); a13 = uo.fma(o3, ue.fma(e3, a13));
            ue = FloatVector.fromArray(S, xe, 2 * h + s);
            uo = FloatVector.fromArray(S, xo, 2 * h + s);
            a20 = uo.fma(o0, ue.fma(e0, a20)); a21 = uo.fma(o1, ue.fma(e1, a21));
            a22 = uo.fma(o2, ue.fma(e2, a22)); a23 = uo.fma(o3, ue.fma(e3, a23));
            ue = FloatVector.fromArray(S, xe, 3 * h + s);
            uo = FloatVector.fromArray(S, xo, 3 * h + s);
            a30 = uo.fma(o0, ue.fma(e0, a30)); a31 = uo.fma(o1, ue.fma(e1, a31));
            a32 = uo.fma(o2, ue.fma(e2, a32)); a33 = uo.fma(o3, ue.fma(e3, a33));
        }
        acc[0] = Lanes.sum(a00); acc[1] = Lanes.sum(a01); acc[2] = Lanes.sum(a02); acc[3] = Lanes.sum(a03);
        acc[4] = Lanes.sum(a10); acc[5] = Lanes.sum(a11); acc[6] = Lanes.sum(a12); acc[7] = Lanes.sum(a13);
        acc[8] = Lanes.sum(a20); acc[9] = Lanes.sum(a21); acc[10] = Lanes.sum(a22); acc[11] = Lanes.sum(a23);
        acc[12] = Lanes.sum(a30); acc[13] = Lanes.sum(a31); acc[14] = Lanes.sum(a32); acc[15] = Lanes.sum(a33);
    }

    /** The weights in the low halves of the lanes (the even ones), widened. */
    static FloatVector low(IntVector v, boolean bf16) {
        return bf16 ? v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats() : f16(v.and(0xFFFF));
    }

    /** The weights in the high halves of the lanes (the odd ones), widened. */
    static FloatVector high(IntVector v, boolean bf16) {
        return bf16 ? v.and(0xFFFF0000).reinterpretAsFloats() : f16(v.lanewise(VectorOperators.LSHR, 16));
    }

    /**
     * F16 patterns (in the low 16 bits, the rest zero) to fp32 exactly as {@link Float#float16ToFloat}:
     * exponent and mantissa moved into place and rescaled by 2^112 (subnormals included), an
     * all-ones exponent for Inf and NaN (a NaN quietened), the sign last.
     */
    private static FloatVector f16(IntVector hv) {
        IntVector mag = hv.and(0x7FFF), up = mag.lanewise(VectorOperators.LSHL, 13);
        IntVector bits = up.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = mag.compare(VectorOperators.GE, 0x7C00);
        if (special.anyTrue()) { // Inf / NaN: rare in weights, so the blends are skipped when none is there
            bits = bits.blend(up.or(0x7F800000), special);
            bits = bits.blend(bits.or(0x00400000), mag.compare(VectorOperators.GT, 0x7C00));
        }
        return bits.or(hv.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }
}
