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
    private final Frequencies freqs;
    private final int headDim;
    private final int rotaryDim;
    private final Tensor rotate; // [D, D]: linear(x, rotate) = rotate_half(x)

    /**
     * The inverse frequencies and the factor cos and sin are multiplied by (HF's
     * {@code attention_scaling}) that a forward pass uses, given {@code seqLen}: one more than the
     * largest position in the pass, what HF's {@code dynamic_rope_update} computes as
     * {@code torch.max(position_ids) + 1} over its whole batch. Most scalings ignore it; LongRoPE
     * and dynamic NTK choose their frequencies by it.
     */
    public interface Frequencies {
        /** {@code rotaryDim / 2} frequencies (a new or shared array the caller does not modify). */
        double[] invFreq(int seqLen);

        float attentionFactor(int seqLen);

        /** The pass length past which the frequencies change once and stay (LongRoPE's original context); 0 when there is none. */
        default int switchLength() {
            return 0;
        }

        /** The same frequencies at every length. */
        static Frequencies fixed(double[] invFreq, float attentionFactor) {
            double[] inv = invFreq.clone();
            return new Frequencies() {
                @Override
                public double[] invFreq(int seqLen) {
                    return inv;
                }

                @Override
                public float attentionFactor(int seqLen) {
                    return attentionFactor;
                }
            };
        }

        /**
         * LongRoPE (transformers' {@code longrope_frequency_update}): {@code shortInv} while the pass
         * reaches no further than {@code originalMax} tokens, {@code longInv} beyond; the same
         * {@code attentionFactor} on both sides.
         */
        static Frequencies longRope(double[] shortInv, double[] longInv, int originalMax, float attentionFactor) {
            if (shortInv.length != longInv.length) throw new IllegalArgumentException("longRope: short and long frequencies differ in length");
            double[] s = shortInv.clone(), l = longInv.clone();
            return new Frequencies() {
                @Override
                public double[] invFreq(int seqLen) {
                    return seqLen > originalMax ? l : s;
                }

                @Override
                public float attentionFactor(int seqLen) {
                    return attentionFactor;
                }

                @Override
                public int switchLength() {
                    return originalMax;
                }
            };
        }

        /**
         * Dynamic NTK (transformers' {@code _compute_dynamic_ntk_parameters} under
         * {@code dynamic_frequency_update}): the default frequencies over {@code dim} dims up to
         * {@code maxPositions} tokens; beyond, the base grows with the length
         * ({@link #dynamicNtkInvFreq}).
         */
        static Frequencies dynamicNtk(double theta, int dim, int maxPositions, double factor) {
            double[] base = widen(defaultInvFreq(theta, dim));
            return new Frequencies() {
                @Override
                public double[] invFreq(int seqLen) {
                    return seqLen > maxPositions ? widen(dynamicNtkInvFreq(theta, dim, maxPositions, factor, seqLen)) : base;
                }

                @Override
                public float attentionFactor(int seqLen) {
                    return 1f;
                }
            };
        }
    }

    /** fp32 values as the doubles the tables take. */
    public static double[] widen(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    /** Over the whole head: {@code rotate} is {@link #rotation(Device, int)}'s matrix, owned by the model (it outlives the rope). */
    public Rope(Tensor rotate, double[] invFreq, int headDim, float attentionFactor) {
        this(rotate, invFreq, headDim, headDim, attentionFactor);
    }

    /**
     * Over the first {@code rotaryDim} dims of each head ({@code invFreq} has {@code rotaryDim / 2}
     * entries); {@code rotate} is {@link #rotation(Device, int, int)}'s matrix for the same dims.
     */
    public Rope(Tensor rotate, double[] invFreq, int headDim, int rotaryDim, float attentionFactor) {
        this(rotate, Frequencies.fixed(invFreq, attentionFactor), headDim, rotaryDim);
    }

    /**
     * Over the first {@code rotaryDim} dims of each head with frequencies that may depend on the
     * pass's length ({@code freqs} gives {@code rotaryDim / 2} of them at every length).
     */
    public Rope(Tensor rotate, Frequencies freqs, int headDim, int rotaryDim) {
        int n = freqs.invFreq(1).length;
        if (rotaryDim <= 0 || rotaryDim % 2 != 0 || rotaryDim > headDim || n != rotaryDim / 2) {
            throw new IllegalArgumentException("Rope: rotary dim " + rotaryDim + " with " + n + " frequencies does not fit head dim "
                    + headDim + " (expected an even rotary dim <= head dim and rotary dim / 2 frequencies)");
        }
        this.freqs = freqs;
        this.headDim = headDim;
        this.rotaryDim = rotaryDim;
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

    /**
     * transformers' dynamic NTK frequencies for a pass of {@code seqLen > maxPositions} tokens:
     * {@code base = theta · (factor · seqLen / maxPositions − (factor − 1))^(dim / (dim − 2))}, then
     * {@code 1 / base^(arange(0, dim, 2) / dim)}. HF's seqLen is a tensor there, so the whole
     * computation runs in fp32 (Python scalars rounded to fp32 as they meet it); so here.
     */
    public static float[] dynamicNtkInvFreq(double theta, int dim, int maxPositions, double factor, int seqLen) {
        float ratio = (float) factor * (float) seqLen / (float) maxPositions - (float) (factor - 1);
        float base = (float) theta * (float) Math.pow(ratio, (float) ((double) dim / (dim - 2)));
        float[] inv = new float[dim / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = 1f / (float) Math.pow(base, (float) (2 * i) / (float) dim);
        return inv;
    }

    /**
     * The cos and sin tables {@code [T, heads, D]} F32 for {@code positions}, on the rope's device
     * (caller closes); the frequencies those of a pass reaching 1 + the largest position.
     */
    public Tensor[] tables(int[] positions, int heads) {
        return tables(positions, null, heads);
    }

    /**
     * The same where token {@code t}'s frequencies are those of a pass reaching {@code reach[t]}
     * tokens ({@link DecoderModel#logits(int[], int[], int[], int[], LayerAttention)}); null: one
     * pass reaching 1 + the largest position.
     */
    public Tensor[] tables(int[] positions, int[] reach, int heads) {
        int t = positions.length, d = headDim, h = rotaryDim / 2;
        int callReach = 0;
        for (int p : positions) callReach = Math.max(callReach, p + 1);
        float[] cos = new float[t * heads * d], sin = new float[cos.length];
        if (rotaryDim < d) { // the dims past the rotary ones pass through: cos 1, sin 0
            for (int i = 0; i < t * heads; i++) java.util.Arrays.fill(cos, i * d + rotaryDim, (i + 1) * d, 1f);
        }
        double[] invFreq = null;
        float attentionFactor = 0;
        int lastReach = -1;
        for (int i = 0; i < t; i++) {
            int r = reach == null ? callReach : reach[i];
            if (r != lastReach) { // packed sequences: the tokens of one share their reach
                invFreq = freqs.invFreq(r);
                attentionFactor = freqs.attentionFactor(r);
                lastReach = r;
            }
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
