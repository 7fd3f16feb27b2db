package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

/** Every kernel the diffusion launchers name is in abi.txt and in diffusion.fatbin (and nothing else is listed). */
class DiffusionKernelAbiTest {
    @Test
    void launcherNamesAreTheAbiList() {
        List<AbiFile.Kernel> listed = AbiFile.read().get(CudaSamplers.FAMILY);
        assertNotNull(listed, "abi.txt has no [" + CudaSamplers.FAMILY + "] group");
        Set<String> names = new TreeSet<>();
        listed.forEach(k -> names.add(k.name()));
        assertEquals(new TreeSet<>(CudaSamplers.kernelNames()), names, "launcher names vs native/abi.txt [diffusion]");
        assertEquals(16, new HashSet<>(CudaSamplers.kernelNames()).size());
    }

    @Test
    void launcherNamesAreInFatbin() {
        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(CudaSamplers.FAMILY);
        assertNotNull(fatbin, CudaSamplers.FAMILY + ".fatbin was not built");
        int elf = 0;
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            elf++;
            Set<String> missing = new TreeSet<>(CudaSamplers.kernelNames());
            missing.removeAll(e.kernels());
            assertTrue(missing.isEmpty(), CudaSamplers.FAMILY + ".fatbin " + e.arch() + " lacks " + missing);
        }
        assertTrue(elf >= 2, "expected sm_80 and sm_90a cubins");
    }
}
