package dev.surpass.model.starcoder2;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * StarCoder2's hyper-parameters from an HF {@code config.json} ({@code Starcoder2Config}):
 * {@code hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, vocab_size},
 * {@code num_key_value_heads} (default 2, as HF's), {@code max_position_embeddings} (default 4096),
 * {@code norm_epsilon} (default 1e-5), {@code hidden_act} (default "gelu_pytorch_tanh"; the tanh
 * GELUs or "gelu"), {@code use_bias} (default true: q/k/v/o, c_fc and c_proj biases),
 * {@code sliding_window} (default null: none), {@code tie_word_embeddings} (default true), and the
 * default RoPE over the whole head ({@code rope_theta}, default 10000, top level or in
 * {@code rope_parameters}); other RoPE types and a {@code head_dim} other than
 * {@code hidden_size / num_attention_heads} are refused.
 *
 * @param headDim       {@code hidden_size / num_attention_heads}
 * @param slidingWindow the keys a query sees (itself included), -1 for all
 */
public record Starcoder2Config(int hidden, int nLayer, int nHead, int nKvHead, int headDim, int intermediate, int vocabSize, int maxPositions,
                               float normEps, boolean geluTanh, boolean useBias, int slidingWindow, boolean tieEmbeddings, double ropeTheta,
                               int[] eosIds) {

    /** True when {@code dir/config.json} names a StarCoder2 model (model_type "starcoder2", or Starcoder2ForCausalLM / Starcoder2Model). */
    public static boolean looksLikeStarcoder2(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("starcoder2");
        for (JsonNode a : n.path("architectures")) {
            if (a.asText("").equals("Starcoder2ForCausalLM") || a.asText("").equals("Starcoder2Model")) return true;
        }
        return false;
    }

    public static Starcoder2Config load(Path dir) {
        return parse(ConfigJson.load(dir, "StarCoder2"));
    }

    public static Starcoder2Config parse(ConfigJson c) {
        String type = c.text("model_type", "starcoder2");
        if (!type.equals("starcoder2")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + type + "\" is not \"starcoder2\"");
        }
        int hidden = c.positive("hidden_size");
        int layers = c.positive("num_hidden_layers");
        int heads = c.positive("num_attention_heads");
        int kv = c.optPositive("num_key_value_heads", 2);
        int inter = c.positive("intermediate_size");
        int vocab = c.positive("vocab_size");
        int maxPos = c.optPositive("max_position_embeddings", 4096);
        double eps = c.optPositiveNumber("norm_epsilon", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        if (heads % kv != 0) {
            throw new IllegalArgumentException(c.where() + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kv);
        }
        int d = hidden / heads;
        if (c.has("head_dim") && c.positive("head_dim") != d) {
            throw new IllegalArgumentException(c.where() + ": field \"head_dim\" is " + c.positive("head_dim") + "; only hidden_size / num_attention_heads = "
                    + d + " is supported");
        }
        boolean tanh = c.geluTanh("hidden_act", "gelu_pytorch_tanh");
        ConfigJson.DefaultRope rope = c.defaultRope("StarCoder2", 10000, 1.0);
        if (rope.partialRotaryFactor() != 1.0) {
            throw new IllegalArgumentException(c.where() + ": field \"partial_rotary_factor\" is " + rope.partialRotaryFactor()
                    + "; StarCoder2 rotates the whole head (1.0)");
        }
        int window = c.has("sliding_window") ? c.positive("sliding_window") : -1;
        return new Starcoder2Config(hidden, layers, heads, kv, d, inter, vocab, maxPos, (float) eps, tanh, c.bool("use_bias", true), window,
                c.bool("tie_word_embeddings", true), rope.theta(), c.eosIds());
    }
}
