// selective_scan.cu — Mamba-1 selective scan (mamba_ssm selective_scan_fwd) as a chunked parallel
// scan over time, with an initial state and variable-length packed sequences.
//
//   surpass_mamba_selective_scan_<dt>(u, delta, A, B, C, D, z, delta_bias, initial_state, y, last_state,
//                                     cu_seqlens, nseq, dm, n, groups, L, softplus)
// Per sequence s, channel d, token t (g = d / (dm / groups)):
//   Δ = delta + delta_bias[d];  Δ = Δ ≤ 20 ? log1p(exp(Δ)) : Δ   (softplus ≠ 0)
//   h_t = exp(Δ·A[d,n])·h_{t-1} + Δ·B[g,n,t]·u_t   (h_{-1} = initial_state[s,d] or 0)
//   y_t = Σ_n h_t[n]·C[g,n,t] + D[d]·u_t;  y_t *= silu(z_t)   (z ≠ null)
//   last_state[s,d] = h at the sequence's end
// Shapes (contiguous): u, delta, z, y [Bt, dm, L]; B, C [Bt, groups, n, L]; A [dm, n] fp32; D, delta_bias [dm]
// fp32 or null; initial_state (or null), last_state [nseq, dm, n] fp32 (they may alias: a block reads its
// row of initial_state before anything else and writes last_state at its very end). Dense: cu_seqlens null,
// nseq = Bt, sequence s = batch row s, tokens [0, L). Varlen: Bt = 1, sequence s = tokens
// [cu_seqlens[s], cu_seqlens[s+1]) of the packed row. 1 ≤ n ≤ 256. dt ∈ {f32, f16, bf16} for u, delta, B,
// C, z, y; fp32 arithmetic; y rounded to nearest even.
//
// Launch: grid.x = nseq·dm blocks, one per (sequence, channel), block kThreads = 128 threads, no dynamic
// shared memory. The sequence goes in chunks of kChunk = 128·8 = 1024 tokens, thread i holding tokens
// [8i, 8i+8) of the chunk in registers (16-byte loads where aligned). For each state n the pairs
// (a, b) = (exp2(Δ·A·log2 e), Δ·B·u) are scanned with the associative operator
//   (a0,b0)∘(a1,b1) = (a1·a0, a1·b0 + b1):
// sequentially over a thread's 8 items, by shuffles inside a warp, and across the 4 warps through shared
// memory; the running state carried from the previous chunk (seeded from initial_state) is the scan's
// prefix. Padding tokens are the identity (1, 0), so the last thread ends with the chunk's end state,
// which it hands to the next chunk through shared memory (double-buffered: one __syncthreads per n).
#include "common/dtype.cuh"

namespace surpass::selective_scan {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 8;
constexpr int kChunk = kThreads * kItems;
constexpr int kMaxN = 256;
constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFull = 0xffffffffu;

struct Pair {
    float a, b;
};

// x then y: h ↦ y.a·(x.a·h + x.b) + y.b.
__device__ __forceinline__ Pair compose(Pair x, Pair y) { return {y.a * x.a, fmaf(y.a, x.b, y.b)}; }

// f[i] = p[i] for i < valid, else 0; one or two 16-byte loads when all 8 are valid and p is aligned.
template <typename T> __device__ __forceinline__ void load_items(const T* p, int valid, float (&f)[kItems]) {
    constexpr int PN = Pack<T>::N;
    static_assert(kItems % PN == 0, "items must be whole packs");
    if (valid == kItems && aligned16(p)) {
#pragma unroll
        for (int j = 0; j < kItems; j += PN) {
            float tmp[PN];
            load_pack(p + j, tmp);
#pragma unroll
            for (int k = 0; k < PN; ++k) f[j + k] = tmp[k];
        }
    } else {
#pragma unroll
        for (int i = 0; i < kItems; ++i) f[i] = i < valid ? to_float(p[i]) : 0.0f;
    }
}

// p[i] = f[i] for i < valid.
template <typename T> __device__ __forceinline__ void store_items(T* p, int valid, const float (&f)[kItems]) {
    constexpr int PN = Pack<T>::N;
    if (valid == kItems && aligned16(p)) {
#pragma unroll
        for (int j = 0; j < kItems; j += PN) {
            float tmp[PN];
#pragma unroll
            for (int k = 0; k < PN; ++k) tmp[k] = f[j + k];
            store_pack(p + j, tmp);
        }
    } else {
#pragma unroll
        for (int i = 0; i < kItems; ++i)
            if (i < valid) p[i] = from_float<T>(f[i]);
    }
}

template <typename T>
__device__ __forceinline__ void scan(const T* __restrict__ u, const T* __restrict__ delta, const float* __restrict__ A,
                                     const T* __restrict__ B, const T* __restrict__ C, const float* __restrict__ D,
                                     const T* __restrict__ z, const float* __restrict__ delta_bias,
                                     const float* initial_state, T* __restrict__ y, float* last_state,
                                     const int* __restrict__ cu_seqlens, int nseq, int dm, int n, int groups, int L,
                                     int softplus) {
    __shared__ float hbuf[2][kMaxN];      // carried state, double-buffered across chunks
    __shared__ Pair warp_total[2][kWarps];  // per-warp aggregates, double-buffered across n

    if (n < 1 || n > kMaxN || dm < 1 || groups < 1) return;  // the Java entry rejects these
    const long long row_id = blockIdx.x;  // s·dm + d
    const int s = static_cast<int>(row_id / dm), d = static_cast<int>(row_id % dm);
    if (s >= nseq) return;
    const int bb = cu_seqlens ? 0 : s;
    const int t_begin = cu_seqlens ? cu_seqlens[s] : 0;
    const int t_end = cu_seqlens ? cu_seqlens[s + 1] : L;
    const int g = d / (dm / groups);
    const long long row = (static_cast<long long>(bb) * dm + d) * L;           // u, delta, z, y
    const long long bc_row = (static_cast<long long>(bb) * groups + g) * n;    // B, C: state k at (bc_row + k)·L
    const long long st = row_id * n;                                           // states
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

    for (int k = threadIdx.x; k < n; k += kThreads) hbuf[0][k] = initial_state ? initial_state[st + k] : 0.0f;
    __syncthreads();

    const float bias = delta_bias ? delta_bias[d] : 0.0f;
    const float dskip = D ? D[d] : 0.0f;
    const float* a_row = A + static_cast<long long>(d) * n;
    int cur = 0;  // hbuf slot holding the state at the current chunk's start
    int ws = 0;   // warp_total slot of the current n iteration
    for (int c0 = t_begin; c0 < t_end; c0 += kChunk) {
        const int t0 = c0 + threadIdx.x * kItems;
        const int valid = max(0, min(kItems, t_end - t0));
        float uv[kItems], dt[kItems], yv[kItems];
        load_items(u + row + t0, valid, uv);
        load_items(delta + row + t0, valid, dt);
#pragma unroll
        for (int i = 0; i < kItems; ++i) {
            float v = dt[i] + bias;
            if (softplus && v <= 20.0f) v = log1pf(expf(v));
            dt[i] = v;
            yv[i] = 0.0f;
        }
        for (int k = 0; k < n; ++k) {
            const float a2 = a_row[k] * kLog2e;
            float bv[kItems], cv[kItems];
            load_items(B + (bc_row + k) * L + t0, valid, bv);
            load_items(C + (bc_row + k) * L + t0, valid, cv);
            Pair p[kItems];
#pragma unroll
            for (int i = 0; i < kItems; ++i) {
                p[i] = i < valid ? Pair{exp2f(dt[i] * a2), dt[i] * uv[i] * bv[i]} : Pair{1.0f, 0.0f};
            }
            Pair inc = p[0];
#pragma unroll
            for (int i = 1; i < kItems; ++i) inc = compose(inc, p[i]);
            // Inclusive scan of the thread aggregates across the warp.
#pragma unroll
            for (int off = 1; off < 32; off <<= 1) {
                const float pa = __shfl_up_sync(kFull, inc.a, off), pb = __shfl_up_sync(kFull, inc.b, off);
                if (lane >= off) inc = compose(Pair{pa, pb}, inc);
            }
            if (lane == 31) warp_total[ws][warp] = inc;
            const float ea = __shfl_up_sync(kFull, inc.a, 1), eb = __shfl_up_sync(kFull, inc.b, 1);
            const Pair excl = lane == 0 ? Pair{1.0f, 0.0f} : Pair{ea, eb};
            __syncthreads();
            // The thread's start state: carried state, then earlier warps, then earlier lanes.
            float h = hbuf[cur][k];
            for (int w = 0; w < warp; ++w) {
                const Pair wt = warp_total[ws][w];
                h = fmaf(wt.a, h, wt.b);
            }
            h = fmaf(excl.a, h, excl.b);
#pragma unroll
            for (int i = 0; i < kItems; ++i) {
                h = fmaf(p[i].a, h, p[i].b);
                yv[i] = fmaf(h, cv[i], yv[i]);
            }
            if (threadIdx.x == kThreads - 1) hbuf[cur ^ 1][k] = h;
            ws ^= 1;
        }
        float zv[kItems];
        if (z) load_items(z + row + t0, valid, zv);
#pragma unroll
        for (int i = 0; i < kItems; ++i) {
            float v = fmaf(dskip, uv[i], yv[i]);
            if (z) v *= zv[i] / (1.0f + expf(-zv[i]));
            yv[i] = v;
        }
        store_items(y + row + t0, valid, yv);
        cur ^= 1;
    }
    __syncthreads();
    for (int k = threadIdx.x; k < n; k += kThreads) last_state[st + k] = hbuf[cur][k];
}

}  // namespace surpass::selective_scan

#define SURPASS_SELECTIVE_SCAN(DT, T)                                                                             \
    extern "C" __global__ void __launch_bounds__(surpass::selective_scan::kThreads)                              \
        surpass_mamba_selective_scan_##DT(const T* u, const T* delta, const float* A, const T* B, const T* C,      \
                                          const float* D, const T* z, const float* delta_bias,                    \
                                          const float* initial_state, T* y, float* last_state,                    \
                                          const int* cu_seqlens, int nseq, int dm, int n, int groups, int L,       \
                                          int softplus) {                                                          \
        surpass::selective_scan::scan(u, delta, A, B, C, D, z, delta_bias, initial_state, y, last_state,         \
                                      cu_seqlens, nseq, dm, n, groups, L, softplus);                              \
    }

SURPASS_SELECTIVE_SCAN(f32, float)
SURPASS_SELECTIVE_SCAN(f16, __half)
SURPASS_SELECTIVE_SCAN(bf16, __nv_bfloat16)
