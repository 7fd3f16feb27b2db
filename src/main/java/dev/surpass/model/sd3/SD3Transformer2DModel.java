package dev.surpass.model.sd3;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.dit.DiTEmbeddings;
import dev.surpass.model.dit.DiTOps;
import dev.surpass.model.dit.DiTTokens;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code SD3Transformer2DModel}, the MMDiT of Stable Diffusion 3 / 3.5 (the flow-matching
 * velocity predictor of the SD3 pipelines), loaded from a diffusers {@code transformer/} folder and
 * run on the model's {@link Device} through the layers ops, {@link DiTOps} and the fused attention.
 *
 * <p>Structure, as diffusers computes it ({@code B} samples, {@code D = heads · head_dim}, latents
 * {@code H × W}, {@code T = (H/p)(W/p)} image tokens, {@code S} text tokens):
 * <ul>
 *   <li>{@code pos_embed}: the {@code p × p} stride-{@code p} conv as patchify + a linear, plus the
 *       2-D sin-cos table cropped to the centre {@code H/p × W/p} of its
 *       {@code pos_embed_max_size²} grid (top = (G − H/p) / 2, left = (G − W/p) / 2). The table is
 *       the checkpoint's {@code pos_embed.pos_embed} (a persistent buffer, saved by diffusers) or,
 *       when the file lacks it, {@code get_2d_sincos_pos_embed(D, G, base_size = sample_size / p)}
 *       recomputed ({@link #positionTable});
 *   <li>{@code temb = TimestepEmbedding(Timesteps(256, flip_sin_to_cos, shift 0)(t)) +
 *       text_embedder(pooled)} (linear_1, SiLU, linear_2 each); every adaLN linear reads SiLU(temb);
 *   <li>{@code context_embedder}: a linear from {@code joint_attention_dim} to D;
 *   <li>{@code num_layers} JointTransformerBlocks. Image stream: AdaLayerNormZero (LayerNorm eps 1e-6
 *       without affine, chunks shift, scale, gate of the attention, then of the MLP), or in the
 *       {@code dual_attention_layers} SD35AdaLayerNormZeroX (three more chunks: shift, scale, gate of
 *       {@code attn2}, modulating the same LayerNorm). Text stream: AdaLayerNormZero, or in the last
 *       block ({@code context_pre_only}) AdaLayerNormContinuous (chunks <b>scale, shift</b>). Joint
 *       attention: q, k, v of both streams (to_q/k/v on the image, add_q/k/v_proj on the text, all
 *       with bias), optionally RMSNorm per head (norm_q / norm_k / norm_added_q / norm_added_k, eps
 *       1e-6), concatenated as {@code [image, text]} along the tokens, non-causal softmax attention
 *       with scale 1/√head_dim, split back; to_out.0 on the image part, to_add_out on the text part
 *       (absent in the context_pre_only block, whose text output is dropped). Then {@code x += gate·attn};
 *       dual blocks add {@code gate2·attn2(norm_hidden_states2)} (image-only self-attention with its
 *       own to_q/k/v/out and qk norms); {@code x += gate_mlp·ff(LN(x)·(1 + scale) + shift)} with
 *       FeedForward = linear D → 4D, GELU-tanh, linear 4D → D; the text stream alike with ff_context;
 *   <li>{@code norm_out}: AdaLayerNormContinuous (scale, shift), {@code proj_out} to
 *       {@code p·p·out_channels}, unpatchified with the feature order (ph, pw, c).
 * </ul>
 *
 * <p>Weights stored in F16 / BF16 are widened to fp32 on load (on the CPU the linear weights stay
 * 16-bit under {@link Checkpoint#keepSixteenBitOnCpu}); the model computes in fp32 whatever the
 * inputs' dtype. The whole batch runs together.
 *
 * <p>Threads: a loaded model is read-only; {@link #forward} may run from several threads at once.
 * {@link #close} frees the weights; use after close throws {@link IllegalStateException}.
 */
public final class SD3Transformer2DModel implements AutoCloseable {
    /** A linear layer: weight {@code [out, in]} (F32, or 16-bit on the CPU when kept), bias {@code [out]} F32. */
    record Lin(Tensor w, Tensor b) {}

    /**
     * An Attention: the image projections, the text ones (null in attn2), the outputs (addOut null
     * where the text output is dropped) and the per-head RMSNorm weights {@code [head_dim]} (null
     * without qk_norm; the added ones also null in attn2).
     */
    record Attn(Lin q, Lin k, Lin v, Lin addQ, Lin addK, Lin addV, Lin out, Lin addOut, Tensor normQ, Tensor normK, Tensor normAddedQ,
                Tensor normAddedK) {}

    /** A JointTransformerBlock; attn2 null unless dual, ffc0 / ffc2 null when context_pre_only. */
    record Block(Lin norm1, Lin norm1Context, Attn attn, Attn attn2, Lin ff0, Lin ff2, Lin ffc0, Lin ffc2, boolean dual, boolean preOnly) {}

    private final Device device;
    private final SD3TransformerConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private Lin patch;              // [D, C·p·p]: the patch conv, its kernel flattened in (c, ph, pw) order
    private Tensor posTable;        // [G·G, D]
    private Lin time1, time2, text1, text2, context, normOut, projOut;
    private Block[] blocks;
    private volatile boolean closed;

    private SD3Transformer2DModel(Device device, SD3TransformerConfig config) {
        this.device = device;
        this.config = config;
    }

    public SD3TransformerConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers SD3Transformer2DModel folder onto {@code device}: {@code config.json} and the
     * weights ({@code diffusion_pytorch_model.safetensors}, or its shards
     * {@code diffusion_pytorch_model-0000i-of-0000n.safetensors}; where a folder also holds
     * {@code .fp16} variants the plain file gives each tensor). {@code dir} may also be a pipeline
     * folder with the model in {@code transformer/}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad or unsupported
     *                                  config, a missing tensor, or one of another shape or a non-float dtype
     */
    public static SD3Transformer2DModel load(Device device, Path dir) {
        String who = "SD3Transformer2DModel.load";
        if (device == null) throw new IllegalArgumentException(who + ": device is null");
        if (device.isClosed()) throw new IllegalArgumentException(who + ": device " + device.name() + " is closed");
        dir = Checkpoint.componentFolder(who, dir, "transformer", "a diffusers SD3Transformer2DModel with config.json");
        SD3TransformerConfig cfg = SD3TransformerConfig.read(dir);
        try (Checkpoint wt = Checkpoint.open(dir)) {
            SD3Transformer2DModel m = new SD3Transformer2DModel(device, cfg);
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
        SD3TransformerConfig c = config;
        int d = c.innerDim(), p = c.patchSize(), g = c.posEmbedMaxSize();
        float[] pw = wt.read("pos_embed.proj.weight", d, c.inChannels(), p, p); // [D, C, p, p] is already [D, C·p·p] row-major
        patch = new Lin(keep(device.upload(DType.F32, pw, d, (long) c.inChannels() * p * p)), bias(wt, "pos_embed.proj.bias", d));
        float[] table = wt.has("pos_embed.pos_embed") ? wt.read("pos_embed.pos_embed", 1, (long) g * g, d)
                : positionTable(d, g, c.baseSize());
        posTable = keep(device.upload(DType.F32, table, (long) g * g, d));
        time1 = lin(wt, "time_text_embed.timestep_embedder.linear_1", d, SD3TransformerConfig.TIME_PROJ_DIM);
        time2 = lin(wt, "time_text_embed.timestep_embedder.linear_2", d, d);
        text1 = lin(wt, "time_text_embed.text_embedder.linear_1", d, c.pooledProjectionDim());
        text2 = lin(wt, "time_text_embed.text_embedder.linear_2", d, d);
        context = lin(wt, "context_embedder", c.captionProjectionDim(), c.jointAttentionDim());
        blocks = new Block[c.numLayers()];
        for (int i = 0; i < blocks.length; i++) {
            String b = "transformer_blocks." + i + ".";
            boolean dual = c.dualAttention(i), pre = c.contextPreOnly(i);
            Lin n1 = lin(wt, b + "norm1.linear", (dual ? 9L : 6L) * d, d);
            Lin n1c = lin(wt, b + "norm1_context.linear", (pre ? 2L : 6L) * d, d);
            Attn a = attention(wt, b + "attn.", true, !pre);
            Attn a2 = dual ? attention(wt, b + "attn2.", false, false) : null;
            Lin ff0 = lin(wt, b + "ff.net.0.proj", 4L * d, d), ff2 = lin(wt, b + "ff.net.2", d, 4L * d);
            Lin ffc0 = pre ? null : lin(wt, b + "ff_context.net.0.proj", 4L * d, d);
            Lin ffc2 = pre ? null : lin(wt, b + "ff_context.net.2", d, 4L * d);
            blocks[i] = new Block(n1, n1c, a, a2, ff0, ff2, ffc0, ffc2, dual, pre);
        }
        normOut = lin(wt, "norm_out.linear", 2L * d, d);
        projOut = lin(wt, "proj_out", (long) p * p * c.outChannels(), d);
    }

    private Attn attention(Checkpoint wt, String p, boolean added, boolean addOut) {
        int d = config.innerDim(), hd = config.attentionHeadDim();
        boolean qk = config.rmsQkNorm();
        return new Attn(lin(wt, p + "to_q", d, d), lin(wt, p + "to_k", d, d), lin(wt, p + "to_v", d, d),
                added ? lin(wt, p + "add_q_proj", d, d) : null, added ? lin(wt, p + "add_k_proj", d, d) : null,
                added ? lin(wt, p + "add_v_proj", d, d) : null, lin(wt, p + "to_out.0", d, d), addOut ? lin(wt, p + "to_add_out", d, d) : null,
                qk ? bias(wt, p + "norm_q.weight", hd) : null, qk ? bias(wt, p + "norm_k.weight", hd) : null,
                qk && added ? bias(wt, p + "norm_added_q.weight", hd) : null, qk && added ? bias(wt, p + "norm_added_k.weight", hd) : null);
    }

    private Lin lin(Checkpoint wt, String p, long out, long in) {
        return new Lin(keep(wt.uploadLinear(device, p + ".weight", out, in)), bias(wt, p + ".bias", out));
    }

    /** A 1-D F32 tensor (a bias or a norm weight). */
    private Tensor bias(Checkpoint wt, String name, long n) {
        return keep(wt.upload(device, name, n));
    }

    private Tensor keep(Tensor t) {
        owned.add(t);
        return t;
    }

    /**
     * diffusers' {@code get_2d_sincos_pos_embed(D, G, base_size, interpolation_scale = 1)}:
     * {@code [G·G, D]}, token {@code i·G + j} (row i, column j) is {@code [sincos(D/2, x_j) | sincos(D/2, x_i)]}
     * (the column first), positions {@code x_k = k / (G / base_size)} rounded to fp32 as torch's
     * float32 arange divided by a scalar, {@code sincos(E, x) = [sin(x·ω) | cos(x·ω)]},
     * {@code ω_k = 10000^(−k/(E/2))}, evaluated in float64 and rounded to fp32.
     */
    static float[] positionTable(int dim, int grid, int baseSize) {
        int e = dim / 2, q = e / 2;
        double[] omega = new double[q];
        for (int k = 0; k < q; k++) omega[k] = 1.0 / Math.pow(10000.0, k / (e / 2.0));
        float step = (float) (grid / (double) baseSize);
        double[] pos = new double[grid];
        for (int k = 0; k < grid; k++) pos[k] = (float) k / step;
        float[] out = new float[grid * grid * dim];
        for (int i = 0; i < grid; i++) {
            for (int j = 0; j < grid; j++) {
                int row = (i * grid + j) * dim;
                for (int k = 0; k < q; k++) {
                    out[row + k] = (float) Math.sin(pos[j] * omega[k]);
                    out[row + q + k] = (float) Math.cos(pos[j] * omega[k]);
                    out[row + e + k] = (float) Math.sin(pos[i] * omega[k]);
                    out[row + e + q + k] = (float) Math.cos(pos[i] * omega[k]);
                }
            }
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /**
     * diffusers' {@code transformer(hidden_states, encoder_hidden_states, pooled_projections,
     * timestep).sample}: the prediction {@code [B, out_channels, H, W]} F32, owned by the caller.
     *
     * @param hiddenStates        latents {@code [B, in_channels, H, W]}, F32 / F16 / BF16; H and W
     *                            multiples of patch_size, at most {@code pos_embed_max_size · patch_size}
     * @param timesteps           B values, or one for the whole batch; the SD3 pipelines pass
     *                            {@code t = σ · 1000} (fractional values are kept)
     * @param encoderHiddenStates the joint text states {@code [B, S, joint_attention_dim]}, S ≥ 1
     * @param pooledProjections   the pooled text embeddings {@code [B, pooled_projection_dim]}
     * @throws IllegalArgumentException naming the argument for a null, closed, non-floating,
     *                                  other-device or misshapen tensor, or a bad timesteps array
     * @throws IllegalStateException    after {@link #close}
     */
    public Tensor forward(Tensor hiddenStates, float[] timesteps, Tensor encoderHiddenStates, Tensor pooledProjections) {
        return forward(hiddenStates, timesteps, encoderHiddenStates, pooledProjections, new int[0]);
    }

    /**
     * {@link #forward(Tensor, float[], Tensor, Tensor)} with diffusers' {@code skip_layers}: the
     * blocks listed are left out (both streams pass them unchanged), as the SD3.5 pipelines'
     * skip-layer guidance runs its extra prediction ({@code skip_guidance_layers}, e.g. 7, 8, 9).
     *
     * @param skipLayers block indices in {@code [0, num_layers)}, each at most once; empty for none
     * @throws IllegalArgumentException as the plain forward, or for a null skipLayers, an index
     *                                  out of range or listed twice
     */
    public Tensor forward(Tensor hiddenStates, float[] timesteps, Tensor encoderHiddenStates, Tensor pooledProjections, int[] skipLayers) {
        ensureOpen();
        check(hiddenStates, timesteps, encoderHiddenStates, pooledProjections);
        boolean[] skip = skips(skipLayers);
        int b = (int) hiddenStates.dim(0), h = (int) hiddenStates.dim(2), w = (int) hiddenStates.dim(3);
        SD3TransformerConfig c = config;
        int p = c.patchSize();
        float[] ts = new float[b];
        for (int i = 0; i < b; i++) ts[i] = timesteps[timesteps.length == 1 ? 0 : i];
        try (Scope sc = Scope.open()) {
            Tensor x0 = f32(hiddenStates, sc), e0 = f32(encoderHiddenStates, sc), pooled = f32(pooledProjections, sc);
            // patch embedding + cropped position table
            Tensor patches = sc.track(DiTOps.patchify(x0, p));                                    // [B, T, C·p·p]
            Tensor emb = sc.track(linear(patches, patch));                                         // [B, T, D]
            Tensor x = sc.track(Elementwise.add(emb, sc.track(croppedPositions(h / p, w / p))));
            // conditioning: SiLU(timestep embedding + pooled text projection), read by every adaLN linear
            Tensor tf = sc.track(device.upload(DType.F32, DiTEmbeddings.timestepFrequencies(ts, SD3TransformerConfig.TIME_PROJ_DIM, 0),
                    b, SD3TransformerConfig.TIME_PROJ_DIM));
            Tensor te = sc.track(linear(sc.track(Activation.silu(sc.track(linear(tf, time1)))), time2));
            Tensor pe = sc.track(linear(sc.track(Activation.silu(sc.track(linear(pooled, text1)))), text2));
            Tensor cond = sc.track(Activation.silu(sc.track(Elementwise.add(te, pe))));           // [B, D]
            Tensor ctx = sc.track(linear(e0, context));                                            // [B, S, D]
            // the streams pass from block to block; each block's temporaries die with it
            Tensor xi = x, ci = ctx;
            try {
                for (int i = 0; i < blocks.length; i++) {
                    if (skip[i]) continue;
                    Tensor[] next = block(blocks[i], xi, ci, cond);
                    if (xi != x) xi.close();
                    if (ci != ctx && ci != null) ci.close();
                    xi = next[0];
                    ci = next[1];
                }
                Tensor mod = sc.track(linear(cond, normOut));                                     // [B, 2D]: scale, shift
                Tensor nx = sc.track(DiTOps.modulate(xi, mod, 1, 0, SD3TransformerConfig.EPS));
                Tensor y = sc.track(linear(nx, projOut));                                          // [B, T, p·p·out]
                return DiTOps.unpatchify(y, p, c.outChannels(), h, w);
            } finally {
                if (xi != x) xi.close();
                if (ci != ctx && ci != null) ci.close();
            }
        }
    }

    /**
     * One JointTransformerBlock on the image tokens {@code x [B, T, D]} and text tokens
     * {@code ctx [B, S, D]}: the new streams, owned by the caller (the text one null after the
     * context_pre_only block).
     */
    private Tensor[] block(Block k, Tensor x, Tensor ctx, Tensor cond) {
        float eps = SD3TransformerConfig.EPS;
        try (Scope sc = Scope.open()) {
            Tensor mod = sc.track(linear(cond, k.norm1()));          // [B, 6D | 9D]: shift, scale, gate (msa), shift, scale, gate (mlp) [, msa2]
            Tensor cmod = sc.track(linear(cond, k.norm1Context()));  // [B, 6D], or [B, 2D] (scale, shift) when context_pre_only
            Tensor nx = sc.track(DiTOps.modulate(x, mod, 0, 1, eps));
            // SD35AdaLayerNormZeroX: the same LayerNorm of the block's input, modulated by chunks 6, 7
            Tensor nx2 = k.dual() ? sc.track(DiTOps.modulate(x, mod, 6, 7, eps)) : null;
            Tensor nc = sc.track(k.preOnly() ? DiTOps.modulate(ctx, cmod, 1, 0, eps) : DiTOps.modulate(ctx, cmod, 0, 1, eps));
            Tensor[] ao = jointAttention(nx, nc, k.attn(), sc);
            Tensor x1 = sc.track(DiTOps.gateResidual(x, ao[0], mod, 2));
            if (k.dual()) x1 = sc.track(DiTOps.gateResidual(x1, selfAttention(nx2, k.attn2(), sc), mod, 8));
            Tensor n2 = sc.track(DiTOps.modulate(x1, mod, 3, 4, eps));
            Tensor ff = feedForward(n2, k.ff0(), k.ff2(), sc);
            Tensor c1 = null, cff = null;
            if (!k.preOnly()) {
                c1 = sc.track(DiTOps.gateResidual(ctx, ao[1], cmod, 2));
                Tensor nc2 = sc.track(DiTOps.modulate(c1, cmod, 3, 4, eps));
                cff = feedForward(nc2, k.ffc0(), k.ffc2(), sc);
            }
            Tensor xOut = DiTOps.gateResidual(x1, ff, mod, 5);
            if (k.preOnly()) return new Tensor[] {xOut, null};
            try {
                return new Tensor[] {xOut, DiTOps.gateResidual(c1, cff, cmod, 5)};
            } catch (RuntimeException | Error e) {
                xOut.close();
                throw e;
            }
        }
    }

    /** linear D → 4D, GELU-tanh, linear 4D → D (diffusers' FeedForward with activation_fn "gelu-approximate"). */
    private static Tensor feedForward(Tensor x, Lin up, Lin down, Scope sc) {
        Tensor hid = sc.track(Activation.gelu(sc.track(linear(x, up)), Activation.Gelu.TANH));
        return sc.track(linear(hid, down));
    }

    /**
     * JointAttnProcessor2_0 with both streams: returns the image output after to_out.0 and the text
     * output after to_add_out (null when the block drops it).
     */
    private Tensor[] jointAttention(Tensor nx, Tensor nc, Attn a, Scope sc) {
        long t = nx.dim(1), s = nc.dim(1);
        Tensor q = join(heads(nx, a.q(), a.normQ(), sc), heads(nc, a.addQ(), a.normAddedQ(), sc), sc);
        Tensor k = join(heads(nx, a.k(), a.normK(), sc), heads(nc, a.addK(), a.normAddedK(), sc), sc);
        Tensor v = join(heads(nx, a.v(), null, sc), heads(nc, a.addV(), null, sc), sc);
        Tensor o = sc.track(Attention.prefill(q, k, v, AttentionOptions.defaults()));            // [B, T+S, H, hd], scale 1/√hd
        Tensor oi = sc.track(rows(o, 0, t, sc)), out = sc.track(linear(oi, a.out()));
        Tensor ctxOut = null;
        if (a.addOut() != null) {
            Tensor oc = sc.track(rows(o, t, s, sc));
            ctxOut = sc.track(linear(oc, a.addOut()));
        }
        return new Tensor[] {out, ctxOut};
    }

    /** attn2 of a dual block: image-only self-attention, to_out.0. */
    private Tensor selfAttention(Tensor nx, Attn a, Scope sc) {
        Tensor q = heads(nx, a.q(), a.normQ(), sc), k = heads(nx, a.k(), a.normK(), sc), v = heads(nx, a.v(), null, sc);
        Tensor o = sc.track(Attention.prefill(q, k, v, AttentionOptions.defaults()));
        Tensor flat = sc.track(o.reshape(nx.dim(0), nx.dim(1), config.innerDim()));
        return sc.track(linear(flat, a.out()));
    }

    /** A projection {@code [B, N, D]} → {@code [B, N, H, hd]}, RMS-normalized per head when {@code norm} is given. */
    private Tensor heads(Tensor x, Lin l, Tensor norm, Scope sc) {
        Tensor y = sc.track(linear(x, l));
        Tensor r = sc.track(y.reshape(x.dim(0), x.dim(1), config.numAttentionHeads(), config.attentionHeadDim()));
        return norm == null ? r : sc.track(RmsNorm.rmsNorm(r, norm, SD3TransformerConfig.EPS));
    }

    /** {@code torch.cat([a, c], dim=1)} of {@code a [B, T, H, hd]} and {@code c [B, S, H, hd]}: image tokens first. */
    private static Tensor join(Tensor a, Tensor c, Scope sc) {
        return sc.track(DiTTokens.cat(a, c));
    }

    /** Tokens {@code [from, from + n)} of every sample of {@code o [B, N, H, hd]} as {@code [B, n, H·hd]} (a new tensor). */
    private static Tensor rows(Tensor o, long from, long n, Scope sc) {
        return sc.track(DiTTokens.slice(o, from, n)).reshape(o.dim(0), n, o.dim(2) * o.dim(3));
    }

    /** The centre {@code hp × wp} crop of the position table, {@code [hp·wp, D]} (PatchEmbed.cropped_pos_embed). */
    private Tensor croppedPositions(int hp, int wp) {
        int g = config.posEmbedMaxSize(), d = config.innerDim(), top = (g - hp) / 2, left = (g - wp) / 2;
        long es = DType.F32.byteSize(), row = (long) wp * d * es;
        Tensor out = device.allocate(DType.F32, (long) hp * wp, d);
        for (int i = 0; i < hp; i++) {
            device.backend().copy(posTable.storage(), posTable.byteOffset() + ((long) (top + i) * g + left) * d * es, out.storage(),
                    out.byteOffset() + i * row, row);
        }
        return out;
    }

    private static Tensor linear(Tensor x, Lin l) {
        return Gemm.linear(x, l.w(), l.b());
    }

    private static Tensor f32(Tensor t, Scope sc) {
        return t.dtype() == DType.F32 ? t : sc.track(t.to(DType.F32));
    }

    private boolean[] skips(int[] skipLayers) {
        String where = "SD3Transformer2DModel.forward";
        if (skipLayers == null) throw new IllegalArgumentException(where + ": skipLayers is null (pass an empty array to skip none)");
        boolean[] skip = new boolean[blocks.length];
        for (int i : skipLayers) {
            if (i < 0 || i >= blocks.length) {
                throw new IllegalArgumentException(where + ": skipLayers lists block " + i + "; the model has blocks 0.." + (blocks.length - 1));
            }
            if (skip[i]) throw new IllegalArgumentException(where + ": skipLayers lists block " + i + " twice");
            skip[i] = true;
        }
        return skip;
    }

    private void check(Tensor x, float[] timesteps, Tensor ctx, Tensor pooled) {
        String where = "SD3Transformer2DModel.forward";
        SD3TransformerConfig c = config;
        tensor(where, "hiddenStates", x);
        long[] s = x.shape();
        int p = c.patchSize(), max = c.posEmbedMaxSize() * p;
        if (s.length != 4 || s[1] != c.inChannels() || s[0] < 1 || s[2] < 1 || s[3] < 1) {
            throw new IllegalArgumentException(where + ": hiddenStates is " + x.describe() + "; expected [B, " + c.inChannels()
                    + ", H, W] with B, H, W >= 1");
        }
        if (s[2] % p != 0 || s[3] % p != 0) {
            throw new IllegalArgumentException(where + ": hiddenStates is " + x.describe() + "; H and W must be multiples of patch_size " + p);
        }
        if (s[2] > max || s[3] > max) {
            throw new IllegalArgumentException(where + ": hiddenStates is " + x.describe() + "; H and W may be at most pos_embed_max_size · patch_size = "
                    + max + " (the position table covers " + c.posEmbedMaxSize() + " patches a side)");
        }
        if (s[0] * (s[2] / p) * (s[3] / p) * (long) c.innerDim() * 4 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": hiddenStates is " + x.describe() + "; too many tokens for one batch");
        }
        if (timesteps == null) throw new IllegalArgumentException(where + ": timesteps is null");
        if (timesteps.length != 1 && timesteps.length != s[0]) {
            throw new IllegalArgumentException(where + ": timesteps has " + timesteps.length + " values; expected B = " + s[0] + " (or 1 for all)");
        }
        for (int i = 0; i < timesteps.length; i++) {
            if (!Float.isFinite(timesteps[i])) {
                throw new IllegalArgumentException(where + ": timesteps[" + i + "] is " + timesteps[i] + "; expected a finite number");
            }
        }
        tensor(where, "encoderHiddenStates", ctx);
        long[] e = ctx.shape();
        if (e.length != 3 || e[0] != s[0] || e[1] < 1 || e[2] != c.jointAttentionDim()) {
            throw new IllegalArgumentException(where + ": encoderHiddenStates is " + ctx.describe() + "; expected [" + s[0] + ", S, "
                    + c.jointAttentionDim() + "] (B of hiddenStates, S >= 1, joint_attention_dim)");
        }
        if (e[0] * (e[1] + (s[2] / p) * (s[3] / p)) * 4L * c.innerDim() > Integer.MAX_VALUE || e[1] * e[2] > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": encoderHiddenStates is " + ctx.describe() + "; too many tokens for one batch");
        }
        tensor(where, "pooledProjections", pooled);
        long[] q = pooled.shape();
        if (q.length != 2 || q[0] != s[0] || q[1] != c.pooledProjectionDim()) {
            throw new IllegalArgumentException(where + ": pooledProjections is " + pooled.describe() + "; expected [" + s[0] + ", "
                    + c.pooledProjectionDim() + "] (B of hiddenStates, pooled_projection_dim)");
        }
    }

    private void tensor(String where, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(where + ": " + name + " is null");
        if (t.isClosed()) throw new IllegalArgumentException(where + ": " + name + " (" + t.describe() + ") is closed");
        if (!t.dtype().isFloating()) throw new IllegalArgumentException(where + ": " + name + " is " + t.describe() + "; expected F32, F16 or BF16");
        if (!t.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": " + name + " is on " + t.device().name() + " but the model is on " + device.name());
        }
    }

    // ---------------------------------------------------------------------------------------------

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("SD3Transformer2DModel is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : owned) t.close();
        owned.clear();
    }
}
