package dev.surpass.model.bert;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for ModernBERT folders (config.json model_type "modernbert" +
 * safetensors, {@link ModernBert}): inputs {@code input_ids} and optional {@code attention_mask}
 * (I32 or I64 {@code [B, N]}); output {@code last_hidden_state} F32 {@code [B, N, hidden]} (as HF's
 * ModernBertModel).
 */
public final class ModernBertForward implements ModelForward {
    @Override
    public String family() {
        return "modernbert";
    }

    @Override
    public boolean accepts(Path model) {
        return ModernBert.looksLikeModernBert(model);
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] ids = ModelForward.tokenRows("modernbert forward", inputs, "input_ids");
        int[][] mask = BertForward.companion("modernbert forward", inputs, "attention_mask", ids);
        try (ModernBert m = ModernBert.load(device, model)) {
            return Map.of("last_hidden_state", m.forward(ids, mask));
        }
    }
}
