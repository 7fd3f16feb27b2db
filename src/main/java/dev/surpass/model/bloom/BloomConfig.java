package dev.surpass.model.bloom;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * BLOOM's hyper-parameters from an HF {@code config.json}: {@code hidden_size} (or {@code n_embed}),
 * {@code n_layer} (or {@code num_hidden_layers}), {@code n_head} (or {@code num_attention_heads}),
 * {@code vocab_size}, {@code layer_norm_epsilon} (default 1e-5),
 * {@code apply_residual_connection_post_layernorm} (default false), {@code tie_word_embeddings}
 * (default true). The MLP is always 4·hidden wide (HF ignores {@code n_inner}). {@code pretraining_tp}
 * and {@code slow_but_exact} only change how HF slices the dense products (the same sums in
 * another order) and are accepted. ALiBi has no position table, so HF sets no length limit:
 * {@code seq_length} when present, else 65536, bounds a sequence (and the KV cache).
 */
public record BloomConfig(int hidden, int nLayer, int nHead, int vocabSize, int maxPositions, float layerNormEps,
                          boolean residualPostLayerNorm, boolean tieEmbeddings, int[] eosIds) {

    public int headDim() {
        return hidden / nHead;
    }

    public int intermediate() {
        return 4 * hidden;
    }

    /** True when {@code dir/config.json} names a BLOOM model (model_type or architectures). */
    public static boolean looksLikeBloom(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("bloom");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("BloomFor") || a.asText("").equals("BloomModel")) return true;
        return false;
    }

    public static BloomConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "BLOOM"));
    }

    public static BloomConfig parse(ConfigJson c) {
        int hidden = c.positive("n_embed", "hidden_size"); // HF: n_embed, when given, overrides hidden_size
        int layers = c.positive("n_layer", "num_hidden_layers");
        int heads = c.positive("n_head", "num_attention_heads");
        int vocab = c.positive("vocab_size");
        double eps = c.optPositiveNumber("layer_norm_epsilon", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of n_head " + heads);
        }
        return new BloomConfig(hidden, layers, heads, vocab, c.optPositive("seq_length", 65536), (float) eps,
                c.bool("apply_residual_connection_post_layernorm", false), c.bool("tie_word_embeddings", true), c.eosIds());
    }
}
