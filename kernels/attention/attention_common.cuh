// attention_common.cuh — helpers shared by the attention kernels (prefill, decode, maps).
//
// Masks (reference/kernels-and-checkpoints.md §4.1, bottom-right aligned): query row i of a
// sequence with sq queries and sk keys has diagonal key diag = i + sk - sq and sees key j iff
//     lo(i) <= j <= hi(i),   lo(i) = wl < 0 ? 0 : max(0, diag - wl),
//                            hi(i) = wr < 0 ? sk - 1 : min(sk - 1, diag + wr).
// The host folds the causal flag into wr (causal: wr = wr < 0 ? 0 : min(wr, 0)), so the kernels
// see only (wl, wr), -1 meaning unbounded. lo and hi are computed in 64 bits (diag - wl can leave
// the int range) and clamped to [0, sk] and [-1, sk - 1]; lo > hi means an empty row.
//
// Scores: t = scale·(q·k), softcap c > 0: t = c·tanh(t / c); the softmax runs on x = t·log2(e)
// (exp2 domain). LSE (natural log) = m·ln2 + ln(l) with m the row max of x and l = Σ 2^(x - m);
// an empty row (m = -inf) gives LSE -inf and output 0.
#pragma once

#include <cmath>

#include "common/dtype.cuh"

namespace surpass::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// First visible key of row i (in [0, sk]).
__device__ __forceinline__ int key_lo(long long i, int sq, int sk, int wl) {
    if (wl < 0) return 0;
    const long long lo = i + (static_cast<long long>(sk) - sq) - wl;
    return lo < 0 ? 0 : (lo > sk ? sk : static_cast<int>(lo));
}

// Last visible key of row i (in [-1, sk - 1]).
__device__ __forceinline__ int key_hi(long long i, int sq, int sk, int wr) {
    if (wr < 0) return sk - 1;
    const long long hi = i + (static_cast<long long>(sk) - sq) + wr;
    return hi < -1 ? -1 : (hi > sk - 1 ? sk - 1 : static_cast<int>(hi));
}

// The score in the exp2 domain: scale, softcap, ·log2(e).
__device__ __forceinline__ float exp2_score(float dot, float scale, float softcap) {
    float t = dot * scale;
    if (softcap > 0.0f) t = softcap * tanhf(t / softcap);
    return t * kLog2e;
}

// Natural-log LSE of a row state (m in exp2 units, l = Σ 2^(x - m)); -inf for an empty row.
__device__ __forceinline__ float row_lse(float m, float l) {
    return m == -INFINITY ? -INFINITY : m * kLn2 + logf(l);  // l >= 1 whenever m is finite
}

}  // namespace surpass::attn
