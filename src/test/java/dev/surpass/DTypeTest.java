package dev.surpass;

import static org.junit.jupiter.api.Assertions.*;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DTypeTest {
    /** float64 reference for bf16 rounding: nearest representable, ties to even mantissa. */
    private static float bf16Reference(float f) {
        int bits = Float.floatToRawIntBits(f);
        float lo = Float.intBitsToFloat(bits & 0xffff0000); // truncation: toward zero
        double step = Math.ulp(lo) * 65536.0; // one bf16 ulp at lo's exponent (also for subnormals)
        double hi = Math.copySign(Math.abs((double) lo) + step, lo); // may be 2^128: overflow
        double dl = Math.abs((double) f - lo), dh = Math.abs(hi - f);
        boolean pickHi = dh < dl || (dh == dl && ((Float.floatToRawIntBits(lo) >>> 16) & 1) == 1);
        return pickHi ? (float) hi : lo;
    }

    @Test
    void bf16RoundsToNearestEven() {
        long seed = 42;
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt() & 0x7f7fffff | (r.nextBoolean() ? 0x80000000 : 0));
            if (!Float.isFinite(f)) continue;
            float got = DType.bf16ToFloat(DType.floatToBf16(f));
            float want = bf16Reference(f);
            assertEquals(want, got, "bf16 rounding of " + f + " (bits " + Integer.toHexString(Float.floatToRawIntBits(f)) + "), seed " + seed);
        }
    }

    @Test
    void bf16TiesAndSpecials() {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even → 1.0
        assertEquals(1.0f, DType.bf16ToFloat(DType.floatToBf16(1.0f + 0x1p-8f)));
        // 1.0078125 + 2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even) → 1.015625
        assertEquals(1.015625f, DType.bf16ToFloat(DType.floatToBf16(1.0078125f + 0x1p-8f)));
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, DType.bf16ToFloat(DType.floatToBf16(Float.POSITIVE_INFINITY)));
        assertEquals(Float.NEGATIVE_INFINITY, DType.bf16ToFloat(DType.floatToBf16(-Float.MAX_VALUE)));
        assertEquals(-0.0f, DType.bf16ToFloat(DType.floatToBf16(-0.0f)));
        // a NaN whose payload sits only in the low bits must stay NaN, not become infinity
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(Float.intBitsToFloat(0x7f800001)))));
    }

    @Test
    void f16MatchesJdk() {
        for (float f : new float[] {0.1f, -3.75f, 65504f, 65520f, 1e-8f, 6.1e-5f}) {
            assertEquals(Float.float16ToFloat(Float.floatToFloat16(f)), DType.F16.round(f));
        }
        assertEquals(Float.POSITIVE_INFINITY, DType.F16.round(65520f));
    }

    @Test
    void sizesAndNames() {
        assertEquals(4, DType.F32.byteSize());
        assertEquals(2, DType.BF16.byteSize());
        assertEquals(8, DType.I64.byteSize());
        assertEquals(DType.BF16, DType.fromSafetensorsName("BF16"));
        assertNull(DType.fromSafetensorsName("F64"));
        assertThrows(IllegalArgumentException.class, () -> DType.I32.round(1f));
    }
}
