package dev.surpass.cli;

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
}
