package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.Test;

class ElementwiseTest extends CpuOpTest {
    @Test
    void validation() {
        Tensor a = d.upload(DType.F32, ParityMath.random(SEED, 12, 1f, DType.F32), 3, 4);
        Tensor h = d.upload(DType.F16, ParityMath.random(SEED, 4, 1f, DType.F16), 4);
        Tensor i = d.upload(new int[] {1, 2, 3, 4}, 4);
        Tensor b5 = d.upload(DType.F32, ParityMath.random(SEED, 5, 1f, DType.F32), 5);
        Tensor b24 = d.upload(DType.F32, ParityMath.random(SEED, 8, 1f, DType.F32), 2, 4);
        Tensor a4 = d.upload(DType.F32, ParityMath.random(SEED, 4, 1f, DType.F32), 4);
        Tensor closed = d.upload(DType.F32, ParityMath.random(SEED, 4, 1f, DType.F32), 4);
        closed.close();
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.add(null, a)), "add: a is null");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.mul(a, null)), "mul: b is null");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.add(a, closed)), "add: b", "is closed");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.add(i, i)), "add: a has dtype I32", "floating");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.add(a, h)), "add: b has dtype F16 but a has F32");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.mul(a, b5)),
                "mul: b has shape [5]", "not a suffix of a's shape [3, 4]", "b's dim 0 is 5 but a's dim 1 is 4");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.add(a, b24)), "b's dim 0 is 2 but a's dim 0 is 3");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.add(a4, b24)), "b has shape [2, 4] (rank 2) but a has shape [4] (rank 1)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.scale(null, 2f)), "scale: a is null");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Elementwise.scale(i, 2f)), "scale: a has dtype I32");
        assertEquals(6, d.liveAllocations(), "a failed call must not leave an output behind");
    }

    @Test
    void sameCpuThroughAnotherHandleIsAccepted() {
        try (Device other = Device.cpu()) {
            float[] av = ParityMath.random(SEED, 6, 1f, DType.F32), bv = ParityMath.random(SEED + 1, 3, 1f, DType.F32);
            Tensor a = d.upload(DType.F32, av, 2, 3);
            Tensor b = other.upload(DType.F32, bv, 3);
            try (Tensor out = Elementwise.add(a, b)) {
                assertEquals(d, out.device());
                for (int k = 0; k < 6; k++) assertEquals(av[k] + bv[k % 3], out.getFloat(k), "seed=" + SEED);
            }
        }
    }

    @Test
    void emptyTensors() {
        Tensor a = d.allocate(DType.BF16, 0, 7), b = d.allocate(DType.BF16, 7);
        try (Tensor out = Elementwise.mul(a, b); Tensor s = Elementwise.scale(a, 3f)) {
            assertArrayEquals(new long[] {0, 7}, out.shape());
            assertEquals(DType.BF16, out.dtype());
            assertEquals(0, s.numel());
        }
    }

    @Test
    void halfResultsAreTheFp32ResultRoundedToNearestEven() {
        for (DType t : new DType[] {DType.F16, DType.BF16}) {
            float[] av = ParityMath.random(SEED, 13 * 65, 4f, t), bv = ParityMath.random(SEED + 1, 65, 4f, t);
            Tensor a = d.upload(t, av, 13, 65), b = d.upload(t, bv, 65);
            try (Tensor sum = Elementwise.add(a, b); Tensor prod = Elementwise.mul(a, b); Tensor sc = Elementwise.scale(a, 0.3f)) {
                short[] s = sum.toShortArray(), p = prod.toShortArray(), c = sc.toShortArray();
                for (int k = 0; k < av.length; k++) {
                    assertEquals(bits(t, av[k] + bv[k % 65]), s[k], t + " add at " + k + " seed=" + SEED);
                    assertEquals(bits(t, av[k] * bv[k % 65]), p[k], t + " mul at " + k + " seed=" + SEED);
                    assertEquals(bits(t, av[k] * 0.3f), c[k], t + " scale at " + k + " seed=" + SEED);
                }
            }
        }
    }

    private static short bits(DType t, float f) {
        return t == DType.BF16 ? DType.floatToBf16(f) : DType.floatToF16(f);
    }

    @Test
    void smallAndLargeBroadcastsMatchTheReferenceExactly() {
        // fp32 add/mul of fp32 inputs is exactly the double result rounded once.
        long[][][] cases = {{{5, 1}, {1}}, {{7, 3}, {3}}, {{3, 20000}, {20000}}, {{2, 3, 17000}, {3, 17000}}, {{40000}, {40000}}};
        for (long[][] c : cases) {
            int n = (int) (c[0].length == 1 ? c[0][0] : java.util.Arrays.stream(c[0]).reduce(1, (x, y) -> x * y));
            int m = (int) java.util.Arrays.stream(c[1]).reduce(1, (x, y) -> x * y);
            float[] av = ParityMath.random(SEED, n, 2f, DType.F32), bv = ParityMath.random(SEED + 1, m, 2f, DType.F32);
            try (Tensor a = d.upload(DType.F32, av, c[0]); Tensor b = d.upload(DType.F32, bv, c[1]);
                 Tensor sum = Elementwise.add(a, b); Tensor prod = Elementwise.mul(a, b)) {
                double[] rs = ReferenceElementwise.add(av, bv), rp = ReferenceElementwise.mul(av, bv);
                float[] gs = sum.toFloatArray(), gp = prod.toFloatArray();
                for (int k = 0; k < n; k++) {
                    assertEquals((float) rs[k], gs[k], "add " + java.util.Arrays.toString(c[0]) + " at " + k + " seed=" + SEED);
                    assertEquals((float) rp[k], gp[k], "mul " + java.util.Arrays.toString(c[0]) + " at " + k + " seed=" + SEED);
                }
            }
        }
    }

    @Test
    void resultsDoNotDependOnThreading() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            long[] as = {300, 1031};
            float[] av = ParityMath.random(SEED, 300 * 1031, 2f, t), bv = ParityMath.random(SEED + 1, 1031, 2f, t);
            try (Tensor a = d.upload(t, av, as); Tensor b = d.upload(t, bv, 1031);
                 Tensor o1 = d.allocate(t, as); Tensor o2 = d.allocate(t, as)) {
                VectorElementwise.binary(true, a, b, o1, true);
                VectorElementwise.binary(true, a, b, o2, false);
                assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), t + " seed=" + SEED);
                VectorElementwise.scale(a, 1.7f, o1, true);
                VectorElementwise.scale(a, 1.7f, o2, false);
                assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), t + " seed=" + SEED);
            }
        }
    }
}
