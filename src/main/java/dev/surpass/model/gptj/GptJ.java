package dev.surpass.model.gptj;

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
 * GPT-J ({@code GPTJForCausalLM}) in fp32, as transformers' modeling_gptj:
 * <pre>
 * x = wte[ids]
 * per layer:  a = ln_1(x)                                             (LayerNorm with bias)
 *             q, k, v = q_proj(a), k_proj(a), v_proj(a)               (no biases, MHA)
 *             q, k = rotary on the first rotary_dim dims, pairs (2i, 2i+1) at frequency i (rotate_every_two)
 *             attn = out_proj(attn(q, k, v))                          (causal, scores / √head_dim, no bias)
 *             mlp  = fc_out(gelu_new(fc_in(a)))                       (biases; the same normed input)
 *             x = attn + mlp + x
 * logits = lm_head(ln_f(x)) + lm_head.bias
 * </pre>
 * The interleaved rotation is the rotate-half one ({@link Rope}) after a fixed permutation of each
 * head's first rotary_dim dims (pair i's two dims moved to i and i + rotary_dim/2); q_proj's and
 * k_proj's rows are permuted so on load. Attention only sees q·k, which the same permutation of
 * both leaves unchanged, so the logits are HF's. HF names under {@code transformer.} (the buffers
 * {@code attn.bias} / {@code attn.masked_bias} of older files are ignored); 16-bit weights are
 * widened on load.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class GptJ extends LoadedDecoder {
    private static final class Layer {
        Tensor lnW, lnB, wq, wk, wv, wo, wUp, bUp, wDown, bDown;
    }

    private final GptJConfig config;
    private final Tensor embed, lnfW, lnfB, head, headBias;
    private final List<Layer> layers;
    private final Rope rope;

    private GptJ(Device device, GptJConfig c, Weights weights, Tensor embed, Tensor lnfW, Tensor lnfB, Tensor head, Tensor headBias,
                 List<Layer> layers, Rope rope) {
        super("gptj", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nHead(), c.headDim(), c.maxPositions()), weights);
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
    public static GptJ load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        GptJConfig c = GptJConfig.load(dir);
        Decoding.checkHeadDim(dir, "n_embd / n_head", c.headDim());
        return build(dir, (ck, w) -> {
            int e = c.hidden(), f = c.intermediate(), d = c.headDim();
            Tensor embed = w.track(ck.upload(device, "transformer.wte.weight", c.vocabSize(), e));
            Tensor lnfW = w.track(ck.upload(device, "transformer.ln_f.weight", e));
            Tensor lnfB = w.track(ck.upload(device, "transformer.ln_f.bias", e));
            Tensor head = tiedOrOwnHead(dir, ck, w, device, c.tieEmbeddings(), embed, c.vocabSize(), e);
            Tensor headBias = w.track(ck.upload(device, "lm_head.bias", c.vocabSize()));
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = "transformer.h." + i + ".";
                Layer l = new Layer();
                l.lnW = w.track(ck.upload(device, lp + "ln_1.weight", e));
                l.lnB = w.track(ck.upload(device, lp + "ln_1.bias", e));
                l.wq = w.track(rotaryRows(ck, device, lp + "attn.q_proj.weight", c));
                l.wk = w.track(rotaryRows(ck, device, lp + "attn.k_proj.weight", c));
                l.wv = w.track(ck.upload(device, lp + "attn.v_proj.weight", e, e));
                l.wo = w.track(ck.upload(device, lp + "attn.out_proj.weight", e, e));
                l.wUp = w.track(ck.upload(device, lp + "mlp.fc_in.weight", f, e));
                l.bUp = w.track(ck.upload(device, lp + "mlp.fc_in.bias", f));
                l.wDown = w.track(ck.upload(device, lp + "mlp.fc_out.weight", e, f));
                l.bDown = w.track(ck.upload(device, lp + "mlp.fc_out.bias", e));
                layers.add(l);
            }
            double[] inv = Rope.widen(Rope.defaultInvFreq(GptJConfig.ROPE_THETA, c.rotaryDim()));
            Rope rope = new Rope(w.track(Rope.rotation(device, d, c.rotaryDim())), inv, d, c.rotaryDim(), 1f);
            return new GptJ(device, c, w, embed, lnfW, lnfB, head, headBias, layers, rope);
        });
    }

    /**
     * q_proj / k_proj {@code [n_embd, n_embd]} with each head's first rotary_dim output rows
     * reordered from interleaved pairs to halves: new row j takes old row 2j and new row
     * j + rotary_dim/2 old row 2j + 1 (j < rotary_dim/2); the rest of the head stays.
     */
    static Tensor rotaryRows(Checkpoint ck, Device device, String name, GptJConfig c) {
        int e = c.hidden(), d = c.headDim(), half = c.rotaryDim() / 2;
        float[] w = ck.read(name, e, e);
        float[] p = w.clone();
        for (int h = 0; h < c.nHead(); h++) {
            for (int j = 0; j < half; j++) {
                System.arraycopy(w, (h * d + 2 * j) * e, p, (h * d + j) * e, e);
                System.arraycopy(w, (h * d + 2 * j + 1) * e, p, (h * d + half + j) * e, e);
            }
        }
        return device.upload(DType.F32, p, e, e);
    }

    public GptJConfig config() {
        return config;
    }

    /** True when lm_head's weight is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    @Override
    public String describe() {
        GptJConfig c = config;
        return "gptj: " + c.nLayer() + " layers, n_embd " + c.hidden() + ", " + c.nHead() + " heads of " + c.headDim() + " (interleaved rotary "
                + c.rotaryDim() + "), vocab " + c.vocabSize() + (tiedHead() ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        int n = checkCall(ids, positions, logitRows, attention);
        int h = config.nHead(), d = config.headDim();
        float eps = config.layerNormEps();
        Activation.Gelu gelu = config.geluTanh() ? Activation.Gelu.TANH : Activation.Gelu.ERF;
        Tensor x = null;
        Tensor[] tables = null;
        try {
            tables = rope.tables(positions, h);
            x = Rows.gather(embed, ids);
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.lnW, l.lnB, eps));
                    Tensor q = s.track(rope.apply(s.track(s.track(Gemm.linear(a, l.wq, null)).reshape(n, h, d)), tables));
                    Tensor k = s.track(rope.apply(s.track(s.track(Gemm.linear(a, l.wk, null)).reshape(n, h, d)), tables));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, null)).reshape(n, h, d));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) h * d));
                    Tensor attn = s.track(Gemm.linear(o, l.wo, null));
                    Tensor mlp = s.track(Gemm.linear(s.track(Activation.gelu(s.track(Gemm.linear(a, l.wUp, l.bUp)), gelu)), l.wDown, l.bDown));
                    Tensor x2 = Elementwise.add(s.track(Elementwise.add(attn, mlp)), x); // HF: attn + mlp + residual, in that order
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnfW, lnfB, eps), head, headBias);
        } finally {
            if (x != null) x.close();
            if (tables != null) for (Tensor t : tables) t.close();
        }
    }
}
