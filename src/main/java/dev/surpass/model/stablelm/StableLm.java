package dev.surpass.model.stablelm;

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
 * StableLM ({@code StableLmForCausalLM}) in fp32, as transformers' modeling_stablelm:
 * <pre>
 * x = embed_tokens[ids]
 * per layer:  a = input_layernorm(x)                                  (LayerNorm with bias, layer_norm_eps)
 *             q, k, v = q_proj(a), k_proj(a), v_proj(a)               (biases when use_qkv_bias; GQA)
 *             (qk_layernorm: each head of q and k LayerNormed with its own weight, no bias)
 *             q, k = RoPE on their first rotary_dim dims (rotate half; the rest pass through)
 *             attn = o_proj(attn(q, k, v))                            (causal, scale 1/√head_dim, no bias)
 *             mlp(m) = down_proj(silu(gate_proj(m)) · up_proj(m))     (no biases)
 *             parallel residual:  x = x + attn + mlp(a)
 *             else:               x = x + attn;  x = x + mlp(post_attention_layernorm(x))
 * logits = lm_head(norm(x))                                 (lm_head.weight = embed_tokens when tied)
 * </pre>
 * HF names under {@code model.}; the per-head norms are {@code self_attn.q_layernorm.norms.<h>.weight};
 * 16-bit weights are widened on load.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class StableLm extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1W, ln1B, ln2W, ln2B, wq, bq, wk, bk, wv, bv, wo, qNorm, kNorm, wGate, wUp, wDown;
    }

    private final StableLmConfig config;
    private final Tensor embed, lnfW, lnfB, head;
    private final List<Layer> layers;
    private final Rope rope;

    private StableLm(Device device, StableLmConfig c, Weights weights, Tensor embed, Tensor lnfW, Tensor lnfB, Tensor head, List<Layer> layers,
                     Rope rope) {
        super("stablelm", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nKvHead(), c.headDim(), c.maxPositions()), weights);
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
    public static StableLm load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        StableLmConfig c = StableLmConfig.load(dir);
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
                if (!c.parallelResidual()) {
                    l.ln2W = w.track(ck.upload(device, lp + "post_attention_layernorm.weight", e));
                    l.ln2B = w.track(ck.upload(device, lp + "post_attention_layernorm.bias", e));
                }
                l.wq = w.track(ck.upload(device, lp + "self_attn.q_proj.weight", qd, e));
                l.wk = w.track(ck.upload(device, lp + "self_attn.k_proj.weight", kd, e));
                l.wv = w.track(ck.upload(device, lp + "self_attn.v_proj.weight", kd, e));
                l.wo = w.track(ck.upload(device, lp + "self_attn.o_proj.weight", e, qd));
                if (c.qkvBias()) {
                    l.bq = w.track(ck.upload(device, lp + "self_attn.q_proj.bias", qd));
                    l.bk = w.track(ck.upload(device, lp + "self_attn.k_proj.bias", kd));
                    l.bv = w.track(ck.upload(device, lp + "self_attn.v_proj.bias", kd));
                }
                if (c.qkLayerNorm()) {
                    l.qNorm = w.track(headNorms(ck, device, lp + "self_attn.q_layernorm", c.nHead(), d));
                    l.kNorm = w.track(headNorms(ck, device, lp + "self_attn.k_layernorm", c.nKvHead(), d));
                }
                l.wGate = w.track(ck.upload(device, lp + "mlp.gate_proj.weight", f, e));
                l.wUp = w.track(ck.upload(device, lp + "mlp.up_proj.weight", f, e));
                l.wDown = w.track(ck.upload(device, lp + "mlp.down_proj.weight", e, f));
                layers.add(l);
            }
            double[] inv = Rope.widen(Rope.defaultInvFreq(c.ropeTheta(), c.rotaryDim()));
            Rope rope = new Rope(w.track(Rope.rotation(device, d, c.rotaryDim())), inv, d, c.rotaryDim(), 1f);
            return new StableLm(device, c, w, embed, lnfW, lnfB, head, layers, rope);
        });
    }

    /** HF's StableLmLayerNormPerHead weights {@code prefix.norms.<h>.weight [D]} stacked as one {@code [heads, D]} tensor. */
    private static Tensor headNorms(Checkpoint ck, Device device, String prefix, int heads, int d) {
        float[] all = new float[heads * d];
        for (int h = 0; h < heads; h++) System.arraycopy(ck.read(prefix + ".norms." + h + ".weight", d), 0, all, h * d, d);
        return device.upload(DType.F32, all, heads, d);
    }

    public StableLmConfig config() {
        return config;
    }

    /** True when lm_head's weight is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public String describe() {
        StableLmConfig c = config;
        return "stablelm: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads / " + c.nKvHead() + " kv-heads of "
                + c.headDim() + " (rotary " + c.rotaryDim() + ", theta " + c.ropeTheta() + "), vocab " + c.vocabSize()
                + (c.qkvBias() ? ", q/k/v biases" : "") + (c.qkLayerNorm() ? ", per-head q/k LayerNorm" : "")
                + (c.parallelResidual() ? ", parallel residual" : "") + (tiedHead() ? ", tied head" : "");
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
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.ln1W, l.ln1B, eps));
                    Tensor q = s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, hq, d));
                    Tensor k = s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, hkv, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, hkv, d));
                    if (l.qNorm != null) { // per head: normalise over D, then that head's weight [H, D] (broadcast over tokens)
                        q = s.track(Elementwise.mul(s.track(LayerNorm.layerNorm(q, null, null, eps)), l.qNorm));
                        k = s.track(Elementwise.mul(s.track(LayerNorm.layerNorm(k, null, null, eps)), l.kNorm));
                    }
                    q = s.track(rope.apply(q, ropeQ));
                    k = s.track(rope.apply(k, ropeK));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) hq * d));
                    Tensor attn = s.track(Gemm.linear(o, l.wo, null));
                    Tensor x2;
                    if (config.parallelResidual()) { // HF: residual + attn + mlp, in that order
                        x2 = Elementwise.add(s.track(Elementwise.add(x, attn)), s.track(mlp(s, l, a)));
                    } else {
                        Tensor h = s.track(Elementwise.add(x, attn));
                        x2 = Elementwise.add(h, s.track(mlp(s, l, s.track(LayerNorm.layerNorm(h, l.ln2W, l.ln2B, eps)))));
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

    /** {@code down_proj(silu(gate_proj(m)) · up_proj(m))}; a new tensor, its temporaries in {@code s}. */
    private static Tensor mlp(Scope s, Layer l, Tensor m) {
        Tensor g = s.track(Activation.silu(s.track(Gemm.linear(m, l.wGate, null))));
        return Gemm.linear(s.track(Elementwise.mul(g, s.track(Gemm.linear(m, l.wUp, null)))), l.wDown, null);
    }
}
