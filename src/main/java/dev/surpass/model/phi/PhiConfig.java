package dev.surpass.model.phi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * Phi-1 / Phi-1.5 / Phi-2's hyper-parameters from an HF {@code config.json} ({@code PhiConfig}):
 * {@code hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, vocab_size},
 * {@code num_key_value_heads} (default: the attention heads), {@code max_position_embeddings}
 * (default 2048), {@code layer_norm_eps} (default 1e-5), {@code hidden_act} (default "gelu_new":
 * the tanh GELU; "gelu": erf), {@code qk_layernorm} (default false), {@code tie_word_embeddings}
 * (default false), and the partial rotary embedding: {@code partial_rotary_factor} (default 0.5)
 * and {@code rope_theta} (default 10000), top level (transformers 4) or in {@code rope_parameters}
 * (5: a top-level partial_rotary_factor wins, the object's rope_theta wins, as its
 * standardize_rope_params); only the default RoPE.
 *
 * @param headDim   {@code hidden_size / num_attention_heads}
 * @param rotaryDim the dims of each head that rotate: {@code int(head_dim · partial_rotary_factor)}, as HF
 */
public record PhiConfig(int hidden, int nLayer, int nHead, int nKvHead, int headDim, int intermediate, int vocabSize, int maxPositions,
                        float layerNormEps, boolean geluTanh, boolean qkLayerNorm, boolean tieEmbeddings, int rotaryDim, double ropeTheta,
                        int[] eosIds) {

    /** True when {@code dir/config.json} names a Phi model (model_type "phi", or PhiForCausalLM / PhiModel). */
    public static boolean looksLikePhi(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("phi");
        for (JsonNode a : n.path("architectures")) if (a.asText("").equals("PhiForCausalLM") || a.asText("").equals("PhiModel")) return true;
        return false;
    }

    public static PhiConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "Phi"));
    }

    public static PhiConfig parse(ConfigJson c) {
        String type = c.text("model_type", "phi");
        if (!type.equals("phi")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + type + "\" is not \"phi\" (Phi-3 folders load as Llama)");
        }
        int hidden = c.positive("hidden_size");
        int layers = c.positive("num_hidden_layers");
        int heads = c.positive("num_attention_heads");
        int kv = c.optPositive("num_key_value_heads", heads);
        int inter = c.positive("intermediate_size");
        int vocab = c.positive("vocab_size");
        int maxPos = c.optPositive("max_position_embeddings", 2048);
        double eps = c.optPositiveNumber("layer_norm_eps", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        if (heads % kv != 0) {
            throw new IllegalArgumentException(c.where() + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kv);
        }
        boolean tanh = c.geluTanh("hidden_act", "gelu_new");
        // transformers 5 copies a top-level partial_rotary_factor over the RoPE object's, and keeps the object's rope_theta
        ConfigJson.DefaultRope rope = c.defaultRope("Phi", 10000, 0.5);
        double pct = rope.partialRotaryFactor(), theta = rope.theta();
        int d = hidden / heads;
        int rot = (int) (d * pct);
        if (!(pct <= 1) || rot < 2 || rot % 2 != 0) {
            throw new IllegalArgumentException(c.where() + ": head_dim " + d + " · partial_rotary_factor " + pct + " = " + rot
                    + " rotary dims; expected a factor in (0, 1] giving an even number >= 2");
        }
        return new PhiConfig(hidden, layers, heads, kv, d, inter, vocab, maxPos, (float) eps, tanh, c.bool("qk_layernorm", false),
                c.bool("tie_word_embeddings", false), rot, theta, c.eosIds());
    }
}
