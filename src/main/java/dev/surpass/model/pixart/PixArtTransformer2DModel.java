package dev.surpass.model.pixart;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.dit.DiTEmbeddings;
import dev.surpass.model.dit.DiTOps;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * diffusers' {@code PixArtTransformer2DModel} (PixArt-α, PixArt-Σ): a DiT with adaLN-single
 * conditioning and cross-attention to T5 text states, loaded from a diffusers transformer folder and
 * run in fp32 on any {@link Device}:
 * <pre>
 * h = patchify(x)·pos_embed.proj + pos(H/p, W/p)                        [B, T, D]  (Conv2d k = s = p as a GEMM)
 * e = timestep_embedder(cos|sin(t))  (+ [res_emb(h_px), res_emb(w_px) | ar_emb(h/w)] with use_additional_conditions)
 * m = adaln_single.linear(SiLU(e))                                       [B, 6D]
 * c = caption_projection(text) = linear_2(GELU_tanh(linear_1(text)))      (when caption_channels is set)
 * per block:  shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = scale_shift_table + m
 *             h = h + gate_msa · attn1(LN(h)·(1 + scale_msa) + shift_msa)
 *             h = h + attn2(h, c, key mask)                              (no norm before the cross-attention)
 *             h = h + gate_mlp · ff(LN(h)·(1 + scale_mlp) + shift_mlp)     (ff: Linear, GELU tanh, Linear)
 * final:      shift, scale = scale_shift_table + e;  out = unpatchify(proj_out(LN(h)·(1 + scale) + shift))
 * </pre>
 * LN has no affine; the blocks' eps is {@code norm_eps}, the final one's 1e-6. The position table is
 * {@link #posEmbed}: the 2-D sin-cos table on a grid scaled by {@code base_size / grid} and
 * {@code 1 / interpolation_scale}, recomputed for every latent size (cached per size).
 *
 * <p>Masking: diffusers turns the encoder mask into a −10000 additive bias on the scores, which after
 * the fp32 softmax gives those keys a weight of exactly 0 (e^−10000 underflows), so here masked text
 * tokens are dropped and each sample's cross-attention runs over its kept keys only
 * ({@link Attention#prefillVarlen}); a sample must keep at least one key (T5's {@code </s>} always is).
 * Self-attention is {@link Attention#prefill}, both fused; GEMMs {@link Gemm#linear}; the adaLN
 * modulate and gated residual are {@link DiTOps}.
 *
 * <p>Weights are F32 on the model's device (16-bit files widened on load); the model owns them and
 * {@link #close} frees them. Thread rules: a loaded model is read-only and may run from several
 * threads; {@link #close} must not race with them.
 */
public final class PixArtTransformer2DModel implements AutoCloseable {
    /** One BasicTransformerBlock (norm_type ada_norm_single). */
    private record Block(Tensor table,                       // [6D] scale_shift_table
                         Tensor q1, Tensor q1b, Tensor k1, Tensor k1b, Tensor v1, Tensor v1b, Tensor o1, Tensor o1b,   // attn1
                         Tensor q2, Tensor q2b, Tensor k2, Tensor k2b, Tensor v2, Tensor v2b, Tensor o2, Tensor o2b,   // attn2
                         Tensor ff0, Tensor ff0b, Tensor ff2, Tensor ff2b) {}

    private final Device device;
    private final PixArtTransformer2DConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private Tensor patchW, patchB;           // [D, C·p·p], [D]
    private Tensor t1, t1b, t2, t2b;         // timestep_embedder linear_1 [D, 256], linear_2 [D, D]
    private Tensor r1, r1b, r2, r2b;         // resolution_embedder [D/3, 256], [D/3, D/3] (additional conditions)
    private Tensor a1, a1b, a2, a2b;         // aspect_ratio_embedder, the same shapes
    private Tensor ada, adaB;                // adaln_single.linear [6D, D]
    private Tensor cap1, cap1b, cap2, cap2b; // caption_projection [D, caption], [D, D]; null without
    private Tensor finalTable;               // [2D] scale_shift_table
    private Tensor out, outB;                // proj_out [p·p·outC, D]
    private final List<Block> blocks = new ArrayList<>();
    private final Map<Long, Tensor> positions = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private PixArtTransformer2DModel(Device device, PixArtTransformer2DConfig config) {
        this.device = device;
        this.config = config;
    }

    public PixArtTransformer2DConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers {@code PixArtTransformer2DModel} folder ({@code config.json} and
     * {@code diffusion_pytorch_model.safetensors}, sharded with its index, or {@code .bin}; 16-bit
     * weights widened to F32) onto {@code device}; {@code dir} may also be the pipeline folder with the
     * model in {@code transformer/}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for an unsupported config,
     *                                  a missing tensor or one of the wrong shape or dtype, or more
     *                                  blocks than num_layers
     */
    public static PixArtTransformer2DModel load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("PixArtTransformer2DModel.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("PixArtTransformer2DModel.load: device " + device.name() + " is closed");
        dir = Checkpoint.componentFolder("PixArtTransformer2DModel.load", dir, "transformer", "a diffusers PixArtTransformer2DModel with config.json");
        PixArtTransformer2DConfig cfg = PixArtTransformer2DConfig.load(dir);
        try (Checkpoint wt = Checkpoint.open(dir)) {
            if (wt.has("transformer_blocks." + cfg.numLayers() + ".scale_shift_table")) {
                throw new IllegalArgumentException(dir + ": the checkpoint has more than num_layers = " + cfg.numLayers() + " blocks");
            }
            if (cfg.captionChannels() == 0 && wt.has("caption_projection.linear_1.weight")) {
                throw new IllegalArgumentException(dir + ": the checkpoint has caption_projection but config.json sets no caption_channels");
            }
            if (!cfg.useAdditionalConditions() && wt.has("adaln_single.emb.resolution_embedder.linear_1.weight")) {
                throw new IllegalArgumentException(dir + ": the checkpoint has resolution_embedder weights but use_additional_conditions is false "
                        + "(set it in config.json)");
            }
            PixArtTransformer2DModel m = new PixArtTransformer2DModel(device, cfg);
            try {
                m.fill(wt);
            } catch (RuntimeException | Error e) {
                m.close();
                throw e;
            }
            return device.ready(m);
        }
    }

    private void fill(Checkpoint wt) {
        PixArtTransformer2DConfig c = config;
        int d = c.innerDim(), p = c.patchSize(), f = PixArtTransformer2DConfig.FREQUENCY_DIM, s = c.sizeEmbedDim();
        patchW = keep(wt.read("pos_embed.proj.weight", d, c.inChannels(), p, p), d, (long) c.inChannels() * p * p);
        patchB = keep(wt.read("pos_embed.proj.bias", d), d);
        String e = "adaln_single.emb.";
        t1 = keep(wt.read(e + "timestep_embedder.linear_1.weight", d, f), d, f);
        t1b = keep(wt.read(e + "timestep_embedder.linear_1.bias", d), d);
        t2 = keep(wt.read(e + "timestep_embedder.linear_2.weight", d, d), d, d);
        t2b = keep(wt.read(e + "timestep_embedder.linear_2.bias", d), d);
        if (c.useAdditionalConditions()) {
            r1 = keep(wt.read(e + "resolution_embedder.linear_1.weight", s, f), s, f);
            r1b = keep(wt.read(e + "resolution_embedder.linear_1.bias", s), s);
            r2 = keep(wt.read(e + "resolution_embedder.linear_2.weight", s, s), s, s);
            r2b = keep(wt.read(e + "resolution_embedder.linear_2.bias", s), s);
            a1 = keep(wt.read(e + "aspect_ratio_embedder.linear_1.weight", s, f), s, f);
            a1b = keep(wt.read(e + "aspect_ratio_embedder.linear_1.bias", s), s);
            a2 = keep(wt.read(e + "aspect_ratio_embedder.linear_2.weight", s, s), s, s);
            a2b = keep(wt.read(e + "aspect_ratio_embedder.linear_2.bias", s), s);
        }
        ada = keep(wt.read("adaln_single.linear.weight", 6L * d, d), 6L * d, d);
        adaB = keep(wt.read("adaln_single.linear.bias", 6L * d), 6L * d);
        if (c.captionChannels() > 0) {
            cap1 = keep(wt.read("caption_projection.linear_1.weight", d, c.captionChannels()), d, c.captionChannels());
            cap1b = keep(wt.read("caption_projection.linear_1.bias", d), d);
            cap2 = keep(wt.read("caption_projection.linear_2.weight", d, d), d, d);
            cap2b = keep(wt.read("caption_projection.linear_2.bias", d), d);
        }
        int ff = 4 * d, kv = c.crossAttentionDim();
        for (int i = 0; i < c.numLayers(); i++) {
            String b = "transformer_blocks." + i + ".";
            Tensor table = keep(wt.read(b + "scale_shift_table", 6, d), 6L * d);
            Tensor[] a1w = attention(wt, b + "attn1", d), a2w = attention(wt, b + "attn2", kv);
            blocks.add(new Block(table, a1w[0], a1w[1], a1w[2], a1w[3], a1w[4], a1w[5], a1w[6], a1w[7],
                    a2w[0], a2w[1], a2w[2], a2w[3], a2w[4], a2w[5], a2w[6], a2w[7],
                    keep(wt.read(b + "ff.net.0.proj.weight", ff, d), ff, d), keep(wt.read(b + "ff.net.0.proj.bias", ff), ff),
                    keep(wt.read(b + "ff.net.2.weight", d, ff), d, ff), keep(wt.read(b + "ff.net.2.bias", d), d)));
        }
        finalTable = keep(wt.read("scale_shift_table", 2, d), 2L * d);
        int po = p * p * c.outChannels();
        out = keep(wt.read("proj_out.weight", po, d), po, d);
        outB = keep(wt.read("proj_out.bias", po), po);
    }

    /** {q, qb, k, kb, v, vb, o, ob} of an Attention; the q/k/v biases are null without attention_bias. */
    private Tensor[] attention(Checkpoint wt, String p, int kvDim) {
        int d = config.innerDim();
        boolean bias = config.attentionBias();
        return new Tensor[] {
            keep(wt.read(p + ".to_q.weight", d, d), d, d), bias ? keep(wt.read(p + ".to_q.bias", d), d) : null,
            keep(wt.read(p + ".to_k.weight", d, kvDim), d, kvDim), bias ? keep(wt.read(p + ".to_k.bias", d), d) : null,
            keep(wt.read(p + ".to_v.weight", d, kvDim), d, kvDim), bias ? keep(wt.read(p + ".to_v.bias", d), d) : null,
            keep(wt.read(p + ".to_out.0.weight", d, d), d, d), keep(wt.read(p + ".to_out.0.bias", d), d),
        };
    }

    private Tensor keep(float[] v, long... shape) {
        Tensor t = device.upload(DType.F32, v, shape);
        owned.add(t);
        return t;
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /** {@link #forward(Tensor, float[], Tensor, int[][], float[][], float[])} for a model without additional conditions. */
    public Tensor forward(Tensor latents, float[] timesteps, Tensor text, int[][] textMask) {
        return forward(latents, timesteps, text, textMask, null, null);
    }

    /**
     * The model output {@code [B, out_channels, H, W]} F32 (with learned sigma: ε then the variance
     * values), owned by the caller.
     *
     * @param latents     {@code [B, in_channels, H, W]} F32 on the model's device; H and W multiples of patch_size
     * @param timesteps   B timesteps in the training units (0..999; fractional allowed)
     * @param text        {@code [B, S, caption_channels]} F32 on the model's device (the T5 states;
     *                    {@code cross_attention_dim} wide for a model without caption projection)
     * @param textMask    {@code [B][S]} of 0/1 (1: a token the image attends to; each row keeps at least one), or null for all 1
     * @param resolution  {@code [B][2]} (height, width) in pixels, exactly when the model uses additional conditions, else null
     * @param aspectRatio {@code [B]} height / width, exactly when the model uses additional conditions, else null
     * @throws IllegalArgumentException naming the argument for a wrong shape, dtype, device, mask or condition
     */
    public Tensor forward(Tensor latents, float[] timesteps, Tensor text, int[][] textMask, float[][] resolution, float[] aspectRatio) {
        ensureOpen();
        int b = checkInputs(latents, timesteps, text, textMask, resolution, aspectRatio);
        PixArtTransformer2DConfig c = config;
        int d = c.innerDim(), p = c.patchSize(), heads = c.numHeads(), hd = c.headDim();
        int gh = (int) latents.dim(2) / p, gw = (int) latents.dim(3) / p, tokens = gh * gw;
        int s = (int) text.dim(1);
        // the kept text tokens, packed: sample k's keys are rows [cuK[k], cuK[k+1])
        int[] cuK = new int[b + 1], cuQ = new int[b + 1];
        List<Integer> keptRows = new ArrayList<>();
        for (int k = 0; k < b; k++) {
            for (int j = 0; j < s; j++) if (textMask == null || textMask[k][j] != 0) keptRows.add(k * s + j);
            cuK[k + 1] = keptRows.size();
            cuQ[k + 1] = (k + 1) * tokens;
        }
        int[] kept = keptRows.stream().mapToInt(Integer::intValue).toArray();
        try (Scope sc = Scope.open()) {
            Tensor patches = sc.track(DiTOps.patchify(latents, p));                                   // [B, T, C·p·p]
            Tensor emb = sc.track(Gemm.linear(patches, patchW, patchB));                              // [B, T, D]
            Tensor e = sc.track(timestepEmbedding(timesteps, resolution, aspectRatio));               // [B, D] embedded_timestep
            Tensor m = sc.track(Gemm.linear(sc.track(Activation.silu(e)), ada, adaB));                // [B, 6D]
            Tensor ctx = sc.track(captions(text, kept));                                              // [ΣK, D]
            Tensor h = Elementwise.add(emb, position(gh, gw));
            try {
                for (Block blk : blocks) {
                    Tensor next = block(blk, h, m, ctx, cuQ, cuK, b, tokens, heads, hd);
                    h.close();
                    h = next;
                }
            } catch (RuntimeException | Error ex) {
                h.close();
                throw ex;
            }
            sc.track(h);
            Tensor mod = sc.track(finalModulation(e));                                                // [B, 2D]: shift, scale
            Tensor hn = sc.track(DiTOps.modulate(h, mod, 0, 1, PixArtTransformer2DConfig.NORM_OUT_EPS));
            Tensor o = sc.track(Gemm.linear(hn, out, outB));                                          // [B, T, p·p·outC]
            return DiTOps.unpatchify(o, p, c.outChannels(), gh * p, gw * p);
        }
    }

    /** One block: a new residual stream from {@code h [B, T, D]} (not consumed). */
    private Tensor block(Block blk, Tensor h, Tensor m, Tensor ctx, int[] cuQ, int[] cuK, int b, int tokens, int heads, int hd) {
        int d = heads * hd;
        float eps = config.normEps();
        try (Scope s = Scope.open()) {
            Tensor mod = s.track(Elementwise.add(m, blk.table()));                                    // [B, 6D] = table + m
            Tensor a = s.track(DiTOps.modulate(h, mod, 0, 1, eps));                                   // shift_msa, scale_msa
            Tensor q = s.track(s.track(Gemm.linear(a, blk.q1(), blk.q1b())).reshape(b, tokens, heads, hd));
            Tensor k = s.track(s.track(Gemm.linear(a, blk.k1(), blk.k1b())).reshape(b, tokens, heads, hd));
            Tensor v = s.track(s.track(Gemm.linear(a, blk.v1(), blk.v1b())).reshape(b, tokens, heads, hd));
            Tensor att = s.track(s.track(Attention.prefill(q, k, v, AttentionOptions.defaults())).reshape(b, tokens, d));
            Tensor h1 = s.track(DiTOps.gateResidual(h, s.track(Gemm.linear(att, blk.o1(), blk.o1b())), mod, 2));   // gate_msa
            // cross-attention on the un-normalised stream, each sample over its kept text tokens
            Tensor q2 = s.track(s.track(Gemm.linear(h1, blk.q2(), blk.q2b())).reshape((long) b * tokens, heads, hd));
            Tensor k2 = s.track(s.track(Gemm.linear(ctx, blk.k2(), blk.k2b())).reshape(ctx.dim(0), heads, hd));
            Tensor v2 = s.track(s.track(Gemm.linear(ctx, blk.v2(), blk.v2b())).reshape(ctx.dim(0), heads, hd));
            Tensor x2 = s.track(s.track(Attention.prefillVarlen(q2, k2, v2, cuQ, cuK, AttentionOptions.defaults())).reshape(b, tokens, d));
            Tensor h2 = s.track(Elementwise.add(h1, s.track(Gemm.linear(x2, blk.o2(), blk.o2b()))));
            Tensor mm = s.track(DiTOps.modulate(h2, mod, 3, 4, eps));                                 // shift_mlp, scale_mlp
            Tensor f1 = s.track(Activation.gelu(s.track(Gemm.linear(mm, blk.ff0(), blk.ff0b())), Activation.Gelu.TANH));
            Tensor f2 = s.track(Gemm.linear(f1, blk.ff2(), blk.ff2b()));
            return DiTOps.gateResidual(h2, f2, mod, 5);                                               // gate_mlp
        }
    }

    /**
     * {@code PixArtAlphaCombinedTimestepSizeEmbeddings}: the timestep embedder on
     * {@code [cos | sin](t·f)} (f_k = 10000^(−k/128)), plus, with additional conditions,
     * {@code [res(h) | res(w) | ar(h/w)]} through the same sinusoid; {@code [B, D]}.
     */
    private Tensor timestepEmbedding(float[] t, float[][] resolution, float[] aspect) {
        int b = t.length, f = PixArtTransformer2DConfig.FREQUENCY_DIM;
        try (Scope s = Scope.open()) {
            Tensor temb = embedder(s, DiTEmbeddings.timestepFrequencies(t, f, 0), b, t1, t1b, t2, t2b);   // [B, D]
            if (!config.useAdditionalConditions()) return Elementwise.scale(temb, 1f);
            float[] hw = new float[2 * b];
            for (int k = 0; k < b; k++) {
                hw[2 * k] = resolution[k][0];
                hw[2 * k + 1] = resolution[k][1];
            }
            int se = config.sizeEmbedDim(), d = config.innerDim();
            float[] res = embedder(s, DiTEmbeddings.timestepFrequencies(hw, f, 0), 2 * b, r1, r1b, r2, r2b).toFloatArray(); // [2B, D/3]
            float[] ar = embedder(s, DiTEmbeddings.timestepFrequencies(aspect, f, 0), b, a1, a1b, a2, a2b).toFloatArray(); // [B, D/3]
            // torch.cat([resolution_emb.reshape(B, -1), aspect_ratio_emb], dim=1): per sample [res(h) | res(w) | ar]
            float[] size = new float[b * d];
            for (int k = 0; k < b; k++) {
                System.arraycopy(res, 2 * k * se, size, k * d, 2 * se);
                System.arraycopy(ar, k * se, size, k * d + 2 * se, se);
            }
            return Elementwise.add(temb, s.track(device.upload(DType.F32, size, b, d)));
        }
    }

    /** {@code linear_2(SiLU(linear_1(freq)))} of a TimestepEmbedding on host features {@code [n, 256]}; tracked by {@code s}. */
    private Tensor embedder(Scope s, float[] freq, int n, Tensor w1, Tensor b1, Tensor w2, Tensor b2) {
        Tensor x = s.track(device.upload(DType.F32, freq, n, PixArtTransformer2DConfig.FREQUENCY_DIM));
        return s.track(Gemm.linear(s.track(Activation.silu(s.track(Gemm.linear(x, w1, b1)))), w2, b2));
    }

    /** {@code [e + table[0] | e + table[1]]} {@code [B, 2D]}: the final layer's shift and scale. */
    private Tensor finalModulation(Tensor e) {
        int b = (int) e.dim(0), d = config.innerDim();
        float[] v = e.toFloatArray(), two = new float[2 * b * d];
        for (int k = 0; k < b; k++) {
            System.arraycopy(v, k * d, two, 2 * k * d, d);
            System.arraycopy(v, k * d, two, 2 * k * d + d, d);
        }
        try (Tensor t = device.upload(DType.F32, two, b, 2L * d)) {
            return Elementwise.add(t, finalTable);
        }
    }

    /** The kept rows of {@code text [B, S, C]} through the caption projection (when the model has one): {@code [ΣK, D]}. */
    private Tensor captions(Tensor text, int[] kept) {
        long rows = text.dim(0) * text.dim(1);
        try (Scope s = Scope.open()) {
            Tensor flat = s.track(text.reshape(rows, text.dim(2)));
            Tensor ids = s.track(device.upload(kept, kept.length));
            Tensor sel = s.track(Gather.rows(flat, ids));
            if (cap1 == null) return Elementwise.scale(sel, 1f);
            Tensor g = s.track(Activation.gelu(s.track(Gemm.linear(sel, cap1, cap1b)), Activation.Gelu.TANH));
            return Gemm.linear(g, cap2, cap2b);
        }
    }

    /** The position table {@code [gh·gw, D]} for a grid of gh × gw patches, made once per size and kept. */
    private Tensor position(int gh, int gw) {
        long key = ((long) gh << 32) | gw;
        Tensor t = positions.get(key);
        if (t != null) return t;
        synchronized (positions) {
            t = positions.get(key);
            if (t == null) {
                ensureOpen();
                t = device.upload(DType.F32, posEmbed(config.innerDim(), gh, gw, config.baseSize(), config.interpolationScale()), (long) gh * gw,
                        config.innerDim());
                positions.put(key, t);
            }
            return t;
        }
    }

    /**
     * diffusers' {@code get_2d_sincos_pos_embed(dim, (gh, gw), base_size, interpolation_scale)}:
     * {@code [gh·gw, dim]} row-major, token {@code i·gw + j} (row i, column j) is
     * {@code [sincos(dim/2, x_j) | sincos(dim/2, y_i)]} with {@code x_j = j / (gw/base) / scale},
     * {@code y_i = i / (gh/base) / scale} (each rounded to fp32 as torch's fp32 arange arithmetic),
     * {@code sincos(E, x) = [sin(x·ω) | cos(x·ω)]}, {@code ω_k = 10000^(−k/(E/2))}, evaluated in
     * float64 and rounded to fp32.
     */
    public static float[] posEmbed(int dim, int gh, int gw, int baseSize, double interpolationScale) {
        if (dim < 4 || dim % 4 != 0) throw new IllegalArgumentException("posEmbed: dim must be a positive multiple of 4, got " + dim);
        if (gh < 1 || gw < 1 || baseSize < 1) throw new IllegalArgumentException("posEmbed: grid " + gh + "×" + gw + " and base " + baseSize + " must be positive");
        if (!(interpolationScale > 0)) throw new IllegalArgumentException("posEmbed: interpolationScale must be positive, got " + interpolationScale);
        int e = dim / 2, q = e / 2;
        double[] omega = new double[q];
        for (int k = 0; k < q; k++) omega[k] = 1.0 / Math.pow(10000.0, k / (e / 2.0));
        float[] ys = grid(gh, baseSize, interpolationScale), xs = grid(gw, baseSize, interpolationScale);
        float[] out = new float[gh * gw * dim];
        for (int i = 0; i < gh; i++) {
            for (int j = 0; j < gw; j++) {
                int row = (i * gw + j) * dim;
                for (int k = 0; k < q; k++) {
                    double x = xs[j] * omega[k], y = ys[i] * omega[k];
                    out[row + k] = (float) Math.sin(x);
                    out[row + q + k] = (float) Math.cos(x);
                    out[row + e + k] = (float) Math.sin(y);
                    out[row + e + q + k] = (float) Math.cos(y);
                }
            }
        }
        return out;
    }

    /** {@code arange(n, fp32) / (n / base) / scale} with torch's fp32 rounding of each division. */
    private static float[] grid(int n, int base, double scale) {
        float div = (float) ((double) n / base), sc = (float) scale;
        float[] g = new float[n];
        for (int i = 0; i < n; i++) g[i] = ((float) i / div) / sc;
        return g;
    }

    // ---------------------------------------------------------------------------------------------
    // Checks

    private int checkInputs(Tensor x, float[] t, Tensor text, int[][] mask, float[][] resolution, float[] aspect) {
        PixArtTransformer2DConfig c = config;
        checkTensor("latents", x);
        int p = c.patchSize();
        if (x.rank() != 4 || x.dim(0) < 1 || x.dim(1) != c.inChannels() || x.dim(2) < p || x.dim(3) < p || x.dim(2) % p != 0 || x.dim(3) % p != 0) {
            throw new IllegalArgumentException("forward: latents have shape " + Shapes.toString(x.shape()) + "; expected [B >= 1, " + c.inChannels()
                    + ", H, W] with H and W positive multiples of patch_size " + p);
        }
        if (x.dim(2) * x.dim(3) / ((long) p * p) * c.innerDim() > Integer.MAX_VALUE / 8) {
            throw new IllegalArgumentException("forward: latents " + Shapes.toString(x.shape()) + " give too many tokens for one call");
        }
        int b = (int) x.dim(0);
        if (t == null || t.length != b) throw new IllegalArgumentException("forward: timesteps has " + (t == null ? "no" : t.length) + " values but the batch is " + b);
        for (int i = 0; i < b; i++) if (!Float.isFinite(t[i])) throw new IllegalArgumentException("forward: timesteps[" + i + "] = " + t[i] + " is not finite");
        checkTensor("text", text);
        if (text.rank() != 3 || text.dim(0) != b || text.dim(1) < 1 || text.dim(2) != c.textDim()) {
            throw new IllegalArgumentException("forward: text has shape " + Shapes.toString(text.shape()) + "; expected [" + b + ", S >= 1, " + c.textDim() + "]"
                    + (c.captionChannels() > 0 ? " (caption_channels)" : " (cross_attention_dim)"));
        }
        int s = (int) text.dim(1);
        if (mask != null) {
            if (mask.length != b) throw new IllegalArgumentException("forward: textMask has " + mask.length + " rows but the batch is " + b);
            for (int k = 0; k < b; k++) {
                if (mask[k] == null || mask[k].length != s) {
                    throw new IllegalArgumentException("forward: textMask row " + k + " has " + (mask[k] == null ? "no" : mask[k].length) + " values; expected " + s);
                }
                boolean any = false;
                for (int j = 0; j < s; j++) {
                    if (mask[k][j] != 0 && mask[k][j] != 1) throw new IllegalArgumentException("forward: textMask[" + k + "][" + j + "] = " + mask[k][j] + "; expected 0 or 1");
                    any |= mask[k][j] == 1;
                }
                if (!any) throw new IllegalArgumentException("forward: textMask row " + k + " masks every text token; keep at least one (T5's </s>)");
            }
        }
        if (c.useAdditionalConditions()) {
            if (resolution == null || aspect == null) {
                throw new IllegalArgumentException("forward: this model uses additional conditions (use_additional_conditions): give resolution [B][2] and aspectRatio [B]");
            }
            if (resolution.length != b || aspect.length != b) {
                throw new IllegalArgumentException("forward: resolution has " + resolution.length + " rows and aspectRatio " + aspect.length + " values; the batch is " + b);
            }
            for (int k = 0; k < b; k++) {
                if (resolution[k] == null || resolution[k].length != 2 || !Float.isFinite(resolution[k][0]) || !Float.isFinite(resolution[k][1])) {
                    throw new IllegalArgumentException("forward: resolution[" + k + "] must be two finite values (height, width)");
                }
                if (!Float.isFinite(aspect[k])) throw new IllegalArgumentException("forward: aspectRatio[" + k + "] = " + aspect[k] + " is not finite");
            }
        } else if (resolution != null || aspect != null) {
            throw new IllegalArgumentException("forward: resolution / aspectRatio given but this model does not use additional conditions");
        }
        return b;
    }

    private void checkTensor(String name, Tensor x) {
        if (x == null) throw new IllegalArgumentException("forward: " + name + " is null");
        if (x.isClosed()) throw new IllegalArgumentException("forward: " + name + " is closed");
        if (x.dtype() != DType.F32) throw new IllegalArgumentException("forward: " + name + " is " + x.describe() + "; expected F32 (convert it with Tensor.to(DType))");
        if (!x.device().sameAs(device)) {
            throw new IllegalArgumentException("forward: " + name + " is on " + x.device().name() + " but the model is on " + device.name());
        }
    }

    /** Every weight tensor (tests and memory accounting). */
    List<Tensor> weightTensors() {
        return List.copyOf(owned);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("PixArtTransformer2DModel is closed");
    }

    /** Frees the weights and the cached position tables; idempotent. */
    @Override
    public void close() {
        synchronized (positions) {
            if (closed) return;
            closed = true;
            for (Tensor t : owned) t.close();
            owned.clear();
            for (Tensor t : positions.values()) t.close();
            positions.clear();
        }
    }

    @Override
    public String toString() {
        return "PixArtTransformer2DModel" + Arrays.asList(config.numLayers() + " layers", config.innerDim() + " wide") + " on " + device.name();
    }
}
