package dev.surpass.model.bert;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * A BERT encoder's hyper-parameters from an HF {@code config.json}: {@code hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings,
 * type_vocab_size} (default 2), {@code vocab_size}, {@code layer_norm_eps} (default 1e-12) and
 * {@code hidden_act} (only the exact erf GELU, "gelu"). Only absolute position embeddings. DistilBERT
 * ({@code model_type} "distilbert") is read from its own field names as the same encoder with one token type.
 *
 * <p>RoBERTa and XLM-RoBERTa ({@code model_type} "roberta" / "xlm-roberta") are the same encoder
 * with HF's position ids counted from the padding id: a token that is not {@code pad_token_id}
 * (default 1) at its sequence's k-th non-pad place gets position {@code pad_token_id + k}, a pad
 * token gets {@code pad_token_id} ({@code create_position_ids_from_input_ids}).
 *
 * <p>MPNet ({@code model_type} "mpnet", transformers' {@code MPNetModel}) is the same post-LN encoder
 * without token types (one type, whose embedding is zero), positions counted from padding id 1
 * (HF's {@code MPNetEmbeddings} fixes {@code padding_idx = 1} whatever {@code pad_token_id} says),
 * and a T5-style bidirectional relative position bias ({@code relative_attention_num_buckets}
 * rows, default 32; HF buckets into 32 whatever the field says, so fewer rows are refused) added to
 * every layer's attention scores; {@code layer_norm_eps} defaults to 1e-12 as in BERT.
 *
 * @param paddingIdx RoBERTa's {@code pad_token_id}, from which positions count; -1 for BERT (position = index)
 * @param relativeBuckets MPNet's {@code relative_attention_num_buckets} (rows of the relative bias table); 0 for the others
 */
public record BertConfig(int hiddenSize, int numLayers, int numHeads, int intermediateSize, int maxPositions, int typeVocabSize,
                         int vocabSize, float layerNormEps, int paddingIdx, int relativeBuckets) {

    /** The buckets MPNet's relative position bias uses (transformers' {@code compute_position_bias} default). */
    public static final int MPNET_BUCKETS = 32;

    /** A BERT or RoBERTa config (no relative position bias). */
    public BertConfig(int hiddenSize, int numLayers, int numHeads, int intermediateSize, int maxPositions, int typeVocabSize, int vocabSize,
                      float layerNormEps, int paddingIdx) {
        this(hiddenSize, numLayers, numHeads, intermediateSize, maxPositions, typeVocabSize, vocabSize, layerNormEps, paddingIdx, 0);
    }

    /** True for MPNet: a relative position bias on the attention scores. */
    public boolean mpnet() {
        return relativeBuckets > 0;
    }

    /** A BERT config (positions are indices). */
    public BertConfig(int hiddenSize, int numLayers, int numHeads, int intermediateSize, int maxPositions, int typeVocabSize, int vocabSize,
                      float layerNormEps) {
        this(hiddenSize, numLayers, numHeads, intermediateSize, maxPositions, typeVocabSize, vocabSize, layerNormEps, -1, 0);
    }

    /** True for RoBERTa-style positions. */
    public boolean robertaPositions() {
        return paddingIdx >= 0;
    }

    /** The longest sequence the position table takes: max_position_embeddings, less RoBERTa's pad_token_id + 1. */
    public int maxTokens() {
        return paddingIdx < 0 ? maxPositions : maxPositions - paddingIdx - 1;
    }

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
        if (relativeBuckets != 0 && relativeBuckets < MPNET_BUCKETS) {
            throw new IllegalArgumentException("BertConfig: relativeBuckets is " + relativeBuckets + "; expected 0 (none) or at least " + MPNET_BUCKETS);
        }
        if (relativeBuckets != 0 && paddingIdx < 0) {
            throw new IllegalArgumentException("BertConfig: relativeBuckets " + relativeBuckets + " needs positions counted from a padding id (paddingIdx >= 0)");
        }
    }

    private static void check(String name, int v) {
        if (v <= 0) throw new IllegalArgumentException("BertConfig: " + name + " is " + v + "; expected a positive integer");
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** True when {@code dir/config.json} names a BERT, RoBERTa, XLM-RoBERTa, DistilBERT or MPNet encoder (model_type or architectures). */
    public static boolean looksLikeBert(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (t.equals("bert") || t.equals("roberta") || t.equals("xlm-roberta") || t.equals("distilbert") || t.equals("mpnet")) return true;
        if (!t.isEmpty()) return false;
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText("");
            for (String f : new String[] {"Bert", "Roberta", "XLMRoberta", "DistilBert", "MPNet"}) if (s.equals(f + "Model") || s.startsWith(f + "For")) return true;
        }
        return false;
    }

    /** True when the config is DistilBERT's (model_type or architectures). */
    static boolean isDistilBert(JsonNode n) {
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("distilbert");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("DistilBert")) return true;
        return false;
    }

    /** True when the config is MPNet's (model_type or architectures). */
    static boolean isMpnet(JsonNode n) {
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("mpnet");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("MPNet")) return true;
        return false;
    }

    /** True when the config is RoBERTa's or XLM-RoBERTa's (model_type or architectures). */
    static boolean isRoberta(JsonNode n) {
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("roberta") || t.equals("xlm-roberta");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("Roberta") || a.asText("").startsWith("XLMRoberta")) return true;
        return false;
    }

    public static BertConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "BERT"));
    }

    public static BertConfig parse(ConfigJson c) {
        if (isDistilBert(c.node())) return parseDistilBert(c);
        boolean mpnet = isMpnet(c.node());
        int hidden = c.positive("hidden_size");
        int layers = c.positive("num_hidden_layers");
        int heads = c.positive("num_attention_heads");
        int inter = c.positive("intermediate_size");
        int maxPos = c.positive("max_position_embeddings");
        int types = mpnet ? 1 : c.optPositive("type_vocab_size", 2);
        int vocab = c.positive("vocab_size");
        double eps = c.optPositiveNumber("layer_norm_eps", 1e-12);
        String act = c.text("hidden_act", "gelu");
        if (!act.equals("gelu")) {
            throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act + "\"; only \"gelu\" (exact erf) is supported");
        }
        String pos = c.text("position_embedding_type", "absolute");
        if (!mpnet && !pos.equals("absolute")) {
            throw new IllegalArgumentException(c.where() + ": field \"position_embedding_type\" is \"" + pos + "\"; only \"absolute\" is supported");
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        int pad = -1;
        if (isRoberta(c.node())) {
            pad = c.optPositiveOrZero("pad_token_id", 1);
            if (pad + 1 >= maxPos) {
                throw new IllegalArgumentException(c.where() + ": pad_token_id " + pad + " leaves no positions in max_position_embeddings " + maxPos);
            }
        }
        int buckets = 0;
        if (mpnet) {
            pad = 1; // MPNetEmbeddings.padding_idx
            if (pad + 1 >= maxPos) {
                throw new IllegalArgumentException(c.where() + ": max_position_embeddings " + maxPos + " leaves no positions after padding id 1");
            }
            buckets = c.optPositive("relative_attention_num_buckets", MPNET_BUCKETS);
            if (buckets < MPNET_BUCKETS) {
                throw new IllegalArgumentException(c.where() + ": field \"relative_attention_num_buckets\" is " + buckets + "; MPNet buckets relative"
                        + " positions into " + MPNET_BUCKETS + ", so at least " + MPNET_BUCKETS + " are needed");
            }
        }
        return new BertConfig(hidden, layers, heads, inter, maxPos, types, vocab, (float) eps, pad, buckets);
    }

    /**
     * DistilBERT's fields ({@code dim, n_layers, n_heads, hidden_dim, activation}): the same post-LN
     * encoder without token types (one type, whose embedding is zero) and with LayerNorm eps fixed
     * at 1e-12 (transformers' {@code modeling_distilbert}).
     */
    private static BertConfig parseDistilBert(ConfigJson c) {
        int hidden = c.positive("dim");
        int layers = c.positive("n_layers");
        int heads = c.positive("n_heads");
        int inter = c.positive("hidden_dim");
        int maxPos = c.positive("max_position_embeddings");
        int vocab = c.positive("vocab_size");
        String act = c.text("activation", "gelu");
        if (!act.equals("gelu")) {
            throw new IllegalArgumentException(c.where() + ": field \"activation\" is \"" + act + "\"; only \"gelu\" (exact erf) is supported");
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": dim " + hidden + " is not a multiple of n_heads " + heads);
        }
        return new BertConfig(hidden, layers, heads, inter, maxPos, 1, vocab, 1e-12f, -1);
    }
}
