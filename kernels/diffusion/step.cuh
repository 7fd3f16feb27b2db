// step.cuh — the fused sampler-step body shared by ddpm.cu, ddim.cu, euler.cu and dpmpp2m.cu.
//
// One pass over the latents x [B, C, S] (S = product of the spatial dims): each thread takes groups
// of V = Pack<T>::N consecutive elements (4 fp32 / 8 fp16|bf16, 16 bytes), grid-stride. Per element
//   m   = cond, or fma(s, cond − uncond, uncond) on guided channels        (classifier-free guidance)
//   x0  = fma(ax, x, am·m), ε = fma(ex, x, em·m)                            (ε / v / x0 prediction)
//   clip: x0 = clamp(x0, ±clip), ε = fma(−a, x0, x)·b_inv
//   DDIM:  out = fma(p0, x0, p1·ε) [+ p2·z]
//   DDPM:  out = fma(p0, x0, p1·x) [+ σ·z], σ = p2 or expf(½·fma(fma(v, ½, ½), d_log, min_log))
//   EULER: x̂ = fma(p0, z, x) or x; x0 = fma(ax, x̂, am·m); out = fma(x̂ − x0, p1, x̂)
//   DPM:   x0 = fma(ax, x, am·m); out = fma(p0, x, [fma(p2, prev, ] p1·x0)); state ← x0
// with the scalars computed on the host in float64 (dev.surpass.diffusion.StepPlan). Every product
// and sum is an explicit __fmaf_rn/__fmul_rn/__fadd_rn (never re-contracted by nvcc) in the same
// order as the Java twin (VectorSamplers), so noise-free steps are bit-identical on CPU and GPU.
// Model output layout [B·g, C·k, S]: g = 2 with guidance (cfg 1: [cond; uncond], DiT; cfg 2:
// [uncond; cond], diffusers), k = 2 with learned sigma (variance values are channels C..2C−1, read
// from the cond half). Noise z of element i: Philox4x32-10 (common/philox.cuh) with key = seed,
// counter = {i/4, stream}, normal i%4 of philox_normal4 — the Java Philox class, bit for bit in the
// uniforms. A group starts at a multiple of 4, so it needs V/4 Philox blocks.
// Fast path: x, model_out, out (and state) 16-byte aligned and the contiguous run length
// ("segment": all of x; C·S per batch item with full guidance; S per channel plane with learned
// sigma or partial guidance) a multiple of V, so each group's model-output elements are contiguous
// and load as packs. Otherwise each element of the group computes its own offsets.
#pragma once

#include "common/dtype.cuh"
#include "common/philox.cuh"

namespace surpass::diffusion {

enum Kind { kDdpm = 0, kDdim = 1, kEuler = 2, kDpm = 3 };
// flags bits
constexpr int kNoise = 1;         // add noise z
constexpr int kLearnedRange = 2;  // DDPM: σ from the variance channel
constexpr int kClip = 4;          // clip x0
constexpr int kSecondOrder = 8;   // DPM: read state (the previous x0)

struct Params {
    long long batch, spatial, n, seg;
    long long cs, cout_s;  // C·S and Cout·S (Cout = 2C with learned sigma)
    bool small;            // n < 2^32: 32-bit index division
    int channels, cfg, guided, learned, flags;
    float scale, ax, am, ex, em, clip, a, b_inv, p0, p1, p2, min_log, d_log;
    unsigned long long seed, stream;
};

// a / d and a % d for 0 <= a, 0 < d; 32-bit when the tensor is small enough (much cheaper on the GPU
// than the 64-bit division, which is a long software sequence).
__device__ __forceinline__ void div_mod(long long a, long long d, bool small, long long& quo, long long& rem) {
    if (small) {
        const unsigned int ua = static_cast<unsigned int>(a), ud = static_cast<unsigned int>(d);
        const unsigned int qq = ua / ud;
        quo = qq;
        rem = ua - qq * ud;
    } else {
        quo = a / d;
        rem = a - quo * d;
    }
}

// Where latent element p reads the model output: cond and uncond element offsets (the variance value
// is cond + C·S), and whether its channel is guided. At most two divisions (one without partial guidance).
struct Loc {
    long long cond, uncond;
    bool guided;
};
__device__ __forceinline__ Loc locate(const Params& q, long long p) {
    Loc l;
    if (q.cfg == 0 && !q.learned) {
        l.cond = l.uncond = p;
        l.guided = false;
        return l;
    }
    long long b, w;  // batch item and offset inside it (c·S + s)
    div_mod(p, q.cs, q.small, b, w);
    l.cond = (q.cfg == 2 ? b + q.batch : b) * q.cout_s + w;
    l.uncond = (q.cfg == 1 ? b + q.batch : b) * q.cout_s + w;
    if (q.cfg == 0) {
        l.guided = false;
    } else if (q.guided >= q.channels) {
        l.guided = true;
    } else {
        long long c, sp;
        div_mod(w, q.spatial, q.small, c, sp);
        l.guided = c < q.guided;
    }
    return l;
}

// One element: x, guided model output m, variance value v, noise z, previous x0; returns x_next and
// (DPM) the x0 to keep.
template <int KIND>
__device__ __forceinline__ float element(const Params& q, float x, float m, float v, float z, float prev, float& keep) {
    if (KIND == kEuler) {
        const float xh = (q.flags & kNoise) ? __fmaf_rn(q.p0, z, x) : x;
        const float x0 = __fmaf_rn(q.ax, xh, __fmul_rn(q.am, m));
        return __fmaf_rn(__fsub_rn(xh, x0), q.p1, xh);
    }
    if (KIND == kDpm) {
        const float x0 = __fmaf_rn(q.ax, x, __fmul_rn(q.am, m));
        float t = __fmul_rn(x0, q.p1);
        if (q.flags & kSecondOrder) t = __fmaf_rn(prev, q.p2, t);
        keep = x0;
        return __fmaf_rn(x, q.p0, t);
    }
    float x0 = __fmaf_rn(q.ax, x, __fmul_rn(q.am, m));
    float eps = __fmaf_rn(q.ex, x, __fmul_rn(q.em, m));
    if (q.flags & kClip) {
        x0 = fminf(fmaxf(x0, -q.clip), q.clip);
        eps = __fmul_rn(__fmaf_rn(-q.a, x0, x), q.b_inv);
    }
    if (KIND == kDdim) {
        float o = __fmaf_rn(x0, q.p0, __fmul_rn(eps, q.p1));
        if (q.flags & kNoise) o = __fmaf_rn(z, q.p2, o);
        return o;
    }
    // DDPM
    float o = __fmaf_rn(x0, q.p0, __fmul_rn(x, q.p1));
    if (q.flags & kNoise) {
        float sig = q.p2;
        if (q.flags & kLearnedRange) {
            const float f = __fmaf_rn(v, 0.5f, 0.5f);
            sig = expf(__fmul_rn(__fmaf_rn(f, q.d_log, q.min_log), 0.5f));
        }
        o = __fmaf_rn(sig, z, o);
    }
    return o;
}

template <typename T, int KIND>
__device__ __forceinline__ void step(const T* __restrict__ x, const T* __restrict__ mo, T* __restrict__ out,
                                     T* __restrict__ state, const Params& q) {
    constexpr int V = Pack<T>::N;
    const long long groups = (q.n + V - 1) / V;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    const bool use_state = KIND == kDpm;
    const bool vec = q.seg % V == 0 && aligned16(x) && aligned16(mo) && aligned16(out) && (!use_state || aligned16(state));
    for (long long g = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
        const long long p = g * V;
        float z[V];
        if (q.flags & kNoise) {
#pragma unroll
            for (int k = 0; k < V; k += 4) {
                const float4 r = philox_normal4(philox4x32_10(philox_counter(static_cast<unsigned long long>(p + k) >> 2, q.stream),
                                                              philox_key(q.seed)));
                z[k] = r.x; z[k + 1] = r.y; z[k + 2] = r.z; z[k + 3] = r.w;
            }
        } else {
#pragma unroll
            for (int k = 0; k < V; ++k) z[k] = 0.f;
        }
        if (vec) {  // the group lies in one segment: contiguous, aligned model-output runs
            float xv[V], m[V], u[V], v[V], prev[V], keep[V];
            load_pack(x + p, xv);
            const Loc loc = locate(q, p);
            const long long co = loc.cond;
            load_pack(mo + co, m);
            if (loc.guided) {
                load_pack(mo + loc.uncond, u);
#pragma unroll
                for (int k = 0; k < V; ++k) m[k] = __fmaf_rn(__fsub_rn(m[k], u[k]), q.scale, u[k]);
            }
            if (KIND == kDdpm && (q.flags & kLearnedRange) && (q.flags & kNoise)) {
                load_pack(mo + co + static_cast<long long>(q.channels) * q.spatial, v);
            } else {
#pragma unroll
                for (int k = 0; k < V; ++k) v[k] = 0.f;
            }
            if (KIND == kDpm && (q.flags & kSecondOrder)) {
                load_pack(state + p, prev);
            } else {
#pragma unroll
                for (int k = 0; k < V; ++k) prev[k] = 0.f;
            }
#pragma unroll
            for (int k = 0; k < V; ++k) xv[k] = element<KIND>(q, xv[k], m[k], v[k], z[k], prev[k], keep[k]);
            store_pack(out + p, xv);
            if (KIND == kDpm) store_pack(state + p, keep);
        } else {
#pragma unroll
            for (int k = 0; k < V; ++k) {
                const long long i = p + k;
                if (i >= q.n) break;
                const Loc loc = locate(q, i);
                const long long co = loc.cond;
                float m = load(mo + co);
                if (loc.guided) {
                    const float u = load(mo + loc.uncond);
                    m = __fmaf_rn(__fsub_rn(m, u), q.scale, u);
                }
                float v = 0.f, prev = 0.f, keep = 0.f;
                if (KIND == kDdpm && (q.flags & kLearnedRange) && (q.flags & kNoise)) {
                    v = load(mo + co + static_cast<long long>(q.channels) * q.spatial);
                }
                if (KIND == kDpm && (q.flags & kSecondOrder)) prev = load(state + i);
                const float o = element<KIND>(q, load(x + i), m, v, z[k], prev, keep);
                store(out + i, o);
                if (KIND == kDpm) store(state + i, keep);
            }
        }
    }
}

}  // namespace surpass::diffusion

// The extern "C" entry of one sampler and dtype; every sampler kernel takes the same parameters.
#define SURPASS_DIFFUSION_STEP(NAME, KIND, T)                                                              \
    extern "C" __global__ void NAME(const T* x, const T* model_out, T* out, T* state, long long batch,      \
                                    int channels, long long spatial, int cfg, int guided, float scale,      \
                                    int learned, long long seed, long long stream, int flags, float ax,     \
                                    float am, float ex, float em, float clip, float a, float b_inv,         \
                                    float p0, float p1, float p2, float min_log, float d_log) {             \
        surpass::diffusion::Params q;                                                                      \
        q.batch = batch; q.spatial = spatial; q.channels = channels;                                       \
        q.n = batch * channels * spatial;                                                                  \
        q.cs = static_cast<long long>(channels) * spatial;                                                 \
        q.cout_s = (learned ? 2LL : 1LL) * q.cs;                                                           \
        q.small = q.n <= 0xffffffffLL;                                                                     \
        q.cfg = cfg; q.guided = guided; q.scale = scale; q.learned = learned; q.flags = flags;             \
        q.seg = (cfg == 0 && !learned) ? q.n                                                               \
              : (!learned && guided >= channels) ? static_cast<long long>(channels) * spatial : spatial;   \
        q.ax = ax; q.am = am; q.ex = ex; q.em = em; q.clip = clip; q.a = a; q.b_inv = b_inv;              \
        q.p0 = p0; q.p1 = p1; q.p2 = p2; q.min_log = min_log; q.d_log = d_log;                             \
        q.seed = static_cast<unsigned long long>(seed); q.stream = static_cast<unsigned long long>(stream); \
        surpass::diffusion::step<T, KIND>(x, model_out, out, state, q);                                    \
    }
