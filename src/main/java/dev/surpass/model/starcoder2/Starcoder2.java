package dev.surpass.model.starcoder2;

import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.LoadedDecoder;
import dev.surpass.model.decoder.Rope;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * StarCoder2 ({@code Starcoder2ForCausalLM}) in fp32, as transformers' modeling_starcoder2:
 * <pre>
 * x = embed_tokens[ids]
 * per layer:  a = input_layernorm(x)                                  (LayerNorm with bias, norm_epsilon)
 *             q, k, v = q_proj(a), k_proj(a), v_proj(a)               (biases when use_bias; GQA)
 *             q, k = RoPE over the whole head (rotate half)
 *             x = x + o_proj(attn(q, k, v))                           (causal, scale 1/√head_dim, sliding_window)
 *             x = x + c_proj(gelu(c_fc(post_attention_layernorm(x))))
 * logits = lm_head(norm(x))                                 (lm_head.weight = embed_tokens when tied)
 * </pre>
 * HF names under {@code model.}; 16-bit weights are widened on load.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Starcoder2 extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1W, ln1B, ln2W, ln2B, wq, bq, wk, bk, wv, bv, wo, bo, wUp, bUp, wDown, bDown;
    }

    private final Starcoder2Config config;
    private final Tensor embed, lnfW, lnfB, head;
    private final List<Layer> layers;
    private final Rope rope;

    private Starcoder2(Device device, Starcoder2Config c, Weights weights, Tensor embed, Tensor lnfW, Tensor lnfB, Tensor head, List<Layer> layers,
                       Rope rope) {
        super("starcoder2", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nKvHead(), c.headDim(), c.maxPositions()), weights);
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
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Starcoder2 load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        Starcoder2Config c = Starcoder2Config.load(dir);
        Decoding.checkHeadDim(dir, "hidden_size / num_attention_heads", c.headDim());
        return build(dir, (ck, w) -> {
            int e = c.hidden(), f = c.intermediate(), d = c.headDim(), qd = c.nHead() * d, kd = c.nKvHead() * d;
            Tensor embed = w.track(ck.upload(device, "model.embed_tokens.weight", c.vocabSize(), e));
            Tensor lnfW = w.track(ck.upload(device, "model.norm.weight", e));
            Tensor lnfB = w.track(ck.upload(device, "model.norm.bias", e));
            Tensor head = tiedOrOwnHead(dir, ck, w, device, c.tieEmbeddings(), embed, c.vocabSize(), e);
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = "model.layers." + i + ".";
                Layer l = new Layer();
                l.ln1W = w.track(ck.upload(device, lp + "input_layernorm.weight", e));
                l.ln1B = w.track(ck.upload(device, lp + "input_layernorm.bias", e));
                l.ln2W = w.track(ck.upload(device, lp + "post_attention_layernorm.weight", e));
                l.ln2B = w.track(ck.upload(device, lp + "post_attention_layernorm.bias", e));
                l.wq = w.track(ck.upload(device, lp + "self_attn.q_proj.weight", qd, e));
                l.wk = w.track(ck.upload(device, lp + "self_attn.k_proj.weight", kd, e));
                l.wv = w.track(ck.upload(device, lp + "self_attn.v_proj.weight", kd, e));
                l.wo = w.track(ck.upload(device, lp + "self_attn.o_proj.weight", e, qd));
                l.wUp = w.track(ck.upload(device, lp + "mlp.c_fc.weight", f, e));
                l.wDown = w.track(ck.upload(device, lp + "mlp.c_proj.weight", e, f));
                if (c.useBias()) {
                    l.bq = w.track(ck.upload(device, lp + "self_attn.q_proj.bias", qd));
                    l.bk = w.track(ck.upload(device, lp + "self_attn.k_proj.bias", kd));
                    l.bv = w.track(ck.upload(device, lp + "self_attn.v_proj.bias", kd));
                    l.bo = w.track(ck.upload(device, lp + "self_attn.o_proj.bias", e));
                    l.bUp = w.track(ck.upload(device, lp + "mlp.c_fc.bias", f));
                    l.bDown = w.track(ck.upload(device, lp + "mlp.c_proj.bias", e));
                }
                layers.add(l);
            }
            double[] inv = Rope.widen(Rope.defaultInvFreq(c.ropeTheta(), d));
            Rope rope = new Rope(w.track(Rope.rotation(device, d)), inv, d, 1f);
            return new Starcoder2(device, c, w, embed, lnfW, lnfB, head, layers, rope);
        });
    }

    public Starcoder2Config config() {
        return config;
    }

    /** True when lm_head's weight is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public int slidingWindow(int layer) {
        return config.slidingWindow();
    }

    @Override
    public String describe() {
        Starcoder2Config c = config;
        return "starcoder2: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads / " + c.nKvHead() + " kv-heads of "
                + c.headDim() + " (theta " + c.ropeTheta() + "), vocab " + c.vocabSize() + (c.useBias() ? "" : ", no biases")
                + (c.slidingWindow() > 0 ? ", sliding window " + c.slidingWindow() : "") + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        int n = checkCall(ids, positions, logitRows, attention);
        int hq = config.nHead(), hkv = config.nKvHead(), d = config.headDim();
        float eps = config.normEps();
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
                    Tensor q = s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, hq, d));
                    Tensor k = s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, hkv, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, hkv, d));
                    q = s.track(rope.apply(q, ropeQ));
                    k = s.track(rope.apply(k, ropeK));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) hq * d));
                    Tensor h = s.track(Elementwise.add(x, s.track(Gemm.linear(o, l.wo, l.bo))));
                    Tensor m = s.track(LayerNorm.layerNorm(h, l.ln2W, l.ln2B, eps));
                    Tensor up = s.track(Activation.gelu(s.track(Gemm.linear(m, l.wUp, l.bUp)), gelu));
                    Tensor x2 = Elementwise.add(h, s.track(Gemm.linear(up, l.wDown, l.bDown)));
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
}
