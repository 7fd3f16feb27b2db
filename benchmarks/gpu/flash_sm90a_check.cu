// flash_sm90a_check.cu — standalone check and timing of the Hopper prefill kernel (v2) on an
// H100/H200, without the Java side. Built and run by flash_sm90a_check.sh; see that script.
//
// It includes both kernel sources (kernels/attention/flash_attention_fwd.cu: the sm_80 kernel v1 and
// the simple fp32 kernel; flash_attention_fwd_sm90a.cu: v2), encodes the TMA tensor maps with the
// driver API exactly as CudaAttention does, and
//   0. unit check of one tile (unit_tile): Q·Kᵀ (TMA, 128B swizzle, wgmma SS, K-major descriptors)
//      and P·V (P from registers, V MN-major descriptor) on exact small inputs against the host,
//      so that a descriptor or fragment-layout bug shows apart from the pipeline logic.
//   1. correctness: random inputs at awkward shapes (lengths 1..2049, Nq != Nk causal, empty rows,
//      windows, GQA 1/4/8, d64/d128, bf16/fp16); v2 and v1 are both compared with the simple kernel
//      (fp32 arithmetic on the same inputs) elementwise, outputs poisoned with NaN beforehand.
//      A case passes when v2 has no NaN/unwritten element, |err| <= atol + rtol·|ref| everywhere
//      (bf16 1e-2 + 1e-2·|ref|, fp16 2e-3 + 2e-3·|ref|; v1's errors are printed beside) and its LSE
//      agrees (|Δ| <= 1e-3·max(1,|lse|), -inf where the reference has -inf). v2 without the consumer
//      ping-pong (a harness-only instantiation) is checked the same way and reported beside.
//   2. timing (skipped with --quick): B16 H16 N2048 D128/D64 bf16 and fp16, causal and not, and
//      B4 H16 N8192 D128 causal; v2, v2 without ping-pong and v1; median of 20 CUDA-event timings
//      after 5 warm-ups; TFLOP/s = 4·B·H·Nq·Nk·D (halved for causal).
// --quick: the unit check and the first 8 cases only (for compute-sanitizer); --time: timing only.
// v1's launch shape follows its DefaultTile<P> (see v1_shape). Needs no -lcuda: the tensor-map
// encoder comes from the runtime's driver entry point.
// Exit status 0 when every correctness case passes, 1 when one fails, 2 on a CUDA error,
// 3 when a kernel does not finish within 20 s (a pipeline deadlock).
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "attention/flash_attention_fwd.cu"
#include "attention/flash_attention_fwd_sm90a.cu"

namespace surpass::flash_fwd {
template <int P> struct DefaultTile;  // complete when the sm_80 kernel has per-dim tiles (see v1_shape)
}

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            std::printf("CUDA ERROR %s at %s:%d: %s\n", cudaGetErrorName(e_), __FILE__, __LINE__, \
                        cudaGetErrorString(e_));                                                   \
            std::fflush(stdout);                                                                   \
            std::exit(2);                                                                          \
        }                                                                                          \
    } while (0)

namespace {

// Waits for the device with a deadline, so that a deadlocked pipeline is reported, not hung on.
void finish(const char* what) {
    cudaEvent_t ev;
    CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    CK(cudaEventRecord(ev));
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
        cudaError_t e = cudaEventQuery(ev);
        if (e == cudaSuccess) break;
        if (e != cudaErrorNotReady) {
            std::printf("CUDA ERROR %s after %s: %s\n", cudaGetErrorName(e), what, cudaGetErrorString(e));
            std::fflush(stdout);
            std::exit(2);
        }
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(20)) {
            std::printf("HANG: %s did not finish within 20 s (mbarrier phase/count mismatch?)\n", what);
            std::fflush(stdout);
            std::_Exit(3);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    CK(cudaEventDestroy(ev));
    CK(cudaGetLastError());
}

// ---- tensor maps (the same encoding as CudaAttention.hopperMaps) ------------------------------------

// cuTensorMapEncodeTiled through the runtime's driver entry point: no -lcuda needed at link time.
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                 const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
EncodeTiled encode_tiled() {
    static EncodeTiled fn = nullptr;
    if (fn == nullptr) {
        void* p = nullptr;
        cudaDriverEntryPointQueryResult q;
        CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q));
        if (p == nullptr || q != cudaDriverEntryPointSuccess) {
            std::printf("cuTensorMapEncodeTiled not found in the driver\n");
            std::exit(2);
        }
        fn = reinterpret_cast<EncodeTiled>(p);
    }
    return fn;
}

// Rank-4 view (D, H, N, B) of a [B, N, H, D] 16-bit tensor; box (64, 1, rows, 1), 128-byte swizzle.
CUtensorMap make_map(const void* ptr, bool bf16, int d, int heads, int n, int batch, int rows) {
    CUtensorMap m;
    cuuint64_t dims[4] = {(cuuint64_t)d, (cuuint64_t)heads, (cuuint64_t)n, (cuuint64_t)batch};
    cuuint64_t strides[3] = {(cuuint64_t)d * 2, (cuuint64_t)heads * d * 2, (cuuint64_t)n * heads * d * 2};
    cuuint32_t box[4] = {64, 1, (cuuint32_t)rows, 1};
    cuuint32_t es[4] = {1, 1, 1, 1};
    CUresult r = encode_tiled()(&m, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
                                        const_cast<void*>(ptr), dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        std::printf("cuTensorMapEncodeTiled failed: CUresult %d (d %d heads %d n %d batch %d)\n", (int)r, d, heads, n, batch);
        std::exit(2);
    }
    return m;
}

struct Shape {
    int b, nq, nk, hq, hkv, d;
    bool causal, bf16;
    int wl = -1, wr = -1;  // window (before folding causal)
};

int right_offset(const Shape& s) {
    if (s.causal) return s.wr < 0 ? 0 : std::min(s.wr, 0);
    return s.wr;
}

// v2 without the ping-pong between consumer warpgroups (the shipped entry points have it), to
// compare both schedules in one run.
template <typename T, int D>
__global__ void __launch_bounds__(384, 1) v2_no_pingpong(const __grid_constant__ CUtensorMap tm_q,
                                                         const __grid_constant__ CUtensorMap tm_k,
                                                         const __grid_constant__ CUtensorMap tm_v, T* o, float* lse, int nq,
                                                         int nk, int hq, int hkv, float scale, int wl, int wr) {
    surpass::flash_fwd_sm90a::flash_fwd_sm90a<T, D, false>(&tm_q, &tm_k, &tm_v, o, lse, nq, nk, hq, hkv, scale, wl, wr);
}

// pingpong = true: the shipped kernel surpass_attention_flash_fwd_sm90a_<dt>_d<D>.
template <typename T> void launch_v2(const Shape& s, const T* q, const T* k, const T* v, T* o, float* lse, float scale,
                                     bool pingpong = true) {
    const bool bf = std::is_same<T, __nv_bfloat16>::value;
    CUtensorMap mq = make_map(q, bf, s.d, s.hq, s.nq, s.b, 128);
    CUtensorMap mk = make_map(k, bf, s.d, s.hkv, s.nk, s.b, 128);
    CUtensorMap mv = make_map(v, bf, s.d, s.hkv, s.nk, s.b, 128);
    dim3 grid((s.nq + 127) / 128, s.hq, s.b);
    int wl = s.wl, wr = right_offset(s);
#define V2(DT, TT, D)                                                                                                 \
    do {                                                                                                              \
        int smem = surpass::flash_fwd_sm90a::Cfg<D>::SMEM_BYTES;                                                      \
        auto kern = pingpong ? surpass_attention_flash_fwd_sm90a_##DT##_d##D : v2_no_pingpong<TT, D>;                 \
        CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));                            \
        kern<<<grid, 384, smem>>>(mq, mk, mv, (TT*)o, lse, s.nq, s.nk, s.hq, s.hkv, scale, wl, wr);                  \
    } while (0)
    if (bf && s.d == 128) V2(bf16, __nv_bfloat16, 128);
    else if (bf && s.d == 64) V2(bf16, __nv_bfloat16, 64);
    else if (!bf && s.d == 128) V2(f16, __half, 128);
    else V2(f16, __half, 64);
#undef V2
    CK(cudaGetLastError());
}

// Launch shape of the sm_80 kernel v1: from its DefaultTile<P> when flash_attention_fwd.cu has one
// (BM = 16·MT·WARPS rows, 32·WARPS threads, (BM + 2·STAGES·BN)·(P+8)·2 bytes, as CudaAttention), else
// the original fixed shape (BM 64, 128 threads, (64 + 4·BN)·(P+8)·2 bytes, BN 64).
template <class X, class = void> struct complete : std::false_type {};
template <class X> struct complete<X, std::void_t<decltype(sizeof(X))>> : std::true_type {};
template <int P, class TL = surpass::flash_fwd::DefaultTile<P>> void v1_shape(int& bm, int& threads, int& smem) {
    if constexpr (complete<TL>::value) {
        bm = 16 * TL::MT * TL::WARPS;
        threads = 32 * TL::WARPS;
        smem = (bm + 2 * TL::STAGES * TL::BN) * (P + 8) * 2;
    } else {
        bm = 64;
        threads = 128;
        smem = (64 + 4 * 64) * (P + 8) * 2;
    }
}

template <typename T> void launch_v1(const Shape& s, const T* q, const T* k, const T* v, T* o, float* lse, float scale) {
    const bool bf = std::is_same<T, __nv_bfloat16>::value;
    int bm, threads, smem;
    if (s.d == 128) v1_shape<128>(bm, threads, smem);
    else v1_shape<64>(bm, threads, smem);
    dim3 grid((s.nq + bm - 1) / bm, s.hq, s.b);
    int wl = s.wl, wr = right_offset(s);
#define V1(DT, TT, D)                                                                                                 \
    do {                                                                                                              \
        CK(cudaFuncSetAttribute(surpass_attention_flash_fwd_##DT##_d##D, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)); \
        surpass_attention_flash_fwd_##DT##_d##D<<<grid, threads, smem>>>((const TT*)q, (const TT*)k, (const TT*)v, (TT*)o, lse, \
                                                                     nullptr, nullptr, s.nq, s.nk, 0, s.hq, s.hkv, s.d, \
                                                                     scale, 0.0f, wl, wr);                            \
    } while (0)
    if (bf && s.d == 128) V1(bf16, __nv_bfloat16, 128);
    else if (bf && s.d == 64) V1(bf16, __nv_bfloat16, 64);
    else if (!bf && s.d == 128) V1(f16, __half, 128);
    else V1(f16, __half, 64);
#undef V1
    CK(cudaGetLastError());
}

template <typename T> void launch_simple(const Shape& s, const T* q, const T* k, const T* v, T* o, float* lse, float scale) {
    const bool bf = std::is_same<T, __nv_bfloat16>::value;
    dim3 grid((s.nq + 15) / 16, s.hq, s.b);
    int smem = (16 * s.d + 32 * (s.d + 1) + 32 * s.d + 512) * 4;
    int wl = s.wl, wr = right_offset(s);
    if (bf) {
        CK(cudaFuncSetAttribute(surpass_attention_flash_fwd_simple_bf16, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        surpass_attention_flash_fwd_simple_bf16<<<grid, 128, smem>>>((const __nv_bfloat16*)q, (const __nv_bfloat16*)k,
                                                                     (const __nv_bfloat16*)v, (__nv_bfloat16*)o, lse, nullptr,
                                                                     nullptr, s.nq, s.nk, 0, s.hq, s.hkv, s.d, scale, 0.0f, wl, wr);
    } else {
        CK(cudaFuncSetAttribute(surpass_attention_flash_fwd_simple_f16, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        surpass_attention_flash_fwd_simple_f16<<<grid, 128, smem>>>((const __half*)q, (const __half*)k, (const __half*)v,
                                                                    (__half*)o, lse, nullptr, nullptr, s.nq, s.nk, 0, s.hq,
                                                                    s.hkv, s.d, scale, 0.0f, wl, wr);
    }
    CK(cudaGetLastError());
}

// ---- unit check of the building blocks: one warpgroup, one tile -----------------------------------
// Q [64][128], K and V [128][128] bf16 through TMA (the kernel's maps and swizzle), then
//   S = Q·Kᵀ with WgmmaSS (K-major descriptors, as in issue_qk) → s_out [64][128] fp32
//   O = bf16(S)·V with WgmmaRS (P from registers, V MN-major, as in issue_pv) → o_out [64][128] fp32
// so that a wrong descriptor or fragment layout shows apart from the pipeline logic.
__global__ void __launch_bounds__(128, 1) unit_tile(const __grid_constant__ CUtensorMap mq,
                                                    const __grid_constant__ CUtensorMap mk,
                                                    const __grid_constant__ CUtensorMap mv, float* s_out, float* o_out) {
    using namespace surpass::flash_fwd_sm90a;
    extern __shared__ __align__(1024) unsigned char unit_smem[];
    const unsigned base = (smem_u32(unit_smem) + 1023u) & ~1023u;
    const unsigned sQ = base, sK = sQ + 64 * 128 * 2, sV = sK + 128 * 128 * 2, bar = sV + 128 * 128 * 2;
    if (threadIdx.x == 0) {
        mbar_init(bar, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        mbar_arrive_expect_tx(bar, (64 + 128 + 128) * 128 * 2);
        for (int c = 0; c < 2; ++c) {
            tma_load_4d(sQ + c * 64 * 128, &mq, c * 64, 0, 0, 0, bar);
            tma_load_4d(sK + c * 128 * 128, &mk, c * 64, 0, 0, 0, bar);
            tma_load_4d(sV + c * 128 * 128, &mv, c * 64, 0, 0, 0, bar);
        }
    }
    mbar_wait(bar, 0);
    float s[64], o[64];
    for (int i = 0; i < 64; ++i) s[i] = o[i] = 0.0f;
    unsigned p[8][4];
    wgmma_fence();
    for (int ks = 0; ks < 8; ++ks) {
        WgmmaSS<__nv_bfloat16, 128>::run(s, sw128_desc(sQ + (ks / 4) * 64 * 128 + (ks % 4) * 32, 16, 1024),
                                         sw128_desc(sK + (ks / 4) * 128 * 128 + (ks % 4) * 32, 16, 1024), ks);
    }
    wgmma_commit();
    wgmma_wait<0>();
    reg_fence(s);
    pack_p<__nv_bfloat16, 128>(s, p);
    wgmma_fence();
    for (int kk = 0; kk < 8; ++kk) WgmmaRS<__nv_bfloat16, 128>::run(o, p[kk], sw128_desc(sV + kk * 16 * 128, 128 * 128, 1024));
    wgmma_commit();
    wgmma_wait<0>();
    reg_fence(o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gid = lane / 4, tig = lane % 4;
    for (int i = 0; i < 64; ++i) {
        const int row = warp * 16 + gid + 8 * ((i >> 1) & 1), col = (i >> 2) * 8 + 2 * tig + (i & 1);
        s_out[row * 128 + col] = s[i];
        o_out[row * 128 + col] = o[i];
    }
}

float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
float to_f(__half x) { return __half2float(x); }
template <typename T> T from_f(float x);
template <> __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <> __half from_f<__half>(float x) { return __float2half(x); }

unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
float urand() {  // [0, 1)
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f;
}
float nrand() {
    float u1 = std::max(urand(), 1e-7f), u2 = urand();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
}

struct Err {
    double max_abs = 0;  // max |got - ref|
    double norm = 0;     // max |got - ref| / (atol + rtol·|ref|): <= 1 passes
    long nan = 0;
};

template <typename T> Err compare(const std::vector<T>& got, const std::vector<T>& ref, double atol, double rtol) {
    Err e;
    for (size_t i = 0; i < got.size(); ++i) {
        float g = to_f(got[i]), r = to_f(ref[i]);
        if (std::isnan(g)) {
            e.nan++;
            continue;
        }
        const double d = std::fabs((double)g - r);
        e.max_abs = std::max(e.max_abs, d);
        e.norm = std::max(e.norm, d / (atol + rtol * std::fabs(r)));
    }
    return e;
}

// LSE: returns the number of bad entries (and the max relative difference seen).
long compare_lse(const std::vector<float>& got, const std::vector<float>& ref, double* worst) {
    long bad = 0;
    *worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        float g = got[i], r = ref[i];
        if (std::isinf(r) && r < 0) {
            if (!(std::isinf(g) && g < 0)) bad++;
            continue;
        }
        if (std::isnan(g)) {
            bad++;
            continue;
        }
        double d = std::fabs((double)g - r) / std::max(1.0, (double)std::fabs(r));
        *worst = std::max(*worst, d);
        if (d > 1e-3) bad++;
    }
    return bad;
}

template <typename T> bool run_case(const Shape& s) {
    const size_t nqe = (size_t)s.b * s.nq * s.hq * s.d, nke = (size_t)s.b * s.nk * s.hkv * s.d;
    const size_t nl = (size_t)s.b * s.hq * s.nq;
    std::vector<T> hq(nqe), hk(nke), hv(nke);
    for (auto& x : hq) x = from_f<T>(nrand());
    for (auto& x : hk) x = from_f<T>(nrand());
    for (auto& x : hv) x = from_f<T>(nrand());
    T *q, *k, *v, *o1, *o2, *o0, *o3;
    float *l1, *l2, *l0, *l3;
    CK(cudaMalloc(&q, nqe * sizeof(T)));
    CK(cudaMalloc(&k, nke * sizeof(T)));
    CK(cudaMalloc(&v, nke * sizeof(T)));
    CK(cudaMalloc(&o0, nqe * sizeof(T)));
    CK(cudaMalloc(&o1, nqe * sizeof(T)));
    CK(cudaMalloc(&o2, nqe * sizeof(T)));
    CK(cudaMalloc(&o3, nqe * sizeof(T)));
    CK(cudaMalloc(&l3, nl * 4));
    CK(cudaMalloc(&l0, nl * 4));
    CK(cudaMalloc(&l1, nl * 4));
    CK(cudaMalloc(&l2, nl * 4));
    CK(cudaMemcpy(q, hq.data(), nqe * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(k, hk.data(), nke * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(v, hv.data(), nke * sizeof(T), cudaMemcpyHostToDevice));
    // Poison: 0xFF bytes are NaN in fp16, bf16 and fp32.
    CK(cudaMemset(o0, 0xFF, nqe * sizeof(T)));
    CK(cudaMemset(o1, 0xFF, nqe * sizeof(T)));
    CK(cudaMemset(o2, 0xFF, nqe * sizeof(T)));
    CK(cudaMemset(o3, 0xFF, nqe * sizeof(T)));
    CK(cudaMemset(l3, 0xFF, nl * 4));
    CK(cudaMemset(l0, 0xFF, nl * 4));
    CK(cudaMemset(l1, 0xFF, nl * 4));
    CK(cudaMemset(l2, 0xFF, nl * 4));
    const float scale = 1.0f / std::sqrt((float)s.d);
    std::printf("case B%d nq%d nk%d Hq%d Hkv%d D%d %s %s window(%d,%d): ", s.b, s.nq, s.nk, s.hq, s.hkv, s.d,
                s.bf16 ? "bf16" : "fp16", s.causal ? "causal" : "full", s.wl, s.wr);
    std::fflush(stdout);
    launch_simple<T>(s, q, k, v, o0, l0, scale);
    finish("simple kernel");
    launch_v1<T>(s, q, k, v, o1, l1, scale);
    finish("v1 (sm_80) kernel");
    launch_v2<T>(s, q, k, v, o2, l2, scale);
    finish("v2 (sm90a) kernel");
    launch_v2<T>(s, q, k, v, o3, l3, scale, false);
    finish("v2 without ping-pong");
    std::vector<T> r0(nqe), r1(nqe), r2(nqe), r3(nqe);
    std::vector<float> g0(nl), g1(nl), g2(nl), g3(nl);
    CK(cudaMemcpy(r3.data(), o3, nqe * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(g3.data(), l3, nl * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(r0.data(), o0, nqe * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(r1.data(), o1, nqe * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(r2.data(), o2, nqe * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(g0.data(), l0, nl * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(g1.data(), l1, nl * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(g2.data(), l2, nl * 4, cudaMemcpyDeviceToHost));
    // |err| <= atol + rtol·|ref| elementwise against the fp32-arithmetic simple kernel: bf16 1e-2 + 1e-2·|ref|,
    // fp16 2e-3 + 2e-3·|ref| (output rounding plus P rounded to 16 bits); v1 is measured the same way.
    const double atol = s.bf16 ? 1e-2 : 2e-3, rtol = atol;
    Err e1 = compare(r1, r0, atol, rtol), e2 = compare(r2, r0, atol, rtol), e3 = compare(r3, r0, atol, rtol);
    double w1, w2, w3;
    long b1 = compare_lse(g1, g0, &w1), b2 = compare_lse(g2, g0, &w2), b3 = compare_lse(g3, g0, &w3);
    const double tol = atol;  // for the listing of bad elements below
    const bool ok = e2.nan == 0 && e2.norm <= 1.0 && b2 == 0;
    const bool ok3 = e3.nan == 0 && e3.norm <= 1.0 && b3 == 0;
    std::printf("%s  v2 max|err| %.3e (%.2f of tol) nan %ld lse-bad %ld (max rel %.1e) | v1 max|err| %.3e (%.2f) nan %ld "
                "lse-bad %ld | v2-no-pingpong %s (max|err| %.3e nan %ld lse-bad %ld)\n",
                ok ? "PASS" : "FAIL", e2.max_abs, e2.norm, e2.nan, b2, w2, e1.max_abs, e1.norm, e1.nan, b1, ok3 ? "ok" : "WRONG",
                e3.max_abs, e3.nan, b3);
    if (!ok) {  // first few differing elements, to locate the bug
        int shown = 0;
        for (size_t i = 0; i < nqe && shown < 6; ++i) {
            float g = to_f(r2[i]), r = to_f(r0[i]);
            if (std::isnan(g) || std::fabs(g - r) > tol + tol * std::fabs(r)) {
                size_t dd = i % s.d, hh = (i / s.d) % s.hq, nn = (i / s.d / s.hq) % s.nq, bb = i / s.d / s.hq / s.nq;
                std::printf("    o[b%zu n%zu h%zu d%zu] v2 %g ref %g v1 %g\n", bb, nn, hh, dd, g, r, to_f(r1[i]));
                shown++;
            }
        }
        shown = 0;
        for (size_t i = 0; i < nl && shown < 3; ++i) {
            if (!(g2[i] == g0[i]) && !(std::fabs(g2[i] - g0[i]) <= 1e-3 * std::max(1.0f, std::fabs(g0[i])))) {
                std::printf("    lse[%zu] (b%zu h%zu n%zu) v2 %g ref %g\n", i, i / s.nq / s.hq, (i / s.nq) % s.hq, i % s.nq,
                            g2[i], g0[i]);
                shown++;
            }
        }
    }
    std::fflush(stdout);
    for (void* p : {(void*)q, (void*)k, (void*)v, (void*)o0, (void*)o1, (void*)o2, (void*)o3, (void*)l0, (void*)l1, (void*)l2, (void*)l3})
        CK(cudaFree(p));
    return ok;
}

template <typename T> void time_case(const Shape& s) {
    const size_t nqe = (size_t)s.b * s.nq * s.hq * s.d, nke = (size_t)s.b * s.nk * s.hkv * s.d;
    std::vector<T> h(std::max(nqe, nke));
    for (auto& x : h) x = from_f<T>(4.0f * urand() - 2.0f);
    T *q, *k, *v, *o;
    float* l;
    CK(cudaMalloc(&q, nqe * sizeof(T)));
    CK(cudaMalloc(&k, nke * sizeof(T)));
    CK(cudaMalloc(&v, nke * sizeof(T)));
    CK(cudaMalloc(&o, nqe * sizeof(T)));
    CK(cudaMalloc(&l, (size_t)s.b * s.hq * s.nq * 4));
    CK(cudaMemcpy(q, h.data(), nqe * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(k, h.data(), nke * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(v, h.data(), nke * sizeof(T), cudaMemcpyHostToDevice));
    const float scale = 1.0f / std::sqrt((float)s.d);
    double flops = 4.0 * s.b * s.hq * (double)s.nq * s.nk * s.d * (s.causal ? 0.5 : 1.0);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int which = 3; which >= 1; --which) {
        std::vector<float> ms;
        for (int it = 0; it < 25; ++it) {
            CK(cudaEventRecord(e0));
            if (which >= 2) launch_v2<T>(s, q, k, v, o, l, scale, which == 2);
            else launch_v1<T>(s, q, k, v, o, l, scale);
            CK(cudaEventRecord(e1));
            finish(which >= 2 ? "v2 timing" : "v1 timing");
            float t;
            CK(cudaEventElapsedTime(&t, e0, e1));
            if (it >= 5) ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        float med = ms[ms.size() / 2];
        std::printf("time %s B%d H%d N%d D%d %s %s: median %.3f ms (min %.3f) = %.1f TFLOP/s\n",
                    which == 2 ? "v2 sm90a        " : which == 3 ? "v2 no-pingpong  " : "v1 sm80         ", s.b, s.hq, s.nq, s.d, s.bf16 ? "bf16" : "fp16",
                    s.causal ? "causal    " : "non-causal", med, ms[0], flops / (med * 1e-3) / 1e12);
        std::fflush(stdout);
    }
    for (void* p : {(void*)q, (void*)k, (void*)v, (void*)o, (void*)l}) CK(cudaFree(p));
}

// Runs unit_tile on exact small inputs; prints and returns whether S and O match the host.
bool unit_check() {
    std::vector<__nv_bfloat16> hq(64 * 128), hk(128 * 128), hv(128 * 128);
    auto small = [] { return __float2bfloat16(0.25f * (float)((int)(urand() * 7.0f) - 3)); };
    for (auto& x : hq) x = small();
    for (auto& x : hk) x = small();
    for (auto& x : hv) x = small();
    __nv_bfloat16 *q, *k, *v;
    float *so, *oo;
    CK(cudaMalloc(&q, hq.size() * 2));
    CK(cudaMalloc(&k, hk.size() * 2));
    CK(cudaMalloc(&v, hv.size() * 2));
    CK(cudaMalloc(&so, 64 * 128 * 4));
    CK(cudaMalloc(&oo, 64 * 128 * 4));
    CK(cudaMemcpy(q, hq.data(), hq.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(k, hk.data(), hk.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(v, hv.data(), hv.size() * 2, cudaMemcpyHostToDevice));
    CUtensorMap mq = make_map(q, true, 128, 1, 64, 1, 64), mk = make_map(k, true, 128, 1, 128, 1, 128),
                mv = make_map(v, true, 128, 1, 128, 1, 128);
    const int smem = 1024 + (64 + 256) * 128 * 2 + 64;
    CK(cudaFuncSetAttribute(unit_tile, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    unit_tile<<<1, 128, smem>>>(mq, mk, mv, so, oo);
    CK(cudaGetLastError());
    finish("unit_tile");
    std::vector<float> s(64 * 128), o(64 * 128);
    CK(cudaMemcpy(s.data(), so, s.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(o.data(), oo, o.size() * 4, cudaMemcpyDeviceToHost));
    double es = 0, eo = 0;
    for (int i = 0; i < 64; ++i) {
        for (int j = 0; j < 128; ++j) {
            double ref = 0;  // exact: multiples of 1/16, |S| <= 72
            for (int c = 0; c < 128; ++c) ref += (double)to_f(hq[i * 128 + c]) * to_f(hk[j * 128 + c]);
            es = std::max(es, std::fabs(ref - s[i * 128 + j]));
        }
    }
    for (int i = 0; i < 64; ++i) {
        for (int c = 0; c < 128; ++c) {
            double ref = 0;  // P rounded to bf16 as pack_p does, from the GPU's own S
            for (int j = 0; j < 128; ++j) ref += (double)to_f(__float2bfloat16(s[i * 128 + j])) * to_f(hv[j * 128 + c]);
            eo = std::max(eo, std::fabs(ref - o[i * 128 + c]) / std::max(1.0, std::fabs(ref)));
        }
    }
    const bool ok_s = es == 0.0, ok_o = eo < 1e-4;
    std::printf("unit Q·Kᵀ (TMA 128B swizzle, wgmma SS, K-major descriptors): max |err| %.3g %s\n", es, ok_s ? "OK" : "WRONG");
    std::printf("unit P·V (P from registers, V MN-major descriptor, LBO = 128·128 B): max rel err %.3g %s\n", eo,
                ok_o ? "OK" : "WRONG");
    std::fflush(stdout);
    for (void* p : {(void*)q, (void*)k, (void*)v, (void*)so, (void*)oo}) CK(cudaFree(p));
    return ok_s && ok_o;
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    bool time_only = argc > 1 && std::strcmp(argv[1], "--time") == 0;
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    std::printf("device %s, cc %d.%d, %d SMs, smem opt-in %zu\n", p.name, p.major, p.minor, p.multiProcessorCount,
                p.sharedMemPerBlockOptin);
    if (p.major != 9 || p.minor != 0) {
        std::printf("not a compute capability 9.0 device: the sm_90a kernel cannot run here\n");
        return 2;
    }
    int pass = 0, total = 0;
    if (!time_only) {
        total++;
        pass += unit_check();
        std::vector<Shape> cases = {
            {1, 1, 1, 1, 1, 128, false, true},
            {2, 7, 7, 2, 2, 64, true, true},
            {1, 63, 63, 2, 2, 128, true, true},
            {1, 64, 64, 2, 2, 128, false, true},
            {1, 65, 65, 2, 1, 64, true, true},
            {2, 127, 127, 4, 4, 128, true, true},
            {1, 128, 128, 2, 2, 128, true, true},
            {1, 129, 300, 2, 2, 128, false, true},
            {1, 1000, 1000, 4, 1, 128, true, true},    // GQA 4
            {2, 2049, 2049, 8, 1, 64, false, false},   // GQA 8, fp16
            {1, 100, 37, 2, 2, 128, true, true},       // Nq > Nk causal: the first 63 rows see no key
            {1, 37, 1000, 2, 2, 128, true, true},      // Nq < Nk causal
            {2, 1000, 1000, 2, 2, 128, false, true, 100, 20},  // window
            {3, 513, 513, 4, 4, 128, true, false},     // fp16 d128
            {2, 300, 777, 4, 2, 64, false, false},     // fp16 d64 GQA 2
            {2, 2049, 2049, 2, 2, 128, false, true},
            {1, 2049, 2049, 2, 2, 128, true, true},
        };
        if (quick) cases.resize(8);
        for (const Shape& s : cases) {
            total++;
            bool ok = s.bf16 ? run_case<__nv_bfloat16>(s) : run_case<__half>(s);
            pass += ok;
        }
        std::printf("RESULT: %d/%d correctness cases passed\n", pass, total);
        std::fflush(stdout);
    }
    if (!quick) {
        time_case<__nv_bfloat16>({16, 2048, 2048, 16, 16, 128, false, true});
        time_case<__nv_bfloat16>({16, 2048, 2048, 16, 16, 128, true, true});
        time_case<__nv_bfloat16>({16, 2048, 2048, 16, 16, 64, false, true});
        time_case<__nv_bfloat16>({16, 2048, 2048, 16, 16, 64, true, true});
        time_case<__half>({16, 2048, 2048, 16, 16, 128, false, false});
        time_case<__nv_bfloat16>({4, 8192, 8192, 16, 16, 128, true, true});
    }
    return pass == total ? 0 : 1;
}
