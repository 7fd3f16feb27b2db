package dev.surpass.model.llama;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;

/**
 * HF Llama's rotary embedding (non-interleaved, "rotate half"): for a head vector {@code x} at
 * position {@code p}, with {@code h = D/2} and angle {@code θ_i = p · invFreq[i mod h]},
 * {@code out = x·cos θ + rotate_half(x)·sin θ}, {@code rotate_half(x) = [−x[h:], x[:h]]}.
 *
 * <p>Built from existing device ops so it runs wherever the model does: {@code rotate_half} is a
 * GEMM with a fixed signed-permutation matrix (exact in fp32: each output is one ±input), and the
 * cos/sin tables {@code [T, H, D]} are computed on the host as HF does (fp32 angle {@code p · invFreq},
 * its cos/sin rounded to fp32) and uploaded
 * once per forward call for q and once for k, shared by all layers (for decode that is B·H·D values). With {@code -Dsurpass.gemm.tf32=true} on CUDA the
 * permutation GEMM would round to TF32; the models run with it off.
 */
final class Rope {
    private final double[] invFreq;
    private final int headDim;
    private final float attentionFactor; // cos and sin are scaled by it (yarn), as HF's attention_scaling
    private final Tensor rotate; // [D, D]: linear(x, rotate) = rotate_half(x)

    /** {@code rotate} is {@link #rotation}'s matrix, owned by the model (it outlives the rope). */
    Rope(Tensor rotate, double[] invFreq, int headDim, float attentionFactor) {
        this.invFreq = invFreq.clone();
        this.headDim = headDim;
        this.attentionFactor = attentionFactor;
        this.rotate = rotate;
    }

    /** The signed permutation {@code [D, D]} F32 on {@code device} with {@code linear(x, it) = rotate_half(x)}; the caller owns it. */
    static Tensor rotation(Device device, int headDim) {
        int h = headDim / 2;
        float[] r = new float[headDim * headDim];
        for (int j = 0; j < h; j++) {
            r[j * headDim + j + h] = -1f;     // out[j]     = −x[j + h]
            r[(j + h) * headDim + j] = 1f;    // out[j + h] =  x[j]
        }
        return device.upload(DType.F32, r, headDim, headDim);
    }

    /** The cos and sin tables {@code [T, heads, D]} F32 for {@code positions}, on the rope's device (caller closes). */
    Tensor[] tables(int[] positions, int heads) {
        int t = positions.length, d = headDim, h = d / 2;
        float[] cos = new float[t * heads * d], sin = new float[cos.length];
        for (int i = 0; i < t; i++) {
            for (int f = 0; f < h; f++) {
                // HF multiplies fp32 positions by fp32 frequencies (one rounding), then cos/sin in fp32
                float a = (float) positions[i] * (float) invFreq[f];
                float c = (float) Math.cos(a) * attentionFactor, s = (float) Math.sin(a) * attentionFactor;
                for (int hd = 0; hd < heads; hd++) {
                    int base = (i * heads + hd) * d;
                    cos[base + f] = c;
                    cos[base + f + h] = c;
                    sin[base + f] = s;
                    sin[base + f + h] = s;
                }
            }
        }
        Device dev = rotate.device();
        Tensor cosT = dev.upload(DType.F32, cos, t, heads, d);
        try {
            return new Tensor[] {cosT, dev.upload(DType.F32, sin, t, heads, d)};
        } catch (RuntimeException | Error e) {
            cosT.close();
            throw e;
        }
    }

    /** {@code x [T, H, D]} F32 rotated with tables from {@link #tables} of the same T and H; a new tensor. */
    Tensor apply(Tensor x, Tensor[] cosSin) {
        try (Scope sc = Scope.open()) {
            Tensor rot = sc.track(Gemm.linear(x, rotate, null));
            return Elementwise.add(sc.track(Elementwise.mul(x, cosSin[0])), sc.track(Elementwise.mul(rot, cosSin[1])));
        }
    }
}
