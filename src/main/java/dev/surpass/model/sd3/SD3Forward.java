package dev.surpass.model.sd3;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for diffusers SD3Transformer2DModel folders (config.json with
 * {@code "_class_name": "SD3Transformer2DModel"}; pass a pipeline's {@code transformer/}): inputs
 * {@code hidden_states} {@code [B, in_channels, H, W]}, {@code timestep} ({@code [B]} or one value,
 * floating or integer), {@code encoder_hidden_states} {@code [B, S, joint_attention_dim]} and
 * {@code pooled_projections} {@code [B, pooled_projection_dim]} → output {@code sample} F32
 * {@code [B, out_channels, H, W]}, diffusers' {@code transformer(...).sample}. An optional integer
 * {@code skip_layers} {@code [K]} is diffusers' {@code skip_layers} (the blocks left out).
 */
public final class SD3Forward implements ModelForward {
    @Override
    public String family() {
        return "sd3";
    }

    @Override
    public boolean accepts(Path model) {
        JsonNode n = ConfigJson.peek(model);
        return n != null && "SD3Transformer2DModel".equals(n.path("_class_name").asText(""));
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        Tensor x = input(inputs, "hidden_states", "[B, C, H, W]");
        Tensor t = input(inputs, "timestep", "[B] or one value");
        Tensor ctx = input(inputs, "encoder_hidden_states", "[B, S, D]");
        Tensor pooled = input(inputs, "pooled_projections", "[B, P]");
        if (t.numel() < 1 || t.rank() > 1) throw new IllegalArgumentException("sd3 forward: timestep is " + t.describe() + "; expected [B] or one value");
        float[] ts = ModelForward.hostFloats("sd3 forward", "timestep", t);
        int[] skip = new int[0];
        Tensor sl = inputs.get("skip_layers");
        if (sl != null) {
            if (sl.rank() != 1 || (sl.dtype() != DType.I64 && sl.dtype() != DType.I32)) {
                throw new IllegalArgumentException("sd3 forward: skip_layers is " + sl.describe() + "; expected [K] I64 or I32 block indices");
            }
            try (Device cpu = Device.cpu(); Tensor host = sl.to(cpu)) {
                if (host.dtype() == DType.I32) {
                    skip = host.toIntArray();
                } else {
                    long[] v = host.toLongArray();
                    skip = new int[v.length];
                    for (int i = 0; i < v.length; i++) skip[i] = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v[i]));
                }
            }
        }
        try (SD3Transformer2DModel m = SD3Transformer2DModel.load(device, model)) {
            return Map.of("sample", m.forward(x, ts, ctx, pooled, skip));
        }
    }

    private static Tensor input(Map<String, Tensor> inputs, String name, String shape) {
        Tensor t = inputs == null ? null : inputs.get(name);
        if (t == null) throw new IllegalArgumentException("sd3 forward: input tensor '" + name + "' (" + shape + ") is missing");
        return t;
    }
}
