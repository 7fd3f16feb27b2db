// scatter.cu — rows written to places picked by device-resident indices (the KV-cache append).
//
//   surpass_layers_scatter_<dt>(src, ids, dst, n, cols, dstRows)
//   dst[ids[i], c] = src[i, c]        for 0 ≤ ids[i] < dstRows; other ids write nothing
// Shapes: src [n, cols], ids [n] int32, dst [dstRows, cols], all contiguous; cols ≥ 1. Duplicate
// ids race (the caller's ids are distinct slots). dt ∈ {f32, f16, bf16} (a plain copy).
// Why a kernel: appending one token per sequence to a paged cache is one row per sequence to a
// different page each; a copy call per row costs a driver call each, one launch covers the batch.
// Launch: grid.x blocks looping over rows (i = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x in [1, 1024] works).
#include "common/row.cuh"

namespace surpass::scatter {

template <typename T>
__device__ __forceinline__ void scatter_rows(const T* src, const int* ids, T* dst, long long n, long long cols,
                                             long long dst_rows) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        const long long id = ids[i];
        if (id < 0 || id >= dst_rows) continue;
        row_map(src + i * cols, dst + id * cols, static_cast<int>(cols), [](int, float v) { return v; });
    }
}

}  // namespace surpass::scatter

#define SURPASS_SCATTER(DT, T)                                                                                  \
    extern "C" __global__ void surpass_layers_scatter_##DT(const T* src, const int* ids, T* dst, long long n,    \
                                                           long long cols, long long dst_rows) {                \
        surpass::scatter::scatter_rows(src, ids, dst, n, cols, dst_rows);                                       \
    }

SURPASS_SCATTER(f32, float)
SURPASS_SCATTER(f16, __half)
SURPASS_SCATTER(bf16, __nv_bfloat16)
