// dpmpp2m.cu — DPM-Solver++(2M) step; state = previous x0, read on second-order steps and overwritten with this step's x0, one fused pass over the latents.
//
//   surpass_diffusion_dpmpp2m_<dt>(x, model_out, out, state, batch, channels, spatial, cfg, guided, scale,
//                               learned, seed, stream, flags, ax, am, ex, em, clip, a, b_inv, p0, p1, p2,
//                               min_log, d_log)
// Shapes: x, out (and state) [B, C, S]; model_out [B·g, C·k, S] (g = 2 with guidance, k = 2 with learned
// sigma). dt ∈ {f32, f16, bf16}; math in fp32. The per-step scalars come from the host
// (dev.surpass.diffusion.StepPlan); the body and the exact formula are in step.cuh.
// Launch: 1-D, block 256, grid = min(ceil(ceil(n / V) / 256), 65535·32) with V = 4 (fp32) or 8; grid-stride.
#include "diffusion/step.cuh"

SURPASS_DIFFUSION_STEP(surpass_diffusion_dpmpp2m_f32, surpass::diffusion::kDpm, float)
SURPASS_DIFFUSION_STEP(surpass_diffusion_dpmpp2m_f16, surpass::diffusion::kDpm, __half)
SURPASS_DIFFUSION_STEP(surpass_diffusion_dpmpp2m_bf16, surpass::diffusion::kDpm, __nv_bfloat16)
