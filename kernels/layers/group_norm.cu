// group_norm.cu — GroupNorm over channels-last data (torch.nn.GroupNorm on x.movedim(-1, 1)).
//
//   surpass_layers_group_norm_<dt>(x, w, b, out, n, l, c, groups, eps)
//   out[s, p, ch] = (x[s, p, ch] - μ_{s,g}) / √(σ²_{s,g} + eps) · w[ch] + b[ch],  g = ch / (c / groups)
// Shapes: x, out [n, l, c] contiguous (out may alias x): n samples, l positions (H·W of an image),
// c channels split into `groups` groups of c/groups consecutive channels; μ and the biased σ² of a
// group are taken over its l·c/groups values in one sample. w, b [c] or null (null w: scale 1,
// null b: shift 0). dt ∈ {f32, f16, bf16} for x, w, b and out alike; fp32 math, stores rounded to
// nearest even.
// Launch: grid.x blocks looping over the n·groups (sample, group) pairs (k = blockIdx.x + j·gridDim.x,
// s = k / groups, g = k % groups); block 256 threads (any blockDim.x in [1, 1024] works). A group
// is l strided runs of c/groups elements; thread t visits flat indices t, t + blockDim.x, … of them.
// Statistics: shifted by the group's first element like row_norm.cuh (and the CPU twin,
// VectorGroupNorm), two passes; pass 3 writes.
#include "common/dtype.cuh"
#include "common/reduce.cuh"

namespace surpass::group_norm {

template <typename T>
__device__ __forceinline__ void group_norm(const T* x, const T* w, const T* b, T* out, long long n, long long l, int c, int groups,
                                           float eps) {
    const int cg = c / groups;
    const long long count = l * cg;
    const float inv_n = 1.0f / static_cast<float>(count);
    for (long long k = blockIdx.x; k < n * groups; k += gridDim.x) {
        const long long s = k / groups;
        const int g = static_cast<int>(k % groups);
        const long long base = s * l * c + static_cast<long long>(g) * cg;  // element (s, 0, g·cg)
        const float x0 = load(x + base);
        float s1 = 0.0f;
        for (long long i = threadIdx.x; i < count; i += blockDim.x) s1 += load(x + base + (i / cg) * c + i % cg) - x0;
        const float dm = block_sum(s1) * inv_n;
        float s2 = 0.0f;
        for (long long i = threadIdx.x; i < count; i += blockDim.x) {
            const float d = (load(x + base + (i / cg) * c + i % cg) - x0) - dm;
            s2 = fmaf(d, d, s2);
        }
        const float rstd = 1.0f / sqrtf(block_sum(s2) * inv_n + eps);
        for (long long i = threadIdx.x; i < count; i += blockDim.x) {
            const long long at = base + (i / cg) * c + i % cg;
            const int ch = g * cg + static_cast<int>(i % cg);
            float y = ((load(x + at) - x0) - dm) * rstd;
            if (w != nullptr) y *= load(w + ch);
            if (b != nullptr) y += load(b + ch);
            store(out + at, y);
        }
        // The next pair's first block_sum begins with a barrier: its scratch is not overwritten early.
    }
}

}  // namespace surpass::group_norm

#define SURPASS_GROUP_NORM(DT, T)                                                                          \
    extern "C" __global__ void surpass_layers_group_norm_##DT(const T* x, const T* w, const T* b, T* out,    \
                                                              long long n, long long l, int c, int groups,  \
                                                              float eps) {                                  \
        surpass::group_norm::group_norm(x, w, b, out, n, l, c, groups, eps);                               \
    }

SURPASS_GROUP_NORM(f32, float)
SURPASS_GROUP_NORM(f16, __half)
SURPASS_GROUP_NORM(bf16, __nv_bfloat16)
