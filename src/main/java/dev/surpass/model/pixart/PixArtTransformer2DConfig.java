package dev.surpass.model.pixart;

import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Set;

/**
 * A diffusers {@code PixArtTransformer2DModel} config.json (the {@code transformer/} folder of a
 * PixArt-α or PixArt-Σ pipeline). Missing fields take the class's defaults: 16 heads of 72,
 * in_channels 4, out_channels 8, 28 layers, cross_attention_dim 1152, attention_bias true,
 * sample_size 128, patch_size 2, norm_eps 1e-6, interpolation_scale {@code max(sample_size / 64, 1)},
 * use_additional_conditions {@code sample_size == 128}, no caption_channels.
 *
 * @param numHeads                attention heads (self and cross)
 * @param headDim                 channels per head
 * @param inChannels              latent channels in
 * @param outChannels             channels out (2 × in: ε then the learned-sigma values)
 * @param numLayers               BasicTransformerBlocks
 * @param crossAttentionDim       width of the states attn2's keys and values are projected from (the
 *                                inner width when there is a caption projection)
 * @param attentionBias           whether the q, k, v projections have biases
 * @param sampleSize              latent side the model was trained at (its position table's base)
 * @param patchSize               side of a patch
 * @param normEps                 eps of the blocks' two LayerNorms (norm_out keeps 1e-6)
 * @param interpolationScale      divides the 2-D position grid ({@code PatchEmbed}'s interpolation_scale)
 * @param useAdditionalConditions whether the timestep embedding adds the resolution and aspect-ratio
 *                                embeddings (PixArt-α 1024)
 * @param captionChannels         width of the text encoder's states ({@code caption_projection} in),
 *                                0 when the model has no caption projection
 */
public record PixArtTransformer2DConfig(int numHeads, int headDim, int inChannels, int outChannels, int numLayers, int crossAttentionDim,
                                        boolean attentionBias, int sampleSize, int patchSize, float normEps, double interpolationScale,
                                        boolean useAdditionalConditions, int captionChannels) {
    /** Head dims {@link dev.surpass.attention.Attention} runs. */
    static final Set<Integer> HEAD_DIMS = Set.of(32, 64, 72, 80, 96, 128, 256);

    /** Channels of the sinusoidal timestep (and size) features ({@code Timesteps(256, …)}). */
    public static final int FREQUENCY_DIM = 256;

    /** eps of the final LayerNorm ({@code norm_out}, fixed in diffusers). */
    public static final float NORM_OUT_EPS = 1e-6f;

    public PixArtTransformer2DConfig {
        if (numHeads < 1 || headDim < 1 || inChannels < 1 || outChannels < 1 || numLayers < 1 || crossAttentionDim < 1 || sampleSize < 1
                || patchSize < 1 || captionChannels < 0) {
            throw new IllegalArgumentException("PixArtTransformer2DConfig: sizes must be positive");
        }
        if (!(normEps > 0) || !Float.isFinite(normEps)) throw new IllegalArgumentException("PixArtTransformer2DConfig: norm_eps must be positive, got " + normEps);
        if (!(interpolationScale > 0) || !Double.isFinite(interpolationScale)) {
            throw new IllegalArgumentException("PixArtTransformer2DConfig: interpolation_scale must be positive, got " + interpolationScale);
        }
    }

    /** {@code heads · head_dim}, the model width D. */
    public int innerDim() {
        return numHeads * headDim;
    }

    /** The position grid's base ({@code PatchEmbed.base_size = sample_size // patch_size}). */
    public int baseSize() {
        return Math.max(sampleSize / patchSize, 1);
    }

    /** True when the output holds ε and the learned variance ({@code out_channels = 2·in_channels}). */
    public boolean learnedSigma() {
        return outChannels == 2 * inChannels;
    }

    /** Width of the size embeddings (D / 3 each for the resolution's two values and the aspect ratio). */
    public int sizeEmbedDim() {
        return innerDim() / 3;
    }

    /** The width of the text states forward takes: caption_channels, or cross_attention_dim without a caption projection. */
    public int textDim() {
        return captionChannels > 0 ? captionChannels : crossAttentionDim;
    }

    /** Reads {@code dir/config.json} (a transformer folder). */
    public static PixArtTransformer2DConfig load(Path dir) {
        return of(ConfigJson.load(dir, "PixArtTransformer2DModel"));
    }

    /**
     * Checks and reads a config.
     *
     * @throws IllegalArgumentException naming the file and field for a class, norm, activation or
     *                                  size this implementation does not run
     */
    public static PixArtTransformer2DConfig of(ConfigJson c) {
        String w = c.where();
        String cls = c.text("_class_name", "PixArtTransformer2DModel");
        if (!cls.equals("PixArtTransformer2DModel") && !cls.equals("Transformer2DModel")) {
            throw new IllegalArgumentException(w + ": _class_name \"" + cls + "\" is not PixArtTransformer2DModel");
        }
        String norm = c.text("norm_type", "ada_norm_single");
        if (!norm.equals("ada_norm_single")) throw new IllegalArgumentException(w + ": norm_type \"" + norm + "\" is not supported (PixArt is ada_norm_single)");
        String act = c.text("activation_fn", "gelu-approximate");
        if (!act.equals("gelu-approximate")) throw new IllegalArgumentException(w + ": activation_fn \"" + act + "\" is not supported (PixArt's is gelu-approximate)");
        if (c.bool("norm_elementwise_affine", false)) {
            throw new IllegalArgumentException(w + ": norm_elementwise_affine true is not supported (PixArt's LayerNorms have no affine)");
        }
        String attnType = c.text("attention_type", "default");
        if (!attnType.equals("default")) throw new IllegalArgumentException(w + ": attention_type \"" + attnType + "\" is not supported (default only)");
        if (c.bool("only_cross_attention", false) || c.bool("double_self_attention", false)) {
            throw new IllegalArgumentException(w + ": only_cross_attention / double_self_attention are not supported (PixArt has self- then cross-attention)");
        }
        if (c.has("num_vector_embeds")) throw new IllegalArgumentException(w + ": num_vector_embeds is not supported (PixArt is continuous)");
        if (!c.has("num_embeds_ada_norm") && c.node().has("num_embeds_ada_norm")) {
            throw new IllegalArgumentException(w + ": num_embeds_ada_norm is null (ada_norm_single needs it set)");
        }
        int heads = c.optPositive("num_attention_heads", 16), hd = c.optPositive("attention_head_dim", 72);
        if (!HEAD_DIMS.contains(hd)) {
            throw new IllegalArgumentException(w + ": attention_head_dim " + hd + " is not one the fused attention runs " + new java.util.TreeSet<>(HEAD_DIMS));
        }
        int in = c.optPositive("in_channels", 4);
        int out = c.node().has("out_channels") && c.node().get("out_channels").isNull() ? in : c.optPositive("out_channels", 8);
        int layers = c.optPositive("num_layers", 28);
        int cross = c.optPositive("cross_attention_dim", 1152);
        boolean bias = c.bool("attention_bias", true);
        int sample = c.optPositive("sample_size", 128), patch = c.optPositive("patch_size", 2);
        double eps = c.optPositiveNumber("norm_eps", 1e-6);
        double interp = c.has("interpolation_scale") ? c.positiveNumber(c.node(), "interpolation_scale", "interpolation_scale")
                : Math.max(sample / 64, 1);
        boolean extra = c.has("use_additional_conditions") ? c.bool("use_additional_conditions", false) : sample == 128;
        int caption = c.has("caption_channels") ? c.optPositive("caption_channels", 0) : 0;
        long d = (long) heads * hd;
        if (d > 1 << 16) throw new IllegalArgumentException(w + ": num_attention_heads · attention_head_dim = " + d + " is too large");
        if (d % 4 != 0) throw new IllegalArgumentException(w + ": the inner width " + d + " must be a multiple of 4 (the 2-D sin-cos position table)");
        if (extra && d % 3 != 0) {
            throw new IllegalArgumentException(w + ": use_additional_conditions needs the inner width " + d + " to be a multiple of 3 (resolution and aspect embeddings of D/3)");
        }
        if (caption > 0 && cross != d) {
            throw new IllegalArgumentException(w + ": cross_attention_dim " + cross + " must be the inner width " + d + " when caption_channels is set "
                    + "(attn2 reads the projected captions)");
        }
        if (out != in && out != 2 * in) throw new IllegalArgumentException(w + ": out_channels " + out + " must be in_channels (" + in + ") or twice it (learned sigma)");
        if (sample > 1 << 12 || patch > sample) throw new IllegalArgumentException(w + ": sample_size " + sample + " / patch_size " + patch + " are out of range");
        return new PixArtTransformer2DConfig(heads, hd, in, out, layers, cross, bias, sample, patch, (float) eps, interp, extra, caption);
    }
}
