package dev.surpass.model.jamba;

import dev.surpass.model.decoder.ConfigJson;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/**
 * A Jamba config.json ({@code model_type "jamba"}), read with transformers' defaults for absent
 * fields. Layer {@code i} is attention when {@code i % attn_layer_period == attn_layer_offset}, else
 * Mamba; its feed-forward is the mixture of {@code num_experts} experts when
 * {@code i % expert_layer_period == expert_layer_offset} and {@code num_experts > 1}, else a dense
 * SwiGLU MLP. Every MLP and expert has {@code intermediate_size}; Mamba's inner width is
 * {@code mamba_expand · hidden_size}, its dt rank {@code ceil(hidden_size / 16)} when "auto".
 *
 * <p>Refused (naming the field): activations other than silu, {@code mamba_proj_bias} true,
 * offsets not below their period, heads that do not divide the hidden size or a kv-head count that
 * does not divide the heads, head dims the fused attention lacks, top-k above the experts.
 * {@code sliding_window} is not applied: HF's eager and SDPA attention ignore it too.
 * {@code max_position_embeddings} (262144) bounds a generation's prompt + new tokens (the KV cache
 * is sized for them up front).
 */
public record JambaConfig(int vocabSize, int hidden, int intermediate, int nLayer, int nHeads, int nKvHeads, float rmsEps,
                          int experts, int topK, int expertPeriod, int expertOffset, int attnPeriod, int attnOffset,
                          int dState, int dConv, int expand, int dtRank, boolean convBias, boolean tieEmbeddings,
                          int maxPositions, int[] eosIds) {

    /** Head dims the fused attention kernels support. */
    private static final int[] HEAD_DIMS = {32, 64, 72, 80, 96, 128, 256};

    public int headDim() {
        return hidden / nHeads;
    }

    public int dInner() {
        return expand * hidden;
    }

    /** Whether layer {@code i} is an attention layer (else Mamba). */
    public boolean isAttention(int i) {
        return i % attnPeriod == attnOffset;
    }

    /** Whether layer {@code i}'s feed-forward is the mixture of experts (else a dense MLP). */
    public boolean isMoe(int i) {
        return experts > 1 && i % expertPeriod == expertOffset;
    }

    /** Whether {@code dir/config.json} says jamba (model_type or architectures). */
    public static boolean looksLikeJamba(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        if (n.path("model_type").asText("").equalsIgnoreCase("jamba")) return true;
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("Jamba")) return true;
        return false;
    }

    /** Reads {@code dir/config.json}; refusals name the file and field. */
    public static JambaConfig load(Path dir) {
        return parse(ConfigJson.load(dir, "Jamba"));
    }

    static JambaConfig parse(ConfigJson c) {
        String w = c.where();
        int vocab = c.optPositive("vocab_size", 65536);
        int hidden = c.optPositive("hidden_size", 4096);
        int inter = c.optPositive("intermediate_size", 14336);
        int layers = c.optPositive("num_hidden_layers", 32);
        int heads = c.optPositive("num_attention_heads", 32);
        int kv = c.optPositive("num_key_value_heads", heads);
        String act = c.text("hidden_act", "silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw new IllegalArgumentException(w + ": field \"hidden_act\" is \"" + act + "\"; only silu is supported");
        }
        double eps = c.optPositiveNumber("rms_norm_eps", 1e-6);
        int experts = c.optPositive("num_experts", 16);
        int topK = c.optPositive("num_experts_per_tok", 2);
        int ePeriod = c.optPositive("expert_layer_period", 2);
        int eOffset = c.optPositiveOrZero("expert_layer_offset", 1);
        int aPeriod = c.optPositive("attn_layer_period", 8);
        int aOffset = c.optPositiveOrZero("attn_layer_offset", 4);
        if (eOffset >= ePeriod) {
            throw new IllegalArgumentException(w + ": field \"expert_layer_offset\" is " + eOffset + " but must be below \"expert_layer_period\" " + ePeriod);
        }
        if (aOffset >= aPeriod) {
            throw new IllegalArgumentException(w + ": field \"attn_layer_offset\" is " + aOffset + " but must be below \"attn_layer_period\" " + aPeriod);
        }
        if (experts > 1 && topK > experts) {
            throw new IllegalArgumentException(w + ": field \"num_experts_per_tok\" is " + topK + " but there are only " + experts + " experts (\"num_experts\")");
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(w + ": field \"num_attention_heads\" is " + heads + " and does not divide \"hidden_size\" " + hidden);
        }
        if (heads % kv != 0) {
            throw new IllegalArgumentException(w + ": field \"num_key_value_heads\" is " + kv + " and does not divide \"num_attention_heads\" " + heads);
        }
        int hd = hidden / heads;
        boolean anyAttn = aOffset < layers;
        if (anyAttn && java.util.Arrays.stream(HEAD_DIMS).noneMatch(d -> d == hd)) {
            throw new IllegalArgumentException(w + ": head dim hidden_size / num_attention_heads = " + hd + " is not supported by the fused attention; expected one of "
                    + java.util.Arrays.toString(HEAD_DIMS));
        }
        int dState = c.optPositive("mamba_d_state", 16);
        int dConv = c.optPositive("mamba_d_conv", 4);
        if (dConv < 2) throw new IllegalArgumentException(w + ": field \"mamba_d_conv\" is " + dConv + "; expected >= 2");
        int expand = c.optPositive("mamba_expand", 2);
        int dtRank;
        JsonNode r = c.node().get("mamba_dt_rank");
        if (r == null || r.isNull() || (r.isTextual() && r.asText().equals("auto"))) dtRank = (hidden + 15) / 16;
        else dtRank = c.positiveAt(c.node(), "mamba_dt_rank", "mamba_dt_rank");
        boolean convBias = c.bool("mamba_conv_bias", true);
        if (c.bool("mamba_proj_bias", false)) {
            throw new IllegalArgumentException(w + ": field \"mamba_proj_bias\" is true; in_proj/out_proj biases are not supported");
        }
        boolean tie = c.bool("tie_word_embeddings", false);
        int maxPos = c.optPositive("max_position_embeddings", 262144);
        int[] eos = c.has("eos_token_id") ? c.eosIds() : new int[] {2};
        return new JambaConfig(vocab, hidden, inter, layers, heads, kv, (float) eps, experts, topK, ePeriod, eOffset, aPeriod, aOffset,
                dState, dConv, expand, dtRank, convBias, tie, maxPos, eos);
    }
}
