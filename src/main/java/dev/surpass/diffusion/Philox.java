package dev.surpass.diffusion;

/**
 * Philox4x32-10 (Salmon et al., SC'11; Random123), bit-identical to {@code kernels/common/philox.cuh}:
 * a counter-based generator that maps a 128-bit counter and a 64-bit key to four 32-bit words, so
 * any element's random numbers can be computed on its own, on the CPU or on any GPU, in any order.
 *
 * <h2>The noise mapping (the contract the CUDA kernels share)</h2>
 * For a noise tensor of {@code n} elements drawn at {@code (seed, stream)}, element {@code i}
 * (flat, row-major index) is
 * <pre>
 *   key     = { (int) seed, (int) (seed >>> 32) }                         // k.x, k.y
 *   counter = { (int) (i/4), (int) ((i/4) >>> 32), (int) stream, (int) (stream >>> 32) }
 *   w       = philox4x32_10(counter, key)                                 // w0..w3 = x, y, z, w
 *   normals = { r0·cos θ0, r0·sin θ0, r1·cos θ1, r1·sin θ1 }              // element i takes normals[i % 4]
 *   r0 = sqrtf(-2·logf(u⁺(w0))), θ0 = 2π_f·u(w1), r1 = sqrtf(-2·logf(u⁺(w2))), θ1 = 2π_f·u(w3)
 *   u(w)  = (w >>> 8) · 2⁻²⁴   ∈ [0, 1)      u⁺(w) = ((w >>> 8) + 1) · 2⁻²⁴ ∈ (0, 1]
 * </pre>
 * with every operation in fp32 and {@code 2π_f = (float) 6.283185307179586}. The samplers use
 * {@code stream} = the step's noise stream (see {@link StepOptions}).
 *
 * <p>Cross-device agreement: the words and the uniforms are bit-identical on every device. The
 * normals use {@code logf}, {@code cosf}, {@code sinf}: here they are computed in double by
 * {@link Math} and rounded to float (correctly rounded in practice); CUDA's {@code logf} is within 1
 * ulp and {@code sinf}/{@code cosf} within 2 ulp (CUDA C Programming Guide, no fast-math), and
 * {@code sqrtf} is IEEE on both. So CPU and GPU normals agree to a few fp32 ulps (about 3e-7
 * relative), not bit for bit; the test {@code PhiloxTest} states the bound it checks.
 *
 * <p>Thread rules: stateless; every method may be called from any thread.
 */
public final class Philox {
    private Philox() {}

    static final int M0 = 0xD2511F53;
    static final int M1 = 0xCD9E8D57;
    static final int W0 = 0x9E3779B9;
    static final int W1 = 0xBB67AE85;
    /** 2π rounded to fp32, as {@code philox_normal4} uses it. */
    static final float TWO_PI = (float) 6.283185307179586;
    /** 2⁻²⁴. */
    static final float INV_2_24 = 5.9604644775390625e-8f;

    private static int mulhi(int a, int b) {
        return (int) ((Integer.toUnsignedLong(a) * Integer.toUnsignedLong(b)) >>> 32);
    }

    /**
     * Philox4x32-10 of counter {@code (c0, c1, c2, c3)} and key {@code (k0, k1)}: the four output
     * words are written to {@code out[0..3]} (x, y, z, w of the CUDA {@code uint4}).
     */
    public static void block(int c0, int c1, int c2, int c3, int k0, int k1, int[] out) {
        for (int r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += W0;
                k1 += W1;
            }
            int hi0 = mulhi(M0, c0), lo0 = M0 * c0;
            int hi1 = mulhi(M1, c2), lo1 = M1 * c2;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        out[0] = c0;
        out[1] = c1;
        out[2] = c2;
        out[3] = c3;
    }

    /** The four words for {@code offset} (counter words 0-1) and {@code stream} (words 2-3) under {@code seed}. */
    public static void words(long seed, long stream, long offset, int[] out) {
        block((int) offset, (int) (offset >>> 32), (int) stream, (int) (stream >>> 32), (int) seed, (int) (seed >>> 32), out);
    }

    /** Top 24 bits → [0, 1) on the 2⁻²⁴ grid (exact). */
    public static float uniform(int w) {
        return (float) (w >>> 8) * INV_2_24;
    }

    /** Top 24 bits → (0, 1] on the 2⁻²⁴ grid (exact; safe to take the log of). */
    public static float uniformPos(int w) {
        return (float) ((w >>> 8) + 1) * INV_2_24;
    }

    /** Four standard normals from one block of words, the formula of {@code philox_normal4}. */
    public static void normal4(int[] w, float[] out, int off) {
        float r0 = (float) Math.sqrt(-2.0f * (float) Math.log(uniformPos(w[0])));
        float r1 = (float) Math.sqrt(-2.0f * (float) Math.log(uniformPos(w[2])));
        float t0 = TWO_PI * uniform(w[1]);
        float t1 = TWO_PI * uniform(w[3]);
        out[off] = r0 * (float) Math.cos(t0);
        out[off + 1] = r0 * (float) Math.sin(t0);
        out[off + 2] = r1 * (float) Math.cos(t1);
        out[off + 3] = r1 * (float) Math.sin(t1);
    }

    /** The standard normal of element {@code index} at {@code (seed, stream)} (see the class comment). */
    public static float normal(long seed, long stream, long index) {
        if (index < 0) throw new IllegalArgumentException("index must be >= 0, got " + index);
        int[] w = new int[4];
        float[] z = new float[4];
        words(seed, stream, index >>> 2, w);
        normal4(w, z, 0);
        return z[(int) (index & 3)];
    }

    /**
     * Fills {@code dst[dstOff .. dstOff+n)} with the normals of elements {@code first .. first+n)}
     * at {@code (seed, stream)}: one Philox block per 4 elements.
     */
    public static void normals(long seed, long stream, long first, float[] dst, int dstOff, int n) {
        if (first < 0 || n < 0) throw new IllegalArgumentException("first and n must be >= 0, got " + first + ", " + n);
        int[] w = new int[4];
        float[] z = new float[4];
        long i = first;
        long end = first + n;
        long cachedOffset = -1;
        while (i < end) {
            long off = i >>> 2;
            if (off != cachedOffset) {
                words(seed, stream, off, w);
                normal4(w, z, 0);
                cachedOffset = off;
            }
            dst[dstOff + (int) (i - first)] = z[(int) (i & 3)];
            i++;
        }
    }

    /** The uniform in [0, 1) of element {@code index} at {@code (seed, stream)}: word {@code index % 4} of block {@code index / 4}. */
    public static float uniform(long seed, long stream, long index) {
        if (index < 0) throw new IllegalArgumentException("index must be >= 0, got " + index);
        int[] w = new int[4];
        words(seed, stream, index >>> 2, w);
        return uniform(w[(int) (index & 3)]);
    }
}
