package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleCommandTest {
    @Test
    void missingTestJarSaysToBuild(@TempDir Path dir) throws Exception {
        Path build = Files.createDirectories(dir.resolve("target"));
        Files.write(build.resolve("surpass-0.1.0-SNAPSHOT.jar"), new byte[] {0});
        CliRun r = CliRun.run("bundle", dir.resolve("out").toString(), "--build-dir", build.toString());
        assertEquals(Main.USAGE, r.code(), r::toString);
        assertTrue(r.err().contains("the test jar (surpass-*-tests.jar) is missing in " + build), r::toString);
        assertTrue(r.err().contains("mvn package"), r::toString);
        assertTrue(Files.notExists(dir.resolve("out")), "nothing written before the inputs check");
    }

    @Test
    void missingBuildFolderSaysToBuild(@TempDir Path dir) {
        CliRun r = CliRun.run("bundle", dir.resolve("out").toString(), "--build-dir", dir.resolve("nope").toString());
        assertEquals(Main.USAGE, r.code(), r::toString);
        assertTrue(r.err().contains("does not exist") && r.err().contains("mvn package"), r::toString);
    }

    @Test
    void refusesAFolderThatIsNotABundle(@TempDir Path dir) throws Exception {
        Path build = Files.createDirectories(dir.resolve("target"));
        for (String j : new String[] {"surpass-0.1.0-SNAPSHOT.jar", "surpass-0.1.0-SNAPSHOT-tests.jar"}) {
            Files.write(build.resolve(j), new byte[] {0});
        }
        Files.createDirectories(build.resolve("lib"));
        Files.createDirectories(build.resolve("test-lib"));
        Files.createDirectories(build.resolve("bundle-lib"));
        Files.write(build.resolve("bundle-lib/junit-platform-console-standalone-6.1.3.jar"), new byte[] {0});
        Path target = Files.createDirectories(dir.resolve("precious"));
        Files.writeString(target.resolve("notes.txt"), "keep me");
        CliRun r = CliRun.run("bundle", target.toString(), "--build-dir", build.toString());
        assertEquals(Main.USAGE, r.code(), r::toString);
        assertTrue(r.err().contains("is not empty and holds no surpass bundle"), r::toString);
        assertEquals("keep me", Files.readString(target.resolve("notes.txt")));
    }

    @Test
    void runScriptShipsInTheJar() throws Exception {
        try (var is = BundleCommand.class.getResourceAsStream("bundle-run.sh")) {
            String s = new String(is.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(s.startsWith("#!/usr/bin/env bash"));
            assertTrue(s.contains("--scan-class-path"));
            assertTrue(s.contains("compute-sanitizer"));
        }
    }
}
