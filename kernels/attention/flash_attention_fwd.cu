// flash_attention_fwd.cu — fused attention prefill (FlashAttention-2 style), dense and varlen.
//
//   o[t, h, :] = Σ_j softmax_j(S[t, h, j]) · v[j, h / (Hq/Hkv), :],  S = scale·q·kᵀ (softcap optional)
//   lse[·, h, t] = ln Σ_j e^S (natural log, fp32), -inf and o = 0 for a row that sees no key.
// Shapes (FlashAttention's layout, rows are tokens): q, o [tokensQ, Hq, D]; k, v [tokensK, Hkv, D].
// One code path for dense and varlen batches:
//   dense  (cu_q = cu_k = null): batch b holds query tokens [b·nq, (b+1)·nq), keys [b·nk, (b+1)·nk);
//          lse [B, Hq, nq].
//   varlen (cu_q, cu_k device int[B+1]): sequence b holds queries [cu_q[b], cu_q[b+1]) and keys
//          [cu_k[b], cu_k[b+1]); nq/nk are only the maxima (for the grid); lse [Hq, total_q].
// Masks: (wl, wr) as in attention_common.cuh, causal already folded into wr by the host; masks are
// aligned per sequence (bottom-right). GQA: q-head h reads kv-head h / (Hq / Hkv).
//
// Variants
//   surpass_attention_flash_fwd_<f16|bf16>_d<P>, P ∈ {32, 64, 80, 96, 128, 256}: tensor cores.
//     P is the head dim padded to a multiple of 16 (D = 72 runs the d80 kernel); D ≤ P is a runtime
//     argument: columns [D, P) are zero-filled in shared memory on load and never stored.
//     Needs sm_80+ (cp.async, ldmatrix, mma.sync m16n8k16), D a multiple of 8 and 16-byte aligned
//     q, k, v (the host checks; otherwise it runs the simple kernel).
//   surpass_attention_flash_fwd_simple_<f32|f16|bf16>: plain fp32 FMA, any D ≤ 256 and any
//     alignment; the fp32 path, and a cross-check for the tensor-core kernels
//     (-Dsurpass.attention.simple=true routes fp16/bf16 here too).
//
// Tensor-core kernel (per block: BM = 64 query rows of one (sequence, q-head); 4 warps × 16 rows):
//   - the Q tile goes to shared memory with cp.async and then, for P ≤ 128, into registers as mma
//     A fragments (ldmatrix) for the whole kernel; for P = 256 it stays in shared memory and each
//     k-step reloads its fragment (registers: O alone is 128 floats per thread there).
//   - K/V tiles of BN keys (64; 32 for P = 256) stream through a 2-stage cp.async ring; the loads
//     of tile n+1 are in flight while tile n is computed. Rows of shared memory are padded by 16
//     bytes (stride P+8 elements), which makes every 8-row ldmatrix phase bank-conflict free.
//   - S = Q·Kᵀ with mma.sync m16n8k16 (fp32 accumulate), online softmax in the exp2 domain on the
//     fragments (a row lives in one quad of lanes: two xor-shuffles reduce it), P is converted to
//     fp16/bf16 in registers and becomes the A operand of O += P·V (V through ldmatrix.trans).
//   - Only key tiles that intersect some row's [lo, hi] are visited (causal/window skipping); a
//     tile is masked element-wise only when some row's bound cuts it or it crosses the end of the
//     keys. Zero-filled out-of-range K/V rows keep masked products finite (0, never NaN).
//   - The row sum is kept per thread and reduced over the quad once at the end.
// Launch: grid (ceil(max nq / 64), Hq, B) (B ≤ 65535 per launch: the host offsets cu_q/cu_k to
// launch larger batches in chunks), block 128, dynamic shared memory
// (64 + 4·BN)·(P + 8)·sizeof(T) bytes (P = 128: 87,040; P = 256: 101,376).
//
// Simple kernel (per block: 16 query rows of one (sequence, q-head); warp w owns rows 4w..4w+3):
// K/V tiles of 32 keys in fp32 shared memory; lane j scores key j against the warp's 4 rows,
// the warp updates the online softmax, then every lane accumulates the output dims lane + 32c.
// Launch: grid (ceil(max nq / 16), Hq, B), block 128, dynamic shared memory
// (16·D + 32·(D+1) + 32·D + 512)·4 bytes.
#include "attention/attention_common.cuh"
#include "common/reduce.cuh"

namespace surpass::flash_fwd {

using attn::exp2_score;
using attn::key_hi;
using attn::key_lo;
using attn::row_lse;

// ---- PTX wrappers (sm_80+) ----------------------------------------------------------------------

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16-byte async copy global → shared; when !valid nothing is read and the 16 bytes become 0.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    const int src_bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still pending.
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Four 8×8 b16 matrices; lane l gives the row address of matrix l/8, row l%8.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p))
                 : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p))
                 : "memory");
}

// d += a·b for one m16n8k16 tile: a row-major 16×16, b column-major 16×8, fp32 accumulators.
// Fragments (g = lane/4, t = lane%4): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);
// b0 (k = 2t..2t+1, n = g), b1 (k = 2t+8.., n = g); d0,d1 (g, 2t..2t+1), d2,d3 (g+8, 2t..2t+1).
template <typename T> struct Mma;
template <> struct Mma<__half> {
    static __device__ __forceinline__ void run(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};
template <> struct Mma<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

// Two fp32 values as one 32-bit register of T pairs (lo = a: the lower column index).
template <typename T> __device__ __forceinline__ unsigned pack2(float a, float b);
template <> __device__ __forceinline__ unsigned pack2<__half>(float a, float b) {
    const __half2 v = __floats2half2_rn(a, b);
    return *reinterpret_cast<const unsigned*>(&v);
}
template <> __device__ __forceinline__ unsigned pack2<__nv_bfloat16>(float a, float b) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const unsigned*>(&v);
}
// Stores (a, b) rounded to T at p (4-byte aligned).
template <typename T> __device__ __forceinline__ void store2(T* p, float a, float b) {
    *reinterpret_cast<unsigned*>(p) = pack2<T>(a, b);
}

// ---- tensor-core kernel -------------------------------------------------------------------------

template <typename T, int P, int BN_> struct Cfg {
    static constexpr int BM = 64;           // query rows per block (16 per warp)
    static constexpr int BN = BN_;          // keys per tile
    static constexpr int THREADS = 128;     // 4 warps
    static constexpr int SROW = P + 8;      // shared row stride in elements (+16 bytes)
    static constexpr bool Q_IN_REGS = P <= 128;
    static constexpr int KD = P / 16;       // k-steps of Q·Kᵀ
    static constexpr int NTN = BN / 8;      // n-tiles of S
    static constexpr int KN = BN / 16;      // k-steps of P·V
    static constexpr int NTD = P / 8;       // n-tiles of O
    static constexpr int CHUNKS = P / 8;    // 16-byte chunks per row
    static constexpr int SMEM_BYTES = (BM + 4 * BN) * SROW * static_cast<int>(sizeof(T));
    static_assert(P % 16 == 0 && BN % 16 == 0, "tile sizes must be multiples of 16");
};

// Async-loads rows [0, ROWS) of a tile into s (ROWS × SROW): tile row r is token tok0 + r, head
// `head` of a [tokens, heads, d] tensor. Rows r >= valid and columns >= d are zero-filled.
template <typename T, int P, int ROWS>
__device__ __forceinline__ void load_tile(T* s, const T* g, long long tok0, int valid, int heads, int head, int d) {
    constexpr int CH = P / 8, SROW = P + 8;
    for (int idx = threadIdx.x; idx < ROWS * CH; idx += 128) {
        const int r = idx / CH, c = idx - (idx / CH) * CH;
        const bool ok = r < valid && c * 8 < d;  // d is a multiple of 8: a chunk is all in or all out
        const T* src = ok ? g + ((tok0 + r) * heads + head) * static_cast<long long>(d) + c * 8 : g;
        cp_async16(s + r * SROW + c * 8, src, ok);
    }
}

template <typename T, int P, int BN>
__device__ __forceinline__ void flash_fwd_mma(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                              T* __restrict__ o, float* __restrict__ lse, const int* __restrict__ cu_q,
                                              const int* __restrict__ cu_k, int nq, int nk, int total_q, int hq, int hkv,
                                              int d, float scale, float softcap, int wl, int wr) {
    using C = Cfg<T, P, BN>;
    extern __shared__ __align__(16) unsigned char flash_smem[];
    T* sQ = reinterpret_cast<T*>(flash_smem);  // [BM][SROW]
    T* sK = sQ + C::BM * C::SROW;              // [2][BN][SROW]
    T* sV = sK + 2 * BN * C::SROW;             // [2][BN][SROW]

    const int b = blockIdx.z, h = blockIdx.y;
    const long long q0 = cu_q ? cu_q[b] : static_cast<long long>(b) * nq;
    const int sq = cu_q ? cu_q[b + 1] - cu_q[b] : nq;
    const long long k0 = cu_k ? cu_k[b] : static_cast<long long>(b) * nk;
    const int sk = cu_k ? cu_k[b + 1] - cu_k[b] : nk;
    const int m0 = blockIdx.x * C::BM;
    if (m0 >= sq) return;  // block-uniform: before any barrier
    const int g = h / (hq / hkv);

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gid = lane >> 2, tig = lane & 3;
    const int m_last = min(m0 + C::BM, sq) - 1;  // last real row of the block
    // Keys any row of the block sees: [n_lo, n_hi]; tiles inside [full_lo, full_hi] need no mask.
    const int n_lo = key_lo(m0, sq, sk, wl), n_hi = key_hi(m_last, sq, sk, wr);
    const int full_lo = key_lo(m_last, sq, sk, wl), full_hi = key_hi(m0, sq, sk, wr);
    // This thread's two rows (fragment rows gid and gid + 8 of the warp's 16).
    const int row[2] = {m0 + warp * 16 + gid, m0 + warp * 16 + gid + 8};
    const int lo[2] = {key_lo(row[0], sq, sk, wl), key_lo(row[1], sq, sk, wl)};
    const int hi[2] = {key_hi(row[0], sq, sk, wr), key_hi(row[1], sq, sk, wr)};

    float acc[C::NTD][4];
#pragma unroll
    for (int t = 0; t < C::NTD; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY};  // running row max of x (exp2 units)
    float l_run[2] = {0.0f, 0.0f};            // this thread's part of Σ 2^(x - m)

    const int nb_begin = n_lo / BN;
    const int nb_end = n_hi < n_lo ? nb_begin : n_hi / BN + 1;

    if (nb_begin < nb_end) {
        load_tile<T, P, C::BM>(sQ, q, q0 + m0, sq - m0, hq, h, d);
        load_tile<T, P, BN>(sK, k, k0 + static_cast<long long>(nb_begin) * BN, sk - nb_begin * BN, hkv, g, d);
        load_tile<T, P, BN>(sV, v, k0 + static_cast<long long>(nb_begin) * BN, sk - nb_begin * BN, hkv, g, d);
        cp_async_commit();

        unsigned qf[C::Q_IN_REGS ? C::KD : 1][4];
        // ldmatrix address of this lane for the warp's 16×16 A block at column c0 of sQ.
        const T* q_frag_base = sQ + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * C::SROW + (lane >> 4) * 8;

        for (int nb = nb_begin; nb < nb_end; ++nb) {
            const int stage = (nb - nb_begin) & 1;
            if (nb + 1 < nb_end) {
                const long long t0 = k0 + static_cast<long long>(nb + 1) * BN;
                const int valid = sk - (nb + 1) * BN;
                load_tile<T, P, BN>(sK + (stage ^ 1) * BN * C::SROW, k, t0, valid, hkv, g, d);
                load_tile<T, P, BN>(sV + (stage ^ 1) * BN * C::SROW, v, t0, valid, hkv, g, d);
            }
            cp_async_commit();    // possibly empty: keeps the group count uniform
            cp_async_wait<1>();   // tile nb (and Q) have landed for this thread
            __syncthreads();      // ... and for every thread
            const T* cK = sK + stage * BN * C::SROW;
            const T* cV = sV + stage * BN * C::SROW;

            if constexpr (C::Q_IN_REGS) {
                if (nb == nb_begin) {
#pragma unroll
                    for (int ks = 0; ks < C::KD; ++ks) ldmatrix_x4(qf[ks], q_frag_base + ks * 16);
                }
            }

            // S = Q·Kᵀ: 16 rows × BN keys per warp.
            float s[C::NTN][4];
#pragma unroll
            for (int t = 0; t < C::NTN; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < C::KD; ++ks) {
                unsigned a[4];
                if constexpr (C::Q_IN_REGS) {
                    a[0] = qf[ks][0], a[1] = qf[ks][1], a[2] = qf[ks][2], a[3] = qf[ks][3];
                } else {
                    ldmatrix_x4(a, q_frag_base + ks * 16);
                }
#pragma unroll
                for (int j = 0; j < C::NTN / 2; ++j) {
                    // matrices: keys 16j+0..7 × d 16ks+0..7 (b0 of n-tile 2j), × d +8..15 (b1),
                    //           keys 16j+8..15 × d +0..7 (b0 of n-tile 2j+1), × d +8..15 (b1).
                    unsigned bk[4];
                    ldmatrix_x4(bk, cK + (j * 16 + (lane & 7) + (lane >> 4) * 8) * C::SROW + ks * 16 + ((lane >> 3) & 1) * 8);
                    Mma<T>::run(s[2 * j], a, bk[0], bk[1]);
                    Mma<T>::run(s[2 * j + 1], a, bk[2], bk[3]);
                }
            }

            // Scores in exp2 units, masked where needed.
            const int n0 = nb * BN;
            const bool need_mask = n0 < full_lo || n0 + BN - 1 > full_hi;
#pragma unroll
            for (int t = 0; t < C::NTN; ++t) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    float x = exp2_score(s[t][e], scale, softcap);
                    if (need_mask) {
                        const int j = n0 + t * 8 + tig * 2 + (e & 1);
                        const int r = e >> 1;
                        if (j < lo[r] || j > hi[r]) x = -INFINITY;
                    }
                    s[t][e] = x;
                }
            }

            // Online softmax per row; a row's BN scores sit in the 4 lanes of one quad.
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                float mx = -INFINITY;
#pragma unroll
                for (int t = 0; t < C::NTN; ++t) mx = fmaxf(mx, fmaxf(s[t][2 * r], s[t][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m_run[r], mx);
                const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // all masked so far: no NaN
                const float alpha = exp2f(m_run[r] - m_use);             // 0 when m_run = -inf
                m_run[r] = m_new;
                float sum = 0.0f;
#pragma unroll
                for (int t = 0; t < C::NTN; ++t) {
                    const float p0 = exp2f(s[t][2 * r] - m_use), p1 = exp2f(s[t][2 * r + 1] - m_use);
                    s[t][2 * r] = p0;
                    s[t][2 * r + 1] = p1;
                    sum += p0 + p1;
                }
                l_run[r] = l_run[r] * alpha + sum;
#pragma unroll
                for (int t = 0; t < C::NTD; ++t) {
                    acc[t][2 * r] *= alpha;
                    acc[t][2 * r + 1] *= alpha;
                }
            }

            // O += P·V: the S accumulators of n-tiles 2kk, 2kk+1 are the A fragment of k-step kk.
#pragma unroll
            for (int kk = 0; kk < C::KN; ++kk) {
                const unsigned a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                       pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                       pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int j = 0; j < C::NTD / 2; ++j) {
                    // matrices (transposed on load): keys 16kk+0..7 × d 16j+0..7 (b0 of n-tile 2j),
                    // keys +8..15 × d 16j+0..7 (b1), keys +0..7 × d 16j+8..15 (b0 of 2j+1), +8..15 (b1).
                    unsigned bv[4];
                    ldmatrix_x4_trans(bv, cV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * C::SROW + j * 16 + (lane >> 4) * 8);
                    Mma<T>::run(acc[2 * j], a, bv[0], bv[1]);
                    Mma<T>::run(acc[2 * j + 1], a, bv[2], bv[3]);
                }
            }
            __syncthreads();  // the next iteration's loads overwrite this stage
        }
    }

    // Epilogue: normalise, store rows < sq (columns < d), LSE from the quad's first lane.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float l = l_run[r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        const float inv = m_run[r] == -INFINITY ? 0.0f : 1.0f / l;
        if (row[r] < sq) {
            T* orow = o + ((q0 + row[r]) * hq + h) * static_cast<long long>(d);
#pragma unroll
            for (int t = 0; t < C::NTD; ++t) {
                const int col = t * 8 + tig * 2;
                if (col < d) store2(orow + col, acc[t][2 * r] * inv, acc[t][2 * r + 1] * inv);
            }
            if (lse != nullptr && tig == 0) {
                const long long li = cu_q ? static_cast<long long>(h) * total_q + q0 + row[r]
                                          : (static_cast<long long>(b) * hq + h) * nq + row[r];
                lse[li] = row_lse(m_run[r], l);
            }
        }
    }
}

// ---- simple kernel (fp32 FMA, every dtype) ----------------------------------------------------------

constexpr int S_BM = 16, S_BN = 32, S_ROWS = 4, S_MAXC = 8;  // S_ROWS rows per warp; D ≤ 32·S_MAXC

template <typename T>
__device__ __forceinline__ void flash_fwd_simple(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                 T* __restrict__ o, float* __restrict__ lse, const int* __restrict__ cu_q,
                                                 const int* __restrict__ cu_k, int nq, int nk, int total_q, int hq,
                                                 int hkv, int d, float scale, float softcap, int wl, int wr) {
    extern __shared__ __align__(16) float simple_smem[];
    const int kstride = d + 1;                    // odd: lanes reading different keys hit different banks
    float* sQ = simple_smem;                      // [S_BM][d]
    float* sK = sQ + S_BM * d;                    // [S_BN][d + 1]
    float* sV = sK + S_BN * kstride;              // [S_BN][d]
    float* sP = sV + S_BN * d;                    // [4 warps][S_ROWS][S_BN]

    const int b = blockIdx.z, h = blockIdx.y;
    const long long q0 = cu_q ? cu_q[b] : static_cast<long long>(b) * nq;
    const int sq = cu_q ? cu_q[b + 1] - cu_q[b] : nq;
    const long long k0 = cu_k ? cu_k[b] : static_cast<long long>(b) * nk;
    const int sk = cu_k ? cu_k[b + 1] - cu_k[b] : nk;
    const int m0 = blockIdx.x * S_BM;
    if (m0 >= sq) return;  // block-uniform
    const int g = h / (hq / hkv);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    for (int idx = threadIdx.x; idx < S_BM * d; idx += blockDim.x) {
        const int r = idx / d, c = idx - (idx / d) * d;
        sQ[idx] = m0 + r < sq ? load(q + ((q0 + m0 + r) * hq + h) * static_cast<long long>(d) + c) : 0.0f;
    }
    int lo[S_ROWS], hi[S_ROWS];
#pragma unroll
    for (int r = 0; r < S_ROWS; ++r) {
        lo[r] = key_lo(m0 + warp * S_ROWS + r, sq, sk, wl);
        hi[r] = key_hi(m0 + warp * S_ROWS + r, sq, sk, wr);
    }
    const int m_last = min(m0 + S_BM, sq) - 1;
    const int n_lo = key_lo(m0, sq, sk, wl), n_hi = key_hi(m_last, sq, sk, wr);

    float acc[S_ROWS][S_MAXC], m_run[S_ROWS], l_run[S_ROWS];
#pragma unroll
    for (int r = 0; r < S_ROWS; ++r) {
        m_run[r] = -INFINITY;
        l_run[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < S_MAXC; ++c) acc[r][c] = 0.0f;
    }

    if (n_lo <= n_hi) {
        for (int n0 = n_lo - n_lo % S_BN; n0 <= n_hi; n0 += S_BN) {
            __syncthreads();  // sQ written (first tile); the previous tile is consumed
            for (int idx = threadIdx.x; idx < S_BN * d; idx += blockDim.x) {
                const int j = idx / d, c = idx - (idx / d) * d;
                const bool ok = n0 + j < sk;
                const long long off = ((k0 + n0 + j) * hkv + g) * static_cast<long long>(d) + c;
                sK[j * kstride + c] = ok ? load(k + off) : 0.0f;
                sV[j * d + c] = ok ? load(v + off) : 0.0f;
            }
            __syncthreads();
            const int key = n0 + lane;
            float* myP = sP + warp * S_ROWS * S_BN;
#pragma unroll
            for (int r = 0; r < S_ROWS; ++r) {
                const float* qr = sQ + (warp * S_ROWS + r) * d;
                const float* kr = sK + lane * kstride;
                float dot = 0.0f;
                for (int c = 0; c < d; ++c) dot = fmaf(qr[c], kr[c], dot);
                float x = exp2_score(dot, scale, softcap);
                if (key < lo[r] || key > hi[r]) x = -INFINITY;  // hi <= sk - 1 also drops keys past the end
                const float m_new = fmaxf(m_run[r], warp_max(x));
                const float m_use = m_new == -INFINITY ? 0.0f : m_new;
                const float alpha = exp2f(m_run[r] - m_use);
                const float p = exp2f(x - m_use);
                m_run[r] = m_new;
                l_run[r] = l_run[r] * alpha + p;
#pragma unroll
                for (int c = 0; c < S_MAXC; ++c) acc[r][c] *= alpha;
                myP[r * S_BN + lane] = p;
            }
            __syncwarp();
            for (int j = 0; j < S_BN; ++j) {
#pragma unroll
                for (int c = 0; c < S_MAXC; ++c) {
                    const int dd = lane + 32 * c;
                    if (dd < d) {
                        const float vv = sV[j * d + dd];
#pragma unroll
                        for (int r = 0; r < S_ROWS; ++r) acc[r][c] = fmaf(myP[r * S_BN + j], vv, acc[r][c]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < S_ROWS; ++r) {
        const float l = warp_sum(l_run[r]);
        const int i = m0 + warp * S_ROWS + r;
        if (i < sq) {
            const float inv = m_run[r] == -INFINITY ? 0.0f : 1.0f / l;
            T* orow = o + ((q0 + i) * hq + h) * static_cast<long long>(d);
#pragma unroll
            for (int c = 0; c < S_MAXC; ++c) {
                const int dd = lane + 32 * c;
                if (dd < d) store(orow + dd, acc[r][c] * inv);
            }
            if (lse != nullptr && lane == 0) {
                const long long li = cu_q ? static_cast<long long>(h) * total_q + q0 + i
                                          : (static_cast<long long>(b) * hq + h) * nq + i;
                lse[li] = row_lse(m_run[r], l);
            }
        }
    }
}

}  // namespace surpass::flash_fwd

#define SURPASS_FLASH_FWD_PARAMS(T)                                                                          \
    const T *q, const T *k, const T *v, T *o, float *lse, const int *cu_q, const int *cu_k, int nq, int nk,  \
        int total_q, int hq, int hkv, int d, float scale, float softcap, int wl, int wr
#define SURPASS_FLASH_FWD_ARGS q, k, v, o, lse, cu_q, cu_k, nq, nk, total_q, hq, hkv, d, scale, softcap, wl, wr

#define SURPASS_FLASH_FWD_MMA(DT, T, P, BN)                                                                  \
    extern "C" __global__ void __launch_bounds__(128) surpass_attention_flash_fwd_##DT##_d##P(               \
        SURPASS_FLASH_FWD_PARAMS(T)) {                                                                       \
        surpass::flash_fwd::flash_fwd_mma<T, P, BN>(SURPASS_FLASH_FWD_ARGS);                                 \
    }

SURPASS_FLASH_FWD_MMA(f16, __half, 32, 64)
SURPASS_FLASH_FWD_MMA(f16, __half, 64, 64)
SURPASS_FLASH_FWD_MMA(f16, __half, 80, 64)
SURPASS_FLASH_FWD_MMA(f16, __half, 96, 64)
SURPASS_FLASH_FWD_MMA(f16, __half, 128, 64)
SURPASS_FLASH_FWD_MMA(f16, __half, 256, 32)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 32, 64)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 64, 64)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 80, 64)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 96, 64)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 128, 64)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 256, 32)

#define SURPASS_FLASH_FWD_SIMPLE(DT, T)                                                                      \
    extern "C" __global__ void __launch_bounds__(128) surpass_attention_flash_fwd_simple_##DT(               \
        SURPASS_FLASH_FWD_PARAMS(T)) {                                                                       \
        surpass::flash_fwd::flash_fwd_simple<T>(SURPASS_FLASH_FWD_ARGS);                                     \
    }

SURPASS_FLASH_FWD_SIMPLE(f32, float)
SURPASS_FLASH_FWD_SIMPLE(f16, __half)
SURPASS_FLASH_FWD_SIMPLE(bf16, __nv_bfloat16)
