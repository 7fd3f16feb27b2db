// layer_norm.cu — LayerNorm over the last axis (biased variance, like torch.nn.LayerNorm).
//
//   surpass_layers_layer_norm_<dt>(x, w, b, out, rows, cols, eps)
//   out[r, c] = (x[r, c] - μ_r) / √(σ²_r + eps) · w[c] + b[c]
// Shapes: x, out [rows, cols] contiguous (out may alias x); w, b [cols] or null (null w: scale 1,
// null b: shift 0). cols ≥ 1. dt ∈ {f32, f16, bf16} for x, w, b and out alike; fp32 math, stores
// rounded to nearest even.
// Launch: grid.x blocks looping over rows (r = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x in [1, 1024] works).
// Statistics: row_norm_stats (common/row_norm.cuh), shifted by the row's first element like the
// CPU twin, two passes; pass 3 writes.
#include "common/row_norm.cuh"

namespace surpass::layer_norm {

template <typename T>
__device__ __forceinline__ void rows_layer_norm(const T* x, const T* w, const T* b, T* out, long long rows, int cols,
                                                float eps) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = out + r * cols;

        const RowNorm st = row_norm_stats(xr, cols, eps);

        if (w != nullptr && b != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return fmaf(st.norm(v), load(w + c), load(b + c)); });
        } else if (w != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return st.norm(v) * load(w + c); });
        } else if (b != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return st.norm(v) + load(b + c); });
        } else {
            row_map(xr, yr, cols, [&](int, float v) { return st.norm(v); });
        }
        // The next row's first block_sum begins with a barrier: its scratch is not overwritten early.
    }
}

}  // namespace surpass::layer_norm

#define SURPASS_LAYER_NORM(DT, T)                                                                        \
    extern "C" __global__ void surpass_layers_layer_norm_##DT(const T* x, const T* w, const T* b, T* out,  \
                                                              long long rows, int cols, float eps) {      \
        surpass::layer_norm::rows_layer_norm(x, w, b, out, rows, cols, eps);                             \
    }

SURPASS_LAYER_NORM(f32, float)
SURPASS_LAYER_NORM(f16, __half)
SURPASS_LAYER_NORM(bf16, __nv_bfloat16)
