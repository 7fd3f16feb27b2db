package dev.surpass.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.decoder.Rope;
import java.nio.file.Path;

/**
 * A Llama-family model's hyper-parameters from an HF {@code config.json}: {@code hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads} (default: the
 * attention heads), {@code head_dim} (default hidden/heads), {@code vocab_size, rms_norm_eps}
 * (default 1e-6), {@code rope_theta} (default 10000), {@code rope_scaling} (null, "default",
 * "linear", "llama3", "yarn", "longrope" or "dynamic"; transformers 5 writes both as one {@code rope_parameters} object, read the
 * same way), {@code partial_rotary_factor} (Phi-3 only), {@code max_position_embeddings} (default 2048),
 * {@code tie_word_embeddings} (default false), {@code attention_bias} and {@code mlp_bias} (default false).
 *
 * <p>Two families with the same tensors and forward are read too ({@code model_type}):
 * {@code "mistral"} (no biases; {@code sliding_window}, default 4096, null for none, on every
 * layer) and {@code "qwen2"} (q/k/v biases, no o_proj bias; a sliding window only with
 * {@code use_sliding_window}, on the layers from {@code max_window_layers} on), and
 * {@code "qwen3"} (Qwen2's windows; biases only with {@code attention_bias}, then on o_proj too; an
 * RMSNorm over each head's q and k, {@code q_norm} / {@code k_norm}, before RoPE), and Gemma's:
 * {@code "gemma"} and {@code "gemma2"} ({@link Gemma}: RMSNorm weights stored as offsets from 1,
 * the embedding scaled by √hidden, a GELU-tanh MLP, tied head by default; Gemma 2 adds norms after
 * the attention and around the MLP, {@code query_pre_attn_scalar}, attention and final-logit soft
 * caps, and {@code sliding_window} on the even layers; {@code "gemma3_text"} (Gemma 3's text
 * model) adds Qwen3's per-head q/k norms (as offsets from 1), a window on all but every
 * {@code sliding_window_pattern}-th layer, and its own RoPE for the windowed layers
 * ({@code rope_local_base_freq}, or transformers 5's {@code rope_parameters.sliding_attention})). A
 * {@code layer_types} list
 * ("sliding_attention" / "full_attention") overrides the per-layer rule.
 *
 * <p>Mixture-of-experts families ({@link MoeConfig}): {@code "mixtral"} (Mistral's layers, its
 * window only when {@code sliding_window} is set; rms_norm_eps 1e-5 and rope_theta 1e6 by default),
 * {@code "qwen2_moe"} (q/k/v biases unless {@code qkv_bias} is false), {@code "qwen3_moe"}
 * (Qwen3's attention) and {@code "olmoe"} (Llama's layers with OLMo 2's q/k norms over the whole
 * projections; rms_norm_eps 1e-5; {@code clip_qkv} refused); the Qwen ones refuse {@code use_sliding_window} without {@code layer_types}
 * (transformers' versions place that window differently).
 *
 * @param modelType      "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "mixtral",
 *                       "qwen2_moe", "qwen3_moe" or "olmoe"
 * @param invFreq        the RoPE inverse frequencies {@code [headDim / 2]}, scaling applied, fp32 values computed as HF does
 * @param ropeAttentionFactor the factor HF multiplies cos and sin by (yarn's; 1 otherwise)
 * @param rotaryDim      (invFreq then has {@code rotaryDim / 2} entries: LongRoPE's short ones, dynamic NTK's within
 *                       max_position_embeddings; ropeAttentionFactor is LongRoPE's too) the dims of each head RoPE turns: {@code int(head_dim · partial_rotary_factor)} (Phi-3 only;
 *                       the others' HF attention rotates the whole head), the rest pass through
 * @param ropeFrequencies the frequencies a pass uses by its length ({@link Rope.Frequencies}: fixed, or LongRoPE's
 *                       short / long switch, or dynamic NTK's growing base)
 * @param maxPositions   the context: max_position_embeddings (dynamic NTK: times its factor, the length it stretches to)
 * @param attentionBias  q_proj, k_proj and v_proj have biases
 * @param outputBias     o_proj has a bias
 * @param mlpBias        gate_proj, up_proj and down_proj have biases (Llama's {@code mlp_bias})
 * @param slidingWindows per layer, the keys a query sees (itself included), -1 for all
 * @param qkNorm         q and k are RMS-normalised per head (weights {@code [headDim]}) before RoPE (Qwen3)
 * @param gemma          Gemma's differences, or null for the others
 * @param moe            the mixture-of-experts MLP, or null for a dense family
 */
public record LlamaConfig(String modelType, int hidden, int intermediate, int nLayer, int nHead, int nKvHead, int headDim, int vocabSize,
                          float rmsEps, double ropeTheta, String ropeType, double[] invFreq, float ropeAttentionFactor,
                          int rotaryDim, Rope.Frequencies ropeFrequencies, int maxPositions,
                          boolean tieEmbeddings,
                          boolean attentionBias, boolean outputBias, boolean mlpBias, int[] slidingWindows, int[] eosIds,
                          boolean qkNorm, Gemma gemma, MoeConfig moe) {

    /**
     * What Gemma (HF {@code GemmaForCausalLM}, {@code Gemma2ForCausalLM}) does differently from Llama.
     *
     * @param embedScale    the embedding rows are multiplied by √hidden_size, rounded to fp32 as HF's {@code normalizer}
     * @param mlpGelu       the MLP's activation on gate_proj ({@code hidden_activation}: gelu_pytorch_tanh → TANH, gelu → ERF)
     * @param sandwichNorms Gemma 2: {@code post_attention_layernorm} normalises the attention output before the
     *                      residual add, and {@code pre_/post_feedforward_layernorm} wrap the MLP
     * @param queryScale    the attention's score scale ({@code query_pre_attn_scalar^-0.5}; 0: 1/√head_dim)
     * @param attnSoftcap   {@code attn_logit_softcapping} on the scaled scores (0: none)
     * @param finalSoftcap  {@code final_logit_softcapping} on the logits (0: none)
     * @param localInvFreq Gemma 3: the RoPE inverse frequencies of the windowed layers (the others take
     *                     {@link LlamaConfig#invFreq}); null: every layer takes invFreq
     */
    public record Gemma(float embedScale, dev.surpass.layers.Activation.Gelu mlpGelu, boolean sandwichNorms, float queryScale,
                        float attnSoftcap, float finalSoftcap, double[] localInvFreq) {}

    /** OLMo 2's layer: norms after attention and MLP only, q/k normalised over their whole projections. */
    public boolean isOlmo2() {
        return modelType.equals("olmo2");
    }

    /** q and k are RMS-normalised over their whole projections ({@code [heads·headDim]} weights) before RoPE: OLMo 2 and OLMoE. */
    public boolean qkNormWhole() {
        return modelType.equals("olmo2") || modelType.equals("olmoe");
    }

    /** The model types read as Llama, and their HF architecture names. */
    static final java.util.Map<String, String> TYPES = java.util.Map.ofEntries(java.util.Map.entry("llama", "Llama"),
            java.util.Map.entry("mistral", "Mistral"), java.util.Map.entry("qwen2", "Qwen2"), java.util.Map.entry("qwen3", "Qwen3"),
            java.util.Map.entry("gemma", "Gemma"), java.util.Map.entry("gemma2", "Gemma2"), java.util.Map.entry("gemma3_text", "Gemma3"),
            java.util.Map.entry("phi3", "Phi3"), java.util.Map.entry("olmo2", "Olmo2"), java.util.Map.entry("mixtral", "Mixtral"),
            java.util.Map.entry("qwen2_moe", "Qwen2Moe"), java.util.Map.entry("qwen3_moe", "Qwen3Moe"),
            java.util.Map.entry("olmoe", "Olmoe"));

    /** True when {@code dir/config.json} names a Llama, Mistral, Qwen2 or Qwen3 model (model_type or architectures). */
    public static boolean looksLikeLlama(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        return n != null && modelType(n) != null;
    }

    /** The config's family: its model_type when one of {@link #TYPES}, else from its architectures; null if neither. */
    static String modelType(JsonNode n) {
        String t = n.path("model_type").asText("");
        // Gemma 3's multimodal folders (Gemma3ForConditionalGeneration): the text model is read from text_config
        if (t.equals("gemma3") && n.path("text_config").isObject()) return "gemma3_text";
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
        if (c.node().path("model_type").asText("").equals("gemma3") && c.node().path("text_config").isObject()) {
            // a multimodal Gemma 3 folder: its language model's settings, the eos ids of the whole config
            com.fasterxml.jackson.databind.node.ObjectNode text = c.node().get("text_config").deepCopy();
            text.put("model_type", "gemma3_text");
            if (c.has("eos_token_id")) text.set("eos_token_id", c.node().get("eos_token_id")); // what generate stops at
            c = new ConfigJson(text, c.where() + " (text_config)");
        }
        String type0 = modelType(c.node());
        if (type0 == null && c.has("model_type")) {
            throw new IllegalArgumentException(c.where() + ": model_type \"" + c.node().get("model_type").asText()
                    + "\" is not one this loader reads (llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, phi3, olmo2, mixtral, qwen2_moe, qwen3_moe, olmoe)");
        }
        String modelType = type0 == null ? "llama" : type0;
        int hidden = c.positive("hidden_size");
        boolean mixtral = modelType.equals("mixtral");
        // the MoE families' HF defaults (their configs may leave these out)
        int inter = MoeConfig.isMoe(modelType)
                ? c.optPositive("intermediate_size", switch (modelType) {
                    case "mixtral" -> 14336;
                    case "qwen2_moe" -> 5632;
                    case "olmoe" -> 2048;
                    default -> 6144;
                })
                : c.positive("intermediate_size");
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
        boolean olmoe = modelType.equals("olmoe");
        double eps = c.optPositiveNumber("rms_norm_eps", mixtral || olmoe ? 1e-5 : 1e-6);
        int maxPos = c.optPositive("max_position_embeddings", mixtral ? 131072 : olmoe ? 4096 : MoeConfig.isMoe(modelType) ? 32768 : 2048);
        if (olmoe && c.has("clip_qkv")) { // OLMoE's clamp of q, k and v has no op here (its released checkpoints leave it null)
            throw new IllegalArgumentException(c.where() + ": field \"clip_qkv\" is " + c.node().get("clip_qkv") + "; only null (no clipping) is supported");
        }
        boolean isGemma = modelType.startsWith("gemma");
        Gemma gemma = null;
        if (isGemma) {
            gemma = gemma(c, modelType, hidden);
        } else {
            String act = c.text("hidden_act", "silu");
            if (!act.equals("silu")) throw new IllegalArgumentException(c.where() + ": field \"hidden_act\" is \"" + act + "\"; only silu (SwiGLU) is supported");
        }
        boolean qkvBias = switch (modelType) {
            case "qwen2" -> true;
            case "qwen2_moe" -> c.bool("qkv_bias", true);
            case "mistral", "mixtral" -> false;
            default -> c.bool("attention_bias", false);
        };
        boolean qwen3 = modelType.equals("qwen3") || modelType.equals("qwen3_moe");
        boolean oBias = (modelType.equals("llama") || qwen3 || modelType.equals("olmo2") || olmoe || isGemma) && qkvBias;
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
        boolean gemma3 = modelType.equals("gemma3_text");
        double[] localInv = null;
        if (gemma3) {
            // the windowed layers' RoPE: transformers 5 keys rope_parameters by layer type; 4 has rope_local_base_freq
            JsonNode local = null;
            if (rs != null && (rs.has("full_attention") || rs.has("sliding_attention"))) {
                local = rs.get("sliding_attention");
                rs = rs.get("full_attention");
                if (rs != null && !rs.isObject()) throw new IllegalArgumentException(c.where() + ": " + rsName + ".full_attention is " + rs + "; expected an object");
                rsName = rsName + ".full_attention";
            }
            double localTheta;
            if (local != null && !local.isNull()) {
                String lt = local.path("rope_type").asText("default");
                if (!lt.equals("default")) {
                    throw new IllegalArgumentException(c.where() + ": rope_parameters.sliding_attention type \"" + lt + "\" is not supported; expected \"default\"");
                }
                localTheta = local.hasNonNull("rope_theta") ? c.positiveNumber(local, "rope_theta", "rope_parameters.sliding_attention.rope_theta") : 10000;
            } else {
                localTheta = c.optPositiveNumber("rope_local_base_freq", 10000);
            }
            float[] li = defaultInvFreq(localTheta, headDim);
            localInv = new double[li.length];
            for (int i = 0; i < li.length; i++) localInv[i] = li[i];
        }
        double theta = rs != null && rs.hasNonNull("rope_theta")
                ? c.positiveNumber(rs, "rope_theta", rsName + ".rope_theta") : c.optPositiveNumber("rope_theta", gemma3 || mixtral ? 1e6 : 10000);
        int rotaryDim = rotaryDim(c, rs, rsName, modelType, headDim);
        String type = rs == null ? "default" : rs.path("rope_type").asText(rs.path("type").asText("default"));
        // Phi3Config reads the early Phi-3 names "su" and "yarn" as LongRoPE
        if (modelType.equals("phi3") && (type.equals("su") || type.equals("yarn"))) type = "longrope";
        if (modelType.equals("phi3") && !type.equals("default") && !type.equals("longrope")) { // as Phi3Config's validation
            throw new IllegalArgumentException(c.where() + ": " + rsName + " type \"" + type + "\" is not one Phi-3 takes; expected \"longrope\"");
        }
        int context = maxPos;
        Rope.Frequencies schedule = null;
        Frequencies rope = switch (type) {
            case "default" -> new Frequencies(defaultInvFreq(theta, rotaryDim), 1f);
            case "linear" -> new Frequencies(linearInvFreq(theta, rotaryDim, c.positiveNumber(rs, "factor", rsName + ".factor")), 1f);
            case "llama3" -> {
                double lo = c.positiveNumber(rs, "low_freq_factor", rsName + ".low_freq_factor");
                double hi = c.positiveNumber(rs, "high_freq_factor", rsName + ".high_freq_factor");
                if (!(hi > lo)) {
                    throw new IllegalArgumentException(c.where() + ": " + rsName + ".high_freq_factor " + hi + " must exceed low_freq_factor " + lo);
                }
                yield new Frequencies(llama3InvFreq(theta, rotaryDim, c.positiveNumber(rs, "factor", rsName + ".factor"), lo, hi,
                        originalMax(c, rs, rsName, maxPos)), 1f);
            }
            case "yarn" -> {
                double old = originalMax(c, rs, rsName, maxPos);
                double factor = rs.hasNonNull("factor") ? c.positiveNumber(rs, "factor", rsName + ".factor") : maxPos / old;
                // the cos/sin scale: given, or from mscale / mscale_all_dim, or 0.1·ln(factor) + 1
                double att;
                if (rs.hasNonNull("attention_factor")) {
                    att = c.positiveNumber(rs, "attention_factor", rsName + ".attention_factor");
                } else {
                    double ms = rs.path("mscale").asDouble(0), msAll = rs.path("mscale_all_dim").asDouble(0);
                    att = ms != 0 && msAll != 0 ? yarnMscale(factor, ms) / yarnMscale(factor, msAll) : yarnMscale(factor, 1);
                }
                double fast = rs.path("beta_fast").asDouble(0), slow = rs.path("beta_slow").asDouble(0);
                if (!(fast >= 0) || !(slow >= 0)) throw new IllegalArgumentException(c.where() + ": " + rsName + ".beta_fast / beta_slow must be >= 0");
                JsonNode tr = rs.get("truncate");
                boolean truncate = tr == null || tr.isNull() || tr.asBoolean(true);
                yield new Frequencies(yarnInvFreq(theta, rotaryDim, factor, fast == 0 ? 32 : fast, slow == 0 ? 1 : slow, old, truncate), (float) att);
            }
            case "longrope" -> {
                // Phi3Config always has original_max_position_embeddings (default 4096) at the top level
                double old = modelType.equals("phi3") ? c.optPositive("original_max_position_embeddings", 4096) : originalMax(c, rs, rsName, maxPos);
                // transformers 5: rope_parameters' factor when set, else the ratio of the two contexts
                // (transformers 4 took the ratio whenever the top level had original_max_position_embeddings)
                double factor = rs.hasNonNull("factor") ? c.positiveNumber(rs, "factor", rsName + ".factor") : maxPos / old;
                double att = rs.hasNonNull("attention_factor") ? c.positiveNumber(rs, "attention_factor", rsName + ".attention_factor")
                        : factor <= 1 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(old));
                float[] shortInv = longRopeInvFreq(theta, rotaryDim, factors(c, rs, rsName, "short_factor", rotaryDim / 2));
                float[] longInv = longRopeInvFreq(theta, rotaryDim, factors(c, rs, rsName, "long_factor", rotaryDim / 2));
                schedule = Rope.Frequencies.longRope(Rope.widen(shortInv), Rope.widen(longInv), (int) old, (float) att);
                yield new Frequencies(shortInv, (float) att);
            }
            case "dynamic" -> {
                double factor = c.positiveNumber(rs, "factor", rsName + ".factor");
                if (factor < 1) throw new IllegalArgumentException(c.where() + ": " + rsName + ".factor is " + factor + "; dynamic NTK needs >= 1");
                schedule = Rope.Frequencies.dynamicNtk(theta, rotaryDim, maxPos, factor);
                context = (int) Math.min(Integer.MAX_VALUE, Math.floor(maxPos * factor));
                yield new Frequencies(defaultInvFreq(theta, rotaryDim), 1f);
            }
            default -> throw new IllegalArgumentException(c.where() + ": " + rsName + " type \"" + type
                    + "\" is not supported; expected \"default\", \"linear\", \"llama3\", \"yarn\", \"longrope\" or \"dynamic\"");
        };
        double[] invD = Rope.widen(rope.inv());
        if (schedule == null) schedule = Rope.Frequencies.fixed(invD, rope.attentionFactor());
        if (localInv != null) {
            gemma = new Gemma(gemma.embedScale(), gemma.mlpGelu(), gemma.sandwichNorms(), gemma.queryScale(), gemma.attnSoftcap(),
                    gemma.finalSoftcap(), localInv);
        }
        return new LlamaConfig(modelType, hidden, inter, nLayer, nHead, nKv, headDim, vocab, (float) eps, theta, type, invD, rope.attentionFactor(),
                rotaryDim, schedule, context,
                c.bool("tie_word_embeddings", isGemma), qkvBias, oBias,
                modelType.equals("llama") && c.bool("mlp_bias", false), windows, c.eosIds(), qwen3 || gemma3, gemma,
                MoeConfig.parse(c, modelType, nLayer, inter));
    }

    /** Gemma's settings: the MLP's GELU, √hidden, and Gemma 2's norms, scale and soft caps (HF's defaults when absent). */
    private static Gemma gemma(ConfigJson c, String modelType, int hidden) {
        // HF reads hidden_activation (Gemma's first configs only had hidden_act "gelu", for which it warns and uses the tanh GELU)
        String act = c.has("hidden_activation") ? c.text("hidden_activation", "gelu_pytorch_tanh") : "gelu_pytorch_tanh";
        dev.surpass.layers.Activation.Gelu gelu = switch (act) {
            case "gelu_pytorch_tanh", "gelu_new", "gelu_fast" -> dev.surpass.layers.Activation.Gelu.TANH;
            case "gelu" -> dev.surpass.layers.Activation.Gelu.ERF;
            default -> throw new IllegalArgumentException(c.where() + ": field \"hidden_activation\" is \"" + act
                    + "\"; expected \"gelu_pytorch_tanh\" or \"gelu\"");
        };
        float embed = (float) Math.sqrt(hidden);
        if (modelType.equals("gemma")) return new Gemma(embed, gelu, false, 0f, 0f, 0f, null);
        boolean v3 = modelType.equals("gemma3_text");
        if (v3 && c.bool("use_bidirectional_attention", false)) {
            throw new IllegalArgumentException(c.where() + ": use_bidirectional_attention is true; only causal Gemma 3 is supported");
        }
        double qpa = c.optPositiveNumber("query_pre_attn_scalar", 256);
        // Gemma 3 has no soft caps unless its config sets them; Gemma 2 defaults to 50 / 30
        return new Gemma(embed, gelu, true, (float) Math.pow(qpa, -0.5), softcap(c, "attn_logit_softcapping", v3 ? 0 : 50),
                softcap(c, "final_logit_softcapping", v3 ? 0 : 30), null);
    }

    /** A soft cap: the field's positive value, 0 when it is null (off), {@code dflt} when it is absent (0: off). */
    private static float softcap(ConfigJson c, String key, double dflt) {
        if (c.node().has(key) && c.node().get(key).isNull()) return 0f;
        if (dflt == 0 && !c.has(key)) return 0f;
        return (float) c.optPositiveNumber(key, dflt);
    }

    /** The RoPE frequencies of a scaling type and the factor its cos and sin are multiplied by. */
    private record Frequencies(float[] inv, float attentionFactor) {}

    /**
     * transformers 5's original_max_position_embeddings (standardize_rope_params): the top-level
     * field first, then the RoPE object's, then max_position_embeddings.
     */
    private static double originalMax(ConfigJson c, JsonNode rs, String rsName, int maxPos) {
        String k = "original_max_position_embeddings";
        if (c.has(k)) return c.positiveNumber(c.node(), k, k);
        return rs.hasNonNull(k) ? c.positiveNumber(rs, k, rsName + "." + k) : maxPos;
    }

    /**
     * The rotary dims: {@code int(head_dim · partial_rotary_factor)}, the factor from the top level
     * (which transformers 5's standardize_rope_params copies over the RoPE object's) or the RoPE
     * object. Only Phi-3's HF attention splits q and k into a rotated and a passed part; the other
     * families rotate the whole head, so a factor other than 1 is refused for them.
     */
    private static int rotaryDim(ConfigJson c, JsonNode rs, String rsName, String modelType, int headDim) {
        String field = "partial_rotary_factor";
        double f;
        if (c.has(field)) {
            f = c.positiveNumber(c.node(), field, field);
        } else if (rs != null && rs.hasNonNull(field)) {
            f = c.positiveNumber(rs, field, rsName + "." + field);
            field = rsName + "." + field;
        } else {
            return headDim;
        }
        if (f == 1.0) return headDim;
        if (!modelType.equals("phi3")) {
            throw new IllegalArgumentException(c.where() + ": " + field + " " + f + " is not supported for " + modelType
                    + " (HF's attention of this family rotates the whole head; only phi3 takes a partial rotary)");
        }
        int dim = (int) (headDim * f);
        if (!(f < 1) || dim < 2 || dim % 2 != 0) {
            throw new IllegalArgumentException(c.where() + ": " + field + " " + f + " gives " + dim + " rotary dims of head_dim " + headDim
                    + "; expected a factor in (0, 1] giving an even number >= 2");
        }
        return dim;
    }

    /** LongRoPE's {@code short_factor} / {@code long_factor}: {@code n} positive numbers. */
    private static double[] factors(ConfigJson c, JsonNode rs, String rsName, String key, int n) {
        JsonNode v = rs.get(key);
        if (v == null || !v.isArray() || v.size() != n) {
            throw new IllegalArgumentException(c.where() + ": " + rsName + "." + key + " is " + (v == null ? "missing" : v.isArray()
                    ? "a list of " + v.size() : v.toString()) + "; expected a list of " + n + " numbers (rotary dims / 2)");
        }
        double[] f = new double[n];
        for (int i = 0; i < n; i++) {
            JsonNode e = v.get(i);
            if (!e.isNumber() || !(e.asDouble() > 0) || !Double.isFinite(e.asDouble())) {
                throw new IllegalArgumentException(c.where() + ": " + rsName + "." + key + "[" + i + "] is " + e + "; expected a positive number");
            }
            f[i] = e.asDouble();
        }
        return f;
    }

    /** Per layer, the sliding window of HF's Mistral / Qwen2 attention (-1: none). */
    static int[] slidingWindows(ConfigJson c, String modelType, int nLayer) {
        int[] w = new int[nLayer];
        java.util.Arrays.fill(w, -1);
        // (OLMoE's attention hands sliding_window only to flash attention; its eager and SDPA masks have none)
        if (modelType.equals("llama") || modelType.equals("gemma") || modelType.equals("olmo2") || modelType.equals("olmoe")) return w;
        if (modelType.equals("phi3") && !c.has("sliding_window")) return w; // Phi3Config's default is null
        if (modelType.equals("mixtral") && !c.has("sliding_window")) return w; // MixtralConfig's default is null too
        if (modelType.equals("qwen2_moe") || modelType.equals("qwen3_moe")) {
            if (!c.bool("use_sliding_window", false)) return w;
            JsonNode lt = c.node().get("layer_types");
            if (lt == null || lt.isNull()) {
                throw new IllegalArgumentException(c.where() + ": field \"use_sliding_window\" is true without \"layer_types\"; which layers of a "
                        + modelType + " model take the window differs between transformers versions, so it is not supported");
            }
        }
        int size;
        boolean qwen = modelType.equals("qwen2") || modelType.equals("qwen3");
        if (qwen && !c.bool("use_sliding_window", false)) {
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
        if (modelType.equals("gemma2")) { // HF's Gemma2Attention: a window on the even layers
            for (int i = 0; i < nLayer; i += 2) w[i] = size;
            return w;
        }
        if (modelType.equals("gemma3_text")) { // Gemma3TextConfig: every sliding_window_pattern-th layer is global
            int pattern = c.optPositive("sliding_window_pattern", 6);
            for (int i = 0; i < nLayer; i++) if ((i + 1) % pattern != 0) w[i] = size;
            return w;
        }
        int from = qwen ? c.optPositiveOrZero("max_window_layers", 28) : 0;
        for (int i = from; i < nLayer; i++) w[i] = size;
        return w;
    }

    // The inverse frequencies as HF computes them (modeling_rope_utils): in fp32, operation for
    // operation, so that angles p·invFreq match its tables to the rounding of cos/sin, not to
    // p · 1e-7 (a 4k-token prompt would otherwise part from HF by ~1e-4 in the angle). Python
    // scalars meet fp32 tensors as fp32; `s / t` is `reciprocal(t) * s` (Tensor.__rtruediv__).

    /** {@code 1 / theta^(arange(0, D, 2) / D)} in fp32 ({@link dev.surpass.model.decoder.Rope#defaultInvFreq}). */
    static float[] defaultInvFreq(double theta, int headDim) {
        return dev.surpass.model.decoder.Rope.defaultInvFreq(theta, headDim);
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

    /**
     * LongRoPE ({@code _compute_longrope_parameters}): {@code 1 / (ext · theta^(arange(0, D, 2) / D))},
     * the factors {@code ext} taken to fp32 as {@code torch.tensor(list)} does.
     */
    static float[] longRopeInvFreq(double theta, int dim, double[] ext) {
        float[] inv = new float[dim / 2];
        for (int i = 0; i < inv.length; i++) {
            float e = (float) (2 * i) / (float) dim;
            inv[i] = 1f / ((float) ext[i] * (float) Math.pow((float) theta, e));
        }
        return inv;
    }

    private static double yarnMscale(double scale, double mscale) {
        return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
    }

    /**
     * YaRN (transformers 5's {@code _compute_yarn_parameters}): the dimensions that turn more than
     * {@code betaFast} times over {@code old} positions keep their frequency, those turning fewer
     * than {@code betaSlow} times are divided by {@code factor}, a linear ramp blends the ones
     * between; the ramp's bounds in float64 as Python computes them, the rest in fp32.
     */
    static float[] yarnInvFreq(double theta, int headDim, double factor, double betaFast, double betaSlow, double old, boolean truncate) {
        int half = headDim / 2;
        double low = headDim * Math.log(old / (betaFast * 2 * Math.PI)) / (2 * Math.log(theta));
        double high = headDim * Math.log(old / (betaSlow * 2 * Math.PI)) / (2 * Math.log(theta));
        if (truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, headDim - 1);
        if (low == high) high += 0.001; // no zero-width ramp
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float pos = (float) Math.pow((float) theta, (float) (2 * i) / (float) headDim);
            float extrapolation = 1f / pos, interpolation = 1f / ((float) factor * pos);
            float ramp = Math.min(Math.max(((float) i - (float) low) / (float) (high - low), 0f), 1f);
            float keep = 1f - ramp;
            inv[i] = interpolation * (1f - keep) + extrapolation * keep;
        }
        return inv;
    }
}
