package dev.surpass.diffusion;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.backend.VectorExp;
import dev.surpass.layers.HostRows;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU sampler steps: one pass over the latents in fixed blocks (split over threads), each block read
 * once from x and the model output (and prevX0), combined in fp32 with the Vector API and written
 * once (lanes past a block's end compute garbage in scratch that is never written). The arithmetic
 * is the exact sequence of the CUDA kernels — explicit fused multiply-adds,
 * {@code m = fma(s, c − u, u)}, {@code x0 = fma(ax, x, am·m)}, … (see {@code kernels/diffusion/step.cuh})
 * — so steps without noise give the same bits on CPU and GPU, and steps with noise differ only by
 * the few-ulp differences of log/sin/cos/exp (see {@link Philox}).
 */
final class VectorSamplers {
    private VectorSamplers() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Elements per block: fixed, so results do not depend on the thread count. */
    static final int BLOCK = 4096;
    private static final int SLOTS = 7;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[SLOTS][]);

    private static float[] scratch(int slot) {
        float[][] s = SCRATCH.get();
        if (s[slot] == null) s[slot] = new float[BLOCK + S.length()];
        return s[slot];
    }

    static void step(StepPlan p, StepLayout l, Tensor x, Tensor mo, Tensor state, Tensor out, boolean parallel) {
        long n = l.numel();
        long seg = l.segment();
        long chunks = (seg + BLOCK - 1) / BLOCK;
        long items = (n / seg) * chunks;
        MemorySegment xs = x.hostSegment(), ms = mo.hostSegment(), os = out.hostSegment();
        MemorySegment ss = state == null ? null : state.hostSegment();
        DType dt = x.dtype();
        Parallel.RangeBody body = (lo, hi) -> {
            for (long it = lo; it < hi; it++) {
                long within = (it % chunks) * BLOCK;
                long start = (it / chunks) * seg + within;
                int r = (int) Math.min(BLOCK, seg - within);
                block(p, l, dt, xs, ms, ss, os, start, r);
            }
        };
        if (parallel) Parallel.forRange(items, Math.max(1, 16384 / BLOCK), body);
        else body.run(0, items);
    }

    private static void block(StepPlan p, StepLayout l, DType dt, MemorySegment xs, MemorySegment ms, MemorySegment ss,
                              MemorySegment os, long start, int r) {
        float[] xv = scratch(0), mc = scratch(1);
        HostRows.read(xs, dt, start, xv, 0, r);
        HostRows.read(ms, dt, l.condOffset(start), mc, 0, r);
        float[] mu = null, vv = null, zz = null, pv = null, x0s = null;
        if (l.guidedAt(start)) {
            mu = scratch(2);
            HostRows.read(ms, dt, l.uncondOffset(start), mu, 0, r);
        }
        if (p.learnedRange() && p.noise()) {
            vv = scratch(3);
            HostRows.read(ms, dt, l.varOffset(start), vv, 0, r);
        }
        if (p.noise()) {
            zz = scratch(4);
            Philox.normals(p.seed(), p.stream(), start, zz, 0, r);
        }
        boolean dpm = p.kind() == StepPlan.Kind.DPMPP_2M;
        if (dpm) {
            x0s = scratch(6);
            if (p.p2() != 0) {
                pv = scratch(5);
                HostRows.read(ss, dt, start, pv, 0, r);
            }
        }
        final float s = l.scale();
        final float ax = (float) p.ax(), am = (float) p.am(), ex = (float) p.ex(), em = (float) p.em();
        final float clip = (float) p.clip(), a = (float) p.a(), bInv = (float) p.bInv();
        final float p0 = (float) p.p0(), p1 = (float) p.p1(), p2 = (float) p.p2();
        final float minLog = (float) p.minLog(), dLog = (float) (p.maxLog() - p.minLog());
        final boolean clipOn = clip > 0;
        final FloatVector vs = FloatVector.broadcast(S, s), vax = FloatVector.broadcast(S, ax), vex = FloatVector.broadcast(S, ex);
        final FloatVector vna = FloatVector.broadcast(S, -a), vp0 = FloatVector.broadcast(S, p0), vp1 = FloatVector.broadcast(S, p1);
        final FloatVector vp2 = FloatVector.broadcast(S, p2), half = FloatVector.broadcast(S, 0.5f);
        final FloatVector vdLog = FloatVector.broadcast(S, dLog), vminLog = FloatVector.broadcast(S, minLog);
        // Unmasked: the scratch arrays are a whole vector longer than a block, so lanes past r only
        // compute garbage that is never written out.
        for (int i = 0; i < r; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, xv, i);
            FloatVector m = FloatVector.fromArray(S, mc, i);
            if (mu != null) {
                FloatVector u = FloatVector.fromArray(S, mu, i);
                m = m.sub(u).fma(vs, u); // fma(s, c − u, u)
            }
            FloatVector o;
            switch (p.kind()) {
                case DDIM, DDPM -> {
                    FloatVector x0 = x.fma(vax, m.mul(am));
                    FloatVector eps = x.fma(vex, m.mul(em));
                    if (clipOn) {
                        x0 = x0.max(-clip).min(clip);
                        eps = x0.fma(vna, x).mul(bInv);
                    }
                    if (p.kind() == StepPlan.Kind.DDIM) {
                        o = x0.fma(vp0, eps.mul(p1));
                        if (p.noise()) o = FloatVector.fromArray(S, zz, i).fma(vp2, o);
                    } else {
                        o = x0.fma(vp0, x.mul(p1));
                        if (p.noise()) {
                            FloatVector sig;
                            if (p.learnedRange()) {
                                FloatVector f = FloatVector.fromArray(S, vv, i).fma(half, half);
                                // e^v as 2^(v·log2 e) through the library's exp2: lanewise(EXP) differs by an ulp
                                // between its SVML stub and the interpreter's fallback
                                sig = VectorExp.exp2Clamped(f.fma(vdLog, vminLog).mul(0.5f * 1.4426950408889634f));
                            } else {
                                sig = FloatVector.broadcast(S, p2);
                            }
                            o = sig.fma(FloatVector.fromArray(S, zz, i), o);
                        }
                    }
                }
                case EULER -> {
                    FloatVector xh = p.noise() ? FloatVector.fromArray(S, zz, i).fma(vp0, x) : x;
                    FloatVector x0 = xh.fma(vax, m.mul(am));
                    o = xh.sub(x0).fma(vp1, xh);
                }
                default -> { // DPM-Solver++(2M)
                    FloatVector x0 = x.fma(vax, m.mul(am));
                    FloatVector t = x0.mul(p1);
                    if (pv != null) t = FloatVector.fromArray(S, pv, i).fma(vp2, t);
                    o = x.fma(vp0, t);
                    x0.intoArray(x0s, i);
                }
            }
            o.intoArray(xv, i);
        }
        HostRows.write(xv, 0, os, dt, start, r);
        if (dpm) HostRows.write(x0s, 0, ss, dt, start, r);
    }
}
