package dev.surpass.kernels;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The checks every op family's {@code *KernelAbiTest} makes of its launchers' kernel names: they are
 * in {@code native/abi.txt}'s group for the family and in every cubin of the family's fatbin.
 */
public final class LauncherAbi {
    private LauncherAbi() {}

    /**
     * Asserts that abi.txt has a {@code [family]} group listing every name in {@code launcherNames}
     * (which must not be empty) and, with {@code nothingElse}, no other kernel. Returns the names listed.
     */
    public static Set<String> assertListed(String family, Collection<String> launcherNames, boolean nothingElse) {
        List<AbiFile.Kernel> listed = AbiFile.read().get(family);
        assertNotNull(listed, "abi.txt has no [" + family + "] group");
        Set<String> names = new TreeSet<>();
        listed.forEach(k -> names.add(k.name()));
        assertFalse(launcherNames.isEmpty(), "the " + family + " launchers name no kernels");
        Set<String> missing = new TreeSet<>(launcherNames);
        missing.removeAll(names);
        assertTrue(missing.isEmpty(), "launchers use kernels missing from native/abi.txt [" + family + "]: " + missing);
        if (nothingElse) {
            Set<String> unused = new TreeSet<>(names);
            unused.removeAll(Set.copyOf(launcherNames));
            assertTrue(unused.isEmpty(), "native/abi.txt [" + family + "] lists kernels no launcher uses: " + unused);
        }
        return names;
    }

    /**
     * Asserts that every ELF cubin in {@code family}.fatbin holds every name in {@code launcherNames}
     * and that there are at least {@code minCubins} of them; skips the test when no fatbin was built.
     */
    public static void assertInFatbin(String family, Collection<String> launcherNames, int minCubins) {
        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(family);
        assertNotNull(fatbin, family + ".fatbin was not built");
        int elfs = 0;
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            elfs++;
            Set<String> missing = new TreeSet<>(launcherNames);
            missing.removeAll(e.kernels());
            assertTrue(missing.isEmpty(), family + ".fatbin " + e.arch() + " lacks " + missing);
        }
        assertTrue(elfs >= minCubins, "expected at least " + minCubins + " cubins (sm_80 and sm_90a) in " + family + ".fatbin, found " + elfs);
    }
}
