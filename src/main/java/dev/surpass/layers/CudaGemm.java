package dev.surpass.layers;

import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.CudaBlas;

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
        if (batch == 0 || m == 0 || n == 0) return;
        CudaBackend be = CudaBackend.of(out);
        long rows = batch * m; // out is contiguous [batch·m, n]
        float beta = 0f;
        if (bias != null) {
            // Write the bias into every output row first, then accumulate the product on top of it
            // (beta = 1): cuBLAS adds in fp32 and rounds once, and no kernel module is needed.
            CudaBlas.broadcastRows(be, bias.dtype(), bias.devicePointer(), out.dtype(), out.devicePointer(), rows, n);
            beta = 1f;
        }
        if (k == 0) { // an empty sum: out = bias, or zeros
            if (bias == null) be.zero(out.storage(), out.byteOffset(), out.byteSize());
            return;
        }
        long sa = (long) m * k, sb = bBatched ? (long) k * n : 0, sc = (long) m * n;
        if (!bBatched && batch > 1 && rows <= Integer.MAX_VALUE) {
            // b shared by every batch: a is one contiguous [batch·m, k] matrix, so one plain GEMM does it.
            CudaBlas.gemm(be, a.dtype(), out.dtype(), 1, (int) rows, n, k, a.devicePointer(), 0,
                    b.devicePointer(), 0, bTransposed, out.devicePointer(), 0, 1f, beta, allowTf32);
            return;
        }
        CudaBlas.gemm(be, a.dtype(), out.dtype(), batch, m, n, k, a.devicePointer(), sa,
                b.devicePointer(), sb, bTransposed, out.devicePointer(), sc, 1f, beta, allowTf32);
    }
}
