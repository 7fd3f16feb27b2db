package dev.surpass.fuzz;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.function.IntFunction;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The generator every fuzz property draws its inputs from: one per try, over a
 * {@link SplittableRandom} seeded by {@link Fuzz#forAll} from the fixed seed, the property and the
 * try index (so a failing try replays alone). Values are biased towards their edges: a range gives
 * its ends (and 0 / 1 inside it) about one time in {@value #EDGE_ODDS}, an array its shortest and
 * longest sizes, an unconstrained int or long its extremes; the domain generators ({@link #dim},
 * {@link #shape}, {@link #index}) give dimensions and indices that are mostly valid and sometimes 0,
 * 1, negative, huge or overflowing.
 *
 * <p>The static helpers (allocation bounds, seeded tensor contents) are shared by the properties and
 * their CUDA twins.
 */
public final class Gen {
    /** One draw in this many of a range or a size is one of its edge values. */
    public static final int EDGE_ODDS = 8;

    private final SplittableRandom r;

    public Gen(long seed) {
        this.r = new SplittableRandom(seed);
    }

    // ---- primitives ------------------------------------------------------------------------

    /** True or false, evenly. */
    public boolean bool() {
        return r.nextBoolean();
    }

    /** True with probability {@code p}. */
    public boolean chance(double p) {
        return r.nextDouble() < p;
    }

    /** An index into {@code weights} drawn in proportion to them (a weighted choice between generators). */
    public int weighted(int... weights) {
        int total = 0;
        for (int w : weights) total += w;
        int x = r.nextInt(total);
        for (int i = 0; i < weights.length; i++) {
            x -= weights[i];
            if (x < 0) return i;
        }
        throw new AssertionError();
    }

    private boolean edge() {
        return r.nextInt(EDGE_ODDS) == 0;
    }

    /** An int in {@code [lo, hi]}, sometimes one of its edges (lo, hi, 0 or 1 when inside). */
    public int between(int lo, int hi) {
        if (lo > hi) throw new IllegalArgumentException("between(" + lo + ", " + hi + ")");
        if (edge()) {
            int e = pickInt(lo, hi, 0, 1);
            if (e >= lo && e <= hi) return e;
        }
        return (int) r.nextLong(lo, (long) hi + 1);
    }

    /** A long in {@code [lo, hi]}, sometimes one of its edges (lo, hi, 0 or 1 when inside). */
    public long between(long lo, long hi) {
        if (lo > hi) throw new IllegalArgumentException("between(" + lo + ", " + hi + ")");
        if (edge()) {
            long e = pickLong(lo, hi, 0, 1);
            if (e >= lo && e <= hi) return e;
        }
        if (hi < Long.MAX_VALUE) return r.nextLong(lo, hi + 1);
        long x;
        do x = r.nextLong(); while (x < lo);
        return x;
    }

    /** A double in {@code [lo, hi]}, sometimes one of its edges (lo, hi, 0 when inside). */
    public double between(double lo, double hi) {
        if (edge()) {
            double e = pickDouble(lo, hi, 0);
            if (e >= lo && e <= hi) return e;
        }
        return lo + r.nextDouble() * (hi - lo);
    }

    /** A float in {@code [lo, hi]}, sometimes one of its edges (lo, hi, 0 when inside). */
    public float between(float lo, float hi) {
        return (float) between((double) lo, (double) hi);
    }

    /** Any int, often an extreme (0, ±1, MIN, MAX and their neighbours). */
    public int anyInt() {
        if (r.nextInt(5) == 0) return pickInt(0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, Integer.MIN_VALUE + 1, Integer.MAX_VALUE - 1);
        return r.nextInt();
    }

    /** Any long, often an extreme (0, ±1, MIN, MAX and their neighbours). */
    public long anyLong() {
        if (r.nextInt(5) == 0) return pickLong(0, 1, -1, Long.MIN_VALUE, Long.MAX_VALUE, Long.MIN_VALUE + 1, Long.MAX_VALUE - 1);
        return r.nextLong();
    }

    public int pickInt(int... values) {
        return values[r.nextInt(values.length)];
    }

    public long pickLong(long... values) {
        return values[r.nextInt(values.length)];
    }

    public double pickDouble(double... values) {
        return values[r.nextInt(values.length)];
    }

    public float pickFloat(float... values) {
        return values[r.nextInt(values.length)];
    }

    /** One of {@code values}, evenly. */
    @SafeVarargs
    public final <T> T pick(T... values) {
        return values[r.nextInt(values.length)];
    }

    /** One constant of {@code type}, evenly. */
    public <E extends Enum<E>> E pick(Class<E> type) {
        return pick(type.getEnumConstants());
    }

    // ---- strings and arrays ----------------------------------------------------------------

    /** An array length in {@code [min, max]}, often {@code min} or {@code max}. */
    public int size(int min, int max) {
        if (r.nextInt(5) == 0) return r.nextBoolean() ? min : max;
        return r.nextInt(min, max + 1);
    }

    public int[] intArray(int min, int max, IntSupplier element) {
        int[] a = new int[size(min, max)];
        for (int i = 0; i < a.length; i++) a[i] = element.getAsInt();
        return a;
    }

    public long[] longArray(int min, int max, LongSupplier element) {
        long[] a = new long[size(min, max)];
        for (int i = 0; i < a.length; i++) a[i] = element.getAsLong();
        return a;
    }

    public double[] doubleArray(int min, int max, DoubleSupplier element) {
        double[] a = new double[size(min, max)];
        for (int i = 0; i < a.length; i++) a[i] = element.getAsDouble();
        return a;
    }

    public float[] floatArray(int min, int max, DoubleSupplier element) {
        float[] a = new float[size(min, max)];
        for (int i = 0; i < a.length; i++) a[i] = (float) element.getAsDouble();
        return a;
    }

    /** An array of {@code element}s of length in {@code [min, max]} ({@code int[][]}: {@code array(int[][]::new, ...)}). */
    public <T> T[] array(IntFunction<T[]> make, int min, int max, Supplier<T> element) {
        T[] a = make.apply(size(min, max));
        for (int i = 0; i < a.length; i++) a[i] = element.get();
        return a;
    }

    /** A string of up to {@code maxLength} chars from {@code [lo, hi]} (any char: lone surrogates and controls too). */
    public String string(int maxLength, char lo, char hi) {
        char[] c = new char[size(0, maxLength)];
        for (int i = 0; i < c.length; i++) c[i] = (char) between((int) lo, (int) hi);
        return new String(c);
    }

    // ---- the domain: dims, shapes, indices, dtypes ------------------------------------------

    /** Huge dims: past int, and products that overflow long. */
    public static final long[] HUGE = {1L << 31, Integer.MAX_VALUE + 1L, 1L << 40, 1L << 62, Long.MAX_VALUE};

    /** Bytes above which a shape is only allocated when it cannot succeed (≥ {@link #HOPELESS_BYTES}). */
    public static final long SAFE_BYTES = 64L << 20;

    /** No host has this much memory: allocating it must be refused, not attempted in earnest. */
    public static final long HOPELESS_BYTES = 1L << 46;

    /** A dimension: mostly {@code [1, max]}, sometimes 0, a negative value or a huge one. */
    public long dim(int max) {
        return switch (weighted(12, 2, 1, 1)) {
            case 0 -> between(1L, max);
            case 1 -> 0L;
            case 2 -> pickLong(-1L, -2L, Long.MIN_VALUE, Integer.MIN_VALUE);
            default -> pickLong(HUGE);
        };
    }

    /** A shape of rank {@code [minRank, maxRank]} made of {@link #dim} values. */
    public long[] shape(int minRank, int maxRank, int maxDim) {
        return longArray(minRank, maxRank, () -> dim(maxDim));
    }

    /** An index into {@code [0, bound)}: mostly valid, sometimes −1, {@code bound}, or an extreme int. */
    public int index(int bound) {
        if (weighted(12, 1) == 0) return between(0, Math.max(0, bound - 1));
        return pickInt(-1, bound, bound + 1, Integer.MIN_VALUE, Integer.MAX_VALUE);
    }

    /** Any dtype. */
    public DType dtype() {
        return pick(DType.class);
    }

    /** A floating dtype. */
    public DType floating() {
        return pick(DType.F32, DType.F16, DType.BF16);
    }

    // ---- static helpers --------------------------------------------------------------------

    /** Product of the dims, or −1 when a dim is negative or the product overflows a byte count of {@code dtype}. */
    public static long bytesOrMinus1(DType dtype, long... shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) return -1;
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        try {
            return Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    /** Whether allocating this shape is safe to try here: small, or certain to be refused. */
    public static boolean safeToAllocate(DType dtype, long... shape) {
        long b = bytesOrMinus1(dtype, shape);
        return b < SAFE_BYTES || b >= HOPELESS_BYTES;
    }

    /** {@code n} values in about [−scale, scale] from {@code seed}. */
    public static float[] floats(long seed, int n, double scale) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }

    /** An F32 tensor of seeded values in [−1, 1] (shape must be small). */
    public static Tensor tensor(Device dev, long seed, long... shape) {
        return tensor(dev, DType.F32, seed, shape);
    }

    /** A tensor of {@code dtype} with seeded values in [−1, 1] (shape must be small). */
    public static Tensor tensor(Device dev, DType dtype, long seed, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return dev.upload(dtype, floats(seed, (int) n, 1), shape);
    }
}
