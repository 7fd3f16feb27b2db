// patchify.cu — DiT's patch split (the im2col of Conv2d with kernel = stride = p), a pure copy.
//
//   surpass_dit_patchify_<dt>(x, out, total, channels, height, width, patch)
//   gh = height / p, gw = width / p, T = gh·gw, F = channels·p·p
//   out[n, i·gw + j, (c·p + ph)·p + pw] = x[n, c, i·p + ph, j·p + pw]
// Shapes: x [N, C, H, W] contiguous; out [N, T, F] contiguous, total = N·T·F elements. Tokens are
// row-major over the patch grid (i then j) and each patch vector is flattened in (C, ph, pw) order,
// so x_embedder.proj.weight [D, C, p, p] viewed as [D, F] is the GEMM's weight. H and W are
// multiples of p (checked by the launcher). dt ∈ {f32, f16, bf16}; bits copied unchanged.
// Launch: 1-D grid-stride over output elements (coalesced writes), block 256, grid.x ≤ 65535·32.
#include "common/dtype.cuh"

namespace surpass::patchify {

template <typename T>
__device__ __forceinline__ void patchify(const T* x, T* out, long long total, int channels, int height, int width,
                                         int p) {
    const int gw = width / p;
    const int gh = height / p;
    const long long feat = static_cast<long long>(channels) * p * p;
    const long long tokens = static_cast<long long>(gh) * gw;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
        const long long f = e % feat;
        const long long nt = e / feat;
        const long long t = nt % tokens;
        const long long n = nt / tokens;
        const int pw = static_cast<int>(f % p);
        const int ph = static_cast<int>((f / p) % p);
        const int c = static_cast<int>(f / (static_cast<long long>(p) * p));
        const int i = static_cast<int>(t / gw);
        const int j = static_cast<int>(t % gw);
        out[e] = x[((n * channels + c) * height + (static_cast<long long>(i) * p + ph)) * width + static_cast<long long>(j) * p + pw];
    }
}

}  // namespace surpass::patchify

#define SURPASS_DIT_PATCHIFY(DT, T)                                                                           \
    extern "C" __global__ void surpass_dit_patchify_##DT(const T* x, T* out, long long total, int channels,   \
                                                         int height, int width, int patch) {                 \
        surpass::patchify::patchify(x, out, total, channels, height, width, patch);                          \
    }

SURPASS_DIT_PATCHIFY(f32, float)
SURPASS_DIT_PATCHIFY(f16, __half)
SURPASS_DIT_PATCHIFY(bf16, __nv_bfloat16)
