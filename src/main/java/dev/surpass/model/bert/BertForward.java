package dev.surpass.model.bert;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} for BERT folders (config.json model_type "bert" + safetensors): inputs
 * {@code input_ids}, optional {@code attention_mask} and {@code token_type_ids} (I32 or I64
 * {@code [B, N]}); output {@code last_hidden_state} F32 {@code [B, N, hidden]}.
 */
public final class BertForward implements ModelForward {
    @Override
    public String family() {
        return "bert";
    }

    @Override
    public boolean accepts(Path model) {
        return BertConfig.looksLikeBert(model);
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        if (inputs == null) throw new IllegalArgumentException("bert forward: inputs is null");
        int[][] ids = grid(inputs.get("input_ids"), "input_ids", null);
        if (ids == null) throw new IllegalArgumentException("bert forward: input tensor 'input_ids' (I32 or I64 [B, N]) is missing");
        long[] shape = {ids.length, ids[0].length};
        int[][] mask = grid(inputs.get("attention_mask"), "attention_mask", shape);
        int[][] types = grid(inputs.get("token_type_ids"), "token_type_ids", shape);
        try (BertModel m = BertModel.load(device, model)) {
            return Map.of("last_hidden_state", m.forward(ids, mask, types));
        }
    }

    /** An I32/I64 [B, N] tensor as int rows (null when absent); {@code shape} must match when given. */
    private static int[][] grid(Tensor t, String name, long[] shape) {
        if (t == null) return null;
        if (t.rank() != 2 || t.dim(0) < 1 || t.dim(1) < 1 || (t.dtype() != DType.I32 && t.dtype() != DType.I64)
                || (shape != null && (t.dim(0) != shape[0] || t.dim(1) != shape[1]))) {
            throw new IllegalArgumentException("bert forward: " + name + " is " + t.describe() + "; expected I32 or I64 "
                    + (shape == null ? "[B, N]" : "[" + shape[0] + ", " + shape[1] + "]"));
        }
        int b = (int) t.dim(0), n = (int) t.dim(1);
        long[] flat;
        try (Device cpu = Device.cpu(); Tensor host = t.to(cpu)) {
            if (host.dtype() == DType.I64) {
                flat = host.toLongArray();
            } else {
                int[] v = host.toIntArray();
                flat = new long[v.length];
                for (int i = 0; i < v.length; i++) flat[i] = v[i];
            }
        }
        int[][] g = new int[b][n];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < n; j++) {
                long v = flat[i * n + j];
                if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("bert forward: " + name + "[" + i + "][" + j + "] = " + v + " is out of range");
                }
                g[i][j] = (int) v;
            }
        }
        return g;
    }
}
