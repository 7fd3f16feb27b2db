package dev.surpass.model.mpt;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * MPT's hyper-parameters from an HF {@code config.json}: {@code d_model} (or {@code hidden_size}),
 * {@code n_heads}, {@code n_layers}, {@code vocab_size}, {@code max_seq_len} (default 2048),
 * {@code layer_norm_epsilon} (default 1e-5), and from {@code attn_config}: {@code alibi_bias_max}
 * (default 8) and {@code softmax_scale} (default 1/√head_dim); {@code tie_word_embeddings} (default true). HF's {@code MptForCausalLM} always
 * runs ALiBi, bias-free linears, LayerNorms without bias, a 4·d_model MLP and the tied head; a
 * config asking for anything else is refused by field: {@code attn_config.alibi} false,
 * {@code attn_config.qk_ln}, {@code attn_config.clip_qkv}, {@code attn_config.prefix_lm},
 * {@code attn_config.attn_uses_sequence_id}, {@code expansion_ratio} other than 4,
 * {@code logit_scale}, {@code no_bias} false.
 */
public record MptConfig(int hidden, int nLayer, int nHead, int vocabSize, int maxPositions, float layerNormEps, float alibiBiasMax,
                        float softmaxScale, boolean tieEmbeddings, int[] eosIds) {

    public int headDim() {
        return hidden / nHead;
    }

    public int intermediate() {
        return 4 * hidden;
    }

    /** True when {@code dir/config.json} names an MPT model (model_type or architectures). */
    public static boolean looksLikeMpt(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("mpt");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("MptFor") || a.asText("").equals("MptModel")) return true;
        return false;
    }

    public static MptConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "MPT"));
    }

    public static MptConfig parse(ConfigJson c) {
        int hidden = c.positive("d_model", "hidden_size");
        int layers = c.positive("n_layers", "num_hidden_layers");
        int heads = c.positive("n_heads", "num_attention_heads");
        int vocab = c.positive("vocab_size");
        int maxPos = c.optPositive("max_seq_len", 2048);
        double eps = c.optPositiveNumber("layer_norm_epsilon", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": d_model " + hidden + " is not a multiple of n_heads " + heads);
        }
        JsonNode a = c.node().path("attn_config");
        if (a.has("alibi") && !a.get("alibi").asBoolean(true)) refuse(c, "attn_config.alibi", "false", "only ALiBi models (HF's MptModel)");
        if (a.path("qk_ln").asBoolean(false)) refuse(c, "attn_config.qk_ln", "true", "false");
        if (a.hasNonNull("clip_qkv")) refuse(c, "attn_config.clip_qkv", a.get("clip_qkv").asText(), "null");
        if (a.path("prefix_lm").asBoolean(false)) refuse(c, "attn_config.prefix_lm", "true", "false");
        if (a.path("attn_uses_sequence_id").asBoolean(false)) refuse(c, "attn_config.attn_uses_sequence_id", "true", "false");
        if (c.has("expansion_ratio") && c.node().get("expansion_ratio").asDouble() != 4) {
            refuse(c, "expansion_ratio", c.node().get("expansion_ratio").asText(), "4 (HF's MptMLP is 4·d_model wide)");
        }
        if (c.has("logit_scale")) refuse(c, "logit_scale", c.node().get("logit_scale").asText(), "null");
        if (c.has("no_bias") && !c.node().get("no_bias").asBoolean(true)) refuse(c, "no_bias", "false", "true (HF's MPT has no biases)");
        double maxBias = a.hasNonNull("alibi_bias_max") ? c.positiveNumber(a, "alibi_bias_max", "attn_config.alibi_bias_max") : 8;
        double scale = a.hasNonNull("softmax_scale") ? c.positiveNumber(a, "softmax_scale", "attn_config.softmax_scale")
                : 1 / Math.sqrt((double) hidden / heads);
        return new MptConfig(hidden, layers, heads, vocab, maxPos, (float) eps, (float) maxBias, (float) scale,
                c.bool("tie_word_embeddings", true), c.eosIds());
    }

    private static void refuse(ConfigJson c, String field, String value, String supported) {
        throw new IllegalArgumentException(c.where() + ": field \"" + field + "\" is " + value + "; supported: " + supported);
    }
}
