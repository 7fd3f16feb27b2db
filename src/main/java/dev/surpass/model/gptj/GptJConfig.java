package dev.surpass.model.gptj;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * GPT-J's hyper-parameters from an HF {@code config.json} ({@code GPTJConfig}): {@code n_embd,
 * n_layer, n_head, vocab_size} (or their aliases hidden_size, num_hidden_layers,
 * num_attention_heads), {@code n_positions} (default 2048), {@code rotary_dim} (default 64; null,
 * which HF cannot run with more than one head, is refused), {@code n_inner} (default null: 4 ·
 * n_embd), {@code activation_function} (default "gelu_new"; the tanh GELUs or "gelu"),
 * {@code layer_norm_epsilon} (default 1e-5) and {@code tie_word_embeddings} (default false). GPT-J's
 * rotary base is fixed at 10000.
 *
 * @param headDim   {@code n_embd / n_head}
 * @param rotaryDim the dims of each head that rotate, as interleaved pairs (2i, 2i+1)
 */
public record GptJConfig(int hidden, int nLayer, int nHead, int headDim, int intermediate, int vocabSize, int maxPositions, float layerNormEps,
                         boolean geluTanh, boolean tieEmbeddings, int rotaryDim, int[] eosIds) {

    /** GPT-J's rotary base (create_sinusoidal_positions' 10000). */
    public static final double ROPE_THETA = 10000;

    /** True when {@code dir/config.json} names a GPT-J model (model_type "gptj", or GPTJForCausalLM / GPTJModel). */
    public static boolean looksLikeGptJ(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("gptj");
        for (JsonNode a : n.path("architectures")) if (a.asText("").equals("GPTJForCausalLM") || a.asText("").equals("GPTJModel")) return true;
        return false;
    }

    public static GptJConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "GPT-J"));
    }

    public static GptJConfig parse(ConfigJson c) {
        String type = c.text("model_type", "gptj");
        if (!type.equals("gptj")) throw new IllegalArgumentException(c.where() + ": model_type \"" + type + "\" is not \"gptj\"");
        int hidden = c.positive("n_embd", "hidden_size");
        int layers = c.positive("n_layer", "num_hidden_layers");
        int heads = c.positive("n_head", "num_attention_heads");
        int vocab = c.positive("vocab_size");
        int maxPos = c.has("n_positions") ? c.positive("n_positions") : c.optPositive("max_position_embeddings", 2048);
        int inner = c.optPositive("n_inner", 4 * hidden);
        double eps = c.optPositiveNumber("layer_norm_epsilon", 1e-5);
        if (hidden % heads != 0) throw new IllegalArgumentException(c.where() + ": n_embd " + hidden + " is not a multiple of n_head " + heads);
        int d = hidden / heads;
        if (c.node().has("rotary_dim") && c.node().get("rotary_dim").isNull()) {
            throw new IllegalArgumentException(c.where() + ": field \"rotary_dim\" is null; expected an even number of rotary dims per head");
        }
        int rot = c.optPositive("rotary_dim", 64);
        if (rot % 2 != 0 || rot > d) {
            throw new IllegalArgumentException(c.where() + ": field \"rotary_dim\" is " + rot + "; expected an even number <= head dim " + d);
        }
        boolean tanh = c.geluTanh("activation_function", "gelu_new");
        return new GptJConfig(hidden, layers, heads, d, inner, vocab, maxPos, (float) eps, tanh, c.bool("tie_word_embeddings", false), rot,
                c.eosIds());
    }
}
