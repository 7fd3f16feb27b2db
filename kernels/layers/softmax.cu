// softmax.cu — softmax over the last axis.
//
//   surpass_layers_softmax_<dt>(x, out, rows, cols)
//   out[r, c] = exp(x[r, c] - max_r) / Σ_c' exp(x[r, c'] - max_r)
// Shapes: x, out are [rows, cols] contiguous (out may alias x); cols ≥ 1, any size (also millions:
// threads loop over the row). dt ∈ {f32, f16, bf16}; fp32 math, stores rounded to nearest even.
// Launch: grid.x blocks (usually min(rows, 2^31-1)), blocks loop over rows r = blockIdx.x,
// blockIdx.x + gridDim.x, …; block 256 threads (any blockDim.x in [1, 1024] works).
// Two passes over each row: (1) per-thread online max + rescaled sum (exp2 domain), merged across
// the block; (2) the normalised weights. Rows the online pass cannot normalise follow the CPU twin
// and the float64 reference: a NaN anywhere gives a NaN row; otherwise +inf entries share the mass
// equally (1/k each, 0 elsewhere); a row of only -inf gives 0s. One extra block max per row finds
// them (a per-thread flag: 2 = NaN seen, 1 = +inf seen).
#include "common/online_softmax.cuh"
#include "common/row.cuh"

namespace surpass::softmax {

template <typename T> __device__ __forceinline__ void rows_softmax(const T* x, T* out, long long rows, int cols) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = out + r * cols;
        OnlineSoftmax st = OnlineSoftmax::empty();
        float special = 0.0f, infs = 0.0f;  // this thread's flag (2 NaN, 1 +inf) and count of +inf
        row_visit(xr, cols, [&](int, float v) {
            st.add(v, kLog2e);
            if (v != v) special = 2.0f;
            else if (v == INFINITY) { special = fmaxf(special, 1.0f); infs += 1.0f; }
        });
        st = block_merge(st, kLog2e);
        const float flag = block_max(special);  // the same in every thread: the branches below are uniform
        const float m = st.m;
        if (flag == 2.0f) {
            row_map(xr, yr, cols, [](int, float) { return __int_as_float(0x7fffffff); });
        } else if (flag == 1.0f) {
            const float share = 1.0f / block_sum(infs);
            row_map(xr, yr, cols, [&](int, float v) { return v == INFINITY ? share : 0.0f; });
        } else if (m == -INFINITY) {
            row_map(xr, yr, cols, [](int, float) { return 0.0f; });
        } else {
            const float inv = st.inv_sum();
            row_map(xr, yr, cols, [&](int, float v) { return exp2f((v - m) * kLog2e) * inv; });
        }
        // The next row's block_merge begins with a barrier, so no scratch is overwritten early.
    }
}

}  // namespace surpass::softmax

#define SURPASS_SOFTMAX(DT, T)                                                                        \
    extern "C" __global__ void surpass_layers_softmax_##DT(const T* x, T* out, long long rows, int cols) { \
        surpass::softmax::rows_softmax(x, out, rows, cols);                                           \
    }

SURPASS_SOFTMAX(f32, float)
SURPASS_SOFTMAX(f16, __half)
SURPASS_SOFTMAX(bf16, __nv_bfloat16)
