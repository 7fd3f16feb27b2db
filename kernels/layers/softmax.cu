// softmax.cu — softmax over the last axis.
//
//   surpass_layers_softmax_<dt>(x, out, rows, cols)
//   out[r, c] = exp(x[r, c] - max_r) / Σ_c' exp(x[r, c'] - max_r)
// Shapes: x, out are [rows, cols] contiguous (out may alias x); cols ≥ 1, any size (also millions:
// threads loop over the row). dt ∈ {f32, f16, bf16}; fp32 math, stores rounded to nearest even.
// Launch: grid.x blocks (usually min(rows, 2^31-1)), blocks loop over rows r = blockIdx.x,
// blockIdx.x + gridDim.x, …; block 256 threads (any blockDim.x in [1, 1024] works).
// Two passes over each row: (1) per-thread online max + rescaled sum (exp2 domain), merged across
// the block; (2) the normalised weights. A row whose entries are all -inf has no finite maximum:
// it gives 0s, not NaN. NaN inputs give NaN rows.
#include "common/online_softmax.cuh"
#include "common/row.cuh"

namespace surpass::softmax {

template <typename T> __device__ __forceinline__ void rows_softmax(const T* x, T* out, long long rows, int cols) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = out + r * cols;
        OnlineSoftmax st = OnlineSoftmax::empty();
        row_visit(xr, cols, [&](int, float v) { st.add(v, kLog2e); });
        st = block_merge(st, kLog2e);
        const float m = st.m;
        const float inv = st.inv_sum();
        if (m == -INFINITY) {
            row_map(xr, yr, cols, [](int, float) { return 0.0f; });
        } else {
            row_map(xr, yr, cols, [&](int, float v) { return exp2f((v - m) * kLog2e) * inv; });
        }
        // The next row's block_merge begins with a barrier, so no scratch is overwritten early.
    }
}

}  // namespace surpass::softmax

#define SURPASS_SOFTMAX(DT, T)                                                                        \
    extern "C" __global__ void surpass_layers_softmax_##DT(const T* x, T* out, long long rows, int cols) { \
        surpass::softmax::rows_softmax(x, out, rows, cols);                                           \
    }

SURPASS_SOFTMAX(f32, float)
SURPASS_SOFTMAX(f16, __half)
SURPASS_SOFTMAX(bf16, __nv_bfloat16)
