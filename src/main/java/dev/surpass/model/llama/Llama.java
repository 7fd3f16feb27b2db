package dev.surpass.model.llama;

import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.DecoderModel;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Llama-family decoder ({@code LlamaForCausalLM}) in fp32:
 * <pre>
 * x = embed_tokens[ids]
 * per layer:  a = RMSNorm(x);  q, k, v = q_proj(a), k_proj(a), v_proj(a);  q, k = RoPE(q, k)
 *             x = x + o_proj(attn(q, k, v))                      (GQA: Hq/Hkv q-heads share a kv-head)
 *             m = RMSNorm(x);  x = x + down_proj(silu(gate_proj(m)) · up_proj(m))
 * logits = lm_head(RMSNorm_f(x))     (lm_head = embed_tokens when tied)
 * </pre>
 * HF names ({@code model.embed_tokens}, {@code model.layers.i.*}, {@code model.norm},
 * {@code lm_head}); sharded checkpoints through {@code model.safetensors.index.json}; 16-bit weights
 * widened on load. RoPE is HF's rotate-half form with the config's theta and scaling ({@link Rope}).
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Llama implements DecoderModel {
    private static final class Layer {
        Tensor inNorm, wq, wk, wv, wo, bq, bk, bv, bo, postNorm, wGate, wUp, wDown;

        Tensor[] all() {
            return new Tensor[] {inNorm, wq, wk, wv, wo, bq, bk, bv, bo, postNorm, wGate, wUp, wDown};
        }
    }

    private final Device device;
    private final LlamaConfig config;
    private final Tensor embed, norm, head;
    private final List<Layer> layers;
    private final Rope rope;
    private boolean closed;

    private Llama(Device device, LlamaConfig config, Tensor embed, Tensor norm, Tensor head, List<Layer> layers, Rope rope) {
        this.device = device;
        this.config = config;
        this.embed = embed;
        this.norm = norm;
        this.head = head;
        this.layers = layers;
        this.rope = rope;
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto
     * {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Llama load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        LlamaConfig c = LlamaConfig.load(dir);
        Decoding.checkHeadDim(dir, "head_dim", c.headDim());
        List<Tensor> owned = new ArrayList<>();
        List<Layer> layers = new ArrayList<>();
        Rope rope = null;
        try (Checkpoint ck = Checkpoint.open(dir)) {
            int e = c.hidden(), qd = c.nHead() * c.headDim(), kd = c.nKvHead() * c.headDim(), f = c.intermediate();
            Tensor embed = track(owned, ck.upload(device, "model.embed_tokens.weight", c.vocabSize(), e));
            Tensor norm = track(owned, ck.upload(device, "model.norm.weight", e));
            Tensor head;
            if (ck.has("lm_head.weight")) {
                head = track(owned, ck.upload(device, "lm_head.weight", c.vocabSize(), e));
            } else if (c.tieEmbeddings()) {
                head = embed;
            } else {
                throw new IllegalArgumentException(dir + ": tensor 'lm_head.weight' is missing and config.json says tie_word_embeddings = false");
            }
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = "model.layers." + i + ".";
                Layer l = new Layer();
                l.inNorm = track(owned, ck.upload(device, lp + "input_layernorm.weight", e));
                l.wq = track(owned, ck.upload(device, lp + "self_attn.q_proj.weight", qd, e));
                l.wk = track(owned, ck.upload(device, lp + "self_attn.k_proj.weight", kd, e));
                l.wv = track(owned, ck.upload(device, lp + "self_attn.v_proj.weight", kd, e));
                l.wo = track(owned, ck.upload(device, lp + "self_attn.o_proj.weight", e, qd));
                if (c.attentionBias()) {
                    l.bq = track(owned, ck.upload(device, lp + "self_attn.q_proj.bias", qd));
                    l.bk = track(owned, ck.upload(device, lp + "self_attn.k_proj.bias", kd));
                    l.bv = track(owned, ck.upload(device, lp + "self_attn.v_proj.bias", kd));
                    l.bo = track(owned, ck.upload(device, lp + "self_attn.o_proj.bias", e));
                }
                l.postNorm = track(owned, ck.upload(device, lp + "post_attention_layernorm.weight", e));
                l.wGate = track(owned, ck.upload(device, lp + "mlp.gate_proj.weight", f, e));
                l.wUp = track(owned, ck.upload(device, lp + "mlp.up_proj.weight", f, e));
                l.wDown = track(owned, ck.upload(device, lp + "mlp.down_proj.weight", e, f));
                layers.add(l);
            }
            rope = new Rope(device, c.invFreq(), c.headDim());
            return new Llama(device, c, embed, norm, head, layers, rope);
        } catch (RuntimeException | Error ex) {
            for (Tensor t : owned) t.close();
            if (rope != null) rope.close();
            throw ex;
        }
    }

    private static Tensor track(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    public LlamaConfig config() {
        return config;
    }

    /** True when lm_head is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public int numLayers() {
        return config.nLayer();
    }

    @Override
    public int numHeads() {
        return config.nHead();
    }

    @Override
    public int numKvHeads() {
        return config.nKvHead();
    }

    @Override
    public int headDim() {
        return config.headDim();
    }

    @Override
    public int maxPositions() {
        return config.maxPositions();
    }

    @Override
    public String describe() {
        LlamaConfig c = config;
        return "llama: " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads / " + c.nKvHead() + " kv-heads of "
                + c.headDim() + ", vocab " + c.vocabSize() + ", rope " + c.ropeType() + " theta " + c.ropeTheta()
                + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        ensureOpen();
        int n = Decoding.checkTokens("llama", ids, positions, logitRows, config.vocabSize(), config.maxPositions());
        if (attention == null) throw new IllegalArgumentException("llama: attention is null");
        int hq = config.nHead(), hkv = config.nKvHead(), d = config.headDim();
        float eps = config.rmsEps();
        Tensor x = null;
        Tensor[] ropeQ = null, ropeK = null;
        try {
            ropeQ = rope.tables(positions, hq);
            ropeK = rope.tables(positions, hkv);
            x = Rows.gather(embed, ids);
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(RmsNorm.rmsNorm(x, l.inNorm, eps));
                    Tensor q0 = s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, hq, d));
                    Tensor k0 = s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, hkv, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, hkv, d));
                    Tensor q = s.track(rope.apply(q0, ropeQ));
                    Tensor k = s.track(rope.apply(k0, ropeK));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) hq * d));
                    Tensor x1 = s.track(Elementwise.add(x, s.track(Gemm.linear(o, l.wo, l.bo))));
                    Tensor m = s.track(RmsNorm.rmsNorm(x1, l.postNorm, eps));
                    Tensor g = s.track(Activation.silu(s.track(Gemm.linear(m, l.wGate, null))));
                    Tensor gu = s.track(Elementwise.mul(g, s.track(Gemm.linear(m, l.wUp, null))));
                    Tensor x2 = Elementwise.add(x1, s.track(Gemm.linear(gu, l.wDown, null)));
                    x.close();
                    x = x2;
                }
            }
            try (Tensor sel = logitRows == null ? null : Rows.gather(x, logitRows);
                 Tensor hn = RmsNorm.rmsNorm(sel == null ? x : sel, norm, eps)) {
                return Gemm.linear(hn, head, null);
            }
        } finally {
            if (x != null) x.close();
            for (Tensor[] tb : new Tensor[][] {ropeQ, ropeK}) if (tb != null) for (Tensor t : tb) t.close();
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("Llama is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Layer l : layers) for (Tensor t : l.all()) if (t != null) t.close();
        if (head != embed) head.close();
        embed.close();
        norm.close();
        rope.close();
    }
}
