package dev.surpass.model.mamba;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;

/**
 * A Mamba-1 or Mamba-2 language model's hyper-parameters, read from a {@code config.json} in either
 * the mamba_ssm naming ({@code d_model, n_layer, vocab_size, ssm_cfg{layer, d_state, d_conv, expand,
 * dt_rank | headdim, ngroups, …}, rms_norm, residual_in_fp32, fused_add_norm,
 * pad_vocab_size_multiple, tie_embeddings}) or the HF naming ({@code MambaForCausalLM}:
 * {@code hidden_size, num_hidden_layers, state_size, expand, conv_kernel, time_step_rank,
 * layer_norm_epsilon, tie_word_embeddings, use_bias, use_conv_bias}; {@code Mamba2ForCausalLM}
 * adds {@code num_heads, head_dim, n_groups, time_step_limit, hidden_act}). Defaults are each
 * implementation's own (d_state 16 for Mamba-1, 128 for Mamba-2; HF's Mamba-2 defaults are
 * Codestral's: 128 heads, 8 groups, untied head). A config.json may spell infinity as
 * {@code Infinity}, as Python's json module writes it (HF's Mamba-2 {@code time_step_limit}).
 *
 * <p>HF's {@code FalconMambaForCausalLM} ({@code model_type "falcon_mamba"}) is Mamba-1 in the HF
 * naming whose mixer RMS-normalises dt, B and C (weight-free, over their last axis, epsilon
 * {@code mixer_rms_eps}, default 1e-6) right after x_proj; its other defaults are HF Mamba-1's. As in
 * HF (its config keeps the extra key over expand · hidden_size), an {@code intermediate_size} in
 * its config.json is d_inner whatever {@code expand} says.
 *
 * @param dModel        residual width
 * @param nLayer        number of blocks
 * @param vocabSize     the tokenizer's vocabulary (ids {@code [0, vocabSize)} may be sampled)
 * @param paddedVocab   rows of the embedding and lm_head: vocabSize rounded up to padVocabMultiple
 * @param dState        N, the SSM state per channel (Mamba-2: per head channel, shared by its head)
 * @param dConv         W, the causal conv width
 * @param expand        d_inner / d_model
 * @param dInner        expand · d_model (FalconMamba: intermediate_size when given)
 * @param dtRank        rank of Mamba-1's Δ projection ({@code ceil(d_model / 16)} when "auto"); 0 for Mamba-2
 * @param normEps       RMSNorm epsilon
 * @param residualInFp32 the residual stream is fp32 (always true here: the model computes in fp32)
 * @param tieEmbeddings lm_head shares the embedding matrix (when the checkpoint has no lm_head.weight)
 * @param convBias      conv1d has a bias
 * @param projBias      in_proj/out_proj have biases
 * @param mamba2        the Mamba-2 (SSD) mixer's settings, or null for a Mamba-1 model
 * @param mixerRmsEps   FalconMamba: epsilon of the weight-free RMSNorm of dt, B and C after x_proj;
 *                      0 for the models without it
 */
public record MambaConfig(int dModel, int nLayer, int vocabSize, int paddedVocab, int dState, int dConv, int expand,
                          int dInner, int dtRank, float normEps, boolean residualInFp32, boolean tieEmbeddings,
                          boolean convBias, boolean projBias, Mamba2 mamba2, float mixerRmsEps) {

    /**
     * The Mamba-2 mixer (mamba_ssm {@code Mamba2}, HF {@code Mamba2Mixer}): d_inner = nHeads · headDim
     * channels in heads of headDim, one scalar A, Δ bias and (unless {@code dPerChannel}) D per head,
     * B and C shared by the heads of each of nGroups groups.
     *
     * @param nHeads       H
     * @param headDim      P (d_inner = H·P)
     * @param nGroups      G, dividing H
     * @param gatedNorm    y = RMSNorm(y · silu(z)) · weight before out_proj (mamba_ssm {@code rmsnorm},
     *                     always in HF); false: the scan gates y by silu(z) and there is no norm
     * @param normPerGroup the gated RMSNorm normalises each group's d_inner / G channels apart
     *                     (mamba_ssm's {@code RMSNormGated(group_size = d_ssm / ngroups)}); false:
     *                     over all d_inner channels (HF's {@code MambaRMSNormGated}, which ignores
     *                     the groups). The two agree when G = 1.
     * @param dPerChannel  D has d_inner entries (mamba_ssm {@code D_has_hdim}) instead of H
     * @param gatedNormEps the gated RMSNorm's epsilon: 1e-5 in mamba_ssm (fixed there), HF's
     *                     {@code layer_norm_epsilon}
     */
    public record Mamba2(int nHeads, int headDim, int nGroups, boolean gatedNorm, boolean normPerGroup, boolean dPerChannel,
                         float gatedNormEps) {}

    /** True for a Mamba-2 (SSD) model. */
    public boolean isMamba2() {
        return mamba2 != null;
    }

    /**
     * Channels of the causal conv: d_inner for Mamba-1; d_inner + 2·G·N for Mamba-2, whose conv runs
     * over [x | B | C].
     */
    public int convChannels() {
        return mamba2 == null ? dInner : dInner + 2 * mamba2.nGroups() * dState;
    }

    /** True for FalconMamba: dt, B and C are RMS-normalised after x_proj. */
    public boolean normsDtBC() {
        return mixerRmsEps > 0;
    }

    /** True when the config object names HF's FalconMamba (model_type or architectures). */
    static boolean isFalcon(JsonNode n) {
        if (n.path("model_type").asText("").equalsIgnoreCase("falcon_mamba")) return true;
        for (JsonNode a : n.path("architectures")) {
            if (a.asText("").startsWith("FalconMamba")) return true;
        }
        return false;
    }

    /** True when {@code config.json} in {@code dir} names a Mamba-1, Mamba-2 or FalconMamba model (architectures or model_type). */
    public static boolean looksLikeMamba(Path dir) {
        try {
            JsonNode n = ConfigJson.peek(dir); // read as the decoders' configs are (Infinity / NaN allowed)
            if (n == null) return false;
            String mt = n.path("model_type").asText("");
            if (mt.equalsIgnoreCase("mamba") || mt.equalsIgnoreCase("mamba2") || isFalcon(n)) return true;
            for (JsonNode a : n.path("architectures")) {
                String s = a.asText("");
                if (s.equals("MambaForCausalLM") || s.equals("MambaModel") || s.equals("MambaLMHeadModel")
                        || s.equals("Mamba2ForCausalLM") || s.equals("Mamba2Model")) {
                    return true;
                }
            }
            // mamba_ssm configs carry neither: recognise them by their keys.
            return n.has("d_model") && n.has("n_layer") && n.has("ssm_cfg");
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Reads {@code dir/config.json} (or the file itself when {@code path} is a file). */
    public static MambaConfig load(Path path) {
        ConfigJson c = ConfigJson.load(path, "Mamba");
        return parse(c.node(), c.where());
    }

    /** Parses a config object; {@code where} names the file in error messages. */
    public static MambaConfig parse(JsonNode n, String where) {
        JsonNode ssm = n.path("ssm_cfg");
        boolean inSsm = ssm.isObject(); // mamba_ssm naming: the mixer's settings sit in ssm_cfg
        String layer = ssm.has("layer") ? ssm.get("layer").asText() : "Mamba1";
        boolean hf2 = n.path("model_type").asText("").equalsIgnoreCase("mamba2");
        for (JsonNode a : n.path("architectures")) hf2 |= a.asText("").startsWith("Mamba2");
        if (!layer.equals("Mamba1") && !layer.equals("Mamba2")) {
            throw new IllegalArgumentException(where + ": ssm_cfg.layer is " + ssm.get("layer") + "; expected \"Mamba1\" or \"Mamba2\"");
        }
        boolean falcon = isFalcon(n);
        if (falcon && (hf2 || inSsm)) {
            throw new IllegalArgumentException(where + ": model_type/architectures say FalconMamba but the config also has "
                    + (inSsm ? "ssm_cfg (mamba_ssm naming)" : "Mamba-2 markers") + "; FalconMamba is HF's Mamba-1 naming");
        }
        boolean v2 = hf2 || layer.equals("Mamba2");
        if (n.has("rms_norm") && !n.get("rms_norm").asBoolean(true) && !hf2) {
            throw new IllegalArgumentException(where + ": rms_norm is false (LayerNorm blocks); only RMSNorm Mamba models are supported");
        }
        int dModel = positive(n, where, "d_model", "hidden_size", null);
        int nLayer = positive(n, where, "n_layer", "num_hidden_layers", null);
        int vocab = positive(n, where, "vocab_size", null, null);
        int padMult = optPositive(n, where, "pad_vocab_size_multiple", null, 1);
        JsonNode mix = inSsm ? ssm : n;
        int dState = optPositive(mix, where, inSsm ? "ssm_cfg.d_state" : "state_size", null, v2 ? 128 : 16);
        int dConv = optPositive(mix, where, inSsm ? "ssm_cfg.d_conv" : "conv_kernel", null, 4);
        int expand = optPositive(mix, where, inSsm ? "ssm_cfg.expand" : "expand", null, 2);
        int dInner = expand * dModel;
        if (n.has("intermediate_size")) {
            int inter = positive(n, where, "intermediate_size", null, null);
            if (falcon) {
                dInner = inter; // HF's FalconMambaConfig keeps a given intermediate_size over expand · hidden_size
            } else if (inter != dInner) {
                throw new IllegalArgumentException(where + ": intermediate_size is " + inter + " but expand·hidden_size is " + dInner);
            }
        }
        double eps = 1e-5;
        for (String k : new String[] {"layer_norm_epsilon", "norm_epsilon"}) {
            if (n.has(k)) {
                JsonNode e = n.get(k);
                if (!e.isNumber() || !(e.asDouble() > 0) || !Double.isFinite(e.asDouble())) {
                    throw new IllegalArgumentException(where + ": " + k + " is " + e + "; expected a positive number");
                }
                eps = e.asDouble();
            }
        }
        double mixerEps = 0;
        if (falcon) {
            mixerEps = 1e-6;
            if (n.has("mixer_rms_eps") && !n.get("mixer_rms_eps").isNull()) {
                JsonNode e = n.get("mixer_rms_eps");
                if (!e.isNumber() || !(e.asDouble() > 0) || !Double.isFinite(e.asDouble())) {
                    throw new IllegalArgumentException(where + ": mixer_rms_eps is " + e + "; expected a positive number");
                }
                mixerEps = e.asDouble();
            }
            activation(n, where, "hidden_act", "hidden_act");
        }
        int dtRank = 0;
        Mamba2 m2 = null;
        if (v2) {
            m2 = inSsm || !hf2 ? mamba2Ssm(n, ssm, where, dInner) : mamba2Hf(n, where, dInner, (float) eps);
        } else {
            JsonNode rank = inSsm && ssm.has("dt_rank") ? ssm.get("dt_rank") : n.get("time_step_rank");
            String rankField = inSsm && ssm.has("dt_rank") ? "ssm_cfg.dt_rank" : "time_step_rank";
            if (rank == null || rank.isNull() || (rank.isTextual() && rank.asText().equals("auto"))) {
                dtRank = (dModel + 15) / 16;
            } else if (rank.canConvertToExactIntegral() && rank.asInt() > 0) {
                dtRank = rank.asInt();
            } else {
                throw new IllegalArgumentException(where + ": " + rankField + " is " + rank + "; expected a positive integer or \"auto\"");
            }
        }
        // HF's Mamba2Config unties the head by default (Codestral); mamba_ssm and HF's Mamba-1 tie it.
        boolean tie = bool(n, where, "tie_embeddings", bool(n, where, "tie_word_embeddings", !(hf2 && !inSsm)));
        boolean convBias = bool(mix, where, "conv_bias", bool(n, where, "use_conv_bias", true));
        boolean projBias = bool(mix, where, "bias", bool(n, where, "use_bias", false));
        boolean resFp32 = bool(n, where, "residual_in_fp32", true);
        long padded = ((long) vocab + padMult - 1) / padMult * padMult;
        if (dConv > 4) throw new IllegalArgumentException(where + ": d_conv/conv_kernel is " + dConv + "; at most 4 is supported");
        if (dState > 256) throw new IllegalArgumentException(where + ": d_state/state_size is " + dState + "; at most 256 is supported");
        return new MambaConfig(dModel, nLayer, vocab, (int) padded, dState, dConv, expand, dInner, dtRank, (float) eps, resFp32,
                tie, convBias, projBias, m2, (float) mixerEps);
    }

    /** Mamba-2 in mamba_ssm's naming: ssm_cfg {headdim, ngroups, d_ssm, rmsnorm, norm_before_gate, D_has_hdim, dt_limit, activation}. */
    private static Mamba2 mamba2Ssm(JsonNode n, JsonNode ssm, String where, int dInner) {
        if (n.has("d_intermediate") && !(n.get("d_intermediate").canConvertToExactIntegral() && n.get("d_intermediate").asLong() == 0)) {
            throw new IllegalArgumentException(where + ": d_intermediate is " + n.get("d_intermediate")
                    + "; MLP blocks between the mixers are not supported (expected 0)");
        }
        if (n.path("attn_layer_idx").isArray() && n.path("attn_layer_idx").size() > 0) {
            throw new IllegalArgumentException(where + ": attn_layer_idx is " + n.get("attn_layer_idx")
                    + "; hybrid models with attention layers are not supported");
        }
        int headDim = optPositive(ssm, where, "ssm_cfg.headdim", null, 64);
        int nGroups = optPositive(ssm, where, "ssm_cfg.ngroups", null, 1);
        if (ssm.has("d_ssm") && !ssm.get("d_ssm").isNull()
                && !(ssm.get("d_ssm").canConvertToExactIntegral() && ssm.get("d_ssm").asLong() == dInner)) {
            throw new IllegalArgumentException(where + ": ssm_cfg.d_ssm is " + ssm.get("d_ssm") + "; only d_ssm = expand·d_model = "
                    + dInner + " (no gated-MLP channels) is supported");
        }
        if (bool(ssm, where, "norm_before_gate", false)) {
            throw new IllegalArgumentException(where + ": ssm_cfg.norm_before_gate is true; only the default (gate, then norm) is supported");
        }
        activation(ssm, where, "ssm_cfg.activation", "activation");
        dtLimit(ssm, where, "ssm_cfg.dt_limit", "dt_limit");
        boolean gated = bool(ssm, where, "rmsnorm", true);
        boolean dHasHdim = bool(ssm, where, "D_has_hdim", false);
        return heads(where, dInner, headDim, dInner / Math.max(1, headDim), nGroups, "ssm_cfg.headdim", "ssm_cfg.ngroups",
                gated, true, dHasHdim, 1e-5f); // mamba_ssm builds its RMSNormGated with eps=1e-5
    }

    /** Mamba-2 in HF's naming: num_heads, head_dim, n_groups, time_step_limit, hidden_act (its defaults are Codestral's). */
    private static Mamba2 mamba2Hf(JsonNode n, String where, int dInner, float eps) {
        int headDim = optPositive(n, where, "head_dim", null, 64);
        int nHeads = optPositive(n, where, "num_heads", null, 128);
        int nGroups = optPositive(n, where, "n_groups", null, 8);
        if ((long) nHeads * headDim != dInner) {
            throw new IllegalArgumentException(where + ": num_heads · head_dim is " + nHeads + " · " + headDim + " = " + (long) nHeads * headDim
                    + " but expand · hidden_size is " + dInner + "; they must be equal");
        }
        activation(n, where, "hidden_act", "hidden_act");
        dtLimit(n, where, "time_step_limit", "time_step_limit");
        return heads(where, dInner, headDim, nHeads, nGroups, "head_dim", "n_groups", true, false, false, eps);
    }

    private static Mamba2 heads(String where, int dInner, int headDim, int nHeads, int nGroups, String headField, String groupField,
                                boolean gated, boolean perGroup, boolean dHasHdim, float eps) {
        if (dInner % headDim != 0) {
            throw new IllegalArgumentException(where + ": " + headField + " is " + headDim + ", which does not divide d_inner " + dInner);
        }
        if (nHeads % nGroups != 0) {
            throw new IllegalArgumentException(where + ": " + groupField + " is " + nGroups + ", which does not divide the " + nHeads + " heads");
        }
        return new Mamba2(nHeads, headDim, nGroups, gated, perGroup, dHasHdim, eps);
    }

    /** The conv and gate activation must be SiLU (mamba_ssm "silu"/"swish"; the kernels have no other). */
    private static void activation(JsonNode n, String where, String field, String key) {
        if (!n.has(key) || n.get(key).isNull()) return;
        String a = n.get(key).asText("");
        if (!a.equals("silu") && !a.equals("swish")) {
            throw new IllegalArgumentException(where + ": " + field + " is " + n.get(key) + "; only \"silu\" (\"swish\") is supported");
        }
    }

    /** Δ's clamp after softplus: only the default (0, ∞) — a no-op on softplus' output — is supported. */
    private static void dtLimit(JsonNode n, String where, String field, String key) {
        if (!n.has(key) || n.get(key).isNull()) return;
        JsonNode l = n.get(key);
        boolean dflt = l.isArray() && l.size() == 2 && l.get(0).isNumber() && l.get(0).asDouble() == 0.0 && l.get(1).isNumber()
                && l.get(1).asDouble() == Double.POSITIVE_INFINITY;
        if (!dflt) {
            throw new IllegalArgumentException(where + ": " + field + " is " + l + "; only [0.0, Infinity] (no clamp of Δ) is supported");
        }
    }

    private static int positive(JsonNode n, String where, String key, String alt, Integer dflt) {
        String k = n.has(key) ? key : (alt != null && n.has(alt) ? alt : null);
        if (k == null) {
            if (dflt != null) return dflt;
            throw new IllegalArgumentException(where + ": missing field \"" + key + "\"" + (alt != null ? " (or \"" + alt + "\")" : ""));
        }
        JsonNode v = n.get(k);
        if (!v.canConvertToExactIntegral() || v.asLong() <= 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": field \"" + k + "\" is " + v + "; expected a positive integer");
        }
        return v.asInt();
    }

    private static int optPositive(JsonNode n, String where, String key, String alt, int dflt) {
        String bare = key.startsWith("ssm_cfg.") ? key.substring(8) : key;
        if (!n.has(bare)) return dflt;
        JsonNode v = n.get(bare);
        if (!v.canConvertToExactIntegral() || v.asLong() <= 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": field \"" + key + "\" is " + v + "; expected a positive integer");
        }
        return v.asInt();
    }

    private static boolean bool(JsonNode n, String where, String key, boolean dflt) {
        if (!n.has(key) || n.get(key).isNull()) return dflt;
        JsonNode v = n.get(key);
        if (!v.isBoolean()) throw new IllegalArgumentException(where + ": field \"" + key + "\" is " + v + "; expected true or false");
        return v.asBoolean();
    }
}
