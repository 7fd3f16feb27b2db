package dev.surpass.model.flux;

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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code FluxTransformer2DModel}, the rectified-flow transformer of FLUX.1-dev / -schnell
 * (the denoiser of {@code FluxPipeline}), loaded from a diffusers {@code transformer/} folder (or Black
 * Forest Labs' original single file, renamed as diffusers' single-file loader does: {@link FluxWeights}) and run
 * on the model's {@link Device} through the layers ops, {@link DiTOps} and the fused attention.
 *
 * <p>Structure, as diffusers computes it ({@code B} samples, {@code D = heads · head_dim}, {@code T}
 * packed image tokens, {@code S} text tokens, {@code N = S + T}):
 * <ul>
 *   <li>{@code x_embedder}: a linear from in_channels to D on the packed latents; {@code context_embedder}:
 *       a linear from joint_attention_dim to D on the T5 states;
 *   <li>{@code temb = TimestepEmbedding(Timesteps(256, flip_sin_to_cos, shift 0)(1000·t))
 *       [+ guidance_embedder(Timesteps(1000·g))] + text_embedder(pooled)} (each linear_1, SiLU,
 *       linear_2; the ×1000 in fp32 as diffusers scales the tensor); every adaLN linear reads SiLU(temb);
 *   <li>the rotary embedding ({@code FluxPosEmbed}, theta 10000): ids {@code cat(txt_ids, img_ids)}
 *       {@code [N, 3]}, per axis {@code a} of {@code axes_dims_rope[a]} dims the angles
 *       {@code fp32(id) · 1/theta^(2i/dim_a)} in float64, their cos and sin rounded to fp32 and each
 *       repeated twice (channels {@code 2i, 2i+1}), axes concatenated ({@link #ropeTables});
 *   <li>{@code num_layers} FluxTransformerBlocks: AdaLayerNormZero on both streams (LayerNorm eps
 *       1e-6 without affine; chunks shift, scale, gate of the attention, then of the MLP); joint
 *       attention: to_q/k/v on the image, add_q/k/v_proj on the text (all with bias), RMSNorm per
 *       head (norm_q / norm_k / norm_added_q / norm_added_k, eps 1e-6), concatenated as
 *       <b>{@code [text, image]}</b>, the rotary embedding on q and k, non-causal softmax attention
 *       with scale 1/√head_dim, split back; to_out.0 on the image part, to_add_out on the text part;
 *       {@code x += gate·attn}, {@code x += gate_mlp·ff(LN(x)·(1 + scale) + shift)} with
 *       FeedForward = linear D → 4D, GELU-tanh, linear 4D → D; the text stream alike with ff_context;
 *   <li>{@code num_single_layers} FluxSingleTransformerBlocks on the joint sequence {@code [text, image]}:
 *       AdaLayerNormZeroSingle (shift, scale, gate), {@code mlp = GELU-tanh(proj_mlp(n))}, attention
 *       of to_q/k/v (RMSNorm, rope, no output projection), {@code h += gate·proj_out(cat[attn, mlp])};
 *   <li>the image tokens, {@code norm_out}: AdaLayerNormContinuous (chunks <b>scale, shift</b>), {@code proj_out}.
 * </ul>
 *
 * <p>Exact re-arrangements (values the same up to fp32 summation order): diffusers cats the streams
 * before every single block and splits them after; the cat is kept across the single blocks and
 * the image tokens are cut out once. {@code proj_out(cat[attn, mlp])} is computed as
 * {@code attn·W[:, :D]ᵀ + mlp·W[:, D:]ᵀ + b} (the weight's columns split on load, so the D + 4D
 * features are never copied together). The rotary embedding is applied as diffusers writes it,
 * {@code x·cos + rot(x)·sin} with {@code rot(x)[2i] = −x[2i+1]}, {@code rot(x)[2i+1] = x[2i]}
 * (interleaved pairs, {@code use_real_unbind_dim=-1}): {@code rot} is a GEMM with a fixed signed
 * permutation (exact in fp32: each output is one ±input; with {@code -Dsurpass.gemm.tf32=true} on
 * CUDA it would round to TF32), so no weight is permuted.
 *
 * <p>Weights stored in F16 / BF16 are widened to fp32 on load (on the CPU the linear weights stay
 * 16-bit under {@link Checkpoint#keepSixteenBitOnCpu}); the model
 * computes in fp32 whatever the inputs' dtype. The whole batch runs together. ControlNet residuals,
 * IP-Adapter and LoRA scales ({@code joint_attention_kwargs}) are not parameters.
 *
 * <p>Threads: a loaded model is read-only; {@link #forward} may run from several threads at once.
 * {@link #close} frees the weights; use after close throws {@link IllegalStateException}.
 */
public final class FluxTransformer2DModel implements AutoCloseable {
    /** A linear layer: weight {@code [out, in]} (F32, or 16-bit on the CPU when kept), bias {@code [out]} F32 (null: none). */
    record Lin(Tensor w, Tensor b) {}

    /**
     * A FluxAttention: q, k, v and their per-head RMSNorm weights {@code [head_dim]}; in the double
     * blocks also the text projections and norms and the two outputs (null in the single blocks).
     */
    record Attn(Lin q, Lin k, Lin v, Tensor normQ, Tensor normK, Lin addQ, Lin addK, Lin addV, Tensor normAddedQ, Tensor normAddedK,
                Lin out, Lin addOut) {}

    /** A FluxTransformerBlock. */
    record DoubleBlock(Lin norm1, Lin norm1Context, Attn attn, Lin ff0, Lin ff2, Lin ffc0, Lin ffc2) {}

    /** A FluxSingleTransformerBlock; proj_out's weight split into its attention columns and its MLP columns. */
    record SingleBlock(Lin norm, Attn attn, Lin mlp, Lin outAttn, Lin outMlp) {}

    private final Device device;
    private final FluxTransformerConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private Lin xEmbed, time1, time2, guidance1, guidance2, text1, text2, context, normOut, projOut;
    private DoubleBlock[] doubles;
    private SingleBlock[] singles;
    private boolean shiftFirstNormOut; // norm_out.linear's rows in BFL's (shift, scale) order instead of diffusers' (scale, shift)
    private Tensor rotate;          // [hd, hd]: linear(x, rotate) = rot(x), the interleaved pairs' quarter turn
    private volatile boolean closed;

    private FluxTransformer2DModel(Device device, FluxTransformerConfig config) {
        this.device = device;
        this.config = config;
    }

    public FluxTransformerConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers FluxTransformer2DModel folder onto {@code device}: {@code config.json} and
     * the weights ({@code diffusion_pytorch_model.safetensors}, or the shards its
     * {@code diffusion_pytorch_model.safetensors.index.json} names). {@code dir} may also be a
     * pipeline folder with the model in {@code transformer/}, or Black Forest Labs' original single
     * file ({@code flux1-dev.safetensors}, {@code flux1-schnell.safetensors}, with or without
     * ComfyUI's {@code model.diffusion_model.} prefix): renamed as diffusers' single-file loader
     * does, its config inferred from the shapes ({@link FluxWeights}).
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad or unsupported
     *                                  config, a missing tensor, or one of another shape or a non-float dtype
     */
    public static FluxTransformer2DModel load(Device device, Path dir) {
        String who = "FluxTransformer2DModel.load";
        if (device == null) throw new IllegalArgumentException(who + ": device is null");
        if (device.isClosed()) throw new IllegalArgumentException(who + ": device " + device.name() + " is closed");
        if (dir != null && Files.isRegularFile(dir) && dir.getFileName().toString().endsWith(".safetensors")) {
            try (Checkpoint wt = Checkpoint.openFile(dir)) {
                if (!FluxWeights.isOriginal(wt)) {
                    throw new IllegalArgumentException(who + ": " + dir + " has no img_in.weight: not a Flux transformer in Black Forest Labs'"
                            + " single-file layout (pass a diffusers transformer/ folder for diffusers' names)");
                }
                FluxWeights w = FluxWeights.original(wt, device);
                return build(device, w.config(), w);
            }
        }
        dir = Checkpoint.componentFolder(who, dir, "transformer", "a diffusers FluxTransformer2DModel with config.json, or a .safetensors file");
        FluxTransformerConfig cfg = FluxTransformerConfig.read(dir);
        try (Checkpoint wt = Checkpoint.open(dir)) {
            return build(device, cfg, FluxWeights.diffusers(wt, device, cfg));
        }
    }

    private static FluxTransformer2DModel build(Device device, FluxTransformerConfig cfg, FluxWeights w) {
        try (w) {
            FluxTransformer2DModel m = new FluxTransformer2DModel(device, cfg);
            try {
                m.fill(w);
            } catch (RuntimeException | Error e) {
                m.close();
                throw e;
            }
            return device.ready(m);
        }
    }

    private void fill(FluxWeights wt) {
        FluxTransformerConfig c = config;
        int d = c.innerDim(), tp = FluxTransformerConfig.TIME_PROJ_DIM;
        xEmbed = lin(wt, "x_embedder", d, c.inChannels());
        time1 = lin(wt, "time_text_embed.timestep_embedder.linear_1", d, tp);
        time2 = lin(wt, "time_text_embed.timestep_embedder.linear_2", d, d);
        if (c.guidanceEmbeds()) {
            guidance1 = lin(wt, "time_text_embed.guidance_embedder.linear_1", d, tp);
            guidance2 = lin(wt, "time_text_embed.guidance_embedder.linear_2", d, d);
        } else if (wt.has("time_text_embed.guidance_embedder.linear_1.weight")) {
            throw new IllegalArgumentException(wt.dir() + ": the weights hold time_text_embed.guidance_embedder but config.json's"
                    + " \"guidance_embeds\" is false (a FLUX.1-dev checkpoint with a schnell config?)");
        }
        text1 = lin(wt, "time_text_embed.text_embedder.linear_1", d, c.pooledProjectionDim());
        text2 = lin(wt, "time_text_embed.text_embedder.linear_2", d, d);
        context = lin(wt, "context_embedder", d, c.jointAttentionDim());
        doubles = new DoubleBlock[c.numLayers()];
        for (int i = 0; i < doubles.length; i++) {
            String b = "transformer_blocks." + i + ".";
            doubles[i] = new DoubleBlock(lin(wt, b + "norm1.linear", 6L * d, d), lin(wt, b + "norm1_context.linear", 6L * d, d),
                    attention(wt, b + "attn.", true), lin(wt, b + "ff.net.0.proj", 4L * d, d), lin(wt, b + "ff.net.2", d, 4L * d),
                    lin(wt, b + "ff_context.net.0.proj", 4L * d, d), lin(wt, b + "ff_context.net.2", d, 4L * d));
        }
        singles = new SingleBlock[c.numSingleLayers()];
        for (int i = 0; i < singles.length; i++) {
            String b = "single_transformer_blocks." + i + ".";
            Lin[] out = splitColumns(wt, b + "proj_out", d, d, c.mlpDim());
            singles[i] = new SingleBlock(lin(wt, b + "norm.linear", 3L * d, d), attention(wt, b + "attn.", false),
                    lin(wt, b + "proj_mlp", c.mlpDim(), d), out[0], out[1]);
        }
        normOut = lin(wt, "norm_out.linear", 2L * d, d);
        shiftFirstNormOut = wt.shiftFirstNormOut();
        projOut = lin(wt, "proj_out", c.outChannels(), d);
        rotate = keep(rotation(device, c.attentionHeadDim()));
    }

    private Attn attention(FluxWeights wt, String p, boolean joint) {
        int d = config.innerDim(), hd = config.attentionHeadDim();
        Lin q = lin(wt, p + "to_q", d, d), k = lin(wt, p + "to_k", d, d), v = lin(wt, p + "to_v", d, d);
        Tensor nq = vector(wt, p + "norm_q.weight", hd), nk = vector(wt, p + "norm_k.weight", hd);
        if (!joint) return new Attn(q, k, v, nq, nk, null, null, null, null, null, null, null);
        return new Attn(q, k, v, nq, nk, lin(wt, p + "add_q_proj", d, d), lin(wt, p + "add_k_proj", d, d), lin(wt, p + "add_v_proj", d, d),
                vector(wt, p + "norm_added_q.weight", hd), vector(wt, p + "norm_added_k.weight", hd), lin(wt, p + "to_out.0", d, d),
                lin(wt, p + "to_add_out", d, d));
    }

    private Lin lin(FluxWeights wt, String p, long out, long in) {
        return new Lin(keep(wt.linear(p + ".weight", out, in)), vector(wt, p + ".bias", out));
    }

    /**
     * A linear {@code [out, a + b]} cut by columns into {@code [out, a]} (with the bias) and
     * {@code [out, b]} (without): {@code linear(cat[x, y]) = linear(x, first) + linear(y, second)}.
     */
    private Lin[] splitColumns(FluxWeights wt, String p, int out, int a, int b) {
        Tensor[] w = wt.linearColumns(p + ".weight", out, a, b);
        keep(w[0]);
        keep(w[1]);
        return new Lin[] {new Lin(w[0], vector(wt, p + ".bias", out)), new Lin(w[1], null)};
    }

    /** A 1-D F32 tensor (a bias or a norm weight). */
    private Tensor vector(FluxWeights wt, String name, long n) {
        return keep(wt.vector(name, n));
    }

    private Tensor keep(Tensor t) {
        owned.add(t);
        return t;
    }

    /** The signed permutation {@code [hd, hd]} F32 with {@code linear(x, it)[2i] = −x[2i+1]}, {@code [2i+1] = x[2i]}; the caller owns it. */
    static Tensor rotation(Device device, int headDim) {
        float[] r = new float[headDim * headDim];
        for (int i = 0; i < headDim; i += 2) {
            r[i * headDim + i + 1] = -1f;     // out[2i]     = −x[2i + 1]
            r[(i + 1) * headDim + i] = 1f;    // out[2i + 1] =  x[2i]
        }
        return device.upload(DType.F32, r, headDim, headDim);
    }

    /**
     * diffusers' {@code FluxPosEmbed(theta, axes_dims_rope)(ids)} for {@code ids [N, axes]} row-major:
     * the cos and sin tables {@code [N, head_dim]} (fp32 values). Axis {@code a} fills channels
     * {@code [o_a, o_a + dim_a)} ({@code o_a} the sum of the dims before it); its frequency
     * {@code i < dim_a/2} is {@code ω = 1 / theta^(2i / dim_a)} in float64, the angle
     * {@code (double) fp32(id) · ω} (torch.outer promotes the fp32 positions to the float64
     * frequencies), and {@code cos, sin} of it, rounded to fp32, fill channels {@code o_a + 2i} and
     * {@code o_a + 2i + 1} (repeat_interleave).
     */
    static float[][] ropeTables(float[] ids, int[] axes, double theta) {
        int nAxes = axes.length, hd = 0;
        for (int a : axes) hd += a;
        int n = ids.length / nAxes;
        float[] cos = new float[n * hd], sin = new float[n * hd];
        int off = 0;
        for (int a = 0; a < nAxes; a++) {
            int dim = axes[a];
            double[] omega = new double[dim / 2];
            for (int i = 0; i < omega.length; i++) omega[i] = 1.0 / Math.pow(theta, (2.0 * i) / dim);
            for (int t = 0; t < n; t++) {
                double pos = ids[t * nAxes + a];
                for (int i = 0; i < omega.length; i++) {
                    double ang = pos * omega[i];
                    float c = (float) Math.cos(ang), s = (float) Math.sin(ang);
                    int o = t * hd + off + 2 * i;
                    cos[o] = c;
                    cos[o + 1] = c;
                    sin[o] = s;
                    sin[o + 1] = s;
                }
            }
            off += dim;
        }
        return new float[][] {cos, sin};
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /**
     * diffusers' {@code transformer(hidden_states, encoder_hidden_states, pooled_projections,
     * timestep, img_ids, txt_ids, guidance).sample}: the prediction {@code [B, T, out_channels]} F32,
     * owned by the caller.
     *
     * @param hiddenStates        packed latents {@code [B, T, in_channels]}, F32 / F16 / BF16
     * @param encoderHiddenStates the T5 states {@code [B, S, joint_attention_dim]}
     * @param pooledProjections   the pooled CLIP embeddings {@code [B, pooled_projection_dim]}
     * @param timesteps           B values, or one for the whole batch, as the pipeline passes them
     *                            ({@code σ} in [0, 1]; the model multiplies by 1000 in fp32)
     * @param imgIds              {@code [T, axes]} row-major (diffusers' 2-D img_ids; axes = 3 for Flux)
     * @param txtIds              {@code [S, axes]} row-major
     * @param guidance            B values or one (the model multiplies by 1000); required iff
     *                            {@code guidance_embeds}, null otherwise
     * @throws IllegalArgumentException naming the argument for a null, closed, non-floating,
     *                                  other-device or misshapen tensor, a bad ids / timesteps /
     *                                  guidance array, or guidance given to (withheld from) a model without (with) its embedder
     * @throws IllegalStateException    after {@link #close}
     */
    public Tensor forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, float[] timesteps, float[] imgIds,
                          float[] txtIds, float[] guidance) {
        ensureOpen();
        check(hiddenStates, encoderHiddenStates, pooledProjections, timesteps, imgIds, txtIds, guidance);
        FluxTransformerConfig c = config;
        int b = (int) hiddenStates.dim(0), t = (int) hiddenStates.dim(1), s = (int) encoderHiddenStates.dim(1), n = s + t;
        int heads = c.numAttentionHeads(), hd = c.attentionHeadDim(), tp = FluxTransformerConfig.TIME_PROJ_DIM;
        try (Scope sc = Scope.open()) {
            Tensor x0 = f32(hiddenStates, sc), e0 = f32(encoderHiddenStates, sc), pooled = f32(pooledProjections, sc);
            Tensor x = sc.track(linear(x0, xEmbed));                                               // [B, T, D]
            // conditioning: SiLU(timestep [+ guidance] embedding + pooled text projection), read by every adaLN linear
            Tensor tf = sc.track(device.upload(DType.F32, DiTEmbeddings.timestepFrequencies(thousandfold(timesteps, b), tp, 0), b, tp));
            Tensor temb = sc.track(linear(sc.track(Activation.silu(sc.track(linear(tf, time1)))), time2));
            if (c.guidanceEmbeds()) {
                Tensor gf = sc.track(device.upload(DType.F32, DiTEmbeddings.timestepFrequencies(thousandfold(guidance, b), tp, 0), b, tp));
                Tensor gemb = sc.track(linear(sc.track(Activation.silu(sc.track(linear(gf, guidance1)))), guidance2));
                temb = sc.track(Elementwise.add(temb, gemb));
            }
            Tensor pe = sc.track(linear(sc.track(Activation.silu(sc.track(linear(pooled, text1)))), text2));
            Tensor cond = sc.track(Activation.silu(sc.track(Elementwise.add(temb, pe))));        // [B, D]
            Tensor ctx = sc.track(linear(e0, context));                                            // [B, S, D]
            // the rotary tables of cat(txt_ids, img_ids), the same for every head: [N, H, hd]
            float[] ids = new float[txtIds.length + imgIds.length];
            System.arraycopy(txtIds, 0, ids, 0, txtIds.length);
            System.arraycopy(imgIds, 0, ids, txtIds.length, imgIds.length);
            float[][] cs = ropeTables(ids, c.axesDimsRope(), FluxTransformerConfig.ROPE_THETA);
            Tensor[] rope = {sc.track(device.upload(DType.F32, perHead(cs[0], n, heads, hd), n, heads, hd)),
                    sc.track(device.upload(DType.F32, perHead(cs[1], n, heads, hd), n, heads, hd))};
            // the streams pass from block to block; each block's temporaries die with it
            Tensor xi = x, ci = ctx, h = null;
            try {
                for (DoubleBlock k : doubles) {
                    Tensor[] next = doubleBlock(k, xi, ci, cond, rope);
                    if (xi != x) xi.close();
                    if (ci != ctx) ci.close();
                    xi = next[0];
                    ci = next[1];
                }
                h = DiTTokens.cat(ci, xi);                                                         // [B, N, D]: text first
                for (SingleBlock k : singles) {
                    Tensor next = singleBlock(k, h, cond, rope);
                    h.close();
                    h = next;
                }
                Tensor img = sc.track(DiTTokens.slice(h, s, t));
                Tensor mod = sc.track(linear(cond, normOut));                                     // [B, 2D]: scale, shift (BFL: shift, scale)
                Tensor nx = sc.track(shiftFirstNormOut ? DiTOps.modulate(img, mod, 0, 1, FluxTransformerConfig.EPS)
                        : DiTOps.modulate(img, mod, 1, 0, FluxTransformerConfig.EPS));
                return linear(nx, projOut);                                                        // [B, T, out]
            } finally {
                if (xi != x) xi.close();
                if (ci != ctx) ci.close();
                if (h != null) h.close();
            }
        }
    }

    /** {@code fp32(v · 1000)} per sample (one value broadcast to the batch): diffusers' {@code timestep.to(dtype) * 1000}. */
    private static float[] thousandfold(float[] v, int b) {
        float[] out = new float[b];
        for (int i = 0; i < b; i++) out[i] = v[v.length == 1 ? 0 : i] * 1000f;
        return out;
    }

    /** A per-token table {@code [N, hd]} repeated for each head: {@code [N, H, hd]}. */
    private static float[] perHead(float[] table, int n, int heads, int hd) {
        float[] out = new float[n * heads * hd];
        for (int t = 0; t < n; t++) for (int h = 0; h < heads; h++) System.arraycopy(table, t * hd, out, (t * heads + h) * hd, hd);
        return out;
    }

    /** One FluxTransformerBlock on the image tokens {@code x [B, T, D]} and text tokens {@code ctx [B, S, D]}: the new streams, owned by the caller. */
    private Tensor[] doubleBlock(DoubleBlock k, Tensor x, Tensor ctx, Tensor cond, Tensor[] rope) {
        float eps = FluxTransformerConfig.EPS;
        long s = ctx.dim(1), t = x.dim(1);
        try (Scope sc = Scope.open()) {
            Tensor mod = sc.track(linear(cond, k.norm1()));          // [B, 6D]: shift, scale, gate (msa), shift, scale, gate (mlp)
            Tensor cmod = sc.track(linear(cond, k.norm1Context()));
            Tensor nx = sc.track(DiTOps.modulate(x, mod, 0, 1, eps));
            Tensor nc = sc.track(DiTOps.modulate(ctx, cmod, 0, 1, eps));
            Attn a = k.attn();
            // the joint sequence [text, image], q and k normalized per head, then rotated
            Tensor q = rotary(sc.track(DiTTokens.cat(heads(nc, a.addQ(), a.normAddedQ(), sc), heads(nx, a.q(), a.normQ(), sc))), rope, sc);
            Tensor kk = rotary(sc.track(DiTTokens.cat(heads(nc, a.addK(), a.normAddedK(), sc), heads(nx, a.k(), a.normK(), sc))), rope, sc);
            Tensor v = sc.track(DiTTokens.cat(heads(nc, a.addV(), null, sc), heads(nx, a.v(), null, sc)));
            Tensor o = sc.track(Attention.prefill(q, kk, v, AttentionOptions.defaults()));        // [B, N, H, hd], scale 1/√hd
            Tensor oc = tokens(o, 0, s, sc), oi = tokens(o, s, t, sc);
            Tensor attnOut = sc.track(linear(oi, a.out())), ctxOut = sc.track(linear(oc, a.addOut()));
            Tensor x1 = sc.track(DiTOps.gateResidual(x, attnOut, mod, 2));
            Tensor ff = feedForward(sc.track(DiTOps.modulate(x1, mod, 3, 4, eps)), k.ff0(), k.ff2(), sc);
            Tensor c1 = sc.track(DiTOps.gateResidual(ctx, ctxOut, cmod, 2));
            Tensor cff = feedForward(sc.track(DiTOps.modulate(c1, cmod, 3, 4, eps)), k.ffc0(), k.ffc2(), sc);
            Tensor xOut = DiTOps.gateResidual(x1, ff, mod, 5);
            try {
                return new Tensor[] {xOut, DiTOps.gateResidual(c1, cff, cmod, 5)};
            } catch (RuntimeException | Error e) {
                xOut.close();
                throw e;
            }
        }
    }

    /** One FluxSingleTransformerBlock on the joint sequence {@code h [B, N, D]}: the new sequence, owned by the caller. */
    private Tensor singleBlock(SingleBlock k, Tensor h, Tensor cond, Tensor[] rope) {
        try (Scope sc = Scope.open()) {
            Tensor mod = sc.track(linear(cond, k.norm()));           // [B, 3D]: shift, scale, gate
            Tensor nh = sc.track(DiTOps.modulate(h, mod, 0, 1, FluxTransformerConfig.EPS));
            Tensor mlp = sc.track(Activation.gelu(sc.track(linear(nh, k.mlp())), Activation.Gelu.TANH));   // [B, N, 4D]
            Attn a = k.attn();
            Tensor q = rotary(heads(nh, a.q(), a.normQ(), sc), rope, sc), kk = rotary(heads(nh, a.k(), a.normK(), sc), rope, sc);
            Tensor o = sc.track(Attention.prefill(q, kk, heads(nh, a.v(), null, sc), AttentionOptions.defaults()));
            Tensor flat = sc.track(o.reshape(h.dim(0), h.dim(1), config.innerDim()));
            // proj_out(cat[attn, mlp]) = attn·W_attnᵀ + b + mlp·W_mlpᵀ
            Tensor y = sc.track(Elementwise.add(sc.track(linear(flat, k.outAttn())), sc.track(linear(mlp, k.outMlp()))));
            return DiTOps.gateResidual(h, y, mod, 2);
        }
    }

    /** linear D → 4D, GELU-tanh, linear 4D → D (diffusers' FeedForward with activation_fn "gelu-approximate"). */
    private static Tensor feedForward(Tensor x, Lin up, Lin down, Scope sc) {
        Tensor hid = sc.track(Activation.gelu(sc.track(linear(x, up)), Activation.Gelu.TANH));
        return sc.track(linear(hid, down));
    }

    /** A projection {@code [B, N, D]} → {@code [B, N, H, hd]}, RMS-normalized per head when {@code norm} is given. */
    private Tensor heads(Tensor x, Lin l, Tensor norm, Scope sc) {
        Tensor y = sc.track(linear(x, l));
        Tensor r = sc.track(y.reshape(x.dim(0), x.dim(1), config.numAttentionHeads(), config.attentionHeadDim()));
        return norm == null ? r : sc.track(RmsNorm.rmsNorm(r, norm, FluxTransformerConfig.EPS));
    }

    /** diffusers' {@code apply_rotary_emb(x, (cos, sin), sequence_dim=1)} on {@code x [B, N, H, hd]}: {@code x·cos + rot(x)·sin}, in fp32. */
    private Tensor rotary(Tensor x, Tensor[] rope, Scope sc) {
        Tensor rot = sc.track(Gemm.linear(x, rotate, null));
        return sc.track(Elementwise.add(sc.track(Elementwise.mul(x, rope[0])), sc.track(Elementwise.mul(rot, rope[1]))));
    }

    /** Tokens {@code [from, from + n)} of every sample of {@code o [B, N, H, hd]} as {@code [B, n, H·hd]}. */
    private static Tensor tokens(Tensor o, long from, long n, Scope sc) {
        return sc.track(sc.track(DiTTokens.slice(o, from, n)).reshape(o.dim(0), n, o.dim(2) * o.dim(3)));
    }

    private static Tensor linear(Tensor x, Lin l) {
        return Gemm.linear(x, l.w(), l.b());
    }

    private static Tensor f32(Tensor t, Scope sc) {
        return t.dtype() == DType.F32 ? t : sc.track(t.to(DType.F32));
    }

    private void check(Tensor x, Tensor ctx, Tensor pooled, float[] timesteps, float[] imgIds, float[] txtIds, float[] guidance) {
        String where = "FluxTransformer2DModel.forward";
        FluxTransformerConfig c = config;
        tensor(where, "hiddenStates", x);
        long[] s = x.shape();
        if (s.length != 3 || s[0] < 1 || s[1] < 1 || s[2] != c.inChannels()) {
            throw new IllegalArgumentException(where + ": hiddenStates is " + x.describe() + "; expected [B, T, " + c.inChannels()
                    + "] (packed latents, B, T >= 1, in_channels)");
        }
        tensor(where, "encoderHiddenStates", ctx);
        long[] e = ctx.shape();
        if (e.length != 3 || e[0] != s[0] || e[1] < 1 || e[2] != c.jointAttentionDim()) {
            throw new IllegalArgumentException(where + ": encoderHiddenStates is " + ctx.describe() + "; expected [" + s[0] + ", S, "
                    + c.jointAttentionDim() + "] (B of hiddenStates, S >= 1, joint_attention_dim)");
        }
        long n = e[1] + s[1];
        if (s[0] * n * c.mlpDim() > Integer.MAX_VALUE || n * c.innerDim() > Integer.MAX_VALUE / 2 || e[1] * e[2] > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": hiddenStates " + x.describe() + " and encoderHiddenStates " + ctx.describe()
                    + ": too many tokens for one batch");
        }
        tensor(where, "pooledProjections", pooled);
        long[] q = pooled.shape();
        if (q.length != 2 || q[0] != s[0] || q[1] != c.pooledProjectionDim()) {
            throw new IllegalArgumentException(where + ": pooledProjections is " + pooled.describe() + "; expected [" + s[0] + ", "
                    + c.pooledProjectionDim() + "] (B of hiddenStates, pooled_projection_dim)");
        }
        perSample(where, "timesteps", timesteps, s[0]);
        int axes = c.axesDimsRope().length;
        ids(where, "imgIds", imgIds, s[1], axes, "hiddenStates' T");
        ids(where, "txtIds", txtIds, e[1], axes, "encoderHiddenStates' S");
        if (c.guidanceEmbeds()) {
            if (guidance == null) {
                throw new IllegalArgumentException(where + ": guidance is null but the model embeds it (guidance_embeds true, as FLUX.1-dev)");
            }
            perSample(where, "guidance", guidance, s[0]);
        } else if (guidance != null) {
            throw new IllegalArgumentException(where + ": guidance is given but the model has no guidance embedder (guidance_embeds false,"
                    + " as FLUX.1-schnell); pass null");
        }
    }

    private static void perSample(String where, String name, float[] v, long b) {
        if (v == null) throw new IllegalArgumentException(where + ": " + name + " is null");
        if (v.length != 1 && v.length != b) {
            throw new IllegalArgumentException(where + ": " + name + " has " + v.length + " values; expected B = " + b + " (or 1 for all)");
        }
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) throw new IllegalArgumentException(where + ": " + name + "[" + i + "] is " + v[i] + "; expected a finite number");
        }
    }

    private static void ids(String where, String name, float[] v, long tokens, int axes, String whose) {
        if (v == null) throw new IllegalArgumentException(where + ": " + name + " is null");
        if (v.length != tokens * axes) {
            throw new IllegalArgumentException(where + ": " + name + " has " + v.length + " values; expected " + whose + " " + tokens + " × "
                    + axes + " axes = " + tokens * axes + " ([tokens, " + axes + "] row-major)");
        }
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) throw new IllegalArgumentException(where + ": " + name + "[" + i + "] is " + v[i] + "; expected a finite id");
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
        if (closed) throw new IllegalStateException("FluxTransformer2DModel is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : owned) t.close();
        owned.clear();
    }
}
