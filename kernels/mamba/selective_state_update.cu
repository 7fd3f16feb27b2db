// selective_state_update.cu — one decode step of the Mamba-1 scan, in place on the state
// (mamba_ssm selective_state_update), fused into one pass.
//
//   surpass_mamba_selective_state_update_<dt>(state, x, dt, A, B, C, D, z, dt_bias, out, bt, dm, n, groups, softplus)
// Per row r = (b, d), g = d / (dm / groups):
//   Δ = dt[r] + dt_bias[d];  Δ = Δ ≤ 20 ? log1p(exp(Δ)) : Δ   (softplus ≠ 0)
//   state[r, k] = exp2(Δ·A[d,k]·log2 e)·state[r, k] + Δ·B[b,g,k]·x[r]
//   out[r] = Σ_k state[r, k]·C[b,g,k] + D[d]·x[r];  out[r] *= silu(z[r])   (z ≠ null)
// Shapes: state [bt, dm, n] fp32; x, dt, z, out [bt, dm]; B, C [bt, groups, n]; A [dm, n], D, dt_bias [dm] fp32
// (D, z, dt_bias may be null). dt ∈ {f32, f16, bf16}; fp32 arithmetic; out rounded to nearest even.
// Launch: block 128 threads = 4 warps, one row per warp (lanes over k, then a shuffle sum);
// grid.x = ceil(bt·dm / 4).
#include "common/dtype.cuh"

namespace surpass::selective_state_update {

constexpr int kThreads = 128;
constexpr int kRowsPerBlock = kThreads / 32;
constexpr float kLog2e = 1.4426950408889634f;

template <typename T>
__device__ __forceinline__ void step(float* __restrict__ state, const T* __restrict__ x, const T* __restrict__ dt,
                                     const float* __restrict__ A, const T* __restrict__ B, const T* __restrict__ C,
                                     const float* __restrict__ D, const T* __restrict__ z,
                                     const float* __restrict__ dt_bias, T* __restrict__ out, int bt, int dm, int n,
                                     int groups, int softplus) {
    if (dm < 1 || groups < 1) return;
    const long long rows = static_cast<long long>(bt) * dm;
    const long long r = static_cast<long long>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
    if (r >= rows) return;  // uniform across the warp: the shuffles below see full warps
    const int lane = threadIdx.x & 31;
    const int b = static_cast<int>(r / dm), d = static_cast<int>(r % dm), g = d / (dm / groups);
    float delta = to_float(dt[r]) + (dt_bias ? dt_bias[d] : 0.0f);
    if (softplus && delta <= 20.0f) delta = log1pf(expf(delta));
    const float xv = to_float(x[r]);
    const float du = delta * xv;
    const long long bc = (static_cast<long long>(b) * groups + g) * n;
    const float* a_row = A + static_cast<long long>(d) * n;
    float* h = state + r * n;
    float acc = 0.0f;
    for (int k = lane; k < n; k += 32) {
        const float hv = fmaf(exp2f(delta * (a_row[k] * kLog2e)), h[k], du * to_float(B[bc + k]));
        h[k] = hv;
        acc = fmaf(hv, to_float(C[bc + k]), acc);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) {
        float v = fmaf(D ? D[d] : 0.0f, xv, acc);
        if (z) {
            const float zv = to_float(z[r]);
            v *= zv / (1.0f + expf(-zv));
        }
        out[r] = from_float<T>(v);
    }
}

}  // namespace surpass::selective_state_update

#define SURPASS_SELECTIVE_STATE_UPDATE(DT, T)                                                                    \
    extern "C" __global__ void __launch_bounds__(surpass::selective_state_update::kThreads)                     \
        surpass_mamba_selective_state_update_##DT(float* state, const T* x, const T* dt, const float* A,          \
                                                  const T* B, const T* C, const float* D, const T* z,            \
                                                  const float* dt_bias, T* out, int bt, int dm, int n,           \
                                                  int groups, int softplus) {                                    \
        surpass::selective_state_update::step(state, x, dt, A, B, C, D, z, dt_bias, out, bt, dm, n, groups,      \
                                              softplus);                                                         \
    }

SURPASS_SELECTIVE_STATE_UPDATE(f32, float)
SURPASS_SELECTIVE_STATE_UPDATE(f16, __half)
SURPASS_SELECTIVE_STATE_UPDATE(bf16, __nv_bfloat16)
