package dev.surpass.model.mamba;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for Mamba-1 language models: a folder whose config.json says mamba
 * (model_type, architectures, or mamba_ssm's keys); input {@code input_ids} I32/I64 {@code [B, L]};
 * output {@code logits} F32 {@code [B, L, padded vocab]}.
 */
public final class MambaForward implements ModelForward {
    @Override
    public String family() {
        return "mamba";
    }

    @Override
    public boolean accepts(Path model) {
        try {
            return model != null && Files.isDirectory(model) && MambaConfig.looksLikeMamba(model);
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        Tensor ids = inputs == null ? null : inputs.get("input_ids");
        if (ids == null) throw new IllegalArgumentException("mamba forward: input tensor 'input_ids' (I32 or I64 [B, L]) is missing");
        if (ids.rank() != 2 || ids.dim(0) < 1 || ids.dim(1) < 1 || (ids.dtype() != DType.I32 && ids.dtype() != DType.I64)) {
            throw new IllegalArgumentException("mamba forward: input_ids is " + ids.describe() + "; expected I32 or I64 [B, L] with B, L >= 1");
        }
        int b = (int) ids.dim(0), l = (int) ids.dim(1);
        long[] flat;
        try (Device cpu = Device.cpu(); Tensor host = ids.to(cpu)) {
            if (host.dtype() == DType.I64) {
                flat = host.toLongArray();
            } else {
                int[] v = host.toIntArray();
                flat = new long[v.length];
                for (int i = 0; i < v.length; i++) flat[i] = v[i];
            }
        }
        int[][] seqs = new int[b][l];
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < l; t++) {
                long v = flat[i * l + t];
                if (v < 0 || v > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("mamba forward: input_ids[" + i + "][" + t + "] = " + v + " is not a token id");
                }
                seqs[i][t] = (int) v;
            }
        }
        try (MambaLM lm = MambaLM.load(device, model)) {
            return Map.of("logits", lm.forward(seqs));
        }
    }
}
