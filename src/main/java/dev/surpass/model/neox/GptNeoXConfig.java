package dev.surpass.model.neox;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * GPT-NeoX's hyper-parameters from an HF {@code config.json}: {@code hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, vocab_size, max_position_embeddings}
 * (default 2048), {@code layer_norm_eps} (default 1e-5), {@code hidden_act} ("gelu": the erf GELU;
 * "gelu_new" / "gelu_fast" / "gelu_pytorch_tanh": tanh), {@code use_parallel_residual} (default
 * true), {@code attention_bias} (default true), {@code tie_word_embeddings} (default false), and the
 * partial rotary embedding: {@code rotary_pct} (default 0.25) and {@code rotary_emb_base} (default
 * 10000), or transformers 5's {@code partial_rotary_factor} / {@code rope_theta}, top level or in
 * {@code rope_parameters} (only the default RoPE).
 *
 * @param rotaryDim the dims of each head that rotate: {@code int(head_dim · rotary_pct)}, as HF
 */
public record GptNeoXConfig(int hidden, int nLayer, int nHead, int intermediate, int vocabSize, int maxPositions, float layerNormEps,
                            boolean geluTanh, boolean parallelResidual, boolean attentionBias, boolean tieEmbeddings, int rotaryDim,
                            double ropeTheta, int[] eosIds) {

    public int headDim() {
        return hidden / nHead;
    }

    /** True when {@code dir/config.json} names a GPT-NeoX model (model_type or architectures). */
    public static boolean looksLikeNeoX(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("gpt_neox");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("GPTNeoXFor") || a.asText("").equals("GPTNeoXModel")) return true;
        return false;
    }

    public static GptNeoXConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "GPT-NeoX"));
    }

    public static GptNeoXConfig parse(ConfigJson c) {
        int hidden = c.positive("hidden_size");
        int layers = c.positive("num_hidden_layers");
        int heads = c.positive("num_attention_heads");
        int inter = c.optPositive("intermediate_size", 4 * hidden);
        int vocab = c.positive("vocab_size");
        int maxPos = c.optPositive("max_position_embeddings", 2048);
        double eps = c.optPositiveNumber("layer_norm_eps", 1e-5);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        String act = c.text("hidden_act", "gelu");
        boolean tanh = switch (act) {
            case "gelu" -> false;
            case "gelu_new", "gelu_fast", "gelu_pytorch_tanh" -> true;
            default -> throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act
                    + "\"; supported: gelu (erf), gelu_new, gelu_fast, gelu_pytorch_tanh (tanh)");
        };
        // RoPE: transformers 4's rotary_pct / rotary_emb_base, or 5's partial_rotary_factor / rope_theta (top level or rope_parameters)
        JsonNode rp = c.node().path("rope_parameters");
        JsonNode rs = c.node().path("rope_scaling");
        for (JsonNode r : new JsonNode[] {rp, rs}) {
            if (r.isObject()) {
                String type = r.path("rope_type").asText(r.path("type").asText("default"));
                if (!type.equals("default")) {
                    throw new IllegalArgumentException(c.where() + ": RoPE type \"" + type + "\" is not supported for GPT-NeoX; only \"default\"");
                }
            }
        }
        double pct = number(c, rp, 0.25, "rotary_pct", "partial_rotary_factor");
        double theta = number(c, rp, 10000, "rotary_emb_base", "rope_theta");
        if (!(pct > 0 && pct <= 1)) throw new IllegalArgumentException(c.where() + ": rotary_pct is " + pct + "; expected (0, 1]");
        int d = hidden / heads;
        int rot = (int) (d * pct);
        if (rot < 2 || rot % 2 != 0) {
            throw new IllegalArgumentException(c.where() + ": head_dim " + d + " · rotary_pct " + pct + " = " + rot + " rotary dims; expected an even number >= 2");
        }
        return new GptNeoXConfig(hidden, layers, heads, inter, vocab, maxPos, (float) eps, tanh, c.bool("use_parallel_residual", true),
                c.bool("attention_bias", true), c.bool("tie_word_embeddings", false), rot, theta, c.eosIds());
    }

    /** The first of {@code keys} set at the top level or in rope_parameters, else {@code dflt}. */
    private static double number(ConfigJson c, JsonNode rp, double dflt, String... keys) {
        for (String k : keys) {
            if (c.has(k)) return c.positiveNumber(c.node(), k, k);
            if (rp.isObject() && rp.hasNonNull(k)) return c.positiveNumber(rp, k, "rope_parameters." + k);
        }
        return dflt;
    }
}
