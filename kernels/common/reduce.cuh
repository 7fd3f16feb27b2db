// reduce.cuh — warp and block reductions (sum, max) in fp32 with register shuffles.
//
// warp_*: every lane of the calling warp gets the result. A warp may be partial (blockDim.x not a
// multiple of 32): only its existing lanes take part, so any blockDim.x in [1, 1024] works.
// block_*: every thread of the block must call it (it contains __syncthreads); every thread gets
// the same result, bit for bit, because each one folds the per-warp partials in the same order.
#pragma once

#include <cmath>

namespace surpass {

struct SumOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
    static __device__ __forceinline__ float identity() { return 0.0f; }
};
struct MaxOp {
    // fmaxf drops a NaN operand; max-subtracted softmax then still sees the finite maximum.
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
    static __device__ __forceinline__ float identity() { return -INFINITY; }
};

// Number of existing lanes in the calling thread's warp (32 except maybe in the last warp).
__device__ __forceinline__ int warp_width() {
    const int base = threadIdx.x & ~31;
    const int left = static_cast<int>(blockDim.x) - base;
    return left < 32 ? left : 32;
}

template <typename Op> __device__ __forceinline__ float warp_reduce(float v, Op op) {
    const int width = warp_width();
    if (width == 32) {
        // Butterfly: after 5 xor steps every lane holds the full reduction.
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
        return v;
    }
    // Partial warp: tree into lane 0 over the existing lanes, then broadcast.
    const unsigned mask = (1u << width) - 1u;
    const int lane = threadIdx.x & 31;
    for (int o = 16; o > 0; o >>= 1) {
        const float other = __shfl_down_sync(mask, v, o);
        if (lane + o < width) v = op(v, other);
    }
    return __shfl_sync(mask, v, 0);
}

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, SumOp{}); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, MaxOp{}); }

// Block reduction through 32 floats of shared memory. The leading barrier makes back-to-back calls
// safe (the previous call's readers are done before the scratch is overwritten).
template <typename Op> __device__ __forceinline__ float block_reduce(float v, Op op) {
    __shared__ float partial[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_reduce(v, op);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float r = partial[0];  // broadcast reads: no bank conflicts
    for (int w = 1; w < warps; ++w) r = op(r, partial[w]);
    return r;
}

__device__ __forceinline__ float block_sum(float v) { return block_reduce(v, SumOp{}); }
__device__ __forceinline__ float block_max(float v) { return block_reduce(v, MaxOp{}); }

}  // namespace surpass
