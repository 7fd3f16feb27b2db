// activation.cu — pointwise activations, fp32 math.
//
//   surpass_layers_gelu_erf_<dt>(x, out, n)   x·Φ(x) = 0.5·x·erfc(−x/√2)              (BERT, exact GELU)
//   surpass_layers_gelu_tanh_<dt>(x, out, n)  0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  (GPT-2, DiT)
//   surpass_layers_silu_<dt>(x, out, n)       x / (1 + e^-x)                          (Llama, Mamba)
//   surpass_layers_softcap_<dt>(x, out, n, cap)  cap·tanh(x / cap)                   (Gemma 2's logits)
// Shapes: x and out hold n elements; out may alias x. dt ∈ {f32, f16, bf16}; stores rounded to
// nearest even.
// Launch: 1-D, block 256 (any size works), grid.x ≤ 65535·32; grid-stride loop over 16-byte packs
// when x and out are 16-byte aligned, per element otherwise and for the tail.
// Stability: the tanh form is evaluated as x·σ(2u) = x / (1 + e^(-2u)), the same function without
// the cancellation of 1 + tanh(u) for negative u; SiLU's e^-x overflows to +inf for x < -88,
// giving x/inf = -0, the correctly rounded limit, and never NaN for finite x.
#include <cmath>

#include "common/dtype.cuh"

namespace surpass::activation {

struct GeluErf {
    __device__ __forceinline__ float operator()(float x) const {
        // x·Φ(x) with Φ from normcdff (erfc-based): 0.5·(1 + erf) cancels to 0 below x ≈ −5,
        // losing all relative accuracy where the CPU twin and the reference still agree.
        return x * normcdff(x);
    }
};
struct GeluTanh {
    __device__ __forceinline__ float operator()(float x) const {
        const float u = 0.79788456080286536f * fmaf(0.044715f * x, x * x, x);  // √(2/π)(x + 0.044715x³)
        return x / (1.0f + expf(-2.0f * u));
    }
};
struct Silu {
    __device__ __forceinline__ float operator()(float x) const { return x / (1.0f + expf(-x)); }
};
struct Softcap {
    float cap;
    __device__ __forceinline__ float operator()(float x) const { return cap * tanhf(x / cap); }
};

template <typename T, typename F> __device__ __forceinline__ void pointwise(const T* x, T* out, long long n, F f) {
    constexpr int V = Pack<T>::N;
    const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    long long first = 0;
    if (aligned16(x) && aligned16(out)) {
        const long long packs = n / V;
        first = packs * V;
        for (long long p = tid; p < packs; p += stride) {
            float v[V];
            load_pack(x + p * V, v);
#pragma unroll
            for (int k = 0; k < V; ++k) v[k] = f(v[k]);
            store_pack(out + p * V, v);
        }
    }
    for (long long i = first + tid; i < n; i += stride) store(out + i, f(load(x + i)));
}

}  // namespace surpass::activation

#define SURPASS_ACTIVATION(NAME, FN, DT, T)                                                        \
    extern "C" __global__ void surpass_layers_##NAME##_##DT(const T* x, T* out, long long n) {    \
        surpass::activation::pointwise(x, out, n, surpass::activation::FN{});                     \
    }
#define SURPASS_ACTIVATIONS(DT, T)                  \
    SURPASS_ACTIVATION(gelu_erf, GeluErf, DT, T)    \
    SURPASS_ACTIVATION(gelu_tanh, GeluTanh, DT, T)  \
    SURPASS_ACTIVATION(silu, Silu, DT, T)

#define SURPASS_SOFTCAP(DT, T)                                                                         \
    extern "C" __global__ void surpass_layers_softcap_##DT(const T* x, T* out, long long n, float cap) {  \
        surpass::activation::pointwise(x, out, n, surpass::activation::Softcap{cap});                     \
    }

SURPASS_SOFTCAP(f32, float)
SURPASS_SOFTCAP(f16, __half)
SURPASS_SOFTCAP(bf16, __nv_bfloat16)
SURPASS_ACTIVATIONS(f32, float)
SURPASS_ACTIVATIONS(f16, __half)
SURPASS_ACTIVATIONS(bf16, __nv_bfloat16)
