package dev.surpass.model.phi;

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
 * Phi ({@code PhiForCausalLM}: Phi-1, Phi-1.5, Phi-2) in fp32, as transformers' modeling_phi:
 * <pre>
 * x = embed_tokens[ids]
 * per layer:  a = input_layernorm(x)                                  (LayerNorm with bias)
 *             q, k, v = q_proj(a), k_proj(a), v_proj(a)               (biases; GQA when num_key_value_heads is set)
 *             (qk_layernorm: q, k = LayerNorm per head, q_layernorm / k_layernorm)
 *             q, k = RoPE on their first rotary_dim dims (rotate half; the rest pass through)
 *             attn = dense(attn(q, k, v))                             (causal, scale 1/√head_dim)
 *             mlp  = fc2(gelu(fc1(a)))                                (the same normed input: parallel)
 *             x = (attn + mlp) + x
 * logits = lm_head(final_layernorm(x)) + lm_head.bias       (lm_head.weight = embed_tokens when tied)
 * </pre>
 * HF names under {@code model.}; 16-bit weights are widened on load.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Phi extends LoadedDecoder {
    private static final class Layer {
        Tensor lnW, lnB, wq, bq, wk, bk, wv, bv, wo, bo, qLnW, qLnB, kLnW, kLnB, wUp, bUp, wDown, bDown;
    }

    private final PhiConfig config;
    private final Tensor embed, lnfW, lnfB, head, headBias;
    private final List<Layer> layers;
    private final Rope rope;

    private Phi(Device device, PhiConfig c, Weights weights, Tensor embed, Tensor lnfW, Tensor lnfB, Tensor head, Tensor headBias,
                List<Layer> layers, Rope rope) {
        super("phi", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nKvHead(), c.headDim(), c.maxPositions()), weights);
        this.config = c;
        this.embed = embed;
        this.lnfW = lnfW;
        this.lnfB = lnfB;
        this.head = head;
        this.headBias = headBias;
        this.layers = layers;
        this.rope = rope;
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Phi load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        PhiConfig c = PhiConfig.load(dir);
        Decoding.checkHeadDim(dir, "hidden_size / num_attention_heads", c.headDim());
        return build(dir, (ck, w) -> {
            int e = c.hidden(), f = c.intermediate(), d = c.headDim(), qd = c.nHead() * d, kd = c.nKvHead() * d;
            Tensor embed = w.track(ck.upload(device, "model.embed_tokens.weight", c.vocabSize(), e));
            Tensor lnfW = w.track(ck.upload(device, "model.final_layernorm.weight", e));
            Tensor lnfB = w.track(ck.upload(device, "model.final_layernorm.bias", e));
            Tensor head;
            if (ck.has("lm_head.weight")) {
                head = w.track(ck.upload(device, "lm_head.weight", c.vocabSize(), e));
            } else if (c.tieEmbeddings()) {
                head = embed;
            } else {
                throw new IllegalArgumentException(dir + ": tensor 'lm_head.weight' is missing and config.json says tie_word_embeddings = false");
            }
            Tensor headBias = w.track(ck.upload(device, "lm_head.bias", c.vocabSize()));
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = "model.layers." + i + ".";
                Layer l = new Layer();
                l.lnW = w.track(ck.upload(device, lp + "input_layernorm.weight", e));
                l.lnB = w.track(ck.upload(device, lp + "input_layernorm.bias", e));
                l.wq = w.track(ck.upload(device, lp + "self_attn.q_proj.weight", qd, e));
                l.bq = w.track(ck.upload(device, lp + "self_attn.q_proj.bias", qd));
                l.wk = w.track(ck.upload(device, lp + "self_attn.k_proj.weight", kd, e));
                l.bk = w.track(ck.upload(device, lp + "self_attn.k_proj.bias", kd));
                l.wv = w.track(ck.upload(device, lp + "self_attn.v_proj.weight", kd, e));
                l.bv = w.track(ck.upload(device, lp + "self_attn.v_proj.bias", kd));
                l.wo = w.track(ck.upload(device, lp + "self_attn.dense.weight", e, qd));
                l.bo = w.track(ck.upload(device, lp + "self_attn.dense.bias", e));
                if (c.qkLayerNorm()) {
                    l.qLnW = w.track(ck.upload(device, lp + "self_attn.q_layernorm.weight", d));
                    l.qLnB = w.track(ck.upload(device, lp + "self_attn.q_layernorm.bias", d));
                    l.kLnW = w.track(ck.upload(device, lp + "self_attn.k_layernorm.weight", d));
                    l.kLnB = w.track(ck.upload(device, lp + "self_attn.k_layernorm.bias", d));
                }
                l.wUp = w.track(ck.upload(device, lp + "mlp.fc1.weight", f, e));
                l.bUp = w.track(ck.upload(device, lp + "mlp.fc1.bias", f));
                l.wDown = w.track(ck.upload(device, lp + "mlp.fc2.weight", e, f));
                l.bDown = w.track(ck.upload(device, lp + "mlp.fc2.bias", e));
                layers.add(l);
            }
            double[] inv = Rope.widen(Rope.defaultInvFreq(c.ropeTheta(), c.rotaryDim()));
            Rope rope = new Rope(w.track(Rope.rotation(device, d, c.rotaryDim())), inv, d, c.rotaryDim(), 1f);
            return new Phi(device, c, w, embed, lnfW, lnfB, head, headBias, layers, rope);
        });
    }

    public PhiConfig config() {
        return config;
    }

    /** True when lm_head's weight is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public String describe() {
        PhiConfig c = config;
        return "phi: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads / " + c.nKvHead() + " kv-heads of " + c.headDim()
                + " (rotary " + c.rotaryDim() + ", theta " + c.ropeTheta() + "), vocab " + c.vocabSize() + (c.qkLayerNorm() ? ", q/k LayerNorm" : "")
                + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        int n = checkCall(ids, positions, logitRows, attention);
        int hq = config.nHead(), hkv = config.nKvHead(), d = config.headDim();
        float eps = config.layerNormEps();
        Tensor x = null;
        Tensor[] ropeQ = null, ropeK = null;
        try {
            ropeQ = rope.tables(positions, hq);
            ropeK = rope.tables(positions, hkv);
            x = Rows.gather(embed, ids);
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.lnW, l.lnB, eps));
                    Tensor q = s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, hq, d));
                    Tensor k = s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, hkv, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, hkv, d));
                    if (l.qLnW != null) { // qk_layernorm: each head's q and k LayerNormed before RoPE
                        q = s.track(LayerNorm.layerNorm(q, l.qLnW, l.qLnB, eps));
                        k = s.track(LayerNorm.layerNorm(k, l.kLnW, l.kLnB, eps));
                    }
                    q = s.track(rope.apply(q, ropeQ));
                    k = s.track(rope.apply(k, ropeK));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) hq * d));
                    Tensor attn = s.track(Gemm.linear(o, l.wo, l.bo));
                    Tensor up = s.track(Gemm.linear(a, l.wUp, l.bUp));
                    Tensor mlp = s.track(Gemm.linear(s.track(Activation.gelu(up, config.geluTanh() ? Activation.Gelu.TANH : Activation.Gelu.ERF)),
                            l.wDown, l.bDown));
                    Tensor x2 = Elementwise.add(s.track(Elementwise.add(attn, mlp)), x); // HF: attn + mlp + residual, in that order
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnfW, lnfB, eps), head, headBias);
        } finally {
            if (x != null) x.close();
            for (Tensor[] tb : new Tensor[][] {ropeQ, ropeK}) if (tb != null) for (Tensor t : tb) t.close();
        }
    }
}
