// row_norm.cuh — LayerNorm statistics of one row, taken by a whole thread block.
//
// row_norm_stats(row, cols, eps) returns {x0, dm, rstd} with which norm(v) = ((v - x0) - dm)·rstd is
// (v - μ)/√(σ² + eps), biased variance. The statistics are shifted by x0, the row's first element
// (the CPU twin, VectorLayerNorm, does the same): pass 1 sums d = v - x0, so dm = Σd/n and
// μ = x0 + dm; pass 2 sums (d - dm)² (no E[x²] - E[x]² cancellation). v - x0 is exact for values
// near x0, so a large common offset (activations of 1000 ± 1) survives neither as a rounded mean
// nor as a rounded difference v - μ (subtracting an fp32-rounded μ costs ~ulp(1000) ≈ 6e-5 relative
// to σ = 1). Two reads of the row; every thread of the block must call it (block_sum has barriers)
// and gets the same result. The caller's pass 3 reads the row a third time (L1/L2 hits for usual
// widths) to write it.
#pragma once

#include "reduce.cuh"
#include "row.cuh"

namespace surpass {

struct RowNorm {
    float x0, dm, rstd;
    __device__ __forceinline__ float norm(float v) const { return ((v - x0) - dm) * rstd; }
};

template <typename T> __device__ __forceinline__ RowNorm row_norm_stats(const T* row, int cols, float eps) {
    const float inv_n = 1.0f / static_cast<float>(cols);
    const float x0 = load(row);  // every thread reads the same element: one broadcast load
    float s = 0.0f;
    row_visit(row, cols, [&](int, float v) { s += v - x0; });
    const float dm = block_sum(s) * inv_n;
    float s2 = 0.0f;
    row_visit(row, cols, [&](int, float v) {
        const float d = (v - x0) - dm;
        s2 = fmaf(d, d, s2);
    });
    const float var = block_sum(s2) * inv_n;
    return RowNorm{x0, dm, 1.0f / sqrtf(var + eps)};
}

}  // namespace surpass
