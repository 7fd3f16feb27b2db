// dtype.cuh — element types of the kernels and their conversions to and from fp32.
//
// Every kernel reads its storage type T (float, __half, __nv_bfloat16), does all arithmetic in
// fp32, and rounds the result back to T to nearest even (the IEEE default, and what PyTorch and
// the Java CPU twin do). Pack<T> is one 16-byte vector of T for coalesced 128-bit loads/stores:
// 4 floats or 8 halves/bfloat16s.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace surpass {

// ---- scalar conversions -------------------------------------------------------------------
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// from_float<T>(v): v rounded to nearest even in T (NaN stays NaN, overflow goes to ±inf).
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// load(p)/store(p, v): one element through fp32.
template <typename T> __device__ __forceinline__ float load(const T* p) { return to_float(*p); }
template <typename T> __device__ __forceinline__ void store(T* p, float v) { *p = from_float<T>(v); }

// ---- 16-byte packs ----------------------------------------------------------------------------
template <typename T> struct alignas(16) Pack {
    static constexpr int N = 16 / sizeof(T);  // elements per pack: 4 (fp32) or 8 (fp16/bf16)
    T v[N];
};

// True when p is 16-byte aligned, i.e. usable as a Pack<T> pointer.
template <typename T> __device__ __forceinline__ bool aligned16(const T* p) {
    return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0;
}

// Loads Pack<T>::N elements of p (16-byte aligned) into f as fp32.
template <typename T> __device__ __forceinline__ void load_pack(const T* p, float (&f)[Pack<T>::N]) {
    const Pack<T> pk = *reinterpret_cast<const Pack<T>*>(p);
#pragma unroll
    for (int k = 0; k < Pack<T>::N; ++k) f[k] = to_float(pk.v[k]);
}

// Stores f, rounded to T, as one 16-byte pack at p (16-byte aligned).
template <typename T> __device__ __forceinline__ void store_pack(T* p, const float (&f)[Pack<T>::N]) {
    Pack<T> pk;
#pragma unroll
    for (int k = 0; k < Pack<T>::N; ++k) pk.v[k] = from_float<T>(f[k]);
    *reinterpret_cast<Pack<T>*>(p) = pk;
}

// Two fp32 values as one 32-bit register of a T pair (lo = a: the lower column index), rounded to
// nearest even: the A fragment of P in the attention kernels' P·V (mma.sync and wgmma alike).
template <typename T> __device__ __forceinline__ unsigned pack2(float a, float b);
template <> __device__ __forceinline__ unsigned pack2<__half>(float a, float b) {
    const __half2 v = __floats2half2_rn(a, b);
    return *reinterpret_cast<const unsigned*>(&v);
}
template <> __device__ __forceinline__ unsigned pack2<__nv_bfloat16>(float a, float b) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const unsigned*>(&v);
}

}  // namespace surpass
