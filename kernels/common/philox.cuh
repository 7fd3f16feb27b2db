// philox.cuh — Philox4x32-10 counter-based random numbers (Salmon et al., SC'11; Random123).
//
// philox4x32_10(counter, key) maps a 128-bit counter and a 64-bit key to four independent 32-bit
// words; the same (counter, key) always gives the same words, on the host and on any GPU, in any
// launch shape. Convention here: key = the 64-bit seed; counter = {offset lo, offset hi,
// stream lo, stream hi}, where one offset yields 4 values (element i of a tensor uses offset i/4,
// word i%4) and the stream separates independent draws (e.g. one per sampler step).
// Helpers turn words into uniforms in [0, 1), (0, 1] and into standard normals (Box–Muller).
#pragma once

#include <cstdint>
#include <cuda_runtime.h>

namespace surpass {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

__host__ __device__ __forceinline__ uint32_t philox_mulhi(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
    return __umulhi(a, b);
#else
    return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

__host__ __device__ __forceinline__ uint4 philox_round(uint4 c, uint2 k) {
    const uint32_t hi0 = philox_mulhi(kPhiloxM0, c.x), lo0 = kPhiloxM0 * c.x;
    const uint32_t hi1 = philox_mulhi(kPhiloxM1, c.z), lo1 = kPhiloxM1 * c.z;
    return make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
}

// Ten rounds, the key bumped by the Weyl constants between rounds.
__host__ __device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k.x += kPhiloxW0;
            k.y += kPhiloxW1;
        }
        c = philox_round(c, k);
    }
    return c;
}

// Counter and key from the convention above.
__host__ __device__ __forceinline__ uint4 philox_counter(uint64_t offset, uint64_t stream) {
    return make_uint4(static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                      static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32));
}
__host__ __device__ __forceinline__ uint2 philox_key(uint64_t seed) {
    return make_uint2(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Top 24 bits → a float in [0, 1) on a 2^-24 grid (every value exactly representable).
__host__ __device__ __forceinline__ float philox_uniform(uint32_t w) {
    return static_cast<float>(w >> 8) * 5.9604644775390625e-8f;
}
// (0, 1]: safe to take the log of.
__host__ __device__ __forceinline__ float philox_uniform_pos(uint32_t w) {
    return static_cast<float>((w >> 8) + 1u) * 5.9604644775390625e-8f;
}

// Four standard normals from one block of four words (two Box–Muller pairs), fp32 math.
__host__ __device__ __forceinline__ float4 philox_normal4(uint4 w) {
    const float two_pi = 6.283185307179586f;
    const float r0 = sqrtf(-2.0f * logf(philox_uniform_pos(w.x)));
    const float r1 = sqrtf(-2.0f * logf(philox_uniform_pos(w.z)));
    const float t0 = two_pi * philox_uniform(w.y);
    const float t1 = two_pi * philox_uniform(w.w);
    return make_float4(r0 * cosf(t0), r0 * sinf(t0), r1 * cosf(t1), r1 * sinf(t1));
}

}  // namespace surpass
