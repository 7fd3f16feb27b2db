// paged_decode_v1.cuh — the paged decode kernel as it was at commit 1aec210 (before the rewrite in
// kernels/attention/paged_decode.cu), renamed, bf16 with 4 q-heads per block only. It exists only
// so that attention_variants.cu can time the old kernel in the same run as the new one.
#include "attention/attention_common.cuh"
#include "common/reduce.cuh"

namespace surpass::paged_decode_v1 {

using attn::exp2_score;
using attn::row_lse;

constexpr int WARPS = 4, MAXC = 8;  // D ≤ 32·MAXC

template <typename T, int HC>
__device__ __forceinline__ void decode(const T* __restrict__ q, const T* __restrict__ k_pool, const T* __restrict__ v_pool,
                                       const int* __restrict__ page_table, const int* __restrict__ lens, T* __restrict__ out,
                                       float* __restrict__ lse, float* __restrict__ part_o, float* __restrict__ part_lse,
                                       int hq, int hkv, int d, int page_size, int max_pages, int num_splits,
                                       int split_tokens, int wl, float scale, float softcap) {
    extern __shared__ __align__(16) float decode_smem[];
    float* sQ = decode_smem;            // [HC][d]
    float* sM = sQ + HC * d;            // [WARPS][HC]
    float* sL = sM + WARPS * HC;        // [WARPS][HC]
    float* sO = sL + WARPS * HC;        // [WARPS][HC][d]

    const int split = blockIdx.x, b = blockIdx.z;
    const int group = hq / hkv, chunks = (group + HC - 1) / HC;
    const int g = blockIdx.y / chunks, chunk = blockIdx.y - (blockIdx.y / chunks) * chunks;
    const int h0 = g * group + chunk * HC;             // first q-head of the block
    const int nh = min(HC, group - chunk * HC);        // q-heads of the block (≤ HC)
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    const int len = lens[b];
    const int lo = wl < 0 ? 0 : max(0, len - 1 - wl);  // first visible token (len - 1 - wl ≥ INT_MIN)
    const long long begin_ll = lo + static_cast<long long>(split) * split_tokens;
    const int begin = static_cast<int>(min(begin_ll, static_cast<long long>(len)));
    const int end = static_cast<int>(min(begin_ll + split_tokens, static_cast<long long>(len)));

    for (int idx = threadIdx.x; idx < HC * d; idx += blockDim.x) {
        sQ[idx] = idx < nh * d ? load(q + (static_cast<long long>(b) * hq + h0) * d + idx) : 0.0f;
    }
    __syncthreads();

    const int* pt = page_table + static_cast<long long>(b) * max_pages;
    float m_run[HC], l_run[HC], acc[HC][MAXC];
#pragma unroll
    for (int hc = 0; hc < HC; ++hc) {
        m_run[hc] = -INFINITY;
        l_run[hc] = 0.0f;
#pragma unroll
        for (int c = 0; c < MAXC; ++c) acc[hc][c] = 0.0f;
    }

    constexpr int V = Pack<T>::N;
    for (int t0 = begin + warp * 32; t0 < end; t0 += WARPS * 32) {
        const int t = t0 + lane;
        const bool valid = t < end;
        long long row_off = 0;  // element offset of token t's (kv-head g) row in the pools
        if (valid) {
            const int page = pt[t / page_size];
            row_off = ((static_cast<long long>(page) * page_size + t % page_size) * hkv + g) * d;
        }
        float sc[HC];
#pragma unroll
        for (int hc = 0; hc < HC; ++hc) sc[hc] = 0.0f;
        if (valid) {
            const T* kr = k_pool + row_off;
            for (int c0 = 0; c0 < d; c0 += V) {
                float kf[V];
                load_pack(kr + c0, kf);  // 16 bytes: rows are 16-byte aligned (D·sizeof(T) % 16 == 0)
#pragma unroll
                for (int hc = 0; hc < HC; ++hc) {
#pragma unroll
                    for (int e = 0; e < V; ++e) sc[hc] = fmaf(sQ[hc * d + c0 + e], kf[e], sc[hc]);
                }
            }
        }
        float p[HC];
#pragma unroll
        for (int hc = 0; hc < HC; ++hc) {
            const float x = valid ? exp2_score(sc[hc], scale, softcap) : -INFINITY;
            const float m_new = fmaxf(m_run[hc], warp_max(x));
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;
            const float alpha = exp2f(m_run[hc] - m_use);
            p[hc] = exp2f(x - m_use);
            l_run[hc] = l_run[hc] * alpha + p[hc];
            m_run[hc] = m_new;
#pragma unroll
            for (int c = 0; c < MAXC; ++c) acc[hc][c] *= alpha;
        }
        const int n = min(32, end - t0);  // warp-uniform
        for (int j = 0; j < n; ++j) {
            const long long off = __shfl_sync(0xffffffffu, row_off, j);
            const T* vr = v_pool + off;
            float vv[MAXC];
#pragma unroll
            for (int c = 0; c < MAXC; ++c) {
                const int dd = lane + 32 * c;
                vv[c] = dd < d ? load(vr + dd) : 0.0f;
            }
#pragma unroll
            for (int hc = 0; hc < HC; ++hc) {
                const float pj = __shfl_sync(0xffffffffu, p[hc], j);
#pragma unroll
                for (int c = 0; c < MAXC; ++c) acc[hc][c] = fmaf(pj, vv[c], acc[hc][c]);
            }
        }
    }

    // Merge the warps' states: each warp publishes (m, Σ, o unnormalised) per head.
#pragma unroll
    for (int hc = 0; hc < HC; ++hc) {
        const float l = warp_sum(l_run[hc]);
        if (lane == 0) {
            sM[warp * HC + hc] = m_run[hc];
            sL[warp * HC + hc] = l;
        }
#pragma unroll
        for (int c = 0; c < MAXC; ++c) {
            const int dd = lane + 32 * c;
            if (dd < d) sO[(warp * HC + hc) * d + dd] = acc[hc][c];
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nh * d; idx += blockDim.x) {
        const int hc = idx / d, dd = idx - (idx / d) * d;
        float m = -INFINITY;
        for (int w = 0; w < WARPS; ++w) m = fmaxf(m, sM[w * HC + hc]);
        float l = 0.0f, val = 0.0f;
        if (m != -INFINITY) {
            for (int w = 0; w < WARPS; ++w) {
                const float f = exp2f(sM[w * HC + hc] - m);  // 0 for a warp that saw nothing
                l += sL[w * HC + hc] * f;
                val += sO[(w * HC + hc) * d + dd] * f;
            }
            val /= l;
        }
        const long long bh = static_cast<long long>(b) * hq + h0 + hc;
        if (num_splits == 1) {
            store(out + bh * d + dd, val);
            if (lse != nullptr && dd == 0) lse[bh] = row_lse(m, l);
        } else {
            part_o[(bh * num_splits + split) * d + dd] = val;
            if (dd == 0) part_lse[bh * num_splits + split] = row_lse(m, l);
        }
    }
}

}  // namespace surpass::paged_decode_v1

#define V1_PAGED_DECODE(DT, T, HC)                                                                       \
    extern "C" __global__ void __launch_bounds__(128) v1_paged_decode_##DT##_h##HC(            \
        const T* q, const T* k_pool, const T* v_pool, const int* page_table, const int* lens, T* out,         \
        float* lse, float* part_o, float* part_lse, int hq, int hkv, int d, int page_size, int max_pages,     \
        int num_splits, int split_tokens, int wl, float scale, float softcap) {                               \
        surpass::paged_decode_v1::decode<T, HC>(q, k_pool, v_pool, page_table, lens, out, lse, part_o, part_lse, \
                                             hq, hkv, d, page_size, max_pages, num_splits, split_tokens, wl,  \
                                             scale, softcap);                                                 \
    }

V1_PAGED_DECODE(bf16, __nv_bfloat16, 4)
