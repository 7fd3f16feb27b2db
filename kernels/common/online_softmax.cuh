// online_softmax.cuh — streaming (one-pass) softmax statistics in the exp2 domain.
//
// OnlineSoftmax keeps, over the scores x seen so far, the running maximum m (in the scores' own
// units) and the rescaled sum s = Σ 2^((x - m)·c), where c = scale·log2(e) > 0 folds the softmax
// scale and the change of base into one factor (c = kLog2e gives the plain softmax). When a larger
// maximum arrives the old sum is rescaled by 2^((m_old - m_new)·c). Subtracting in the scores'
// units before multiplying keeps the exponent exact near the maximum, where the weights matter.
//
// -inf scores (masked positions) contribute nothing; a state that has only seen -inf is
// {m = -inf, s = 0}, and weight() then returns 0 instead of NaN. A NaN score makes s NaN.
#pragma once

#include <cmath>

#include "reduce.cuh"

namespace surpass {

constexpr float kLog2e = 1.4426950408889634f;

struct OnlineSoftmax {
    float m;  // running max of the scores (-inf when none or all masked)
    float s;  // Σ 2^((x - m)·c) over the scores seen

    __device__ __forceinline__ static OnlineSoftmax empty() { return {-INFINITY, 0.0f}; }

    // Adds one score x; c = scale·log2(e).
    __device__ __forceinline__ void add(float x, float c) {
        if (x > m) {
            s = s * exp2f((m - x) * c) + 1.0f;  // m = -inf → factor exp2(-inf) = 0
            m = x;
        } else if (x != -INFINITY) {
            s += exp2f((x - m) * c);
        }
    }

    // Merges another state (e.g. from another thread or tile) into this one.
    __device__ __forceinline__ void merge(const OnlineSoftmax& o, float c) {
        const float mm = fmaxf(m, o.m);
        if (mm == -INFINITY) return;  // both empty
        s = s * exp2f((m - mm) * c) + o.s * exp2f((o.m - mm) * c);
        m = mm;
    }

    // The normalised weight of score x: 2^((x - m)·c) / s; 0 for a state with no finite score.
    __device__ __forceinline__ float weight(float x, float c) const {
        return m == -INFINITY ? 0.0f : exp2f((x - m) * c) / s;
    }

    // 1/s, for callers that multiply many weights (0 when empty, so outputs become 0, not NaN).
    __device__ __forceinline__ float inv_sum() const { return s > 0.0f ? 1.0f / s : 0.0f; }
};

// Block-wide merge: every thread of the block must call it; every thread gets the same state.
__device__ __forceinline__ OnlineSoftmax block_merge(OnlineSoftmax st, float c) {
    const float m = block_max(st.m);
    const float mine = (st.m == -INFINITY) ? 0.0f : st.s * exp2f((st.m - m) * c);
    const float s = block_sum(mine);
    return {m, s};
}

}  // namespace surpass
