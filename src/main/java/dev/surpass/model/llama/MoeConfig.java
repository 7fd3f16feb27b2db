package dev.surpass.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;

/**
 * The sparse mixture-of-experts MLP of a Llama-family config ({@link LlamaConfig#moe}): a router
 * {@code gate [experts, hidden]} picks {@code topK} SwiGLU experts per token from the softmax (fp32)
 * of its logits; their outputs are summed with those probabilities as weights (renormalised to sum 1
 * when {@code normTopK}), plus a shared expert scaled by {@code sigmoid(shared_expert_gate · x)}.
 * Read as transformers reads each family, with its defaults when a field is absent:
 * <ul>
 *   <li>{@code "mixtral"}: {@code num_local_experts} (8), {@code num_experts_per_tok} (2), experts
 *       of {@code intermediate_size}, always renormalised, every layer sparse;</li>
 *   <li>{@code "qwen2_moe"}: {@code num_experts} (60), {@code num_experts_per_tok} (4),
 *       {@code moe_intermediate_size} (1408), {@code norm_topk_prob} (false), a shared expert of
 *       {@code shared_expert_intermediate_size} (5632);</li>
 *   <li>{@code "qwen3_moe"}: {@code num_experts} (128), {@code num_experts_per_tok} (8),
 *       {@code moe_intermediate_size} (768), {@code norm_topk_prob} (false), no shared expert;</li>
 *   <li>{@code "olmoe"}: {@code num_experts} (64), {@code num_experts_per_tok} (8), experts of
 *       {@code intermediate_size}, {@code norm_topk_prob} (false), every layer sparse.</li>
 * </ul>
 * In the Qwen families layer {@code i} is sparse when it is not in {@code mlp_only_layers} (empty)
 * and {@code (i + 1) % decoder_sparse_step == 0} (step 1) and there are experts; the other layers
 * have a dense MLP of {@code intermediate_size}.
 *
 * @param experts           the routed experts per sparse layer
 * @param topK              experts per token
 * @param intermediate      each routed expert's intermediate size
 * @param normTopK          the k probabilities are divided by their sum
 * @param sharedIntermediate the shared expert's intermediate size; 0: none
 * @param sparse            per layer, whether its MLP is the mixture (else dense)
 */
public record MoeConfig(int experts, int topK, int intermediate, boolean normTopK, int sharedIntermediate, boolean[] sparse) {

    /** The model types with a mixture-of-experts MLP. */
    static boolean isMoe(String modelType) {
        return modelType.equals("mixtral") || modelType.equals("qwen2_moe") || modelType.equals("qwen3_moe") || modelType.equals("olmoe");
    }

    /** Whether layer {@code i} has the mixture. */
    public boolean sparse(int layer) {
        return sparse[layer];
    }

    /** The mixture of {@code modelType}'s config, or null for a dense family. */
    static MoeConfig parse(ConfigJson c, String modelType, int nLayer, int intermediate) {
        if (!isMoe(modelType)) return null;
        boolean mixtral = modelType.equals("mixtral");
        boolean qwen2 = modelType.equals("qwen2_moe");
        boolean olmoe = modelType.equals("olmoe");
        // Mixtral names the count num_local_experts, the Qwen families num_experts (transformers maps each to the other)
        String countKey = mixtral ? "num_local_experts" : "num_experts";
        String altKey = mixtral ? "num_experts" : "num_local_experts";
        String countName = c.has(countKey) || !c.has(altKey) ? countKey : altKey;
        int experts = c.optPositiveOrZero(countName, mixtral ? 8 : qwen2 ? 60 : olmoe ? 64 : 128);
        if ((mixtral || olmoe) && experts == 0) throw new IllegalArgumentException(c.where() + ": field \"" + countName + "\" is 0; " + modelType + " needs experts");
        int topK = c.optPositive("num_experts_per_tok", mixtral ? 2 : qwen2 ? 4 : 8);
        if (experts > 0 && topK > experts) {
            throw new IllegalArgumentException(c.where() + ": field \"num_experts_per_tok\" is " + topK + " but there are only " + experts
                    + " experts (\"" + countName + "\")");
        }
        int expertInter = mixtral || olmoe ? intermediate : c.optPositive("moe_intermediate_size", qwen2 ? 1408 : 768);
        boolean norm = mixtral || c.bool("norm_topk_prob", false);
        int shared = qwen2 ? c.optPositive("shared_expert_intermediate_size", 5632) : 0;
        boolean[] sparse = new boolean[nLayer];
        if (mixtral || olmoe) {
            java.util.Arrays.fill(sparse, true);
        } else if (experts > 0) {
            int step = c.optPositive("decoder_sparse_step", 1);
            boolean[] dense = new boolean[nLayer];
            JsonNode only = c.node().get("mlp_only_layers");
            if (only != null && !only.isNull()) {
                if (!only.isArray()) throw new IllegalArgumentException(c.where() + ": field \"mlp_only_layers\" is " + only + "; expected a list of layer indices");
                for (JsonNode i : only) {
                    if (!i.canConvertToExactIntegral() || i.asLong() < 0 || i.asLong() >= nLayer) {
                        throw new IllegalArgumentException(c.where() + ": field \"mlp_only_layers\" holds " + i + "; expected layer indices in [0, "
                                + nLayer + ")");
                    }
                    dense[i.asInt()] = true;
                }
            }
            for (int i = 0; i < nLayer; i++) sparse[i] = !dense[i] && (i + 1) % step == 0;
        }
        return new MoeConfig(experts, topK, expertInter, norm, shared, sparse);
    }
}
