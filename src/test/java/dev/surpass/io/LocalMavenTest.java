package dev.surpass.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link LocalMaven}: version order and the newest jar of an artifact in a repository folder. */
class LocalMavenTest {
    @TempDir
    Path repo;

    @Test
    void versionsCompareByTheirNumericParts() {
        assertTrue(LocalMaven.compareVersions("1.9.0", "1.10.0") < 0);
        assertTrue(LocalMaven.compareVersions("1.20.0", "1.3.1") > 0);
        assertTrue(LocalMaven.compareVersions("1.19.0-beta29", "1.19.0-beta3") > 0, "numbers inside text parts compare as numbers");
        assertTrue(LocalMaven.compareVersions("1.2", "1.2.1") < 0);
        assertEquals(0, LocalMaven.compareVersions("2.0.0", "2.0.0"));
    }

    @Test
    void newestJarSkipsVersionsWithoutTheirJar() throws Exception {
        Path dir = repo.resolve("com/example/thing");
        for (String v : new String[] {"1.9.0", "1.10.0", "1.11.0"}) Files.createDirectories(dir.resolve(v));
        Files.writeString(dir.resolve("1.9.0/thing-1.9.0.jar"), "x");
        Files.writeString(dir.resolve("1.10.0/thing-1.10.0.jar"), "x");
        Files.writeString(dir.resolve("1.11.0/thing-1.11.0.pom"), "x"); // a version without its jar
        assertEquals(dir.resolve("1.10.0/thing-1.10.0.jar"), LocalMaven.newestJar(repo, "com.example", "thing"));
        assertNull(LocalMaven.newestJar(repo, "com.example", "absent"));
    }
}
