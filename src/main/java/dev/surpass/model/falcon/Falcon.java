package dev.surpass.model.falcon;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.LoadedDecoder;
import dev.surpass.model.decoder.Rope;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Falcon ({@code FalconForCausalLM}, rotary) in fp32, as transformers' modeling_falcon:
 * <pre>
 * x = word_embeddings[ids]
 * per layer:  a = ln_attn(x) or input_layernorm(x)                   (LayerNorm with bias)
 *             q, k, v = query_key_value(a) split per head            (biases when bias; see below)
 *             q, k = RoPE over the whole head (rotate half)
 *             attn = dense(attn(q, k, v))                             (causal, scores / √head_dim)
 *             mlp(m) = dense_4h_to_h(gelu(dense_h_to_4h(m)))
 *             parallel (falcon-7b, new architecture):  x = (mlp(ln_mlp(x) or a) + attn) + x
 *             sequential:                              x = x + attn;  x = x + mlp(post_attention_layernorm(x))
 * logits = lm_head(ln_f(x))                                 (lm_head.weight = word_embeddings when tied)
 * </pre>
 * The fused query_key_value rows are split on load into q / k / v projections: the new architecture
 * lays them out per K/V group as [q heads of the group | k | v] (HF broadcasts each group's k and v
 * over its q heads: grouped-query attention), multi_query as [all q heads | k | v] (one K/V head),
 * otherwise per head as [q | k | v]. HF names under {@code transformer.}; 16-bit weights are
 * widened on load.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Falcon extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1W, ln1B, ln2W, ln2B, wq, bq, wk, bk, wv, bv, wo, bo, wUp, bUp, wDown, bDown;
    }

    private final FalconConfig config;
    private final Tensor embed, lnfW, lnfB, head;
    private final List<Layer> layers;
    private final Rope rope;

    private Falcon(Device device, FalconConfig c, Weights weights, Tensor embed, Tensor lnfW, Tensor lnfB, Tensor head, List<Layer> layers,
                   Rope rope) {
        super("falcon", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nKvHead(), c.headDim(), c.maxPositions()), weights);
        this.config = c;
        this.embed = embed;
        this.lnfW = lnfW;
        this.lnfB = lnfB;
        this.head = head;
        this.layers = layers;
        this.rope = rope;
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config (an
     *     ALiBi one among them), a missing tensor or one of the wrong shape, or a head dim the fused
     *     attention lacks
     */
    public static Falcon load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        FalconConfig c = FalconConfig.load(dir);
        Decoding.checkHeadDim(dir, "hidden_size / num_attention_heads", c.headDim());
        return build(dir, (ck, w) -> {
            int e = c.hidden(), f = c.intermediate(), d = c.headDim();
            Tensor embed = w.track(ck.upload(device, "transformer.word_embeddings.weight", c.vocabSize(), e));
            Tensor lnfW = w.track(ck.upload(device, "transformer.ln_f.weight", e));
            Tensor lnfB = w.track(ck.upload(device, "transformer.ln_f.bias", e));
            Tensor head = tiedOrOwnHead(dir, ck, w, device, c.tieEmbeddings(), embed, c.vocabSize(), e);
            int[][] rows = qkvRowIndex(c);
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = "transformer.h." + i + ".";
                Layer l = new Layer();
                String n1 = c.twoNorms() ? "ln_attn" : "input_layernorm";
                l.ln1W = w.track(ck.upload(device, lp + n1 + ".weight", e));
                l.ln1B = w.track(ck.upload(device, lp + n1 + ".bias", e));
                if (c.twoNorms() || !c.parallelAttn()) {
                    String n2 = c.twoNorms() ? "ln_mlp" : "post_attention_layernorm";
                    l.ln2W = w.track(ck.upload(device, lp + n2 + ".weight", e));
                    l.ln2B = w.track(ck.upload(device, lp + n2 + ".bias", e));
                }
                float[] qkv = ck.read(lp + "self_attention.query_key_value.weight", c.qkvRows(), e);
                l.wq = w.track(device.upload(DType.F32, pickRows(qkv, e, rows[0]), rows[0].length, e));
                l.wk = w.track(device.upload(DType.F32, pickRows(qkv, e, rows[1]), rows[1].length, e));
                l.wv = w.track(device.upload(DType.F32, pickRows(qkv, e, rows[2]), rows[2].length, e));
                l.wo = w.track(ck.upload(device, lp + "self_attention.dense.weight", e, e));
                l.wUp = w.track(ck.upload(device, lp + "mlp.dense_h_to_4h.weight", f, e));
                l.wDown = w.track(ck.upload(device, lp + "mlp.dense_4h_to_h.weight", e, f));
                if (c.bias()) {
                    float[] qkvB = ck.read(lp + "self_attention.query_key_value.bias", c.qkvRows());
                    l.bq = w.track(device.upload(DType.F32, pickRows(qkvB, 1, rows[0]), rows[0].length));
                    l.bk = w.track(device.upload(DType.F32, pickRows(qkvB, 1, rows[1]), rows[1].length));
                    l.bv = w.track(device.upload(DType.F32, pickRows(qkvB, 1, rows[2]), rows[2].length));
                    l.bo = w.track(ck.upload(device, lp + "self_attention.dense.bias", e));
                    l.bUp = w.track(ck.upload(device, lp + "mlp.dense_h_to_4h.bias", f));
                    l.bDown = w.track(ck.upload(device, lp + "mlp.dense_4h_to_h.bias", e));
                }
                layers.add(l);
            }
            double[] inv = Rope.widen(Rope.defaultInvFreq(c.ropeTheta(), d));
            Rope rope = new Rope(w.track(Rope.rotation(device, d)), inv, d, 1f);
            return new Falcon(device, c, w, embed, lnfW, lnfB, head, layers, rope);
        });
    }

    /**
     * The rows of the fused query_key_value that make q, k and v (each head's head_dim rows in
     * order): new architecture, group g of kv-heads holds [its heads/kv q heads | k_g | v_g];
     * multi_query [all q heads | k | v]; otherwise head h holds [q_h | k_h | v_h].
     */
    static int[][] qkvRowIndex(FalconConfig c) {
        int h = c.nHead(), kv = c.nKvHead(), d = c.headDim();
        int[] q = new int[h * d], k = new int[kv * d], v = new int[kv * d];
        if (c.newArchitecture()) {
            int per = h / kv, block = (per + 2) * d;
            for (int g = 0; g < kv; g++) {
                for (int j = 0; j < per * d; j++) q[g * per * d + j] = g * block + j;
                for (int j = 0; j < d; j++) {
                    k[g * d + j] = g * block + per * d + j;
                    v[g * d + j] = g * block + (per + 1) * d + j;
                }
            }
        } else if (c.multiQuery()) {
            for (int j = 0; j < h * d; j++) q[j] = j;
            for (int j = 0; j < d; j++) {
                k[j] = h * d + j;
                v[j] = (h + 1) * d + j;
            }
        } else {
            for (int hh = 0; hh < h; hh++) {
                for (int j = 0; j < d; j++) {
                    q[hh * d + j] = hh * 3 * d + j;
                    k[hh * d + j] = hh * 3 * d + d + j;
                    v[hh * d + j] = hh * 3 * d + 2 * d + j;
                }
            }
        }
        return new int[][] {q, k, v};
    }

    /** Rows {@code idx} of the row-major {@code [*, cols]} matrix {@code m}, as {@code [idx.length, cols]}. */
    private static float[] pickRows(float[] m, int cols, int[] idx) {
        float[] out = new float[idx.length * cols];
        for (int r = 0; r < idx.length; r++) System.arraycopy(m, idx[r] * cols, out, r * cols, cols);
        return out;
    }

    public FalconConfig config() {
        return config;
    }

    /** True when lm_head's weight is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public String describe() {
        FalconConfig c = config;
        return "falcon: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads / " + c.nKvHead() + " kv-heads of "
                + c.headDim() + " (theta " + c.ropeTheta() + "), vocab " + c.vocabSize()
                + (c.newArchitecture() ? ", new decoder architecture" : c.multiQuery() ? ", multi-query" : "")
                + (c.parallelAttn() ? ", parallel attention" : ", sequential") + (c.bias() ? ", biases" : "") + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        int n = checkCall(ids, positions, logitRows, attention);
        int hq = config.nHead(), hkv = config.nKvHead(), d = config.headDim();
        float eps = config.layerNormEps();
        Activation.Gelu gelu = config.geluTanh() ? Activation.Gelu.TANH : Activation.Gelu.ERF;
        Tensor x = null;
        Tensor[] ropeQ = null, ropeK = null;
        try {
            ropeQ = rope.tables(positions, hq);
            ropeK = rope.tables(positions, hkv);
            x = Rows.gather(embed, ids);
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.ln1W, l.ln1B, eps));
                    Tensor q = s.track(rope.apply(s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, hq, d)), ropeQ));
                    Tensor k = s.track(rope.apply(s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, hkv, d)), ropeK));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, hkv, d));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) hq * d));
                    Tensor attn = s.track(Gemm.linear(o, l.wo, l.bo));
                    Tensor x2;
                    if (config.parallelAttn()) { // HF: mlp_output += attention_output; residual + mlp_output
                        Tensor m = l.ln2W != null ? s.track(LayerNorm.layerNorm(x, l.ln2W, l.ln2B, eps)) : a;
                        x2 = Elementwise.add(x, s.track(Elementwise.add(s.track(mlp(s, l, m, gelu)), attn)));
                    } else {
                        Tensor h = s.track(Elementwise.add(x, attn));
                        x2 = Elementwise.add(h, s.track(mlp(s, l, s.track(LayerNorm.layerNorm(h, l.ln2W, l.ln2B, eps)), gelu)));
                    }
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnfW, lnfB, eps), head);
        } finally {
            if (x != null) x.close();
            for (Tensor[] tb : new Tensor[][] {ropeQ, ropeK}) if (tb != null) for (Tensor t : tb) t.close();
        }
    }

    /** {@code dense_4h_to_h(gelu(dense_h_to_4h(m)))}; a new tensor, its temporaries in {@code s}. */
    private static Tensor mlp(Scope s, Layer l, Tensor m, Activation.Gelu gelu) {
        return Gemm.linear(s.track(Activation.gelu(s.track(Gemm.linear(m, l.wUp, l.bUp)), gelu)), l.wDown, l.bDown);
    }
}
