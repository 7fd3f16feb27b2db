package dev.surpass.model.pixart;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for a diffusers PixArt transformer folder (or a pipeline root with
 * {@code transformer/}): inputs {@code x} floating {@code [B, C, H, W]}, {@code t} {@code [B]}
 * (float or integer timesteps), {@code encoder_hidden_states} floating {@code [B, S, caption_channels]},
 * optionally {@code encoder_attention_mask} I32/I64 {@code [B, S]} of 0/1, and, for a model with
 * additional conditions, {@code resolution} {@code [B, 2]} (height, width) and {@code aspect_ratio}
 * {@code [B]} or {@code [B, 1]}. Output {@code output} F32 {@code [B, out_channels, H, W]}.
 */
public final class PixArtForward implements ModelForward {
    @Override
    public String family() {
        return "pixart";
    }

    @Override
    public boolean accepts(Path model) {
        if (model == null || !Files.isDirectory(model)) return false;
        for (Path d : new Path[] {model, model.resolve("transformer")}) {
            JsonNode n = ConfigJson.peek(d);
            if (n == null) continue;
            String cls = n.path("_class_name").asText("");
            if (cls.equals("PixArtTransformer2DModel")) return true;
            if (cls.equals("Transformer2DModel") && n.path("norm_type").asText("").equals("ada_norm_single")) return true;
        }
        return false;
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        String op = "pixart forward";
        Tensor x = need(op, inputs, "x"), t = need(op, inputs, "t"), text = need(op, inputs, "encoder_hidden_states");
        if (!x.dtype().isFloating()) throw new IllegalArgumentException(op + ": x is " + x.describe() + "; expected a floating dtype");
        if (!text.dtype().isFloating()) throw new IllegalArgumentException(op + ": encoder_hidden_states is " + text.describe() + "; expected a floating dtype");
        if (t.rank() != 1) throw new IllegalArgumentException(op + ": t is " + t.describe() + "; expected [B]");
        Tensor maskT = inputs.get("encoder_attention_mask"), res = inputs.get("resolution"), ar = inputs.get("aspect_ratio");
        int[][] mask = maskT == null ? null : ModelForward.tokenRows(op, inputs, "encoder_attention_mask");
        float[] ts = floats(t);
        float[][] resolution = null;
        if (res != null) {
            if (res.rank() != 2 || res.dim(1) != 2) throw new IllegalArgumentException(op + ": resolution is " + res.describe() + "; expected [B, 2]");
            float[] v = floats(res);
            resolution = new float[(int) res.dim(0)][];
            for (int i = 0; i < resolution.length; i++) resolution[i] = new float[] {v[2 * i], v[2 * i + 1]};
        }
        float[] aspect = null;
        if (ar != null) {
            if (ar.numel() != (ar.rank() == 0 ? 1 : ar.dim(0))) throw new IllegalArgumentException(op + ": aspect_ratio is " + ar.describe() + "; expected [B] or [B, 1]");
            aspect = floats(ar);
        }
        try (PixArtTransformer2DModel m = PixArtTransformer2DModel.load(device, model);
             Tensor xf = x.dtype() == DType.F32 ? null : x.to(DType.F32);
             Tensor tf = text.dtype() == DType.F32 ? null : text.to(DType.F32)) {
            return Map.of("output", m.forward(xf == null ? x : xf, ts, tf == null ? text : tf, mask, resolution, aspect));
        }
    }

    private static Tensor need(String op, Map<String, Tensor> inputs, String name) {
        Tensor v = inputs == null ? null : inputs.get(name);
        if (v == null) throw new IllegalArgumentException(op + ": input tensor '" + name + "' is missing");
        return v;
    }

    /** The values of a small tensor on the host as fp32 (integer tensors converted). */
    private static float[] floats(Tensor v) {
        try (Device cpu = Device.cpu(); Tensor h = v.to(cpu)) {
            return switch (h.dtype()) {
                case I32 -> {
                    int[] a = h.toIntArray();
                    float[] f = new float[a.length];
                    for (int i = 0; i < a.length; i++) f[i] = a[i];
                    yield f;
                }
                case I64 -> {
                    long[] a = h.toLongArray();
                    float[] f = new float[a.length];
                    for (int i = 0; i < a.length; i++) f[i] = a[i];
                    yield f;
                }
                default -> h.toFloatArray();
            };
        }
    }
}
