package dev.surpass.model.dit;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Lanes;
import dev.surpass.backend.Parallel;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link DiTOps}: rows (tokens) spread over threads, each row widened to fp32 in a scratch
 * array, Vector API passes, rounded once on the way out. The work is split at row boundaries, so
 * the result does not depend on the thread count. Modulate takes its statistics like LayerNorm's
 * CPU twin and the CUDA kernel: shifted by the row's first element x0, then Σ(d − dm)² (no
 * E[x²] − E[x]² cancellation, robust to a large common offset).
 */
final class VectorDiTOps {
    private VectorDiTOps() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    static void modulate(Tensor x, Tensor mod, Tensor out, long rows, int d, int tokens, int stride, int shiftOff, int scaleOff, float eps) {
        DType dt = x.dtype();
        MemorySegment xs = x.hostSegment(), ms = mod.hostSegment(), os = out.hostSegment();
        Parallel.forRange(rows, Math.max(1, 16384 / Math.max(d, 1)), (lo, hi) -> {
            float[] row = HostRows.scratch(0, d), shift = HostRows.scratch(1, d), scale = HostRows.scratch(2, d);
            long sample = -1;
            for (long r = lo; r < hi; r++) {
                long n = r / tokens;
                if (n != sample) {
                    HostRows.read(ms, dt, n * stride + shiftOff, shift, 0, d);
                    HostRows.read(ms, dt, n * stride + scaleOff, scale, 0, d);
                    sample = n;
                }
                HostRows.read(xs, dt, r * d, row, 0, d);
                modulateRow(row, shift, scale, d, eps);
                HostRows.write(row, 0, os, dt, r * d, d);
            }
        });
    }

    /** In place: row ← LN(row)·(1 + scale) + shift. */
    static void modulateRow(float[] x, float[] shift, float[] scale, int n, float eps) {
        int bound = S.loopBound(n);
        float x0 = x[0];
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += S.length()) acc = acc.add(FloatVector.fromArray(S, x, i).sub(x0));
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            acc = acc.add(FloatVector.fromArray(S, x, i, m).sub(x0), m);
        }
        float dm = Lanes.sum(acc) / n;
        acc = FloatVector.zero(S);
        for (i = 0; i < bound; i += S.length()) {
            FloatVector c = FloatVector.fromArray(S, x, i).sub(x0).sub(dm);
            acc = c.fma(c, acc);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector c = FloatVector.fromArray(S, x, i, m).sub(x0).sub(dm);
            acc = acc.add(c.mul(c), m);
        }
        float var = Lanes.sum(acc) / n;
        float rstd = (float) (1 / Math.sqrt((double) var + eps));
        for (i = 0; i < bound; i += S.length()) {
            FloatVector y = FloatVector.fromArray(S, x, i).sub(x0).sub(dm).mul(rstd);
            FloatVector sc = FloatVector.fromArray(S, scale, i).add(1f);
            y.fma(sc, FloatVector.fromArray(S, shift, i)).intoArray(x, i);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            FloatVector y = FloatVector.fromArray(S, x, i, m).sub(x0).sub(dm).mul(rstd);
            FloatVector sc = FloatVector.fromArray(S, scale, i, m).add(1f);
            y.fma(sc, FloatVector.fromArray(S, shift, i, m)).intoArray(x, i, m);
        }
    }

    static void gateResidual(Tensor x, Tensor y, Tensor mod, Tensor out, long rows, int d, int tokens, int stride, int gateOff) {
        DType dt = x.dtype();
        MemorySegment xs = x.hostSegment(), ys = y.hostSegment(), ms = mod.hostSegment(), os = out.hostSegment();
        Parallel.forRange(rows, Math.max(1, 16384 / Math.max(d, 1)), (lo, hi) -> {
            float[] xr = HostRows.scratch(0, d), yr = HostRows.scratch(1, d), gate = HostRows.scratch(2, d);
            long sample = -1;
            int bound = S.loopBound(d);
            for (long r = lo; r < hi; r++) {
                long n = r / tokens;
                if (n != sample) {
                    HostRows.read(ms, dt, n * stride + gateOff, gate, 0, d);
                    sample = n;
                }
                HostRows.read(xs, dt, r * d, xr, 0, d);
                HostRows.read(ys, dt, r * d, yr, 0, d);
                int i = 0;
                for (; i < bound; i += S.length()) {
                    FloatVector.fromArray(S, gate, i).fma(FloatVector.fromArray(S, yr, i), FloatVector.fromArray(S, xr, i)).intoArray(xr, i);
                }
                for (; i < d; i++) xr[i] = Math.fma(gate[i], yr[i], xr[i]);
                HostRows.write(xr, 0, os, dt, r * d, d);
            }
        });
    }

    /** Copies runs of p elements (one patch row) with MemorySegment.copy: any dtype, bits unchanged. */
    static void patchify(Tensor x, Tensor out, int n, int c, int h, int w, int p) {
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        long es = x.dtype().byteSize();
        int gh = h / p, gw = w / p;
        long feat = (long) c * p * p;
        Parallel.forRange((long) n * gh * gw, 64, (lo, hi) -> {
            for (long nt = lo; nt < hi; nt++) {
                long b = nt / ((long) gh * gw);
                int t = (int) (nt % ((long) gh * gw)), i = t / gw, j = t % gw;
                for (int ch = 0; ch < c; ch++) {
                    for (int ph = 0; ph < p; ph++) {
                        long src = ((b * c + ch) * h + (long) i * p + ph) * w + (long) j * p;
                        long dst = nt * feat + ((long) ch * p + ph) * p;
                        MemorySegment.copy(xs, src * es, os, dst * es, p * es);
                    }
                }
            }
        });
    }

    static void unpatchify(Tensor x, Tensor out, int n, int c, int h, int w, int p) {
        MemorySegment xs = x.hostSegment(), os = out.hostSegment();
        int es = x.dtype().byteSize();
        int gw = w / p;
        long feat = (long) c * p * p, tokens = (long) (h / p) * gw;
        Parallel.forRange((long) n * c * h, 16, (lo, hi) -> {
            for (long r = lo; r < hi; r++) {  // one output row (n, ch, y)
                int yh = (int) (r % h);
                long nc = r / h;
                int ch = (int) (nc % c);
                long b = nc / c;
                int i = yh / p, ph = yh % p;
                for (int xw = 0; xw < w; xw++) {
                    int j = xw / p, pw = xw % p;
                    long src = (b * tokens + (long) i * gw + j) * feat + ((long) ph * p + pw) * c + ch;
                    MemorySegment.copy(xs, src * es, os, (r * w + xw) * es, es);
                }
            }
        });
    }
}
