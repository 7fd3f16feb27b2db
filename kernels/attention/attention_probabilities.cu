// attention_probabilities.cu — attention maps recomputed from a prefill's saved LSE.
//
//   out[b, x, y, j] = exp(S[b, heads[x], rows[y], j] - lse[b, heads[x], rows[y]]), 0 where masked,
// S the (scaled, soft-capped, ALiBi-biased when alibi [Hq] is not null) score of attention_common.cuh. The fused kernels never build the
// N×N matrix; this gives back the rows a user asks for.
// Shapes: q [B, nq, Hq, D]; k [B, nk, Hkv, D]; lse [B, Hq, nq] fp32; heads [nheads], rows [nrows]
// int (validated on the host); out [B, nheads, nrows, nk] fp32. Masks (wl, wr) as in
// attention_common.cuh (causal folded into wr). A row with LSE -inf (it sees no key) is all 0.
// Variants: surpass_attention_probabilities_<f32|f16|bf16>, any D ≤ 256, any alignment.
// Launch: grid (nrows, nheads, B), block 128 (threads stride over keys), dynamic shared memory
// D·4 bytes (the query row in fp32).
#include "attention/attention_common.cuh"

namespace surpass::attention_probabilities {

template <typename T>
__device__ __forceinline__ void probabilities(const T* __restrict__ q, const T* __restrict__ k,
                                              const float* __restrict__ lse, const int* __restrict__ heads,
                                              const int* __restrict__ rows, float* __restrict__ out, int nq, int nk,
                                              int hq, int hkv, int d, int nheads, int nrows, float scale,
                                              float softcap, int wl, int wr, const float* __restrict__ alibi) {
    extern __shared__ __align__(16) float prob_smem[];  // [d]
    const int ri = blockIdx.x, hi_idx = blockIdx.y, b = blockIdx.z;
    const int h = heads[hi_idx], i = rows[ri];
    const int g = h / (hq / hkv);
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        prob_smem[c] = load(q + ((static_cast<long long>(b) * nq + i) * hq + h) * d + c);
    }
    __syncthreads();
    const float L = lse[(static_cast<long long>(b) * hq + h) * nq + i];
    const int lo = attn::key_lo(i, nq, nk, wl), hi = attn::key_hi(i, nq, nk, wr);
    float* orow = out + ((static_cast<long long>(b) * nheads + hi_idx) * nrows + ri) * nk;
    for (int j = threadIdx.x; j < nk; j += blockDim.x) {
        float p = 0.0f;
        if (j >= lo && j <= hi && L != -INFINITY) {
            const T* kr = k + ((static_cast<long long>(b) * nk + j) * hkv + g) * d;
            float dot = 0.0f;
            for (int c = 0; c < d; ++c) dot = fmaf(prob_smem[c], load(kr + c), dot);
            float t = dot * scale;
            if (softcap > 0.0f) t = softcap * tanhf(t / softcap);
            if (alibi != nullptr) t -= alibi[h] * fabsf(static_cast<float>(static_cast<long long>(i) + nk - nq - j));
            p = expf(t - L);
        }
        orow[j] = p;
    }
}

}  // namespace surpass::attention_probabilities

#define SURPASS_ATTENTION_PROBABILITIES(DT, T)                                                               \
    extern "C" __global__ void surpass_attention_probabilities_##DT(                                         \
        const T* q, const T* k, const float* lse, const int* heads, const int* rows, float* out, int nq,     \
        int nk, int hq, int hkv, int d, int nheads, int nrows, float scale, float softcap, int wl, int wr,  \
        const float* alibi) {                                                                                \
        surpass::attention_probabilities::probabilities<T>(q, k, lse, heads, rows, out, nq, nk, hq, hkv, d,  \
                                                           nheads, nrows, scale, softcap, wl, wr, alibi);    \
    }

SURPASS_ATTENTION_PROBABILITIES(f32, float)
SURPASS_ATTENTION_PROBABILITIES(f16, __half)
SURPASS_ATTENTION_PROBABILITIES(bf16, __nv_bfloat16)
