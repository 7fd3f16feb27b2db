// flash_attention_fwd_sm90a.cu — fused attention prefill for Hopper (sm_90a), "v2": TMA + wgmma.
//
// Same function as flash_attention_fwd.cu (read its header and attention_common.cuh for the exact
// semantics: masks (wl, wr) bottom-right aligned with causal folded into wr, GQA h / (Hq/Hkv),
// LSE natural log fp32, a row that sees no key gives o = 0 and lse = -inf), for the subset that
// matters most and that the host selects on compute capability 9.0 (CudaAttention.hopperRefusal):
//   dense batches only: q, o [B, nq, Hq, D]; k, v [B, nk, Hkv, D]; lse [B, Hq, nq] or null;
//   fp16 / bf16, D ∈ {64, 128}, any (wl, wr) (causal and windows), scale > 0, no softcap.
// Everything else (varlen, softcap, other head dims, fp32, unaligned or oddly strided tensors)
// runs the sm_80 kernel.
//
// Entry points: surpass_attention_flash_fwd_sm90a_<f16|bf16>_d<64|128>; the built fatbin is
// attention_sm90a.fatbin (sm_90a only: wgmma and setmaxnreg exist on compute capability 9.0 only).
//
// Inputs arrive as three TMA tensor maps (CUtensorMap, by value as __grid_constant__ parameters),
// each over a rank-4 view (D, H, N, B) of its tensor (strides D·2, H·D·2, N·H·D·2 bytes), box
// (64, 1, rows, 1), 128-byte swizzle. One box is 64 columns of `rows` tokens of one head of one
// sequence; a D = 128 tile is two boxes (column chunks). Rows past a sequence's end (n ≥ nq or
// nk) are outside the map's N extent, so TMA zero-fills them: a tile never reads the next sequence.
// Keys past nk are still masked by index (a zero key scores 0, not -inf); rows past nq are not stored.
//
// Block (384 threads, one block per SM: 1 per (128-row query block, q-head, sequence)):
//   warpgroup 0 = producer: setmaxnreg down to 40 registers; one thread issues the TMA copies:
//     Q (128 rows) once, then K and V tiles of BN = 128 keys into a STAGES-deep ring.
//     Barriers (mbarrier, transaction counted): q_full, k_full[s], v_full[s] (TMA completes
//     them), k_empty[s] and v_empty[s] (each of the 8 consumer warps arrives once its Q·Kᵀ,
//     resp. P·V, no longer reads stage s), so K(t+1) can load while P·V(t) still reads V(t).
//   warpgroups 1, 2 = consumers: setmaxnreg up to 232; consumer c owns query rows 64c..64c+63.
//     S = Q·Kᵀ: wgmma m64n128k16, A = Q and B = K from shared memory (K-major, 128B swizzle).
//     Online softmax in the exp2 domain on the accumulators (wgmma's m64nN fp32 fragment: warp w
//     of the warpgroup holds rows 16w..16w+15, the mma.sync m16n8 layout repeated over N/8
//     column tiles, so a row lives in one quad of lanes, as in the sm_80 kernel).
//     O += P·V: wgmma m64nDk16 with A = P from registers (the S fragment packed to fp16/bf16
//     is exactly the A fragment) and B = V from shared memory MN-major (transpose flag).
//     Intra-warpgroup overlap: the Q·Kᵀ of tile j+1 and the P·V of tile j are issued together;
//     the softmax of tile j+1 runs while P·V of tile j is still on the tensor cores.
//     Ping-pong: the two consumer warpgroups take turns issuing their GEMMs (named barriers 1, 2),
//     so one warpgroup's softmax runs while the other's GEMMs occupy the tensor cores.
//   Causal and window blocks visit only key tiles that some row of the block sees; a tile is
//   masked element-wise only where a row's bound cuts it or it crosses nk.
// Grid (ceil(nq / 128), Hq, B), blockIdx.x reversed so that (causal) the longest blocks start first.
// Dynamic shared memory: Q 128·D·2 + 2·STAGES·BN·D·2 + 1024 (alignment) + 128 (barriers) bytes
// (D = 128, 2 stages: 164,992 bytes; D = 64, 3 stages: 115,840; Cfg::SMEM_BYTES, mirrored by
// CudaAttention.hopperSharedBytes). Registers: 168 per thread at launch (384 threads, 1 block/SM).
// Not yet here (see FA3, reference §3.1): a persistent grid that overlaps one tile's epilogue with
// the next tile's loads, 2-CTA clusters with multicast K/V, 3 consumer warpgroups for d64.
#include <cuda.h>  // CUtensorMap

#include "attention/attention_common.cuh"

namespace surpass::flash_fwd_sm90a {

using attn::key_hi;
using attn::key_lo;
using attn::row_lse;

template <int D> struct Cfg {
    static constexpr int BM = 128;                      // query rows per block (2 consumer warpgroups × 64)
    static constexpr int BN = 128;                      // keys per tile
    static constexpr int STAGES = D == 64 ? 3 : 2;      // K/V ring depth
    static constexpr int CHUNKS = D / 64;               // 128-byte column chunks (one TMA box each)
    static constexpr int THREADS = 384;
    static constexpr int Q_BYTES = BM * D * 2;
    static constexpr int TILE_BYTES = BN * D * 2;       // one K or one V tile
    static constexpr int BAR_BYTES = 128;
    static constexpr int SMEM_BYTES = 1024 + Q_BYTES + 2 * STAGES * TILE_BYTES + BAR_BYTES;
    static_assert(D == 64 || D == 128, "head dims 64 and 128");
};

// ---- PTX wrappers (sm_90a) -----------------------------------------------------------------------

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(unsigned bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Arrives once and adds `bytes` to the transaction count the current phase waits for.
__device__ __forceinline__ void mbar_arrive_expect_tx(unsigned bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Waits until the phase of parity `parity` has completed (a fresh barrier counts parity 1 as done).
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
    unsigned done;
    do {
        asm volatile(
            "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(done)
            : "r"(bar), "r"(parity)
            : "memory");
    } while (!done);
}

// One TMA box of a rank-4 tensor map into shared memory; completes `bytes` on bar.
__device__ __forceinline__ void tma_load_4d(unsigned dst, const CUtensorMap* map, int c0, int c1, int c2, int c3,
                                            unsigned bar) {
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
        "l"(reinterpret_cast<unsigned long long>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
        : "memory");
}
__device__ __forceinline__ void prefetch_map(const CUtensorMap* map) {
    asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(map)) : "memory");
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving reads or writes of accumulator registers across a wgmma
// issue/wait pair (the tensor cores own them in between).
template <int N> __device__ __forceinline__ void reg_fence(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N> __device__ __forceinline__ void reg_fence(unsigned (&r)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i][0]), "+r"(r[i][1]), "+r"(r[i][2]), "+r"(r[i][3])::"memory");
}

template <int REGS> __device__ __forceinline__ void setmaxnreg_inc() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REGS));
}
template <int REGS> __device__ __forceinline__ void setmaxnreg_dec() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REGS));
}

// wgmma shared-memory matrix descriptor, 128-byte swizzle (layout type 1 in bits 62-63):
// start address >> 4 in bits 0-13, leading byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45.
// K-major operand (Q, K): rows of 128 bytes (64 elements of K), 8-row atoms of 1024 bytes, SBO = 1024
// (next 8 rows), LBO unused; the k16 step inside a 128-byte row moves the start by 32 bytes.
// MN-major operand (V as B of P·V): the 128-byte rows run along N (64 d-columns), one per key;
// SBO = 1024 (next 8 keys), LBO = the distance to the next 64-column chunk (the next TMA box).
__device__ __forceinline__ unsigned long long sw128_desc(unsigned addr, unsigned lbo, unsigned sbo) {
    return static_cast<unsigned long long>((addr & 0x3FFFF) >> 4) |
           (static_cast<unsigned long long>((lbo >> 4) & 0x3FFF) << 16) |
           (static_cast<unsigned long long>((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}


// wgmma wrappers: m64nNk16, fp32 accumulators (N/2 per thread), fp16/bf16 inputs.
template <typename T, int N> struct WgmmaSS;
template <typename T, int N> struct WgmmaRS;

template <> struct WgmmaSS<__half, 128> {
    // d (+)= A·B, A and B from shared memory (K-major, descriptors); scale_d = 0 overwrites d.
    static __device__ __forceinline__ void run(float (&d)[64], unsigned long long da, unsigned long long db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "l"(da), "l"(db), "r"(scale_d));
    }
};
template <> struct WgmmaRS<__half, 64> {
    // d += A·B, A from registers (m64k16 fragment), B from shared memory MN-major (transposed).
    static __device__ __forceinline__ void run(float (&d)[32], const unsigned (&a)[4], unsigned long long db) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
    }
};
template <> struct WgmmaRS<__half, 128> {
    // d += A·B, A from registers (m64k16 fragment), B from shared memory MN-major (transposed).
    static __device__ __forceinline__ void run(float (&d)[64], const unsigned (&a)[4], unsigned long long db) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
    }
};
template <> struct WgmmaSS<__nv_bfloat16, 128> {
    // d (+)= A·B, A and B from shared memory (K-major, descriptors); scale_d = 0 overwrites d.
    static __device__ __forceinline__ void run(float (&d)[64], unsigned long long da, unsigned long long db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "l"(da), "l"(db), "r"(scale_d));
    }
};
template <> struct WgmmaRS<__nv_bfloat16, 64> {
    // d += A·B, A from registers (m64k16 fragment), B from shared memory MN-major (transposed).
    static __device__ __forceinline__ void run(float (&d)[32], const unsigned (&a)[4], unsigned long long db) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
    }
};
template <> struct WgmmaRS<__nv_bfloat16, 128> {
    // d += A·B, A from registers (m64k16 fragment), B from shared memory MN-major (transposed).
    static __device__ __forceinline__ void run(float (&d)[64], const unsigned (&a)[4], unsigned long long db) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
            "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
    }
};

// ---- the kernel ----------------------------------------------------------------------------------

// Scores of one tile → probabilities in place (exp2 domain), running max/sum updated, alpha[r] the
// factor the row's output must be rescaled by. s holds raw dots q·k (a wgmma m64n128 fragment).
template <int BN>
__device__ __forceinline__ void softmax_tile(float (&s)[BN / 2], int n0, bool need_mask, const int (&lo)[2],
                                             const int (&hi)[2], int tig, float sl2, float (&m_run)[2],
                                             float (&l_run)[2], float (&alpha)[2]) {
    if (need_mask) {
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int j = n0 + nt * 8 + 2 * tig + (e & 1);
                const int r = e >> 1;
                if (j < lo[r] || j > hi[r]) s[nt * 4 + e] = -INFINITY;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt * 4 + 2 * r], s[nt * 4 + 2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m_run[r], mx * sl2);          // sl2 > 0: the max commutes with the scale
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // every key masked so far: no NaN
        alpha[r] = ex2(m_run[r] - m_use);                       // 0 when m_run = -inf
        m_run[r] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) {
            const float p0 = ex2(fmaf(s[nt * 4 + 2 * r], sl2, -m_use));
            const float p1 = ex2(fmaf(s[nt * 4 + 2 * r + 1], sl2, -m_use));
            s[nt * 4 + 2 * r] = p0;
            s[nt * 4 + 2 * r + 1] = p1;
            sum += p0 + p1;
        }
        l_run[r] = l_run[r] * alpha[r] + sum;  // this thread's part; the quad is summed at the end
    }
}

// P (probabilities in a m64n128 fragment) → the A fragments of the P·V k-steps (16 keys each).
template <typename T, int BN>
__device__ __forceinline__ void pack_p(const float (&s)[BN / 2], unsigned (&p)[BN / 16][4]) {
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
        p[kk][0] = pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
        p[kk][1] = pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
        p[kk][2] = pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
        p[kk][3] = pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
    }
}

// One arrival per warp (the barriers count 8: 4 warps × 2 consumer warpgroups).
__device__ __forceinline__ void warp_release(unsigned bar, int lane) {
    __syncwarp();
    if (lane == 0) mbar_arrive(bar);
}

// PP: ping-pong between the two consumer warpgroups (named barriers 1 and 2): each issues its GEMMs
// only after the other has issued its own, so the tensor cores run one warpgroup's GEMMs while the
// other does its softmax, instead of both softmaxes coinciding.
template <typename T, int D, bool PP>
__device__ __forceinline__ void flash_fwd_sm90a(const CUtensorMap* tq, const CUtensorMap* tk, const CUtensorMap* tv,
                                                T* __restrict__ o, float* __restrict__ lse, int nq, int nk, int hq,
                                                int hkv, float scale, int wl, int wr) {
    using C = Cfg<D>;
    constexpr int BM = C::BM, BN = C::BN, S = C::STAGES, CH = C::CHUNKS, TILE = C::TILE_BYTES;
    extern __shared__ __align__(1024) unsigned char sm90a_smem[];
    // 128-byte swizzled tiles need 1024-byte aligned atoms: round the base up (1024 spare bytes).
    const unsigned base = (smem_u32(sm90a_smem) + 1023u) & ~1023u;
    const unsigned sQ = base;                     // [CH][BM][64]
    const unsigned sK = sQ + C::Q_BYTES;          // [S][CH][BN][64]
    const unsigned sV = sK + S * TILE;            // [S][CH][BN][64]
    const unsigned bars = sV + S * TILE;          // mbarriers, 8 bytes each
    const unsigned q_full = bars;
    const unsigned k_full = bars + 8, v_full = k_full + 8 * S, k_empty = v_full + 8 * S, v_empty = k_empty + 8 * S;

    const int mb = gridDim.x - 1 - blockIdx.x;    // last query blocks first: under a causal mask they are the longest
    const int h = blockIdx.y, b = blockIdx.z;
    const int m0 = mb * BM;
    const int g = h / (hq / hkv);
    const int m_last = min(m0 + BM, nq) - 1;
    // Keys any row of the block sees: [n_lo, n_hi]; tiles inside [full_lo, full_hi] need no mask.
    const int n_lo = key_lo(m0, nq, nk, wl), n_hi = key_hi(m_last, nq, nk, wr);
    const int nb_begin = n_lo / BN;
    const int ntiles = n_hi < n_lo ? 0 : n_hi / BN + 1 - nb_begin;

    if (threadIdx.x == 0) {
        mbar_init(q_full, 1);
#pragma unroll
        for (int s = 0; s < S; ++s) {
            mbar_init(k_full + 8 * s, 1);
            mbar_init(v_full + 8 * s, 1);
            mbar_init(k_empty + 8 * s, 8);
            mbar_init(v_empty + 8 * s, 8);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");  // visible to the async proxy
        prefetch_map(tq);
        prefetch_map(tk);
        prefetch_map(tv);
    }
    __syncthreads();

    const int wg = threadIdx.x / 128;
    if (wg == 0) {
        // ---- producer: one thread issues every copy; order K0, then (K[t+1], V[t]), then V[last],
        // the order in which the consumers need them.
        setmaxnreg_dec<40>();
        if (threadIdx.x == 0 && ntiles > 0) {
            mbar_arrive_expect_tx(q_full, C::Q_BYTES);
#pragma unroll
            for (int c = 0; c < CH; ++c) tma_load_4d(sQ + c * BM * 128, tq, c * 64, h, m0, b, q_full);
            for (int t = 0; t <= ntiles; ++t) {
                if (t < ntiles) {  // K of tile t
                    const int s = t % S;
                    mbar_wait(k_empty + 8 * s, ((t / S) & 1) ^ 1);
                    mbar_arrive_expect_tx(k_full + 8 * s, TILE);
                    const int n0 = (nb_begin + t) * BN;
#pragma unroll
                    for (int c = 0; c < CH; ++c) tma_load_4d(sK + s * TILE + c * BN * 128, tk, c * 64, g, n0, b, k_full + 8 * s);
                }
                if (t >= 1) {  // V of tile t - 1
                    const int u = t - 1, s = u % S;
                    mbar_wait(v_empty + 8 * s, ((u / S) & 1) ^ 1);
                    mbar_arrive_expect_tx(v_full + 8 * s, TILE);
                    const int n0 = (nb_begin + u) * BN;
#pragma unroll
                    for (int c = 0; c < CH; ++c) tma_load_4d(sV + s * TILE + c * BN * 128, tv, c * 64, g, n0, b, v_full + 8 * s);
                }
            }
        }
        return;
    }

    // ---- consumers -------------------------------------------------------------------------------
    setmaxnreg_inc<232>();
    const int cw = wg - 1;  // consumer warpgroup: query rows 64·cw .. 64·cw + 63 of the block
    const int tid = threadIdx.x & 127, warp = tid >> 5, lane = tid & 31, gid = lane >> 2, tig = lane & 3;
    const int row0 = m0 + cw * 64 + warp * 16 + gid;  // this thread's rows: row0 and row0 + 8
    const int lo[2] = {key_lo(row0, nq, nk, wl), key_lo(row0 + 8, nq, nk, wl)};
    const int hi[2] = {key_hi(row0, nq, nk, wr), key_hi(row0 + 8, nq, nk, wr)};
    const int full_lo = key_lo(m_last, nq, nk, wl), full_hi = key_hi(m0, nq, nk, wr);
    const float sl2 = scale * attn::kLog2e;
    // Ping-pong turns: warpgroup cw waits on barrier 1 + cw before issuing, then opens 2 - cw (the other's).
    auto turn_wait = [&] {
        if constexpr (PP) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + cw) : "memory");
    };
    auto turn_pass = [&] {
        if constexpr (PP) asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - cw) : "memory");
    };

    float o_acc[D / 2];
#pragma unroll
    for (int i = 0; i < D / 2; ++i) o_acc[i] = 0.0f;
    float s_acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) s_acc[i] = 0.0f;
    unsigned p[BN / 16][4];
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f}, alpha[2];

    if (ntiles > 0) {
        const unsigned q_base = sQ + cw * 64 * 128;
        // S = Q·K[s]ᵀ over D/16 k-steps (issued, not waited for).
        auto issue_qk = [&](int s) {
#pragma unroll
            for (int ks = 0; ks < D / 16; ++ks) {
                const unsigned long long da = sw128_desc(q_base + (ks / 4) * BM * 128 + (ks % 4) * 32, 16, 1024);
                const unsigned long long db = sw128_desc(sK + s * TILE + (ks / 4) * BN * 128 + (ks % 4) * 32, 16, 1024);
                WgmmaSS<T, BN>::run(s_acc, da, db, ks);
            }
        };
        // O += P·V[s] over BN/16 k-steps.
        auto issue_pv = [&](int s) {
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                const unsigned long long db = sw128_desc(sV + s * TILE + kk * 16 * 128, BN * 128, 1024);
                WgmmaRS<T, D>::run(o_acc, p[kk], db);
            }
        };
        auto tile_mask = [&](int t) {
            const int n0 = (nb_begin + t) * BN;
            return n0 < full_lo || n0 + BN - 1 > full_hi;
        };

        if (cw == 1) turn_pass();  // consumer 0 issues first
        mbar_wait(q_full, 0);
        // Tile 0: S, softmax, P (O is still 0: nothing to rescale).
        mbar_wait(k_full, 0);
        reg_fence(s_acc);
        turn_wait();
        wgmma_fence();
        issue_qk(0);
        wgmma_commit();
        turn_pass();
        wgmma_wait<0>();
        reg_fence(s_acc);
        warp_release(k_empty, lane);
        softmax_tile<BN>(s_acc, nb_begin * BN, tile_mask(0), lo, hi, tig, sl2, m_run, l_run, alpha);
        pack_p<T, BN>(s_acc, p);

        for (int t = 1; t < ntiles; ++t) {
            const int s = t % S, sp = (t - 1) % S;
            mbar_wait(k_full + 8 * s, (t / S) & 1);
            reg_fence(s_acc);
            reg_fence(o_acc);
            reg_fence(p);
            turn_wait();
            wgmma_fence();
            issue_qk(s);               // S[t] = Q·K[t]ᵀ
            wgmma_commit();
            mbar_wait(v_full + 8 * sp, ((t - 1) / S) & 1);
            wgmma_fence();
            issue_pv(sp);              // O += P[t-1]·V[t-1], overlapping the softmax below
            wgmma_commit();
            turn_pass();
            wgmma_wait<1>();           // S[t] done (groups complete in order)
            reg_fence(s_acc);
            warp_release(k_empty + 8 * s, lane);
            softmax_tile<BN>(s_acc, (nb_begin + t) * BN, tile_mask(t), lo, hi, tig, sl2, m_run, l_run, alpha);
            wgmma_wait<0>();           // P[t-1]·V[t-1] done: O and p may change, V[t-1] is free
            reg_fence(o_acc);
            reg_fence(p);
            warp_release(v_empty + 8 * sp, lane);
#pragma unroll
            for (int nt = 0; nt < D / 8; ++nt) {
                o_acc[nt * 4 + 0] *= alpha[0];
                o_acc[nt * 4 + 1] *= alpha[0];
                o_acc[nt * 4 + 2] *= alpha[1];
                o_acc[nt * 4 + 3] *= alpha[1];
            }
            pack_p<T, BN>(s_acc, p);
        }
        const int sl = (ntiles - 1) % S;
        mbar_wait(v_full + 8 * sl, ((ntiles - 1) / S) & 1);
        reg_fence(o_acc);
        reg_fence(p);
        turn_wait();
        wgmma_fence();
        issue_pv(sl);
        wgmma_commit();
        if (cw == 0) turn_pass();  // consumer 1 has one more turn to take; consumer 0 none
        wgmma_wait<0>();
        reg_fence(o_acc);
        warp_release(v_empty + 8 * sl, lane);
    }

    // Epilogue: normalise, store rows < nq, LSE from the quad's first lane.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float l = l_run[r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        const float inv = m_run[r] == -INFINITY ? 0.0f : 1.0f / l;
        const int row = row0 + 8 * r;
        if (row < nq) {
            T* orow = o + ((static_cast<long long>(b) * nq + row) * hq + h) * D;
#pragma unroll
            for (int nt = 0; nt < D / 8; ++nt) {
                *reinterpret_cast<unsigned*>(orow + nt * 8 + 2 * tig) =
                    pack2<T>(o_acc[nt * 4 + 2 * r] * inv, o_acc[nt * 4 + 2 * r + 1] * inv);
            }
            if (lse != nullptr && tig == 0) lse[(static_cast<long long>(b) * hq + h) * nq + row] = row_lse(m_run[r], l);
        }
    }
}

}  // namespace surpass::flash_fwd_sm90a

// Compiled for sm_90a only (native/build-kernels.sh: files *_sm90a.cu); elsewhere the body traps.
#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SURPASS_SM90A_BODY(T, D) \
    surpass::flash_fwd_sm90a::flash_fwd_sm90a<T, D, true>(&tm_q, &tm_k, &tm_v, o, lse, nq, nk, hq, hkv, scale, wl, wr);
#else
#define SURPASS_SM90A_BODY(T, D) __trap();
#endif

#define SURPASS_FLASH_FWD_SM90A(DT, T, D)                                                                       \
    extern "C" __global__ void __launch_bounds__(384, 1) surpass_attention_flash_fwd_sm90a_##DT##_d##D(         \
        const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,                     \
        const __grid_constant__ CUtensorMap tm_v, T* o, float* lse, int nq, int nk, int hq, int hkv, float scale, \
        int wl, int wr) {                                                                                       \
        SURPASS_SM90A_BODY(T, D)                                                                                \
    }

SURPASS_FLASH_FWD_SM90A(f16, __half, 64)
SURPASS_FLASH_FWD_SM90A(f16, __half, 128)
SURPASS_FLASH_FWD_SM90A(bf16, __nv_bfloat16, 64)
SURPASS_FLASH_FWD_SM90A(bf16, __nv_bfloat16, 128)
