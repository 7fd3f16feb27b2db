package dev.surpass.model.bloom;

import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Alibi;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.FusedQkv;
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.LoadedDecoder;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * BLOOM ({@code BloomForCausalLM}) in fp32:
 * <pre>
 * x = word_embeddings_layernorm(word_embeddings[ids])
 * per layer:  n = input_layernorm(x);  r = post_ln ? n : x
 *             q, k, v = query_key_value(n) split per head as [q | k | v] of head_dim each
 *             x = dense(attn(q, k, v)) + r       (causal, ALiBi, scale 1/√head_dim)
 *             n = post_attention_layernorm(x);  r = post_ln ? n : x
 *             x = dense_4h_to_h(bloom_gelu(dense_h_to_4h(n))) + r
 * logits = word_embeddings(ln_f(x))           (lm_head tied, unless lm_head.weight is given untied)
 * </pre>
 * post_ln is {@code apply_residual_connection_post_layernorm}; bloom_gelu is the tanh GELU.
 * ALiBi: HF adds {@code slope_h · j} (the key's position) to every score of head h; within one
 * query row i that differs from FlashAttention's {@code −slope_h·(i − j)} by {@code slope_h · i}, a
 * constant the softmax cancels, so the fused kernels' relative form gives the same probabilities
 * (slopes {@link Alibi#slopes}). HF names with or without the {@code transformer.} prefix;
 * 16-bit weights are widened; the fused {@code query_key_value} rows (grouped per head as
 * {@code (heads, 3, head_dim)}) are split on load.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Bloom extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1w, ln1b, ln2w, ln2b, wq, wk, wv, bq, bk, bv, wo, bo, wUp, bUp, wDown, bDown;
    }

    private final BloomConfig config;
    private final Tensor embed, embLnW, embLnB, lnfW, lnfB, head;
    private final List<Layer> layers;
    private final AttentionOptions attention;

    private Bloom(Device device, BloomConfig c, Weights weights, Tensor embed, Tensor embLnW, Tensor embLnB, Tensor lnfW, Tensor lnfB,
                  Tensor head, List<Layer> layers) {
        super("bloom", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nHead(), c.headDim(), c.maxPositions()), weights);
        this.config = c;
        this.embed = embed;
        this.embLnW = embLnW;
        this.embLnB = embLnB;
        this.lnfW = lnfW;
        this.lnfB = lnfB;
        this.head = head;
        this.layers = layers;
        this.attention = AttentionOptions.causal().alibi(Alibi.slopes(c.nHead()));
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Bloom load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        BloomConfig c = BloomConfig.load(dir);
        Decoding.checkHeadDim(dir, "hidden_size / n_head", c.headDim());
        return build(dir, (ck, w) -> {
            String p = ck.has("transformer.word_embeddings.weight") ? "transformer." : "";
            int e = c.hidden(), f = c.intermediate(), h = c.nHead(), d = c.headDim();
            Tensor embed = w.track(ck.upload(device, p + "word_embeddings.weight", c.vocabSize(), e));
            Tensor embLnW = w.track(ck.upload(device, p + "word_embeddings_layernorm.weight", e));
            Tensor embLnB = w.track(ck.upload(device, p + "word_embeddings_layernorm.bias", e));
            Tensor lnfW = w.track(ck.upload(device, p + "ln_f.weight", e));
            Tensor lnfB = w.track(ck.upload(device, p + "ln_f.bias", e));
            Tensor head = tiedOrOwnHead(dir, ck, w, device, c.tieEmbeddings(), embed, c.vocabSize(), e);
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = p + "h." + i + ".";
                Layer l = new Layer();
                l.ln1w = w.track(ck.upload(device, lp + "input_layernorm.weight", e));
                l.ln1b = w.track(ck.upload(device, lp + "input_layernorm.bias", e));
                l.ln2w = w.track(ck.upload(device, lp + "post_attention_layernorm.weight", e));
                l.ln2b = w.track(ck.upload(device, lp + "post_attention_layernorm.bias", e));
                Tensor[] qkv = FusedQkv.splitPerHead(device, ck.read(lp + "self_attention.query_key_value.weight", 3L * e, e), h, d, e);
                l.wq = w.track(qkv[0]);
                l.wk = w.track(qkv[1]);
                l.wv = w.track(qkv[2]);
                Tensor[] b = FusedQkv.splitPerHead(device, ck.read(lp + "self_attention.query_key_value.bias", 3L * e), h, d, 1);
                l.bq = w.track(b[0]);
                l.bk = w.track(b[1]);
                l.bv = w.track(b[2]);
                l.wo = w.track(ck.upload(device, lp + "self_attention.dense.weight", e, e));
                l.bo = w.track(ck.upload(device, lp + "self_attention.dense.bias", e));
                l.wUp = w.track(ck.upload(device, lp + "mlp.dense_h_to_4h.weight", f, e));
                l.bUp = w.track(ck.upload(device, lp + "mlp.dense_h_to_4h.bias", f));
                l.wDown = w.track(ck.upload(device, lp + "mlp.dense_4h_to_h.weight", e, f));
                l.bDown = w.track(ck.upload(device, lp + "mlp.dense_4h_to_h.bias", e));
                layers.add(l);
            }
            return new Bloom(device, c, w, embed, embLnW, embLnB, lnfW, lnfB, head, layers);
        });
    }

    public BloomConfig config() {
        return config;
    }

    /** True when lm_head is word_embeddings. */
    public boolean tiedHead() {
        return head == embed;
    }

    /** Causal attention with the model's ALiBi slopes (every layer alike). */
    @Override
    public AttentionOptions attentionOptions(int layer) {
        return attention;
    }

    @Override
    public String describe() {
        BloomConfig c = config;
        return "bloom: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads of " + c.headDim() + " (ALiBi), vocab "
                + c.vocabSize() + (c.residualPostLayerNorm() ? ", residual after the layer norm" : "") + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attn) {
        int n = checkCall(ids, positions, logitRows, attn);
        int h = config.nHead(), d = config.headDim(), e = config.hidden();
        float eps = config.layerNormEps();
        boolean postLn = config.residualPostLayerNorm();
        Tensor x = null;
        try {
            try (Tensor emb = Rows.gather(embed, ids)) {
                x = LayerNorm.layerNorm(emb, embLnW, embLnB, eps);
            }
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.ln1w, l.ln1b, eps));
                    Tensor q = s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, h, d));
                    Tensor k = s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, h, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, h, d));
                    Tensor o = s.track(s.track(attn.attend(i, q, k, v)).reshape(n, e));
                    Tensor x1 = s.track(Elementwise.add(s.track(Gemm.linear(o, l.wo, l.bo)), postLn ? a : x));
                    Tensor m = s.track(LayerNorm.layerNorm(x1, l.ln2w, l.ln2b, eps));
                    Tensor x2 = Elementwise.add(s.track(mlp(l, m)), postLn ? m : x1);
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnfW, lnfB, eps), head);
        } finally {
            if (x != null) x.close();
        }
    }

    private Tensor mlp(Layer l, Tensor m) {
        try (Tensor up = Gemm.linear(m, l.wUp, l.bUp); Tensor g = Activation.gelu(up, Activation.Gelu.TANH)) {
            return Gemm.linear(g, l.wDown, l.bDown);
        }
    }
}
