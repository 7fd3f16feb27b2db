package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.kernels.AbiFile;
import dev.surpass.kernels.FatbinSymbols;
import dev.surpass.kernels.KernelResources;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Every kernel the DiT launchers name is in abi.txt's [dit] group and in dit.fatbin (and nothing else is listed). */
class DiTKernelAbiTest {
    @Test
    void launcherNamesAreTheAbiList() {
        List<AbiFile.Kernel> listed = AbiFile.read().get(CudaDiTOps.FAMILY);
        assertNotNull(listed, "abi.txt has no [" + CudaDiTOps.FAMILY + "] group");
        Set<String> names = new TreeSet<>();
        listed.forEach(k -> names.add(k.name()));
        assertEquals(new TreeSet<>(CudaDiTOps.kernelNames()), names, "launcher names vs native/abi.txt [dit]");
        assertEquals(12, names.size());
    }

    @Test
    void launcherNamesAreInFatbin() {
        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(CudaDiTOps.FAMILY);
        assertNotNull(fatbin, CudaDiTOps.FAMILY + ".fatbin was not built");
        int elf = 0;
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            elf++;
            Set<String> missing = new TreeSet<>(CudaDiTOps.kernelNames());
            missing.removeAll(e.kernels());
            assertTrue(missing.isEmpty(), CudaDiTOps.FAMILY + ".fatbin " + e.arch() + " lacks " + missing);
        }
        assertTrue(elf >= 2, "expected sm_80 and sm_90a cubins");
    }
}
