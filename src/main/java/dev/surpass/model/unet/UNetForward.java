package dev.surpass.model.unet;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for diffusers UNet2DConditionModel folders (config.json with
 * {@code "_class_name": "UNet2DConditionModel"}; a pipeline root is left to the "vae" family, so
 * pass its {@code unet/}): inputs {@code sample} {@code [B, in_channels, H, W]}, {@code timestep}
 * ({@code [B]} or one value, floating or integer) and {@code encoder_hidden_states}
 * {@code [B, S, cross_attention_dim]} → output {@code sample} F32 {@code [B, out_channels, H, W]},
 * diffusers' {@code unet(sample, timestep, encoder_hidden_states).sample}. A text_time (SDXL) UNet
 * also takes {@code text_embeds} {@code [B, P]} and {@code time_ids} {@code [B, 6]} (floating), its
 * {@code added_cond_kwargs}.
 */
public final class UNetForward implements ModelForward {
    @Override
    public String family() {
        return "unet";
    }

    @Override
    public boolean accepts(Path model) {
        JsonNode n = ConfigJson.peek(model);
        return n != null && "UNet2DConditionModel".equals(n.path("_class_name").asText(""));
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        Tensor sample = inputs == null ? null : inputs.get("sample");
        Tensor t = inputs == null ? null : inputs.get("timestep");
        Tensor ctx = inputs == null ? null : inputs.get("encoder_hidden_states");
        if (sample == null) throw new IllegalArgumentException("unet forward: input tensor 'sample' ([B, C, H, W]) is missing");
        if (t == null) throw new IllegalArgumentException("unet forward: input tensor 'timestep' ([B] or one value) is missing");
        if (ctx == null) throw new IllegalArgumentException("unet forward: input tensor 'encoder_hidden_states' ([B, S, D]) is missing");
        if (t.numel() < 1 || t.rank() > 1) throw new IllegalArgumentException("unet forward: timestep is " + t.describe() + "; expected [B] or one value");
        float[] ts;
        try (Device cpu = Device.cpu(); Tensor host = t.to(cpu)) {
            if (host.dtype().isFloating()) {
                ts = host.toFloatArray();
            } else if (host.dtype() == DType.I64) {
                long[] v = host.toLongArray();
                ts = new float[v.length];
                for (int i = 0; i < v.length; i++) ts[i] = v[i];
            } else if (host.dtype() == DType.I32) {
                int[] v = host.toIntArray();
                ts = new float[v.length];
                for (int i = 0; i < v.length; i++) ts[i] = v[i];
            } else {
                throw new IllegalArgumentException("unet forward: timestep is " + t.describe() + "; expected a floating or I32/I64 tensor");
            }
        }
        try (UNet2DConditionModel m = UNet2DConditionModel.load(device, model)) {
            if (!m.config().textTime()) return Map.of("sample", m.forward(sample, ts, ctx));
            Tensor text = inputs.get("text_embeds"), ids = inputs.get("time_ids");
            if (text == null) throw new IllegalArgumentException("unet forward: input tensor 'text_embeds' ([B, P]) is missing; this UNet is text_time (SDXL)");
            if (ids == null) throw new IllegalArgumentException("unet forward: input tensor 'time_ids' ([B, 6]) is missing; this UNet is text_time (SDXL)");
            if (!ids.dtype().isFloating()) throw new IllegalArgumentException("unet forward: time_ids is " + ids.describe() + "; expected a floating tensor");
            float[] idv;
            try (Device cpu = Device.cpu(); Tensor host = ids.to(cpu)) {
                idv = host.toFloatArray();
            }
            return Map.of("sample", m.forward(sample, ts, ctx, text, idv));
        }
    }
}
