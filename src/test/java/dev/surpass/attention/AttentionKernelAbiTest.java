package dev.surpass.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

/**
 * Every kernel the attention launchers name ({@link CudaAttention#kernelNames()}) is in abi.txt and in
 * attention.fatbin, and the launchers' shared-memory sizes stay within what the kernels were written for.
 * Runs without a GPU.
 */
class AttentionKernelAbiTest {
    @Test
    void launcherNamesAreInAbiList() {
        List<AbiFile.Kernel> listed = AbiFile.read().get(CudaAttention.FAMILY);
        assertNotNull(listed, "abi.txt has no [" + CudaAttention.FAMILY + "] group");
        Set<String> names = new HashSet<>();
        listed.forEach(k -> names.add(k.name()));
        Set<String> missing = new TreeSet<>(CudaAttention.kernelNames());
        missing.removeAll(names);
        assertTrue(missing.isEmpty(), "launchers use kernels missing from native/abi.txt: " + missing);
        assertFalse(CudaAttention.kernelNames().isEmpty());
        // and nothing listed that no launcher uses
        Set<String> unused = new TreeSet<>(names);
        unused.removeAll(CudaAttention.kernelNames());
        assertTrue(unused.isEmpty(), "abi.txt lists attention kernels no launcher uses: " + unused);
    }

    @Test
    void launcherNamesAreInFatbin() {
        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(CudaAttention.FAMILY);
        assertNotNull(fatbin, CudaAttention.FAMILY + ".fatbin was not built");
        int elfs = 0;
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            elfs++;
            Set<String> missing = new TreeSet<>(CudaAttention.kernelNames());
            missing.removeAll(e.kernels());
            assertTrue(missing.isEmpty(), CudaAttention.FAMILY + ".fatbin " + e.arch() + " lacks " + missing);
        }
        assertTrue(elfs >= 2, "expected sm_80 and sm_90a cubins, got " + elfs);
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
