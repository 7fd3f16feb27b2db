// rms_norm.cu — RMSNorm over the last axis (Llama, Mamba).
//
//   surpass_layers_rms_norm_<dt>(x, w, out, rows, cols, eps)
//   out[r, c] = x[r, c] / √(mean_c(x[r, c]²) + eps) · w[c]
// Shapes: x, out [rows, cols] contiguous (out may alias x); w [cols] or null (scale 1). cols ≥ 1.
// dt ∈ {f32, f16, bf16} for x, w and out; fp32 math (x·r is computed in fp32 and multiplied by w
// before the single rounding to dt), stores rounded to nearest even.
// Launch: grid.x blocks looping over rows (r = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x in [1, 1024] works). Two passes per row: Σx² (a sum of non-negative terms, no
// cancellation), then the write.
#include "common/reduce.cuh"
#include "common/row.cuh"

namespace surpass::rms_norm {

template <typename T>
__device__ __forceinline__ void rows_rms_norm(const T* x, const T* w, T* out, long long rows, int cols, float eps) {
    const float inv_n = 1.0f / static_cast<float>(cols);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = out + r * cols;
        float ss = 0.0f;
        row_visit(xr, cols, [&](int, float v) { ss = fmaf(v, v, ss); });
        const float rinv = 1.0f / sqrtf(block_sum(ss) * inv_n + eps);
        if (w != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return v * rinv * load(w + c); });
        } else {
            row_map(xr, yr, cols, [&](int, float v) { return v * rinv; });
        }
    }
}

}  // namespace surpass::rms_norm

#define SURPASS_RMS_NORM(DT, T)                                                                        \
    extern "C" __global__ void surpass_layers_rms_norm_##DT(const T* x, const T* w, T* out, long long rows, \
                                                            int cols, float eps) {                      \
        surpass::rms_norm::rows_rms_norm(x, w, out, rows, cols, eps);                                  \
    }

SURPASS_RMS_NORM(f32, float)
SURPASS_RMS_NORM(f16, __half)
SURPASS_RMS_NORM(bf16, __nv_bfloat16)
