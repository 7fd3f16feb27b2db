package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.surpass.kernels.LauncherAbi;
import java.util.HashSet;
import org.junit.jupiter.api.Test;

/** Every kernel the diffusion launchers name is in abi.txt and in diffusion.fatbin (and nothing else is listed). */
class DiffusionKernelAbiTest {
    @Test
    void launcherNamesAreTheAbiList() {
        LauncherAbi.assertListed(CudaSamplers.FAMILY, CudaSamplers.kernelNames(), true);
        assertEquals(16, new HashSet<>(CudaSamplers.kernelNames()).size());
    }

    @Test
    void launcherNamesAreInFatbin() {
        LauncherAbi.assertInFatbin(CudaSamplers.FAMILY, CudaSamplers.kernelNames(), 2);
    }
}
