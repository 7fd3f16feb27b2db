package dev.surpass.model.sd3;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * A diffusers {@code SD3Transformer2DModel} config.json (the {@code transformer/} folder of a Stable
 * Diffusion 3 / 3.5 pipeline), read as diffusers' {@code __init__} reads it; a missing field takes
 * diffusers' default.
 *
 * <p>The three released shapes: SD3-medium (24 layers, 24 heads of 64, no qk_norm, no dual
 * attention), SD3.5-large (38 layers, 38 heads, {@code qk_norm "rms_norm"}) and SD3.5-medium
 * (24 layers, {@code qk_norm "rms_norm"}, {@code dual_attention_layers} 0..12: those blocks take
 * SD35AdaLayerNormZeroX and a second, image-only self-attention {@code attn2}).
 *
 * <p>Refused by name: another {@code _class_name}; {@code qk_norm} other than null or
 * {@code "rms_norm"}; a {@code caption_projection_dim} other than the inner width
 * {@code num_attention_heads · attention_head_dim} (the context stream runs through the blocks'
 * inner-width norms, so diffusers builds such a model but cannot run it); a missing or null
 * {@code pos_embed_max_size} (every SD3 checkpoint crops its position table);
 * {@code dual_attention_layers} entries outside {@code [0, num_layers)} or repeated; an
 * {@code attention_head_dim} the fused attention does not run (32, 64, 72, 80, 96, 128, 256);
 * {@code sample_size} / {@code pos_embed_max_size} below the patch size or a {@code sample_size}
 * that is no multiple of it.
 *
 * @param sampleSize          the latents' training size; sets the position table's {@code base_size = sample_size / patch_size}
 * @param patchSize           side of the square patches (SD3: 2)
 * @param inChannels          latent channels in (SD3: 16)
 * @param numLayers           JointTransformerBlocks; the last one is context_pre_only
 * @param attentionHeadDim    channels per head (SD3: 64)
 * @param numAttentionHeads   heads; the inner width is {@code heads · head_dim}
 * @param jointAttentionDim   width of the text encoders' joint states (SD3: 4096)
 * @param captionProjectionDim width context_embedder projects the text states to (the inner width)
 * @param pooledProjectionDim width of the pooled text embedding (SD3: 2048)
 * @param outChannels         latent channels out (null in the file: in_channels)
 * @param posEmbedMaxSize     side of the stored position table in patches; H/p and W/p may not exceed it
 * @param dualAttentionLayers sorted block indices with the second, image-only attention (SD3.5-medium: 0..12)
 * @param qkNorm              null, or {@link #RMS_NORM}: RMSNorm (eps 1e-6, with weight) of every head's q and k, both streams
 */
public record SD3TransformerConfig(int sampleSize, int patchSize, int inChannels, int numLayers, int attentionHeadDim,
                                   int numAttentionHeads, int jointAttentionDim, int captionProjectionDim, int pooledProjectionDim,
                                   int outChannels, int posEmbedMaxSize, int[] dualAttentionLayers, String qkNorm) {
    /** The one qk_norm surpass runs. */
    public static final String RMS_NORM = "rms_norm";
    /** eps of every LayerNorm (adaLN, norm2, norm_out) and of the qk RMSNorms (fixed in diffusers). */
    public static final float EPS = 1e-6f;
    /** Width of the timestep's sinusoidal embedding ({@code Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)}). */
    public static final int TIME_PROJ_DIM = 256;
    /** Head dims the fused attention runs. */
    static final Set<Integer> HEAD_DIMS = Set.of(32, 64, 72, 80, 96, 128, 256);

    public SD3TransformerConfig {
        dualAttentionLayers = dualAttentionLayers.clone();
    }

    @Override
    public int[] dualAttentionLayers() {
        return dualAttentionLayers.clone();
    }

    /** {@code num_attention_heads · attention_head_dim}: the width of both streams inside the blocks. */
    public int innerDim() {
        return numAttentionHeads * attentionHeadDim;
    }

    /** Whether block {@code i} has the second, image-only attention (SD35AdaLayerNormZeroX, 9 modulation chunks). */
    public boolean dualAttention(int i) {
        return Arrays.binarySearch(dualAttentionLayers, i) >= 0;
    }

    /** Whether block {@code i} is context_pre_only (the last one): its text stream ends after the attention's keys and values. */
    public boolean contextPreOnly(int i) {
        return i == numLayers - 1;
    }

    /** Whether q and k are RMS-normalized per head. */
    public boolean rmsQkNorm() {
        return RMS_NORM.equals(qkNorm);
    }

    /** {@code sample_size / patch_size}: the position table's {@code base_size}. */
    public int baseSize() {
        return sampleSize / patchSize;
    }

    /** Reads {@code dir/config.json}. */
    public static SD3TransformerConfig read(Path dir) {
        return of(ConfigJson.load(dir, "SD3Transformer2DModel"));
    }

    /**
     * Checks and reads a config object.
     *
     * @throws IllegalArgumentException naming the file and field for a value diffusers would not
     *                                  build or one surpass does not run
     */
    public static SD3TransformerConfig of(ConfigJson c) {
        String w = c.where();
        String cls = c.text("_class_name", "SD3Transformer2DModel");
        if (!cls.equals("SD3Transformer2DModel")) {
            throw new IllegalArgumentException(w + ": field \"_class_name\" is \"" + cls + "\"; expected SD3Transformer2DModel");
        }
        int sample = c.optPositive("sample_size", 128);
        int patch = c.optPositive("patch_size", 2);
        int in = c.optPositive("in_channels", 16);
        int layers = c.optPositive("num_layers", 18);
        int headDim = c.optPositive("attention_head_dim", 64);
        int heads = c.optPositive("num_attention_heads", 18);
        int joint = c.optPositive("joint_attention_dim", 4096);
        int caption = c.optPositive("caption_projection_dim", 1152);
        int pooled = c.optPositive("pooled_projection_dim", 2048);
        int out = c.optPositive("out_channels", in);
        if (!c.has("pos_embed_max_size")) {
            throw new IllegalArgumentException(w + ": field \"pos_embed_max_size\" is " + (c.node().has("pos_embed_max_size") ? "null" : "missing")
                    + "; surpass runs SD3's cropped position table, which needs it (SD3: 96 or 192)");
        }
        int maxSize = c.positive("pos_embed_max_size");
        if (!HEAD_DIMS.contains(headDim)) {
            throw new IllegalArgumentException(w + ": field \"attention_head_dim\" is " + headDim + "; the fused attention runs head dims "
                    + new TreeSet<>(HEAD_DIMS));
        }
        long inner = (long) heads * headDim;
        if (inner > 1 << 16) {
            throw new IllegalArgumentException(w + ": fields \"num_attention_heads\" · \"attention_head_dim\" = " + inner + "; at most 65536");
        }
        if (caption != inner) {
            throw new IllegalArgumentException(w + ": field \"caption_projection_dim\" is " + caption + " but num_attention_heads · attention_head_dim is "
                    + inner + "; the text stream runs at the inner width, so they must be equal");
        }
        if (sample < patch || sample % patch != 0) {
            throw new IllegalArgumentException(w + ": field \"sample_size\" is " + sample + "; expected a positive multiple of patch_size " + patch);
        }
        if (maxSize > 1 << 12 || (long) maxSize * maxSize * inner > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(w + ": field \"pos_embed_max_size\" is " + maxSize + "; its " + maxSize + "² × " + inner
                    + " position table is too large");
        }
        if (in > 1 << 12 || out > 1 << 12 || patch > 64) {
            throw new IllegalArgumentException(w + ": fields \"in_channels\" " + in + ", \"out_channels\" " + out + ", \"patch_size\" " + patch
                    + ": too large (at most 4096, 4096, 64)");
        }
        int[] dual = new int[0];
        if (c.has("dual_attention_layers")) {
            JsonNode d = c.node().get("dual_attention_layers");
            if (!d.isArray()) throw new IllegalArgumentException(w + ": field \"dual_attention_layers\" is " + d + "; expected a list of block indices");
            dual = new int[d.size()];
            for (int i = 0; i < d.size(); i++) {
                JsonNode v = d.get(i);
                if (!v.canConvertToExactIntegral() || v.asLong() < 0 || v.asLong() >= layers) {
                    throw new IllegalArgumentException(w + ": field \"dual_attention_layers\" has entry " + v + "; expected block indices in [0, "
                            + layers + ") (num_layers " + layers + ")");
                }
                dual[i] = v.asInt();
            }
            Arrays.sort(dual);
            for (int i = 1; i < dual.length; i++) {
                if (dual[i] == dual[i - 1]) {
                    throw new IllegalArgumentException(w + ": field \"dual_attention_layers\" lists block " + dual[i] + " twice");
                }
            }
        }
        String qk = c.text("qk_norm", null);
        if (qk != null && !qk.equals(RMS_NORM)) {
            throw new IllegalArgumentException(w + ": field \"qk_norm\" is \"" + qk + "\"; surpass runs SD3's null or \"rms_norm\"");
        }
        return new SD3TransformerConfig(sample, patch, in, layers, headDim, heads, joint, caption, pooled, out, maxSize, dual, qk);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SD3TransformerConfig c && sampleSize == c.sampleSize && patchSize == c.patchSize && inChannels == c.inChannels
                && numLayers == c.numLayers && attentionHeadDim == c.attentionHeadDim && numAttentionHeads == c.numAttentionHeads
                && jointAttentionDim == c.jointAttentionDim && captionProjectionDim == c.captionProjectionDim
                && pooledProjectionDim == c.pooledProjectionDim && outChannels == c.outChannels && posEmbedMaxSize == c.posEmbedMaxSize
                && Arrays.equals(dualAttentionLayers, c.dualAttentionLayers) && java.util.Objects.equals(qkNorm, c.qkNorm);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(sampleSize, patchSize, inChannels, numLayers, attentionHeadDim, numAttentionHeads, jointAttentionDim,
                captionProjectionDim, pooledProjectionDim, outChannels, posEmbedMaxSize, Arrays.hashCode(dualAttentionLayers), qkNorm);
    }

    @Override
    public String toString() {
        return "SD3TransformerConfig[sample_size=" + sampleSize + ", patch_size=" + patchSize + ", in_channels=" + inChannels + ", num_layers="
                + numLayers + ", attention_head_dim=" + attentionHeadDim + ", num_attention_heads=" + numAttentionHeads
                + ", joint_attention_dim=" + jointAttentionDim + ", caption_projection_dim=" + captionProjectionDim
                + ", pooled_projection_dim=" + pooledProjectionDim + ", out_channels=" + outChannels + ", pos_embed_max_size="
                + posEmbedMaxSize + ", dual_attention_layers=" + Arrays.toString(dualAttentionLayers) + ", qk_norm=" + qkNorm + "]";
    }
}
