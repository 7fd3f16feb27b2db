// unpatchify.cu — DiT's final rearrangement of patch outputs into images, a pure copy.
//
//   surpass_dit_unpatchify_<dt>(x, out, total, channels, height, width, patch)
//   gh = height / p, gw = width / p, T = gh·gw, F = p·p·channels
//   out[n, c, i·p + ph, j·p + pw] = x[n, i·gw + j, (ph·p + pw)·channels + c]
// Shapes: x [N, T, F] contiguous (the final linear's output); out [N, C, H, W] contiguous,
// total = N·C·H·W elements. The feature order is (ph, pw, c), channel fastest — DiT's
// reshape(N, h, w, p, p, c) + einsum('nhwpqc->nchpwq'), which differs from patchify's (c, ph, pw).
// dt ∈ {f32, f16, bf16}; bits copied unchanged.
// Launch: 1-D grid-stride over output elements (coalesced writes), block 256, grid.x ≤ 65535·32.
#include "common/dtype.cuh"

namespace surpass::unpatchify {

template <typename T>
__device__ __forceinline__ void unpatchify(const T* x, T* out, long long total, int channels, int height, int width,
                                           int p) {
    const int gw = width / p;
    const int gh = height / p;
    const long long feat = static_cast<long long>(channels) * p * p;
    const long long tokens = static_cast<long long>(gh) * gw;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
        const int xw = static_cast<int>(e % width);
        const long long r = e / width;
        const int yh = static_cast<int>(r % height);
        const long long nc = r / height;
        const int c = static_cast<int>(nc % channels);
        const long long n = nc / channels;
        const int i = yh / p, ph = yh % p, j = xw / p, pw = xw % p;
        const long long t = static_cast<long long>(i) * gw + j;
        out[e] = x[(n * tokens + t) * feat + (static_cast<long long>(ph) * p + pw) * channels + c];
    }
}

}  // namespace surpass::unpatchify

#define SURPASS_DIT_UNPATCHIFY(DT, T)                                                                         \
    extern "C" __global__ void surpass_dit_unpatchify_##DT(const T* x, T* out, long long total, int channels, \
                                                           int height, int width, int patch) {               \
        surpass::unpatchify::unpatchify(x, out, total, channels, height, width, patch);                      \
    }

SURPASS_DIT_UNPATCHIFY(f32, float)
SURPASS_DIT_UNPATCHIFY(f16, __half)
SURPASS_DIT_UNPATCHIFY(bf16, __nv_bfloat16)
