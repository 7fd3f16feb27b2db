package dev.surpass.model.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * The text side of an HF CLIP config: a {@code CLIPTextConfig} (config.json of a
 * {@code CLIPTextModel} / {@code CLIPTextModelWithProjection}, model_type "clip_text_model", what a
 * Stable Diffusion pipeline ships in {@code text_encoder/}), or the {@code text_config} of a full
 * {@code CLIPConfig} (model_type "clip"). transformers saves only the fields that differ from the
 * class defaults, so missing fields take {@code CLIPTextConfig}'s: vocab_size 49408, hidden_size
 * 512, intermediate_size 2048, num_hidden_layers 12, num_attention_heads 8,
 * max_position_embeddings 77, hidden_act "quick_gelu", layer_norm_eps 1e-5, eos_token_id 49407,
 * projection_dim 512 (for a {@code CLIPConfig} its top-level projection_dim, default 512).
 *
 * @param vocabSize        rows of the token embedding
 * @param hiddenSize       model width D
 * @param intermediateSize width of the MLP's fc1
 * @param numLayers        encoder layers
 * @param numHeads         attention heads (D / heads each)
 * @param maxPositions     rows of the position embedding: the longest input
 * @param activation       the MLP activation (hidden_act)
 * @param layerNormEps     eps of every LayerNorm
 * @param eosTokenId       the id pooling looks for; 2 selects HF's legacy rule (argmax of the ids)
 * @param projectionDim    rows of text_projection when the checkpoint has one
 */
public record ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize, int numLayers, int numHeads, int maxPositions,
                             Act activation, float layerNormEps, int eosTokenId, int projectionDim) {
    /** The MLP activations a CLIP text config names (hidden_act), as transformers' ACT2FN defines them. */
    public enum Act {
        /** {@code x·σ(1.702x)}: openai CLIP and Stable Diffusion 1.x. */
        QUICK_GELU,
        /** Exact erf GELU: OpenCLIP-converted encoders (Stable Diffusion 2.x). */
        GELU,
        /** The tanh approximation ("gelu_new", "gelu_pytorch_tanh"). */
        GELU_TANH
    }

    public ClipTextConfig {
        if (hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not a multiple of num_attention_heads " + numHeads);
        }
    }

    /** Size of each head: hidden_size / num_attention_heads. */
    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** hidden_act (default quick_gelu), refused by name unless surpass runs it. */
    static Act activation(ConfigJson c) {
        String act = c.text("hidden_act", "quick_gelu");
        return switch (act) {
            case "quick_gelu" -> Act.QUICK_GELU;
            case "gelu" -> Act.GELU;
            case "gelu_new", "gelu_pytorch_tanh" -> Act.GELU_TANH;
            default -> throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act
                    + "\"; surpass runs quick_gelu, gelu, gelu_new and gelu_pytorch_tanh");
        };
    }

    /** True when {@code dir/config.json} is a CLIP text or full CLIP config (for {@code accepts}). */
    static boolean looksLikeClip(JsonNode n) {
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (t.equals("clip_text_model") || t.equals("clip")) return true;
        if (!t.isEmpty()) return false;
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText("");
            if (s.equals("CLIPTextModel") || s.equals("CLIPTextModelWithProjection") || s.equals("CLIPModel")) return true;
        }
        return false;
    }

    /** Reads {@code dir/config.json}. */
    public static ClipTextConfig load(Path dir) {
        return of(ConfigJson.load(dir, "CLIP text"));
    }

    /**
     * Checks and reads a CLIP text or full CLIP config.
     *
     * @throws IllegalArgumentException naming the file and field for another model type, a bad
     *                                  size, or an activation surpass does not run
     */
    public static ClipTextConfig of(ConfigJson root) {
        String w = root.where();
        String type = root.text("model_type", "");
        ConfigJson c = root;
        int projection;
        if (type.equals("clip") || (type.isEmpty() && (root.has("text_config") || root.has("text_config_dict")))) {
            String key = root.has("text_config") ? "text_config" : "text_config_dict";
            JsonNode t = root.node().get(key);
            if (t == null || !t.isObject()) {
                // CLIPConfig builds its text side from CLIPTextConfig's defaults when text_config is absent
                t = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
            }
            c = new ConfigJson(t, w + " (" + key + ")");
            projection = root.optPositive("projection_dim", 512);
        } else if (type.isEmpty() || type.equals("clip_text_model")) {
            projection = c.optPositive("projection_dim", 512);
        } else {
            throw new IllegalArgumentException(w + ": field \"model_type\" is \"" + type
                    + "\"; a CLIP text encoder has \"clip_text_model\" (or \"clip\" with a text_config)");
        }
        Act a = activation(c);
        int hidden = c.optPositive("hidden_size", 512);
        int heads = c.optPositive("num_attention_heads", 8);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": field \"hidden_size\" is " + hidden + ", not a multiple of num_attention_heads " + heads);
        }
        double eps = c.optPositiveNumber("layer_norm_eps", 1e-5);
        int[] eos = c.has("eos_token_id") ? c.eosIds() : new int[] {49407};
        if (eos.length != 1 || eos[0] < 0) {
            throw new IllegalArgumentException(c.where() + ": field \"eos_token_id\" is " + c.node().get("eos_token_id") + "; expected one id >= 0");
        }
        int vocab = c.optPositive("vocab_size", 49408);
        return new ClipTextConfig(vocab, hidden, c.optPositive("intermediate_size", 2048), c.optPositive("num_hidden_layers", 12), heads,
                c.optPositive("max_position_embeddings", 77), a, (float) eps, eos[0], projection);
    }
}
