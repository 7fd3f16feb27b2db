package dev.surpass.model.t5;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for T5 folders (config.json model_type "t5" or "mt5": a T5EncoderModel or
 * a full T5ForConditionalGeneration, whose encoder runs; {@link T5Encoder}): inputs
 * {@code input_ids} and optional {@code attention_mask} (I32 or I64 {@code [B, N]}); output
 * {@code last_hidden_state} F32 {@code [B, N, d_model]} (as HF's T5EncoderModel).
 */
public final class T5Forward implements ModelForward {
    @Override
    public String family() {
        return "t5";
    }

    @Override
    public boolean accepts(Path model) {
        return T5Config.looksLikeT5(model);
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] ids = ModelForward.tokenRows("t5 forward", inputs, "input_ids");
        int[][] mask = null;
        if (inputs.get("attention_mask") != null) {
            mask = ModelForward.tokenRows("t5 forward", inputs, "attention_mask");
            if (mask.length != ids.length || mask[0].length != ids[0].length) {
                throw new IllegalArgumentException("t5 forward: attention_mask is " + inputs.get("attention_mask").describe() + "; expected I32 or I64 ["
                        + ids.length + ", " + ids[0].length + "] like input_ids");
            }
        }
        try (T5Encoder m = T5Encoder.load(device, model)) {
            return Map.of("last_hidden_state", m.forward(ids, mask));
        }
    }
}
