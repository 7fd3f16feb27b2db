package dev.surpass.model.unet;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * A diffusers {@code UNet2DConditionModel} config.json (the {@code unet/} folder of a Stable
 * Diffusion 1.x / 2.x pipeline), read as diffusers' {@code __init__} reads it, with every per-level
 * field expanded to one entry per level (highest resolution first). Missing fields take diffusers'
 * defaults.
 *
 * <p><b>Heads.</b> diffusers' quirk is reproduced exactly: {@code num_attention_heads} must be
 * absent or null (diffusers raises otherwise) and is then taken from {@code attention_head_dim}
 * ({@code num_attention_heads = num_attention_heads or attention_head_dim}), so SD 1.x's
 * {@code "attention_head_dim": 8} means <em>8 heads</em> at every level (head dims 40 / 80 / 160 for
 * 320 / 640 / 1280 channels) and SD 2.x's {@code [5, 10, 20, 20]} means 5, 10, 20, 20 heads (head
 * dim 64). Each Transformer2DModel then has {@code heads} heads of {@code channels / heads} each; the
 * mid block takes the last level's count. {@link #heads()} holds the counts, {@link #headDim(int)}
 * the resulting sizes.
 *
 * <p>Refused by name (a diffusers config surpass does not run): another {@code _class_name}; block
 * types other than CrossAttnDownBlock2D / DownBlock2D / CrossAttnUpBlock2D / UpBlock2D; a
 * {@code mid_block_type} other than UNetMidBlock2DCrossAttn; {@code addition_embed_type} other than
 * null or {@code "text_time"} (SDXL, which needs {@code addition_time_embed_dim} and
 * {@code projection_class_embeddings_input_dim} larger than 6 of it),
 * {@code class_embed_type}, {@code num_class_embeds}, {@code encoder_hid_dim(_type)},
 * {@code time_cond_proj_dim}, {@code time_embedding_act_fn}, {@code timestep_post_act},
 * {@code time_embedding_type} other than positional, {@code resnet_time_scale_shift} other than
 * default, {@code resnet_skip_time_act}, {@code resnet_out_scale_factor} / {@code mid_block_scale_factor}
 * other than 1, {@code only_cross_attention} / {@code dual_cross_attention} /
 * {@code mid_block_only_cross_attention} true, {@code attention_type} other than default,
 * {@code cross_attention_norm}, {@code act_fn} other than silu, kernels other than 3,
 * {@code downsample_padding} other than 1, {@code center_input_sample}, {@code class_embeddings_concat},
 * {@code reverse_transformer_layers_per_block}, per-block {@code cross_attention_dim} lists and
 * nested {@code transformer_layers_per_block}. {@code upcast_attention} is accepted and recorded:
 * it is diffusers' fp16 numerics flag, and surpass computes attention in fp32 anyway.
 *
 * @param inChannels                channels of the latents in
 * @param outChannels               channels of the prediction out
 * @param sampleSize                the latents' nominal size (recorded; forward takes any multiple of {@link #downscale()})
 * @param blockOutChannels          channels per level
 * @param downBlockTypes            per level: "CrossAttnDownBlock2D" or "DownBlock2D"
 * @param upBlockTypes              per up block (lowest resolution first): "CrossAttnUpBlock2D" or "UpBlock2D"
 * @param layersPerBlock            resnets per down level (up blocks have one more, in reversed order)
 * @param crossAttentionDim         width of the text encoder's hidden states
 * @param heads                     attention heads per level (see above)
 * @param transformerLayersPerBlock BasicTransformerBlocks per Transformer2DModel, per level (the mid block takes the last)
 * @param normNumGroups             GroupNorm groups of resnets, transformers and conv_norm_out
 * @param normEps                   eps of the resnets' and conv_norm_out's GroupNorm (the transformers' GroupNorm has 1e-6, their LayerNorms 1e-5)
 * @param useLinearProjection       proj_in / proj_out are Linear (SD 2.x) rather than 1×1 Conv2d; the same arithmetic
 * @param upcastAttention           recorded only
 * @param flipSinToCos              the timestep embedding is [cos, sin] rather than [sin, cos]
 * @param freqShift                 the timestep frequencies' downscale_freq_shift
 * @param timeEmbedDim              width of the time embedding (time_embedding_dim, else 4 · block_out_channels[0])
 * @param additionEmbedType         null, or {@link #TEXT_TIME} (SDXL: {@code add_time_proj} + {@code add_embedding})
 * @param additionTimeEmbedDim      text_time: width of each time id's sinusoidal embedding (SDXL 256); else 0
 * @param projectionClassEmbeddingsInputDim text_time: add_embedding's input width, pooled text width + 6 · additionTimeEmbedDim
 *                                  (SDXL 1280 + 1536 = 2816); else 0
 */
public record UNet2DConditionConfig(int inChannels, int outChannels, int sampleSize, int[] blockOutChannels, String[] downBlockTypes,
                                    String[] upBlockTypes, int[] layersPerBlock, int crossAttentionDim, int[] heads,
                                    int[] transformerLayersPerBlock, int normNumGroups, double normEps, boolean useLinearProjection,
                                    boolean upcastAttention, boolean flipSinToCos, double freqShift, int timeEmbedDim,
                                    String additionEmbedType, int additionTimeEmbedDim, int projectionClassEmbeddingsInputDim) {
    /** {@code addition_embed_type} of SDXL: pooled text embeds and 6 time ids added to the time embedding. */
    public static final String TEXT_TIME = "text_time";
    /** Number of SDXL time ids per sample: original size (h, w), crop top-left (y, x), target size (h, w). */
    public static final int TIME_IDS = 6;

    public static final String CROSS_DOWN = "CrossAttnDownBlock2D", DOWN = "DownBlock2D", CROSS_UP = "CrossAttnUpBlock2D", UP = "UpBlock2D";
    /** The Transformer2DModel's GroupNorm eps (fixed in diffusers). */
    public static final float TRANSFORMER_GROUP_NORM_EPS = 1e-6f;
    /** The BasicTransformerBlock LayerNorms' eps (Transformer2DModel's norm_eps default; the UNet blocks do not pass another). */
    public static final float LAYER_NORM_EPS = 1e-5f;

    public UNet2DConditionConfig {
        blockOutChannels = blockOutChannels.clone();
        downBlockTypes = downBlockTypes.clone();
        upBlockTypes = upBlockTypes.clone();
        layersPerBlock = layersPerBlock.clone();
        heads = heads.clone();
        transformerLayersPerBlock = transformerLayersPerBlock.clone();
    }

    @Override public int[] blockOutChannels() { return blockOutChannels.clone(); }
    @Override public String[] downBlockTypes() { return downBlockTypes.clone(); }
    @Override public String[] upBlockTypes() { return upBlockTypes.clone(); }
    @Override public int[] layersPerBlock() { return layersPerBlock.clone(); }
    @Override public int[] heads() { return heads.clone(); }
    @Override public int[] transformerLayersPerBlock() { return transformerLayersPerBlock.clone(); }

    /** Number of resolution levels. */
    public int levels() {
        return blockOutChannels.length;
    }

    /** Size of each attention head at {@code level}: {@code block_out_channels[level] / heads[level]} (integer division, as diffusers). */
    public int headDim(int level) {
        return blockOutChannels[level] / heads[level];
    }

    /** What H and W of the latents must be multiples of: 2^(levels − 1). */
    public int downscale() {
        return 1 << (blockOutChannels.length - 1);
    }

    /** Whether the UNet takes SDXL's added conditions (pooled text embeds and time ids). */
    public boolean textTime() {
        return TEXT_TIME.equals(additionEmbedType);
    }

    /** text_time: width of the pooled text embedding the UNet takes, {@code projection_class_embeddings_input_dim − 6 · addition_time_embed_dim}; else 0. */
    public int textEmbedsDim() {
        return textTime() ? projectionClassEmbeddingsInputDim - TIME_IDS * additionTimeEmbedDim : 0;
    }

    /** Reads {@code dir/config.json}. */
    public static UNet2DConditionConfig load(Path dir) {
        return of(ConfigJson.load(dir, "UNet2DConditionModel"));
    }

    /**
     * Checks and reads a config object.
     *
     * @throws IllegalArgumentException naming the file and field for a value diffusers would not
     *                                  build or one surpass does not run
     */
    public static UNet2DConditionConfig of(ConfigJson c) {
        String w = c.where();
        String cls = c.text("_class_name", "UNet2DConditionModel");
        if (!cls.equals("UNet2DConditionModel")) {
            throw new IllegalArgumentException(w + ": field \"_class_name\" is \"" + cls + "\"; surpass runs UNet2DConditionModel only");
        }
        // features surpass does not run: refused by the field's name
        for (String f : new String[] {"class_embed_type", "num_class_embeds", "encoder_hid_dim", "encoder_hid_dim_type",
                                      "time_cond_proj_dim", "time_embedding_act_fn", "timestep_post_act", "cross_attention_norm",
                                      "reverse_transformer_layers_per_block"}) {
            if (c.has(f)) {
                throw new IllegalArgumentException(w + ": field \"" + f + "\" is " + c.node().get(f)
                        + "; surpass's UNet2DConditionModel runs Stable Diffusion 1.x / 2.x / XL UNets, which leave it null");
            }
        }
        // SDXL's added conditions: the only addition_embed_type surpass runs
        String addType = null;
        int addTimeDim = 0, projDim = 0;
        if (c.has("addition_embed_type")) {
            JsonNode a = c.node().get("addition_embed_type");
            if (!a.isTextual() || !a.asText().equals(TEXT_TIME)) {
                throw new IllegalArgumentException(w + ": field \"addition_embed_type\" is " + a
                        + "; surpass runs null or \"text_time\" (Stable Diffusion XL) only");
            }
            addType = TEXT_TIME;
            if (!c.has("addition_time_embed_dim")) {
                throw new IllegalArgumentException(w + ": field \"addition_time_embed_dim\" is missing; addition_embed_type \"text_time\" needs it");
            }
            if (!c.has("projection_class_embeddings_input_dim")) {
                throw new IllegalArgumentException(w + ": field \"projection_class_embeddings_input_dim\" is missing; addition_embed_type "
                        + "\"text_time\" needs it");
            }
            addTimeDim = c.optPositive("addition_time_embed_dim", 256);
            projDim = c.optPositive("projection_class_embeddings_input_dim", 2816);
            if (addTimeDim > 1 << 14 || (long) projDim <= (long) TIME_IDS * addTimeDim) {
                throw new IllegalArgumentException(w + ": field \"projection_class_embeddings_input_dim\" is " + projDim + " with addition_time_embed_dim "
                        + addTimeDim + "; it must exceed " + TIME_IDS + " · addition_time_embed_dim (the rest is the pooled text embedding)");
            }
        } else {
            for (String f : new String[] {"projection_class_embeddings_input_dim", "addition_time_embed_dim"}) {
                if (c.has(f)) {
                    throw new IllegalArgumentException(w + ": field \"" + f + "\" is " + c.node().get(f) + " but addition_embed_type is null; "
                            + "surpass reads it for \"text_time\" only");
                }
            }
        }
        if (c.has("num_attention_heads")) {
            throw new IllegalArgumentException(w + ": field \"num_attention_heads\" is " + c.node().get("num_attention_heads")
                    + "; diffusers' UNet2DConditionModel refuses it (the head count is given by attention_head_dim)");
        }
        requireText(c, "time_embedding_type", "positional");
        requireText(c, "resnet_time_scale_shift", "default");
        requireText(c, "attention_type", "default");
        requireText(c, "mid_block_type", "UNetMidBlock2DCrossAttn");
        String act = c.text("act_fn", "silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw new IllegalArgumentException(w + ": field \"act_fn\" is \"" + act + "\"; surpass's UNet runs silu (or its alias swish)");
        }
        for (String f : new String[] {"dual_cross_attention", "resnet_skip_time_act", "center_input_sample", "class_embeddings_concat"}) {
            if (c.bool(f, false)) throw new IllegalArgumentException(w + ": field \"" + f + "\" is true; surpass runs it false only");
        }
        if (c.has("mid_block_only_cross_attention") && c.bool("mid_block_only_cross_attention", false)) {
            throw new IllegalArgumentException(w + ": field \"mid_block_only_cross_attention\" is true; surpass runs it false only");
        }
        for (String f : new String[] {"resnet_out_scale_factor", "mid_block_scale_factor"}) {
            if (c.has(f) && c.optPositiveNumber(f, 1) != 1) {
                throw new IllegalArgumentException(w + ": field \"" + f + "\" is " + c.node().get(f) + "; surpass runs 1 only");
            }
        }
        for (String f : new String[] {"conv_in_kernel", "conv_out_kernel"}) {
            if (c.optPositive(f, 3) != 3) throw new IllegalArgumentException(w + ": field \"" + f + "\" is " + c.node().get(f) + "; surpass runs 3 only");
        }
        if (c.optPositiveOrZero("downsample_padding", 1) != 1) {
            throw new IllegalArgumentException(w + ": field \"downsample_padding\" is " + c.node().get("downsample_padding") + "; surpass runs 1 only");
        }

        int[] boc = intList(c, "block_out_channels", new int[] {320, 640, 1280, 1280});
        int levels = boc.length;
        if (levels > 12) throw new IllegalArgumentException(w + ": field \"block_out_channels\" has " + levels + " levels; at most 12");
        String[] down = types(c, "down_block_types", new String[] {CROSS_DOWN, CROSS_DOWN, CROSS_DOWN, DOWN}, levels, CROSS_DOWN, DOWN);
        String[] up = types(c, "up_block_types", new String[] {UP, CROSS_UP, CROSS_UP, CROSS_UP}, levels, CROSS_UP, UP);
        JsonNode only = c.node().get("only_cross_attention");
        if (only != null && !only.isNull()) {
            boolean any = only.isBoolean() ? only.asBoolean() : false;
            if (only.isArray()) for (JsonNode e : only) any |= !e.isBoolean() || e.asBoolean();
            else if (!only.isBoolean()) any = true;
            if (any) throw new IllegalArgumentException(w + ": field \"only_cross_attention\" is " + only + "; surpass runs false only");
        }
        int[] layers = perLevel(c, "layers_per_block", 2, levels);
        int[] heads = perLevel(c, "attention_head_dim", 8, levels); // the quirk: these are head counts
        int[] tl = perLevel(c, "transformer_layers_per_block", 1, levels);
        JsonNode cad = c.node().get("cross_attention_dim");
        if (cad != null && cad.isArray()) {
            throw new IllegalArgumentException(w + ": field \"cross_attention_dim\" is " + cad + "; surpass runs one int for every block");
        }
        int crossDim = c.optPositive("cross_attention_dim", 1280);
        JsonNode groupsNode = c.node().get("norm_num_groups");
        if (groupsNode != null && groupsNode.isNull()) {
            throw new IllegalArgumentException(w + ": field \"norm_num_groups\" is null; surpass runs UNets with conv_norm_out (an integer)");
        }
        int groups = c.optPositive("norm_num_groups", 32);
        double eps = c.optPositiveNumber("norm_eps", 1e-5);
        for (int i = 0; i < levels; i++) {
            if (boc[i] % groups != 0) {
                throw new IllegalArgumentException(w + ": field \"norm_num_groups\" is " + groups + " but block_out_channels has " + boc[i]
                        + ", which it does not divide (GroupNorm needs whole groups)");
            }
            if (boc[i] / heads[i] < 1) {
                throw new IllegalArgumentException(w + ": field \"attention_head_dim\" gives " + heads[i] + " heads at level " + i + " (diffusers "
                        + "reads it as the head count) but that level has only " + boc[i] + " channels");
            }
            if (boc[i] / heads[i] > 256) {
                throw new IllegalArgumentException(w + ": field \"attention_head_dim\" gives " + heads[i] + " heads at level " + i + ", heads of "
                        + boc[i] / heads[i] + " channels; surpass's attention runs heads of at most 256");
            }
        }
        int sample = 64;
        if (c.has("sample_size")) {
            JsonNode s = c.node().get("sample_size");
            if (s.isArray()) {
                throw new IllegalArgumentException(w + ": field \"sample_size\" is " + s + "; surpass reads one int (forward takes any size anyway)");
            }
            sample = c.optPositive("sample_size", 64);
        }
        double shift = 0;
        if (c.has("freq_shift")) {
            JsonNode v = c.node().get("freq_shift");
            if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
                throw new IllegalArgumentException(w + ": field \"freq_shift\" is " + v + "; expected a number");
            }
            shift = v.asDouble();
        }
        int half = boc[0] / 2;
        if (half - shift == 0) throw new IllegalArgumentException(w + ": field \"freq_shift\" is " + shift + ", block_out_channels[0] / 2; the frequencies divide by their difference");
        if (addType != null && addTimeDim / 2 - shift == 0) {
            throw new IllegalArgumentException(w + ": field \"freq_shift\" is " + shift + ", addition_time_embed_dim / 2; the frequencies divide by their difference");
        }
        int ted = c.optPositive("time_embedding_dim", 4 * boc[0]);
        return new UNet2DConditionConfig(c.optPositive("in_channels", 4), c.optPositive("out_channels", 4), sample, boc, down, up, layers,
                crossDim, heads, tl, groups, eps, c.bool("use_linear_projection", false), c.bool("upcast_attention", false),
                c.bool("flip_sin_to_cos", true), shift, ted, addType, addTimeDim, projDim);
    }

    private static void requireText(ConfigJson c, String key, String want) {
        String v = c.text(key, want);
        if (!v.equals(want)) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is \"" + v + "\"; surpass runs \"" + want + "\" only");
        }
    }

    private static String[] types(ConfigJson c, String key, String[] dflt, int levels, String a, String b) {
        String[] out = dflt;
        if (c.has(key)) {
            JsonNode v = c.node().get(key);
            if (!v.isArray()) throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; expected a list of block type names");
            out = new String[v.size()];
            for (int i = 0; i < out.length; i++) {
                JsonNode e = v.get(i);
                if (!e.isTextual() || !(e.asText().equals(a) || e.asText().equals(b))) {
                    throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" has " + e + " at " + i + "; surpass runs " + a + " and " + b);
                }
                out[i] = e.asText();
            }
        }
        if (out.length != levels) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" has " + out.length + " entries but block_out_channels has "
                    + levels + " (one block per level)");
        }
        return out;
    }

    /** An int, or a list of one positive int per level (diffusers repeats a single int for every block). */
    private static int[] perLevel(ConfigJson c, String key, int dflt, int levels) {
        int[] out = new int[levels];
        if (!c.has(key)) {
            Arrays.fill(out, dflt);
            return out;
        }
        JsonNode v = c.node().get(key);
        if (v.isArray()) {
            if (v.size() != levels) {
                throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; expected one entry per level (" + levels + ")");
            }
            for (int i = 0; i < levels; i++) {
                JsonNode e = v.get(i);
                if (!e.canConvertToExactIntegral() || e.asLong() <= 0 || e.asLong() > 1 << 16) {
                    throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; entry " + i + " is not a positive integer");
                }
                out[i] = e.asInt();
            }
            return out;
        }
        if (!v.canConvertToExactIntegral() || v.asLong() <= 0 || v.asLong() > 1 << 16) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; expected a positive integer or a list of them");
        }
        Arrays.fill(out, v.asInt());
        return out;
    }

    private static int[] intList(ConfigJson c, String key, int[] dflt) {
        if (!c.has(key)) return dflt;
        JsonNode v = c.node().get(key);
        if (!v.isArray() || v.isEmpty()) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; expected a non-empty list of positive integers");
        }
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.canConvertToExactIntegral() || e.asLong() <= 0 || e.asLong() > 1 << 16) {
                throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; entry " + i + " is not a positive integer up to 65536");
            }
            out[i] = e.asInt();
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UNet2DConditionConfig c && inChannels == c.inChannels && outChannels == c.outChannels && sampleSize == c.sampleSize
                && Arrays.equals(blockOutChannels, c.blockOutChannels) && Arrays.equals(downBlockTypes, c.downBlockTypes)
                && Arrays.equals(upBlockTypes, c.upBlockTypes) && Arrays.equals(layersPerBlock, c.layersPerBlock)
                && crossAttentionDim == c.crossAttentionDim && Arrays.equals(heads, c.heads)
                && Arrays.equals(transformerLayersPerBlock, c.transformerLayersPerBlock) && normNumGroups == c.normNumGroups
                && Double.compare(normEps, c.normEps) == 0 && useLinearProjection == c.useLinearProjection && upcastAttention == c.upcastAttention
                && flipSinToCos == c.flipSinToCos && Double.compare(freqShift, c.freqShift) == 0 && timeEmbedDim == c.timeEmbedDim
                && Objects.equals(additionEmbedType, c.additionEmbedType) && additionTimeEmbedDim == c.additionTimeEmbedDim
                && projectionClassEmbeddingsInputDim == c.projectionClassEmbeddingsInputDim;
    }

    @Override
    public int hashCode() {
        return Objects.hash(inChannels, outChannels, sampleSize, Arrays.hashCode(blockOutChannels), Arrays.hashCode(downBlockTypes),
                Arrays.hashCode(upBlockTypes), Arrays.hashCode(layersPerBlock), crossAttentionDim, Arrays.hashCode(heads),
                Arrays.hashCode(transformerLayersPerBlock), normNumGroups, normEps, useLinearProjection, upcastAttention, flipSinToCos,
                freqShift, timeEmbedDim, additionEmbedType, additionTimeEmbedDim, projectionClassEmbeddingsInputDim);
    }

    @Override
    public String toString() {
        return "UNet2DConditionConfig[inChannels=" + inChannels + ", outChannels=" + outChannels + ", sampleSize=" + sampleSize
                + ", blockOutChannels=" + Arrays.toString(blockOutChannels) + ", downBlockTypes=" + Arrays.toString(downBlockTypes)
                + ", upBlockTypes=" + Arrays.toString(upBlockTypes) + ", layersPerBlock=" + Arrays.toString(layersPerBlock)
                + ", crossAttentionDim=" + crossAttentionDim + ", heads=" + Arrays.toString(heads) + ", transformerLayersPerBlock="
                + Arrays.toString(transformerLayersPerBlock) + ", normNumGroups=" + normNumGroups + ", normEps=" + normEps
                + ", useLinearProjection=" + useLinearProjection + ", upcastAttention=" + upcastAttention + ", flipSinToCos=" + flipSinToCos
                + ", freqShift=" + freqShift + ", timeEmbedDim=" + timeEmbedDim + ", additionEmbedType=" + additionEmbedType
                + ", additionTimeEmbedDim=" + additionTimeEmbedDim + ", projectionClassEmbeddingsInputDim=" + projectionClassEmbeddingsInputDim + "]";
    }
}
