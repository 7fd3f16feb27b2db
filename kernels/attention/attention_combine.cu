// attention_combine.cu — merges split-KV partial attention results by their LSE.
//
//   lse = ln Σ_s e^{lse_s},   out = Σ_s e^{lse_s - lse} · o_s      (§4.1 of the numerics reference)
// computed as M = max_s lse_s, w_s = e^{lse_s - M}, out = Σ w_s o_s / Σ w_s, lse = M + ln Σ w_s.
// Shapes: part_o [rows, splits, D] fp32 (each part already normalised), part_lse [rows, splits]
// fp32 (natural log; -inf for an empty part); out [rows, D] in T; lse [rows] fp32 or null.
// A row whose parts are all empty gives 0 and -inf. Used by paged decode (rows = B·Hq).
// Variants: surpass_attention_combine_<f32|f16|bf16>.
// Launch: grid.x ≤ rows blocks looping over rows (blockIdx.x, + gridDim.x, …), block 128 (any
// size works); no shared memory. Each thread recomputes the (few) split weights it needs.
#include "attention/attention_common.cuh"

namespace surpass::attention_combine {

template <typename T>
__device__ __forceinline__ void combine(const float* __restrict__ part_o, const float* __restrict__ part_lse,
                                        T* __restrict__ out, float* __restrict__ lse, long long rows, int splits, int d) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* pl = part_lse + r * splits;
        float m = -INFINITY;
        for (int s = 0; s < splits; ++s) m = fmaxf(m, pl[s]);
        float l = 0.0f;
        if (m != -INFINITY) {
            for (int s = 0; s < splits; ++s) l += expf(pl[s] - m);
        }
        for (int dd = threadIdx.x; dd < d; dd += blockDim.x) {
            float acc = 0.0f;
            if (m != -INFINITY) {
                for (int s = 0; s < splits; ++s) {
                    const float w = expf(pl[s] - m);  // 0 for an empty part
                    if (w != 0.0f) acc = fmaf(w, part_o[(r * splits + s) * d + dd], acc);
                }
                acc /= l;
            }
            store(out + r * d + dd, acc);
        }
        if (lse != nullptr && threadIdx.x == 0) lse[r] = m == -INFINITY ? -INFINITY : m + logf(l);
    }
}

}  // namespace surpass::attention_combine

#define SURPASS_ATTENTION_COMBINE(DT, T)                                                                     \
    extern "C" __global__ void surpass_attention_combine_##DT(const float* part_o, const float* part_lse,     \
                                                              T* out, float* lse, long long rows, int splits, \
                                                              int d) {                                        \
        surpass::attention_combine::combine<T>(part_o, part_lse, out, lse, rows, splits, d);                 \
    }

SURPASS_ATTENTION_COMBINE(f32, float)
SURPASS_ATTENTION_COMBINE(f16, __half)
SURPASS_ATTENTION_COMBINE(bf16, __nv_bfloat16)
