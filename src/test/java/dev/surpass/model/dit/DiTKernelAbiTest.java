package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.surpass.kernels.LauncherAbi;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Every kernel the DiT launchers name is in abi.txt's [dit] group and in dit.fatbin (and nothing else is listed). */
class DiTKernelAbiTest {
    @Test
    void launcherNamesAreTheAbiList() {
        Set<String> names = LauncherAbi.assertListed(CudaDiTOps.FAMILY, CudaDiTOps.kernelNames(), true);
        assertEquals(12, names.size());
    }

    @Test
    void launcherNamesAreInFatbin() {
        LauncherAbi.assertInFatbin(CudaDiTOps.FAMILY, CudaDiTOps.kernelNames(), 2);
    }
}
