package dev.surpass.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code surpass bundle DIR}: a self-contained folder that runs the whole GPU test and benchmark
 * suite on a Linux GPU host that has only a driver (no JDK, Maven or network): a jlinked Java
 * runtime, the jars, the test jar, the JUnit console launcher and {@code run.sh}.
 *
 * <p>The bundle travels with the repository's tracked files under a 64 MiB limit, so the runtime is
 * the largest thing to squeeze: an uncompressed jlink image ({@code --compress=zip-0}) in an xz tar
 * ({@code runtime.txz}, ~22 MB) is about half of a zip-9 image in a gzip tar ({@code runtime.tgz},
 * ~40 MB), since xz's large window finds what jlink's per-resource zip cannot. The jars go into the
 * same tar (under {@code runtime/jars/}) rewritten with stored entries, for the same reason: 21 MB of
 * deflated jars become ~10 MB of xz. Without an {@code xz} binary on the building machine the bundle
 * falls back to {@code runtime.tgz} with the jars beside it, and says so.
 */
@Command(name = "bundle", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Writes DIR: a self-contained folder that runs the whole test suite (gpu-tagged tests included),",
            "surpass parity and surpass bench on a Linux GPU host with only a driver:",
            "  runtime.txz (a jlinked Java runtime and, under its jars/, lib/ (surpass and its dependencies), test-lib/ (the test",
            "  jar and its dependencies) and the JUnit console launcher, in one xz tar; without xz on this machine runtime.tgz",
            "  and those jars beside it), tree/ (native/ and kernels/), run.sh and BUNDLE.txt.",
            "On the GPU host: DIR/run.sh OUTDIR [--sanitize] [--quick] [--demo] ...; OUTDIR gets summary.txt, bench.json, junit/,",
            "logs.tgz (DIR/run.sh --help lists every option).",
            "Builds from an already-built target/ (the ./surpass launcher builds first)."
        })
final class BundleCommand extends CliCommand {
    /** Modules of the bundled runtime: the library's (java.desktop for PNG output), JUnit console's (java.xml, jdk.jfr, jdk.zipfs). */
    static final List<String> MODULES = List.of(
            "java.base", "jdk.incubator.vector", "java.logging", "java.management", "jdk.management", "jdk.unsupported",
            "java.xml", "jdk.jfr", "jdk.zipfs", "java.desktop");
    static final long LIMIT_BYTES = 60L << 20;
    /** What the bundle and the repository's tracked files may weigh together on their way to the GPU host. */
    static final long TRANSFER_LIMIT_BYTES = 64L << 20;
    /** xz settings for the runtime: -6 on every core is ~22 MB in ~40 s on 2 cores; -9e saves 0.6 MB more for twice the time. */
    static final String XZ_OPT = "-6 -T0";
    static final String MARKER = "BUNDLE.txt";
    static final String RUNTIME_XZ = "runtime.txz", RUNTIME_GZ = "runtime.tgz";
    /** Where runtime.txz carries lib/, test-lib/ and the console launcher, under its runtime/ folder. */
    static final String JARS = "jars";

    @Parameters(index = "0", paramLabel = "DIR", description = "Folder to write (created; an older bundle there is replaced).")
    Path dir;

    @Option(names = "--build-dir", paramLabel = "DIR",
            description = "The Maven build folder to take the jars from (default: the launcher's, target/ of the surpass checkout).")
    Path buildDir;

    @Override
    int execute(PrintWriter out, PrintWriter err) throws IOException, InterruptedException {
        Path build = buildDir != null ? buildDir : defaultBuildDir();
        Inputs in = Inputs.find(build);

        Path target = dir.toAbsolutePath().normalize();
        prepare(target);
        out.println("bundling into " + target + " from " + build.toAbsolutePath().normalize());

        // 1. the jars, and 2. the Java runtime. With xz the jars travel inside runtime.txz (under runtime/jars/), each
        // rewritten with stored (uncompressed) entries: xz over the raw classes and fatbins is ~45% of the deflated jars.
        boolean xz = hasXz();
        Path tmp = Files.createTempDirectory("surpass-jlink");
        Path lib, testLib;
        try {
            Path rt = tmp.resolve("runtime");
            Path jarHome = xz ? rt.resolve(JARS) : target;
            List<String> modules = availableModules();
            out.println("jlink: " + String.join(",", modules));
            jlink(rt, modules, xz ? "zip-0" : "zip-9");
            lib = Files.createDirectories(jarHome.resolve("lib"));
            testLib = Files.createDirectories(jarHome.resolve("test-lib"));
            copyJar(in.mainJar, lib, xz);
            List<String> libNames = new ArrayList<>();
            libNames.add(in.mainJar.getFileName().toString());
            for (Path j : jars(in.lib)) {
                copyJar(j, lib, xz);
                libNames.add(j.getFileName().toString());
            }
            copyJar(in.testJar, testLib, xz);
            for (Path j : jars(in.testLib)) {
                String n = j.getFileName().toString();
                // The console launcher carries JUnit itself; the runtime jars are already in lib/.
                if (libNames.contains(n) || n.startsWith("junit-") || n.startsWith("opentest4j-") || n.startsWith("apiguardian-")) continue;
                copyJar(j, testLib, xz);
            }
            copyJar(in.console, jarHome, xz);
            if (xz) {
                // Uncompressed image and jars: xz over the whole tar compresses them far better than zip-9 / deflate would.
                out.printf(Locale.ROOT, "jars (stored): lib %.1f MiB, test-lib %.1f MiB%n", mib(treeSize(lib)), mib(treeSize(testLib)));
                out.println("tar + xz " + XZ_OPT + ": runtime.txz (the runtime, and the jars under runtime/" + JARS + "/)");
                out.flush();
                run(List.of("tar", "-cJf", target.resolve(RUNTIME_XZ).toString(), "-C", tmp.toString(), "runtime"), "tar -cJf",
                        Map.of("XZ_OPT", XZ_OPT));
            } else {
                out.println("xz not found on this machine: runtime.tgz (zip-9 image, gzip) and the jars as they are, ~30 MB larger than"
                        + " with xz; install xz (xz-utils) for a smaller bundle");
                run(List.of("tar", "-czf", target.resolve(RUNTIME_GZ).toString(), "-C", tmp.toString(), "runtime"), "tar -czf", Map.of());
            }
        } finally {
            deleteTree(tmp);
        }

        // 3. sources the tests may read relative to the working folder (ABI list, kernels)
        Path home = surpassHome();
        for (String sub : List.of("native", "kernels")) {
            Path src = home == null ? null : home.resolve(sub);
            if (src != null && Files.isDirectory(src)) copyTree(src, target.resolve("tree").resolve(sub));
        }

        // 4. run.sh and the manifest
        Path runSh = target.resolve("run.sh");
        Files.write(runSh, resource("bundle-run.sh"));
        Files.setPosixFilePermissions(runSh, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(target.resolve(MARKER), manifest(in, home, Files.exists(target.resolve(RUNTIME_XZ)) ? RUNTIME_XZ : RUNTIME_GZ));

        long size = treeSize(target);
        Path runtime = Files.exists(target.resolve(RUNTIME_XZ)) ? target.resolve(RUNTIME_XZ) : target.resolve(RUNTIME_GZ);
        out.printf(Locale.ROOT, "bundle: %s, %.1f MiB (%s %.1f MiB%s)%n", target, mib(size), runtime.getFileName(), mib(Files.size(runtime)),
                xz ? ", the jars inside it" : String.format(Locale.ROOT, ", lib %.1f MiB, test-lib %.1f MiB, %s %.1f MiB",
                        mib(treeSize(target.resolve("lib"))), mib(treeSize(target.resolve("test-lib"))), in.console.getFileName(),
                        mib(Files.size(in.console))));
        out.println("on the GPU host: " + target.resolve("run.sh") + " OUTDIR [--sanitize] [--quick] [--demo] (--help for the rest)");
        // The bundle travels with the repository's tracked files, and the two together have a limit.
        long tracked = home == null ? -1 : trackedSize(home);
        if (tracked >= 0) {
            out.printf(Locale.ROOT, "with the repository's tracked files (%.1f MiB): %.1f MiB of the %d MiB a transfer may hold%n",
                    mib(tracked), mib(size + tracked), TRANSFER_LIMIT_BYTES >> 20);
            if (size + tracked > TRANSFER_LIMIT_BYTES) {
                err.printf(Locale.ROOT, "surpass bundle: warning: bundle + tracked files = %.1f MiB, over %d MiB%n",
                        mib(size + tracked), TRANSFER_LIMIT_BYTES >> 20);
            }
        }
        if (size > LIMIT_BYTES) {
            err.printf(Locale.ROOT, "surpass bundle: %.1f MiB is over the %d MiB limit%n", mib(size), LIMIT_BYTES >> 20);
            return Main.FAILURE;
        }
        return 0;
    }

    /** The build products the bundle needs; a missing one is a usage error that says how to build. */
    record Inputs(Path mainJar, Path testJar, Path lib, Path testLib, Path console) {
        static Inputs find(Path build) throws IOException {
            String fix = " (run `mvn package -DskipTests` in the surpass checkout, or use ./surpass which builds first)";
            if (!Files.isDirectory(build)) throw new UsageException("build folder " + build + " does not exist" + fix);
            Path main = null, tests = null;
            try (Stream<Path> s = Files.list(build)) {
                for (Path p : s.toList()) {
                    String n = p.getFileName().toString();
                    if (!n.startsWith("surpass-") || !n.endsWith(".jar")) continue;
                    if (n.endsWith("-tests.jar")) tests = p;
                    else if (!n.endsWith("-sources.jar") && !n.endsWith("-javadoc.jar")) main = p;
                }
            }
            if (main == null) throw new UsageException("no surpass jar in " + build + fix);
            if (tests == null) throw new UsageException("the test jar (surpass-*-tests.jar) is missing in " + build + fix);
            Path lib = build.resolve("lib"), testLib = build.resolve("test-lib"), bundleLib = build.resolve("bundle-lib");
            if (!Files.isDirectory(lib)) throw new UsageException("runtime dependencies (" + lib + ") are missing" + fix);
            if (!Files.isDirectory(testLib)) throw new UsageException("test dependencies (" + testLib + ") are missing" + fix);
            Path console = null;
            if (Files.isDirectory(bundleLib)) {
                try (Stream<Path> s = Files.list(bundleLib)) {
                    console = s.filter(p -> p.getFileName().toString().startsWith("junit-platform-console-standalone-")).findFirst().orElse(null);
                }
            }
            if (console == null) throw new UsageException("the JUnit console launcher (" + bundleLib + "/junit-platform-console-standalone-*.jar) is missing" + fix);
            return new Inputs(main, tests, lib, testLib, console);
        }
    }

    /** The checkout the launcher runs from ({@code -Dsurpass.home}), else the working folder when it has a pom. */
    static Path surpassHome() {
        String h = System.getProperty("surpass.home");
        if (h != null && !h.isBlank()) return Path.of(h);
        Path cwd = Path.of("").toAbsolutePath();
        return Files.isRegularFile(cwd.resolve("pom.xml")) ? cwd : null;
    }

    private static Path defaultBuildDir() {
        String b = System.getProperty("surpass.buildDir");
        if (b != null && !b.isBlank()) return Path.of(b);
        Path home = surpassHome();
        return (home == null ? Path.of("") : home).resolve("target");
    }

    /** Refuses a non-empty folder that is not a bundle; empties an older bundle. */
    private static void prepare(Path target) throws IOException {
        if (Files.exists(target) && !Files.isDirectory(target)) throw new UsageException(target + " exists and is not a folder");
        if (Files.isDirectory(target)) {
            boolean empty;
            try (Stream<Path> s = Files.list(target)) {
                empty = s.findAny().isEmpty();
            }
            if (!empty && !Files.isRegularFile(target.resolve(MARKER))) {
                throw new UsageException(target + " is not empty and holds no surpass bundle; choose a new or empty folder");
            }
            try (Stream<Path> s = Files.list(target)) {
                for (Path p : s.toList()) deleteTree(p);
            }
        }
        Files.createDirectories(target);
    }

    /** The wanted modules that this JDK has (jdk.crypto.ec, for one, is gone from recent JDKs). */
    private static List<String> availableModules() {
        List<String> out = new ArrayList<>();
        for (String m : MODULES) if (ModuleLayer.boot().findModule(m).isPresent() || java.lang.module.ModuleFinder.ofSystem().find(m).isPresent()) out.add(m);
        return out;
    }

    /** Whether an {@code xz} binary runs here (tar -J calls it). */
    static boolean hasXz() {
        try {
            Process p = new ProcessBuilder("xz", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static void jlink(Path output, List<String> modules, String compress) throws IOException, InterruptedException {
        List<String> args = List.of("--add-modules", String.join(",", modules), "--strip-debug", "--no-header-files",
                "--no-man-pages", "--compress=" + compress, "--output", output.toString());
        Optional<ToolProvider> tool = ToolProvider.findFirst("jlink");
        if (tool.isPresent()) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            try (PrintWriter w = new PrintWriter(buf, true, StandardCharsets.UTF_8)) {
                int rc = tool.get().run(w, w, args.toArray(new String[0]));
                w.flush();
                if (rc != 0) throw new IllegalStateException("jlink failed (exit " + rc + "): " + buf.toString(StandardCharsets.UTF_8).strip());
            }
            return;
        }
        Path exe = Path.of(System.getProperty("java.home"), "bin", "jlink");
        if (!Files.isExecutable(exe)) {
            throw new UsageException("jlink is not available in " + System.getProperty("java.home") + ": run surpass bundle with a full JDK 25");
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(exe.toString());
        cmd.addAll(args);
        run(cmd, "jlink", Map.of());
    }

    private static void run(List<String> cmd, String what, Map<String, String> env) throws IOException, InterruptedException {
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().putAll(env);
            p = pb.start();
        } catch (IOException e) {
            throw new IllegalStateException(what + " could not start: " + e.getMessage(), e);
        }
        byte[] output = p.getInputStream().readAllBytes();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IllegalStateException(what + " timed out");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(what + " failed (exit " + p.exitValue() + "): " + new String(output, StandardCharsets.UTF_8).strip());
        }
    }

    private static String manifest(Inputs in, Path home, String runtimeName) {
        StringBuilder b = new StringBuilder();
        b.append("surpass GPU bundle: ").append(in.mainJar.getFileName()).append(", built ").append(Instant.now()).append('\n');
        String commit = home == null ? null : gitCommit(home);
        b.append("commit: ").append(commit == null ? "unknown" : commit).append('\n');
        b.append("runtime: jlinked from Java ").append(Runtime.version()).append(" (").append(System.getProperty("java.vm.vendor")).append(")\n");
        b.append('\n');
        b.append("Run on a Linux GPU host (needs only the NVIDIA driver; compute-sanitizer for --sanitize):\n");
        b.append("  ./run.sh OUTDIR [--sanitize] [--quick] [--no-tests] [--no-parity] [--no-bench] [--demo] [--only-demo] [--home DIR]\n");
        b.append("OUTDIR gets summary.txt, bench.json, junit/ (JUnit XML), logs.tgz (all logs), and with --demo demo.txt and demo-out/.\n");
        b.append("--demo runs `surpass demo --device cuda`; it reads models/ of the repository root (--home, default: the working\n");
        b.append("folder if it has models/, else the bundle's parent folder).\n");
        b.append('\n');
        b.append(runtimeName).append("       the Java runtime (").append(String.join(", ", availableModules())).append("),\n");
        b.append(runtimeName.equals(RUNTIME_XZ)
                ? "                  an xz tar of an uncompressed jlink image; run.sh unpacks it with tar -xJf, or python3 without xz\n"
                : "                  a gzip tar of a zip-9 jlink image (the building machine had no xz)\n");
        String at = runtimeName.equals(RUNTIME_XZ) ? "runtime/" + JARS + "/" : "";
        if (!at.isEmpty()) b.append("  (the jars below are inside it, under ").append(at).append(", with stored entries)\n");
        b.append(at).append("lib/              surpass and its runtime dependencies (module path for the CLI)\n");
        b.append(at).append("test-lib/         the test jar and its other dependencies\n");
        b.append(at).append(in.console.getFileName()).append("  the JUnit console launcher\n");
        b.append("tree/             native/ and kernels/ of the checkout (the tests' working folder)\n");
        return b.toString();
    }

    private static String gitCommit(Path home) {
        try {
            Process p = new ProcessBuilder("git", "-C", home.toString(), "rev-parse", "HEAD").redirectErrorStream(true).start();
            String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) return null;
            Process d = new ProcessBuilder("git", "-C", home.toString(), "status", "--porcelain", "--untracked-files=no")
                    .redirectErrorStream(true).start();
            String dirty = new String(d.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            d.waitFor(10, TimeUnit.SECONDS);
            return s + (dirty.isEmpty() ? "" : " (with uncommitted changes)");
        } catch (IOException | InterruptedException e) {
            return null;
        }
    }

    /** Bytes of the files git tracks in {@code home} (as they are on disk), or -1 without git or a repository. */
    static long trackedSize(Path home) {
        try {
            Process p = new ProcessBuilder("git", "-C", home.toString(), "ls-files", "-z").redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] names = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) return -1;
            long sum = 0;
            for (String n : new String(names, StandardCharsets.UTF_8).split("\0")) {
                Path f = home.resolve(n);
                if (!n.isEmpty() && Files.isRegularFile(f)) sum += Files.size(f);
            }
            return sum;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream is = BundleCommand.class.getResourceAsStream(name)) {
            if (is == null) throw new IllegalStateException("resource " + name + " missing from the surpass jar");
            return is.readAllBytes();
        }
    }

    private static List<Path> jars(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".jar")).sorted().toList();
        }
    }

    /**
     * Copies a jar into {@code folder}; {@code stored}: rewritten with every entry stored uncompressed (same entries, order,
     * and bytes), so that the xz over the bundle sees the raw classes and fatbins rather than deflate's output.
     */
    static void copyJar(Path jar, Path folder, boolean stored) throws IOException {
        if (!stored) {
            copy(jar, folder);
            return;
        }
        Path dst = folder.resolve(jar.getFileName());
        // ZipFile reads the central directory, so a file that is not a zip fails here (a ZipInputStream would see no entries).
        try (var zin = new java.util.zip.ZipFile(jar.toFile());
             var zout = new java.util.zip.ZipOutputStream(Files.newOutputStream(dst))) {
            zout.setMethod(java.util.zip.ZipOutputStream.STORED);
            for (var it = zin.entries(); it.hasMoreElements(); ) {
                java.util.zip.ZipEntry e = it.nextElement();
                byte[] data;
                try (InputStream is = zin.getInputStream(e)) {
                    data = is.readAllBytes();
                }
                java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                crc.update(data);
                java.util.zip.ZipEntry o = new java.util.zip.ZipEntry(e.getName());
                o.setMethod(java.util.zip.ZipEntry.STORED);
                o.setSize(data.length);
                o.setCompressedSize(data.length);
                o.setCrc(crc.getValue());
                if (e.getLastModifiedTime() != null) o.setLastModifiedTime(e.getLastModifiedTime());
                zout.putNextEntry(o);
                zout.write(data);
                zout.closeEntry();
            }
        } catch (java.util.zip.ZipException e) {
            Files.deleteIfExists(dst);
            throw new IllegalStateException(jar + " is not a readable jar: " + e.getMessage(), e);
        }
    }

    private static void copy(Path file, Path folder) throws IOException {
        Files.copy(file, folder.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
    }

    private static void copyTree(Path src, Path dst) throws IOException {
        Files.walkFileTree(src, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a) throws IOException {
                Files.createDirectories(dst.resolve(src.relativize(d).toString()));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                if (a.isRegularFile() && a.size() <= (4L << 20)) {
                    Files.copy(f, dst.resolve(src.relativize(f).toString()), StandardCopyOption.COPY_ATTRIBUTES);
                }
                return FileVisitResult.CONTINUE;
            }
        });
    }

    static long treeSize(Path root) throws IOException {
        if (!Files.exists(root)) return 0;
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                Files.delete(f);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }
}
