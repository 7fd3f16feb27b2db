// argmax.cu — index of each row's largest entry (greedy decoding on the device).
//
//   surpass_layers_argmax_<dt>(x, out, rows, cols, ld)
//   out[r] = the smallest c < cols with x[r, c] = max over the row's non-NaN entries c < cols
// Matches the host's sequential rule (best = 0; best = c whenever x[c] > x[best]): NaN entries are
// never picked, except that a row whose entry 0 is NaN gives 0 (nothing compares greater than it).
// A row of only NaN gives 0. Shapes: x [rows, ld] contiguous, 1 ≤ cols ≤ ld (a padded vocabulary's
// logits are searched over the real vocabulary only); out [rows] int32.
// dt ∈ {f32, f16, bf16}. Why on the device: at batch 64 a GPT-2 vocabulary is 12.9 MB of logits
// per step, and copying them to the host costs more than the step's kernels.
// Launch: grid.x blocks looping over rows; block 1024 threads (any multiple of 32 up to 1024 works).
#include <cmath>

#include "common/row.cuh"

namespace surpass::argmax {

// (value, index) with "a beats b": larger value, or equal value and smaller index; NaN loses.
__device__ __forceinline__ void take(float& bv, int& bi, float v, int i) {
    if (isnan(v)) return;
    if (bi < 0 || v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

template <typename T> __device__ __forceinline__ void rows_argmax(const T* x, int* out, long long rows, int cols, long long ld) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * ld;
        float bv = -INFINITY;
        int bi = -1;
        row_visit(xr, cols, [&](int c, float v) { take(bv, bi, v, c); });
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi >= 0) take(bv, bi, ov, oi);
        }
        __syncthreads();  // the previous row's readers are done with the scratch
        if (lane == 0) {
            sv[warp] = bv;
            si[warp] = bi;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            float v = -INFINITY;
            int i = -1;
            for (int w = 0; w < warps; ++w) if (si[w] >= 0) take(v, i, sv[w], si[w]);
            // Entry 0 NaN: the sequential rule never leaves index 0. All NaN: also 0.
            out[r] = (isnan(load(xr)) || i < 0) ? 0 : i;
        }
    }
}

}  // namespace surpass::argmax

#define SURPASS_ARGMAX(DT, T)                                                                                       \
    extern "C" __global__ void surpass_layers_argmax_##DT(const T* x, int* out, long long rows, int cols, long long ld) { \
        surpass::argmax::rows_argmax(x, out, rows, cols, ld);                                                           \
    }

SURPASS_ARGMAX(f32, float)
SURPASS_ARGMAX(f16, __half)
SURPASS_ARGMAX(bf16, __nv_bfloat16)
