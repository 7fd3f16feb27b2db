package dev.surpass.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * A Llama-family model's hyper-parameters from an HF {@code config.json}: {@code hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads} (default: the
 * attention heads), {@code head_dim} (default hidden/heads), {@code vocab_size, rms_norm_eps}
 * (default 1e-6), {@code rope_theta} (default 10000), {@code rope_scaling} (null, "default",
 * "linear" or "llama3"; transformers 5 writes both as one {@code rope_parameters} object, read the
 * same way), {@code max_position_embeddings} (default 2048),
 * {@code tie_word_embeddings} (default false), {@code attention_bias} and {@code mlp_bias} (default false).
 *
 * <p>Two families with the same tensors and forward are read too ({@code model_type}):
 * {@code "mistral"} (no biases; {@code sliding_window}, default 4096, null for none, on every
 * layer) and {@code "qwen2"} (q/k/v biases, no o_proj bias; a sliding window only with
 * {@code use_sliding_window}, on the layers from {@code max_window_layers} on). A
 * {@code layer_types} list ("sliding_attention" / "full_attention") overrides the per-layer rule.
 *
 * @param modelType      "llama", "mistral" or "qwen2"
 * @param invFreq        the RoPE inverse frequencies {@code [headDim / 2]}, scaling applied, fp32 values computed as HF does
 * @param attentionBias  q_proj, k_proj and v_proj have biases
 * @param outputBias     o_proj has a bias
 * @param mlpBias        gate_proj, up_proj and down_proj have biases (Llama's {@code mlp_bias})
 * @param slidingWindows per layer, the keys a query sees (itself included), -1 for all
 */
public record LlamaConfig(String modelType, int hidden, int intermediate, int nLayer, int nHead, int nKvHead, int headDim, int vocabSize,
                          float rmsEps, double ropeTheta, String ropeType, double[] invFreq, int maxPositions, boolean tieEmbeddings,
                          boolean attentionBias, boolean outputBias, boolean mlpBias, int[] slidingWindows, int[] eosIds) {

    /** The model types read as Llama, and their HF architecture names. */
    static final java.util.Map<String, String> TYPES = java.util.Map.of("llama", "Llama", "mistral", "Mistral", "qwen2", "Qwen2");

    /** True when {@code dir/config.json} names a Llama, Mistral or Qwen2 model (model_type or architectures). */
    public static boolean looksLikeLlama(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        return n != null && modelType(n) != null;
    }

    /** The config's family: its model_type when one of {@link #TYPES}, else from its architectures; null if neither. */
    static String modelType(JsonNode n) {
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return TYPES.containsKey(t) ? t : null;
        for (JsonNode a : n.path("architectures")) {
            for (var e : TYPES.entrySet()) {
                if (a.asText("").equals(e.getValue() + "ForCausalLM") || a.asText("").equals(e.getValue() + "Model")) return e.getKey();
            }
        }
        return null;
    }

    public static LlamaConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "Llama"));
    }

    public static LlamaConfig parse(ConfigJson c) {
        String type0 = modelType(c.node());
        if (type0 == null && c.has("model_type")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + c.node().get("model_type").asText()
                    + "\" is not one this loader reads (llama, mistral, qwen2)");
        }
        String modelType = type0 == null ? "llama" : type0;
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
        int maxPos = c.optPositive("max_position_embeddings", 2048);
        String act = c.text("hidden_act", "silu");
        if (!act.equals("silu")) throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act + "\"; only silu (SwiGLU) is supported");
        boolean qkvBias = switch (modelType) {
            case "qwen2" -> true;
            case "mistral" -> false;
            default -> c.bool("attention_bias", false);
        };
        boolean oBias = modelType.equals("llama") && qkvBias;
        int[] windows = slidingWindows(c, modelType, nLayer);
        // RoPE settings: transformers 4 writes rope_theta and rope_scaling at the top level,
        // transformers 5 one rope_parameters object that holds rope_theta too (rope_scaling wins
        // when both are there, as in its convert_rope_params_to_dict).
        JsonNode rs = null;
        String rsName = null;
        for (String k : new String[] {"rope_scaling", "rope_parameters"}) {
            if (!c.has(k)) continue;
            JsonNode v = c.node().get(k);
            if (!v.isObject()) throw new IllegalArgumentException(c.where() + ": field \"" + k + "\" is " + v + "; expected an object or null");
            rs = v;
            rsName = k;
            break;
        }
        double theta = rs != null && rs.hasNonNull("rope_theta")
                ? c.positiveNumber(rs, "rope_theta", rsName + ".rope_theta") : c.optPositiveNumber("rope_theta", 10000);
        for (JsonNode n : rs == null ? new JsonNode[] {c.node()} : new JsonNode[] {c.node(), rs}) {
            JsonNode prf = n.get("partial_rotary_factor");
            if (prf != null && !prf.isNull() && prf.asDouble() != 1.0) {
                throw new IllegalArgumentException(c.where() + ": partial_rotary_factor " + prf + " is not supported");
            }
        }
        String type = rs == null ? "default" : rs.path("rope_type").asText(rs.path("type").asText("default"));
        float[] inv = switch (type) {
            case "default" -> defaultInvFreq(theta, headDim);
            case "linear" -> linearInvFreq(theta, headDim, c.positiveNumber(rs, "factor", rsName + ".factor"));
            case "llama3" -> {
                double lo = c.positiveNumber(rs, "low_freq_factor", rsName + ".low_freq_factor");
                double hi = c.positiveNumber(rs, "high_freq_factor", rsName + ".high_freq_factor");
                if (!(hi > lo)) {
                    throw new IllegalArgumentException(c.where() + ": " + rsName + ".high_freq_factor " + hi + " must exceed low_freq_factor " + lo);
                }
                // transformers 5 takes a top-level original_max_position_embeddings first, then the
                // object's, then max_position_embeddings
                double old = c.has("original_max_position_embeddings") ? c.positiveNumber(c.node(), "original_max_position_embeddings", "original_max_position_embeddings")
                        : rs.hasNonNull("original_max_position_embeddings")
                        ? c.positiveNumber(rs, "original_max_position_embeddings", rsName + ".original_max_position_embeddings") : maxPos;
                yield llama3InvFreq(theta, headDim, c.positiveNumber(rs, "factor", rsName + ".factor"), lo, hi, old);
            }
            default -> throw new IllegalArgumentException(c.where() + ": " + rsName + " type \"" + type
                    + "\" is not supported; expected \"default\", \"linear\" or \"llama3\"");
        };
        double[] invD = new double[inv.length];
        for (int i = 0; i < inv.length; i++) invD[i] = inv[i];
        return new LlamaConfig(modelType, hidden, inter, nLayer, nHead, nKv, headDim, vocab, (float) eps, theta, type, invD, maxPos,
                c.bool("tie_word_embeddings", false), qkvBias, oBias,
                modelType.equals("llama") && c.bool("mlp_bias", false), windows, c.eosIds());
    }

    /** Per layer, the sliding window of HF's Mistral / Qwen2 attention (-1: none). */
    static int[] slidingWindows(ConfigJson c, String modelType, int nLayer) {
        int[] w = new int[nLayer];
        java.util.Arrays.fill(w, -1);
        if (modelType.equals("llama")) return w;
        int size;
        if (modelType.equals("qwen2") && !c.bool("use_sliding_window", false)) {
            size = -1;
        } else if (c.node().has("sliding_window") && c.node().get("sliding_window").isNull()) {
            size = -1;
        } else {
            size = c.optPositive("sliding_window", 4096);
        }
        if (size < 0) return w;
        JsonNode types = c.node().get("layer_types");
        if (types != null && !types.isNull()) {
            if (!types.isArray() || types.size() != nLayer) {
                throw new IllegalArgumentException(c.where() + ": field \"layer_types\" is " + types + "; expected a list of " + nLayer + " layer types");
            }
            for (int i = 0; i < nLayer; i++) {
                switch (types.get(i).asText("")) {
                    case "sliding_attention" -> w[i] = size;
                    case "full_attention" -> { }
                    default -> throw new IllegalArgumentException(c.where() + ": layer_types[" + i + "] is " + types.get(i)
                            + "; expected \"sliding_attention\" or \"full_attention\"");
                }
            }
            return w;
        }
        int from = modelType.equals("qwen2") ? c.optPositiveOrZero("max_window_layers", 28) : 0;
        for (int i = from; i < nLayer; i++) w[i] = size;
        return w;
    }

    // The inverse frequencies as HF computes them (modeling_rope_utils): in fp32, operation for
    // operation, so that angles p·invFreq match its tables to the rounding of cos/sin, not to
    // p · 1e-7 (a 4k-token prompt would otherwise part from HF by ~1e-4 in the angle). Python
    // scalars meet fp32 tensors as fp32; `s / t` is `reciprocal(t) * s` (Tensor.__rtruediv__).

    /** {@code 1 / theta^(arange(0, D, 2) / D)} in fp32. */
    static float[] defaultInvFreq(double theta, int headDim) {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            float e = (float) (2 * i) / (float) headDim;
            inv[i] = 1f / (float) Math.pow((float) theta, e);
        }
        return inv;
    }

    /** Position interpolation: the default frequencies divided by {@code factor}. */
    static float[] linearInvFreq(double theta, int headDim, double factor) {
        float[] inv = defaultInvFreq(theta, headDim);
        for (int i = 0; i < inv.length; i++) inv[i] /= (float) factor;
        return inv;
    }

    /**
     * Llama 3.1's scaling: wavelengths above {@code old / lo} are divided by {@code factor}, those
     * below {@code old / hi} kept, the band between blended by {@code (old / wavelen − lo) / (hi − lo)}.
     */
    static float[] llama3InvFreq(double theta, int headDim, double factor, double lo, double hi, double old) {
        float[] inv = defaultInvFreq(theta, headDim);
        float f = (float) factor, lowWavelen = (float) (old / lo), highWavelen = (float) (old / hi);
        for (int i = 0; i < inv.length; i++) {
            float wavelen = (1f / inv[i]) * (float) (2 * Math.PI);
            if (wavelen > lowWavelen) {
                inv[i] = inv[i] / f;
            } else if (!(wavelen < highWavelen)) {
                float smooth = ((1f / wavelen) * (float) old - (float) lo) / (float) (hi - lo);
                inv[i] = (1f - smooth) * inv[i] / f + smooth * inv[i];
            }
        }
        return inv;
    }
}
