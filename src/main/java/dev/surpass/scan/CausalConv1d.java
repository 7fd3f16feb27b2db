package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Tensor;

/**
 * Mamba's depthwise causal conv1d (the {@code causal_conv1d} package's forward and update), run
 * where the inputs live. Per channel d and token t, with width W ≤ 4:
 * <pre>
 * out[t] = bias[d] + Σ_{k=0}^{W-1} w[d,k] · x[t - (W-1) + k]      (x[j < 0] from the conv state)
 * out[t] = silu(out[t])                                             (when silu)
 * </pre>
 * The conv state {@code [Bt, Dm, W-1]} F32 holds the W-1 inputs before the first token, oldest
 * first (zeros when none is given). x, w and bias share one dtype (F32, F16 or BF16); arithmetic
 * is fp32 and out is rounded to that dtype.
 *
 * <p>Errors: {@link IllegalArgumentException} naming the argument and dimension for a null or
 * closed tensor, a dtype or device mismatch, W outside [1, 4], or a state of the wrong shape.
 *
 * <p>Thread rules: stateless; outputs are new tensors owned by the caller, except the state that
 * {@link #update} advances in place (one writer at a time).
 */
public final class CausalConv1d {
    private CausalConv1d() {}

    /**
     * The conv over a prompt.
     *
     * @param x {@code [Bt, Dm, L]}
     * @param w {@code [Dm, W]} (mamba_ssm's {@code conv1d.weight [Dm, 1, W]} reshaped)
     * @param bias {@code [Dm]} or null
     * @param initialConvState {@code [Bt, Dm, W-1]} F32, or null for zeros
     * @return out {@code [Bt, Dm, L]} and the final conv state {@code [Bt, Dm, W-1]} F32
     */
    public static ConvOutput causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor initialConvState) {
        String op = "causalConv1d";
        ScanChecks.tensor(op, "x", x, 3, "[Bt, Dm, L]");
        long bt = x.dim(0), dm = x.dim(1), len = x.dim(2);
        int width = weight(op, w, x, dm);
        if (bias != null) ScanChecks.shaped(op, "bias", bias, "x", x, null, "[Dm]", dm);
        if (initialConvState != null) {
            ScanChecks.shaped(op, "initialConvState", initialConvState, "x", x, DType.F32, "[Bt, Dm, W-1]", bt, dm, width - 1);
        }
        Tensor out = x.device().allocate(x.dtype(), bt, dm, len);
        Tensor fin = null;
        try {
            fin = x.device().allocate(DType.F32, bt, dm, width - 1);
            if (x.device().isCpu()) VectorCausalConv1d.conv(x, w, bias, silu, initialConvState, out, fin, (int) (bt * dm), (int) dm, (int) len, width);
            else CudaCausalConv1d.conv(x, w, bias, silu, initialConvState, out, fin, bt * dm, (int) dm, (int) len, width);
            return new ConvOutput(out, fin);
        } catch (RuntimeException | Error e) {
            if (fin != null) fin.close();
            out.close();
            throw e;
        }
    }

    /**
     * One decode step: {@code out [Bt, Dm]} for the new token {@code x [Bt, Dm]}; {@code convState
     * [Bt, Dm, W-1]} F32 shifts left by one and takes x at its end, in place.
     */
    public static Tensor update(Tensor convState, Tensor x, Tensor w, Tensor bias, boolean silu) {
        String op = "causalConv1dUpdate";
        ScanChecks.tensor(op, "x", x, 2, "[Bt, Dm]");
        long bt = x.dim(0), dm = x.dim(1);
        int width = weight(op, w, x, dm);
        if (bias != null) ScanChecks.shaped(op, "bias", bias, "x", x, null, "[Dm]", dm);
        ScanChecks.shaped(op, "convState", convState, "x", x, DType.F32, "[Bt, Dm, W-1]", bt, dm, width - 1);
        Tensor out = x.device().allocate(x.dtype(), bt, dm);
        try {
            // One token is a conv of length 1 that starts from, and ends in, the state.
            if (x.device().isCpu()) VectorCausalConv1d.conv(x, w, bias, silu, convState, out, convState, (int) (bt * dm), (int) dm, 1, width);
            else CudaCausalConv1d.update(convState, x, w, bias, silu, out, bt * dm, (int) dm, width);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** w: [Dm, W] of x's dtype with 1 ≤ W ≤ 4; returns W. */
    private static int weight(String op, Tensor w, Tensor x, long dm) {
        ScanChecks.tensor(op, "w", w, 2, "[Dm, W]");
        ScanChecks.companion(op, "w", w, "x", x, null);
        if (w.dim(0) != dm) {
            throw new IllegalArgumentException(op + ": w's Dm (dim 0) is " + w.dim(0) + " but x's Dm (dim 1) is " + dm);
        }
        long width = w.dim(1);
        if (width < 1 || width > ScanChecks.MAX_W) {
            throw new IllegalArgumentException(op + ": w's width W (dim 1) is " + width + "; W must be in [1, " + ScanChecks.MAX_W + "]");
        }
        if (x.numel() / Math.max(1, x.dim(-1)) > Integer.MAX_VALUE && x.device().isCpu()) {
            throw new IllegalArgumentException(op + ": x has more than " + Integer.MAX_VALUE + " rows");
        }
        return (int) width;
    }
}
