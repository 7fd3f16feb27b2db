package dev.surpass.model.bert;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for BERT folders (config.json model_type "bert", "roberta", "xlm-roberta",
 * "distilbert" or "mpnet" + safetensors): inputs
 * {@code input_ids}, optional {@code attention_mask} and {@code token_type_ids} (I32 or I64
 * {@code [B, N]}); outputs {@code last_hidden_state} F32 {@code [B, N, hidden]} and, when the
 * checkpoint has a pooler, {@code pooler_output} F32 {@code [B, hidden]} (as HF's BertModel).
 */
public final class BertForward implements ModelForward {
    @Override
    public String family() {
        return "bert";
    }

    @Override
    public boolean accepts(Path model) {
        return BertConfig.looksLikeBert(model);
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] ids = ModelForward.tokenRows("bert forward", inputs, "input_ids");
        int[][] mask = companion("bert forward", inputs, "attention_mask", ids);
        int[][] types = companion("bert forward", inputs, "token_type_ids", ids);
        try (BertModel m = BertModel.load(device, model)) {
            Tensor last = m.forward(ids, mask, types);
            if (!m.hasPooler()) return Map.of("last_hidden_state", last);
            try {
                Map<String, Tensor> out = new java.util.LinkedHashMap<>();
                out.put("last_hidden_state", last);
                out.put("pooler_output", m.pooler(last));
                return out;
            } catch (RuntimeException | Error e) {
                last.close();
                throw e;
            }
        }
    }

    /** An optional I32/I64 input of input_ids' shape as int rows (null when absent). */
    static int[][] companion(String op, Map<String, Tensor> inputs, String name, int[][] ids) {
        if (inputs.get(name) == null) return null;
        int[][] g = ModelForward.tokenRows(op, inputs, name);
        if (g.length != ids.length || g[0].length != ids[0].length) {
            throw new IllegalArgumentException(op + ": " + name + " is " + inputs.get(name).describe() + "; expected I32 or I64 ["
                    + ids.length + ", " + ids[0].length + "] like input_ids");
        }
        return g;
    }
}
