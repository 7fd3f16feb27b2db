package dev.surpass.scan;

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

/** Every kernel the scan launchers name ({@link ScanKernels#all()}) is in abi.txt and in mamba.fatbin, and nothing more. */
class ScanKernelAbiTest {
    @Test
    void launcherNamesAreTheAbiList() {
        List<AbiFile.Kernel> listed = AbiFile.read().get(ScanKernels.FAMILY);
        assertNotNull(listed, "abi.txt has no [" + ScanKernels.FAMILY + "] group");
        Set<String> names = new TreeSet<>();
        listed.forEach(k -> names.add(k.name()));
        Set<String> missing = new TreeSet<>(ScanKernels.all());
        missing.removeAll(names);
        assertTrue(missing.isEmpty(), "launchers use kernels missing from native/abi.txt: " + missing);
        Set<String> unused = new TreeSet<>(names);
        unused.removeAll(new HashSet<>(ScanKernels.all()));
        assertTrue(unused.isEmpty(), "abi.txt lists mamba kernels no launcher uses: " + unused);
        assertFalse(ScanKernels.all().isEmpty());
    }

    @Test
    void launcherNamesAreInFatbin() {
        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(ScanKernels.FAMILY);
        assertNotNull(fatbin, ScanKernels.FAMILY + ".fatbin was not built");
        int elfs = 0;
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            elfs++;
            Set<String> missing = new TreeSet<>(ScanKernels.all());
            missing.removeAll(e.kernels());
            assertTrue(missing.isEmpty(), ScanKernels.FAMILY + ".fatbin " + e.arch() + " lacks " + missing);
        }
        assertTrue(elfs >= 2, "expected sm_80 and sm_90a cubins, found " + elfs);
    }
}
