package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.backend.VectorExp;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link CausalConv1d}: rows (batch, channel) over threads; within a row, slices of
 * {@link #SLICE} tokens are widened into {@code [W-1 carried inputs | slice]} and the W taps run as
 * vector FMAs over shifted windows of that buffer (one lane per token). fp32 throughout.
 *
 * <p>{@code state} and {@code fin} may be the same tensor (the decode step): a row reads its
 * state before it writes its final state.
 */
final class VectorCausalConv1d {
    private VectorCausalConv1d() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private static final float LOG2E = 1.4426950408889634f;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
    static final int SLICE = 2048;

    /** x, out {@code [rows, len]}; w {@code [dm, width]}; state, fin {@code [rows, width-1]} F32 (state may be null). */
    static void conv(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor state, Tensor out, Tensor fin, int rows, int dm,
                     int len, int width) {
        DType dt = x.dtype();
        float[] wt = HostRows.readAll(w.hostSegment(), dt, dm * width);
        float[] bs = bias == null ? null : HostRows.readAll(bias.hostSegment(), dt, dm);
        MemorySegment xs = x.hostSegment(), os = out.hostSegment(), fs = fin.hostSegment();
        MemorySegment ss = state == null ? null : state.hostSegment();
        int p = width - 1;
        Parallel.forRange(rows, Math.max(1, 16384 / Math.max(1, (long) len * width)), (lo, hi) -> {
            if (len == 1) {
                step(xs, dt, os, ss, fs, wt, bs, silu, lo, (int) (hi - lo), dm, width);
                return;
            }
            int cap = Math.min(Math.max(len, 1), SLICE);
            float[] seq = new float[p + cap + S.length()], o = new float[cap + S.length()];
            for (long r = lo; r < hi; r++) {
                int ch = (int) (r % dm);
                if (ss == null) java.util.Arrays.fill(seq, 0, p, 0f);
                else MemorySegment.copy(ss, F32, r * p * 4, seq, 0, p);
                float b = bs == null ? 0f : bs[ch];
                for (int t0 = 0; t0 < len; t0 += cap) {
                    int m = Math.min(cap, len - t0);
                    HostRows.read(xs, dt, r * len + t0, seq, p, m);
                    row(seq, o, m, wt, ch * width, width, b, silu);
                    HostRows.write(o, 0, os, dt, r * len + t0, m);
                    System.arraycopy(seq, m, seq, 0, p); // the last W-1 inputs carry to the next slice
                }
                MemorySegment.copy(seq, 0, fs, F32, r * p * 4, p);
            }
        });
    }

    /**
     * One token for rows {@code [lo, lo + count)} (a decode step): inputs, states and outputs move
     * in bulk instead of a few elements per row, and each row is computed exactly as {@link #row}
     * computes a one-token slice (its scalar tail), so the step equals the conv bit for bit.
     */
    private static void step(MemorySegment xs, DType dt, MemorySegment os, MemorySegment ss, MemorySegment fs, float[] wt,
                             float[] bs, boolean silu, long lo, int count, int dm, int width) {
        int p = width - 1;
        float[] x = new float[count], st = new float[count * p], o = new float[count];
        HostRows.read(xs, dt, lo, x, 0, count);
        if (ss != null) MemorySegment.copy(ss, F32, lo * p * 4, st, 0, count * p);
        for (int r = 0, ch = (int) (lo % dm); r < count; r++, ch = ch + 1 == dm ? 0 : ch + 1) {
            int wOff = ch * width, sOff = r * p;
            float acc = bs == null ? 0f : bs[ch];
            for (int k = 0; k < p; k++) acc = Math.fma(st[sOff + k], wt[wOff + k], acc);
            acc = Math.fma(x[r], wt[wOff + p], acc);
            o[r] = silu ? silu(acc) : acc;
            // the state shifts left by one and takes the new input at its end (a loop: p is a few taps)
            if (p > 0) {
                for (int k = 0; k < p - 1; k++) st[sOff + k] = st[sOff + k + 1];
                st[sOff + p - 1] = x[r];
            }
        }
        HostRows.write(o, 0, os, dt, lo, count);
        MemorySegment.copy(st, 0, fs, F32, lo * p * 4, count * p);
    }

    /** o[t] = b + Σ_k w[k]·seq[t + k] for t in [0, m), then silu. */
    private static void row(float[] seq, float[] o, int m, float[] wt, int wOff, int width, float b, boolean silu) {
        int vl = S.length(), bound = S.loopBound(m), t = 0;
        for (; t < bound; t += vl) {
            FloatVector acc = FloatVector.broadcast(S, b);
            for (int k = 0; k < width; k++) acc = FloatVector.fromArray(S, seq, t + k).fma(FloatVector.broadcast(S, wt[wOff + k]), acc);
            // silu through the library's exp2, not lanewise(EXP): that one's SVML stub and its
            // interpreter fallback differ by an ulp, so results changed once the loop was JIT-compiled
            if (silu) acc = acc.div(VectorExp.exp2Clamped(acc.mul(-LOG2E)).add(1f));
            acc.intoArray(o, t);
        }
        for (; t < m; t++) {
            float acc = b;
            for (int k = 0; k < width; k++) acc = Math.fma(seq[t + k], wt[wOff + k], acc);
            o[t] = silu ? silu(acc) : acc;
        }
    }

    /** The scalar silu of the rows' tails and of {@link #step}: one definition, so the two give the same bits. */
    private static float silu(float v) {
        return v / (1f + (float) Math.exp(-v));
    }
}
