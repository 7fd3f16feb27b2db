package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Tensor;

/**
 * A linear layer's weight {@code [N, K]} prepared once for many products {@link #linear
 * y = x · Wᵀ + b}, as a model's weights are.
 *
 * <p>On the CPU an fp32 weight is copied into the micro-kernels' panel layout (on the Java heap,
 * the weight's size again), so each product reads it in place instead of packing it per call or
 * streaming it row by row: a short sentence's products (15 rows) no longer pay for the weight's
 * layout. The result equals {@code Gemm.linear(x, weight, bias)} on the blocked path bit for bit
 * (that path takes more than {@code 8 × lanes} rows, 128 with AVX-512; fewer rows there take
 * streaming kernels whose sums are ordered differently, within fp32 rounding of these). On CUDA, and for 16-bit weights,
 * nothing is copied: {@link #linear} is {@code Gemm.linear(x, weight(), bias)}.
 *
 * <p>The CPU copy is a snapshot: writes to the weight after {@link #of} are not seen by it (make a
 * new {@code LinearWeight} after changing a weight). The weight stays owned by the caller and must
 * stay open while this is used; this object holds no native memory and needs no closing.
 */
public final class LinearWeight {
    private final Tensor weight;
    private final int n, k;
    /** The CPU panels, or null: use {@link #weight} as it is. */
    private final float[] packed;

    private LinearWeight(Tensor weight, int n, int k, float[] packed) {
        this.weight = weight;
        this.n = n;
        this.k = k;
        this.packed = packed;
    }

    /**
     * Prepares {@code weight [N, K]} (F32, F16 or BF16, on any device).
     *
     * @throws IllegalArgumentException when the weight is null, closed, not floating point, not of
     *     rank 2, or (on the CPU) too large for one Java array
     */
    public static LinearWeight of(Tensor weight) {
        if (weight == null) throw new IllegalArgumentException("LinearWeight.of: weight is null");
        if (weight.isClosed()) throw new IllegalArgumentException("LinearWeight.of: weight " + weight.describe() + " is closed");
        if (!weight.dtype().isFloating()) {
            throw new IllegalArgumentException("LinearWeight.of: weight " + weight.describe() + " has dtype " + weight.dtype()
                    + "; expected F32, F16 or BF16");
        }
        if (weight.rank() != 2) {
            throw new IllegalArgumentException("LinearWeight.of: weight " + weight.describe() + " has rank " + weight.rank()
                    + "; expected [N, K]");
        }
        long n = weight.dim(0), k = weight.dim(1);
        if (n > Integer.MAX_VALUE || k > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("LinearWeight.of: weight " + weight.describe() + " has a dim over " + Integer.MAX_VALUE);
        }
        float[] packed = null;
        if (weight.device().isCpu() && weight.dtype() == DType.F32) {
            long panels = (n + VectorGemm.NR - 1) / VectorGemm.NR, size = panels * VectorGemm.NR * k;
            if (size > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("LinearWeight.of: weight " + weight.describe() + " is too large to pack into one array ("
                        + size + " floats)");
            }
            packed = VectorGemm.packWeight(weight, (int) n, (int) k);
        }
        return new LinearWeight(weight, (int) n, (int) k, packed);
    }

    /**
     * {@code y = x · Wᵀ + b}: the contract, dtypes and checks of {@link Gemm#linear(Tensor, Tensor,
     * Tensor)} with this weight; on the CPU an fp32 product reads the packed copy.
     *
     * @throws IllegalArgumentException naming the argument and dim when the operands do not fit, or
     *     when the weight has been closed
     */
    public Tensor linear(Tensor x, Tensor bias) {
        return Gemm.linearPrepared(x, this, bias);
    }

    /** The weight this was prepared from (owned by the caller). */
    public Tensor weight() {
        return weight;
    }

    /** True when products read a packed CPU copy rather than the weight itself. */
    public boolean isPacked() {
        return packed != null;
    }

    int n() {
        return n;
    }

    int k() {
        return k;
    }

    float[] packed() {
        return packed;
    }

    @Override
    public String toString() {
        return "LinearWeight[" + weight.describe() + (packed != null ? ", packed" : "") + "]";
    }
}
