package dev.surpass.model.stablelm;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * StableLM's hyper-parameters from an HF {@code config.json} ({@code StableLmConfig}: stablelm-3b-4e1t,
 * stablelm-2): {@code hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, vocab_size},
 * {@code num_key_value_heads} (default 32, as HF's), {@code max_position_embeddings} (default 4096),
 * {@code layer_norm_eps} (default 1e-5), {@code hidden_act} (only "silu", the default),
 * {@code use_qkv_bias} (default false), {@code qk_layernorm} (default false: a LayerNorm without bias
 * per head of q and of k, each head its own weight), {@code use_parallel_residual} (default false),
 * {@code tie_word_embeddings} (default false), and the default RoPE on the first
 * {@code int(head_dim · partial_rotary_factor)} dims (default 0.25; {@code rope_theta} default 10000;
 * top level or in {@code rope_parameters}).
 *
 * @param headDim   {@code hidden_size / num_attention_heads}
 * @param rotaryDim the dims of each head that rotate
 */
public record StableLmConfig(int hidden, int nLayer, int nHead, int nKvHead, int headDim, int intermediate, int vocabSize, int maxPositions,
                             float layerNormEps, boolean qkvBias, boolean qkLayerNorm, boolean parallelResidual, boolean tieEmbeddings,
                             int rotaryDim, double ropeTheta, int[] eosIds) {

    /** True when {@code dir/config.json} names a StableLM model (model_type "stablelm", or StableLmForCausalLM / StableLmModel). */
    public static boolean looksLikeStableLm(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("stablelm");
        for (JsonNode a : n.path("architectures")) {
            if (a.asText("").equals("StableLmForCausalLM") || a.asText("").equals("StableLmModel")) return true;
        }
        return false;
    }

    public static StableLmConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "StableLM"));
    }

    public static StableLmConfig parse(ConfigJson c) {
        String type = c.text("model_type", "stablelm");
        if (!type.equals("stablelm")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + type + "\" is not \"stablelm\"");
        }
        int hidden = c.positive("hidden_size");
        int layers = c.positive("num_hidden_layers");
        int heads = c.positive("num_attention_heads");
        int kv = c.optPositive("num_key_value_heads", 32);
        int inter = c.positive("intermediate_size");
        int vocab = c.positive("vocab_size");
        int maxPos = c.optPositive("max_position_embeddings", 4096);
        double eps = c.optPositiveNumber("layer_norm_eps", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        if (heads % kv != 0) {
            throw new IllegalArgumentException(c.where() + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kv);
        }
        String act = c.text("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act + "\"; StableLM supports \"silu\" (SwiGLU)");
        }
        ConfigJson.DefaultRope rope = c.defaultRope("StableLM", 10000, 0.25);
        int d = hidden / heads;
        int rot = (int) (d * rope.partialRotaryFactor());
        if (!(rope.partialRotaryFactor() <= 1) || rot < 2 || rot % 2 != 0) {
            throw new IllegalArgumentException(c.where() + ": head_dim " + d + " · partial_rotary_factor " + rope.partialRotaryFactor() + " = " + rot
                    + " rotary dims; expected a factor in (0, 1] giving an even number >= 2");
        }
        return new StableLmConfig(hidden, layers, heads, kv, d, inter, vocab, maxPos, (float) eps, c.bool("use_qkv_bias", false),
                c.bool("qk_layernorm", false), c.bool("use_parallel_residual", false), c.bool("tie_word_embeddings", false), rot, rope.theta(),
                c.eosIds());
    }
}
