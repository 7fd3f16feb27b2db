// layer_norm.cu — LayerNorm over the last axis (biased variance, like torch.nn.LayerNorm).
//
//   surpass_layers_layer_norm_<dt>(x, w, b, out, rows, cols, eps)
//   out[r, c] = (x[r, c] - μ_r) / √(σ²_r + eps) · w[c] + b[c]
// Shapes: x, out [rows, cols] contiguous (out may alias x); w, b [cols] or null (null w: scale 1,
// null b: shift 0). cols ≥ 1. dt ∈ {f32, f16, bf16} for x, w, b and out alike; fp32 math, stores
// rounded to nearest even.
// Launch: grid.x blocks looping over rows (r = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x in [1, 1024] works).
// Statistics as the CPU twin takes them: shifted by x0, the row's first element. Pass 1 sums
// d = x - x0, so dm = Σd/n and μ = x0 + dm; pass 2 sums (d - dm)² (no E[x²] - E[x]² cancellation);
// pass 3 writes ((x - x0) - dm)·rstd. x - x0 is exact for values near x0, so a large common offset
// (activations of 1000 ± 1) survives neither as a rounded mean nor as a rounded difference x - μ —
// subtracting an fp32-rounded μ from x costs ~ulp(1000) ≈ 6e-5 relative to σ = 1. Each row is read
// three times (L1/L2 hits for usual widths).
#include "common/reduce.cuh"
#include "common/row.cuh"

namespace surpass::layer_norm {

template <typename T>
__device__ __forceinline__ void rows_layer_norm(const T* x, const T* w, const T* b, T* out, long long rows, int cols,
                                                float eps) {
    const float inv_n = 1.0f / static_cast<float>(cols);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = out + r * cols;

        const float x0 = load(xr);  // every thread reads the same element: one broadcast load
        float s = 0.0f;
        row_visit(xr, cols, [&](int, float v) { s += v - x0; });
        const float dm = block_sum(s) * inv_n;

        float s2 = 0.0f;
        row_visit(xr, cols, [&](int, float v) {
            const float d = (v - x0) - dm;
            s2 = fmaf(d, d, s2);
        });
        const float var = block_sum(s2) * inv_n;
        const float rstd = 1.0f / sqrtf(var + eps);

        if (w != nullptr && b != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return fmaf(((v - x0) - dm) * rstd, load(w + c), load(b + c)); });
        } else if (w != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return ((v - x0) - dm) * rstd * load(w + c); });
        } else if (b != nullptr) {
            row_map(xr, yr, cols, [&](int c, float v) { return ((v - x0) - dm) * rstd + load(b + c); });
        } else {
            row_map(xr, yr, cols, [&](int, float v) { return ((v - x0) - dm) * rstd; });
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
