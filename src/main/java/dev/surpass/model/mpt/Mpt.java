package dev.surpass.model.mpt;

import dev.surpass.DType;
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
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.LoadedDecoder;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * MPT ({@code MptForCausalLM}) in fp32:
 * <pre>
 * x = wte[ids]
 * per layer:  q | k | v = Wqkv(norm_1(x))          (thirds of the output, heads contiguous in each)
 *             x = out_proj(attn(q, k, v)) + x       (causal, ALiBi, scale softmax_scale or 1/√head_dim)
 *             x = down_proj(gelu(up_proj(norm_2(x)))) + x     (exact erf GELU)
 * logits = wte(norm_f(x))                 (tied head)
 * </pre>
 * No biases anywhere (LayerNorms without bias). ALiBi: HF adds {@code slope_h·(j − (L−1))} to the
 * scores; within a query row that differs from FlashAttention's {@code −slope_h·(i − j)} by a
 * constant, which the softmax cancels; MPT's slopes come from {@code alibi_bias_max}
 * ({@link Alibi#mpt}). HF names with or without {@code transformer.}; 16-bit weights are widened.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Mpt extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1, ln2, wq, wk, wv, wo, wUp, wDown;
    }

    private final MptConfig config;
    private final Tensor embed, lnf, head;
    private final List<Layer> layers;
    private final AttentionOptions attention;

    private Mpt(Device device, MptConfig c, Weights weights, Tensor embed, Tensor lnf, Tensor head, List<Layer> layers) {
        super("mpt", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nHead(), c.headDim(), c.maxPositions()), weights);
        this.config = c;
        this.embed = embed;
        this.lnf = lnf;
        this.head = head;
        this.layers = layers;
        this.attention = AttentionOptions.causal().scale(c.softmaxScale()).alibi(Alibi.mpt(c.nHead(), c.alibiBiasMax()));
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad or unsupported
     *     config, a missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Mpt load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        MptConfig c = MptConfig.load(dir);
        Decoding.checkHeadDim(dir, "d_model / n_heads", c.headDim());
        return build(dir, (ck, w) -> {
            String p = ck.has("transformer.wte.weight") ? "transformer." : "";
            int e = c.hidden(), f = c.intermediate();
            Tensor embed = w.track(ck.upload(device, p + "wte.weight", c.vocabSize(), e));
            Tensor lnf = w.track(ck.upload(device, p + "norm_f.weight", e));
            Tensor head = tiedOrOwnHead(dir, ck, w, device, c.tieEmbeddings(), embed, c.vocabSize(), e);
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = p + "blocks." + i + ".";
                Layer l = new Layer();
                l.ln1 = w.track(ck.upload(device, lp + "norm_1.weight", e));
                l.ln2 = w.track(ck.upload(device, lp + "norm_2.weight", e));
                float[] qkv = ck.read(lp + "attn.Wqkv.weight", 3L * e, e); // chunk(3) of the output: q, k, v rows
                l.wq = w.track(device.upload(DType.F32, Arrays.copyOfRange(qkv, 0, e * e), e, e));
                l.wk = w.track(device.upload(DType.F32, Arrays.copyOfRange(qkv, e * e, 2 * e * e), e, e));
                l.wv = w.track(device.upload(DType.F32, Arrays.copyOfRange(qkv, 2 * e * e, 3 * e * e), e, e));
                l.wo = w.track(ck.upload(device, lp + "attn.out_proj.weight", e, e));
                l.wUp = w.track(ck.upload(device, lp + "ffn.up_proj.weight", f, e));
                l.wDown = w.track(ck.upload(device, lp + "ffn.down_proj.weight", e, f));
                layers.add(l);
            }
            return new Mpt(device, c, w, embed, lnf, head, layers);
        });
    }

    public MptConfig config() {
        return config;
    }

    /** Causal attention with the model's scale and ALiBi slopes (every layer alike). */
    @Override
    public AttentionOptions attentionOptions(int layer) {
        return attention;
    }

    @Override
    public String describe() {
        MptConfig c = config;
        return "mpt: " + c.nLayer() + " layers, d_model " + c.hidden() + ", " + c.nHead() + " heads of " + c.headDim() + " (ALiBi, bias max "
                + c.alibiBiasMax() + "), vocab " + c.vocabSize();
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attn) {
        int n = checkCall(ids, positions, logitRows, attn);
        int h = config.nHead(), d = config.headDim(), e = config.hidden();
        float eps = config.layerNormEps();
        Tensor x = null;
        try {
            x = Rows.gather(embed, ids);
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.ln1, null, eps));
                    Tensor q = s.track(s.track(Gemm.linear(a, l.wq, null)).reshape(n, h, d));
                    Tensor k = s.track(s.track(Gemm.linear(a, l.wk, null)).reshape(n, h, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, null)).reshape(n, h, d));
                    Tensor o = s.track(s.track(attn.attend(i, q, k, v)).reshape(n, e));
                    Tensor x1 = s.track(Elementwise.add(s.track(Gemm.linear(o, l.wo, null)), x));
                    Tensor m = s.track(LayerNorm.layerNorm(x1, l.ln2, null, eps));
                    Tensor up = s.track(Gemm.linear(m, l.wUp, null));
                    Tensor g = s.track(Activation.gelu(up, Activation.Gelu.ERF));
                    Tensor x2 = Elementwise.add(s.track(Gemm.linear(g, l.wDown, null)), x1);
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnf, null, eps), head);
        } finally {
            if (x != null) x.close();
        }
    }
}
