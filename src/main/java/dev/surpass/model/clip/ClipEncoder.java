package dev.surpass.model.clip;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.layers.LinearWeight;
import dev.surpass.layers.Softmax;
import dev.surpass.model.decoder.Checkpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The layer stack both CLIP towers share ({@code CLIPEncoder}): per layer (pre-LN)
 * <pre>
 * x = x + out_proj(attention(q_proj(ln1(x)), k_proj(·), v_proj(·)))   scale 1/√(D/heads), causal for text
 * x = x + fc2(act(fc1(ln2(x))))                                     act: quick_gelu x·σ(1.702x), gelu or gelu-tanh
 * </pre>
 * on {@code [B·L, D]} rows of B sequences of L tokens. Head dims the fused attention supports (32,
 * 64, 72, 80, 96, 128, 256) run through it; others through an unfused GEMM + softmax + GEMM (with an
 * additive causal mask when causal). The weights are owned by the model that loaded them (added to
 * its {@code owned} list).
 */
final class ClipEncoder {
    private static final class Layer {
        Tensor ln1w, ln1b, ln2w, ln2b;         // [D]
        Tensor bq, bk, bv, bo, b1, b2;         // [D] (b1 [F])
        LinearWeight pq, pk, pv, po, p1, p2;   // q/k/v/out [D, D], fc1 [F, D], fc2 [D, F]
    }

    private final Device device;
    private final int heads, headDim;
    private final ClipTextConfig.Act act;
    private final float eps;
    private final boolean fused;
    private final List<Layer> layers = new ArrayList<>();
    /** The additive causal mask [L, L] of the unfused path, per length; freed by {@link #close}. */
    private final ConcurrentHashMap<Integer, Tensor> causalMasks = new ConcurrentHashMap<>();

    /**
     * Reads {@code prefix + "encoder.layers.<i>."} for {@code count} layers of width {@code d},
     * MLP width {@code f}; every uploaded tensor goes to {@code owned}.
     */
    ClipEncoder(Checkpoint ck, Device device, String prefix, int d, int f, int count, int heads, ClipTextConfig.Act act, float eps,
                List<Tensor> owned) {
        this.device = device;
        this.heads = heads;
        this.headDim = d / heads;
        this.act = act;
        this.eps = eps;
        this.fused = headDim == 32 || headDim == 64 || headDim == 72 || headDim == 80 || headDim == 96 || headDim == 128 || headDim == 256;
        for (int i = 0; i < count; i++) {
            String l = prefix + "encoder.layers." + i + ".";
            Layer y = new Layer();
            y.pq = LinearWeight.of(up(ck, owned, l + "self_attn.q_proj.weight", d, d));
            y.bq = up(ck, owned, l + "self_attn.q_proj.bias", d);
            y.pk = LinearWeight.of(up(ck, owned, l + "self_attn.k_proj.weight", d, d));
            y.bk = up(ck, owned, l + "self_attn.k_proj.bias", d);
            y.pv = LinearWeight.of(up(ck, owned, l + "self_attn.v_proj.weight", d, d));
            y.bv = up(ck, owned, l + "self_attn.v_proj.bias", d);
            y.po = LinearWeight.of(up(ck, owned, l + "self_attn.out_proj.weight", d, d));
            y.bo = up(ck, owned, l + "self_attn.out_proj.bias", d);
            y.ln1w = up(ck, owned, l + "layer_norm1.weight", d);
            y.ln1b = up(ck, owned, l + "layer_norm1.bias", d);
            y.ln2w = up(ck, owned, l + "layer_norm2.weight", d);
            y.ln2b = up(ck, owned, l + "layer_norm2.bias", d);
            y.p1 = LinearWeight.of(up(ck, owned, l + "mlp.fc1.weight", f, d));
            y.b1 = up(ck, owned, l + "mlp.fc1.bias", f);
            y.p2 = LinearWeight.of(up(ck, owned, l + "mlp.fc2.weight", d, f));
            y.b2 = up(ck, owned, l + "mlp.fc2.bias", d);
            layers.add(y);
        }
    }

    /** {@code name} checked to be {@code shape}, widened to F32 on {@code device}, added to {@code owned}. */
    static Tensor up(Checkpoint ck, Device device, List<Tensor> owned, String name, long... shape) {
        Tensor t = ck.upload(device, name, shape);
        owned.add(t);
        return t;
    }

    private Tensor up(Checkpoint ck, List<Tensor> owned, String name, long... shape) {
        return up(ck, device, owned, name, shape);
    }

    int size() {
        return layers.size();
    }

    /**
     * The first {@code count} layers on {@code x [B·L, D]} (not closed here) → a new {@code [B·L, D]}
     * owned by the caller ({@code x} itself, as a new reference, when count is 0).
     */
    Tensor run(Tensor x, int b, int l, int count, boolean causal) {
        return run(x, b, l, 0, count, causal);
    }

    /** Layers {@code [from, to)} on {@code x}, the output of layer {@code from − 1} (or the embeddings); as {@link #run(Tensor, int, int, int, boolean)}. */
    Tensor run(Tensor x, int b, int l, int from, int to, boolean causal) {
        int n = b * l, e = heads * headDim;
        Tensor cur = x.reshape(n, e);
        try {
            for (int i = from; i < to; i++) {
                Layer y = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor hn = s.track(LayerNorm.layerNorm(cur, y.ln1w, y.ln1b, eps));
                    Tensor q = s.track(y.pq.linear(hn, y.bq));
                    Tensor k = s.track(y.pk.linear(hn, y.bk));
                    Tensor v = s.track(y.pv.linear(hn, y.bv));
                    Tensor o;
                    if (fused) {
                        Tensor a = s.track(Attention.prefill(s.track(q.reshape(b, l, heads, headDim)), s.track(k.reshape(b, l, heads, headDim)),
                                s.track(v.reshape(b, l, heads, headDim)), causal ? AttentionOptions.causal() : AttentionOptions.defaults()));
                        o = s.track(a.reshape(n, e));
                    } else {
                        o = s.track(unfused(q, k, v, b, l, causal));
                    }
                    Tensor x1 = s.track(Elementwise.add(cur, s.track(y.po.linear(o, y.bo))));
                    Tensor m = s.track(y.p1.linear(s.track(LayerNorm.layerNorm(x1, y.ln2w, y.ln2b, eps)), y.b1));
                    Tensor a = s.track(activate(s, m));
                    Tensor x2 = Elementwise.add(x1, s.track(y.p2.linear(a, y.b2)));
                    cur.close();
                    cur = x2;
                }
            }
            return cur;
        } catch (RuntimeException | Error ex) {
            cur.close();
            throw ex;
        }
    }

    /** The MLP activation on {@code m}; quick_gelu as {@code silu(1.702·m) / 1.702} = {@code m·σ(1.702·m)}. */
    private Tensor activate(Scope s, Tensor m) {
        return switch (act) {
            case GELU -> Activation.gelu(m, Activation.Gelu.ERF);
            case GELU_TANH -> Activation.gelu(m, Activation.Gelu.TANH);
            case QUICK_GELU -> Elementwise.scale(s.track(Activation.silu(s.track(Elementwise.scale(m, 1.702f)))), (float) (1 / 1.702));
        };
    }

    /**
     * Attention for head dims the fused kernel lacks: {@code q, k, v [B·L, H·Dh]} →
     * {@code [B·L, H·Dh]}. The heads are split by row gathers into {@code [B·H, L, Dh]} (k
     * transposed to {@code [B·H, Dh, L]}), {@code softmax(q·kᵀ/√Dh (+ mask))·v} by batched matmuls,
     * the causal mask adding the float32 minimum above the diagonal (as HF's), and the result
     * gathered back to token-major rows. Takes {@code B·H·L²} floats of scores.
     */
    private Tensor unfused(Tensor q, Tensor k, Tensor v, int b, int l, boolean causal) {
        int h = heads, d = headDim, e = h * d, n = b * l;
        int[] headRows = new int[n * h], back = new int[n * h], cells = new int[n * e];
        for (int s = 0; s < b; s++) {
            for (int hh = 0; hh < h; hh++) {
                int base = (s * h + hh) * l;
                for (int t = 0; t < l; t++) {
                    headRows[base + t] = (s * l + t) * h + hh;
                    back[(s * l + t) * h + hh] = base + t;
                }
                for (int j = 0; j < d; j++) {
                    for (int t = 0; t < l; t++) cells[((s * h + hh) * d + j) * l + t] = ((s * l + t) * h + hh) * d + j;
                }
            }
        }
        try (Scope s = Scope.open()) {
            Tensor headIds = s.track(device.upload(headRows, headRows.length));
            Tensor backIds = s.track(device.upload(back, back.length));
            Tensor cellIds = s.track(device.upload(cells, cells.length));
            Tensor qh = s.track(s.track(Gather.rows(s.track(q.reshape((long) n * h, d)), headIds)).reshape((long) b * h, l, d));
            Tensor vh = s.track(s.track(Gather.rows(s.track(v.reshape((long) n * h, d)), headIds)).reshape((long) b * h, l, d));
            Tensor kT = s.track(s.track(Gather.rows(s.track(k.reshape((long) n * e, 1)), cellIds)).reshape((long) b * h, d, l));
            Tensor scores = s.track(Elementwise.scale(s.track(Gemm.matmul(qh, kT)), (float) (1.0 / Math.sqrt(d))));
            if (causal) scores = s.track(Elementwise.add(scores, causalMask(l)));
            Tensor ctx = s.track(s.track(Gemm.matmul(s.track(Softmax.softmax(scores)), vh)).reshape((long) b * h * l, d));
            return s.track(Gather.rows(ctx, backIds)).reshape(n, e);
        }
    }

    /**
     * {@code [L, L]}: 0 where key j ≤ query i, the float32 minimum above the diagonal; kept per length until close.
     * The first forward of a length builds it, and forwards on other threads share it: on CUDA the
     * upload is queued on the building thread's stream, so that thread synchronizes before the mask
     * is published (Device's rule for a tensor written by one thread and read by another).
     */
    private Tensor causalMask(int l) {
        return causalMasks.computeIfAbsent(l, len -> {
            float[] m = new float[len * len];
            for (int i = 0; i < len; i++) for (int j = i + 1; j < len; j++) m[i * len + j] = -Float.MAX_VALUE;
            Tensor t = device.upload(DType.F32, m, len, len);
            try {
                device.synchronize();
            } catch (RuntimeException | Error e) {
                t.close();
                throw e;
            }
            return t;
        });
    }

    /** Frees the cached masks (the weights belong to the model's owned list). */
    void close() {
        for (Tensor t : causalMasks.values()) t.close();
        causalMasks.clear();
    }
}
