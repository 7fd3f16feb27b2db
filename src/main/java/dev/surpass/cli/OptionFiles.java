package dev.surpass.cli;

import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Checks and I/O on the files and folders the commands' options name. Every failure is a
 * {@link UsageException} that starts with the option and its value, e.g.
 * {@code "--model m.safetensors: no such file"}.
 */
final class OptionFiles {
    private OptionFiles() {}

    /** {@code path} exists (a file or a folder). */
    static void requireExists(String option, Path path) {
        if (!Files.exists(path)) throw new UsageException(option + " " + path + ": no such file or folder");
    }

    /** {@code path} is a regular file. */
    static void requireFile(String option, Path path) {
        if (!Files.isRegularFile(path)) throw new UsageException(option + " " + path + ": no such file");
    }

    /** The folder {@code file} is to be written in exists. */
    static void requireParentFolder(String option, Path file) {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null && !Files.isDirectory(dir)) throw new UsageException(option + " " + file + ": folder " + dir + " does not exist");
    }

    /** Creates the output folder {@code dir} (and its parents) if missing. */
    static void createFolder(String option, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UsageException(option + " " + dir + ": cannot create the folder: " + e.getMessage());
        }
    }

    /** Opens the safetensors file {@code file} that {@code option} names. */
    static SafeTensorsFile openSafeTensors(String option, Path file) {
        try {
            return SafeTensors.open(file);
        } catch (UncheckedIOException e) {
            throw failed(option, file, e);
        }
    }

    /** Writes {@code file}; a failure names {@code option} with its value {@code value} (a folder holding the file, or the file). */
    static void writeSafeTensors(String option, Path value, Path file, Map<String, Tensor> tensors, Map<String, String> meta) {
        try {
            SafeTensors.write(file, tensors, meta);
        } catch (UncheckedIOException e) {
            throw failed(option, value, e);
        }
    }

    /** "OPTION VALUE: what went wrong", on one line. */
    static UsageException failed(String option, Object value, RuntimeException e) {
        return new UsageException(option + " " + value + ": " + Main.oneLine(e.getMessage()));
    }
}
