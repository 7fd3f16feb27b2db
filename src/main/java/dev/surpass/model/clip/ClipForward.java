package dev.surpass.model.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code surpass forward} for CLIP folders (config.json model_type "clip_text_model",
 * "clip_vision_model" or "clip", or a pipeline root with a text encoder in {@code text_encoder/};
 * {@code surpass forward} tries the VAE family first, so pass {@code <pipeline>/text_encoder} for a
 * pipeline that has a {@code vae/}).
 * <ul>
 *   <li>Text: input {@code input_ids} (I32 or I64 {@code [B, L]}) → {@code last_hidden_state}
 *       {@code [B, L, D]}, {@code pooler_output} {@code [B, D]} and, with a text_projection,
 *       {@code text_embeds} {@code [B, P]}; an optional {@code clip_skip} (one integer) adds
 *       {@code hidden_states_clip_skip} ({@link ClipTextModel#hiddenStates}), an optional
 *       {@code hidden_state_index} adds {@code hidden_state}, HF's raw {@code hidden_states[index]}
 *       ({@link ClipTextModel#hiddenState}; text folders only).</li>
 *   <li>Vision: input {@code pixel_values} (F32 {@code [B, C, S, S]}, already normalised) →
 *       {@code last_hidden_state}, {@code pooler_output}, {@code image_embeds} of a vision folder;
 *       for a full CLIP folder {@code vision_last_hidden_state}, {@code vision_pooler_output},
 *       {@code image_embeds}, and with {@code input_ids} too the text outputs and
 *       {@code logits_per_image} {@code [Bi, Bt]}, {@code logits_per_text} {@code [Bt, Bi]}.</li>
 * </ul>
 */
public final class ClipForward implements ModelForward {
    /** Stateless: {@link dev.surpass.cli.ModelFamilies} holds one. */
    public ClipForward() {}

    @Override
    public String family() {
        return "clip";
    }

    @Override
    public boolean accepts(Path model) {
        if (model == null) return false;
        JsonNode n = ConfigJson.peek(model);
        if (n != null) return ClipTextConfig.looksLikeClip(n) || "clip_vision_model".equals(n.path("model_type").asText(""));
        return ClipTextConfig.looksLikeClip(ConfigJson.peek(model.resolve("text_encoder")));
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        Tensor px = inputs == null ? null : inputs.get("pixel_values");
        int[][] ids = px != null && !inputs.containsKey("input_ids") ? null : ModelForward.tokenRows("clip forward", inputs, "input_ids");
        Integer skip = scalarInput(inputs, "clip_skip"), index = scalarInput(inputs, "hidden_state_index");
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            if (px == null) {
                try (ClipTextModel m = ClipTextModel.load(device, model)) {
                    text(m, ids, skip, out);
                    if (index != null) out.put("hidden_state", m.hiddenState(ids, index));
                }
                return out;
            }
            JsonNode n = ConfigJson.peek(model);
            if (n != null && "clip_vision_model".equals(n.path("model_type").asText(""))) {
                try (ClipVisionModel m = ClipVisionModel.load(device, model)) {
                    ClipVisionOutput o = m.forward(px);
                    out.put("last_hidden_state", o.lastHiddenState());
                    out.put("pooler_output", o.pooled());
                    if (o.imageEmbeds() != null) out.put("image_embeds", o.imageEmbeds());
                }
                return out;
            }
            try (ClipModel m = ClipModel.load(device, model)) {
                if (ids != null) text(m.text(), ids, skip, out);
                ClipVisionOutput o = m.vision().forward(px);
                out.put("vision_last_hidden_state", o.lastHiddenState());
                out.put("vision_pooler_output", o.pooled());
                out.put("image_embeds", o.imageEmbeds());
                if (ids != null) {
                    ClipModel.Logits l = m.logits(ids, px);
                    out.put("logits_per_image", matrix(device, l.perImage()));
                    out.put("logits_per_text", matrix(device, l.perText()));
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            for (Tensor t : out.values()) t.close();
            throw e;
        }
    }

    private static void text(ClipTextModel m, int[][] ids, Integer skip, Map<String, Tensor> out) {
        ClipTextOutput o = m.forward(ids);
        out.put("last_hidden_state", o.lastHiddenState());
        out.put("pooler_output", o.pooled());
        if (o.textEmbeds() != null) out.put("text_embeds", o.textEmbeds());
        if (skip != null) out.put("hidden_states_clip_skip", m.hiddenStates(ids, skip));
    }

    private static Tensor matrix(Device device, float[][] m) {
        int r = m.length, c = m[0].length;
        float[] flat = new float[r * c];
        for (int i = 0; i < r; i++) System.arraycopy(m[i], 0, flat, i * c, c);
        return device.upload(DType.F32, flat, r, c);
    }

    /** An optional one-integer input (a scalar or a one-element I32 / I64 tensor), or null. */
    private static Integer scalarInput(Map<String, Tensor> inputs, String name) {
        Tensor t = inputs == null ? null : inputs.get(name);
        if (t == null) return null;
        if (t.numel() != 1) throw new IllegalArgumentException("clip forward: " + name + " is " + t.describe() + "; expected one integer");
        try (Tensor one = t.reshape(1, 1)) {
            return ModelForward.tokenRows("clip forward", Map.of(name, one), name)[0][0];
        }
    }
}
