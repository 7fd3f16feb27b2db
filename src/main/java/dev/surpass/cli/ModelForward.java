package dev.surpass.cli;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model family that {@code surpass forward} can run: it recognises a model (a checkpoint file or
 * folder), loads it on a device and runs one forward pass on named input tensors. Each model family
 * adds an instance to {@link ModelFamilies} as it lands.
 */
public interface ModelForward {
    /** Short family name, e.g. "gpt2", "llama", "mamba", "dit". */
    String family();

    /** True when {@code model} (a file or folder) is a checkpoint of this family. Must not throw. */
    boolean accepts(Path model);

    /**
     * Loads {@code model} on {@code device} and runs one forward pass. {@code inputs} are the
     * tensors of the inputs file, on {@code device}, owned by the caller. Returns every output by
     * name; the caller closes them. Bad inputs (missing name, wrong shape or dtype) throw
     * {@link IllegalArgumentException} naming the tensor and what was expected.
     */
    Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs);

    /**
     * The token-id rows of input {@code name} (I32 or I64 {@code [B, L]}, B, L ≥ 1, values in
     * [0, 2^31)), read to the host; {@code op} prefixes the messages (e.g. "mamba forward"). Range
     * checks against the vocabulary are the model's.
     */
    static int[][] tokenRows(String op, Map<String, Tensor> inputs, String name) {
        Tensor ids = inputs == null ? null : inputs.get(name);
        if (ids == null) throw new IllegalArgumentException(op + ": input tensor '" + name + "' (I32 or I64 [B, L]) is missing");
        if (ids.rank() != 2 || ids.dim(0) < 1 || ids.dim(1) < 1 || (ids.dtype() != DType.I32 && ids.dtype() != DType.I64)) {
            throw new IllegalArgumentException(op + ": " + name + " is " + ids.describe() + "; expected I32 or I64 [B, L] with B, L >= 1");
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
        int[][] rows = new int[b][l];
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < l; t++) {
                long v = flat[i * l + t];
                if (v < 0 || v > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException(op + ": " + name + "[" + i + "][" + t + "] = " + v + " is not a token id");
                }
                rows[i][t] = (int) v;
            }
        }
        return rows;
    }

    /**
     * The values of {@code t} (floating, I32 or I64, any shape) read to the host as fp32, for
     * timesteps, ids and scales passed as tensors; {@code op} prefixes the message (e.g. "sd3 forward").
     */
    static float[] hostFloats(String op, String name, Tensor t) {
        try (Device cpu = Device.cpu(); Tensor host = t.to(cpu)) {
            if (host.dtype().isFloating()) return host.toFloatArray();
            if (host.dtype() == DType.I64) {
                long[] v = host.toLongArray();
                float[] f = new float[v.length];
                for (int i = 0; i < v.length; i++) f[i] = v[i];
                return f;
            }
            if (host.dtype() == DType.I32) {
                int[] v = host.toIntArray();
                float[] f = new float[v.length];
                for (int i = 0; i < v.length; i++) f[i] = v[i];
                return f;
            }
        }
        throw new IllegalArgumentException(op + ": " + name + " is " + t.describe() + "; expected a floating or I32/I64 tensor");
    }
}
