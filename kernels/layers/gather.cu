// gather.cu — rows of a table picked by device-resident indices (token embedding lookup).
//
//   surpass_layers_gather_<dt>(table, ids, out, n, cols, tableRows)
//   out[i, c] = table[ids[i], c]      for 0 ≤ ids[i] < tableRows
//   out[i, c] = NaN                   otherwise (never a read outside the table)
// Shapes: table [tableRows, cols], ids [n] int32, out [n, cols], all contiguous; cols ≥ 1.
// dt ∈ {f32, f16, bf16} for table and out (a plain copy, no rounding).
// Why a kernel: the ids live on the device (written by a host copy before a captured CUDA graph is
// replayed), so the row offsets cannot be baked into copy calls made from the host.
// Launch: grid.x blocks looping over rows (i = blockIdx.x + k·gridDim.x); block 256 threads (any
// blockDim.x in [1, 1024] works).
#include "common/row.cuh"

namespace surpass::gather {

template <typename T>
__device__ __forceinline__ void gather_rows(const T* table, const int* ids, T* out, long long n, long long cols,
                                            long long table_rows) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        const long long id = ids[i];
        T* yr = out + i * cols;
        if (id < 0 || id >= table_rows) {
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) store(yr + c, __int_as_float(0x7fc00000));
            continue;
        }
        const T* xr = table + id * cols;
        row_map(xr, yr, static_cast<int>(cols), [](int, float v) { return v; });
    }
}

}  // namespace surpass::gather

#define SURPASS_GATHER(DT, T)                                                                                 \
    extern "C" __global__ void surpass_layers_gather_##DT(const T* table, const int* ids, T* out, long long n, \
                                                          long long cols, long long table_rows) {             \
        surpass::gather::gather_rows(table, ids, out, n, cols, table_rows);                                   \
    }

SURPASS_GATHER(f32, float)
SURPASS_GATHER(f16, __half)
SURPASS_GATHER(bf16, __nv_bfloat16)
