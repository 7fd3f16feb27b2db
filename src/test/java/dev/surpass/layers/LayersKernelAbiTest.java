package dev.surpass.layers;

import dev.surpass.kernels.LauncherAbi;
import org.junit.jupiter.api.Test;

/** Every kernel the layers launchers name ({@link Kernels#all()}) is in abi.txt and in layers.fatbin. */
class LayersKernelAbiTest {
    @Test
    void launcherNamesAreInAbiList() {
        LauncherAbi.assertListed(Kernels.FAMILY, Kernels.all(), false);
    }

    @Test
    void launcherNamesAreInFatbin() {
        LauncherAbi.assertInFatbin(Kernels.FAMILY, Kernels.all(), 0);
    }
}
