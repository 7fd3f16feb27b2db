package dev.surpass.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.kernels.LauncherAbi;
import org.junit.jupiter.api.Test;

/**
 * Every kernel the attention launchers name ({@link CudaAttention#kernelNames()}) is in abi.txt and in
 * attention.fatbin, and the launchers' shared-memory sizes stay within what the kernels were written for.
 * Runs without a GPU.
 */
class AttentionKernelAbiTest {
    @Test
    void launcherNamesAreInAbiList() {
        LauncherAbi.assertListed(CudaAttention.FAMILY, CudaAttention.kernelNames(), true);
    }

    @Test
    void launcherNamesAreInFatbin() {
        LauncherAbi.assertInFatbin(CudaAttention.FAMILY, CudaAttention.kernelNames(), 2);
    }

    @Test
    void everyHeadDimHasATensorCoreKernelAndFitsSharedMemory() {
        for (int d : AttentionChecks.HEAD_DIMS) {
            int p = CudaAttention.paddedDim(d);
            assertTrue(p >= d && p % 16 == 0 && p - d < 16, "padded dim of " + d + " is " + p);
            assertTrue(CudaAttention.kernelNames().contains(CudaAttention.mmaKernel(dev.surpass.DType.BF16, p)), "no kernel for d" + p);
            // sm_86/sm_89 allow 99 KiB (101,376 bytes) per block with opt-in; sm_80 163 KiB, sm_90 227 KiB
            assertTrue(CudaAttention.mmaSharedBytes(p) <= 101_376, "d" + p + " needs " + CudaAttention.mmaSharedBytes(p) + " bytes");
            assertTrue(CudaAttention.simpleSharedBytes(d) <= 101_376, "simple d" + d);
            assertTrue(d % 8 == 0, "the kernels' 16-byte row loads need D % 8 == 0, got " + d);
        }
        assertEquals(69_632, CudaAttention.mmaSharedBytes(128));  // BM 128, BN 64, 1 stage (DefaultTile<128>)
        assertEquals(101_376, CudaAttention.mmaSharedBytes(256));
    }

    @Test
    void decodeSplitHeuristic() {
        assertEquals(1, CudaAttention.decodeSplits(132, 1, 256), "short rows are not split");
        assertEquals(1, CudaAttention.decodeSplits(132, 16 * 132, 100_000), "16 blocks per SM are not split");
        assertEquals(5, CudaAttention.decodeSplits(132, 512, 4096), "B64 Hkv8: 512 blocks, 5 splits for 16 per SM");
        assertEquals(6, CudaAttention.decodeSplits(132, 1, 700), "700 tokens: 128-token splits");
        assertEquals(128, CudaAttention.decodeSplits(132, 1, 1_000_000), "capped");
        assertEquals(32, CudaAttention.decodeSplits(132, 64, 4096), "64 blocks on 132 SMs: 4096 tokens in 128-token splits");
        assertEquals(17, CudaAttention.decodeSplits(132, 128, 4096), "B16 Hkv8: 128 blocks, 17 splits");
        assertEquals(1, CudaAttention.headsPerBlock(1));
        assertEquals(4, CudaAttention.headsPerBlock(3));
        assertEquals(8, CudaAttention.headsPerBlock(8));
        assertEquals(8, CudaAttention.headsPerBlock(32));
        assertEquals(8 * 4 * 128 * 4 + 2 * 4 * 8 * 4, CudaAttention.decodeSharedBytes(8, 72), "D 72 uses the 128 row class");
        assertEquals(32, CudaAttention.decodeRowClass(8));
        assertEquals(256, CudaAttention.decodeRowClass(256));
    }

    @Test
    void rightOffsetFoldsCausal() {
        assertEquals(0, CudaAttention.rightOffset(AttentionOptions.causal()));
        assertEquals(0, CudaAttention.rightOffset(AttentionOptions.causal().window(8, 5)));
        assertEquals(-1, CudaAttention.rightOffset(AttentionOptions.defaults()));
        assertEquals(5, CudaAttention.rightOffset(AttentionOptions.defaults().window(8, 5)));
        assertEquals(0, CudaAttention.rightOffset(AttentionOptions.defaults().window(-1, 0)));
    }
}
