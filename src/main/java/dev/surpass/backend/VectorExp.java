package dev.surpass.backend;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector {@code 2^x} of the CPU ops, written with plain vector arithmetic (fma, add, integer
 * shift and add) so that a lane's result is the same in the interpreter, C1 and C2 — unlike
 * {@code lanewise(VectorOperators.EXP)}, whose SVML stubs and scalar fallback may differ by an
 * ulp — and stays vectorised everywhere.
 *
 * <p>{@code x = n + f} with integer {@code n} and {@code |f| ≤ 1/2}; {@code n} comes from the
 * round-to-integer magic constant (adding {@code 1.5·2^23} leaves {@code n} in the low mantissa
 * bits, and those bits shifted left by 23 are exactly {@code n}'s exponent increment), so there is
 * no float↔int conversion. {@code 2^f} is a degree-6 polynomial fitted for relative error on
 * {@code [−1/2, 1/2]} (fit error 3e-9; with the float rounding under 1 ulp, measured).
 *
 * <p>The clamps are a compare and a blend, not {@code max} / {@code min}: Java's float max and min
 * (NaN wins, −0 &lt; +0) compile to a five-instruction sequence on x86 (no single AVX-512
 * instruction has those semantics), and two of them made the selective scan's inner loop 1.45×
 * slower. A compare is false for NaN, so NaN still passes through unclamped, as it did.
 *
 * <p>Each entry is written out in full, without a shared private helper: a call inside a hot
 * vector loop must inline all the way down, or C2 boxes every vector (one more level of calls made
 * the attention softmax flip between fast and 4x slower from one JVM run to the next).
 */
public final class VectorExp {
    private VectorExp() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /**
     * The polynomial {@code 2^f ≈ 1 + f·(P1 + f·(P2 + … + f·P6))}, public for a hot loop that must
     * write the exp out in place (see {@link #exp2NonPositiveFast}).
     */
    public static final float P1 = 0.6931471824645996f, P2 = 0.24022647738456726f, P3 = 0.055503323674201965f,
            P4 = 0.009618437848985195f, P5 = 0.0013398875016719103f, P6 = 0.00015353313938248903f;
    /** 1.5·2^23: adding it rounds to an integer held in the low mantissa bits. */
    public static final float ROUND_MAGIC = 12582912f;

    /**
     * {@code 2^x} for {@code x ≤ 0}, under 1 ulp where the result is at least {@code 2^−126};
     * {@code x < −126} (and {@code −∞}) gives exactly 0, NaN stays NaN. Positive {@code x} is
     * treated as 0. This is the softmax form ({@code s − max}), where masked scores must weigh 0.
     */
    public static FloatVector exp2NonPositive(FloatVector in) {
        VectorMask<Float> under = in.compare(VectorOperators.LT, -126f);
        FloatVector x = in.blend(-126f, under);
        x = x.blend(0f, x.compare(VectorOperators.GT, 0f));
        return exp2Reduced(x).blend(0f, under);
    }

    /**
     * {@code 2^x} for {@code x ≤ 0} where an underflow need not be exactly 0: below {@code −126}
     * (and at {@code −∞}) it returns {@code 2^−126}·(at most 1.5) instead of 0, three operations
     * fewer than {@link #exp2NonPositive}. For a softmax whose maximum is finite and whose scores
     * are not masked by −∞, that error is below any sum's ulp. {@code x > 0} is not allowed (the
     * exponent would not be clamped); NaN stays NaN.
     *
     * <p>Once this method is hot and compiled on its own, C2 may refuse to inline it into a large
     * caller ("already compiled into a medium method") and box every vector at the call; a loop
     * that must not depend on that (the attention softmax) writes these same operations out.
     */
    public static FloatVector exp2NonPositiveFast(FloatVector in) {
        return exp2Reduced(in.blend(-126f, in.compare(VectorOperators.LT, -126f)));
    }

    /**
     * {@code 2^x} clamped to {@code [−126, 127]} first (below: {@code 2^−126} instead of a
     * subnormal or 0, above: {@code 2^127}), under 1 ulp inside; NaN stays NaN.
     */
    public static FloatVector exp2Clamped(FloatVector in) {
        FloatVector x = in.blend(-126f, in.compare(VectorOperators.LT, -126f));
        return exp2Reduced(x.blend(127f, x.compare(VectorOperators.GT, 127f)));
    }

    /**
     * {@code 2^x} for {@code x} the caller knows to lie in {@code [−126, 127]} (not NaN), under
     * 1 ulp: {@link #exp2Clamped} without its clamps, which took 28% of a loop that is mostly this
     * exp2 (the selective scan, when Δ·A is in range for a whole span). Outside that range the
     * result is garbage, not an exception.
     */
    public static FloatVector exp2InRange(FloatVector x) {
        return exp2Reduced(x);
    }

    /**
     * {@code 2^x} for {@code x} already clamped into {@code [−126, 127]} (NaN stays NaN): rounds x
     * to an integer n with {@link #ROUND_MAGIC}, evaluates the polynomial at {@code f = x − n} and
     * adds n to the exponent bits. The one body of the three exp2 entries above, which differ only
     * in their clamps.
     */
    private static FloatVector exp2Reduced(FloatVector x) {
        FloatVector t = x.add(ROUND_MAGIC);
        FloatVector f = x.sub(t.sub(ROUND_MAGIC));
        FloatVector p = f.fma(P6, P5).fma(f, FloatVector.broadcast(S, P4)).fma(f, FloatVector.broadcast(S, P3))
                .fma(f, FloatVector.broadcast(S, P2)).fma(f, FloatVector.broadcast(S, P1)).fma(f, FloatVector.broadcast(S, 1f));
        IntVector e = ((IntVector) t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23);
        FloatVector r = ((IntVector) p.reinterpretAsInts()).add(e).reinterpretAsFloats();
        return r;
    }

    private static final float LOG2E = 1.4426950408889634f;

    /**
     * {@code tanh(x)} per lane with the same plain arithmetic (so, unlike
     * {@code lanewise(VectorOperators.TANH)}, a lane's result does not change when the loop gets
     * JIT-compiled): for {@code |x| ≤ 0.625} Cephes' odd polynomial {@code x + x·z·P(z)},
     * {@code z = x²}; above, {@code ±(1 − 2/(e^{2|x|} + 1))} with {@link #exp2Clamped}. Within a
     * few ulp; {@code ±∞} gives {@code ±1}, NaN stays NaN.
     */
    public static FloatVector tanh(FloatVector x) {
        FloatVector z = x.mul(x);
        FloatVector small = z.fma(-5.70498872745E-3f, 2.06390887954E-2f).fma(z, FloatVector.broadcast(S, -5.37397155531E-2f))
                .fma(z, FloatVector.broadcast(S, 1.33314422036E-1f)).fma(z, FloatVector.broadcast(S, -3.33332819422E-1f))
                .mul(z).fma(x, x);
        FloatVector ax = x.abs();
        FloatVector e = exp2Clamped(ax.mul(2 * LOG2E));
        FloatVector big = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(e.add(1f)));
        big = big.blend(big.neg(), x.compare(VectorOperators.LT, 0f));
        return small.blend(big, ax.compare(VectorOperators.GT, 0.625f));
    }
}
