package dev.surpass.model.flux;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for diffusers FluxTransformer2DModel folders (config.json with
 * {@code "_class_name": "FluxTransformer2DModel"}; pass a pipeline's {@code transformer/}), or Black Forest
 * Labs' single {@code flux1-*.safetensors} file (names with {@code img_in.weight}): inputs
 * {@code hidden_states} {@code [B, T, in_channels]} (packed latents), {@code encoder_hidden_states}
 * {@code [B, S, joint_attention_dim]}, {@code pooled_projections} {@code [B, pooled_projection_dim]},
 * {@code timestep} ({@code [B]} or one value, σ as the pipeline passes it), {@code img_ids}
 * {@code [T, 3]} and {@code txt_ids} {@code [S, 3]} (floating or integer; diffusers' deprecated
 * {@code [1, N, 3]} is taken too), and {@code guidance} ({@code [B]} or one value; required iff
 * the config has {@code guidance_embeds}) → output {@code sample} F32 {@code [B, T, out_channels]},
 * diffusers' {@code transformer(...).sample}.
 */
public final class FluxForward implements ModelForward {
    private static final String OP = "flux forward";

    @Override
    public String family() {
        return "flux";
    }

    @Override
    public boolean accepts(Path model) {
        if (model != null && Files.isRegularFile(model) && model.getFileName().toString().endsWith(".safetensors")) {
            try (SafeTensorsFile f = SafeTensors.open(model)) { // Black Forest Labs' single file
                return f.contains("img_in.weight") || f.contains(FluxWeights.COMFY_PREFIX + "img_in.weight");
            } catch (RuntimeException e) {
                return false;
            }
        }
        JsonNode n = ConfigJson.peek(model);
        return n != null && "FluxTransformer2DModel".equals(n.path("_class_name").asText(""));
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        Tensor x = input(inputs, "hidden_states", "[B, T, C]");
        Tensor ctx = input(inputs, "encoder_hidden_states", "[B, S, D]");
        Tensor pooled = input(inputs, "pooled_projections", "[B, P]");
        float[] ts = perSample(input(inputs, "timestep", "[B] or one value"), "timestep");
        float[] img = ids(input(inputs, "img_ids", "[T, 3]"), "img_ids");
        float[] txt = ids(input(inputs, "txt_ids", "[S, 3]"), "txt_ids");
        Tensor g = inputs.get("guidance");
        float[] guidance = g == null ? null : perSample(g, "guidance");
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(device, model)) {
            return Map.of("sample", m.forward(x, ctx, pooled, ts, img, txt, guidance));
        }
    }

    private static float[] perSample(Tensor t, String name) {
        if (t.numel() < 1 || t.rank() > 1) throw new IllegalArgumentException(OP + ": " + name + " is " + t.describe() + "; expected [B] or one value");
        return ModelForward.hostFloats(OP, name, t);
    }

    /** {@code [N, axes]}, or diffusers' deprecated batched {@code [1, N, axes]} (it takes {@code ids[0]}). */
    private static float[] ids(Tensor t, String name) {
        if (!(t.rank() == 2 || (t.rank() == 3 && t.dim(0) == 1))) {
            throw new IllegalArgumentException(OP + ": " + name + " is " + t.describe() + "; expected [N, 3] position ids");
        }
        return ModelForward.hostFloats(OP, name, t);
    }

    private static Tensor input(Map<String, Tensor> inputs, String name, String shape) {
        Tensor t = inputs == null ? null : inputs.get(name);
        if (t == null) throw new IllegalArgumentException(OP + ": input tensor '" + name + "' (" + shape + ") is missing");
        return t;
    }
}
