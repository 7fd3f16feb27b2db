package dev.surpass.attention;

import dev.surpass.Tensor;
import java.util.List;

/**
 * The CUDA launchers of {@link Attention} (kernels under {@code kernels/attention/}). The seam is in
 * place: {@link Attention} validates, allocates the outputs and calls these with shapes it has
 * checked; the kernels are not built yet, so each launcher throws
 * {@link UnsupportedOperationException}.
 */
final class CudaAttention {
    private CudaAttention() {}

    static final String NOT_BUILT = "CUDA attention kernels are not built yet";

    /** Kernel entry points this class launches (checked against the fatbin by the ABI test). */
    static List<String> kernelNames() {
        return List.of();
    }

    /** Dense prefill: out [B,Nq,Hq,D], lse [B,Hq,Nq] fp32 or null. */
    static void prefill(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, AttentionOptions opts) {
        throw new UnsupportedOperationException(NOT_BUILT);
    }

    /** Varlen prefill: out [totalQ,Hq,D], lse [Hq,totalQ] fp32 or null; offsets already validated. */
    static void prefillVarlen(Tensor q, Tensor k, Tensor v, int[] cuSeqlensQ, int[] cuSeqlensK, int maxSeqlenQ,
                              int maxSeqlenK, Tensor out, Tensor lse, AttentionOptions opts) {
        throw new UnsupportedOperationException(NOT_BUILT);
    }

    /** Paged decode: out [B,Hq,D], lse [B,Hq] fp32 or null; page tables and lengths from the cache. */
    static void decode(Tensor q, PagedKvCache cache, int[] seqIds, Tensor out, Tensor lse, AttentionOptions opts) {
        throw new UnsupportedOperationException(NOT_BUILT);
    }

    /** Attention maps: out [B, heads, rows, Nk] fp32. */
    static void probabilities(Tensor q, Tensor k, Tensor lse, int[] heads, int[] rows, Tensor out, AttentionOptions opts) {
        throw new UnsupportedOperationException(NOT_BUILT);
    }
}
