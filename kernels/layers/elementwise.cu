// elementwise.cu — binary ops with a repeating right operand, and scaling.
//
//   surpass_layers_add_<dt>(a, b, out, n, bn)   out[i] = a[i] + b[i % bn]   i in [0, n)
//   surpass_layers_mul_<dt>(a, b, out, n, bn)   out[i] = a[i] * b[i % bn]
//   surpass_layers_scale_<dt>(a, out, s, n)     out[i] = a[i] * s
// Shapes: a and out hold n elements, b holds bn ≥ 1 (bn = n: plain elementwise; bn = last dim:
// bias/gamma broadcast over rows). dt ∈ {f32, f16, bf16}; math in fp32, stores rounded to nearest
// even. out may alias a (or b when bn = n): each element is read, then written, by one thread.
// Launch: 1-D, block 256 (any size works), grid.x ≤ 65535·32; grid-stride loops cover any n.
// Fast path: a and out 16-byte aligned → 16-byte packs (4 fp32 / 8 fp16|bf16), b read as packs
// too when it is aligned and bn is a multiple of the pack; the n % pack tail is done per element.
// Otherwise every element goes through the scalar loop. The index into b is carried along
// incrementally (one 64-bit modulo per thread, not per element).
#include "common/dtype.cuh"

namespace surpass::elementwise {

struct Add {
    __device__ __forceinline__ float operator()(float x, float y) const { return x + y; }
};
struct Mul {
    __device__ __forceinline__ float operator()(float x, float y) const { return x * y; }
};

// (j + step) mod bn for j, step in [0, bn).
__device__ __forceinline__ long long wrap_add(long long j, long long step, long long bn) {
    j += step;
    return j >= bn ? j - bn : j;
}

template <typename T, typename Op>
__device__ __forceinline__ void binary(const T* a, const T* b, T* out, long long n,
                                       long long bn, Op op) {
    constexpr int V = Pack<T>::N;
    if (bn <= 0) return;  // the launcher rejects it; never divide by zero
    const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    long long first = 0;  // the scalar loop starts here
    if (aligned16(a) && aligned16(out)) {
        const long long packs = n / V;
        first = packs * V;
        if (bn % V == 0 && aligned16(b)) {
            // b's pack index repeats every bn / V packs.
            const long long bpacks = bn / V;
            const long long step = stride % bpacks;
            long long j = tid % bpacks;
            for (long long p = tid; p < packs; p += stride, j = wrap_add(j, step, bpacks)) {
                float x[V], y[V];
                load_pack(a + p * V, x);
                load_pack(b + j * V, y);
#pragma unroll
                for (int k = 0; k < V; ++k) x[k] = op(x[k], y[k]);
                store_pack(out + p * V, x);
            }
        } else {
            const long long step = (stride * V) % bn;
            long long j = (tid * V) % bn;  // (p·V) mod bn for p = tid
            for (long long p = tid; p < packs; p += stride, j = wrap_add(j, step, bn)) {
                float x[V];
                load_pack(a + p * V, x);
                long long jj = j;
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    x[k] = op(x[k], load(b + jj));
                    jj = (jj + 1 == bn) ? 0 : jj + 1;
                }
                store_pack(out + p * V, x);
            }
        }
    }
    const long long step = stride % bn;
    long long j = (first + tid) % bn;
    for (long long i = first + tid; i < n; i += stride, j = wrap_add(j, step, bn)) {
        store(out + i, op(load(a + i), load(b + j)));
    }
}

template <typename T>
__device__ __forceinline__ void scale(const T* a, T* out, float s, long long n) {
    constexpr int V = Pack<T>::N;
    const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    long long first = 0;
    if (aligned16(a) && aligned16(out)) {
        const long long packs = n / V;
        first = packs * V;
        for (long long p = tid; p < packs; p += stride) {
            float x[V];
            load_pack(a + p * V, x);
#pragma unroll
            for (int k = 0; k < V; ++k) x[k] *= s;
            store_pack(out + p * V, x);
        }
    }
    for (long long i = first + tid; i < n; i += stride) store(out + i, load(a + i) * s);
}

}  // namespace surpass::elementwise

#define SURPASS_ELEMENTWISE(DT, T)                                                                      \
    extern "C" __global__ void surpass_layers_add_##DT(const T* a, const T* b, T* out, long long n,     \
                                                       long long bn) {                                  \
        surpass::elementwise::binary(a, b, out, n, bn, surpass::elementwise::Add{});                    \
    }                                                                                                   \
    extern "C" __global__ void surpass_layers_mul_##DT(const T* a, const T* b, T* out, long long n,     \
                                                       long long bn) {                                  \
        surpass::elementwise::binary(a, b, out, n, bn, surpass::elementwise::Mul{});                    \
    }                                                                                                   \
    extern "C" __global__ void surpass_layers_scale_##DT(const T* a, T* out, float s, long long n) {    \
        surpass::elementwise::scale(a, out, s, n);                                                      \
    }

SURPASS_ELEMENTWISE(f32, float)
SURPASS_ELEMENTWISE(f16, __half)
SURPASS_ELEMENTWISE(bf16, __nv_bfloat16)
