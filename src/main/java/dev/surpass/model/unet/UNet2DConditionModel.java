package dev.surpass.model.unet;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.model.conv.ConvOps.Conv;
import dev.surpass.model.conv.ConvOps.Norm;
import dev.surpass.model.conv.ConvOps.Sampling;
import dev.surpass.model.conv.ConvTables;
import dev.surpass.model.decoder.Checkpoint;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * diffusers' {@code UNet2DConditionModel} as Stable Diffusion 1.x / 2.x use it — the ε (or v)
 * predictor of a latent diffusion pipeline — loaded from a diffusers {@code unet/} folder and run on
 * the model's {@link Device} through the layers ops and the fused attention.
 *
 * <p>Structure, as diffusers' source: the timestep's sinusoidal embedding ({@code Timesteps(C0,
 * flip_sin_to_cos, freq_shift)}) through {@code time_embedding} (linear_1, SiLU, linear_2);
 * {@code conv_in} (3×3); per level a CrossAttnDownBlock2D or DownBlock2D ({@code layers_per_block}
 * ResnetBlock2D, each followed by a Transformer2DModel in the cross-attention blocks, then a
 * stride-2 3×3 Downsample2D on all but the last level), every output kept as a skip (conv_in's too);
 * the mid block (resnet, transformer, resnet); per level in reverse an UpBlock2D or
 * CrossAttnUpBlock2D ({@code layers_per_block + 1} resnets, each on {@code torch.cat([x, skip],
 * dim=1)} of the last skip popped, each followed by a transformer in the cross-attention blocks,
 * then nearest ×2 and a 3×3 conv on all but the last); {@code conv_norm_out} (GroupNorm), SiLU,
 * {@code conv_out}. A ResnetBlock2D is norm1, SiLU, conv1, {@code + time_emb_proj(SiLU(temb))} on
 * every pixel, norm2, SiLU, conv2, plus the input (through a 1×1 conv_shortcut when the channels
 * change); its GroupNorms have {@code norm_num_groups} groups and eps {@code norm_eps}. A
 * Transformer2DModel is GroupNorm (eps 1e-6), proj_in, {@code transformer_layers_per_block} (per level)
 * BasicTransformerBlocks (LayerNorm → self-attention, LayerNorm → cross-attention on the text
 * states, LayerNorm → GEGLU feed-forward, each added to its input), proj_out, plus its input.
 *
 * <p>SDXL's {@code addition_embed_type "text_time"}: each sample's 6 time ids through
 * {@code add_time_proj} (sinusoids of {@code addition_time_embed_dim} each), after its pooled text
 * embeds, through {@code add_embedding} (linear_1, SiLU, linear_2), added to the time embedding before
 * any resnet sees it ({@link #forward(Tensor, float[], Tensor, Tensor, float[])}).
 *
 * <p>Heads follow diffusers' quirk ({@link UNet2DConditionConfig}): {@code attention_head_dim}
 * counts heads. Attention runs in {@link Attention#prefill}, whose head dims are 32, 64, 72, 80, 96,
 * 128 and 256; a head of another size d (SD 1.x's 40 and 160) is zero-padded to the next of those
 * by padding the projection weights at load: to_q / to_k / to_v gain zero output rows and to_out.0
 * zero input columns, so the padded q·k and the kept output columns are the unpadded ones, and the
 * scale stays 1/√d.
 *
 * <p>Weights stored in F16/BF16 are widened to fp32 on load; the UNet computes in fp32 whatever the
 * inputs' dtype ({@code upcast_attention} is therefore moot). A batch runs together, layer by layer,
 * held channels-last inside ({@code [B·H·W, C]}: each sample's {@code H·W} rows in turn): each conv
 * and linear is one product over all samples' rows (the weights read once per layer, not once per
 * sample), GroupNorm normalises each sample on its own, the attention runs with batch B (each
 * sample's queries over its own pixels or its own text states; the text states' key and value
 * projections, a few rows each, run per sample). A sample's result equals its result alone up to
 * fp32 reassociation where the CPU product's row count changes its kernel (measured ≤ 3e-6
 * relative L2, the size of fp32's own error against float64). The convolutions' index tables are
 * made once per latent size, for the largest batch so far, and kept with the weights.
 *
 * <p>Threads: a loaded model is read-only; {@link #forward} may run from several threads at once.
 * {@link #close} frees the weights; use after close throws {@link IllegalStateException}.
 */
public final class UNet2DConditionModel implements AutoCloseable {
    /** Head dims the fused attention runs (a smaller head is zero-padded to the next one). */
    static final int[] ATTENTION_HEAD_DIMS = {32, 64, 72, 80, 96, 128, 256};

    /** ResnetBlock2D with its time projection {@code tw [cout, T]}, {@code tb [cout]}. */
    record Resnet(Norm norm1, Conv conv1, Tensor tw, Tensor tb, Norm norm2, Conv conv2, Conv shortcut) {}

    /**
     * An Attention of {@code heads} heads of {@code d} channels, padded to {@code dp}: {@code q [H·dp, inner]},
     * {@code k, v [H·dp, kvDim]} (no biases), {@code o [inner, H·dp]}, {@code ob [inner]}.
     */
    record Attn(Tensor q, Tensor k, Tensor v, Tensor o, Tensor ob, int heads, int d, int dp) {}

    /** BasicTransformerBlock: three LayerNorms, self- and cross-attention, GEGLU split into its hidden and gate halves. */
    record Block(Norm ln1, Attn attn1, Norm ln2, Attn attn2, Norm ln3, Tensor ffH, Tensor ffHb, Tensor ffG, Tensor ffGb, Tensor ff2,
                 Tensor ff2b) {}

    /** Transformer2DModel (continuous input): GroupNorm, proj_in {@code [inner, C]}, blocks, proj_out {@code [C, inner]}. */
    record Transformer(Norm norm, Tensor in, Tensor inb, Block[] blocks, Tensor out, Tensor outb) {}

    private final Device device;
    private final UNet2DConditionConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    /** The convolutions' index tables, on the model's device, made at the first forward of each size (and larger batch). */
    private final ConvTables tables;
    private Conv convIn;                 // 3×3, in_channels → C0
    private Tensor time1, time1b;        // [T, C0], [T]
    private Tensor time2, time2b;        // [T, T], [T]
    // text_time (SDXL): add_embedding.linear_1 split by its input columns into the pooled-text part and the time-ids part
    private Tensor addText, addTime, add1b; // [T, Pt], [T, 6·A], [T]
    private Tensor add2, add2b;              // [T, T], [T]
    private Resnet[][] downRes;          // [level][layers_per_block]
    private Transformer[][] downAttn;    // same shape; null rows for DownBlock2D
    private Conv[] downsample;           // 3×3 stride 2; null for the last level
    private Resnet[] midRes;             // 2
    private Transformer midAttn;
    private Resnet[][] upRes;            // [up block][layers_per_block + 1]
    private Transformer[][] upAttn;      // null rows for UpBlock2D
    private Conv[] upsample;             // 3×3 after nearest ×2; null for the last up block
    private Norm normOut;                // [C0]
    private Conv convOut;                // 3×3, C0 → out_channels
    private volatile boolean closed;

    private UNet2DConditionModel(Device device, UNet2DConditionConfig config) {
        this.device = device;
        this.config = config;
        this.tables = new ConvTables(device);
    }

    public UNet2DConditionConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers UNet2DConditionModel folder onto {@code device}: {@code config.json} and
     * {@code diffusion_pytorch_model.safetensors} (else {@code diffusion_pytorch_model.bin}, read
     * without running its pickle; where a folder also holds {@code .fp16} variants the plain file
     * gives each tensor). {@code dir} may also be a pipeline folder with the UNet in {@code unet/}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad or unsupported
     *                                  config, a missing tensor, or one of another shape or a non-float dtype
     */
    public static UNet2DConditionModel load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("UNet2DConditionModel.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("UNet2DConditionModel.load: device " + device.name() + " is closed");
        dir = Checkpoint.componentFolder("UNet2DConditionModel.load", dir, "unet", "a diffusers UNet with config.json");
        UNet2DConditionConfig cfg = UNet2DConditionConfig.load(dir);
        try (Checkpoint wt = Checkpoint.open(dir)) {
            UNet2DConditionModel m = new UNet2DConditionModel(device, cfg);
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
        UNet2DConditionConfig c = config;
        int[] boc = c.blockOutChannels(), layers = c.layersPerBlock(), heads = c.heads(), tl = c.transformerLayersPerBlock();
        String[] downTypes = c.downBlockTypes(), upTypes = c.upBlockTypes();
        int levels = boc.length, c0 = boc[0], t = c.timeEmbedDim();
        convIn = conv(wt, "conv_in", 3, c.inChannels(), c0);
        time1 = keep(wt.read("time_embedding.linear_1.weight", t, c0), t, c0);
        time1b = keep(wt.read("time_embedding.linear_1.bias", t), t);
        time2 = keep(wt.read("time_embedding.linear_2.weight", t, t), t, t);
        time2b = keep(wt.read("time_embedding.linear_2.bias", t), t);
        if (c.textTime()) {
            int p = c.projectionClassEmbeddingsInputDim(), pt = c.textEmbedsDim(), pa = p - pt;
            float[] w1 = wt.read("add_embedding.linear_1.weight", t, p), wText = new float[t * pt], wTime = new float[t * pa];
            // diffusers concatenates [text_embeds, time_embeds] on the feature axis: columns [0, pt) see the text, the rest the time ids
            for (int r = 0; r < t; r++) {
                System.arraycopy(w1, r * p, wText, r * pt, pt);
                System.arraycopy(w1, r * p + pt, wTime, r * pa, pa);
            }
            addText = keep(wText, t, pt);
            addTime = keep(wTime, t, pa);
            add1b = keep(wt.read("add_embedding.linear_1.bias", t), t);
            add2 = keep(wt.read("add_embedding.linear_2.weight", t, t), t, t);
            add2b = keep(wt.read("add_embedding.linear_2.bias", t), t);
        }

        // down: the skip stack's channels are tracked to size the up blocks' concatenations
        Deque<Integer> skips = new ArrayDeque<>();
        skips.push(c0);
        downRes = new Resnet[levels][];
        downAttn = new Transformer[levels][];
        downsample = new Conv[levels];
        int ch = c0;
        for (int i = 0; i < levels; i++) {
            String p = "down_blocks." + i;
            boolean cross = downTypes[i].equals(UNet2DConditionConfig.CROSS_DOWN);
            downRes[i] = new Resnet[layers[i]];
            downAttn[i] = cross ? new Transformer[layers[i]] : null;
            for (int j = 0; j < layers[i]; j++) {
                downRes[i][j] = resnet(wt, p + ".resnets." + j, ch, boc[i]);
                ch = boc[i];
                if (cross) downAttn[i][j] = transformer(wt, p + ".attentions." + j, ch, heads[i], tl[i]);
                skips.push(ch);
            }
            if (i < levels - 1) {
                downsample[i] = conv(wt, p + ".downsamplers.0.conv", 3, ch, ch);
                skips.push(ch);
            }
        }
        int top = boc[levels - 1];
        midRes = new Resnet[] {resnet(wt, "mid_block.resnets.0", top, top), resnet(wt, "mid_block.resnets.1", top, top)};
        midAttn = transformer(wt, "mid_block.attentions.0", top, heads[levels - 1], tl[levels - 1]);

        upRes = new Resnet[levels][];
        upAttn = new Transformer[levels][];
        upsample = new Conv[levels];
        ch = top;
        for (int i = 0; i < levels; i++) {
            int lvl = levels - 1 - i, out = boc[lvl], n = layers[lvl] + 1;
            String p = "up_blocks." + i;
            boolean cross = upTypes[i].equals(UNet2DConditionConfig.CROSS_UP);
            upRes[i] = new Resnet[n];
            upAttn[i] = cross ? new Transformer[n] : null;
            for (int j = 0; j < n; j++) {
                if (skips.isEmpty()) {
                    throw new IllegalArgumentException(wt.dir() + ": field \"layers_per_block\" is " + java.util.Arrays.toString(layers)
                            + "; the up blocks take more skips than the down blocks leave");
                }
                int skip = skips.pop();
                // diffusers sizes resnet j by its own formula; the skip actually popped must agree with it
                int want = (j == 0 ? ch : out) + (j == n - 1 ? boc[Math.max(lvl - 1, 0)] : out);
                if ((j == 0 ? ch : out) + skip != want) {
                    throw new IllegalArgumentException(wt.dir() + ": field \"layers_per_block\" is " + java.util.Arrays.toString(layers)
                            + "; up block " + i + " resnet " + j + " would take a skip of " + skip + " channels where diffusers builds it for "
                            + (want - (j == 0 ? ch : out)));
                }
                upRes[i][j] = resnet(wt, p + ".resnets." + j, want, out);
                if (cross) upAttn[i][j] = transformer(wt, p + ".attentions." + j, out, heads[lvl], tl[lvl]);
                ch = out;
            }
            if (i < levels - 1) upsample[i] = conv(wt, p + ".upsamplers.0.conv", 3, out, out);
        }
        if (!skips.isEmpty()) {
            throw new IllegalArgumentException(wt.dir() + ": field \"layers_per_block\" is " + java.util.Arrays.toString(layers) + "; "
                    + skips.size() + " skips of the down blocks would be left unused");
        }
        normOut = norm(wt, "conv_norm_out", c0);
        convOut = conv(wt, "conv_out", 3, c0, c.outChannels());
    }

    private Tensor keep(float[] v, long... shape) {
        Tensor t = device.upload(DType.F32, v, shape);
        owned.add(t);
        return t;
    }

    /** A Conv2d {@code [cout, cin, k, k]} re-laid out for {@link ConvOps}. */
    private Conv conv(Checkpoint wt, String p, int k, int cin, int cout) {
        float[] r = ConvOps.relayout(wt.read(p + ".weight", cout, cin, k, k), cout, cin, k);
        return new Conv(keep(r, cout, (long) k * k * cin), keep(wt.read(p + ".bias", cout), cout), k, cin, cout);
    }

    private Norm norm(Checkpoint wt, String p, int c) {
        return new Norm(keep(wt.read(p + ".weight", c), c), keep(wt.read(p + ".bias", c), c));
    }

    private Resnet resnet(Checkpoint wt, String p, int cin, int cout) {
        int t = config.timeEmbedDim();
        Norm n1 = norm(wt, p + ".norm1", cin);
        Conv c1 = conv(wt, p + ".conv1", 3, cin, cout);
        Tensor tw = keep(wt.read(p + ".time_emb_proj.weight", cout, t), cout, t), tb = keep(wt.read(p + ".time_emb_proj.bias", cout), cout);
        Norm n2 = norm(wt, p + ".norm2", cout);
        Conv c2 = conv(wt, p + ".conv2", 3, cout, cout);
        Conv sc = cin != cout ? conv(wt, p + ".conv_shortcut", 1, cin, cout) : null; // diffusers: use_in_shortcut = in != out
        return new Resnet(n1, c1, tw, tb, n2, c2, sc);
    }

    /** A Linear {@code [out, in]} stored as such or as a 1×1 Conv2d {@code [out, in, 1, 1]} (proj_in / proj_out either way). */
    private float[] linearOrConv(Checkpoint wt, String name, int out, int in) {
        return wt.info(name).shape().length == 4 ? wt.read(name, out, in, 1, 1) : wt.read(name, out, in);
    }

    private Transformer transformer(Checkpoint wt, String p, int c, int heads, int layers) {
        int d = c / heads, inner = heads * d;
        Norm gn = norm(wt, p + ".norm", c);
        Tensor in = keep(linearOrConv(wt, p + ".proj_in.weight", inner, c), inner, c), inb = keep(wt.read(p + ".proj_in.bias", inner), inner);
        Block[] blocks = new Block[layers];
        for (int b = 0; b < layers; b++) {
            String q = p + ".transformer_blocks." + b;
            int ff = 4 * inner; // FeedForward's inner_dim = dim · mult (4)
            float[] proj = wt.read(q + ".ff.net.0.proj.weight", 2L * ff, inner), projB = wt.read(q + ".ff.net.0.proj.bias", 2L * ff);
            // GEGLU: proj(x).chunk(2, -1) → hidden (first half) · gelu(gate (second half)), exact gelu
            Tensor h = keep(java.util.Arrays.copyOfRange(proj, 0, ff * inner), ff, inner);
            Tensor g = keep(java.util.Arrays.copyOfRange(proj, ff * inner, 2 * ff * inner), ff, inner);
            Tensor hb = keep(java.util.Arrays.copyOfRange(projB, 0, ff), ff), gb = keep(java.util.Arrays.copyOfRange(projB, ff, 2 * ff), ff);
            blocks[b] = new Block(norm(wt, q + ".norm1", inner), attention(wt, q + ".attn1", inner, inner, heads, d),
                    norm(wt, q + ".norm2", inner), attention(wt, q + ".attn2", inner, config.crossAttentionDim(), heads, d),
                    norm(wt, q + ".norm3", inner), h, hb, g, gb, keep(wt.read(q + ".ff.net.2.weight", inner, ff), inner, ff),
                    keep(wt.read(q + ".ff.net.2.bias", inner), inner));
        }
        Tensor out = keep(linearOrConv(wt, p + ".proj_out.weight", c, inner), c, inner), outb = keep(wt.read(p + ".proj_out.bias", c), c);
        return new Transformer(gn, in, inb, blocks, out, outb);
    }

    /** The head dim the fused attention runs a head of {@code d} channels at: d itself or the next supported size. */
    static int paddedHeadDim(int d) {
        for (int s : ATTENTION_HEAD_DIMS) if (s >= d) return s;
        throw new IllegalArgumentException("attention head dim " + d + " is larger than 256");
    }

    /** An Attention's weights, with each head zero-padded from d to {@link #paddedHeadDim}(d) channels. */
    private Attn attention(Checkpoint wt, String p, int inner, int kvDim, int heads, int d) {
        int dp = paddedHeadDim(d);
        Tensor q = keep(padRows(wt.read(p + ".to_q.weight", inner, inner), heads, d, dp, inner), (long) heads * dp, inner);
        Tensor k = keep(padRows(wt.read(p + ".to_k.weight", inner, kvDim), heads, d, dp, kvDim), (long) heads * dp, kvDim);
        Tensor v = keep(padRows(wt.read(p + ".to_v.weight", inner, kvDim), heads, d, dp, kvDim), (long) heads * dp, kvDim);
        float[] o = wt.read(p + ".to_out.0.weight", inner, inner), op = new float[inner * heads * dp];
        for (int r = 0; r < inner; r++) {
            for (int h = 0; h < heads; h++) System.arraycopy(o, r * inner + h * d, op, (r * heads + h) * dp, d);
        }
        return new Attn(q, k, v, keep(op, inner, (long) heads * dp), keep(wt.read(p + ".to_out.0.bias", inner), inner), heads, d, dp);
    }

    /** {@code w [heads·d, cols]} → {@code [heads·dp, cols]}: each head's d rows, then dp − d zero rows. */
    private static float[] padRows(float[] w, int heads, int d, int dp, int cols) {
        if (d == dp) return w;
        float[] r = new float[heads * dp * cols];
        for (int h = 0; h < heads; h++) System.arraycopy(w, h * d * cols, r, h * dp * cols, d * cols);
        return r;
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /**
     * The UNet's prediction, as diffusers' {@code unet(sample, timestep, encoder_hidden_states).sample}.
     * A text_time (SDXL) UNet needs its added conditions: use
     * {@link #forward(Tensor, float[], Tensor, Tensor, float[])}.
     *
     * @param sample              latents {@code [B, in_channels, H, W]} (channels-first, as diffusers), F32, F16 or BF16
     *                            (computed in fp32), on the model's device; H and W multiples of {@link UNet2DConditionConfig#downscale()}
     * @param timesteps           B timesteps (fractional ones allowed), or one for the whole batch
     * @param encoderHiddenStates the text encoder's states {@code [B, S, cross_attention_dim]}, floating, on the model's device
     * @return {@code [B, out_channels, H, W]} F32, a new tensor the caller owns
     * @throws IllegalArgumentException naming the argument for a null, closed or misshapen input, one on another device, a
     *                                  non-floating dtype, a timestep count other than B or 1, or a non-finite timestep; and
     *                                  for a text_time UNet, which cannot run without its added conditions
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates) {
        ensureOpen();
        if (config.textTime()) {
            throw new IllegalArgumentException("UNet2DConditionModel.forward: this UNet has addition_embed_type \"text_time\" (Stable Diffusion XL); "
                    + "pass textEmbeds and timeIds to forward(sample, timesteps, encoderHiddenStates, textEmbeds, timeIds)");
        }
        check(sample, timesteps, encoderHiddenStates);
        return run(sample, timesteps, encoderHiddenStates, null, null);
    }

    /**
     * The prediction of a text_time (SDXL) UNet, as diffusers' {@code unet(sample, timestep,
     * encoder_hidden_states, added_cond_kwargs={"text_embeds": textEmbeds, "time_ids": timeIds}).sample}:
     * each sample's 6 time ids through {@code add_time_proj} (a sinusoidal embedding of
     * {@code addition_time_embed_dim} each, flattened to {@code 6 · A}), after the pooled text embeds,
     * through {@code add_embedding} (linear_1, SiLU, linear_2), added to the time embedding.
     *
     * @param sample              as {@link #forward(Tensor, float[], Tensor)}
     * @param timesteps           as {@link #forward(Tensor, float[], Tensor)}
     * @param encoderHiddenStates as {@link #forward(Tensor, float[], Tensor)}
     * @param textEmbeds          pooled text embeds {@code [B, projection_class_embeddings_input_dim − 6 · addition_time_embed_dim]}, floating,
     *                            on the model's device
     * @param timeIds             {@code 6 · B} finite values, sample-major (SDXL: original h, w, crop top, left, target h, w), or 6 for all samples
     * @return {@code [B, out_channels, H, W]} F32, a new tensor the caller owns
     * @throws IllegalArgumentException as the other forward, for a UNet without text_time, and naming textEmbeds or timeIds for a
     *                                  null, closed, misshapen, foreign-device or non-finite one
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, Tensor textEmbeds, float[] timeIds) {
        ensureOpen();
        String where = "UNet2DConditionModel.forward";
        if (!config.textTime()) {
            throw new IllegalArgumentException(where + ": textEmbeds and timeIds are given but this UNet has no addition_embed_type \"text_time\"; "
                    + "use forward(sample, timesteps, encoderHiddenStates)");
        }
        check(sample, timesteps, encoderHiddenStates);
        long b = sample.dim(0);
        int pt = config.textEmbedsDim();
        if (textEmbeds == null) throw new IllegalArgumentException(where + ": textEmbeds is null");
        if (textEmbeds.isClosed()) throw new IllegalArgumentException(where + ": textEmbeds (" + textEmbeds.describe() + ") is closed");
        if (!textEmbeds.dtype().isFloating()) throw new IllegalArgumentException(where + ": textEmbeds is " + textEmbeds.describe() + "; expected F32, F16 or BF16");
        if (!textEmbeds.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": textEmbeds is on " + textEmbeds.device().name() + " but the model is on " + device.name());
        }
        long[] te = textEmbeds.shape();
        if (te.length != 2 || te[0] != b || te[1] != pt) {
            throw new IllegalArgumentException(where + ": textEmbeds is " + textEmbeds.describe() + "; expected [" + b + ", " + pt
                    + "] (B of sample, projection_class_embeddings_input_dim − 6 · addition_time_embed_dim)");
        }
        int n = UNet2DConditionConfig.TIME_IDS;
        if (timeIds == null) throw new IllegalArgumentException(where + ": timeIds is null");
        if (timeIds.length != n && timeIds.length != n * b) {
            throw new IllegalArgumentException(where + ": timeIds has " + timeIds.length + " values; expected " + n + " per sample (" + n * b
                    + ") or " + n + " for all");
        }
        for (int i = 0; i < timeIds.length; i++) {
            if (!Float.isFinite(timeIds[i])) throw new IllegalArgumentException(where + ": timeIds[" + i + "] is " + timeIds[i] + "; expected a finite number");
        }
        return run(sample, timesteps, encoderHiddenStates, textEmbeds, timeIds);
    }

    /**
     * Both forwards after their checks: the whole batch per layer, in passes of at most
     * {@link #samplesPerPass} samples; {@code textEmbeds} and {@code timeIds} null unless text_time.
     */
    private Tensor run(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, Tensor textEmbeds, float[] timeIds) {
        int b = (int) sample.dim(0), cin = config.inChannels(), h = (int) sample.dim(2), w = (int) sample.dim(3);
        int s = (int) encoderHiddenStates.dim(1), dc = config.crossAttentionDim(), oc = config.outChannels(), pt = config.textEmbedsDim();
        int nIds = UNet2DConditionConfig.TIME_IDS, pass = samplesPerPass(h, w);
        try (Scope sc = Scope.open()) {
            Tensor x = sample.dtype() == DType.F32 ? sample : sc.track(sample.to(DType.F32));
            Tensor e = encoderHiddenStates.dtype() == DType.F32 ? encoderHiddenStates : sc.track(encoderHiddenStates.to(DType.F32));
            Tensor te = textEmbeds == null || textEmbeds.dtype() == DType.F32 ? textEmbeds : sc.track(textEmbeds.to(DType.F32));
            Tensor out = pass >= b ? null : device.allocate(DType.F32, b, oc, h, w);
            try {
                for (int i0 = 0; i0 < b; i0 += pass) {
                    int n = Math.min(pass, b - i0);
                    float[] ts = new float[n], ids = timeIds == null ? null : new float[n * nIds];
                    for (int i = 0; i < n; i++) {
                        ts[i] = timesteps[timesteps.length == 1 ? 0 : i0 + i];
                        if (ids != null) System.arraycopy(timeIds, timeIds.length == nIds ? 0 : (i0 + i) * nIds, ids, i * nIds, nIds);
                    }
                    try (Tensor xs = x.view((long) i0 * cin * h * w, n, cin, h, w); Tensor ctx = e.view((long) i0 * s * dc, (long) n * s, dc);
                         Tensor text = te == null ? null : te.view((long) i0 * pt, n, pt);
                         Tensor y = forwardBatch(xs, n, h, w, ts, ctx, text, ids)) {
                        if (out == null) return y.reshape(b, oc, h, w);
                        device.backend().copy(y.storage(), y.byteOffset(), out.storage(), out.byteOffset() + i0 * (y.byteSize() / n), y.byteSize());
                    }
                }
                return out;
            } catch (RuntimeException | Error ex) {
                if (out != null) out.close();
                throw ex;
            }
        }
    }

    /**
     * How many samples of an h × w latent one pass takes: all of them unless the index tables and
     * rows of the pass would pass the int range that {@link #check} holds a single sample to.
     */
    private int samplesPerPass(int h, int w) {
        int maxC = 0;
        for (int ch : config.blockOutChannels()) maxC = Math.max(maxC, ch);
        long perSample = Math.max((long) h * w * 9 * Math.max(2, config.inChannels()), (long) h * w * 3L * maxC);
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, Integer.MAX_VALUE / perSample));
    }

    /**
     * diffusers' {@code get_timestep_embedding(t, C0, flip_sin_to_cos, freq_shift)} in fp32 as torch
     * computes it: {@code f_i = exp(−ln(10000)·i / (C0/2 − shift))}, then sin and cos of {@code t·f_i},
     * [cos, sin] when flipped, a zero appended when C0 is odd.
     */
    static float[] timestepEmbedding(float t, int dim, boolean flipSinToCos, double shift) {
        int half = dim / 2;
        float[] out = new float[dim];
        float lnMax = (float) -Math.log(10000);
        float denom = (float) (half - shift);
        for (int i = 0; i < half; i++) {
            float exponent = (lnMax * i) / denom;
            float f = (float) Math.exp(exponent);
            float a = t * f;
            float sin = (float) Math.sin(a), cos = (float) Math.cos(a);
            out[flipSinToCos ? half + i : i] = sin;
            out[flipSinToCos ? i : half + i] = cos;
        }
        return out;
    }

    /**
     * The samples {@code sample [n, cin, h, w]} (channels-first), sample i at timestep {@code t[i]}
     * with its text states, rows {@code [i·S, (i + 1)·S)} of {@code ctx [n·S, Dc]} →
     * {@code [n·out, h·w]}; text_time: the pooled texts {@code [n, Pt]} and 6 time ids per sample,
     * else both null. Inside, the batch is held channels-last, {@code [n·h·w, C]} (each sample's
     * rows in turn): convolutions and linears run over all samples' rows at once, GroupNorm per
     * sample, the attention with batch n.
     */
    private Tensor forwardBatch(Tensor sample, int n, int h, int w, float[] t, Tensor ctx, Tensor text, float[] ids) {
        UNet2DConditionConfig c = config;
        int groups = c.normNumGroups(), c0 = c.blockOutChannels()[0];
        float eps = (float) c.normEps();
        Deque<Tensor> skips = new ArrayDeque<>();
        Tensor x = null;
        try (Scope sc = Scope.open()) {
            float[] te = new float[n * c0];
            for (int i = 0; i < n; i++) System.arraycopy(timestepEmbedding(t[i], c0, c.flipSinToCos(), c.freqShift()), 0, te, i * c0, c0);
            Tensor temb0 = sc.track(device.upload(DType.F32, te, n, c0));
            Tensor temb1 = sc.track(Activation.silu(sc.track(Gemm.linear(temb0, time1, time1b))));
            Tensor temb = sc.track(Gemm.linear(temb1, time2, time2b));                 // [n, T]
            if (text != null) {
                // get_aug_embed: add_embedding(cat([text_embeds, add_time_proj(time_ids)])), linear_1 applied as its two column blocks
                int a = c.additionTimeEmbedDim(), per = UNet2DConditionConfig.TIME_IDS;
                float[] tid = new float[ids.length * a];
                for (int k = 0; k < ids.length; k++) {
                    System.arraycopy(timestepEmbedding(ids[k], a, c.flipSinToCos(), c.freqShift()), 0, tid, k * a, a);
                }
                Tensor idsEmb = sc.track(device.upload(DType.F32, tid, n, (long) per * a));
                Tensor pre = sc.track(Elementwise.add(sc.track(Gemm.linear(text, addText, add1b)), sc.track(Gemm.linear(idsEmb, addTime, null))));
                Tensor aug = sc.track(Gemm.linear(sc.track(Activation.silu(pre)), add2, add2b));
                temb = sc.track(Elementwise.add(temb, aug));
            }
            Tensor tact = sc.track(Activation.silu(temb));                             // every resnet's SiLU(temb), [n, T]

            x = ConvOps.transpose(sample, n, c.inChannels(), h * w, tables);          // [n·h·w, cin]
            x = replace(x, ConvOps.conv3x3(x, n, h, w, convIn, Sampling.SAME, tables), skips);
            skips.push(x);
            for (int i = 0; i < downRes.length; i++) {
                for (int j = 0; j < downRes[i].length; j++) {
                    x = replace(x, resnet(x, n, h, w, downRes[i][j], tact, groups, eps), skips);
                    if (downAttn[i] != null) x = replace(x, transformer(x, n, downAttn[i][j], ctx, groups), skips);
                    skips.push(x);
                }
                if (downsample[i] != null) {
                    x = replace(x, ConvOps.conv3x3(x, n, h, w, downsample[i], Sampling.DOWN2, tables), skips);
                    h = Sampling.DOWN2.out(h);
                    w = Sampling.DOWN2.out(w);
                    skips.push(x);
                }
            }
            x = replace(x, resnet(x, n, h, w, midRes[0], tact, groups, eps), skips);
            x = replace(x, transformer(x, n, midAttn, ctx, groups), skips);
            x = replace(x, resnet(x, n, h, w, midRes[1], tact, groups, eps), skips);
            for (int i = 0; i < upRes.length; i++) {
                for (int j = 0; j < upRes[i].length; j++) {
                    try (Tensor skip = skips.pop()) {
                        x = replace(x, ConvOps.concatChannels(x, skip, n, tables), skips);   // torch.cat([x, skip], dim=1)
                    }
                    x = replace(x, resnet(x, n, h, w, upRes[i][j], tact, groups, eps), skips);
                    if (upAttn[i] != null) x = replace(x, transformer(x, n, upAttn[i][j], ctx, groups), skips);
                }
                if (upsample[i] != null) {
                    x = replace(x, ConvOps.conv3x3(x, n, h, w, upsample[i], Sampling.UP2, tables), skips);
                    h *= 2;
                    w *= 2;
                }
            }
            x = replace(x, ConvOps.groupNorm(x, n, normOut, groups, eps, true), skips);
            x = replace(x, ConvOps.conv3x3(x, n, h, w, convOut, Sampling.SAME, tables), skips); // [n·h·w, out]
            return ConvOps.transpose(x, n, h * w, c.outChannels(), tables);
        } finally {
            if (x != null && !skips.contains(x)) x.close();
            for (Tensor k : skips) k.close();
        }
    }

    /** Closes {@code old} unless it is held as a skip, and returns {@code next}. */
    private static Tensor replace(Tensor old, Tensor next, Deque<Tensor> skips) {
        boolean held = false;
        for (Tensor k : skips) held |= k == old;
        if (!held) old.close();
        return next;
    }

    /**
     * ResnetBlock2D with the time embedding on {@code x [n·h·w, cin]}:
     * {@code shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb)))))}, sample i's
     * projection {@code proj(tact[i])} added on its pixels.
     */
    private Tensor resnet(Tensor x, int n, int h, int w, Resnet r, Tensor tact, int groups, float eps) {
        try (Scope s = Scope.open()) {
            Tensor a = s.track(ConvOps.groupNorm(x, n, r.norm1(), groups, eps, true));
            Tensor b = s.track(ConvOps.conv3x3(a, n, h, w, r.conv1(), Sampling.SAME, tables));
            Tensor tp = s.track(Gemm.linear(tact, r.tw(), r.tb()));                    // [n, cout]
            Tensor bt = s.track(ConvOps.addPerSample(b, tp, tables));                  // broadcast over each sample's pixels
            Tensor c = s.track(ConvOps.groupNorm(bt, n, r.norm2(), groups, eps, true));
            Tensor d = s.track(ConvOps.conv3x3(c, n, h, w, r.conv2(), Sampling.SAME, tables));
            Tensor sc = r.shortcut() == null ? x : s.track(ConvOps.conv1x1(x, r.shortcut()));
            return Elementwise.add(sc, d); // output_scale_factor 1
        }
    }

    /** Transformer2DModel on {@code x [n·L, C]} (n samples of L pixels) with the text states {@code ctx [n·S, Dc]}. */
    private static Tensor transformer(Tensor x, int n, Transformer t, Tensor ctx, int groups) {
        try (Scope s = Scope.open()) {
            Tensor hn = s.track(ConvOps.groupNorm(x, n, t.norm(), groups, UNet2DConditionConfig.TRANSFORMER_GROUP_NORM_EPS, false));
            Tensor hs = s.track(Gemm.linear(hn, t.in(), t.inb()));                     // [n·L, inner]
            for (Block b : t.blocks()) {
                float eps = UNet2DConditionConfig.LAYER_NORM_EPS;
                Tensor n1 = s.track(LayerNorm.layerNorm(hs, b.ln1().weight(), b.ln1().bias(), eps));
                hs = s.track(Elementwise.add(s.track(attend(n1, n1, n, b.attn1())), hs));
                Tensor n2 = s.track(LayerNorm.layerNorm(hs, b.ln2().weight(), b.ln2().bias(), eps));
                hs = s.track(Elementwise.add(s.track(attend(n2, ctx, n, b.attn2())), hs));
                Tensor n3 = s.track(LayerNorm.layerNorm(hs, b.ln3().weight(), b.ln3().bias(), eps));
                Tensor hid = s.track(Gemm.linear(n3, b.ffH(), b.ffHb()));
                Tensor gate = s.track(Activation.gelu(s.track(Gemm.linear(n3, b.ffG(), b.ffGb())), Activation.Gelu.ERF));
                Tensor ff = s.track(Gemm.linear(s.track(Elementwise.mul(hid, gate)), b.ff2(), b.ff2b()));
                hs = s.track(Elementwise.add(ff, hs));
            }
            Tensor o = s.track(Gemm.linear(hs, t.out(), t.outb()));
            return Elementwise.add(o, x);
        }
    }

    /**
     * Attention of queries from {@code xq [n·L, inner]} over keys/values from {@code xkv [n·S, kvDim]},
     * sample i's L queries over its own S keys (batch n), non-causal, scale 1/√d.
     */
    private static Tensor attend(Tensor xq, Tensor xkv, int n, Attn a) {
        long l = xq.dim(0) / n, kv = xkv.dim(0) / n;
        int hd = a.heads() * a.dp();
        try (Scope s = Scope.open()) {
            Tensor q = s.track(Gemm.linear(xq, a.q(), null));
            Tensor k = s.track(xkv == xq ? Gemm.linear(xkv, a.k(), null) : perSample(xkv, n, a.k()));
            Tensor v = s.track(xkv == xq ? Gemm.linear(xkv, a.v(), null) : perSample(xkv, n, a.v()));
            AttentionOptions opts = AttentionOptions.defaults().scale((float) (1 / Math.sqrt(a.d())));
            Tensor o = s.track(Attention.prefill(s.track(q.reshape(n, l, a.heads(), a.dp())), s.track(k.reshape(n, kv, a.heads(), a.dp())),
                    s.track(v.reshape(n, kv, a.heads(), a.dp())), opts));
            return Gemm.linear(s.track(o.reshape(n * l, hd)), a.o(), a.ob());
        }
    }

    /**
     * {@code x [n·S, K] · wᵀ} one sample's S rows at a time: the text states' key and value
     * projections. The CPU product picks its kernel by row count and the kernels sum in different
     * orders, so a few text rows per sample keep exactly the keys and values the sample gets alone
     * (these products are small next to the pixels').
     */
    private static Tensor perSample(Tensor x, int n, Tensor w) {
        if (n == 1) return Gemm.linear(x, w, null);
        long rows = x.dim(0) / n, k = x.dim(1), cols = w.dim(0);
        Device dev = x.device();
        Tensor out = dev.allocate(DType.F32, n * rows, cols);
        try {
            for (int i = 0; i < n; i++) {
                try (Tensor xi = x.view(i * rows * k, rows, k); Tensor yi = Gemm.linear(xi, w, null)) {
                    dev.backend().copy(yi.storage(), yi.byteOffset(), out.storage(), out.byteOffset() + i * yi.byteSize(), yi.byteSize());
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    private void check(Tensor sample, float[] timesteps, Tensor ctx) {
        String where = "UNet2DConditionModel.forward";
        if (sample == null) throw new IllegalArgumentException(where + ": sample is null");
        if (sample.isClosed()) throw new IllegalArgumentException(where + ": sample (" + sample.describe() + ") is closed");
        if (!sample.dtype().isFloating()) throw new IllegalArgumentException(where + ": sample is " + sample.describe() + "; expected F32, F16 or BF16");
        if (!sample.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": sample is on " + sample.device().name() + " but the model is on " + device.name());
        }
        long[] s = sample.shape();
        int f = config.downscale();
        if (s.length != 4 || s[1] != config.inChannels() || s[0] < 1 || s[2] < 1 || s[3] < 1) {
            throw new IllegalArgumentException(where + ": sample is " + sample.describe() + "; expected [B, " + config.inChannels()
                    + ", H, W] with B, H, W >= 1");
        }
        if (s[2] % f != 0 || s[3] % f != 0) {
            throw new IllegalArgumentException(where + ": sample is " + sample.describe() + "; H and W must be multiples of " + f
                    + " (2^(levels - 1), the down blocks halve them " + (config.levels() - 1) + " times)");
        }
        int maxC = 0;
        for (int ch : config.blockOutChannels()) maxC = Math.max(maxC, ch);
        if (s[0] > Integer.MAX_VALUE || s[2] * s[3] * 9 * Math.max(2, config.inChannels()) > Integer.MAX_VALUE
                || s[2] * s[3] * 3L * maxC > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": sample is " + sample.describe() + "; an image of " + s[2] * s[3] + " pixels is too large");
        }
        if (timesteps == null) throw new IllegalArgumentException(where + ": timesteps is null");
        if (timesteps.length != 1 && timesteps.length != s[0]) {
            throw new IllegalArgumentException(where + ": timesteps has " + timesteps.length + " values; expected B = " + s[0] + " (or 1 for all)");
        }
        for (int i = 0; i < timesteps.length; i++) {
            if (!Float.isFinite(timesteps[i])) throw new IllegalArgumentException(where + ": timesteps[" + i + "] is " + timesteps[i] + "; expected a finite number");
        }
        if (ctx == null) throw new IllegalArgumentException(where + ": encoderHiddenStates is null");
        if (ctx.isClosed()) throw new IllegalArgumentException(where + ": encoderHiddenStates (" + ctx.describe() + ") is closed");
        if (!ctx.dtype().isFloating()) {
            throw new IllegalArgumentException(where + ": encoderHiddenStates is " + ctx.describe() + "; expected F32, F16 or BF16");
        }
        if (!ctx.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": encoderHiddenStates is on " + ctx.device().name() + " but the model is on " + device.name());
        }
        long[] e = ctx.shape();
        if (e.length != 3 || e[0] != s[0] || e[1] < 1 || e[2] != config.crossAttentionDim()) {
            throw new IllegalArgumentException(where + ": encoderHiddenStates is " + ctx.describe() + "; expected [" + s[0] + ", S, "
                    + config.crossAttentionDim() + "] (B of sample, S >= 1, cross_attention_dim)");
        }
    }

    // ---------------------------------------------------------------------------------------------

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("UNet2DConditionModel is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : owned) t.close();
        owned.clear();
        tables.close();
    }
}
