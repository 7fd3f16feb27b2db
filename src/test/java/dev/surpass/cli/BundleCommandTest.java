package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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
            assertTrue(s.contains("runtime.txz") && s.contains("tar -xJf") && s.contains("tarfile"), "unpacks the xz runtime, with python3 as the fallback");
            assertTrue(s.contains("runtime.tgz"), "still unpacks a gzip runtime (bundles built without xz)");
        }
    }

    /** A jar copied for the xz tar keeps every entry, in order, byte for byte, each now stored uncompressed. */
    @Test
    void storedJarCopyKeepsEveryEntry(@TempDir Path dir) throws Exception {
        Path jar = dir.resolve("x.jar");
        java.util.Random rnd = new java.util.Random(7);
        List<byte[]> data = new ArrayList<>();
        String[] names = {"META-INF/MANIFEST.MF", "a/B.class", "a/empty/", "k/blob.fatbin"};
        try (var z = new java.util.zip.ZipOutputStream(Files.newOutputStream(jar))) {
            for (String n : names) {
                byte[] d = n.endsWith("/") ? new byte[0] : new byte[1 + rnd.nextInt(5000)];
                for (int i = 0; i < d.length; i++) d[i] = (byte) (rnd.nextInt(7) * 31); // compressible, not constant
                data.add(d);
                z.putNextEntry(new java.util.zip.ZipEntry(n));
                z.write(d);
                z.closeEntry();
            }
        }
        Path out = Files.createDirectories(dir.resolve("out"));
        BundleCommand.copyJar(jar, out, true);
        try (var zf = new java.util.zip.ZipFile(out.resolve("x.jar").toFile())) {
            List<? extends java.util.zip.ZipEntry> es = java.util.Collections.list(zf.entries());
            assertEquals(names.length, es.size());
            for (int i = 0; i < names.length; i++) {
                assertEquals(names[i], es.get(i).getName());
                assertEquals(java.util.zip.ZipEntry.STORED, es.get(i).getMethod(), names[i]);
                try (var is = zf.getInputStream(es.get(i))) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(data.get(i), is.readAllBytes(), names[i]);
                }
            }
        }
        Files.write(dir.resolve("bad.jar"), new byte[] {1, 2, 3});
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                () -> BundleCommand.copyJar(dir.resolve("bad.jar"), out, true)).getMessage().contains("bad.jar"));
    }

    /** What travels with the bundle: the files git tracks (untracked and ignored ones stay behind). */
    @Test
    void trackedSizeCountsOnlyTrackedFiles(@TempDir Path dir) throws Exception {
        assumeTrue(onPath("git") != null, "git is not on the PATH");
        assertTrue(BundleCommand.trackedSize(dir) <= 0, "nothing tracked yet (-1 outside a repository)");
        Process init = new ProcessBuilder("git", "init", "-q", dir.toString()).redirectErrorStream(true).start();
        init.getInputStream().readAllBytes();
        assertTrue(init.waitFor(30, TimeUnit.SECONDS) && init.exitValue() == 0, "git init");
        Files.write(dir.resolve("a.bin"), new byte[1000]);
        Files.createDirectories(dir.resolve("sub"));
        Files.write(dir.resolve("sub/b.bin"), new byte[234]);
        Files.write(dir.resolve("untracked.bin"), new byte[5000]);
        Process add = new ProcessBuilder("git", "-C", dir.toString(), "add", "a.bin", "sub/b.bin").redirectErrorStream(true).start();
        add.getInputStream().readAllBytes();
        assertTrue(add.waitFor(30, TimeUnit.SECONDS) && add.exitValue() == 0, "git add");
        assertEquals(1234, BundleCommand.trackedSize(dir));
    }

    @Test
    void runScriptHelpListsItsOptions(@TempDir Path dir) throws Exception {
        Path bundle = fakeBundle(dir, false);
        Run r = runSh(bundle, dir, Map.of(), "--help");
        assertEquals(0, r.code, r::toString);
        for (String o : new String[] {"--sanitize", "--no-tests", "--no-parity", "--no-bench", "--demo", "--only-demo", "--home", "--unpack-only"}) {
            assertTrue(r.out.contains(o), o + " missing from --help: " + r);
        }
        Run bad = runSh(bundle, dir, Map.of(), "out", "--nope");
        assertEquals(2, bad.code, bad::toString);
        assertTrue(bad.err.contains("unknown option --nope"), bad::toString);
    }

    /** The demo's models/ are checked before the runtime is unpacked or anything runs. */
    @Test
    void runScriptDemoWithoutModelsFailsAtOnce(@TempDir Path dir) throws Exception {
        Path bundle = fakeBundle(dir, false);
        Run r = runSh(bundle, dir, Map.of(), dir.resolve("out").toString(), "--only-demo");
        assertEquals(2, r.code, r::toString);
        assertTrue(r.err.contains("no models/ in the working folder") && r.err.contains("--home"), r::toString);
        Run h = runSh(bundle, dir, Map.of(), dir.resolve("out").toString(), "--demo", "--home", dir.resolve("nope").toString());
        assertEquals(2, h.code, h::toString);
        assertTrue(h.err.contains("has no models/ folder"), h::toString);
        assertTrue(Files.notExists(bundle.resolve("runtime")), "nothing unpacked");
    }

    /**
     * run.sh end to end on a bundle whose runtime.txz holds a stand-in {@code java} (a shell script
     * that echoes its arguments): unpacks it, runs only the demo from the repository root with
     * surpass.home set, and writes demo.txt and the summary's demo line.
     */
    @Test
    void runScriptOnlyDemoRunsTheDemoFromTheRepositoryRoot(@TempDir Path dir) throws Exception {
        assumeTrue(BundleCommand.hasXz(), "xz is not installed here");
        Path repo = Files.createDirectories(dir.resolve("repo"));
        Files.createDirectories(repo.resolve("models"));
        Path bundle = fakeBundle(repo, true);
        Path out = dir.resolve("out");
        Run r = runSh(bundle, repo, Map.of(), out.toString(), "--only-demo");
        assertEquals(0, r.code, r::toString);
        assertTrue(Files.isExecutable(bundle.resolve("runtime/bin/java")), "runtime unpacked beside run.sh");
        String demo = Files.readString(out.resolve("demo.txt"));
        assertTrue(demo.contains("-Dsurpass.home=" + repo.toRealPath()), demo);
        assertTrue(demo.contains("demo --device cuda --out " + out.toRealPath().resolve("demo-out")), demo);
        assertTrue(demo.contains("cwd " + repo.toRealPath()), "runs from the repository root: " + demo);
        assertTrue(demo.contains("-p " + bundle.toRealPath().resolve("runtime/jars/lib") + " "), "the jars from inside the runtime: " + demo);
        String summary = Files.readString(out.resolve("summary.txt"));
        assertTrue(summary.contains("tests: not run") && summary.contains("parity: not run") && summary.contains("bench: not run"), summary);
        assertTrue(summary.matches("(?s).*\\ndemo: all checks passed in 1\\.5 s; \\d+ s wall on cuda \\(exit 0\\)\\n.*"), summary);
        assertTrue(summary.contains("result: PASS"), summary);

        // A failing demo fails the run; SURPASS_DEMO_DEVICE picks the device.
        Run f = runSh(bundle, dir, Map.of("FAKE_JAVA_RC", "1", "SURPASS_DEMO_DEVICE", "cpu"),
                out.toString(), "--demo", "--no-tests", "--no-parity", "--no-bench", "--home", repo.toString());
        assertEquals(1, f.code, f::toString);
        String s2 = Files.readString(out.resolve("summary.txt"));
        assertTrue(s2.contains("on cpu (exit 1)") && s2.contains("result: FAIL"), s2);
    }

    /** Without xz on the PATH, run.sh unpacks runtime.txz with python3's tarfile. */
    @Test
    void runScriptUnpacksWithPythonWithoutXz(@TempDir Path dir) throws Exception {
        assumeTrue(BundleCommand.hasXz(), "xz is not installed here (needed to make the test's runtime.txz)");
        Path bundle = fakeBundle(dir, true);
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Run r;
        try {
            for (String tool : new String[] {"readlink", "dirname", "basename", "rm", "mkdir", "mv", "rmdir", "touch", "tar", "python3"}) {
                Path t = tool.equals("python3") ? python3() : onPath(tool);
                assumeTrue(t != null, tool + " is not on the PATH");
                Files.createSymbolicLink(bin.resolve(tool), t);
            }
            r = runSh(bundle, dir, Map.of("PATH", bin.toString()), "--unpack-only");
        } finally {
            try (var links = Files.list(bin)) {
                for (Path l : links.toList()) Files.delete(l); // (links out of the temp dir make @TempDir's cleanup warn)
            }
        }
        assertEquals(0, r.code, r::toString);
        assertTrue(r.err.contains("xz not found; unpacking runtime.txz with python3"), r::toString);
        assertEquals(bundle.resolve("runtime/bin/java").toRealPath().toString(), r.out.strip(), r::toString);
        assertTrue(Files.isExecutable(bundle.resolve("runtime/bin/java")), "the executable bit survives python's unpack");
    }

    /**
     * A bundle folder with the real run.sh, empty stand-in jars, and (with {@code runtime}) a
     * runtime.txz whose bin/java prints its arguments and working folder, then the demo's last line,
     * and which carries the jars.
     */
    private static Path fakeBundle(Path parent, boolean runtime) throws IOException, InterruptedException {
        Path b = Files.createDirectories(parent.resolve("bundle"));
        try (var is = BundleCommand.class.getResourceAsStream("bundle-run.sh")) {
            Files.write(b.resolve("run.sh"), is.readAllBytes());
        }
        // As `surpass bundle` lays them out: the jars inside runtime.txz (runtime/jars/) when there is one, else beside run.sh.
        Path staging = parent.resolve("staging");
        Path jars = runtime ? staging.resolve("runtime").resolve(BundleCommand.JARS) : b;
        Files.createDirectories(jars.resolve("lib"));
        Files.createDirectories(jars.resolve("test-lib"));
        Files.write(jars.resolve("lib/surpass-0.jar"), new byte[0]);
        Files.write(jars.resolve("test-lib/surpass-0-tests.jar"), new byte[0]);
        Files.write(jars.resolve("junit-platform-console-standalone-0.jar"), new byte[0]);
        if (runtime) {
            Path java = Files.createDirectories(staging.resolve("runtime/bin")).resolve("java");
            Files.writeString(java, """
                    #!/bin/sh
                    if [ "$1" = -version ]; then echo 'openjdk version "25" (stand-in)'; exit 0; fi
                    echo "args: $*"
                    echo "cwd $(pwd -P)"
                    echo "  all checks passed in 1.5 s (full runs: surpass parity --device all)"
                    exit "${FAKE_JAVA_RC:-0}"
                    """);
            Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
            Process p = new ProcessBuilder("tar", "-cJf", b.resolve("runtime.txz").toString(), "-C", staging.toString(), "runtime")
                    .redirectErrorStream(true).start();
            String o = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "tar -cJf: " + o);
        }
        return b;
    }

    record Run(int code, String out, String err) {}

    private static Run runSh(Path bundle, Path cwd, Map<String, String> env, String... args) throws IOException, InterruptedException {
        Path bash = onPath("bash");
        assumeTrue(bash != null, "bash is not on the PATH");
        List<String> cmd = new ArrayList<>(List.of(bash.toString(), bundle.resolve("run.sh").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        pb.environment().putAll(env);
        Path err = Files.createTempFile("run-sh", ".err");
        try {
            Process p = pb.redirectError(err.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "run.sh timed out");
            return new Run(p.exitValue(), out, Files.readString(err));
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /** The real python3 executable (not a pyenv shim, which needs more than the test's PATH). */
    private static Path python3() throws IOException, InterruptedException {
        if (onPath("python3") == null) return null;
        Process p = new ProcessBuilder("python3", "-c", "import sys; print(sys.executable)").redirectErrorStream(true).start();
        String exe = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0 || exe.isEmpty()) return null;
        return Path.of(exe);
    }

    private static Path onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(d.isEmpty() ? "." : d, tool);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }
}
