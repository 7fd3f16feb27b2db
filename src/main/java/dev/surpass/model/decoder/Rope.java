package dev.surpass.model.decoder;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;

/**
 * HF's rotary embedding (non-interleaved, "rotate half": Llama, Gemma, Qwen, GPT-NeoX): for a head
 * vector {@code x} at position {@code p}, over its first {@code R} dims (R = D unless the rotary is
 * partial, as GPT-NeoX's {@code rotary_pct}), with {@code h = R/2} and angle
 * {@code θ_i = p · invFreq[i mod h]}, {@code out[:R] = x[:R]·cos θ + rotate_half(x[:R])·sin θ},
 * {@code rotate_half(y) = [−y[h:], y[:h]]}; {@code out[R:] = x[R:]}.
 *
 * <p>Built from existing device ops so it runs wherever the model does: {@code rotate_half} is a
 * GEMM with a fixed signed-permutation matrix (exact in fp32: each output is one ±input), and the
 * cos/sin tables {@code [T, H, D]} are computed on the host as HF does (fp32 angle {@code p · invFreq},
 * its cos/sin rounded to fp32) and uploaded
 * once per forward call for q and once for k, shared by all layers (for decode that is B·H·D values). With {@code -Dsurpass.gemm.tf32=true} on CUDA the
 * permutation GEMM would round to TF32; the models run with it off.
 */
public final class Rope {
    private final double[] invFreq;
    private final int headDim;
    private final int rotaryDim;
    private final float attentionFactor; // cos and sin are scaled by it (yarn), as HF's attention_scaling
    private final Tensor rotate; // [D, D]: linear(x, rotate) = rotate_half(x)

    /** Over the whole head: {@code rotate} is {@link #rotation(Device, int)}'s matrix, owned by the model (it outlives the rope). */
    public Rope(Tensor rotate, double[] invFreq, int headDim, float attentionFactor) {
        this(rotate, invFreq, headDim, headDim, attentionFactor);
    }

    /**
     * Over the first {@code rotaryDim} dims of each head ({@code invFreq} has {@code rotaryDim / 2}
     * entries); {@code rotate} is {@link #rotation(Device, int, int)}'s matrix for the same dims.
     */
    public Rope(Tensor rotate, double[] invFreq, int headDim, int rotaryDim, float attentionFactor) {
        if (rotaryDim <= 0 || rotaryDim % 2 != 0 || rotaryDim > headDim || invFreq.length != rotaryDim / 2) {
            throw new IllegalArgumentException("Rope: rotary dim " + rotaryDim + " with " + invFreq.length + " frequencies does not fit head dim "
                    + headDim + " (expected an even rotary dim <= head dim and rotary dim / 2 frequencies)");
        }
        this.invFreq = invFreq.clone();
        this.headDim = headDim;
        this.rotaryDim = rotaryDim;
        this.attentionFactor = attentionFactor;
        this.rotate = rotate;
    }

    /** The signed permutation {@code [D, D]} F32 on {@code device} with {@code linear(x, it) = rotate_half(x)}; the caller owns it. */
    public static Tensor rotation(Device device, int headDim) {
        return rotation(device, headDim, headDim);
    }

    /** As {@link #rotation(Device, int)} over the first {@code rotaryDim} dims; the other outputs are 0. */
    public static Tensor rotation(Device device, int headDim, int rotaryDim) {
        int h = rotaryDim / 2;
        float[] r = new float[headDim * headDim];
        for (int j = 0; j < h; j++) {
            r[j * headDim + j + h] = -1f;     // out[j]     = −x[j + h]
            r[(j + h) * headDim + j] = 1f;    // out[j + h] =  x[j]
        }
        return device.upload(DType.F32, r, headDim, headDim);
    }

    /** {@code 1 / theta^(arange(0, dim, 2) / dim)} in fp32, as HF computes the default inverse frequencies. */
    public static float[] defaultInvFreq(double theta, int dim) {
        float[] inv = new float[dim / 2];
        for (int i = 0; i < inv.length; i++) {
            float e = (float) (2 * i) / (float) dim;
            inv[i] = 1f / (float) Math.pow((float) theta, e);
        }
        return inv;
    }

    /** The cos and sin tables {@code [T, heads, D]} F32 for {@code positions}, on the rope's device (caller closes). */
    public Tensor[] tables(int[] positions, int heads) {
        int t = positions.length, d = headDim, h = rotaryDim / 2;
        float[] cos = new float[t * heads * d], sin = new float[cos.length];
        if (rotaryDim < d) { // the dims past the rotary ones pass through: cos 1, sin 0
            for (int i = 0; i < t * heads; i++) java.util.Arrays.fill(cos, i * d + rotaryDim, (i + 1) * d, 1f);
        }
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
    public Tensor apply(Tensor x, Tensor[] cosSin) {
        try (Scope sc = Scope.open()) {
            Tensor rot = sc.track(Gemm.linear(x, rotate, null));
            return Elementwise.add(sc.track(Elementwise.mul(x, cosSin[0])), sc.track(Elementwise.mul(rot, cosSin[1])));
        }
    }
}
