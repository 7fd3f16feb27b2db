package dev.surpass.model.vae;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The decoder half of a diffusers {@code AutoencoderKL} config.json ({@code stabilityai/sd-vae-ft-mse},
 * the {@code vae/} folder of a Stable Diffusion or DiT pipeline). Missing fields take diffusers'
 * defaults, as {@code from_pretrained} gives them: block_out_channels [64], layers_per_block 1,
 * latent_channels 4, norm_num_groups 32, out_channels 3, scaling_factor 0.18215, no shift_factor,
 * up_block_types ["UpDecoderBlock2D"], act_fn "silu", mid_block_add_attention true, force_upcast
 * true, use_post_quant_conv true; for the encoder ({@link AutoencoderKL#encode}) in_channels 3 and
 * use_quant_conv true (down_block_types is checked when the encoder loads; sample_size is not read).
 *
 * @param blockOutChannels     channels per resolution level, highest resolution first; the decoder
 *                             walks them in reverse (its first up block has the last entry)
 * @param layersPerBlock       resnets per level in the encoder; each decoder up block has one more
 * @param latentChannels       channels of the latents
 * @param normNumGroups        GroupNorm groups (eps 1e-6 throughout the decoder)
 * @param outChannels          image channels
 * @param scalingFactor        what the latents were multiplied by for the diffusion model
 * @param shiftFactor          subtracted before scaling (SD3 / Flux VAEs), 0 when the config has none
 * @param midBlockAddAttention whether the mid block has its self-attention
 * @param forceUpcast          diffusers runs such a VAE in fp32 even in a 16-bit pipeline; surpass
 *                             always decodes in fp32, so it is recorded only
 * @param usePostQuantConv     whether a 1×1 {@code post_quant_conv} runs before the decoder
 * @param inChannels           image channels the encoder takes
 * @param useQuantConv         whether a 1×1 {@code quant_conv} runs after the encoder
 */
public record AutoencoderKLConfig(int[] blockOutChannels, int layersPerBlock, int latentChannels, int normNumGroups, int outChannels,
                                  double scalingFactor, double shiftFactor, boolean midBlockAddAttention, boolean forceUpcast,
                                  boolean usePostQuantConv, int inChannels, boolean useQuantConv) {
    /** GroupNorm eps of every decoder norm (diffusers passes resnet_eps=1e-6 and eps=1e-6 everywhere in Decoder). */
    public static final float NORM_EPS = 1e-6f;

    public AutoencoderKLConfig {
        blockOutChannels = blockOutChannels.clone();
    }

    @Override
    public int[] blockOutChannels() {
        return blockOutChannels.clone();
    }

    /** How many times larger the image is than the latents in each direction: 2^(levels - 1). */
    public int upscale() {
        return 1 << (blockOutChannels.length - 1);
    }

    /** Reads {@code dir/config.json}. */
    public static AutoencoderKLConfig load(Path dir) {
        ConfigJson c = ConfigJson.load(dir, "AutoencoderKL");
        return of(c);
    }

    /**
     * Checks and reads a config object.
     *
     * @throws IllegalArgumentException naming the file and field for a value diffusers would not
     *                                  build, or one surpass does not run (another class, up block
     *                                  type or activation)
     */
    public static AutoencoderKLConfig of(ConfigJson c) {
        String w = c.where();
        String cls = c.text("_class_name", "AutoencoderKL");
        if (!cls.equals("AutoencoderKL")) {
            throw new IllegalArgumentException(w + ": field \"_class_name\" is \"" + cls + "\"; surpass decodes AutoencoderKL only");
        }
        int[] boc = intList(c, "block_out_channels", new int[] {64});
        int layers = c.optPositive("layers_per_block", 1);
        int latent = c.optPositive("latent_channels", 4);
        int groups = c.optPositive("norm_num_groups", 32);
        int out = c.optPositive("out_channels", 3);
        double scaling = c.optPositiveNumber("scaling_factor", 0.18215);
        double shift = 0;
        if (c.has("shift_factor")) {
            JsonNode v = c.node().get("shift_factor");
            if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
                throw new IllegalArgumentException(w + ": field \"shift_factor\" is " + v + "; expected a number or null");
            }
            shift = v.asDouble();
        }
        String act = c.text("act_fn", "silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw new IllegalArgumentException(w + ": field \"act_fn\" is \"" + act + "\"; surpass's VAE decoder runs silu (or its alias swish)");
        }
        JsonNode types = c.node().get("up_block_types");
        if (types != null && !types.isNull()) {
            if (!types.isArray() || types.size() != boc.length) {
                throw new IllegalArgumentException(w + ": field \"up_block_types\" is " + types + "; expected a list of " + boc.length
                        + " names, one per entry of block_out_channels");
            }
            for (JsonNode t : types) {
                if (!t.isTextual() || !t.asText().equals("UpDecoderBlock2D")) {
                    throw new IllegalArgumentException(w + ": field \"up_block_types\" has " + t + "; surpass decodes UpDecoderBlock2D blocks only");
                }
            }
        } else if (boc.length != 1) {
            throw new IllegalArgumentException(w + ": field \"up_block_types\" is missing; block_out_channels has " + boc.length + " entries");
        }
        for (int ch : boc) {
            if (ch % groups != 0) {
                throw new IllegalArgumentException(w + ": field \"norm_num_groups\" is " + groups + " but block_out_channels has " + ch
                        + ", which it does not divide (GroupNorm needs whole groups)");
            }
        }
        if (boc.length > 12) throw new IllegalArgumentException(w + ": field \"block_out_channels\" has " + boc.length + " levels; at most 12");
        return new AutoencoderKLConfig(boc, layers, latent, groups, out, scaling, shift, c.bool("mid_block_add_attention", true),
                c.bool("force_upcast", true), c.bool("use_post_quant_conv", true), c.optPositive("in_channels", 3), c.bool("use_quant_conv", true));
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
        return o instanceof AutoencoderKLConfig c && Arrays.equals(blockOutChannels, c.blockOutChannels) && layersPerBlock == c.layersPerBlock
                && latentChannels == c.latentChannels && normNumGroups == c.normNumGroups && outChannels == c.outChannels
                && Double.compare(scalingFactor, c.scalingFactor) == 0 && Double.compare(shiftFactor, c.shiftFactor) == 0
                && midBlockAddAttention == c.midBlockAddAttention && forceUpcast == c.forceUpcast && usePostQuantConv == c.usePostQuantConv
                && inChannels == c.inChannels && useQuantConv == c.useQuantConv;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(blockOutChannels) * 31 + java.util.Objects.hash(layersPerBlock, latentChannels, normNumGroups, outChannels,
                scalingFactor, shiftFactor, midBlockAddAttention, forceUpcast, usePostQuantConv, inChannels, useQuantConv);
    }

    @Override
    public String toString() {
        return "AutoencoderKLConfig[blockOutChannels=" + Arrays.toString(blockOutChannels) + ", layersPerBlock=" + layersPerBlock
                + ", latentChannels=" + latentChannels + ", normNumGroups=" + normNumGroups + ", outChannels=" + outChannels
                + ", scalingFactor=" + scalingFactor + ", shiftFactor=" + shiftFactor + ", midBlockAddAttention=" + midBlockAddAttention
                + ", forceUpcast=" + forceUpcast + ", usePostQuantConv=" + usePostQuantConv + ", inChannels=" + inChannels
                + ", useQuantConv=" + useQuantConv + "]";
    }
}
