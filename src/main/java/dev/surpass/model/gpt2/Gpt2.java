package dev.surpass.model.gpt2;

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
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2 ({@code GPT2LMHeadModel}) in fp32:
 * <pre>
 * x = wte[ids] + wpe[positions]
 * per layer:  x = x + c_proj(attn(c_attn(ln_1(x))));  x = x + mlp.c_proj(act(mlp.c_fc(ln_2(x))))   (act: tanh GELU unless
 *             activation_function says "gelu" (erf) or "silu")
 * logits = ln_f(x) · wteᵀ          (lm_head tied to wte, or lm_head.weight when present)
 * </pre>
 * HF names with or without the {@code transformer.} prefix. Conv1D weights are stored
 * {@code [in, out]} and transposed on load to the {@code [out, in]} that {@link Gemm#linear} reads;
 * {@code c_attn}'s columns {@code q | k | v} become three matrices. 16-bit checkpoints are widened.
 * Attention is causal with scale 1/√head_dim, supplied per call ({@link LayerAttention}).
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Gpt2 extends LoadedDecoder {
    private static final class Layer {
        Tensor ln1w, ln1b, wq, bq, wk, bk, wv, bv, wo, bo, ln2w, ln2b, wfc, bfc, wproj, bproj;
    }

    private final Gpt2Config config;
    private final Tensor wte, wpe, lnfW, lnfB, head;
    private final List<Layer> layers;

    private Gpt2(Device device, Gpt2Config c, Weights weights, Tensor wte, Tensor wpe, Tensor lnfW, Tensor lnfB, Tensor head,
            List<Layer> layers) {
        super("gpt2", device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nHead(), c.headDim(), c.nPositions()), weights);
        this.config = c;
        this.wte = wte;
        this.wpe = wpe;
        this.lnfW = lnfW;
        this.lnfB = lnfB;
        this.head = head;
        this.layers = layers;
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto
     * {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Gpt2 load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        Gpt2Config c = Gpt2Config.load(dir);
        Decoding.checkHeadDim(dir, "n_embd / n_head", c.headDim());
        return build(dir, (ck, w) -> {
            String p = ck.has("transformer.wte.weight") ? "transformer." : "";
            int e = c.nEmbd(), f = c.nInner();
            Tensor wte = w.track(ck.upload(device, p + "wte.weight", c.vocabSize(), e));
            Tensor wpe = w.track(ck.upload(device, p + "wpe.weight", c.nPositions(), e));
            Tensor lnfW = w.track(ck.upload(device, p + "ln_f.weight", e));
            Tensor lnfB = w.track(ck.upload(device, p + "ln_f.bias", e));
            Tensor head = ck.has("lm_head.weight") ? w.track(ck.upload(device, "lm_head.weight", c.vocabSize(), e)) : wte;
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = p + "h." + i + ".";
                Layer l = new Layer();
                l.ln1w = w.track(ck.upload(device, lp + "ln_1.weight", e));
                l.ln1b = w.track(ck.upload(device, lp + "ln_1.bias", e));
                l.wq = w.track(ck.uploadConv1d(device, lp + "attn.c_attn.weight", e, 3L * e, 0, e));
                l.wk = w.track(ck.uploadConv1d(device, lp + "attn.c_attn.weight", e, 3L * e, e, e));
                l.wv = w.track(ck.uploadConv1d(device, lp + "attn.c_attn.weight", e, 3L * e, 2 * e, e));
                l.bq = w.track(ck.uploadRange(device, lp + "attn.c_attn.bias", 3L * e, 0, e));
                l.bk = w.track(ck.uploadRange(device, lp + "attn.c_attn.bias", 3L * e, e, e));
                l.bv = w.track(ck.uploadRange(device, lp + "attn.c_attn.bias", 3L * e, 2 * e, e));
                l.wo = w.track(ck.uploadConv1d(device, lp + "attn.c_proj.weight", e, e, 0, e));
                l.bo = w.track(ck.upload(device, lp + "attn.c_proj.bias", e));
                l.ln2w = w.track(ck.upload(device, lp + "ln_2.weight", e));
                l.ln2b = w.track(ck.upload(device, lp + "ln_2.bias", e));
                l.wfc = w.track(ck.uploadConv1d(device, lp + "mlp.c_fc.weight", e, f, 0, f));
                l.bfc = w.track(ck.upload(device, lp + "mlp.c_fc.bias", f));
                l.wproj = w.track(ck.uploadConv1d(device, lp + "mlp.c_proj.weight", f, e, 0, e));
                l.bproj = w.track(ck.upload(device, lp + "mlp.c_proj.bias", e));
                layers.add(l);
            }
            return new Gpt2(device, c, w, wte, wpe, lnfW, lnfB, head, layers);
        });
    }

    public Gpt2Config config() {
        return config;
    }

    @Override
    public String describe() {
        return "gpt2: " + config.nLayer() + " layers, n_embd " + config.nEmbd() + ", " + config.nHead() + " heads, vocab "
                + config.vocabSize() + ", context " + config.nPositions() + (head == wte ? ", tied head" : "");
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        int n = checkCall(ids, positions, logitRows, attention);
        int e = config.nEmbd(), h = config.nHead(), d = config.headDim();
        float eps = config.layerNormEps();
        Tensor x;
        try (Tensor te = Rows.gather(wte, ids); Tensor pe = Rows.gather(wpe, positions)) {
            x = Elementwise.add(te, pe);
        }
        try {
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = s.track(LayerNorm.layerNorm(x, l.ln1w, l.ln1b, eps));
                    Tensor q = s.track(s.track(Gemm.linear(a, l.wq, l.bq)).reshape(n, h, d));
                    Tensor k = s.track(s.track(Gemm.linear(a, l.wk, l.bk)).reshape(n, h, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, h, d));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, e));
                    Tensor x1 = s.track(Elementwise.add(x, s.track(Gemm.linear(o, l.wo, l.bo))));
                    Tensor m = s.track(LayerNorm.layerNorm(x1, l.ln2w, l.ln2b, eps));
                    Tensor fc = s.track(Gemm.linear(m, l.wfc, l.bfc));
                    Tensor g = s.track(switch (config.activation()) {
                        case GELU_TANH -> Activation.gelu(fc, Activation.Gelu.TANH);
                        case GELU_ERF -> Activation.gelu(fc, Activation.Gelu.ERF);
                        case SILU -> Activation.silu(fc);
                    });
                    Tensor x2 = Elementwise.add(x1, s.track(Gemm.linear(g, l.wproj, l.bproj)));
                    x.close();
                    x = x2;
                }
            }
            return finalLogits(x, logitRows, t -> LayerNorm.layerNorm(t, lnfW, lnfB, eps), head);
        } finally {
            x.close();
        }
    }
}
