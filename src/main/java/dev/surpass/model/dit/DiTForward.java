package dev.surpass.model.dit;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for DiT checkpoints: a .safetensors file with the official keys (also
 * under {@code ema.} / {@code module.}), the official {@code .pt}, or a diffusers folder (a
 * {@code DiTPipeline} root or its {@code transformer/}, run as diffusers' module: {@link DiT#diffusersLayout}); inputs {@code x} F32/F16/BF16 {@code [N, C, H, W]},
 * {@code t} {@code [N]} (float or integer timesteps), {@code y} I32/I64 {@code [N]}, and optionally
 * {@code cfg_scale} (one value): then DiT's {@code forward_with_cfg} runs instead of {@code forward}.
 * Output {@code output} F32 {@code [N, outC, H, W]}.
 */
public final class DiTForward implements ModelForward {
    @Override
    public String family() {
        return "dit";
    }

    @Override
    public boolean accepts(Path model) {
        if (model != null && Files.isDirectory(model)) return DiffusersDiT.looksLike(model);
        if (model == null || !Files.isRegularFile(model)) return false;
        String name = model.getFileName().toString();
        if (name.endsWith(".pt") || name.endsWith(".pth")) { // the official format: only its pickle is read here
            try (dev.surpass.io.PyTorchCheckpoint c = dev.surpass.io.PyTorchCheckpoint.open(model)) {
                return c.names().stream().anyMatch(n -> n.endsWith("x_embedder.proj.weight"));
            } catch (RuntimeException e) {
                return false;
            }
        }
        if (!name.endsWith(".safetensors")) return false;
        try (SafeTensorsFile f = SafeTensors.open(model)) {
            DiT.prefixOf(f, model);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        Tensor x = inputs == null ? null : inputs.get("x");
        if (x == null) throw new IllegalArgumentException("dit forward: input tensor 'x' (F32 [N, C, H, W]) is missing");
        if (!x.dtype().isFloating()) throw new IllegalArgumentException("dit forward: x is " + x.describe() + "; expected a floating dtype");
        Tensor t = inputs.get("t"), y = inputs.get("y"), cfg = inputs.get("cfg_scale");
        if (t == null) throw new IllegalArgumentException("dit forward: input tensor 't' ([N] timesteps) is missing");
        if (y == null) throw new IllegalArgumentException("dit forward: input tensor 'y' (I32/I64 [N] labels) is missing");
        try (DiT m = DiT.load(device, model); Tensor xf = x.dtype() == DType.F32 ? null : x.to(DType.F32)) {
            Tensor in = xf == null ? x : xf;
            if (cfg == null) return Map.of("output", m.forward(in, t, y));
            if (cfg.numel() != 1 || !cfg.dtype().isFloating()) {
                throw new IllegalArgumentException("dit forward: cfg_scale is " + cfg.describe() + "; expected one floating value");
            }
            return Map.of("output", m.forwardWithCfg(in, t, y, cfg.toFloatArray()[0]));
        }
    }
}
