package dev.surpass.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds artifacts in the local Maven repository ({@code -Dmaven.repo.local}, else
 * {@code ~/.m2/repository}): how the library reaches optional files a build already downloaded
 * (the all-MiniLM-L6-v2 weights, ONNX Runtime for the demo's comparison) without making them
 * dependencies.
 */
public final class LocalMaven {
    private LocalMaven() {}

    /** The local repository's root folder (it may not exist). */
    public static Path root() {
        String local = System.getProperty("maven.repo.local");
        return local != null && !local.isBlank() ? Path.of(local) : Path.of(System.getProperty("user.home"), ".m2", "repository");
    }

    /** The folder of {@code groupId:artifactId} in the local repository (it may not exist). */
    public static Path folder(String groupId, String artifactId) {
        return folder(root(), groupId, artifactId);
    }

    private static Path folder(Path root, String groupId, String artifactId) {
        return root.resolve(groupId.replace('.', '/')).resolve(artifactId);
    }

    /**
     * The jar of {@code groupId:artifactId}'s highest version present in the local repository
     * (versions compared by their numeric parts, then as text), or null when there is none.
     */
    public static Path newestJar(String groupId, String artifactId) {
        return newestJar(root(), groupId, artifactId);
    }

    /** As {@link #newestJar(String, String)} in the repository at {@code root}. */
    static Path newestJar(Path root, String groupId, String artifactId) {
        Path dir = folder(root, groupId, artifactId);
        if (!Files.isDirectory(dir)) return null;
        try (Stream<Path> versions = Files.list(dir)) {
            List<Path> jars = versions.filter(Files::isDirectory)
                    .map(v -> v.resolve(artifactId + "-" + v.getFileName() + ".jar"))
                    .filter(Files::isRegularFile)
                    .sorted(Comparator.comparing((Path p) -> p.getParent().getFileName().toString(), LocalMaven::compareVersions))
                    .toList();
            return jars.isEmpty() ? null : jars.getLast();
        } catch (IOException e) {
            return null;
        }
    }

    /** Compares versions part by part, numbers as numbers: 1.9.0 before 1.10.0, beta3 before beta29. */
    static int compareVersions(String a, String b) {
        String parts = "[.-]|(?<=\\d)(?=\\D)|(?<=\\D)(?=\\d)"; // at dots, dashes and digit/letter boundaries
        String[] x = a.split(parts), y = b.split(parts);
        for (int i = 0; i < Math.min(x.length, y.length); i++) {
            boolean nx = x[i].matches("\\d{1,9}"), ny = y[i].matches("\\d{1,9}");
            int c = nx && ny ? Integer.compare(Integer.parseInt(x[i]), Integer.parseInt(y[i])) : x[i].compareTo(y[i]);
            if (c != 0) return c;
        }
        return Integer.compare(x.length, y.length);
    }
}
