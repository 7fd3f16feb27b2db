package dev.surpass.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * A Llama-family model's hyper-parameters from an HF {@code config.json}: {@code hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads} (default: the
 * attention heads), {@code head_dim} (default hidden/heads), {@code vocab_size, rms_norm_eps}
 * (default 1e-6), {@code rope_theta} (default 10000), {@code rope_scaling} (null, "default",
 * "linear" or "llama3"), {@code max_position_embeddings} (default 2048),
 * {@code tie_word_embeddings} (default false), {@code attention_bias} (default false).
 *
 * @param invFreq the RoPE inverse frequencies {@code [headDim / 2]}, scaling applied
 */
public record LlamaConfig(int hidden, int intermediate, int nLayer, int nHead, int nKvHead, int headDim, int vocabSize,
                          float rmsEps, double ropeTheta, String ropeType, double[] invFreq, int maxPositions, boolean tieEmbeddings,
                          boolean attentionBias, int[] eosIds) {

    /** True when {@code dir/config.json} names a Llama model (model_type or architectures). */
    public static boolean looksLikeLlama(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        if (n.path("model_type").asText("").equals("llama")) return true;
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText("");
            if (s.equals("LlamaForCausalLM") || s.equals("LlamaModel")) return true;
        }
        return false;
    }

    public static LlamaConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "Llama"));
    }

    public static LlamaConfig parse(ConfigJson c) {
        int hidden = c.positive("hidden_size");
        int inter = c.positive("intermediate_size");
        int nLayer = c.positive("num_hidden_layers");
        int nHead = c.positive("num_attention_heads");
        int nKv = c.optPositive("num_key_value_heads", nHead);
        int vocab = c.positive("vocab_size");
        if (nHead % nKv != 0) {
            throw new IllegalArgumentException(c.where() + ": num_attention_heads " + nHead + " is not a multiple of num_key_value_heads " + nKv);
        }
        if (!c.has("head_dim") && hidden % nHead != 0) {
            throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + nHead
                    + " and there is no head_dim");
        }
        int headDim = c.optPositive("head_dim", hidden / nHead);
        if (headDim % 2 != 0) throw new IllegalArgumentException(c.where() + ": head_dim " + headDim + " is odd; RoPE needs an even head dim");
        double eps = c.optPositiveNumber("rms_norm_eps", 1e-6);
        double theta = c.optPositiveNumber("rope_theta", 10000);
        int maxPos = c.optPositive("max_position_embeddings", 2048);
        String act = c.text("hidden_act", "silu");
        if (!act.equals("silu")) throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act + "\"; only silu (SwiGLU) is supported");
        if (c.bool("mlp_bias", false)) throw new IllegalArgumentException(c.where() + ": mlp_bias = true is not supported");
        if (c.has("partial_rotary_factor") && c.node().get("partial_rotary_factor").asDouble() != 1.0) {
            throw new IllegalArgumentException(c.where() + ": partial_rotary_factor " + c.node().get("partial_rotary_factor") + " is not supported");
        }
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        String type = "default";
        if (c.has("rope_scaling")) {
            JsonNode rs = c.node().get("rope_scaling");
            if (!rs.isObject()) throw new IllegalArgumentException(c.where() + ": field \"rope_scaling\" is " + rs + "; expected an object or null");
            type = rs.path("rope_type").asText(rs.path("type").asText(""));
            switch (type) {
                case "default" -> { }
                case "linear" -> {
                    double f = c.positiveNumber(rs, "factor", "rope_scaling.factor");
                    for (int i = 0; i < inv.length; i++) inv[i] /= f;
                }
                case "llama3" -> {
                    // HF _compute_llama3_parameters: long wavelengths are divided by factor, short ones
                    // kept, the band between interpolated smoothly.
                    double f = c.positiveNumber(rs, "factor", "rope_scaling.factor");
                    double lo = c.positiveNumber(rs, "low_freq_factor", "rope_scaling.low_freq_factor");
                    double hi = c.positiveNumber(rs, "high_freq_factor", "rope_scaling.high_freq_factor");
                    double old = c.positiveNumber(rs, "original_max_position_embeddings", "rope_scaling.original_max_position_embeddings");
                    if (!(hi > lo)) {
                        throw new IllegalArgumentException(c.where() + ": rope_scaling.high_freq_factor " + hi + " must exceed low_freq_factor " + lo);
                    }
                    double lowWavelen = old / lo, highWavelen = old / hi;
                    for (int i = 0; i < inv.length; i++) {
                        double wavelen = 2 * Math.PI / inv[i];
                        if (wavelen > lowWavelen) {
                            inv[i] = inv[i] / f;
                        } else if (wavelen >= highWavelen) {
                            double smooth = (old / wavelen - lo) / (hi - lo);
                            inv[i] = (1 - smooth) * inv[i] / f + smooth * inv[i];
                        }
                    }
                }
                default -> throw new IllegalArgumentException(c.where() + ": rope_scaling type \"" + type
                        + "\" is not supported; expected \"default\", \"linear\" or \"llama3\"");
            }
        }
        return new LlamaConfig(hidden, inter, nLayer, nHead, nKv, headDim, vocab, (float) eps, theta, type, inv, maxPos,
                c.bool("tie_word_embeddings", false), c.bool("attention_bias", false), c.eosIds());
    }
}
