// causal_conv1d.cu — Mamba's depthwise causal conv1d (width W ≤ 4) and its decode step.
//
//   surpass_mamba_causal_conv1d_<dt>(x, w, bias, init_state, out, final_state, rows, dm, L, width, silu)
//     out[r, t] = bias[d] + Σ_{k<W} w[d, k]·X[r, t + k],  X[r] = [init_state[r] (W-1 values, or zeros) | x[r]]
//     out[r, t] = silu(out[r, t]) when silu ≠ 0;   final_state[r, j] = X[r, L + j], j < W-1
//   surpass_mamba_causal_conv1d_update_<dt>(state, x, w, bias, out, rows, dm, width, silu)
//     out[r] = bias[d] + Σ_{k<W-1} w[d, k]·state[r, k] + w[d, W-1]·x[r] (then silu); state shifts left by one
//     and takes x[r] at its end, in place.
// Shapes: rows = Bt·dm, channel d = r % dm; x, out [rows, L] (update: [rows]); w [dm, W]; bias [dm] or null;
// states [rows, W-1] fp32 (init_state may be null; it must not alias final_state). 1 ≤ W ≤ 4.
// dt ∈ {f32, f16, bf16} for x, w, bias, out; fp32 arithmetic; out rounded to nearest even.
// Launch (both): 1-D grid-stride, block 256. The conv: one thread per output (r, t < L) or final-state
// slot (r, L ≤ t < L + W - 1), so rows·(L + W - 1) items; the update: one thread per row.
#include "common/dtype.cuh"

namespace surpass::causal_conv1d {

template <typename T>
__device__ __forceinline__ void conv(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                     const float* __restrict__ init, T* __restrict__ out, float* __restrict__ fin,
                                     long long rows, int dm, int L, int width, int silu) {
    if (dm < 1 || width < 1 || width > 4) return;
    const int p = width - 1;
    const long long span = static_cast<long long>(L) + p;
    const long long total = rows * span;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
        const long long r = i / span;
        const int t = static_cast<int>(i - r * span);
        const T* xr = x + r * L;
        // Position j of [state | x].
        auto at = [&](int j) -> float { return j < p ? (init ? init[r * p + j] : 0.0f) : to_float(xr[j - p]); };
        if (t < L) {
            const int d = static_cast<int>(r % dm);
            float acc = bias ? to_float(bias[d]) : 0.0f;
            for (int k = 0; k < width; ++k) acc = fmaf(to_float(w[static_cast<long long>(d) * width + k]), at(t + k), acc);
            if (silu) acc = acc / (1.0f + expf(-acc));
            out[r * L + t] = from_float<T>(acc);
        } else {
            const int j = t - L;
            fin[r * p + j] = at(L + j);
        }
    }
}

template <typename T>
__device__ __forceinline__ void update(float* __restrict__ state, const T* __restrict__ x, const T* __restrict__ w,
                                       const T* __restrict__ bias, T* __restrict__ out, long long rows, int dm,
                                       int width, int silu) {
    if (dm < 1 || width < 1 || width > 4) return;
    const int p = width - 1;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long r = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
        const int d = static_cast<int>(r % dm);
        const T* wd = w + static_cast<long long>(d) * width;
        float* s = state + r * p;
        const float xv = to_float(x[r]);
        float acc = bias ? to_float(bias[d]) : 0.0f;
        for (int k = 0; k < p; ++k) acc = fmaf(to_float(wd[k]), s[k], acc);
        acc = fmaf(to_float(wd[p]), xv, acc);
        for (int k = 0; k + 1 < p; ++k) s[k] = s[k + 1];
        if (p > 0) s[p - 1] = xv;
        if (silu) acc = acc / (1.0f + expf(-acc));
        out[r] = from_float<T>(acc);
    }
}

}  // namespace surpass::causal_conv1d

#define SURPASS_CAUSAL_CONV1D(DT, T)                                                                             \
    extern "C" __global__ void surpass_mamba_causal_conv1d_##DT(const T* x, const T* w, const T* bias,            \
                                                                const float* init_state, T* out,                 \
                                                                float* final_state, long long rows, int dm,      \
                                                                int L, int width, int silu) {                    \
        surpass::causal_conv1d::conv(x, w, bias, init_state, out, final_state, rows, dm, L, width, silu);        \
    }                                                                                                            \
    extern "C" __global__ void surpass_mamba_causal_conv1d_update_##DT(float* state, const T* x, const T* w,      \
                                                                       const T* bias, T* out, long long rows,    \
                                                                       int dm, int width, int silu) {            \
        surpass::causal_conv1d::update(state, x, w, bias, out, rows, dm, width, silu);                           \
    }

SURPASS_CAUSAL_CONV1D(f32, float)
SURPASS_CAUSAL_CONV1D(f16, __half)
SURPASS_CAUSAL_CONV1D(bf16, __nv_bfloat16)
