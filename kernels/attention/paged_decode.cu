// paged_decode.cu — one decoding step against a paged KV cache (split-KV / flash-decoding).
//
//   o[b, h, :] = Σ_t softmax_t(scale·q[b, h]·k_t) · v_t over the cached tokens t of sequence b
//   (the newest token is the query's own position: causal is implied; a left window and softcap
//   apply as in attention_common.cuh with sq = 1, sk = len). ALiBi (the _alibi_ entries, alibi =
//   fp32 slopes [Hq]): the score of token t gets −alibi[h]·(len − 1 − t) after the softcap; separate
//   entries (a template flag) so that the kernels without it keep their code and registers.
// Shapes: q, out [B, Hq, D]; pools k_pool, v_pool [numPages, pageSize, Hkv, D]; page_table
// [B, max_pages] int (physical page of logical page p of sequence b; entries past the sequence's
// pages are any valid page, never read); lens [B] int. Token t of sequence b lives in page
// page_table[b, t / page_size], slot t % page_size. lse [B, Hq] fp32 natural log, or null.
// Split-KV: blockIdx.x = split s covers the visible tokens [lo + s·split_tokens, lo + (s+1)·split_tokens).
//   num_splits == 1: the block writes out and lse directly.
//   num_splits > 1: it writes its normalised partial output part_o [B, Hq, num_splits, D] (fp32) and
//   partial LSE part_lse [B, Hq, num_splits]; attention_combine.cu merges them (an empty split
//   has LSE -inf and contributes nothing).
//
// Variants: surpass_attention_paged_decode_[alibi_]<f32|f16|bf16>_h<HC>, HC ∈ {1, 2, 4, 8}: the q-heads
// per block (a GQA group of G heads is covered by ceil(G / HC) blocks; the host picks the
// smallest HC ≥ min(G, 8)). Any D ≤ 256 that is a multiple of 8; the entry picks the row class
// P ∈ {32, 64, 128, 256} (the smallest ≥ D) at run time.
//
// The kernel is a stream over the K and V rows of one (sequence, kv-head, split): it is bound by
// memory bandwidth, so the layout serves the loads.
//   - A K or V row of P elements is read by LPR = P/8 consecutive lanes, 8 elements (16 bytes of
//     fp16/bf16) each: a warp reads TPW = 32/LPR rows per 16-byte load instruction, coalesced.
//   - Each lane group (the LPR lanes of one row) takes U tokens per step; all 2·U K and V loads of
//     a step are issued before any math, and the page-table entries of the next step are read
//     during this one (the page lookup never stalls a K/V load).
//   - q (all HC heads of the block, pre-multiplied by scale·log2 e when there is no softcap) sits
//     in registers as the lane's 8 columns; a score is 8 FMAs and a log2(LPR)-step xor-shuffle sum
//     over the lane group; each lane group keeps its own online-softmax state (exp2 domain) and
//     output columns, merged over the warp by shuffles and over the WARPS warps through shared
//     memory at the end.
// Launch: grid (num_splits, Hkv · ceil(G / HC), B), block 32·WARPS = 128, dynamic shared memory
// (2·WARPS·HC + WARPS·HC·P)·4 bytes (CudaAttention.decodeSharedBytes).
#include "attention/attention_common.cuh"

namespace surpass::paged_decode {

using attn::exp2_score;
using attn::row_lse;

constexpr int E = 8;  // elements of a row per lane

// The choices of the kernel (one constant each; benchmarks/gpu/attention_variants.cu instantiates
// others): WARPS per block, U tokens per lane group per step (fp32 rows are twice the bytes: half
// the tokens keep the same bytes in flight, and 16 fewer registers avoid a spill at HC = 4).
constexpr int kWarps = 4;
constexpr int kUnroll = 4;
template <typename T> constexpr int kUnrollFor = sizeof(T) == 4 ? kUnroll / 2 : kUnroll;
// Blocks per SM promised to ptxas (__launch_bounds__): 4 for 16-bit rows with up to 4 q-heads per
// block — it caps registers at 128, and on an H200 the extra resident blocks outweigh the few
// spilled bytes (attention_variants, B64 Hq32 Hkv8 L4096 D128 page 16: 2784 GB/s vs 2450 with 1);
// larger head groups and fp32 need their registers.
template <typename T, int HC> constexpr int kMinBlocks = (sizeof(T) == 2 && HC <= 4) ? 4 : 1;

// E elements of T as raw 16-byte words (1 for fp16/bf16, 2 for fp32).
template <typename T> constexpr int kWords = static_cast<int>(sizeof(T)) * E / 16;

__device__ __forceinline__ void words_to_f32(const uint4 (&w)[1], float (&f)[E], const __nv_bfloat16*) {
    const unsigned u[4] = {w[0].x, w[0].y, w[0].z, w[0].w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 p = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u[i]));
        f[2 * i] = p.x, f[2 * i + 1] = p.y;
    }
}
__device__ __forceinline__ void words_to_f32(const uint4 (&w)[1], float (&f)[E], const __half*) {
    const unsigned u[4] = {w[0].x, w[0].y, w[0].z, w[0].w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 p = __half22float2(*reinterpret_cast<const __half2*>(&u[i]));
        f[2 * i] = p.x, f[2 * i + 1] = p.y;
    }
}
__device__ __forceinline__ void words_to_f32(const uint4 (&w)[2], float (&f)[E], const float*) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        f[4 * i] = __uint_as_float(w[i].x), f[4 * i + 1] = __uint_as_float(w[i].y);
        f[4 * i + 2] = __uint_as_float(w[i].z), f[4 * i + 3] = __uint_as_float(w[i].w);
    }
}

template <typename T, int HC, int P, int WARPS, int U, bool ALIBI>
__device__ __forceinline__ void decode(const T* __restrict__ q, const T* __restrict__ k_pool, const T* __restrict__ v_pool,
                                       const int* __restrict__ page_table, const int* __restrict__ lens, T* __restrict__ out,
                                       float* __restrict__ lse, float* __restrict__ part_o, float* __restrict__ part_lse,
                                       int hq, int hkv, int d, int page_size, int max_pages, int num_splits,
                                       int split_tokens, int wl, float scale, float softcap,
                                       const float* __restrict__ alibi) {
    constexpr int LPR = P / E;            // lanes per row
    constexpr int TPW = 32 / LPR;         // rows per warp per load
    constexpr int GROUPS = WARPS * TPW;   // lane groups per block
    constexpr int STEP = U * GROUPS;      // tokens per block per step
    constexpr int W = kWords<T>;
    static_assert(LPR >= 1 && LPR <= 32 && 32 % LPR == 0, "P must be 8·(a power of two ≤ 32)");
    extern __shared__ __align__(16) float decode_smem[];
    float* sM = decode_smem;            // [WARPS][HC]
    float* sL = sM + WARPS * HC;        // [WARPS][HC]
    float* sO = sL + WARPS * HC;        // [WARPS][HC][P]

    const int split = blockIdx.x, b = blockIdx.z;
    const int group = hq / hkv, chunks = (group + HC - 1) / HC;
    const int g = blockIdx.y / chunks, chunk = blockIdx.y - (blockIdx.y / chunks) * chunks;
    const int h0 = g * group + chunk * HC;             // first q-head of the block
    const int nh = min(HC, group - chunk * HC);        // q-heads of the block (≤ HC)
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gi = lane / LPR, col = (lane % LPR) * E;  // lane group within the warp; first column
    const bool col_ok = col < d;                        // d is a multiple of 8: all 8 columns or none

    const int len = lens[b];
    const int lo = wl < 0 ? 0 : max(0, len - 1 - wl);  // first visible token (len - 1 - wl ≥ INT_MIN)
    const long long begin_ll = lo + static_cast<long long>(split) * split_tokens;
    const int begin = static_cast<int>(min(begin_ll, static_cast<long long>(len)));
    const int end = static_cast<int>(min(begin_ll + split_tokens, static_cast<long long>(len)));

    // Scores come out in the exp2 domain: x = q'·k with q' = q·scale·log2 e, or through exp2_score
    // (softcap needs the plain scaled score).
    const bool fold = softcap <= 0.0f;
    const float qs = fold ? scale * attn::kLog2e : 1.0f;
    float qf[HC][E];
#pragma unroll
    for (int hc = 0; hc < HC; ++hc) {
        const T* qr = q + (static_cast<long long>(b) * hq + h0 + hc) * d + col;
#pragma unroll
        for (int e = 0; e < E; ++e) qf[hc][e] = hc < nh && col_ok ? load(qr + e) * qs : 0.0f;
    }

    float slope[HC];  // ALiBi slopes in exp2 units (unused without)
#pragma unroll
    for (int hc = 0; hc < HC; ++hc) slope[hc] = ALIBI && hc < nh ? alibi[h0 + hc] * attn::kLog2e : 0.0f;

    float m_run[HC], l_run[HC], acc[HC][E];
#pragma unroll
    for (int hc = 0; hc < HC; ++hc) {
        m_run[hc] = -INFINITY;
        l_run[hc] = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[hc][e] = 0.0f;
    }

    const long long row_stride = static_cast<long long>(hkv) * d;  // elements from one token slot to the next
    const T* kb = k_pool + static_cast<long long>(g) * d + col;
    const T* vb = v_pool + static_cast<long long>(g) * d + col;
    const int* pt = page_table + static_cast<long long>(b) * max_pages;
    // Token u of this lane group in the step starting at t0: t0 + u·GROUPS + mine (consecutive
    // groups take consecutive tokens: neighbouring rows of one page).
    const int mine = warp * TPW + gi;
    auto slot_of = [&](int t) { return t < end ? pt[t / page_size] * page_size + t % page_size : -1; };

    int slot[U];
#pragma unroll
    for (int u = 0; u < U; ++u) slot[u] = slot_of(begin + u * GROUPS + mine);

    for (int t0 = begin; t0 < end; t0 += STEP) {
        // All K and V loads of the step first (16 bytes each, read-only path).
        uint4 kw[U][W], vw[U][W];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const bool ok = slot[u] >= 0 && col_ok;
            const uint4* kr = reinterpret_cast<const uint4*>(kb + static_cast<long long>(slot[u]) * row_stride);
            const uint4* vr = reinterpret_cast<const uint4*>(vb + static_cast<long long>(slot[u]) * row_stride);
#pragma unroll
            for (int w = 0; w < W; ++w) {
                kw[u][w] = ok ? __ldg(kr + w) : make_uint4(0u, 0u, 0u, 0u);
                vw[u][w] = ok ? __ldg(vr + w) : make_uint4(0u, 0u, 0u, 0u);
            }
        }
        // The next step's page lookups, in flight under this step's math.
        int next[U];
#pragma unroll
        for (int u = 0; u < U; ++u) next[u] = slot_of(t0 + STEP + u * GROUPS + mine);

        // Scores: 8 FMAs per head, then the sum over the lane group.
        float x[U][HC];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            float kf[E];
            words_to_f32(kw[u], kf, static_cast<const T*>(nullptr));
#pragma unroll
            for (int hc = 0; hc < HC; ++hc) {
                float dot = 0.0f;
#pragma unroll
                for (int e = 0; e < E; ++e) dot = fmaf(qf[hc][e], kf[e], dot);
#pragma unroll
                for (int off = LPR / 2; off >= 1; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
                x[u][hc] = slot[u] < 0 ? -INFINITY : fold ? dot : exp2_score(dot, scale, softcap);
                if constexpr (ALIBI) {  // distance from the newest token (len − 1 ≥ t)
                    x[u][hc] -= slope[hc] * static_cast<float>(len - 1 - (t0 + u * GROUPS + mine));
                }
            }
        }

        // Online softmax over the U new scores of each head, then O += p·v.
        float m_use[HC];
#pragma unroll
        for (int hc = 0; hc < HC; ++hc) {
            float mx = m_run[hc];
#pragma unroll
            for (int u = 0; u < U; ++u) mx = fmaxf(mx, x[u][hc]);
            m_use[hc] = mx == -INFINITY ? 0.0f : mx;          // nothing seen yet: no NaN
            const float alpha = exp2f(m_run[hc] - m_use[hc]);  // 0 when m_run = -inf
            m_run[hc] = mx;
            l_run[hc] *= alpha;
#pragma unroll
            for (int e = 0; e < E; ++e) acc[hc][e] *= alpha;
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            float vf[E];
            words_to_f32(vw[u], vf, static_cast<const T*>(nullptr));
#pragma unroll
            for (int hc = 0; hc < HC; ++hc) {
                const float p = exp2f(x[u][hc] - m_use[hc]);  // 0 for a masked or missing token
                l_run[hc] += p;
#pragma unroll
                for (int e = 0; e < E; ++e) acc[hc][e] = fmaf(p, vf[e], acc[hc][e]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; ++u) slot[u] = next[u];
    }

    // Merge the warp's TPW lane groups (lanes that differ in the group bits hold the same columns).
#pragma unroll
    for (int off = LPR; off < 32; off *= 2) {
#pragma unroll
        for (int hc = 0; hc < HC; ++hc) {
            const float mo = __shfl_xor_sync(0xffffffffu, m_run[hc], off);
            const float lo_ = __shfl_xor_sync(0xffffffffu, l_run[hc], off);
            const float mm = fmaxf(m_run[hc], mo);
            const float fa = mm == -INFINITY ? 0.0f : exp2f(m_run[hc] - mm);  // 0 for an empty side
            const float fb = mm == -INFINITY ? 0.0f : exp2f(mo - mm);
#pragma unroll
            for (int e = 0; e < E; ++e) {
                const float ao = __shfl_xor_sync(0xffffffffu, acc[hc][e], off);
                acc[hc][e] = acc[hc][e] * fa + ao * fb;
            }
            l_run[hc] = l_run[hc] * fa + lo_ * fb;
            m_run[hc] = mm;
        }
    }
    // Each warp publishes (m, Σ, o unnormalised) per head.
    if (gi == 0) {
#pragma unroll
        for (int hc = 0; hc < HC; ++hc) {
            if (lane == 0) {
                sM[warp * HC + hc] = m_run[hc];
                sL[warp * HC + hc] = l_run[hc];
            }
#pragma unroll
            for (int e = 0; e < E; ++e) sO[(warp * HC + hc) * P + col + e] = acc[hc][e];
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nh * d; idx += blockDim.x) {
        const int hc = idx / d, dd = idx - (idx / d) * d;
        float m = -INFINITY;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) m = fmaxf(m, sM[w * HC + hc]);
        float l = 0.0f, val = 0.0f;
        if (m != -INFINITY) {
#pragma unroll
            for (int w = 0; w < WARPS; ++w) {
                const float f = exp2f(sM[w * HC + hc] - m);  // 0 for a warp that saw nothing
                l += sL[w * HC + hc] * f;
                val += sO[(w * HC + hc) * P + dd] * f;
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

// The row class P for a head dim (the smallest of 32, 64, 128, 256 that holds it), chosen at run
// time so one entry serves every D.
template <typename T, int HC, int WARPS, int U, bool ALIBI>
__device__ __forceinline__ void decode_any_d(const T* q, const T* k_pool, const T* v_pool, const int* page_table,
                                             const int* lens, T* out, float* lse, float* part_o, float* part_lse,
                                             int hq, int hkv, int d, int page_size, int max_pages, int num_splits,
                                             int split_tokens, int wl, float scale, float softcap, const float* alibi) {
#define SURPASS_DECODE_ARGS_ q, k_pool, v_pool, page_table, lens, out, lse, part_o, part_lse, hq, hkv, d, page_size, \
                            max_pages, num_splits, split_tokens, wl, scale, softcap, alibi
    if (d <= 32) {
        decode<T, HC, 32, WARPS, U, ALIBI>(SURPASS_DECODE_ARGS_);
    } else if (d <= 64) {
        decode<T, HC, 64, WARPS, U, ALIBI>(SURPASS_DECODE_ARGS_);
    } else if (d <= 128) {
        decode<T, HC, 128, WARPS, U, ALIBI>(SURPASS_DECODE_ARGS_);
    } else {
        decode<T, HC, 256, WARPS, U, ALIBI>(SURPASS_DECODE_ARGS_);
    }
#undef SURPASS_DECODE_ARGS_
}

}  // namespace surpass::paged_decode

#define SURPASS_PAGED_DECODE(DT, T, HC)                                                                         \
    extern "C" __global__ void __launch_bounds__(32 * surpass::paged_decode::kWarps,                           \
                                                 (surpass::paged_decode::kMinBlocks<T, HC>))              \
        surpass_attention_paged_decode_##DT##_h##HC(                                                            \
            const T* q, const T* k_pool, const T* v_pool, const int* page_table, const int* lens, T* out,       \
            float* lse, float* part_o, float* part_lse, int hq, int hkv, int d, int page_size, int max_pages,   \
            int num_splits, int split_tokens, int wl, float scale, float softcap) {                             \
        surpass::paged_decode::decode_any_d<T, HC, surpass::paged_decode::kWarps, surpass::paged_decode::kUnrollFor<T>, false>( \
            q, k_pool, v_pool, page_table, lens, out, lse, part_o, part_lse, hq, hkv, d, page_size, max_pages,  \
            num_splits, split_tokens, wl, scale, softcap, nullptr);                                             \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(32 * surpass::paged_decode::kWarps,                           \
                                                 (surpass::paged_decode::kMinBlocks<T, HC>))              \
        surpass_attention_paged_decode_alibi_##DT##_h##HC(                                                      \
            const T* q, const T* k_pool, const T* v_pool, const int* page_table, const int* lens, T* out,       \
            float* lse, float* part_o, float* part_lse, int hq, int hkv, int d, int page_size, int max_pages,   \
            int num_splits, int split_tokens, int wl, float scale, float softcap, const float* alibi) {          \
        surpass::paged_decode::decode_any_d<T, HC, surpass::paged_decode::kWarps, surpass::paged_decode::kUnrollFor<T>, true>( \
            q, k_pool, v_pool, page_table, lens, out, lse, part_o, part_lse, hq, hkv, d, page_size, max_pages,  \
            num_splits, split_tokens, wl, scale, softcap, alibi);                                               \
    }

#define SURPASS_PAGED_DECODE_ALL(DT, T) \
    SURPASS_PAGED_DECODE(DT, T, 1)      \
    SURPASS_PAGED_DECODE(DT, T, 2)      \
    SURPASS_PAGED_DECODE(DT, T, 4)      \
    SURPASS_PAGED_DECODE(DT, T, 8)

SURPASS_PAGED_DECODE_ALL(f32, float)
SURPASS_PAGED_DECODE_ALL(f16, __half)
SURPASS_PAGED_DECODE_ALL(bf16, __nv_bfloat16)
