package dev.surpass.layers;

import dev.surpass.Tensor;

/**
 * Activations: GELU (exact erf form and tanh approximation) and SiLU, computed in fp32. The result
 * is a new tensor like {@code x} (device, dtype, shape).
 *
 * <p>Numerics (every backend): small negative outputs keep their relative precision, so each op
 * is evaluated in a form without cancellation: GELU-erf as {@code x·Φ(x)} with
 * {@code Φ(x) = ½erfc(−x/√2)} for negative x (not {@code ½(1 + erf)}, which is 0 below x ≈ −5);
 * GELU-tanh as {@code x·σ(2u)}, {@code u = √(2/π)(x + 0.044715x³)} (equal to
 * {@code ½x(1 + tanh u)}); SiLU as {@code x / (1 + e^{−x})}. For finite x the saturated tails give
 * x or a tiny value/(−)0, never NaN (GELU-erf(−10) = −7.6e−23, SiLU(−100) = −0).
 *
 * <p>Errors: {@link IllegalArgumentException} for a null or closed {@code x}, a non-floating dtype
 * or a null {@code approx}.
 */
public final class Activation {
    private Activation() {}

    /** Which GELU: {@code ERF} is x·Φ(x) (BERT, DiT's MLP uses TANH); {@code TANH} is GPT-2's approximation. */
    public enum Gelu { ERF, TANH }

    public static Tensor gelu(Tensor x, Gelu approx) {
        if (approx == null) throw new IllegalArgumentException("gelu: approx is null; use Gelu.ERF or Gelu.TANH");
        return apply(approx == Gelu.ERF ? VectorActivation.Op.GELU_ERF : VectorActivation.Op.GELU_TANH,
                approx == Gelu.ERF ? "gelu_erf" : "gelu_tanh", x);
    }

    /** Exact GELU (erf). */
    public static Tensor gelu(Tensor x) {
        return gelu(x, Gelu.ERF);
    }

    /** x · sigmoid(x). */
    public static Tensor silu(Tensor x) {
        return apply(VectorActivation.Op.SILU, "silu", x);
    }

    /**
     * Soft capping, {@code cap·tanh(x / cap)} (Gemma 2's final logits; the attention's own softcap
     * is {@code AttentionOptions.softcap}): smooth, odd, within {@code (−cap, cap)}, close to x
     * where |x| ≪ cap. tanh is the platform's vector tanh on the CPU (within 1 ulp) and
     * {@code tanhf} on CUDA.
     *
     * @throws IllegalArgumentException as the other activations, or for a cap that is not positive and finite
     */
    public static Tensor softcap(Tensor x, float cap) {
        OpChecks.floating("softcap", "x", x);
        if (!(cap > 0) || !Float.isFinite(cap)) throw new IllegalArgumentException("softcap: cap is " + cap + "; expected a positive finite number");
        return OpChecks.withOutput(x, x.dtype(), out -> {
            if (x.device().isCpu()) VectorActivation.softcap(x, out, cap, true);
            else CudaActivation.softcap(x, out, cap);
        });
    }

    private static Tensor apply(VectorActivation.Op op, String kernel, Tensor x) {
        OpChecks.floating(op == VectorActivation.Op.SILU ? "silu" : "gelu", "x", x);
        return OpChecks.withOutput(x, x.dtype(), out -> {
            if (x.device().isCpu()) VectorActivation.apply(op, x, out, true);
            else CudaActivation.apply(kernel, x, out);
        });
    }
}
