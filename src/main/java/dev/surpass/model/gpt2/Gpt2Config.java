package dev.surpass.model.gpt2;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * GPT-2's hyper-parameters from an HF {@code config.json}: {@code n_embd, n_layer, n_head,
 * n_positions} (or {@code n_ctx}), {@code vocab_size}, {@code layer_norm_epsilon} (default 1e-5),
 * {@code n_inner} (null: 4·n_embd), {@code activation_function} (HF's names: "gelu_new",
 * "gelu_pytorch_tanh", "gelu_fast": the tanh GELU; "gelu": the exact erf GELU; "silu" / "swish").
 */
public record Gpt2Config(int nEmbd, int nLayer, int nHead, int nPositions, int vocabSize, int nInner, float layerNormEps,
                         Act activation, int[] eosIds) {

    /** The MLP's activation. */
    public enum Act { GELU_TANH, GELU_ERF, SILU }

    public int headDim() {
        return nEmbd / nHead;
    }

    /** True when {@code dir/config.json} names a GPT-2 model (model_type or architectures). */
    public static boolean looksLikeGpt2(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        if (n.path("model_type").asText("").equals("gpt2")) return true;
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText("");
            if (s.equals("GPT2LMHeadModel") || s.equals("GPT2Model")) return true;
        }
        return false;
    }

    public static Gpt2Config load(Path dir) {
        return parse(ConfigJson.load(dir, "GPT-2"));
    }

    public static Gpt2Config parse(ConfigJson c) {
        int nEmbd = c.positive("n_embd", "hidden_size");
        int nLayer = c.positive("n_layer", "num_hidden_layers");
        int nHead = c.positive("n_head", "num_attention_heads");
        int nPos = c.positive("n_positions", "n_ctx");
        int vocab = c.positive("vocab_size");
        int nInner = c.optPositive("n_inner", 4 * nEmbd);
        double eps = c.optPositiveNumber("layer_norm_epsilon", 1e-5);
        String name = c.text("activation_function", "gelu_new");
        Act act = switch (name) {
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> Act.GELU_TANH;
            case "gelu" -> Act.GELU_ERF;
            case "silu", "swish" -> Act.SILU;
            default -> throw new IllegalArgumentException(c.where() + ": field \"activation_function\" is \"" + name
                    + "\"; supported: gelu_new, gelu_pytorch_tanh, gelu_fast (tanh GELU), gelu (erf GELU), silu, swish");
        };
        if (!c.bool("scale_attn_weights", true) || c.bool("scale_attn_by_inverse_layer_idx", false)) {
            throw new IllegalArgumentException(c.where() + ": scale_attn_weights = false or scale_attn_by_inverse_layer_idx = true "
                    + "is not supported (attention scale must be 1/sqrt(head_dim))");
        }
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException(c.where() + ": n_embd " + nEmbd + " is not a multiple of n_head " + nHead);
        }
        return new Gpt2Config(nEmbd, nLayer, nHead, nPos, vocab, nInner, (float) eps, act, c.eosIds());
    }
}
