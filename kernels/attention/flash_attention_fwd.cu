// flash_attention_fwd.cu — fused attention prefill (FlashAttention-2 style), dense and varlen.
//
//   o[t, h, :] = Σ_j softmax_j(S[t, h, j]) · v[j, h / (Hq/Hkv), :],  S = scale·q·kᵀ (softcap optional)
//   ALiBi (the _alibi_ entries, alibi = fp32 slopes [Hq]): S[t, h, j] −= alibi[h]·|i + sk − sq − j|
//   after the softcap, i the row within its sequence (FlashAttention's alibi_slopes). Separate
//   entries (a template flag) so that the kernels without it keep their code and registers; with
//   slopes the scale is not folded into the exponent.
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
//   surpass_attention_flash_fwd_alibi_<f16|bf16>_d<P>, surpass_attention_flash_fwd_simple_alibi_<dt>:
//     the same with ALiBi slopes (one more parameter, alibi).
//   surpass_attention_flash_fwd_simple_<f32|f16|bf16>: plain fp32 FMA, any D ≤ 256 and any
//     alignment; the fp32 path, and a cross-check for the tensor-core kernels
//     (-Dsurpass.attention.simple=true routes fp16/bf16 here too).
//
// Tensor-core kernel (per block: BM query rows of one (sequence, q-head); WARPS warps, each owning
// MT consecutive 16-row m-tiles; the shape per head dim is DefaultTile<P> below, BM = 128 (4 warps
// × 32 rows) except P = 256 (BM = 64, 4 warps × 16 rows)):
//   - the Q tile goes to shared memory with cp.async; with QREG (P ≤ 64) it then moves into
//     registers as mma A fragments (ldmatrix) for the whole kernel, else each k-step reloads its
//     fragments from shared memory (registers: at P = 128 and MT = 2, O alone is 128 floats).
//   - K and V tiles of BN keys stream through separate STAGES-deep cp.async rings: V(n) is issued
//     before Q·K(n)ᵀ and K(n+STAGES) before P·V(n) (schedule at flash_fwd_mma). Rows of shared
//     memory are padded by 16 bytes (stride P+8 elements), which makes every 8-row ldmatrix phase
//     bank-conflict free.
//   - S = Q·Kᵀ with mma.sync m16n8k16 (fp32 accumulate), each K/V fragment feeding the warp's MT
//     m-tiles; online softmax in the exp2 domain on the fragments (a row lives in one quad of
//     lanes: two xor-shuffles reduce it), with scale·log2(e) folded into the exponent's FFMA; P is
//     converted to fp16/bf16 in registers and becomes the A operand of O += P·V (V through
//     ldmatrix.trans).
//   - Only key tiles that intersect some row's [lo, hi] are loaded (causal/window skipping), and a
//     warp skips the math of a loaded tile none of its rows sees; a tile is masked element-wise
//     only when one of the warp's row bounds cuts it or it crosses the end of the keys. Zero-filled
//     out-of-range K/V rows keep masked products finite (0, never NaN).
//   - The row sum is kept per thread and reduced over the quad once at the end.
// Launch: grid (ceil(max nq / BM), Hq, B) (B ≤ 65535 per launch: the host offsets cu_q/cu_k to
// launch larger batches in chunks), block 32·WARPS, dynamic shared memory
// (BM + 2·STAGES·BN)·(P + 8)·sizeof(T) bytes (P = 128: 69,632; P = 256: 101,376).
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

// Stores (a, b) rounded to T at p (4-byte aligned).
template <typename T> __device__ __forceinline__ void store2(T* p, float a, float b) {
    *reinterpret_cast<unsigned*>(p) = pack2<T>(a, b);
}

// ---- tensor-core kernel -------------------------------------------------------------------------

// One tile configuration of the tensor-core kernel (each choice is one constant, so a benchmark can
// instantiate variants: benchmarks/gpu/attention_variants.cu).
//   WARPS  warps per block; MT  16-row m-tiles per warp (BM = 16·MT·WARPS query rows per block);
//   BN     keys per K/V tile; STAGES  K and V buffers each (ring depth); QREG  Q fragments kept in
//   registers for the whole kernel (else reloaded from shared memory every k-step).
// MT = 2 lets each K/V fragment read from shared memory (ldmatrix) feed two mma instead of one,
// which halves the shared-memory traffic per mma: with MT = 1 that traffic, not the tensor cores,
// bounds the kernel.
template <int WARPS_, int MT_, int BN_, int STAGES_, bool QREG_> struct Tile {
    static constexpr int WARPS = WARPS_, MT = MT_, BN = BN_, STAGES = STAGES_;
    static constexpr bool QREG = QREG_;
};

// The configuration each padded head dim runs. CudaAttention.java mirrors it (mmaBlockM, mmaThreads,
// mmaBlockN, mmaStages, mmaSharedBytes): change both together. Shared memory stays ≤ 101,376 bytes
// (the sm_86/89 opt-in limit). P = 128 with MT = 2 holds 128 O accumulators per thread, so Q is
// reread from shared memory.
template <int P> struct DefaultTile;
template <> struct DefaultTile<32> : Tile<4, 2, 64, 2, true> {};
template <> struct DefaultTile<64> : Tile<4, 2, 64, 2, true> {};
template <> struct DefaultTile<80> : Tile<4, 2, 64, 2, false> {};
template <> struct DefaultTile<96> : Tile<4, 2, 64, 2, false> {};
// d128: FlashAttention-2's shape (BN 64, one stage: V(n) is loaded during Q·K(n)ᵀ and K(n+1) during
// P·V(n)) measured fastest on an H200 (attention_variants: 249 TFLOP/s vs 213 for BN 32 × 2 stages,
// B16 H16 N2048 bf16 non-causal; ptxas reports a few bytes of spill, which cost less than the
// halved K/V tiles).
template <> struct DefaultTile<128> : Tile<4, 2, 64, 1, false> {};
template <> struct DefaultTile<256> : Tile<4, 1, 32, 2, false> {};

template <typename T, int P, class TL> struct Cfg {
    static constexpr int WARPS = TL::WARPS, MT = TL::MT, BN = TL::BN, STAGES = TL::STAGES;
    static constexpr int BM = 16 * MT * WARPS;  // query rows per block
    static constexpr int THREADS = 32 * WARPS;
    static constexpr int SROW = P + 8;          // shared row stride in elements (+16 bytes)
    static constexpr bool QREG = TL::QREG;
    static constexpr int KD = P / 16;           // k-steps of Q·Kᵀ
    static constexpr int NTN = BN / 8;          // n-tiles of S
    static constexpr int KN = BN / 16;          // k-steps of P·V
    static constexpr int NTD = P / 8;           // n-tiles of O
    static constexpr int SMEM_BYTES = (BM + 2 * STAGES * BN) * SROW * static_cast<int>(sizeof(T));
    static_assert(P % 16 == 0 && BN % 16 == 0, "tile sizes must be multiples of 16");
    static_assert(STAGES >= 1 && STAGES <= 4, "1 to 4 stages");
};

// Async-loads rows [0, ROWS) of a tile into s (ROWS × (P+8)) with THREADS threads: tile row r is
// token tok0 + r, head `head` of a [tokens, heads, d] tensor. Rows r >= valid and columns >= d
// are zero-filled.
template <typename T, int P, int ROWS, int THREADS>
__device__ __forceinline__ void load_tile(T* s, const T* g, long long tok0, int valid, int heads, int head, int d) {
    constexpr int CH = P / 8, SROW = P + 8;
#pragma unroll
    for (int idx = threadIdx.x; idx < ROWS * CH; idx += THREADS) {
        const int r = idx / CH, c = idx - (idx / CH) * CH;
        const bool ok = r < valid && c * 8 < d;  // d is a multiple of 8: a chunk is all in or all out
        const T* src = ok ? g + ((tok0 + r) * heads + head) * static_cast<long long>(d) + c * 8 : g;
        cp_async16(s + r * SROW + c * 8, src, ok);
    }
}

// Pipeline (STAGES = S buffers for K and S for V; tile n uses buffer n % S):
//   prologue  issue K0 (with Q), V0, K1, V1, …, K(S-1)   one cp.async group each, in this order
//   tile n    wait K(n); barrier; issue V(n+S-1)         the barrier also ends P·V(n-1) in every warp
//             S = Q·K(n)ᵀ, online softmax
//             wait V(n); barrier; issue K(n+S)           the barrier also ends Q·K(n)ᵀ in every warp
//             O += P·V(n)
// Each wait leaves the 2S-2 younger groups in flight (groups past the last tile are empty commits,
// so the count is uniform). S = 1 is FlashAttention-2's schedule: V loads under Q·Kᵀ, the next K
// under P·V.
template <typename T, int P, class TL, bool ALIBI>
__device__ __forceinline__ void flash_fwd_mma(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                              T* __restrict__ o, float* __restrict__ lse, const int* __restrict__ cu_q,
                                              const int* __restrict__ cu_k, int nq, int nk, int total_q, int hq, int hkv,
                                              int d, float scale, float softcap, int wl, int wr,
                                              const float* __restrict__ alibi) {
    using C = Cfg<T, P, TL>;
    constexpr int MT = C::MT, BN = C::BN, ST = C::STAGES;
    extern __shared__ __align__(16) unsigned char flash_smem[];
    T* sQ = reinterpret_cast<T*>(flash_smem);  // [BM][SROW]
    T* sK = sQ + C::BM * C::SROW;              // [ST][BN][SROW]
    T* sV = sK + ST * BN * C::SROW;            // [ST][BN][SROW]

    const int b = blockIdx.z, h = blockIdx.y;
    const long long q0 = cu_q ? cu_q[b] : static_cast<long long>(b) * nq;
    const int sq = cu_q ? cu_q[b + 1] - cu_q[b] : nq;
    const long long k0 = cu_k ? cu_k[b] : static_cast<long long>(b) * nk;
    const int sk = cu_k ? cu_k[b + 1] - cu_k[b] : nk;
    // Row blocks in reverse order: under a causal mask the last rows see the most keys, and the
    // longest blocks should start first (less idle tail at the end of the grid).
    const int m0 = (gridDim.x - 1 - blockIdx.x) * C::BM;
    if (m0 >= sq) return;  // block-uniform: before any barrier
    const int g = h / (hq / hkv);

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gid = lane >> 2, tig = lane & 3;
    const int m_last = min(m0 + C::BM, sq) - 1;  // last real row of the block
    // Keys any row of the block sees: [n_lo, n_hi] (which tiles the block loads).
    const int n_lo = key_lo(m0, sq, sk, wl), n_hi = key_hi(m_last, sq, sk, wr);
    // The warp's rows [w0, w1]: keys it sees [wn_lo, wn_hi]; tiles inside [full_lo, full_hi] need no
    // mask for any of its rows. Rows past sq are clamped to sq - 1 (their results are not stored).
    const int w0 = min(m0 + warp * 16 * MT, sq - 1), w1 = min(m0 + (warp + 1) * 16 * MT - 1, sq - 1);
    const int wn_lo = key_lo(w0, sq, sk, wl), wn_hi = key_hi(w1, sq, sk, wr);
    const int full_lo = key_lo(w1, sq, sk, wl), full_hi = key_hi(w0, sq, sk, wr);
    const bool warp_live = m0 + warp * 16 * MT < sq;  // a warp whose rows are all past the end computes nothing
    // This thread's rows: fragment rows gid and gid + 8 (r = 0, 1) of each of the warp's m-tiles.
    // Recomputed where needed (masked tiles, epilogue) rather than held: registers are the limit.
    const int row0 = m0 + warp * 16 * MT + gid;  // row of (mt, r) = row0 + 16·mt + 8·r

    float acc[MT][C::NTD][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int t = 0; t < C::NTD; ++t) acc[mt][t][0] = acc[mt][t][1] = acc[mt][t][2] = acc[mt][t][3] = 0.0f;
    float m_run[MT][2], l_run[MT][2];  // running row max of x (exp2 units); this thread's part of Σ 2^(x - m)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) m_run[mt][0] = m_run[mt][1] = -INFINITY, l_run[mt][0] = l_run[mt][1] = 0.0f;

    // x = s·c in the exp2 domain. Without softcap and with scale > 0 the product is folded into the
    // exponent: p = 2^(s·c − m) is one FFMA + EX2, and max(s·c) = max(s)·c (c > 0 is monotonic).
    // Otherwise the scores are transformed first (exp2_score) and c = 1.
    // ALiBi adds its bias in exp2 units, so it needs the transformed scores (no fold).
    const bool fold = softcap <= 0.0f && scale > 0.0f && !ALIBI;
    const float c = fold ? scale * attn::kLog2e : 1.0f;
    const float slope = ALIBI ? alibi[h] * attn::kLog2e : 0.0f;  // exp2 units

    const int nb_begin = n_lo / BN;
    const int nb_end = n_hi < n_lo ? nb_begin : n_hi / BN + 1;

    if (nb_begin < nb_end) {
        auto load_k = [&](int nb) {
            if (nb < nb_end) {
                load_tile<T, P, BN, C::THREADS>(sK + (nb % ST) * BN * C::SROW, k, k0 + static_cast<long long>(nb) * BN,
                                                sk - nb * BN, hkv, g, d);
            }
            cp_async_commit();  // possibly empty: keeps the group count uniform
        };
        auto load_v = [&](int nb) {
            if (nb < nb_end) {
                load_tile<T, P, BN, C::THREADS>(sV + (nb % ST) * BN * C::SROW, v, k0 + static_cast<long long>(nb) * BN,
                                                sk - nb * BN, hkv, g, d);
            }
            cp_async_commit();
        };
        load_tile<T, P, C::BM, C::THREADS>(sQ, q, q0 + m0, sq - m0, hq, h, d);
        load_k(nb_begin);
#pragma unroll
        for (int i = 0; i + 1 < ST; ++i) {
            load_v(nb_begin + i);
            load_k(nb_begin + i + 1);
        }

        unsigned qf[C::QREG ? MT : 1][C::QREG ? C::KD : 1][4];
        // ldmatrix address of this lane for m-tile mt's 16×16 A block at column 0 of sQ.
        const T* q_frag_base = sQ + (warp * 16 * MT + (lane & 7) + ((lane >> 3) & 1) * 8) * C::SROW + (lane >> 4) * 8;

        for (int nb = nb_begin; nb < nb_end; ++nb) {
            const T* cK = sK + (nb % ST) * BN * C::SROW;
            const T* cV = sV + (nb % ST) * BN * C::SROW;
            cp_async_wait<2 * ST - 2>();  // K(nb) (and Q) have landed for this thread
            __syncthreads();              // ... for every thread; every warp is past P·V(nb-1)
            load_v(nb + ST - 1);

            if constexpr (C::QREG) {
                if (nb == nb_begin) {
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                        for (int ks = 0; ks < C::KD; ++ks) ldmatrix_x4(qf[mt][ks], q_frag_base + mt * 16 * C::SROW + ks * 16);
                }
            }

            const int n0 = nb * BN;
            // Warp-uniform: a tile none of the warp's rows sees (causal/window) is skipped.
            const bool active = warp_live && n0 <= wn_hi && n0 + BN - 1 >= wn_lo;

            // S = Q·Kᵀ: 16·MT rows × BN keys per warp.
            float s[MT][C::NTN][4];
            if (active) {
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int t = 0; t < C::NTN; ++t) s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.0f;
#pragma unroll
                for (int ks = 0; ks < C::KD; ++ks) {
                    unsigned a[MT][4];
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        if constexpr (C::QREG) {
                            a[mt][0] = qf[mt][ks][0], a[mt][1] = qf[mt][ks][1], a[mt][2] = qf[mt][ks][2], a[mt][3] = qf[mt][ks][3];
                        } else {
                            ldmatrix_x4(a[mt], q_frag_base + mt * 16 * C::SROW + ks * 16);
                        }
                    }
#pragma unroll
                    for (int j = 0; j < C::NTN / 2; ++j) {
                        // matrices: keys 16j+0..7 × d 16ks+0..7 (b0 of n-tile 2j), × d +8..15 (b1),
                        //           keys 16j+8..15 × d +0..7 (b0 of n-tile 2j+1), × d +8..15 (b1).
                        unsigned bk[4];
                        ldmatrix_x4(bk, cK + (j * 16 + (lane & 7) + (lane >> 4) * 8) * C::SROW + ks * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
                        for (int mt = 0; mt < MT; ++mt) {
                            Mma<T>::run(s[mt][2 * j], a[mt], bk[0], bk[1]);
                            Mma<T>::run(s[mt][2 * j + 1], a[mt], bk[2], bk[3]);
                        }
                    }
                }

                // Scores (in units of c), masked where needed: only tiles that some row's bound cuts.
                const bool need_mask = n0 < full_lo || n0 + BN - 1 > full_hi;
                if (!fold) {
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                        for (int t = 0; t < C::NTN; ++t)
#pragma unroll
                            for (int e = 0; e < 4; ++e) s[mt][t][e] = exp2_score(s[mt][t][e], scale, softcap);
                }
                if constexpr (ALIBI) {  // after the softcap, before the mask
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
                        for (int r = 0; r < 2; ++r) {
                            const int diag = row0 + 16 * mt + 8 * r + sk - sq;
#pragma unroll
                            for (int t = 0; t < C::NTN; ++t) {
#pragma unroll
                                for (int e = 0; e < 2; ++e) {
                                    const int j = n0 + t * 8 + tig * 2 + e;
                                    s[mt][t][2 * r + e] -= slope * fabsf(static_cast<float>(diag - j));
                                }
                            }
                        }
                    }
                }
                if (need_mask) {
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
                        for (int r = 0; r < 2; ++r) {
                            const int i = row0 + 16 * mt + 8 * r;
                            const int lo = key_lo(i, sq, sk, wl), hi = key_hi(i, sq, sk, wr);
#pragma unroll
                            for (int t = 0; t < C::NTN; ++t) {
#pragma unroll
                                for (int e = 0; e < 2; ++e) {
                                    const int j = n0 + t * 8 + tig * 2 + e;
                                    if (j < lo || j > hi) s[mt][t][2 * r + e] = -INFINITY;
                                }
                            }
                        }
                    }
                }

                // Online softmax per row; a row's BN scores sit in the 4 lanes of one quad.
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
                    for (int r = 0; r < 2; ++r) {
                        float mx = -INFINITY;
#pragma unroll
                        for (int t = 0; t < C::NTN; ++t) mx = fmaxf(mx, fmaxf(s[mt][t][2 * r], s[mt][t][2 * r + 1]));
                        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                        const float m_new = fmaxf(m_run[mt][r], mx * c);          // -inf·c = -inf (c > 0)
                        const float m_use = m_new == -INFINITY ? 0.0f : m_new;     // all masked so far: no NaN
                        const float alpha = exp2f(m_run[mt][r] - m_use);           // 0 when m_run = -inf
                        m_run[mt][r] = m_new;
                        float sum = 0.0f;
#pragma unroll
                        for (int t = 0; t < C::NTN; ++t) {
                            const float p0 = exp2f(fmaf(s[mt][t][2 * r], c, -m_use));
                            const float p1 = exp2f(fmaf(s[mt][t][2 * r + 1], c, -m_use));
                            s[mt][t][2 * r] = p0;
                            s[mt][t][2 * r + 1] = p1;
                            sum += p0 + p1;
                        }
                        l_run[mt][r] = l_run[mt][r] * alpha + sum;
#pragma unroll
                        for (int t = 0; t < C::NTD; ++t) {
                            acc[mt][t][2 * r] *= alpha;
                            acc[mt][t][2 * r + 1] *= alpha;
                        }
                    }
                }
            }

            cp_async_wait<2 * ST - 2>();  // V(nb) has landed for this thread
            __syncthreads();              // ... for every thread; every warp is past Q·K(nb)ᵀ
            load_k(nb + ST);

            if (active) {
                // O += P·V: the S accumulators of n-tiles 2kk, 2kk+1 are the A fragment of k-step kk.
#pragma unroll
                for (int kk = 0; kk < C::KN; ++kk) {
                    unsigned a[MT][4];
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        a[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                        a[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                        a[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                        a[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
                    }
#pragma unroll
                    for (int j = 0; j < C::NTD / 2; ++j) {
                        // matrices (transposed on load): keys 16kk+0..7 × d 16j+0..7 (b0 of n-tile 2j),
                        // keys +8..15 × d 16j+0..7 (b1), keys +0..7 × d 16j+8..15 (b0 of 2j+1), +8..15 (b1).
                        unsigned bv[4];
                        ldmatrix_x4_trans(bv, cV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * C::SROW + j * 16 + (lane >> 4) * 8);
#pragma unroll
                        for (int mt = 0; mt < MT; ++mt) {
                            Mma<T>::run(acc[mt][2 * j], a[mt], bv[0], bv[1]);
                            Mma<T>::run(acc[mt][2 * j + 1], a[mt], bv[2], bv[3]);
                        }
                    }
                }
            }
        }
        cp_async_wait<0>();  // no copy may still target shared memory when the block exits
    }

    // Epilogue: normalise, store rows < sq (columns < d), LSE from the quad's first lane.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float l = l_run[mt][r];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const float inv = m_run[mt][r] == -INFINITY ? 0.0f : 1.0f / l;
            const int i = row0 + 16 * mt + 8 * r;
            if (i < sq) {
                T* orow = o + ((q0 + i) * hq + h) * static_cast<long long>(d);
#pragma unroll
                for (int t = 0; t < C::NTD; ++t) {
                    const int col = t * 8 + tig * 2;
                    if (col < d) store2(orow + col, acc[mt][t][2 * r] * inv, acc[mt][t][2 * r + 1] * inv);
                }
                if (lse != nullptr && tig == 0) {
                    const long long li = cu_q ? static_cast<long long>(h) * total_q + q0 + i
                                              : (static_cast<long long>(b) * hq + h) * nq + i;
                    lse[li] = row_lse(m_run[mt][r], l);
                }
            }
        }
    }
}

// ---- simple kernel (fp32 FMA, every dtype) ----------------------------------------------------------

constexpr int S_BM = 16, S_BN = 32, S_ROWS = 4, S_MAXC = 8;  // S_ROWS rows per warp; D ≤ 32·S_MAXC

template <typename T, bool ALIBI>
__device__ __forceinline__ void flash_fwd_simple(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                 T* __restrict__ o, float* __restrict__ lse, const int* __restrict__ cu_q,
                                                 const int* __restrict__ cu_k, int nq, int nk, int total_q, int hq,
                                                 int hkv, int d, float scale, float softcap, int wl, int wr,
                                                 const float* __restrict__ alibi) {
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
    const float slope = ALIBI ? alibi[h] * attn::kLog2e : 0.0f;  // exp2 units

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
                if constexpr (ALIBI) x -= slope * fabsf(static_cast<float>(m0 + warp * S_ROWS + r + sk - sq - key));
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

// Threads per block are 32·WARPS of DefaultTile<P> (CudaAttention.mmaThreads mirrors them).
#define SURPASS_FLASH_FWD_MMA(DT, T, P)                                                                      \
    extern "C" __global__ void __launch_bounds__(32 * surpass::flash_fwd::DefaultTile<P>::WARPS)              \
        surpass_attention_flash_fwd_##DT##_d##P(SURPASS_FLASH_FWD_PARAMS(T)) {                               \
        surpass::flash_fwd::flash_fwd_mma<T, P, surpass::flash_fwd::DefaultTile<P>, false>(SURPASS_FLASH_FWD_ARGS, \
                                                                                           nullptr);          \
    }                                                                                                        \
    extern "C" __global__ void __launch_bounds__(32 * surpass::flash_fwd::DefaultTile<P>::WARPS)              \
        surpass_attention_flash_fwd_alibi_##DT##_d##P(SURPASS_FLASH_FWD_PARAMS(T), const float* alibi) {     \
        surpass::flash_fwd::flash_fwd_mma<T, P, surpass::flash_fwd::DefaultTile<P>, true>(SURPASS_FLASH_FWD_ARGS, \
                                                                                          alibi);             \
    }

SURPASS_FLASH_FWD_MMA(f16, __half, 32)
SURPASS_FLASH_FWD_MMA(f16, __half, 64)
SURPASS_FLASH_FWD_MMA(f16, __half, 80)
SURPASS_FLASH_FWD_MMA(f16, __half, 96)
SURPASS_FLASH_FWD_MMA(f16, __half, 128)
SURPASS_FLASH_FWD_MMA(f16, __half, 256)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 32)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 64)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 80)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 96)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 128)
SURPASS_FLASH_FWD_MMA(bf16, __nv_bfloat16, 256)

#define SURPASS_FLASH_FWD_SIMPLE(DT, T)                                                                      \
    extern "C" __global__ void __launch_bounds__(128) surpass_attention_flash_fwd_simple_##DT(               \
        SURPASS_FLASH_FWD_PARAMS(T)) {                                                                       \
        surpass::flash_fwd::flash_fwd_simple<T, false>(SURPASS_FLASH_FWD_ARGS, nullptr);                     \
    }                                                                                                        \
    extern "C" __global__ void __launch_bounds__(128) surpass_attention_flash_fwd_simple_alibi_##DT(         \
        SURPASS_FLASH_FWD_PARAMS(T), const float* alibi) {                                                   \
        surpass::flash_fwd::flash_fwd_simple<T, true>(SURPASS_FLASH_FWD_ARGS, alibi);                        \
    }

SURPASS_FLASH_FWD_SIMPLE(f32, float)
SURPASS_FLASH_FWD_SIMPLE(f16, __half)
SURPASS_FLASH_FWD_SIMPLE(bf16, __nv_bfloat16)
