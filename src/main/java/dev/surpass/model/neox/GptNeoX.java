package dev.surpass.model.neox;

import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.FusedQkv;
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.LoadedDecoder;
import dev.surpass.model.decoder.Rope;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT-NeoX ({@code GPTNeoXForCausalLM}: Pythia) in fp32:
 * <pre>
 * x = embed_in[ids]
 * per layer:  q, k, v = query_key_value(LN_in(x)) split per head as [q | k | v] of head_dim each
 *             q, k = RoPE on their first rotary_dim dims (rotate half; the rest pass through)
 *             a = dense(attn(q, k, v))                            (causal, scale 1/√head_dim)
 *             parallel residual:  x = (mlp(LN_post(x)) + a) + x
 *             else:               x = x + a;  x = x + mlp(LN_post(x))
 *             mlp(m) = dense_4h_to_h(gelu(dense_h_to_4h(m)))
 * logits = embed_out(final_layer_norm(x))       (embed_in when tied)
 * </pre>
 * HF names under {@code gpt_neox.} (the buffers {@code attention.bias}, {@code masked_bias} and
 * {@code rotary_emb.inv_freq} of older files are ignored); 16-bit weights are widened. The fused
 * {@code query_key_value} rows are interleaved per head and split on load into three projections.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class GptNeoX extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1w, ln1b, ln2w, ln2b, wq, wk, wv, bq, bk, bv, wo, bo, wUp, bUp, wDown, bDown;
    }

    private final GptNeoXConfig config;
    private final Tensor embed, lnfW, lnfB, head;
    private final List<Layer> layers;
    private final Rope rope;

    private GptNeoX(Device device, GptNeoXConfig c, Weights weights, Tensor embed, Tensor lnfW, Tensor lnfB, Tensor head, List<Layer> layers,
                    Rope rope) {
        super("gpt_neox", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nHead(), c.headDim(), c.maxPositions()), weights);
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
    public static GptNeoX load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        GptNeoXConfig c = GptNeoXConfig.load(dir);
        Decoding.checkHeadDim(dir, "hidden_size / num_attention_heads", c.headDim());
        return build(dir, (ck, w) -> {
            String p = ck.has("gpt_neox.embed_in.weight") ? "gpt_neox." : "";
            int e = c.hidden(), f = c.intermediate();
            Tensor embed = w.track(ck.upload(device, p + "embed_in.weight", c.vocabSize(), e));
            Tensor lnfW = w.track(ck.upload(device, p + "final_layer_norm.weight", e));
            Tensor lnfB = w.track(ck.upload(device, p + "final_layer_norm.bias", e));
            Tensor head;
            if (ck.has("embed_out.weight")) {
                head = w.track(ck.upload(device, "embed_out.weight", c.vocabSize(), e));
            } else if (c.tieEmbeddings()) {
                head = embed;
            } else {
                throw new IllegalArgumentException(dir + ": tensor 'embed_out.weight' is missing and config.json says tie_word_embeddings = false");
            }
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = p + "layers." + i + ".";
                Layer l = new Layer();
                l.ln1w = w.track(ck.upload(device, lp + "input_layernorm.weight", e));
                l.ln1b = w.track(ck.upload(device, lp + "input_layernorm.bias", e));
                l.ln2w = w.track(ck.upload(device, lp + "post_attention_layernorm.weight", e));
                l.ln2b = w.track(ck.upload(device, lp + "post_attention_layernorm.bias", e));
                Tensor[] qkv = FusedQkv.splitPerHead(device, ck.read(lp + "attention.query_key_value.weight", 3L * e, e), c.nHead(), c.headDim(), e);
                l.wq = w.track(qkv[0]);
                l.wk = w.track(qkv[1]);
                l.wv = w.track(qkv[2]);
                if (c.attentionBias()) {
                    Tensor[] b = FusedQkv.splitPerHead(device, ck.read(lp + "attention.query_key_value.bias", 3L * e), c.nHead(), c.headDim(), 1);
                    l.bq = w.track(b[0]);
                    l.bk = w.track(b[1]);
                    l.bv = w.track(b[2]);
                    l.bo = w.track(ck.upload(device, lp + "attention.dense.bias", e));
                }
                l.wo = w.track(ck.upload(device, lp + "attention.dense.weight", e, e));
                l.wUp = w.track(ck.upload(device, lp + "mlp.dense_h_to_4h.weight", f, e));
                l.bUp = w.track(ck.upload(device, lp + "mlp.dense_h_to_4h.bias", f));
                l.wDown = w.track(ck.upload(device, lp + "mlp.dense_4h_to_h.weight", e, f));
                l.bDown = w.track(ck.upload(device, lp + "mlp.dense_4h_to_h.bias", e));
                layers.add(l);
            }
            float[] inv = Rope.defaultInvFreq(c.ropeTheta(), c.rotaryDim());
            double[] invD = new double[inv.length];
            for (int i = 0; i < inv.length; i++) invD[i] = inv[i];
            Rope rope = new Rope(w.track(Rope.rotation(device, c.headDim(), c.rotaryDim())), invD, c.headDim(), c.rotaryDim(), 1f);
            return new GptNeoX(device, c, w, embed, lnfW, lnfB, head, layers, rope);
        });
    }

    public GptNeoXConfig config() {
        return config;
    }

    /** True when embed_out is embed_in. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public String describe() {
        GptNeoXConfig c = config;
        return "gpt_neox: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads of " + c.headDim() + " (rotary "
                + c.rotaryDim() + ", theta " + c.ropeTheta() + "), vocab " + c.vocabSize() + (c.parallelResidual() ? ", parallel residual" : "")
                + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        int n = checkCall(ids, positions, logitRows, attention);
        int h = config.nHead(), d = config.headDim(), e = config.hidden();
        float eps = config.layerNormEps();
        Tensor x = null;
        Tensor[] cs = null;
        try {
            cs = rope.tables(positions, h);
            x = Rows.gather(embed, ids);
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.ln1w, l.ln1b, eps));
                    Tensor q = s.track(rope.apply(s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, h, d)), cs));
                    Tensor k = s.track(rope.apply(s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, h, d)), cs));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, h, d));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, e));
                    Tensor attn = s.track(Gemm.linear(o, l.wo, l.bo));
                    Tensor x2;
                    if (config.parallelResidual()) { // HF: mlp_output + attn_output + hidden_states, in that order
                        Tensor mlp = s.track(mlp(l, s.track(LayerNorm.layerNorm(x, l.ln2w, l.ln2b, eps))));
                        x2 = Elementwise.add(s.track(Elementwise.add(mlp, attn)), x);
                    } else {
                        Tensor x1 = s.track(Elementwise.add(attn, x));
                        x2 = Elementwise.add(s.track(mlp(l, s.track(LayerNorm.layerNorm(x1, l.ln2w, l.ln2b, eps)))), x1);
                    }
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnfW, lnfB, eps), head);
        } finally {
            if (x != null) x.close();
            if (cs != null) for (Tensor t : cs) t.close();
        }
    }

    private Tensor mlp(Layer l, Tensor m) {
        try (Tensor up = Gemm.linear(m, l.wUp, l.bUp);
             Tensor g = Activation.gelu(up, config.geluTanh() ? Activation.Gelu.TANH : Activation.Gelu.ERF)) {
            return Gemm.linear(g, l.wDown, l.bDown);
        }
    }
}
