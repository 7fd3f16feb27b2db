package dev.surpass.scan;


import dev.surpass.kernels.LauncherAbi;
import org.junit.jupiter.api.Test;

/** Every kernel the scan launchers name ({@link ScanKernels#all()}) is in abi.txt and in mamba.fatbin, and nothing more. */
class ScanKernelAbiTest {
    @Test
    void launcherNamesAreTheAbiList() {
        LauncherAbi.assertListed(ScanKernels.FAMILY, ScanKernels.all(), true);
    }

    @Test
    void launcherNamesAreInFatbin() {
        LauncherAbi.assertInFatbin(ScanKernels.FAMILY, ScanKernels.all(), 2);
    }
}
