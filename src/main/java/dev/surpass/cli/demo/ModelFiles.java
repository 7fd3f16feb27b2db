package dev.surpass.cli.demo;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the demo finds the small trained models of the repository ({@code models/}): under the
 * launcher's folder ({@code -Dsurpass.home}, set by {@code ./surpass}), else under the working
 * directory. They are not part of the GPU bundle; steps that need them skip when they are absent.
 */
public final class ModelFiles {
    private ModelFiles() {}

    /** The first {@code models/<name>} folder that exists, or null. */
    public static Path find(String name) {
        String home = System.getProperty("surpass.home");
        if (home != null && !home.isBlank()) {
            Path p = Path.of(home, "models", name);
            if (Files.isDirectory(p)) return p;
        }
        Path p = Path.of("models", name).toAbsolutePath().normalize();
        return Files.isDirectory(p) ? p : null;
    }
}
