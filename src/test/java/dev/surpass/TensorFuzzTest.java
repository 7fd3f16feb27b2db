package dev.surpass;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes tensor creation on the CPU: allocate / zeros / upload / reshape / dim with random ranks and
 * shapes (0, 1, negative, huge, products that overflow long). A call either gives a tensor of exactly
 * the asked shape and contents or an {@link IllegalArgumentException} / {@link IllegalStateException}
 * naming the shape; a shape whose bytes no host has is refused, never half-allocated.
 */
class TensorFuzzTest {
    static Device cpu;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        Fuzz.finish("tensor.");
        cpu.close();
    }

    @Test
    void allocate() {
        Fuzz.forAll("tensor.allocate", 400, g -> allocate(g.shape(0, 5, 7), g.dtype(), g.bool()));
    }

    private static void allocate(long[] shape, DType dtype, boolean zeros) {
        if (!Gen.safeToAllocate(dtype, shape)) return;
        long bytes = Gen.bytesOrMinus1(dtype, shape);
        String in = dtype + Arrays.toString(shape);
        Tensor t = Fuzz.call("tensor.allocate", in, () -> zeros ? cpu.zeros(dtype, shape) : cpu.allocate(dtype, shape),
                "shape", "bytes");
        if (t == null) {
            assertTrue(bytes < 0 || bytes >= Gen.HOPELESS_BYTES, "a valid small shape was refused: " + in);
            return;
        }
        try (t) {
            assertTrue(bytes >= 0 && bytes < Gen.HOPELESS_BYTES, in);
            assertArrayEquals(shape, t.shape());
            assertEquals(bytes, t.byteSize());
            if (zeros && t.dtype().isFloating()) for (float v : t.toFloatArray()) assertEquals(0f, v);
        }
    }

    @Test
    void upload() {
        Fuzz.forAll("tensor.upload", 300, g -> upload(g.shape(0, 5, 7), length(g), g.floating()));
    }

    private static void upload(long[] shape, int length, DType dtype) {
        float[] data = Gen.floats(length, length, 3);
        String in = dtype + Arrays.toString(shape) + " from " + length + " values";
        Tensor t = Fuzz.call("tensor.upload", in, () -> cpu.upload(dtype, data, shape), "shape");
        long n = Gen.bytesOrMinus1(DType.I64, shape) < 0 ? -1 : Gen.bytesOrMinus1(DType.I64, shape) / 8;
        if (t == null) {
            assertTrue(n != length, "valid upload refused: " + in);
            return;
        }
        try (t) {
            assertEquals(length, n, in);
            assertArrayEquals(shape, t.shape());
            float[] back = t.toFloatArray();
            for (int i = 0; i < length; i++) {
                float want = dtype == DType.F32 ? data[i] : dtype == DType.F16 ? DType.f16ToFloat(DType.floatToF16(data[i]))
                        : DType.bf16ToFloat(DType.floatToBf16(data[i]));
                assertEquals(want, back[i], in + " at " + i);
            }
        }
    }

    private static int length(Gen g) {
        return g.weighted(3, 1) == 0 ? g.between(0, 64) : g.pickInt(1, 2, 4, 6, 8, 12, 24);
    }

    @Test
    void reshapeAndDim() {
        Fuzz.forAll("tensor.reshapeAndDim", 400, g -> reshapeAndDim(g.longArray(0, 4, () -> g.between(0L, 6L)), reshape(g), dimIndex(g)));
    }

    private static void reshapeAndDim(long[] shape, long[] target, int dimIndex) {
        int n = (int) Gen.bytesOrMinus1(DType.I64, shape) / 8;
        float[] data = Gen.floats(7, n, 1);
        try (Tensor t = cpu.upload(DType.F32, data, shape)) {
            String in = Arrays.toString(shape) + " -> " + Arrays.toString(target);
            Tensor r = Fuzz.call("tensor.reshape", in, () -> t.reshape(target), "reshape");
            if (r != null) {
                try (r) {
                    assertEquals(t.numel(), r.numel(), in);
                    for (int i = 0; i < target.length; i++) if (target[i] != -1) assertEquals(target[i], r.dim(i), in);
                    assertArrayEquals(data, r.toFloatArray(), in);
                }
            } else {
                assertTrue(!validReshape(n, target), "valid reshape refused: " + in);
            }
            Long d = Fuzz.call("tensor.dim", shape.length + " dims, dim(" + dimIndex + ")", () -> t.dim(dimIndex), "dim");
            boolean inRange = dimIndex >= -shape.length && dimIndex < shape.length;
            assertEquals(inRange, d != null, "dim(" + dimIndex + ") of rank " + shape.length);
        }
    }

    private static int dimIndex(Gen g) {
        return g.bool() ? g.between(-6, 6) : g.pickInt(Integer.MIN_VALUE, Integer.MAX_VALUE);
    }

    /** Regression: a reshape whose product overflows long gave an ArithmeticException. */
    @Test
    void reshapeOverflowIsRefused() {
        try (Tensor t = cpu.upload(DType.F32, new float[0], 0)) {
            Fuzz.reject("tensor.reshape", "[0] -> [2, MAX]", () -> t.reshape(2, Long.MAX_VALUE), "more than 2^63");
            Fuzz.reject("tensor.reshape", "[0] -> [MAX, MAX, -1]", () -> t.reshape(Long.MAX_VALUE, Long.MAX_VALUE, -1), "more than 2^63");
        }
    }

    /** The reference: one −1 at most, no other negative, and the counts agree. */
    private static boolean validReshape(long numel, long[] target) {
        int infer = 0;
        long known = 1;
        for (long d : target) {
            if (d == -1) infer++;
            else if (d < 0) return false;
            else {
                try {
                    known = Math.multiplyExact(known, d);
                } catch (ArithmeticException e) {
                    return false;
                }
            }
        }
        if (infer > 1) return false;
        if (infer == 1) return known != 0 && numel % known == 0;
        return known == numel;
    }

    private static long[] reshape(Gen g) {
        return g.longArray(0, 4, () -> switch (g.weighted(6, 2, 1)) {
            case 0 -> g.between(0L, 12L);
            case 1 -> -1L;
            default -> g.pickLong(-2L, Long.MIN_VALUE, 1L << 40, Long.MAX_VALUE);
        });
    }
}
