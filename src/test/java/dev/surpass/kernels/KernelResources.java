package dev.surpass.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/** The kernel fatbins on the test classpath (resources dev/surpass/kernels/*.fatbin). */
public final class KernelResources {
    public static final String RESOURCE_DIR = "/dev/surpass/kernels/";

    private KernelResources() {}

    /** Bytes of {@code name}.fatbin, or null when it was not built. */
    public static byte[] fatbin(String name) {
        try (InputStream in = KernelResources.class.getResourceAsStream(RESOURCE_DIR + name + ".fatbin")) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Names (without .fatbin) of the fatbins built. Every classpath folder holding
     * dev/surpass/kernels/ is listed: this test package has the same name, so test-classes holds one too.
     * Where no folder holds any (the GPU bundle runs the tests from jars), the jars' entries are listed.
     */
    public static Set<String> built() {
        Set<String> names = new TreeSet<>();
        try {
            Enumeration<URL> dirs = KernelResources.class.getClassLoader().getResources(RESOURCE_DIR.substring(1));
            List<URL> jars = new ArrayList<>();
            for (URL dir : Collections.list(dirs)) {
                if (!"file".equals(dir.getProtocol())) {  // a jar: listed only when no build folder has fatbins
                    if ("jar".equals(dir.getProtocol())) jars.add(dir);
                    continue;
                }
                try (Stream<Path> files = Files.list(Path.of(dir.toURI()))) {
                    files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".fatbin"))
                            .forEach(n -> names.add(n.substring(0, n.length() - ".fatbin".length())));
                }
            }
            for (URL dir : names.isEmpty() ? jars : List.<URL>of()) {
                JarURLConnection c = (JarURLConnection) dir.openConnection();
                c.setUseCaches(false);
                try (JarFile jar = c.getJarFile()) {
                    String prefix = RESOURCE_DIR.substring(1);
                    jar.stream().map(JarEntry::getName)
                            .filter(n -> n.startsWith(prefix) && n.endsWith(".fatbin") && n.indexOf('/', prefix.length()) < 0)
                            .forEach(n -> names.add(n.substring(prefix.length(), n.length() - ".fatbin".length())));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        return names;
    }

    /** Skips the calling test, visibly, when the build had no nvcc (no fatbin at all). */
    public static void assumeBuilt() {
        Assumptions.assumeTrue(!built().isEmpty(),
                "no kernel fatbins on the classpath: nvcc was absent at build time (see the [kernels] WARNING)");
    }
}
