package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.kernels.AbiFile;
import dev.surpass.kernels.FatbinSymbols;
import dev.surpass.kernels.KernelResources;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Every kernel the layers launchers name ({@link Kernels#all()}) is in abi.txt and in layers.fatbin. */
class LayersKernelAbiTest {
    @Test
    void launcherNamesAreInAbiList() {
        List<AbiFile.Kernel> listed = AbiFile.read().get(Kernels.FAMILY);
        assertNotNull(listed, "abi.txt has no [" + Kernels.FAMILY + "] group");
        Set<String> names = new HashSet<>();
        listed.forEach(k -> names.add(k.name()));
        Set<String> missing = new TreeSet<>(Kernels.all());
        missing.removeAll(names);
        assertTrue(missing.isEmpty(), "launchers use kernels missing from native/abi.txt: " + missing);
        assertFalse(Kernels.all().isEmpty());
    }

    @Test
    void launcherNamesAreInFatbin() {
        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(Kernels.FAMILY);
        assertNotNull(fatbin, Kernels.FAMILY + ".fatbin was not built");
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            Set<String> missing = new TreeSet<>(Kernels.all());
            missing.removeAll(e.kernels());
            assertTrue(missing.isEmpty(), Kernels.FAMILY + ".fatbin " + e.arch() + " lacks " + missing);
        }
    }
}
