package dev.surpass.model.clip;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code surpass forward} for CLIP text encoders (config.json model_type "clip_text_model" or "clip",
 * or a pipeline root with one in {@code text_encoder/}; {@code surpass forward} tries the VAE family
 * first, so pass {@code <pipeline>/text_encoder} for a pipeline's text encoder): input
 * {@code input_ids} (I32 or I64 {@code [B, L]}); outputs {@code last_hidden_state} F32
 * {@code [B, L, D]}, {@code pooler_output} {@code [B, D]} and, with a text_projection,
 * {@code text_embeds} {@code [B, P]}. An optional input {@code clip_skip} (one integer value) adds
 * {@code hidden_states_clip_skip} {@code [B, L, D]} ({@link ClipTextModel#hiddenStates}).
 */
public final class ClipForward implements ModelForward {
    @Override
    public String family() {
        return "clip";
    }

    @Override
    public boolean accepts(Path model) {
        if (model == null) return false;
        return ClipTextConfig.looksLikeClip(ConfigJson.peek(model))
                || (ConfigJson.peek(model) == null && ClipTextConfig.looksLikeClip(ConfigJson.peek(model.resolve("text_encoder"))));
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] ids = ModelForward.tokenRows("clip forward", inputs, "input_ids");
        Integer skip = null;
        if (inputs.get("clip_skip") != null) {
            try (Tensor one = reshape(inputs.get("clip_skip"))) {
                skip = ModelForward.tokenRows("clip forward", Map.of("clip_skip", one), "clip_skip")[0][0];
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (ClipTextModel m = ClipTextModel.load(device, model)) {
            ClipTextOutput o = m.forward(ids);
            out.put("last_hidden_state", o.lastHiddenState());
            out.put("pooler_output", o.pooled());
            if (o.textEmbeds() != null) out.put("text_embeds", o.textEmbeds());
            if (skip != null) out.put("hidden_states_clip_skip", m.hiddenStates(ids, skip));
            return out;
        } catch (RuntimeException | Error e) {
            for (Tensor t : out.values()) t.close();
            throw e;
        }
    }

    /** {@code clip_skip} as a {@code [1, 1]} view (it is written as a scalar or a one-element vector). */
    private static Tensor reshape(Tensor t) {
        if (t.numel() != 1) throw new IllegalArgumentException("clip forward: clip_skip is " + t.describe() + "; expected one integer");
        return t.reshape(1, 1);
    }
}
