package dev.surpass.layers;

import dev.surpass.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU {@link Activation}: fp32 Vector API over fixed blocks of the flat index space ({@link
 * VectorElementwise#unary}'s blocks and F16/BF16 widening), with a vectorised erf for the exact GELU.
 *
 * <p>Formulas (fp32): GELU-erf {@code ½x(1 + erf(x/√2))}; GELU-tanh {@code x·σ(2u)} with
 * {@code u = √(2/π)(x + 0.044715x³)}, which equals {@code ½x(1 + tanh u)} and needs only one exp;
 * SiLU {@code x / (1 + e^{-x})}. For large |x| the exps saturate to 0 or ∞ and the results to
 * x or (−)0, never NaN.
 */
final class VectorActivation {
    private VectorActivation() {}

    enum Op { GELU_ERF, GELU_TANH, SILU }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final int GRAIN = 2;

    private static final float SQRT_HALF = (float) Math.sqrt(0.5);
    private static final float TWO_SQRT_2_OVER_PI = (float) (2 * Math.sqrt(2 / Math.PI));

    static void apply(Op op, Tensor x, Tensor out, boolean parallel) {
        VectorElementwise.unary(x, out, parallel, GRAIN, (a, ai, o, oi, len) -> run(op, a, ai, o, oi, len));
    }

    /** cap·tanh(x / cap) with the Vector API's tanh (the platform's vector math library: within 1 ulp). */
    static void softcap(Tensor x, Tensor out, float cap, boolean parallel) {
        VectorElementwise.unary(x, out, parallel, GRAIN, (a, ai, o, oi, len) -> softcapRun(a, ai, o, oi, len, cap));
    }

    private static void softcapRun(MemorySegment x, long xi, MemorySegment o, long oi, int r, float cap) {
        float inv = 1f / cap;
        int bound = S.loopBound(r), i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO);
            v.div(cap).lanewise(VectorOperators.TANH).mul(cap).intoMemorySegment(o, (oi + i) * 4, NO);
        }
        if (i < r) {
            VectorMask<Float> m = S.indexInRange(i, r);
            FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO, m).div(cap).lanewise(VectorOperators.TANH).mul(cap)
                    .intoMemorySegment(o, (oi + i) * 4, NO, m);
        }
    }

    /** Applies {@code op} to {@code x[0..n)} into {@code out} (fp32 arrays; for tests and callers holding arrays). */
    static void apply(Op op, float[] x, float[] out) {
        run(op, MemorySegment.ofArray(x), 0, MemorySegment.ofArray(out), 0, x.length);
    }

    /** The vectorised fp32 erf of {@code x[0..n)} into {@code out} (exposed for its accuracy test). */
    static void erf(float[] x, float[] out) {
        MemorySegment xs = MemorySegment.ofArray(x), os = MemorySegment.ofArray(out);
        int i = 0;
        for (; i < S.loopBound(x.length); i += S.length()) {
            erf(FloatVector.fromMemorySegment(S, xs, i * 4L, NO)).intoMemorySegment(os, i * 4L, NO);
        }
        if (i < x.length) {
            VectorMask<Float> m = S.indexInRange(i, x.length);
            erf(FloatVector.fromMemorySegment(S, xs, i * 4L, NO, m)).intoMemorySegment(os, i * 4L, NO, m);
        }
    }

    // Offsets in fp32 elements. One loop per op: C2 compiles each loop with only that op's
    // formula inlined (a shared loop over a switch of all three overflows C2's inlining node
    // budget, and whatever is not inlined boxes every vector: 5x slower). The masked tail goes
    // through the same formula, not inlined: it runs once per block.
    private static void run(Op op, MemorySegment x, long xi, MemorySegment o, long oi, int r) {
        int bound = S.loopBound(r);
        switch (op) {
            case GELU_ERF -> geluErfLoop(x, xi, o, oi, bound);
            case GELU_TANH -> geluTanhLoop(x, xi, o, oi, bound);
            case SILU -> siluLoop(x, xi, o, oi, bound);
        }
        if (bound < r) {
            VectorMask<Float> m = S.indexInRange(bound, r);
            f(op, FloatVector.fromMemorySegment(S, x, (xi + bound) * 4, NO, m)).intoMemorySegment(o, (oi + bound) * 4, NO, m);
        }
    }

    private static void geluErfLoop(MemorySegment x, long xi, MemorySegment o, long oi, int bound) {
        for (int i = 0; i < bound; i += S.length()) {
            geluErf(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO)).intoMemorySegment(o, (oi + i) * 4, NO);
        }
    }

    private static void geluTanhLoop(MemorySegment x, long xi, MemorySegment o, long oi, int bound) {
        for (int i = 0; i < bound; i += S.length()) {
            geluTanh(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO)).intoMemorySegment(o, (oi + i) * 4, NO);
        }
    }

    private static void siluLoop(MemorySegment x, long xi, MemorySegment o, long oi, int bound) {
        for (int i = 0; i < bound; i += S.length()) {
            silu(FloatVector.fromMemorySegment(S, x, (xi + i) * 4, NO)).intoMemorySegment(o, (oi + i) * 4, NO);
        }
    }

    private static FloatVector f(Op op, FloatVector x) {
        return switch (op) {
            case GELU_ERF -> geluErf(x);
            case GELU_TANH -> geluTanh(x);
            case SILU -> silu(x);
        };
    }

    /** x·σ(2u), 2u = 2√(2/π)(x + 0.044715x³). */
    private static FloatVector geluTanh(FloatVector x) {
        FloatVector u2 = x.mul(x).fma(0.044715f, 1f).mul(x).mul(TWO_SQRT_2_OVER_PI);
        return x.div(VectorMath.exp(u2.neg()).add(1f));
    }

    private static FloatVector silu(FloatVector x) {
        return x.div(VectorMath.exp(x.neg()).add(1f));
    }

    // erf/erfc in fp32, coefficients fitted for this file by least squares (Lawson-reweighted
    // towards minimax) under float32 Horner evaluation, and checked by the tests against
    // ReferenceActivation.erf/erfc:
    //   |z| ≤ C1: erf(z) = z + z·P(z²), P of degree 5;
    //   |z| > C1: erfc(a) = t·e^{-a²}·e^{R(t)} with a = |z|, t = 1/(1 + a/2), R of degree 8 (the
    //   Numerical Recipes form, refitted on [C1, 10.5]); a² is carried as an exact fp32 pair
    //   hi + lo, so e^{-a²} keeps erfc's relative accuracy out to a ≈ 9 where the
    //   result leaves the normal range (VectorMath.exp(a, b) takes e^{-hi + (R - lo)} without
    //   rounding the sum).
    // Max errors: erf 1.2e-7 relative on [-10, 10]; erfc 4.2e-7 relative while normal; GELU-erf
    // 4.5e-7 relative everywhere its result is normal (the negative tail uses Φ(x) = erfc(-x/√2)/2,
    // not 1 + erf, which would cancel to 0 below x ≈ -5).
    private static final float C1 = 0.921875f;
    private static final float P0 = -6.013385718688369e-4f, P1 = 4.99799894168973e-3f, P2 = -2.6770230382680893e-2f,
            P3 = 0.11281926929950714f, P4 = -0.3761250674724579f, P5 = 0.12837915122509003f;
    private static final float R0 = -0.22630049288272858f, R1 = 0.6001307964324951f, R2 = -0.3912956118583679f,
            R3 = -0.10901637375354767f, R4 = -0.05384419858455658f, R5 = 0.06651396304368973f,
            R6 = 0.3786514103412628f, R7 = 0.9996117949485779f, R8 = -1.2654956579208374f;
    /** Past this |z|, erfc(z) is below fp32's smallest subnormal. */
    private static final float A_MAX = 10.5f;
    /** Past this |x|, Φ(x) is exactly 0 or 1 in fp32. */
    private static final float X_MAX = 20f;

    /** erf(z) for z ≤ C1 in magnitude: z + z·P(z²). */
    private static FloatVector erfSmall(FloatVector z) {
        FloatVector s = z.mul(z);
        FloatVector p = s.fma(P0, P1).fma(s, FloatVector.broadcast(S, P2)).fma(s, FloatVector.broadcast(S, P3))
                .fma(s, FloatVector.broadcast(S, P4)).fma(s, FloatVector.broadcast(S, P5));
        return p.fma(z, z);
    }

    /** erfc(a) for a ≥ C1, given a² = hi + lo exactly. */
    private static FloatVector erfcTail(FloatVector a, FloatVector hi, FloatVector lo) {
        FloatVector t = FloatVector.broadcast(S, 1f).div(a.fma(0.5f, 1f));
        FloatVector r = t.fma(R0, R1).fma(t, FloatVector.broadcast(S, R2)).fma(t, FloatVector.broadcast(S, R3))
                .fma(t, FloatVector.broadcast(S, R4)).fma(t, FloatVector.broadcast(S, R5))
                .fma(t, FloatVector.broadcast(S, R6)).fma(t, FloatVector.broadcast(S, R7))
                .fma(t, FloatVector.broadcast(S, R8));
        return t.mul(VectorMath.exp(hi.neg(), r.sub(lo)));
    }

    static FloatVector erf(FloatVector z) {
        FloatVector r = erfSmall(z);
        FloatVector a = z.abs().min(A_MAX); // NaN stays NaN and fails the compare below
        VectorMask<Float> big = a.compare(VectorOperators.GT, C1);
        if (big.anyTrue()) {
            FloatVector hi = a.mul(a), lo = a.fma(a, hi.neg());
            FloatVector e = erfcTail(a, hi, lo).neg().add(1f);
            r = r.blend(e.blend(e.neg(), z.compare(VectorOperators.LT, 0f)), big);
        }
        return r;
    }

    /** GELU-erf: x·Φ(x), Φ(x) = ½(1 + erf(x/√2)) near 0 and ½erfc(|x|/√2) (or 1 − that) beyond. */
    private static FloatVector geluErf(FloatVector x) {
        FloatVector xc = x.max(-X_MAX).min(X_MAX);
        FloatVector z = xc.mul(SQRT_HALF);
        FloatVector phi = erfSmall(z).fma(0.5f, 0.5f);
        FloatVector a = z.abs();
        VectorMask<Float> big = a.compare(VectorOperators.GT, C1);
        if (big.anyTrue()) {
            // z² = x²/2 as an exact pair: fma gives x²'s rounding error, halving is exact.
            FloatVector x2 = xc.mul(xc);
            FloatVector hi = x2.mul(0.5f), lo = xc.fma(xc, x2.neg()).mul(0.5f);
            FloatVector half = erfcTail(a, hi, lo).mul(0.5f);
            phi = phi.blend(half.blend(half.neg().add(1f), z.compare(VectorOperators.GT, 0f)), big);
        }
        return x.mul(phi);
    }
}
