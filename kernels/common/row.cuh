// row.cuh — one thread block walks one contiguous row of `cols` elements.
//
// row_visit(row, cols, f) calls f(c, x[c]) once for every column, threads striding by blockDim.x.
// row_map(in, out, cols, f) stores out[c] = f(c, in[c]) (rounded to T); out may alias in.
// Both read 16-byte packs where they can: the columns before the first 16-byte boundary of the
// row (the "head") and after the last whole pack go element by element, so any row start (rows of
// odd length make most of them unaligned) and any cols ≥ 0 work. row_map writes packs only when
// `out` has the same alignment as `in`, else it runs per element. No barriers inside.
#pragma once

#include <cstdint>

#include "dtype.cuh"

namespace surpass {

// Elements of row before its first 16-byte boundary, at most cols.
template <typename T> __device__ __forceinline__ int row_head(const T* row, int cols) {
    const unsigned mis = static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(row) & 15u);
    const int head = static_cast<int>(((16u - mis) & 15u) / sizeof(T));
    return head < cols ? head : cols;
}

template <typename T, typename F> __device__ __forceinline__ void row_visit(const T* row, int cols, F&& f) {
    constexpr int V = Pack<T>::N;
    const int head = row_head(row, cols);
    const int packs = (cols - head) / V;
    for (int c = threadIdx.x; c < head; c += blockDim.x) f(c, load(row + c));
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        const int c0 = head + p * V;
        float v[V];
        load_pack(row + c0, v);
#pragma unroll
        for (int k = 0; k < V; ++k) f(c0 + k, v[k]);
    }
    for (int c = head + packs * V + threadIdx.x; c < cols; c += blockDim.x) f(c, load(row + c));
}

template <typename T, typename F> __device__ __forceinline__ void row_map(const T* in, T* out, int cols, F&& f) {
    constexpr int V = Pack<T>::N;
    const bool same = ((reinterpret_cast<std::uintptr_t>(in) ^ reinterpret_cast<std::uintptr_t>(out)) & 15u) == 0;
    const int head = same ? row_head(in, cols) : cols;
    const int packs = (cols - head) / V;
    for (int c = threadIdx.x; c < head; c += blockDim.x) store(out + c, f(c, load(in + c)));
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        const int c0 = head + p * V;
        float v[V];
        load_pack(in + c0, v);
#pragma unroll
        for (int k = 0; k < V; ++k) v[k] = f(c0 + k, v[k]);
        store_pack(out + c0, v);
    }
    for (int c = head + packs * V + threadIdx.x; c < cols; c += blockDim.x) store(out + c, f(c, load(in + c)));
}

}  // namespace surpass
