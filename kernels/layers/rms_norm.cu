// rms_norm.cu — RMSNorm over the last axis (Llama, Mamba).
//
//   surpass_layers_rms_norm_<dt>(x, w, out, rows, cols, eps)
//   out[r, c] = x[r, c] / √(mean_c(x[r, c]²) + eps) · w[c]
//   surpass_layers_add_rms_norm_<dt>(x, res, w, sum, out, rows, cols, eps)
//   sum = x + res (rounded to dt), out = rms_norm(sum) · w: the pre-norm residual stream of Llama
//   and Mamba blocks in one pass instead of an add and a norm (a decode step is launch-bound).
//   sum must not alias x or res; out must not alias anything.
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

// One thread walks the same columns in both passes, so the second pass reads its own writes to
// `sum` (no barrier needed beyond block_sum's).
template <typename T>
__device__ __forceinline__ void rows_add_rms_norm(const T* x, const T* res, const T* w, T* sum, T* out, long long rows,
                                                  int cols, float eps) {
    const float inv_n = 1.0f / static_cast<float>(cols);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long base = r * cols;
        float ss = 0.0f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float v = to_float(from_float<T>(load(x + base + c) + load(res + base + c)));  // the stored sum
            store(sum + base + c, v);
            ss = fmaf(v, v, ss);
        }
        const float rinv = 1.0f / sqrtf(block_sum(ss) * inv_n + eps);
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float v = load(sum + base + c) * rinv;
            store(out + base + c, w != nullptr ? v * load(w + c) : v);
        }
    }
}

}  // namespace surpass::rms_norm

#define SURPASS_RMS_NORM(DT, T)                                                                        \
    extern "C" __global__ void surpass_layers_rms_norm_##DT(const T* x, const T* w, T* out, long long rows, \
                                                            int cols, float eps) {                      \
        surpass::rms_norm::rows_rms_norm(x, w, out, rows, cols, eps);                                  \
    }

#define SURPASS_ADD_RMS_NORM(DT, T)                                                                        \
    extern "C" __global__ void surpass_layers_add_rms_norm_##DT(const T* x, const T* res, const T* w, T* sum, T* out, \
                                                                long long rows, int cols, float eps) {             \
        surpass::rms_norm::rows_add_rms_norm(x, res, w, sum, out, rows, cols, eps);                                \
    }

SURPASS_ADD_RMS_NORM(f32, float)
SURPASS_ADD_RMS_NORM(f16, __half)
SURPASS_ADD_RMS_NORM(bf16, __nv_bfloat16)

SURPASS_RMS_NORM(f32, float)
SURPASS_RMS_NORM(f16, __half)
SURPASS_RMS_NORM(bf16, __nv_bfloat16)
