package dev.surpass.model.mamba;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Mamba-1 language model's hyper-parameters, read from a {@code config.json} in either the
 * mamba_ssm naming ({@code d_model, n_layer, vocab_size, ssm_cfg{d_state, d_conv, expand, dt_rank},
 * rms_norm, residual_in_fp32, fused_add_norm, pad_vocab_size_multiple, tie_embeddings}) or the HF
 * {@code MambaForCausalLM} naming ({@code hidden_size, num_hidden_layers, state_size, expand,
 * conv_kernel, time_step_rank, layer_norm_epsilon, tie_word_embeddings, use_bias, use_conv_bias}).
 *
 * @param dModel        residual width
 * @param nLayer        number of blocks
 * @param vocabSize     the tokenizer's vocabulary (ids {@code [0, vocabSize)} may be sampled)
 * @param paddedVocab   rows of the embedding and lm_head: vocabSize rounded up to padVocabMultiple
 * @param dState        N, the SSM state per channel
 * @param dConv         W, the causal conv width
 * @param expand        d_inner / d_model
 * @param dInner        expand · d_model
 * @param dtRank        rank of the Δ projection ({@code ceil(d_model / 16)} when "auto")
 * @param normEps       RMSNorm epsilon
 * @param residualInFp32 the residual stream is fp32 (always true here: the model computes in fp32)
 * @param tieEmbeddings lm_head shares the embedding matrix (when the checkpoint has no lm_head.weight)
 * @param convBias      conv1d has a bias
 * @param projBias      in_proj/out_proj have biases
 */
public record MambaConfig(int dModel, int nLayer, int vocabSize, int paddedVocab, int dState, int dConv, int expand,
                          int dInner, int dtRank, float normEps, boolean residualInFp32, boolean tieEmbeddings,
                          boolean convBias, boolean projBias) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** True when {@code config.json} in {@code dir} names a Mamba-1 model (architectures or model_type). */
    public static boolean looksLikeMamba(Path dir) {
        try {
            Path f = dir.resolve("config.json");
            if (!Files.isRegularFile(f)) return false;
            JsonNode n = JSON.readTree(f.toFile());
            if (n == null || !n.isObject()) return false;
            String mt = n.path("model_type").asText("");
            if (mt.equalsIgnoreCase("mamba")) return true;
            for (JsonNode a : n.path("architectures")) {
                String s = a.asText("");
                if (s.equals("MambaForCausalLM") || s.equals("MambaModel") || s.equals("MambaLMHeadModel")) return true;
            }
            // mamba_ssm configs carry neither: recognise them by their keys.
            return n.has("d_model") && n.has("n_layer") && n.has("ssm_cfg")
                    && !"Mamba2".equals(n.path("ssm_cfg").path("layer").asText("Mamba1"));
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Reads {@code dir/config.json} (or the file itself when {@code path} is a file). */
    public static MambaConfig load(Path path) {
        Path f = Files.isDirectory(path) ? path.resolve("config.json") : path;
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(f + ": no config.json for a Mamba model");
        JsonNode n;
        try {
            n = JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) throw new IllegalArgumentException(f + ": expected a JSON object");
        return parse(n, f.toString());
    }

    /** Parses a config object; {@code where} names the file in error messages. */
    public static MambaConfig parse(JsonNode n, String where) {
        JsonNode ssm = n.path("ssm_cfg");
        if (ssm.has("layer") && !"Mamba1".equals(ssm.get("layer").asText())) {
            throw new IllegalArgumentException(where + ": ssm_cfg.layer is " + ssm.get("layer") + "; only Mamba1 is supported");
        }
        if (n.has("rms_norm") && !n.get("rms_norm").asBoolean(true)) {
            throw new IllegalArgumentException(where + ": rms_norm is false (LayerNorm blocks); only RMSNorm Mamba models are supported");
        }
        int dModel = positive(n, where, "d_model", "hidden_size", null);
        int nLayer = positive(n, where, "n_layer", "num_hidden_layers", null);
        int vocab = positive(n, where, "vocab_size", null, null);
        int padMult = optPositive(n, where, "pad_vocab_size_multiple", null, 1);
        int dState = optPositive(ssm.isObject() ? ssm : n, where, ssm.isObject() && ssm.has("d_state") ? "ssm_cfg.d_state" : "state_size",
                null, 16);
        int dConv = optPositive(ssm.isObject() && ssm.has("d_conv") ? ssm : n, where,
                ssm.isObject() && ssm.has("d_conv") ? "ssm_cfg.d_conv" : "conv_kernel", null, 4);
        int expand = optPositive(ssm.isObject() && ssm.has("expand") ? ssm : n, where,
                ssm.isObject() && ssm.has("expand") ? "ssm_cfg.expand" : "expand", null, 2);
        int dInner = expand * dModel;
        if (n.has("intermediate_size")) {
            int inter = positive(n, where, "intermediate_size", null, null);
            if (inter != dInner) {
                throw new IllegalArgumentException(where + ": intermediate_size is " + inter + " but expand·hidden_size is " + dInner);
            }
        }
        JsonNode rank = ssm.isObject() && ssm.has("dt_rank") ? ssm.get("dt_rank") : n.get("time_step_rank");
        String rankField = ssm.isObject() && ssm.has("dt_rank") ? "ssm_cfg.dt_rank" : "time_step_rank";
        int dtRank;
        if (rank == null || rank.isNull() || (rank.isTextual() && rank.asText().equals("auto"))) {
            dtRank = (dModel + 15) / 16;
        } else if (rank.canConvertToExactIntegral() && rank.asInt() > 0) {
            dtRank = rank.asInt();
        } else {
            throw new IllegalArgumentException(where + ": " + rankField + " is " + rank + "; expected a positive integer or \"auto\"");
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
        boolean tie = bool(n, where, "tie_embeddings", bool(n, where, "tie_word_embeddings", true));
        boolean convBias = bool(ssm.isObject() ? ssm : n, where, "conv_bias", bool(n, where, "use_conv_bias", true));
        boolean projBias = bool(ssm.isObject() ? ssm : n, where, "bias", bool(n, where, "use_bias", false));
        boolean resFp32 = bool(n, where, "residual_in_fp32", true);
        long padded = ((long) vocab + padMult - 1) / padMult * padMult;
        if (dConv > 4) throw new IllegalArgumentException(where + ": d_conv/conv_kernel is " + dConv + "; at most 4 is supported");
        if (dState > 256) throw new IllegalArgumentException(where + ": d_state/state_size is " + dState + "; at most 256 is supported");
        return new MambaConfig(dModel, nLayer, vocab, (int) padded, dState, dConv, expand, dInner, dtRank, (float) eps, resFp32,
                tie, convBias, projBias);
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
