package dev.surpass.model.flux;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * A diffusers {@code FluxTransformer2DModel} config.json (the {@code transformer/} folder of a
 * FluxPipeline), read as diffusers' {@code __init__} reads it; a missing field takes diffusers'
 * default (FLUX.1-dev / -schnell: 19 double and 38 single blocks, 24 heads of 128, joint 4096,
 * pooled 768, axes_dims_rope [16, 56, 56]; dev has {@code guidance_embeds true}).
 *
 * <p>Refused by name: another {@code _class_name}; {@code patch_size} other than 1 (every Flux
 * checkpoint packs its 2×2 patches outside the model; another size only widens proj_out and the
 * output would no longer be {@code [B, S, out_channels]}); an {@code attention_head_dim} the fused
 * attention does not run (32, 64, 72, 80, 96, 128, 256); {@code axes_dims_rope} that is not a list
 * of positive even sizes summing to {@code attention_head_dim} (diffusers would fail in
 * apply_rotary_emb); a non-boolean {@code guidance_embeds}.
 *
 * @param patchSize           1 (checked)
 * @param inChannels          packed latent channels in (Flux: 64 = 16 latent channels × 2 × 2)
 * @param outChannels         channels out (null in the file: in_channels)
 * @param numLayers           double-stream FluxTransformerBlocks (may be 0)
 * @param numSingleLayers     single-stream FluxSingleTransformerBlocks (may be 0)
 * @param attentionHeadDim    channels per head (Flux: 128)
 * @param numAttentionHeads   heads; the inner width is {@code heads · head_dim}
 * @param jointAttentionDim   width of the T5 states (Flux: 4096)
 * @param pooledProjectionDim width of the pooled CLIP embedding (Flux: 768)
 * @param guidanceEmbeds      whether the model embeds a guidance scale (FLUX.1-dev) beside the timestep
 * @param axesDimsRope        the rotary dims of the three id axes, summing to the head dim
 */
public record FluxTransformerConfig(int patchSize, int inChannels, int outChannels, int numLayers, int numSingleLayers, int attentionHeadDim,
                                    int numAttentionHeads, int jointAttentionDim, int pooledProjectionDim, boolean guidanceEmbeds,
                                    int[] axesDimsRope) {
    /** eps of every LayerNorm (adaLN, norm2, norm_out) and of the qk RMSNorms (fixed in diffusers). */
    public static final float EPS = 1e-6f;
    /** Width of the timestep's (and guidance's) sinusoidal embedding ({@code Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)}). */
    public static final int TIME_PROJ_DIM = 256;
    /** FluxPosEmbed's theta (fixed in diffusers). */
    public static final double ROPE_THETA = 10000.0;
    /** Head dims the fused attention runs. */
    static final Set<Integer> HEAD_DIMS = Set.of(32, 64, 72, 80, 96, 128, 256);

    public FluxTransformerConfig {
        axesDimsRope = axesDimsRope.clone();
    }

    @Override
    public int[] axesDimsRope() {
        return axesDimsRope.clone();
    }

    /** {@code num_attention_heads · attention_head_dim}: the width of both streams inside the blocks. */
    public int innerDim() {
        return numAttentionHeads * attentionHeadDim;
    }

    /** The single blocks' MLP width, {@code int(dim · 4.0)}. */
    public int mlpDim() {
        return 4 * innerDim();
    }

    /** Reads {@code dir/config.json}. */
    public static FluxTransformerConfig read(Path dir) {
        return of(ConfigJson.load(dir, "FluxTransformer2DModel"));
    }

    /**
     * Checks and reads a config object.
     *
     * @throws IllegalArgumentException naming the file and field for a value diffusers would not
     *                                  build or one surpass does not run
     */
    public static FluxTransformerConfig of(ConfigJson c) {
        String w = c.where();
        String cls = c.text("_class_name", "FluxTransformer2DModel");
        if (!cls.equals("FluxTransformer2DModel")) {
            throw new IllegalArgumentException(w + ": field \"_class_name\" is \"" + cls + "\"; expected FluxTransformer2DModel");
        }
        int patch = c.optPositive("patch_size", 1);
        if (patch != 1) {
            throw new IllegalArgumentException(w + ": field \"patch_size\" is " + patch + "; surpass runs Flux's 1 (the pipeline packs the 2×2 patches)");
        }
        int in = c.optPositive("in_channels", 64);
        int out = c.optPositive("out_channels", in);
        int layers = c.optPositiveOrZero("num_layers", 19);
        int single = c.optPositiveOrZero("num_single_layers", 38);
        int headDim = c.optPositive("attention_head_dim", 128);
        int heads = c.optPositive("num_attention_heads", 24);
        int joint = c.optPositive("joint_attention_dim", 4096);
        int pooled = c.optPositive("pooled_projection_dim", 768);
        boolean guidance = c.bool("guidance_embeds", false);
        if (!HEAD_DIMS.contains(headDim)) {
            throw new IllegalArgumentException(w + ": field \"attention_head_dim\" is " + headDim + "; the fused attention runs head dims "
                    + new TreeSet<>(HEAD_DIMS));
        }
        long inner = (long) heads * headDim;
        if (inner > 1 << 15) {
            throw new IllegalArgumentException(w + ": fields \"num_attention_heads\" · \"attention_head_dim\" = " + inner + "; at most 32768");
        }
        if (in > 1 << 14 || out > 1 << 14) {
            throw new IllegalArgumentException(w + ": fields \"in_channels\" " + in + ", \"out_channels\" " + out + ": too large (at most 16384)");
        }
        if (layers > 1 << 10 || single > 1 << 10) {
            throw new IllegalArgumentException(w + ": fields \"num_layers\" " + layers + ", \"num_single_layers\" " + single + ": at most 1024 each");
        }
        int[] axes = {16, 56, 56};
        if (c.has("axes_dims_rope")) {
            JsonNode a = c.node().get("axes_dims_rope");
            if (!a.isArray() || a.isEmpty()) {
                throw new IllegalArgumentException(w + ": field \"axes_dims_rope\" is " + a + "; expected a list of rotary dims, one per id axis");
            }
            axes = new int[a.size()];
            for (int i = 0; i < a.size(); i++) {
                JsonNode v = a.get(i);
                if (!v.canConvertToExactIntegral() || v.asLong() <= 0 || v.asLong() % 2 != 0 || v.asLong() > headDim) {
                    throw new IllegalArgumentException(w + ": field \"axes_dims_rope\" has entry " + v + "; expected positive even dims");
                }
                axes[i] = v.asInt();
            }
        }
        int sum = Arrays.stream(axes).sum();
        if (sum != headDim) {
            throw new IllegalArgumentException(w + ": field \"axes_dims_rope\" is " + Arrays.toString(axes) + ", summing to " + sum
                    + "; the rotary embedding covers the whole head, so the sum must be attention_head_dim " + headDim);
        }
        return new FluxTransformerConfig(patch, in, out, layers, single, headDim, heads, joint, pooled, guidance, axes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FluxTransformerConfig c && patchSize == c.patchSize && inChannels == c.inChannels && outChannels == c.outChannels
                && numLayers == c.numLayers && numSingleLayers == c.numSingleLayers && attentionHeadDim == c.attentionHeadDim
                && numAttentionHeads == c.numAttentionHeads && jointAttentionDim == c.jointAttentionDim
                && pooledProjectionDim == c.pooledProjectionDim && guidanceEmbeds == c.guidanceEmbeds && Arrays.equals(axesDimsRope, c.axesDimsRope);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(patchSize, inChannels, outChannels, numLayers, numSingleLayers, attentionHeadDim, numAttentionHeads,
                jointAttentionDim, pooledProjectionDim, guidanceEmbeds, Arrays.hashCode(axesDimsRope));
    }

    @Override
    public String toString() {
        return "FluxTransformerConfig[patch_size=" + patchSize + ", in_channels=" + inChannels + ", out_channels=" + outChannels + ", num_layers="
                + numLayers + ", num_single_layers=" + numSingleLayers + ", attention_head_dim=" + attentionHeadDim + ", num_attention_heads="
                + numAttentionHeads + ", joint_attention_dim=" + jointAttentionDim + ", pooled_projection_dim=" + pooledProjectionDim
                + ", guidance_embeds=" + guidanceEmbeds + ", axes_dims_rope=" + Arrays.toString(axesDimsRope) + "]";
    }
}
