/**
 * Diffusion sampling: {@link dev.surpass.diffusion.NoiseSchedule} (float64 schedules, spacing,
 * DiT respacing, sigma tables), the fused sampler steps {@link dev.surpass.diffusion.DdpmStep},
 * {@link dev.surpass.diffusion.DdimStep}, {@link dev.surpass.diffusion.EulerStep} and
 * {@link dev.surpass.diffusion.DpmSolverStep} (ε / v / x0 prediction, classifier-free guidance in
 * DiT's and diffusers' batch orders, learned sigma), and {@link dev.surpass.diffusion.Philox}, the
 * counter-based noise shared bit for bit with the CUDA kernels. Each step has a float64 reference
 * ({@link dev.surpass.diffusion.ReferenceSamplers}), a Vector API version and a CUDA launcher.
 */
package dev.surpass.diffusion;
