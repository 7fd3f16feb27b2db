package dev.surpass.model.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * The vision side of an HF CLIP config: a {@code CLIPVisionConfig} (model_type
 * "clip_vision_model", {@code CLIPVisionModel} / {@code CLIPVisionModelWithProjection}) or the
 * {@code vision_config} of a full {@code CLIPConfig}. Missing fields take CLIPVisionConfig's
 * defaults: hidden_size 768, intermediate_size 3072, num_hidden_layers 12, num_attention_heads 12,
 * num_channels 3, image_size 224, patch_size 32, hidden_act "quick_gelu", layer_norm_eps 1e-5,
 * projection_dim 512 (a CLIPConfig's top-level one).
 *
 * @param hiddenSize       width D
 * @param intermediateSize width of the MLP's fc1
 * @param numLayers        encoder layers
 * @param numHeads         attention heads
 * @param numChannels      image channels
 * @param imageSize        the square image's side in pixels
 * @param patchSize        the square patch's side: (imageSize / patchSize)² patches and one class token
 * @param activation       the MLP activation
 * @param layerNormEps     eps of every LayerNorm
 * @param projectionDim    rows of visual_projection when the checkpoint has one
 */
public record ClipVisionConfig(int hiddenSize, int intermediateSize, int numLayers, int numHeads, int numChannels, int imageSize,
                               int patchSize, ClipTextConfig.Act activation, float layerNormEps, int projectionDim) {
    /** Patches per side. */
    public int grid() {
        return imageSize / patchSize;
    }

    /** Tokens per image: the class token and grid² patches. */
    public int tokens() {
        return grid() * grid() + 1;
    }

    public static ClipVisionConfig load(Path dir) {
        return of(ConfigJson.load(dir, "CLIP vision"));
    }

    /**
     * Checks and reads a CLIP vision or full CLIP config.
     *
     * @throws IllegalArgumentException naming the file and field for another model type, a bad
     *                                  size or an activation surpass does not run
     */
    public static ClipVisionConfig of(ConfigJson root) {
        String w = root.where();
        String type = root.text("model_type", "");
        ConfigJson c = root;
        int projection;
        if (type.equals("clip") || (type.isEmpty() && (root.has("vision_config") || root.has("vision_config_dict")))) {
            String key = root.has("vision_config") ? "vision_config" : "vision_config_dict";
            JsonNode v = root.node().get(key);
            if (v == null || !v.isObject()) v = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
            c = new ConfigJson(v, w + " (" + key + ")");
            projection = root.optPositive("projection_dim", 512);
        } else if (type.isEmpty() || type.equals("clip_vision_model")) {
            projection = c.optPositive("projection_dim", 512);
        } else {
            throw new IllegalArgumentException(w + ": field \"model_type\" is \"" + type
                    + "\"; a CLIP vision encoder has \"clip_vision_model\" (or \"clip\" with a vision_config)");
        }
        ClipTextConfig.Act a = ClipTextConfig.activation(c);
        int hidden = c.optPositive("hidden_size", 768), heads = c.optPositive("num_attention_heads", 12);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": field \"hidden_size\" is " + hidden + ", not a multiple of num_attention_heads " + heads);
        }
        int image = c.optPositive("image_size", 224), patch = c.optPositive("patch_size", 32);
        if (image % patch != 0) {
            throw new IllegalArgumentException(c.where() + ": field \"image_size\" is " + image + ", not a multiple of patch_size " + patch);
        }
        return new ClipVisionConfig(hidden, c.optPositive("intermediate_size", 3072), c.optPositive("num_hidden_layers", 12), heads,
                c.optPositive("num_channels", 3), image, patch, a, (float) c.optPositiveNumber("layer_norm_eps", 1e-5), projection);
    }
}
