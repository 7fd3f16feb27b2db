package dev.surpass.layers;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transcendentals for the CPU ops, written with plain vector arithmetic (fma, add, shifts).
 *
 * <p>Why not {@code lanewise(VectorOperators.EXP)}: its result may differ by an ulp between the
 * interpreter, C1 and C2 (scalar fallback vs. SVML stubs), so the same op on the same input could
 * give different bits on a cold and a warm call; and where the SVML stubs are missing it falls
 * back to a scalar loop. This exp is deterministic everywhere and stays vectorised.
 */
final class VectorMath {
    private VectorMath() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private static final float LOG2E = 1.4426950408889634f;
    // ln 2 split so n·LN2_HI is exact for |n| < 2^11 (Cody–Waite reduction).
    private static final float LN2_HI = 0.693145751953125f;
    private static final float LN2_LO = 1.4286068203094173e-6f;
    /** 1.5·2^23: adding it rounds to the nearest integer, which then sits in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS = 0x4B400000;
    // e^r = 1 + r + r²·Q(r) on |r| ≤ ln2/2, Q of degree 4 fitted (Lawson-weighted least squares) for
    // this file: under 1 ulp overall wherever the result is a normal float.
    private static final float Q0 = 1.3815287966281176e-3f, Q1 = 8.368718437850475e-3f, Q2 = 4.1668374091386795e-2f,
            Q3 = 0.1666652113199234f, Q4 = 0.4999999403953552f;

    /**
     * e^x per lane, max error 1 ulp for normal results; overflows to +∞ above ≈ 88.72, gradual
     * underflow to 0 below ≈ −87.3; e^{−∞} = 0, e^{+∞} = +∞, NaN stays NaN.
     */
    static FloatVector exp(FloatVector x) {
        return exp(x, FloatVector.zero(S));
    }

    /**
     * e^{a+b} per lane without rounding a + b first: {@code a} may be large (−a² in erfc) and
     * {@code b} a small correction (|b| ≲ 4; with a ≤ −104 the result is a subnormal or 0). The Cody–Waite step {@code a − n·ln2_hi} is exact
     * because it cancels to a small number, and b joins only the small reduced argument.
     */
    static FloatVector exp(FloatVector a, FloatVector b) {
        // Clamped by compare + blend, as max(-104).min(89) would (beyond, the result is 0 or ∞ anyway),
        // at a fraction of the cost (see VectorExp); written out, as a helper call here made C2 stop
        // inlining GELU-erf's vectors (4x slower).
        FloatVector ac = a.blend(-104f, a.compare(VectorOperators.LT, -104f));
        ac = ac.blend(89f, ac.compare(VectorOperators.GT, 89f));
        FloatVector x = ac.add(b);  // picks n; kept in [−150, 129]; NaN passes through
        x = x.blend(-104f, x.compare(VectorOperators.LT, -104f));
        x = x.blend(89f, x.compare(VectorOperators.GT, 89f));
        FloatVector t = x.fma(LOG2E, ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), ac).add(b);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector q = r.fma(Q0, Q1).fma(r, FloatVector.broadcast(S, Q2)).fma(r, FloatVector.broadcast(S, Q3))
                .fma(r, FloatVector.broadcast(S, Q4));
        FloatVector p = r.mul(r).fma(q, r).add(1f);
        // 2^n as two normal factors 2^n1·2^n2 (n1 = ⌊n/2⌋), so n from −150 to 129 needs no special cases.
        IntVector ni = t.reinterpretAsInts().sub(ROUNDER_BITS);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = ni.sub(n1).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(s1).mul(s2);
    }
}
