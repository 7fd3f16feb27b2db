package dev.surpass.model.vae;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for diffusers AutoencoderKL folders (config.json with
 * {@code "_class_name": "AutoencoderKL"}, or a pipeline folder with one in {@code vae/}): input
 * {@code latents} (or {@code z}) {@code [N, latent_channels, h, w]} → output {@code sample}
 * F32 {@code [N, out_channels, h·f, w·f]}, exactly {@code vae.decode(z).sample} (no scaling); with
 * an input {@code scaled} (any one value) the latents are a pipeline's, divided by
 * {@code scaling_factor} first ({@link AutoencoderKL#decodeScaled}).
 */
public final class VaeForward implements ModelForward {
    @Override
    public String family() {
        return "vae";
    }

    @Override
    public boolean accepts(Path model) {
        JsonNode n = ConfigJson.peek(model);
        if (n == null) n = model == null ? null : ConfigJson.peek(model.resolve("vae"));
        return n != null && "AutoencoderKL".equals(n.path("_class_name").asText(""));
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        if (inputs != null && inputs.containsKey("images")) {
            try (AutoencoderKL m = AutoencoderKL.load(device, model)) {
                return Map.of("moments", m.encode(inputs.get("images")));
            }
        }
        Tensor z = inputs == null ? null : inputs.containsKey("latents") ? inputs.get("latents") : inputs.get("z");
        if (z == null) throw new IllegalArgumentException("vae forward: input tensor 'latents' (or 'z', [N, C, h, w]), or 'images' to encode, is missing");
        try (AutoencoderKL m = AutoencoderKL.load(device, model)) {
            return Map.of("sample", inputs.containsKey("scaled") ? m.decodeScaled(z) : m.decode(z));
        }
    }
}
