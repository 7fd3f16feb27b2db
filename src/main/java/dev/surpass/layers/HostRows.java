package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.backend.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Reads and writes runs of elements of any floating dtype in a host {@link MemorySegment} as fp32,
 * for the CPU (Vector API) ops: F16/BF16 operands are widened into a scratch {@code float[]}, the op
 * runs in fp32, and the result is rounded back (BF16 and F16 round to nearest even, like
 * {@link DType#floatToBf16} and {@link Float#floatToFloat16}).
 *
 * <p>Element offsets and counts are in elements of the segment's dtype, not bytes. Each thread gets
 * its own scratch arrays through {@link #scratch(int, int)}; the arrays are reused between calls, so
 * a caller must not hold one across another call that asks for the same slot.
 */
public final class HostRows {
    private HostRows() {}

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.nativeOrder());

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    // BF16 widening: a short species with as many lanes as the float species, so one short vector
    // widens to exactly one int vector of the float vector's shape.
    private static final VectorSpecies<Short> SS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(FS.length() * Short.SIZE));
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());

    /** Number of scratch slots per thread. */
    public static final int SLOTS = 4;

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[SLOTS][]);

    /**
     * This thread's scratch array in {@code slot} (0 to {@link #SLOTS}-1), at least {@code n} long
     * (rounded up to a whole number of vectors so masked tails never run past the end).
     */
    public static float[] scratch(int slot, int n) {
        float[][] s = SCRATCH.get();
        float[] a = s[slot];
        if (a == null || a.length < n) {
            int len = Math.max(64, ((n + FS.length() - 1) / FS.length()) * FS.length());
            a = new float[len];
            s[slot] = a;
        }
        return a;
    }

    /** Reads {@code n} elements of {@code dtype} starting at element {@code elem} into {@code dst[dstOff..]}. */
    public static void read(MemorySegment src, DType dtype, long elem, float[] dst, int dstOff, int n) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, F32, elem * 4, dst, dstOff, n);
            case BF16 -> readBf16(src, elem, dst, dstOff, n);
            case F16 -> {
                long base = elem * 2;
                for (int i = 0; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(src.get(I16, base + 2L * i));
            }
            default -> throw new IllegalArgumentException("HostRows reads floating dtypes only, got " + dtype);
        }
    }

    /** Writes {@code src[srcOff..srcOff+n)} as {@code dtype} into {@code dst} from element {@code elem}, rounding to nearest even. */
    public static void write(float[] src, int srcOff, MemorySegment dst, DType dtype, long elem, int n) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, srcOff, dst, F32, elem * 4, n);
            case BF16 -> {
                long base = elem * 2;
                for (int i = 0; i < n; i++) dst.set(I16, base + 2L * i, DType.floatToBf16(src[srcOff + i]));
            }
            case F16 -> {
                long base = elem * 2;
                for (int i = 0; i < n; i++) dst.set(I16, base + 2L * i, Float.floatToFloat16(src[srcOff + i]));
            }
            default -> throw new IllegalArgumentException("HostRows writes floating dtypes only, got " + dtype);
        }
    }

    /**
     * Runs {@code body} over {@code [0, n)}: split over threads by {@link Parallel#forRange} when
     * {@code parallel}, else on the calling thread. The CPU ops split work at boundaries that do
     * not depend on the thread count, so both give bit-identical results (the tests check it).
     */
    static void forRange(boolean parallel, long n, long grain, Parallel.RangeBody body) {
        if (parallel) Parallel.forRange(n, grain, body);
        else if (n > 0) body.run(0, n);
    }

    /** Reads a whole small tensor (a weight or bias vector) as fp32. */
    public static float[] readAll(MemorySegment src, DType dtype, int n) {
        float[] out = new float[n];
        read(src, dtype, 0, out, 0, n);
        return out;
    }

    // bf16 → fp32 is a 16-bit left shift of the bits: widen short lanes to int lanes, shift, reinterpret.
    private static void readBf16(MemorySegment src, long elem, float[] dst, int dstOff, int n) {
        long base = elem * 2;
        int i = 0;
        int bound = n - FS.length();
        for (; i <= bound; i += FS.length()) {
            ShortVector s = ShortVector.fromMemorySegment(SS, src, base + 2L * i, ByteOrder.nativeOrder());
            IntVector w = (IntVector) s.convertShape(VectorOperators.S2I, IS, 0);
            w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) dst[dstOff + i] = DType.bf16ToFloat(src.get(I16, base + 2L * i));
    }
}
