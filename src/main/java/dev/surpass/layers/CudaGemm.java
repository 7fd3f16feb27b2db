package dev.surpass.layers;

import dev.surpass.Tensor;

/** cuBLAS GEMMs for {@link Gemm}. */
final class CudaGemm {
    private CudaGemm() {}

    /**
     * out[p] = a[p] [m,k] · (bTransposed ? b[p]ᵀ with b[p] [n,k] : b[p] [k,n]) (+ bias[n]) for
     * p in [0, batch); b is shared by all p unless bBatched. fp32 accumulation; fp32 inputs use
     * TF32 tensor cores only when allowTf32.
     */
    static void gemm(Tensor a, Tensor b, Tensor bias, Tensor out, long batch, int m, int n, int k,
                     boolean bTransposed, boolean bBatched, boolean allowTf32) {
        throw new UnsupportedOperationException("CUDA launcher not yet implemented");
    }
}
