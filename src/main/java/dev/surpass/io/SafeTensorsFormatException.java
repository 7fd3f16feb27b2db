package dev.surpass.io;

import java.nio.file.Path;

/**
 * A safetensors file that breaks the format: a header that lies about its length, JSON that is not
 * a safetensors header, a tensor whose shape, dtype and byte range disagree, tensors that overlap.
 *
 * <p>The message names the file, the tensor (when the problem belongs to one) and the problem, e.g.
 * {@code model.safetensors: tensor 'h.0.attn.c_attn.weight': data_offsets [0, 100] hold 100 bytes
 * but F32 [768, 2304] needs 7077888}.
 */
public class SafeTensorsFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String tensor;
    private final String problem;

    public SafeTensorsFormatException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    public SafeTensorsFormatException(Path file, String tensor, String problem, Throwable cause) {
        super(format(file, tensor, problem), cause);
        this.file = file;
        this.tensor = tensor;
        this.problem = problem;
    }

    private static String format(Path file, String tensor, String problem) {
        StringBuilder sb = new StringBuilder();
        sb.append(file).append(": ");
        if (tensor != null) sb.append("tensor '").append(SafeTensors.printable(tensor)).append("': ");
        return sb.append(problem).toString();
    }

    /** The file that is malformed. */
    public Path file() {
        return file;
    }

    /** The tensor whose header entry is malformed, or null when the problem is the file's. */
    public String tensor() {
        return tensor;
    }

    /** What is wrong, without the file and tensor. */
    public String problem() {
        return problem;
    }
}
