// noise.cu — Philox4x32-10 noise tensors, the same numbers as the Java Philox class.
//
//   surpass_diffusion_noise_<dt>(out, n, seed, stream)        out[i] = normal i%4 of philox_normal4(block i/4)
//   surpass_diffusion_philox_u32(out, blocks, seed, stream)   out[4b + k] = word k of philox4x32_10({b, stream}, seed)
// Key = seed, counter = {offset lo, offset hi, stream lo, stream hi} (common/philox.cuh). The first
// draws the initial latents of a sampling run (and any noise tensor) identically on CPU and GPU; the
// second exposes the raw words so tests can check the streams bit for bit.
// Launch: 1-D grid-stride over Philox blocks (4 elements each), block 256, grid.x ≤ 65535·32.
#include "common/dtype.cuh"
#include "common/philox.cuh"

namespace surpass::noise {

template <typename T>
__device__ __forceinline__ void normals(T* out, long long n, long long seed, long long stream) {
    const long long blocks = (n + 3) / 4;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long b = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += stride) {
        const float4 z = philox_normal4(philox4x32_10(philox_counter(static_cast<unsigned long long>(b),
                                                                     static_cast<unsigned long long>(stream)),
                                                      philox_key(static_cast<unsigned long long>(seed))));
        const float v[4] = {z.x, z.y, z.z, z.w};
        const long long i0 = b * 4;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            if (i0 + k < n) store(out + i0 + k, v[k]);
        }
    }
}

}  // namespace surpass::noise

extern "C" __global__ void surpass_diffusion_noise_f32(float* out, long long n, long long seed, long long stream) {
    surpass::noise::normals(out, n, seed, stream);
}
extern "C" __global__ void surpass_diffusion_noise_f16(__half* out, long long n, long long seed, long long stream) {
    surpass::noise::normals(out, n, seed, stream);
}
extern "C" __global__ void surpass_diffusion_noise_bf16(__nv_bfloat16* out, long long n, long long seed, long long stream) {
    surpass::noise::normals(out, n, seed, stream);
}

extern "C" __global__ void surpass_diffusion_philox_u32(unsigned int* out, long long blocks, long long seed, long long stream) {
    using namespace surpass;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long b = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += stride) {
        const uint4 w = philox4x32_10(philox_counter(static_cast<unsigned long long>(b), static_cast<unsigned long long>(stream)),
                                      philox_key(static_cast<unsigned long long>(seed)));
        out[4 * b] = w.x;
        out[4 * b + 1] = w.y;
        out[4 * b + 2] = w.z;
        out[4 * b + 3] = w.w;
    }
}
