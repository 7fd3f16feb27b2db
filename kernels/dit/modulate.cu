// modulate.cu — DiT's adaLN modulate: LayerNorm without affine, then x·(1 + scale) + shift, one pass.
//
//   surpass_dit_modulate_<dt>(x, mod, out, rows, cols, tokens, mod_stride, shift_off, scale_off, eps)
//   n = r / tokens (the sample of row r)
//   out[r, c] = LN(x[r, :])[c] · (1 + mod[n, scale_off + c]) + mod[n, shift_off + c]
// Shapes: x, out [rows, cols] contiguous (rows = N·T tokens, cols = D); mod [N, mod_stride] with the
// shift and scale chunks at column offsets shift_off and scale_off (the adaLN linear's output,
// chunked 6 ways in a block, 2 ways in the final layer). LayerNorm: biased variance, eps inside the
// square root (torch.nn.LayerNorm(elementwise_affine=False, eps=1e-6)). dt ∈ {f32, f16, bf16} for
// x, mod and out alike; fp32 math, stores rounded to nearest even.
// Launch: grid.x blocks looping over rows (r = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x in [1, 1024] works).
// Statistics as layer_norm.cu and the CPU twin take them (row_norm_stats, common/row_norm.cuh).
#include "common/row_norm.cuh"

namespace surpass::modulate {

template <typename T>
__device__ __forceinline__ void rows_modulate(const T* x, const T* mod, T* out, long long rows, int cols, int tokens,
                                              int mod_stride, int shift_off, int scale_off, float eps) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = out + r * cols;
        const T* mr = mod + (r / tokens) * static_cast<long long>(mod_stride);
        const T* shift = mr + shift_off;
        const T* scale = mr + scale_off;

        const RowNorm st = row_norm_stats(xr, cols, eps);
        row_map(xr, yr, cols, [&](int c, float v) {
            const float n = st.norm(v);
            return fmaf(n, 1.0f + load(scale + c), load(shift + c));
        });
    }
}

}  // namespace surpass::modulate

#define SURPASS_DIT_MODULATE(DT, T)                                                                          \
    extern "C" __global__ void surpass_dit_modulate_##DT(const T* x, const T* mod, T* out, long long rows,   \
                                                         int cols, int tokens, int mod_stride, int shift_off, \
                                                         int scale_off, float eps) {                         \
        surpass::modulate::rows_modulate(x, mod, out, rows, cols, tokens, mod_stride, shift_off, scale_off,  \
                                         eps);                                                               \
    }

SURPASS_DIT_MODULATE(f32, float)
SURPASS_DIT_MODULATE(f16, __half)
SURPASS_DIT_MODULATE(bf16, __nv_bfloat16)
