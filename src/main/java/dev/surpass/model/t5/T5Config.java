package dev.surpass.model.t5;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * The fields of a T5 {@code config.json} the encoder uses (transformers' {@code T5Config}; mt5's is
 * the same). {@code feed_forward_proj} is parsed as T5Config does: {@code "gated-ACT"} or
 * {@code "ACT"}, the activation named as in transformers' ACT2FN, with {@code "gated-gelu"} meaning
 * the tanh approximation ({@code gelu_new}) for backwards compatibility; {@code "gelu"} alone is the
 * exact erf form.
 *
 * @param vocabSize     rows of the token embedding ({@code vocab_size})
 * @param dModel        width of the residual stream ({@code d_model})
 * @param dKv           width of one attention head ({@code d_kv}); {@code numHeads·dKv} need not be dModel
 * @param dFf           width of the feed-forward layer ({@code d_ff})
 * @param numHeads      attention heads ({@code num_heads})
 * @param numLayers     encoder blocks ({@code num_layers})
 * @param buckets       rows of the relative attention bias ({@code relative_attention_num_buckets}, default 32)
 * @param maxDistance   distance from which relative positions share the last bucket ({@code relative_attention_max_distance}, default 128)
 * @param eps           T5LayerNorm's epsilon ({@code layer_norm_epsilon}, default 1e-6)
 * @param gated         {@code wo(act(wi_0 x) · wi_1 x)} rather than {@code wo(act(wi x))}
 * @param act           the feed-forward activation
 * @param padTokenId    the id {@link T5Encoder#forward(int[][])} pads ragged rows with ({@code pad_token_id}, default 0)
 */
public record T5Config(int vocabSize, int dModel, int dKv, int dFf, int numHeads, int numLayers, int buckets, int maxDistance, float eps,
                       boolean gated, Act act, int padTokenId) {

    /** A feed-forward activation and the ACT2FN names it answers to. */
    public enum Act {
        /** {@code max(x, 0)}. */
        RELU,
        /** Exact GELU, {@code x·Φ(x)} ({@code "gelu"}). */
        GELU_ERF,
        /** GELU's tanh approximation ({@code "gelu_new"}, {@code "gelu_pytorch_tanh"}; what {@code "gated-gelu"} means). */
        GELU_TANH,
        /** {@code x·σ(x)} ({@code "silu"}, {@code "swish"}). */
        SILU
    }

    public T5Config {
        if (vocabSize < 1 || dModel < 1 || dKv < 1 || dFf < 1 || numHeads < 1 || numLayers < 1) {
            throw new IllegalArgumentException("T5Config: sizes must be positive (vocab " + vocabSize + ", d_model " + dModel + ", d_kv " + dKv
                    + ", d_ff " + dFf + ", heads " + numHeads + ", layers " + numLayers + ")");
        }
        if (buckets < 4) throw new IllegalArgumentException("T5Config: buckets is " + buckets + "; expected at least 4 (two per direction, half exact)");
        if (maxDistance <= buckets / 4) {
            throw new IllegalArgumentException("T5Config: maxDistance is " + maxDistance + "; expected more than the " + buckets / 4
                    + " exact distances per direction of " + buckets + " buckets");
        }
        if (!(eps > 0) || !Float.isFinite(eps)) throw new IllegalArgumentException("T5Config: eps is " + eps + "; expected a positive number");
        if (act == null) throw new IllegalArgumentException("T5Config: act is null");
        if (padTokenId < 0 || padTokenId >= vocabSize) {
            throw new IllegalArgumentException("T5Config: padTokenId is " + padTokenId + "; expected an id in [0, " + vocabSize + ")");
        }
        if ((long) numHeads * dKv > Integer.MAX_VALUE / 4) throw new IllegalArgumentException("T5Config: num_heads · d_kv is too large");
    }

    /** Width of the attention's projections, {@code numHeads · dKv}. */
    public int innerDim() {
        return numHeads * dKv;
    }

    /** Reads {@code dir/config.json}. */
    public static T5Config load(Path dir) {
        return parse(ConfigJson.load(dir, "T5"));
    }

    /**
     * Parses a T5 / mt5 config.
     *
     * @throws IllegalArgumentException naming the file and field: a missing or bad size, an unknown
     *     {@code feed_forward_proj}, or model_type "umt5" (each of its layers has its own relative
     *     attention bias, where T5 shares layer 0's)
     */
    public static T5Config parse(ConfigJson c) {
        String type = c.text("model_type", "");
        if (type.equals("umt5")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"umt5\" is not supported: UMT5 gives every layer its own relative"
                    + " attention bias, where T5 / mt5 compute it once from layer 0's");
        }
        if (!type.isEmpty() && !type.equals("t5") && !type.equals("mt5")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + type + "\" is not a T5 encoder (\"t5\" or \"mt5\")");
        }
        int vocab = c.positive("vocab_size");
        int d = c.positive("d_model");
        int dkv = c.positive("d_kv");
        int ff = c.positive("d_ff");
        int heads = c.positive("num_heads");
        int layers = c.positive("num_layers");
        int buckets = c.optPositive("relative_attention_num_buckets", 32);
        int maxDist = c.optPositive("relative_attention_max_distance", 128);
        double eps = c.optPositiveNumber("layer_norm_epsilon", 1e-6);
        String proj = c.text("feed_forward_proj", "relu");
        String[] parts = proj.split("-", -1);
        if (parts.length > 2 || (parts.length == 2 && !parts[0].equals("gated"))) {
            throw new IllegalArgumentException(c.where() + ": field \"feed_forward_proj\" is \"" + proj
                    + "\"; expected \"ACT\" or \"gated-ACT\" (e.g. \"relu\", \"gated-gelu\")");
        }
        boolean gated = parts.length == 2;
        String actName = proj.equals("gated-gelu") ? "gelu_new" : parts[parts.length - 1]; // T5Config's backwards-compatible reading
        Act act = switch (actName) {
            case "relu" -> Act.RELU;
            case "gelu" -> Act.GELU_ERF;
            case "gelu_new", "gelu_pytorch_tanh" -> Act.GELU_TANH;
            case "silu", "swish" -> Act.SILU;
            default -> throw new IllegalArgumentException(c.where() + ": field \"feed_forward_proj\" is \"" + proj + "\": activation \"" + actName
                    + "\" is not supported (relu, gelu, gelu_new, gelu_pytorch_tanh, silu, swish)");
        };
        int pad = c.optPositiveOrZero("pad_token_id", 0);
        if (pad >= vocab) throw new IllegalArgumentException(c.where() + ": field \"pad_token_id\" is " + pad + "; vocab_size is " + vocab);
        if (buckets < 4) {
            throw new IllegalArgumentException(c.where() + ": field \"relative_attention_num_buckets\" is " + buckets + "; expected at least 4");
        }
        if (maxDist <= buckets / 4) {
            throw new IllegalArgumentException(c.where() + ": field \"relative_attention_max_distance\" is " + maxDist + "; expected more than "
                    + buckets / 4 + " (the exact distances per direction of " + buckets + " buckets)");
        }
        return new T5Config(vocab, d, dkv, ff, heads, layers, buckets, maxDist, (float) eps, gated, act, pad);
    }

    /**
     * True when {@code dir/config.json} names a T5-family encoder: model_type "t5", "mt5" or "umt5"
     * (the last so that loading refuses it by name), or, without a model_type, an architecture
     * starting with T5 / MT5 / UMT5.
     */
    public static boolean looksLikeT5(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("t5") || t.equals("mt5") || t.equals("umt5");
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText("");
            if (s.startsWith("T5") || s.startsWith("MT5") || s.startsWith("UMT5")) return true;
        }
        return false;
    }
}
