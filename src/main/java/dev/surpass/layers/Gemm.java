package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * Matrix products with fp32 accumulation: CPU blocked Vector API kernel, cuBLAS on CUDA.
 */
public final class Gemm {
    private Gemm() {}

    /**
     * {@code a [..., M, K] · b [K, N]} (b shared by every batch) or {@code b [..., K, N]} with the
     * same leading dims as {@code a} → {@code [..., M, N]}.
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("TODO");
    }

    /** {@code y = x · Wᵀ + b}: {@code x [..., K]}, {@code weight [N, K]}, {@code bias [N]} or null → {@code [..., N]}. */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        throw new UnsupportedOperationException("TODO");
    }
}
