// attention_variants.cu — checks and times tile variants of the CUDA attention kernels.
//
// Standalone (no Java): #includes the kernel sources of kernels/attention, instantiates the prefill
// kernel (flash_attention_fwd.cu, template Tile<WARPS, MT, BN, STAGES, QREG>) and the paged decode
// kernel (paged_decode.cu, template <HC, P, WARPS, U>, split count from the host) in several
// shapes, checks each against a plain fp32 GPU reference written here (one block per query row,
// two-pass softmax) on awkward shapes, and times each at the issue's target shapes with CUDA events
// (median of 20 after 3 warm-ups):
//   prefill  bf16 B16 H16 N2048 D64/D128, causal and not: TFLOP/s = 4·B·H·N²·D (halved for causal) / t
//   decode   bf16 B64 Hq32 Hkv8 L4096 D128, page 16, pages shuffled: GB/s = K and V bytes read / t
//            (decode + combine when split)
// The old decode kernel (benchmarks/gpu/paged_decode_v1.cuh) is timed too, as a same-run baseline.
// It also checks the production entry points (the extern "C" kernels the Java launchers call) at
// every padded head dim, fp16 and bf16, varlen with an empty sequence, window, softcap, GQA, and
// decode with ragged lengths, several page sizes, head dims and split counts.
// Output: one line per check and per timing, then a summary of the best variant per shape.
// A variant marked FAIL must not be chosen. The production choice is DefaultTile<P> in
// flash_attention_fwd.cu and kWarps/kUnroll in paged_decode.cu; CudaAttention.java mirrors the
// prefill tile (mmaBlockM, mmaBlockN, mmaStages, mmaThreads) and the decode split heuristic.
//
// Build and run: benchmarks/gpu/attention_variants.sh OUTDIR
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "attention/attention_combine.cu"
#include "attention/flash_attention_fwd.cu"
#include "attention/paged_decode.cu"
#include "paged_decode_v1.cuh"  // the old decode kernel, for a same-run baseline

#define CK(x)                                                                                          \
    do {                                                                                               \
        cudaError_t e_ = (x);                                                                          \
        if (e_ != cudaSuccess) {                                                                       \
            std::printf("CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x); \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

using bf16 = __nv_bfloat16;
using surpass::flash_fwd::Cfg;
using surpass::flash_fwd::Tile;

static int g_failures = 0;

// ---- inputs and references ------------------------------------------------------------------------

__device__ __forceinline__ unsigned hash32(unsigned long long x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<unsigned>(x);
}

// Uniform in [-amp, amp), from (seed, index): fresh inputs per check without host copies.
template <typename T> __global__ void fill_random(T* p, long long n, unsigned seed, float amp) {
    for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long long>(gridDim.x) * blockDim.x) {
        const float u = (hash32((static_cast<unsigned long long>(seed) << 40) ^ i) >> 8) * (1.0f / 16777216.0f);
        p[i] = surpass::from_float<T>((2.0f * u - 1.0f) * amp);
    }
}

// The prefill reference: block (i, h, b) computes query row i of head h of sequence b in fp32 with
// a two-pass softmax; masks written out from the definition (bottom-right aligned window).
template <typename T>
__global__ void ref_prefill(const T* q, const T* k, const T* v, float* o, float* lse, const int* cu_q, const int* cu_k,
                            int nq, int nk, int total_q, int hq, int hkv, int d, float scale, float softcap, int wl,
                            int wr) {
    extern __shared__ float sp[];  // [sk] scores, then 2 floats (m, l)
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const long long q0 = cu_q ? cu_q[b] : static_cast<long long>(b) * nq;
    const int sq = cu_q ? cu_q[b + 1] - cu_q[b] : nq;
    const long long k0 = cu_k ? cu_k[b] : static_cast<long long>(b) * nk;
    const int sk = cu_k ? cu_k[b + 1] - cu_k[b] : nk;
    if (i >= sq) return;
    const int g = h / (hq / hkv);
    const long long diag = static_cast<long long>(i) + sk - sq;
    const T* qr = q + ((q0 + i) * hq + h) * static_cast<long long>(d);
    for (int j = threadIdx.x; j < sk; j += blockDim.x) {
        const bool vis = (wl < 0 || j >= diag - wl) && (wr < 0 || j <= diag + wr);
        float s = -INFINITY;
        if (vis) {
            const T* kr = k + ((k0 + j) * hkv + g) * static_cast<long long>(d);
            float dot = 0.0f;
            for (int c = 0; c < d; ++c) dot += surpass::to_float(qr[c]) * surpass::to_float(kr[c]);
            float t = dot * scale;
            if (softcap > 0.0f) t = softcap * tanhf(t / softcap);
            s = t;
        }
        sp[j] = s;
    }
    __syncthreads();
    float* st = sp + sk;
    if (threadIdx.x == 0) {
        float m = -INFINITY;
        for (int j = 0; j < sk; ++j) m = fmaxf(m, sp[j]);
        st[0] = m;
    }
    __syncthreads();
    const float m = st[0];
    for (int j = threadIdx.x; j < sk; j += blockDim.x)
        sp[j] = m == -INFINITY ? 0.0f : static_cast<float>(exp(static_cast<double>(sp[j]) - m));  // weights
    __syncthreads();
    if (threadIdx.x == 0) {
        double l = 0.0;
        for (int j = 0; j < sk; ++j) l += sp[j];
        st[1] = static_cast<float>(l);
    }
    __syncthreads();
    const float l = st[1];
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        double acc = 0.0;
        if (m != -INFINITY) {
            for (int j = 0; j < sk; ++j) acc += sp[j] * surpass::to_float(v[((k0 + j) * hkv + g) * static_cast<long long>(d) + c]);
            acc /= l;
        }
        o[((q0 + i) * hq + h) * static_cast<long long>(d) + c] = static_cast<float>(acc);
    }
    if (threadIdx.x == 0 && lse != nullptr) {
        const long long li = cu_q ? static_cast<long long>(h) * total_q + q0 + i : (static_cast<long long>(b) * hq + h) * nq + i;
        lse[li] = m == -INFINITY ? -INFINITY : m + logf(l);
    }
}

// The decode reference: block (h, b) over the visible tokens of sequence b, pages looked up one by one.
template <typename T>
__global__ void ref_decode(const T* q, const T* kp, const T* vp, const int* pt, const int* lens, float* o, float* lse,
                           int hq, int hkv, int d, int ps, int max_pages, int wl, float scale, float softcap) {
    extern __shared__ float sp[];  // [len] scores, then (m, l)
    const int h = blockIdx.x, b = blockIdx.y, g = h / (hq / hkv);
    const int len = lens[b];
    const int lo = wl < 0 ? 0 : max(0, len - 1 - wl);
    const T* qr = q + (static_cast<long long>(b) * hq + h) * d;
    auto row = [&](int t) {
        const int page = pt[static_cast<long long>(b) * max_pages + t / ps];
        return ((static_cast<long long>(page) * ps + t % ps) * hkv + g) * d;
    };
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        float s = -INFINITY;
        if (t >= lo) {
            const T* kr = kp + row(t);
            float dot = 0.0f;
            for (int c = 0; c < d; ++c) dot += surpass::to_float(qr[c]) * surpass::to_float(kr[c]);
            float x = dot * scale;
            if (softcap > 0.0f) x = softcap * tanhf(x / softcap);
            s = x;
        }
        sp[t] = s;
    }
    __syncthreads();
    float* st = sp + len;
    if (threadIdx.x == 0) {
        float m = -INFINITY;
        for (int t = 0; t < len; ++t) m = fmaxf(m, sp[t]);
        st[0] = m;
    }
    __syncthreads();
    const float m = st[0];
    for (int t = threadIdx.x; t < len; t += blockDim.x)
        sp[t] = m == -INFINITY ? 0.0f : static_cast<float>(exp(static_cast<double>(sp[t]) - m));  // weights
    __syncthreads();
    if (threadIdx.x == 0) {
        double l = 0.0;
        for (int t = 0; t < len; ++t) l += sp[t];
        st[1] = static_cast<float>(l);
    }
    __syncthreads();
    const float l = st[1];
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        double acc = 0.0;
        if (m != -INFINITY) {
            for (int t = lo; t < len; ++t) acc += sp[t] * surpass::to_float(vp[row(t) + c]);
            acc /= l;
        }
        o[(static_cast<long long>(b) * hq + h) * d + c] = static_cast<float>(acc);
    }
    if (threadIdx.x == 0) lse[static_cast<long long>(b) * hq + h] = m == -INFINITY ? -INFINITY : m + logf(l);
}

// ---- host helpers -----------------------------------------------------------------------------------

template <typename T> static T* dalloc(size_t n) {
    T* p = nullptr;
    CK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)));
    return p;
}

template <typename T> static void randomize(T* p, long long n, unsigned seed, float amp = 1.0f) {
    fill_random<T><<<1024, 256>>>(p, n, seed, amp);
    CK(cudaGetLastError());
}

static float bf_to_f(uint16_t b) {
    uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static float h_to_f(uint16_t h) {
    const uint32_t s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
    float f;
    if (e == 0) f = std::ldexp(static_cast<float>(m), -24);
    else if (e == 31) f = m ? NAN : INFINITY;
    else f = std::ldexp(static_cast<float>(m | 1024), static_cast<int>(e) - 25);
    return s ? -f : f;
}
template <typename T> static std::vector<float> download(const T* p, size_t n) {
    std::vector<float> out(n);
    if constexpr (sizeof(T) == 4) {
        CK(cudaMemcpy(out.data(), p, n * 4, cudaMemcpyDeviceToHost));
    } else {
        std::vector<uint16_t> raw(n);
        CK(cudaMemcpy(raw.data(), p, n * 2, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; ++i) out[i] = std::is_same<T, bf16>::value ? bf_to_f(raw[i]) : h_to_f(raw[i]);
    }
    return out;
}

// Relative L2 error of out against ref (NaN/inf in out: returns inf), and the largest |Δlse| over
// rows (-inf must match -inf).
struct Err {
    double rel = 0, lse = 0;
    bool ok(double tol) const { return std::isfinite(rel) && rel < tol && std::isfinite(lse) && lse < 1e-3; }
};
static Err compare(const std::vector<float>& out, const std::vector<float>& ref, const std::vector<float>& lse,
                   const std::vector<float>& lse_ref) {
    Err e;
    double num = 0, den = 0;
    for (size_t i = 0; i < out.size(); ++i) {
        if (!std::isfinite(out[i])) {
            e.rel = INFINITY;
            return e;
        }
        num += (out[i] - ref[i]) * static_cast<double>(out[i] - ref[i]);
        den += static_cast<double>(ref[i]) * ref[i];
    }
    e.rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    for (size_t i = 0; i < lse.size(); ++i) {
        if (std::isinf(lse_ref[i]) && lse_ref[i] < 0) {
            if (!(std::isinf(lse[i]) && lse[i] < 0)) e.lse = INFINITY;
        } else if (!std::isfinite(lse[i])) {
            e.lse = INFINITY;
        } else {
            e.lse = std::max(e.lse, static_cast<double>(std::fabs(lse[i] - lse_ref[i])));
        }
    }
    return e;
}

template <typename F> static float median_ms(F&& launch, int warm = 3, int reps = 20) {
    for (int i = 0; i < warm; ++i) launch();
    CK(cudaDeviceSynchronize());
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    std::vector<float> t;
    for (int i = 0; i < reps; ++i) {
        CK(cudaEventRecord(a));
        launch();
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        float ms;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    CK(cudaGetLastError());
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// ---- prefill variants ---------------------------------------------------------------------------------

#define FWD_PARAMS(T)                                                                                            \
    const T *q, const T *k, const T *v, T *o, float *lse, const int *cu_q, const int *cu_k, int nq, int nk, \
        int total_q, int hq, int hkv, int d, float scale, float softcap, int wl, int wr
typedef void (*FwdFn)(FWD_PARAMS(bf16));
typedef void (*FwdFnH)(FWD_PARAMS(__half));

template <int P, class TL>
__global__ void __launch_bounds__(32 * TL::WARPS) fwd_variant(FWD_PARAMS(bf16)) {
    surpass::flash_fwd::flash_fwd_mma<bf16, P, TL>(q, k, v, o, lse, cu_q, cu_k, nq, nk, total_q, hq, hkv, d, scale,
                                                   softcap, wl, wr);
}

struct FwdVariant {
    std::string name;
    int p, bm, threads, smem;
    const void* fn;  // FwdFn or FwdFnH
};

template <int P, class TL> static FwdVariant fwd_variant_of(const char* tag) {
    using C = Cfg<bf16, P, TL>;
    char buf[160];
    std::snprintf(buf, sizeof buf, "d%d W%d MT%d BN%d ST%d QREG%d%s", P, TL::WARPS, TL::MT, TL::BN, TL::STAGES,
                  TL::QREG ? 1 : 0, tag);
    return {buf, P, C::BM, C::THREADS, C::SMEM_BYTES, reinterpret_cast<const void*>(&fwd_variant<P, TL>)};
}

// The production entries: the same DefaultTile the Java launcher assumes.
template <int P> static FwdVariant fwd_production(const void* fn) {
    using TL = surpass::flash_fwd::DefaultTile<P>;
    using C = Cfg<bf16, P, TL>;
    char buf[160];
    std::snprintf(buf, sizeof buf, "d%d W%d MT%d BN%d ST%d QREG%d (production entry)", P, TL::WARPS, TL::MT, TL::BN,
                  TL::STAGES, TL::QREG ? 1 : 0);
    return {buf, P, C::BM, C::THREADS, C::SMEM_BYTES, fn};
}

struct PrefillShape {
    int b, nq, nk, hq, hkv, d;
    bool causal;
    int wl, wr;
    float softcap;
    std::vector<int> seqs_q, seqs_k;  // varlen when non-empty (b = seqs_q.size())
};

template <typename T>
static void launch_fwd(const FwdVariant& v, const T* q, const T* k, const T* vv, T* o, float* lse, const int* cq,
                       const int* ck, int b, int nq, int nk, int tq, int hq, int hkv, int d, float scale, float softcap,
                       int wl, int wr) {
    CK(cudaFuncSetAttribute(v.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, v.smem));
    dim3 grid((nq + v.bm - 1) / v.bm, hq, b);
    void* args[] = {&q, &k, &vv, &o, &lse, &cq, &ck, &nq, &nk, &tq, &hq, &hkv, &d, &scale, &softcap, &wl, &wr};
    CK(cudaLaunchKernel(v.fn, grid, dim3(v.threads), args, v.smem, 0));
    CK(cudaGetLastError());
}

// Runs variant v on shape s (fresh random inputs), compares with the reference; true when it passes.
template <typename T> static bool check_fwd(const FwdVariant& v, const PrefillShape& s, unsigned seed) {
    const bool varlen = !s.seqs_q.empty();
    const int b = varlen ? static_cast<int>(s.seqs_q.size()) : s.b;
    std::vector<int> cq(b + 1, 0), ck(b + 1, 0);
    int nq = s.nq, nk = s.nk;
    if (varlen) {
        nq = nk = 0;
        for (int i = 0; i < b; ++i) {
            cq[i + 1] = cq[i] + s.seqs_q[i], ck[i + 1] = ck[i] + s.seqs_k[i];
            nq = std::max(nq, s.seqs_q[i]), nk = std::max(nk, s.seqs_k[i]);
        }
    }
    const long long tq = varlen ? cq[b] : static_cast<long long>(b) * nq, tk = varlen ? ck[b] : static_cast<long long>(b) * nk;
    const int d = s.d;
    T* q = dalloc<T>(tq * s.hq * d);
    T* k = dalloc<T>(tk * s.hkv * d);
    T* vv = dalloc<T>(tk * s.hkv * d);
    T* o = dalloc<T>(tq * s.hq * d);
    float* ref = dalloc<float>(tq * s.hq * d);
    float* lse = dalloc<float>(tq * s.hq);
    float* lse_ref = dalloc<float>(tq * s.hq);
    int* dcq = varlen ? dalloc<int>(b + 1) : nullptr;
    int* dck = varlen ? dalloc<int>(b + 1) : nullptr;
    if (varlen) {
        CK(cudaMemcpy(dcq, cq.data(), (b + 1) * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dck, ck.data(), (b + 1) * 4, cudaMemcpyHostToDevice));
    }
    randomize(q, tq * s.hq * d, seed + 1, 2.0f);
    randomize(k, tk * s.hkv * d, seed + 2, 2.0f);
    randomize(vv, tk * s.hkv * d, seed + 3, 1.0f);
    CK(cudaMemset(o, 0xff, tq * s.hq * d * sizeof(T)));  // NaN poison: unwritten elements fail
    CK(cudaMemset(lse, 0xff, tq * s.hq * 4));
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int wr = s.causal ? (s.wr < 0 ? 0 : std::min(s.wr, 0)) : s.wr;
    ref_prefill<T><<<dim3(std::max(nq, 1), s.hq, b), 128, (std::max(nk, 1) + 2) * 4>>>(
        q, k, vv, ref, lse_ref, dcq, dck, nq, nk, static_cast<int>(tq), s.hq, s.hkv, d, scale, s.softcap, s.wl, wr);
    CK(cudaGetLastError());
    launch_fwd<T>(v, q, k, vv, o, lse, dcq, dck, b, nq, nk, static_cast<int>(tq), s.hq, s.hkv, d, scale, s.softcap,
                  s.wl, wr);
    CK(cudaDeviceSynchronize());
    const Err e = compare(download(o, tq * s.hq * d), download(ref, tq * s.hq * d), download(lse, tq * s.hq),
                          download(lse_ref, tq * s.hq));
    const bool ok = e.ok(2e-2);
    std::printf("  check %-44s %s B%d Nq%d Nk%d Hq%d Hkv%d D%d causal%d win(%d,%d) cap%g%s: rel %.2e lse %.1e %s\n",
                v.name.c_str(), sizeof(T) == 2 && std::is_same<T, bf16>::value ? "bf16" : "f16", b, nq, nk, s.hq,
                s.hkv, d, s.causal, s.wl, s.wr, s.softcap, varlen ? " varlen" : "", e.rel, e.lse, ok ? "PASS" : "FAIL");
    if (!ok) ++g_failures;
    for (void* p : {static_cast<void*>(q), static_cast<void*>(k), static_cast<void*>(vv), static_cast<void*>(o),
                    static_cast<void*>(ref), static_cast<void*>(lse), static_cast<void*>(lse_ref),
                    static_cast<void*>(dcq), static_cast<void*>(dck)})
        if (p) CK(cudaFree(p));
    return ok;
}

struct Result {
    std::string what, variant;
    double value;
    bool ok;
};
static std::vector<Result> g_results;

static void time_fwd(const FwdVariant& v, bool ok, int b, int h, int n, int d, bool causal) {
    const long long elems = static_cast<long long>(b) * n * h * d;
    bf16* q = dalloc<bf16>(elems);
    bf16* k = dalloc<bf16>(elems);
    bf16* vv = dalloc<bf16>(elems);
    bf16* o = dalloc<bf16>(elems);
    float* lse = dalloc<float>(static_cast<long long>(b) * h * n);
    randomize(q, elems, 11, 2.0f);
    randomize(k, elems, 12, 2.0f);
    randomize(vv, elems, 13, 1.0f);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int wr = causal ? 0 : -1;
    const float ms = median_ms([&] {
        launch_fwd<bf16>(v, q, k, vv, o, lse, nullptr, nullptr, b, n, n, 0, h, h, d, scale, 0.0f, -1, wr);
    });
    const double flops = 4.0 * b * h * static_cast<double>(n) * n * d / (causal ? 2 : 1);
    const double tf = flops / (ms * 1e-3) / 1e12;
    char what[96];
    std::snprintf(what, sizeof what, "prefill bf16 B%d H%d N%d D%d %s", b, h, n, d, causal ? "causal" : "non-causal");
    std::printf("  time  %-44s %-34s %8.3f ms %7.1f TFLOP/s%s\n", v.name.c_str(), what, ms, tf, ok ? "" : "  (FAILED CHECK)");
    g_results.push_back({what, v.name, tf, ok});
    for (void* p : {static_cast<void*>(q), static_cast<void*>(k), static_cast<void*>(vv), static_cast<void*>(o),
                    static_cast<void*>(lse)})
        CK(cudaFree(p));
}

// ---- decode variants ----------------------------------------------------------------------------------

#define DEC_PARAMS(T)                                                                                             \
    const T *q, const T *k_pool, const T *v_pool, const int *page_table, const int *lens, T *out, float *lse,    \
        float *part_o, float *part_lse, int hq, int hkv, int d, int page_size, int max_pages, int num_splits,    \
        int split_tokens, int wl, float scale, float softcap

template <int HC, int P, int WARPS, int U, int MINB>
__global__ void __launch_bounds__(32 * WARPS, MINB) dec_variant(DEC_PARAMS(bf16)) {
    surpass::paged_decode::decode<bf16, HC, P, WARPS, U>(q, k_pool, v_pool, page_table, lens, out, lse, part_o, part_lse,
                                                         hq, hkv, d, page_size, max_pages, num_splits, split_tokens, wl,
                                                         scale, softcap);
}

struct DecVariant {
    std::string name;
    int hc, warps;
    int p;  // row class; 0: the production entry (any D, smem from the D's class); -1: the v1 kernel
    const void* fn;
    int smem(int d) const {
        if (p < 0) return (5 * hc * d + 8 * hc) * 4;
        const int r = p ? p : (d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256);
        return (2 * warps * hc + warps * hc * r) * 4;
    }
};

template <int HC, int P, int WARPS, int U, int MINB> static DecVariant dec_variant_of() {
    char buf[128];
    std::snprintf(buf, sizeof buf, "HC%d P%d W%d U%d minB%d", HC, P, WARPS, U, MINB);
    return {buf, HC, WARPS, P, reinterpret_cast<const void*>(&dec_variant<HC, P, WARPS, U, MINB>)};
}

// A paged cache: pools [pages, ps, hkv, d], each sequence's pages a shuffled set.
struct PagedCase {
    int b, hq, hkv, d, ps;
    std::vector<int> lens;
    int wl = -1;
    float softcap = 0.0f;
};

template <typename T> struct PagedData {
    int pages = 0, max_pages = 1;
    T *q = nullptr, *kp = nullptr, *vp = nullptr, *out = nullptr;
    int *pt = nullptr, *lens = nullptr;
    float *lse = nullptr, *part_o = nullptr, *part_lse = nullptr;
    int max_splits = 0;
    PagedData(const PagedCase& c, unsigned seed, int max_splits_) : max_splits(max_splits_) {
        std::vector<int> npages(c.b);
        for (int i = 0; i < c.b; ++i) {
            npages[i] = (c.lens[i] + c.ps - 1) / c.ps;
            pages += npages[i];
            max_pages = std::max(max_pages, npages[i]);
        }
        pages = std::max(pages, 1);
        std::vector<int> perm(pages);
        std::iota(perm.begin(), perm.end(), 0);
        std::mt19937 rng(seed);
        std::shuffle(perm.begin(), perm.end(), rng);
        std::vector<int> table(static_cast<size_t>(c.b) * max_pages, 0);
        int next = 0;
        for (int i = 0; i < c.b; ++i)
            for (int p = 0; p < npages[i]; ++p) table[static_cast<size_t>(i) * max_pages + p] = perm[next++];
        const long long pool = static_cast<long long>(pages) * c.ps * c.hkv * c.d;
        q = dalloc<T>(static_cast<long long>(c.b) * c.hq * c.d);
        kp = dalloc<T>(pool);
        vp = dalloc<T>(pool);
        out = dalloc<T>(static_cast<long long>(c.b) * c.hq * c.d);
        pt = dalloc<int>(table.size());
        lens = dalloc<int>(c.b);
        lse = dalloc<float>(static_cast<long long>(c.b) * c.hq);
        part_o = dalloc<float>(static_cast<long long>(c.b) * c.hq * max_splits * c.d);
        part_lse = dalloc<float>(static_cast<long long>(c.b) * c.hq * max_splits);
        CK(cudaMemcpy(pt, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(lens, c.lens.data(), c.b * 4, cudaMemcpyHostToDevice));
        randomize(q, static_cast<long long>(c.b) * c.hq * c.d, seed + 1, 2.0f);
        randomize(kp, pool, seed + 2, 2.0f);
        randomize(vp, pool, seed + 3, 1.0f);
    }
    ~PagedData() {
        for (void* p : {static_cast<void*>(q), static_cast<void*>(kp), static_cast<void*>(vp), static_cast<void*>(out),
                        static_cast<void*>(pt), static_cast<void*>(lens), static_cast<void*>(lse),
                        static_cast<void*>(part_o), static_cast<void*>(part_lse)})
            cudaFree(p);
    }
};

// Split tokens as CudaAttention.decode computes them from a split count.
static void split_plan(int max_visible, int want, int& splits, int& split_tokens) {
    const int mv = std::max(1, max_visible);
    split_tokens = std::max(32, (((mv + want - 1) / want) + 31) / 32 * 32);
    splits = std::max(1, (mv + split_tokens - 1) / split_tokens);
}

template <typename T>
static void launch_decode(const DecVariant& v, const PagedCase& c, PagedData<T>& pd, int splits, int split_tokens) {
    const int group = c.hq / c.hkv, chunks = (group + v.hc - 1) / v.hc;
    const int smem = v.smem(c.d);
    float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
    float* po = splits > 1 ? pd.part_o : nullptr;
    float* pl = splits > 1 ? pd.part_lse : nullptr;
    int hq = c.hq, hkv = c.hkv, d = c.d, ps = c.ps, mp = pd.max_pages, wl = c.wl;
    float cap = c.softcap;
    void* args[] = {&pd.q, &pd.kp, &pd.vp, &pd.pt, &pd.lens, &pd.out, &pd.lse, &po, &pl, &hq, &hkv, &d, &ps, &mp,
                    &splits, &split_tokens, &wl, &scale, &cap};
    CK(cudaLaunchKernel(v.fn, dim3(splits, c.hkv * chunks, c.b), dim3(32 * v.warps), args, smem, 0));
    CK(cudaGetLastError());
    if (splits > 1) {
        const long long rows = static_cast<long long>(c.b) * c.hq;
        if constexpr (std::is_same<T, bf16>::value)
            surpass_attention_combine_bf16<<<static_cast<int>(rows), 128>>>(pd.part_o, pd.part_lse, pd.out, pd.lse, rows, splits, c.d);
        else if constexpr (std::is_same<T, __half>::value)
            surpass_attention_combine_f16<<<static_cast<int>(rows), 128>>>(pd.part_o, pd.part_lse, pd.out, pd.lse, rows, splits, c.d);
        else
            surpass_attention_combine_f32<<<static_cast<int>(rows), 128>>>(pd.part_o, pd.part_lse, pd.out, pd.lse, rows, splits, c.d);
        CK(cudaGetLastError());
    }
}

template <typename T> static bool check_decode(const DecVariant& v, const PagedCase& c, int want_splits, unsigned seed) {
    int max_visible = 0;
    for (int l : c.lens) {
        const int lo = c.wl < 0 ? 0 : std::max(0, l - 1 - c.wl);
        max_visible = std::max(max_visible, l - lo);
    }
    int splits, st;
    split_plan(max_visible, want_splits, splits, st);
    PagedData<T> pd(c, seed, splits);
    float* ref = dalloc<float>(static_cast<long long>(c.b) * c.hq * c.d);
    float* lse_ref = dalloc<float>(static_cast<long long>(c.b) * c.hq);
    const int max_len = *std::max_element(c.lens.begin(), c.lens.end());
    ref_decode<T><<<dim3(c.hq, c.b), 128, (max_len + 2) * 4>>>(pd.q, pd.kp, pd.vp, pd.pt, pd.lens, ref, lse_ref, c.hq, c.hkv,
                                                               c.d, c.ps, pd.max_pages, c.wl, 1.0f / std::sqrt(static_cast<float>(c.d)),
                                                               c.softcap);
    CK(cudaGetLastError());
    CK(cudaMemset(pd.out, 0xff, static_cast<size_t>(c.b) * c.hq * c.d * sizeof(T)));
    CK(cudaMemset(pd.lse, 0xff, static_cast<size_t>(c.b) * c.hq * 4));
    launch_decode<T>(v, c, pd, splits, st);
    CK(cudaDeviceSynchronize());
    const size_t n = static_cast<size_t>(c.b) * c.hq * c.d;
    const Err e = compare(download(pd.out, n), download(ref, n), download(pd.lse, static_cast<size_t>(c.b) * c.hq),
                          download(lse_ref, static_cast<size_t>(c.b) * c.hq));
    const double tol = sizeof(T) == 4 ? 1e-4 : 2e-2;
    const bool ok = e.ok(tol);
    std::string lens;
    for (size_t i = 0; i < c.lens.size() && i < 4; ++i) lens += (i ? "," : "") + std::to_string(c.lens[i]);
    if (c.lens.size() > 4) lens += ",…";
    std::printf("  check %-44s %s B%d Hq%d Hkv%d D%d page%d lens{%s} win%d cap%g splits%d: rel %.2e lse %.1e %s\n",
                v.name.c_str(), sizeof(T) == 4 ? "f32" : std::is_same<T, bf16>::value ? "bf16" : "f16", c.b, c.hq, c.hkv,
                c.d, c.ps, lens.c_str(), c.wl, c.softcap, splits, e.rel, e.lse, ok ? "PASS" : "FAIL");
    if (!ok) ++g_failures;
    CK(cudaFree(ref));
    CK(cudaFree(lse_ref));
    return ok;
}

static void time_decode(const DecVariant& v, bool ok, PagedData<bf16>& pd, const PagedCase& c, int want_splits) {
    int splits, st;
    split_plan(c.lens[0], want_splits, splits, st);
    const float ms = median_ms([&] { launch_decode<bf16>(v, c, pd, splits, st); });
    double bytes = 0;
    for (int l : c.lens) bytes += 2.0 * l * c.hkv * c.d * sizeof(bf16);
    const double gbs = bytes / (ms * 1e-3) / 1e9;
    char what[96];
    std::snprintf(what, sizeof what, "decode bf16 B%d Hq%d Hkv%d L%d D%d page%d", c.b, c.hq, c.hkv, c.lens[0], c.d, c.ps);
    char vn[128];
    std::snprintf(vn, sizeof vn, "%s splits%d", v.name.c_str(), splits);
    std::printf("  time  %-44s %-40s %8.3f ms %7.0f GB/s%s\n", vn, what, ms, gbs, ok ? "" : "  (FAILED CHECK)");
    g_results.push_back({what, vn, gbs, ok});
}

// ---- main -------------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int drv = 0, rt = 0;
    CK(cudaDriverGetVersion(&drv));
    CK(cudaRuntimeGetVersion(&rt));
    std::printf("attention_variants: %s, %d SMs, cc %d.%d, smem/SM %zu KiB, L2 %d MiB, driver %d, runtime %d\n",
                prop.name, prop.multiProcessorCount, prop.major, prop.minor, prop.sharedMemPerMultiprocessor / 1024,
                prop.l2CacheSize >> 20, drv, rt);

    // Device copy bandwidth in the same run (read + write), the decode roofline.
    {
        const size_t bytes = size_t(1) << 30;
        char *a = dalloc<char>(bytes), *b = dalloc<char>(bytes);
        CK(cudaMemset(a, 1, bytes));
        const float ms = median_ms([&] { CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); });
        std::printf("device copy 1 GiB: %.3f ms, %.0f GB/s (read + write)\n", ms, 2.0 * bytes / (ms * 1e-3) / 1e9);
        CK(cudaFree(a));
        CK(cudaFree(b));
    }

    // ---- prefill ----
    std::printf("\n== prefill variants (bf16) ==\n");
    std::vector<FwdVariant> v128 = {
        fwd_production<128>(reinterpret_cast<const void*>(&surpass_attention_flash_fwd_bf16_d128)),
        fwd_variant_of<128, Tile<4, 1, 64, 2, true>>(" (v1 shape)"),
        fwd_variant_of<128, Tile<4, 2, 64, 1, false>>(" (FA2 shape)"),
        fwd_variant_of<128, Tile<4, 2, 32, 3, false>>(""),
        fwd_variant_of<128, Tile<8, 1, 64, 1, true>>(""),
        fwd_variant_of<128, Tile<8, 1, 64, 2, true>>(""),
        fwd_variant_of<128, Tile<8, 1, 32, 2, true>>(""),
        fwd_variant_of<128, Tile<4, 1, 64, 3, true>>(""),
    };
    std::vector<FwdVariant> v64 = {
        fwd_production<64>(reinterpret_cast<const void*>(&surpass_attention_flash_fwd_bf16_d64)),
        fwd_variant_of<64, Tile<4, 1, 64, 2, true>>(" (v1 shape)"),
        fwd_variant_of<64, Tile<4, 2, 64, 2, false>>(""),
        fwd_variant_of<64, Tile<4, 2, 64, 3, true>>(""),
        fwd_variant_of<64, Tile<8, 1, 64, 2, true>>(""),
        fwd_variant_of<64, Tile<8, 1, 128, 2, true>>(""),
        fwd_variant_of<64, Tile<8, 2, 64, 2, true>>(""),
    };
    // Awkward shapes: GQA, Nq ≠ Nk (bottom-right causal with empty rows), window, softcap, odd lengths.
    auto checks_for = [](int d) {
        std::vector<PrefillShape> s;
        s.push_back({2, 1000, 1000, 4, 2, d, true, -1, -1, 0.0f, {}, {}});
        s.push_back({1, 127, 63, 3, 3, d, true, -1, -1, 0.0f, {}, {}});
        s.push_back({1, 65, 129, 8, 1, d, false, 37, 5, 0.0f, {}, {}});
        s.push_back({2, 257, 257, 2, 1, d, false, -1, -1, 5.0f, {}, {}});
        return s;
    };
    for (auto* vs : {&v128, &v64}) {
        for (auto& v : *vs) {
            bool ok = true;
            unsigned seed = 100;
            for (const auto& s : checks_for(v.p)) ok &= check_fwd<bf16>(v, s, seed += 10);
            for (int d : {v.p}) {
                for (bool causal : {false, true}) {
                    if (quick && causal) continue;
                    time_fwd(v, ok, 16, 16, 2048, d, causal);
                }
            }
        }
    }

    // Production entries at every padded head dim, fp16 and bf16, varlen with an empty sequence.
    std::printf("\n== prefill production entries ==\n");
    {
        struct E {
            int p, d;
            const void* bf;
            const void* h;
        };
        const E es[] = {
            {32, 32, (const void*)&surpass_attention_flash_fwd_bf16_d32, (const void*)&surpass_attention_flash_fwd_f16_d32},
            {64, 64, (const void*)&surpass_attention_flash_fwd_bf16_d64, (const void*)&surpass_attention_flash_fwd_f16_d64},
            {80, 72, (const void*)&surpass_attention_flash_fwd_bf16_d80, (const void*)&surpass_attention_flash_fwd_f16_d80},
            {96, 96, (const void*)&surpass_attention_flash_fwd_bf16_d96, (const void*)&surpass_attention_flash_fwd_f16_d96},
            {128, 128, (const void*)&surpass_attention_flash_fwd_bf16_d128, (const void*)&surpass_attention_flash_fwd_f16_d128},
            {256, 256, (const void*)&surpass_attention_flash_fwd_bf16_d256, (const void*)&surpass_attention_flash_fwd_f16_d256},
        };
        for (const E& e : es) {
            FwdVariant vb, vh;
            switch (e.p) {
                case 32: vb = fwd_production<32>(e.bf); vh = fwd_production<32>(e.h); break;
                case 64: vb = fwd_production<64>(e.bf); vh = fwd_production<64>(e.h); break;
                case 80: vb = fwd_production<80>(e.bf); vh = fwd_production<80>(e.h); break;
                case 96: vb = fwd_production<96>(e.bf); vh = fwd_production<96>(e.h); break;
                case 128: vb = fwd_production<128>(e.bf); vh = fwd_production<128>(e.h); break;
                default: vb = fwd_production<256>(e.bf); vh = fwd_production<256>(e.h); break;
            }
            unsigned seed = 500 + e.p;
            check_fwd<bf16>(vb, {1, 2049, 2049, 4, 1, e.d, true, -1, -1, 0.0f, {}, {}}, seed += 10);
            check_fwd<bf16>(vb, {3, 7, 7, 2, 2, e.d, false, -1, -1, 0.0f, {}, {}}, seed += 10);
            check_fwd<bf16>(vb, {1, 1, 300, 8, 2, e.d, true, 100, -1, 0.0f, {}, {}}, seed += 10);
            check_fwd<bf16>(vb, {0, 0, 0, 4, 4, e.d, true, -1, -1, 0.0f, {64, 0, 300, 1, 129}, {64, 0, 311, 5, 129}}, seed += 10);
            check_fwd<__half>(vh, {2, 300, 300, 4, 4, e.d, true, 50, 3, 0.0f, {}, {}}, seed += 10);
            check_fwd<__half>(vh, {1, 129, 129, 2, 2, e.d, false, -1, -1, 30.0f, {}, {}}, seed += 10);
        }
    }

    // ---- decode ----
    std::printf("\n== decode variants (bf16, HC 4 = GQA group 4) ==\n");
    std::vector<DecVariant> dv = {
        {"production entry h4 (W4 U4)", 4, 4, 0, reinterpret_cast<const void*>(&surpass_attention_paged_decode_bf16_h4)},
        dec_variant_of<4, 128, 4, 2, 1>(),
        dec_variant_of<4, 128, 4, 8, 1>(),
        dec_variant_of<4, 128, 8, 4, 1>(),
        dec_variant_of<4, 128, 8, 2, 1>(),
        dec_variant_of<4, 128, 2, 4, 1>(),
        dec_variant_of<4, 128, 4, 4, 4>(),
        dec_variant_of<4, 128, 4, 2, 4>(),
        {"v1 kernel (commit 1aec210)", 4, 4, -1, reinterpret_cast<const void*>(&v1_paged_decode_bf16_h4)},
    };
    const PagedCase check_case{3, 8, 2, 128, 16, {1, 77, 1000}};
    PagedCase target{64, 32, 8, 128, 16, std::vector<int>(64, 4096)};
    {
        PagedData<bf16> pd(target, 7, 64);
        for (size_t i = 0; i < dv.size(); ++i) {
            bool ok = check_decode<bf16>(dv[i], check_case, 1, 900 + i);
            ok &= check_decode<bf16>(dv[i], check_case, 4, 950 + i);
            const std::vector<int> splits = i == 0                ? std::vector<int>{1, 2, 3, 5, 8, 16, 32}
                                            : dv[i].p < 0 ? std::vector<int>{1, 5}
                                                          : std::vector<int>{5, 16};
            for (int s : splits) {
                if (quick && s != 5) continue;
                time_decode(dv[i], ok, pd, target, s);
            }
        }
    }

    std::printf("\n== decode production entries ==\n");
    {
        const DecVariant h1{"production entry h1", 1, 4, 0, (const void*)&surpass_attention_paged_decode_bf16_h1};
        const DecVariant h2{"production entry h2", 2, 4, 0, (const void*)&surpass_attention_paged_decode_bf16_h2};
        const DecVariant h4{"production entry h4", 4, 4, 0, (const void*)&surpass_attention_paged_decode_bf16_h4};
        const DecVariant h8{"production entry h8", 8, 4, 0, (const void*)&surpass_attention_paged_decode_bf16_h8};
        const DecVariant f4{"production entry f16 h4", 4, 4, 0, (const void*)&surpass_attention_paged_decode_f16_h4};
        const DecVariant s4{"production entry f32 h4", 4, 4, 0, (const void*)&surpass_attention_paged_decode_f32_h4};
        const DecVariant s8{"production entry f32 h8", 8, 4, 0, (const void*)&surpass_attention_paged_decode_f32_h8};
        unsigned seed = 2000;
        check_decode<bf16>(h8, {2, 16, 2, 128, 16, {4096, 513}}, 16, ++seed);
        check_decode<bf16>(h8, {2, 32, 2, 128, 16, {700, 33}}, 5, ++seed);        // group 16: two blocks per kv-head
        check_decode<bf16>(h4, {3, 6, 2, 64, 1, {1, 2, 300}}, 3, ++seed);         // group 3, page size 1
        check_decode<bf16>(h1, {2, 4, 4, 72, 7, {500, 64}}, 2, ++seed);           // D 72 (row class 128), page 7
        check_decode<bf16>(h2, {2, 4, 2, 32, 16, {1, 257}}, 1, ++seed);
        check_decode<bf16>(h2, {2, 4, 2, 256, 3, {900, 17}}, 4, ++seed);
        check_decode<bf16>(h4, {2, 8, 2, 128, 16, {1000, 600}, 100, 0.0f}, 3, ++seed);  // left window
        check_decode<bf16>(h4, {2, 8, 2, 96, 16, {1000, 600}, -1, 20.0f}, 2, ++seed);   // softcap
        check_decode<__half>(f4, {2, 8, 2, 128, 16, {1000, 31}}, 4, ++seed);
        check_decode<float>(s4, {2, 8, 2, 128, 16, {1000, 31}}, 4, ++seed);
        check_decode<float>(s8, {1, 8, 1, 256, 5, {777}}, 1, ++seed);
        check_decode<float>(s8, {1, 8, 1, 40, 16, {300}}, 3, ++seed);
    }

    // ---- summary ----
    std::printf("\n== best per shape (checked variants only) ==\n");
    std::vector<std::string> shapes;
    for (const auto& r : g_results)
        if (std::find(shapes.begin(), shapes.end(), r.what) == shapes.end()) shapes.push_back(r.what);
    for (const auto& s : shapes) {
        const Result* best = nullptr;
        for (const auto& r : g_results)
            if (r.what == s && r.ok && (!best || r.value > best->value)) best = &r;
        const Result* prod = nullptr;
        for (const auto& r : g_results)
            if (r.what == s && r.variant.find("production") != std::string::npos && (!prod || r.value > prod->value)) prod = &r;
        const Result* v1 = nullptr;  // the old kernel (decode) or the old tile shape (prefill), its best split
        for (const auto& r : g_results)
            if (r.what == s && r.variant.find("v1") != std::string::npos && (!v1 || r.value > v1->value)) v1 = &r;
        const char* unit = s.rfind("decode", 0) == 0 ? "GB/s" : "TFLOP/s";
        if (best)
            std::printf("  %-44s best %-50s %8.1f %s | production %8.1f | v1 %8.1f\n", s.c_str(), best->variant.c_str(),
                        best->value, unit, prod ? prod->value : 0.0, v1 ? v1->value : 0.0);
    }
    std::printf("\n%s: %d check(s) failed\n", g_failures ? "FAIL" : "OK", g_failures);
    return g_failures ? 2 : 0;
}
