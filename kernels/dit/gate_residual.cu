// gate_residual.cu — DiT's gated residual: x + gate·y with a per-sample gate (adaLN-Zero).
//
//   surpass_dit_gate_residual_<dt>(x, y, mod, out, rows, cols, tokens, mod_stride, gate_off)
//   n = r / tokens (the sample of row r)
//   out[r, c] = x[r, c] + mod[n, gate_off + c] · y[r, c]
// Shapes: x, y, out [rows, cols] contiguous (rows = N·T tokens, cols = D); mod [N, mod_stride] with
// the gate chunk at column offset gate_off (gate_msa = chunk 2, gate_mlp = chunk 5 of the block's
// adaLN output). out may alias x or y. dt ∈ {f32, f16, bf16}; fp32 math (x + g·y as one fmaf),
// stores rounded to nearest even.
// Launch: grid.x blocks looping over rows (r = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x works): each row is a contiguous run, so the threads of a block stride along it and
// the gate row is read once per element from L1 (no per-element division).
#include "common/dtype.cuh"

namespace surpass::gate_residual {

template <typename T>
__device__ __forceinline__ void rows_gate_residual(const T* x, const T* y, const T* mod, T* out, long long rows,
                                                   int cols, int tokens, int mod_stride, int gate_off) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = r * cols;
        const T* gate = mod + (r / tokens) * static_cast<long long>(mod_stride) + gate_off;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            store(out + off + c, fmaf(load(gate + c), load(y + off + c), load(x + off + c)));
        }
    }
}

}  // namespace surpass::gate_residual

#define SURPASS_DIT_GATE_RESIDUAL(DT, T)                                                                     \
    extern "C" __global__ void surpass_dit_gate_residual_##DT(const T* x, const T* y, const T* mod, T* out,  \
                                                              long long rows, int cols, int tokens,          \
                                                              int mod_stride, int gate_off) {                \
        surpass::gate_residual::rows_gate_residual(x, y, mod, out, rows, cols, tokens, mod_stride, gate_off); \
    }

SURPASS_DIT_GATE_RESIDUAL(f32, float)
SURPASS_DIT_GATE_RESIDUAL(f16, __half)
SURPASS_DIT_GATE_RESIDUAL(bf16, __nv_bfloat16)
