package dev.surpass.model.bert;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * A BERT encoder's hyper-parameters from an HF {@code config.json}: {@code hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings,
 * type_vocab_size} (default 2), {@code vocab_size}, {@code layer_norm_eps} (default 1e-12) and
 * {@code hidden_act} (only the exact erf GELU, "gelu"). Only absolute position embeddings.
 */
public record BertConfig(int hiddenSize, int numLayers, int numHeads, int intermediateSize, int maxPositions, int typeVocabSize,
                         int vocabSize, float layerNormEps) {

    public BertConfig {
        check("hiddenSize", hiddenSize);
        check("numLayers", numLayers);
        check("numHeads", numHeads);
        check("intermediateSize", intermediateSize);
        check("maxPositions", maxPositions);
        check("typeVocabSize", typeVocabSize);
        check("vocabSize", vocabSize);
        if (hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("BertConfig: hiddenSize " + hiddenSize + " is not a multiple of numHeads " + numHeads);
        }
        if (!(layerNormEps > 0) || !Float.isFinite(layerNormEps)) {
            throw new IllegalArgumentException("BertConfig: layerNormEps is " + layerNormEps + "; expected a positive number");
        }
    }

    private static void check(String name, int v) {
        if (v <= 0) throw new IllegalArgumentException("BertConfig: " + name + " is " + v + "; expected a positive integer");
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** True when {@code dir/config.json} names a BERT encoder (model_type or architectures). */
    public static boolean looksLikeBert(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        if (n.path("model_type").asText("").equals("bert")) return true;
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText("");
            if (s.equals("BertModel") || s.startsWith("BertFor")) return true;
        }
        return false;
    }

    public static BertConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "BERT"));
    }

    public static BertConfig parse(ConfigJson c) {
        int hidden = c.positive("hidden_size");
        int layers = c.positive("num_hidden_layers");
        int heads = c.positive("num_attention_heads");
        int inter = c.positive("intermediate_size");
        int maxPos = c.positive("max_position_embeddings");
        int types = c.optPositive("type_vocab_size", 2);
        int vocab = c.positive("vocab_size");
        double eps = c.optPositiveNumber("layer_norm_eps", 1e-12);
        String act = c.text("hidden_act", "gelu");
        if (!act.equals("gelu")) {
            throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act + "\"; only \"gelu\" (exact erf) is supported");
        }
        String pos = c.text("position_embedding_type", "absolute");
        if (!pos.equals("absolute")) {
            throw new IllegalArgumentException(c.where() + ": field \"position_embedding_type\" is \"" + pos + "\"; only \"absolute\" is supported");
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        return new BertConfig(hidden, layers, heads, inter, maxPos, types, vocab, (float) eps);
    }
}
