package dev.surpass.model.falcon;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * Falcon's hyper-parameters from an HF {@code config.json} ({@code FalconConfig}): {@code hidden_size,
 * num_hidden_layers, num_attention_heads, vocab_size} (or n_embed, n_layer, n_head),
 * {@code layer_norm_epsilon} (default 1e-5), {@code max_position_embeddings} (default 2048),
 * {@code bias} (default false), {@code parallel_attn} (default true), {@code multi_query} (default
 * true: one K/V head), {@code new_decoder_architecture} (default false; true: {@code num_kv_heads}
 * groups, or the older {@code n_head_kv}, default the attention heads), {@code num_ln_in_parallel_attn}
 * (default 2 for the new architecture: ln_attn + ln_mlp; else 1: one input_layernorm),
 * {@code ffn_hidden_size} (default 4 · hidden), {@code activation} (default "gelu", erf; the tanh GELUs),
 * {@code tie_word_embeddings} (default true) and the default RoPE over the whole head
 * ({@code rope_theta}, default 10000). {@code alibi: true} is refused (ALiBi is not in this family), as
 * are RoPE scalings and the new architecture without {@code parallel_attn} (which HF cannot run).
 *
 * @param headDim  {@code hidden_size / num_attention_heads}
 * @param nKvHead  the K/V heads: 1 with multi_query, num_kv_heads with the new architecture, else the heads
 * @param twoNorms ln_attn and ln_mlp (the new architecture's parallel block) instead of one input_layernorm
 */
public record FalconConfig(int hidden, int nLayer, int nHead, int nKvHead, int headDim, int intermediate, int vocabSize, int maxPositions,
                           float layerNormEps, boolean bias, boolean parallelAttn, boolean multiQuery, boolean newArchitecture, boolean twoNorms,
                           boolean geluTanh, boolean tieEmbeddings, double ropeTheta, int[] eosIds) {

    /** True when {@code dir/config.json} names a Falcon model (model_type "falcon", or FalconForCausalLM / FalconModel). */
    public static boolean looksLikeFalcon(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("falcon");
        for (JsonNode a : n.path("architectures")) if (a.asText("").equals("FalconForCausalLM") || a.asText("").equals("FalconModel")) return true;
        return false;
    }

    public static FalconConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "Falcon"));
    }

    public static FalconConfig parse(ConfigJson c) {
        String type = c.text("model_type", "falcon");
        if (!type.equals("falcon")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + type + "\" is not \"falcon\" (RefinedWeb folders with custom code are not supported)");
        }
        if (c.bool("alibi", false)) {
            throw new IllegalArgumentException(c.where() + ": field \"alibi\" is true; Falcon with ALiBi positions is not supported here (rotary only)");
        }
        int hidden = c.positive("hidden_size", "n_embed");
        int layers = c.positive("num_hidden_layers", "n_layer");
        int heads = c.positive("num_attention_heads", "n_head");
        int vocab = c.positive("vocab_size");
        int maxPos = c.optPositive("max_position_embeddings", 2048);
        double eps = c.optPositiveNumber("layer_norm_epsilon", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        boolean newArch = c.bool("new_decoder_architecture", false);
        boolean multiQuery = c.bool("multi_query", true);
        boolean parallel = c.bool("parallel_attn", true);
        int kv;
        if (newArch) {
            kv = c.has("num_kv_heads") ? c.positive("num_kv_heads") : c.optPositive("n_head_kv", heads);
            if (heads % kv != 0) {
                throw new IllegalArgumentException(c.where() + ": num_attention_heads " + heads + " is not a multiple of num_kv_heads " + kv);
            }
            if (!parallel) {
                throw new IllegalArgumentException(c.where() + ": field \"parallel_attn\" is false with new_decoder_architecture; transformers "
                        + "runs the new architecture only with parallel_attn");
            }
        } else {
            // HF's _split_heads gives every head its own K/V here, then reshapes them to num_kv_heads heads: only the head count fits
            if (!multiQuery && c.has("num_kv_heads") && c.positive("num_kv_heads") != heads) {
                throw new IllegalArgumentException(c.where() + ": field \"num_kv_heads\" is " + c.positive("num_kv_heads")
                        + " without new_decoder_architecture or multi_query; transformers runs that layout only with num_attention_heads " + heads);
            }
            kv = multiQuery ? 1 : heads;
        }
        int nLn = c.optPositive("num_ln_in_parallel_attn", newArch ? 2 : 1);
        if (nLn > 2 || (nLn == 2 && !newArch && parallel)) {
            throw new IllegalArgumentException(c.where() + ": field \"num_ln_in_parallel_attn\" is " + nLn
                    + "; expected 1, or 2 with new_decoder_architecture");
        }
        boolean tanh = c.geluTanh("activation", "gelu");
        ConfigJson.DefaultRope rope = c.defaultRope("Falcon", 10000, 1.0);
        if (rope.partialRotaryFactor() != 1.0) {
            throw new IllegalArgumentException(c.where() + ": field \"partial_rotary_factor\" is " + rope.partialRotaryFactor()
                    + "; Falcon rotates the whole head (1.0)");
        }
        return new FalconConfig(hidden, layers, heads, kv, hidden / heads, c.optPositive("ffn_hidden_size", 4 * hidden), vocab, maxPos, (float) eps,
                c.bool("bias", false), parallel, multiQuery, newArch, parallel && nLn == 2, tanh, c.bool("tie_word_embeddings", true), rope.theta(),
                c.eosIds());
    }

    /** The rows of the fused {@code query_key_value}: (heads + 2 · kv-heads) · head_dim, or 3 · hidden without multi-query. */
    public int qkvRows() {
        return (nHead + 2 * nKvHead) * headDim;
    }
}
