package dev.surpass.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.kernels.AbiFile;
import dev.surpass.kernels.FatbinSymbols;
import dev.surpass.kernels.KernelResources;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The Hopper prefill kernel's host side without a GPU: which calls {@link CudaAttention#hopperRefusal}
 * accepts, the kernel names against abi.txt and the attention_sm90a fatbin, the shared-memory size and
 * the TMA view of the tensors.
 */
class HopperSelectionTest {
    private static final long A = 0x7f00_0000_0000L;  // a 16-byte aligned device address
    private static final int OPTIN = 232_448;           // H100/H200: 227 KiB per block

    /** The refusal of a call that differs from a supported one (B2 Nq Nk 1000, Hq 8, bf16 d128) where the arguments say. */
    private static String refusal(boolean enabled, int major, int minor, DType t, int d, int batch, int nk, int hq, float scale,
                                  float softcap, long qp, long op, Supplier<String> module) {
        return CudaAttention.hopperRefusal(enabled, major, minor, t, d, batch, 1000, nk, hq, scale, softcap, qp, A + 4096, A + 8192, op,
                OPTIN, module);
    }

    @Test
    void acceptsTheSupportedSet() {
        for (DType t : new DType[] {DType.BF16, DType.F16}) {
            for (int d : CudaAttention.HOPPER_DIMS) {
                assertNull(refusal(true, 9, 0, t, d, 2, 1000, 8, 0.1f, 0f, A, A + 64, () -> null), t + " d" + d);
            }
        }
    }

    @Test
    void refusesEverythingElseWithAReason() {
        Supplier<String> ok = () -> null;
        assertTrue(refusal(false, 9, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A, ok).contains("hopper=false"));
        assertNotNull(refusal(true, 8, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A, ok), "sm_80");
        assertNotNull(refusal(true, 10, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A, ok), "sm_100: sm_90a cubins do not run there");
        assertNotNull(refusal(true, 9, 0, DType.F32, 128, 2, 1000, 8, 0.1f, 0f, A, A, ok), "fp32");
        for (int d : new int[] {32, 72, 80, 96, 256}) {
            assertNotNull(refusal(true, 9, 0, DType.BF16, d, 2, 1000, 8, 0.1f, 0f, A, A, ok), "d" + d);
        }
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 0, 8, 0.1f, 0f, A, A, ok), "no keys");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, -0.1f, 0f, A, A, ok), "negative scale");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, 0f, 0f, A, A, ok), "zero scale");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, Float.NaN, 0f, A, A, ok), "NaN scale");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 5f, A, A, ok), "softcap");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A + 8, A, ok), "q 8-byte aligned");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A + 2, ok), "out 2-byte aligned");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 65_536, 1000, 8, 0.1f, 0f, A, A, ok), "batch over grid z");
        assertNotNull(refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 65_536, 0.1f, 0f, A, A, ok), "heads over grid y");
        String missing = refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A, () -> "kernels not built");
        assertTrue(missing.contains(CudaAttention.HOPPER_FAMILY) && missing.contains("kernels not built"), missing);
        assertNotNull(CudaAttention.hopperRefusal(true, 9, 0, DType.BF16, 128, 2, 1000, 1000, 8, 0.1f, 0f, A, A, A, A, 100_000, ok),
                "shared memory over the opt-in limit");
    }

    @Test
    void loadsTheModuleOnlyForOtherwiseSupportedCalls() {
        AtomicInteger loads = new AtomicInteger();
        Supplier<String> counting = () -> {
            loads.incrementAndGet();
            return null;
        };
        refusal(true, 8, 6, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A, counting);
        refusal(true, 9, 0, DType.BF16, 80, 2, 1000, 8, 0.1f, 0f, A, A, counting);
        assertEquals(0, loads.get(), "a refused call must not load attention_sm90a");
        refusal(true, 9, 0, DType.BF16, 128, 2, 1000, 8, 0.1f, 0f, A, A, counting);
        assertEquals(1, loads.get());
    }

    @Test
    void sharedMemoryMatchesTheKernelConfiguration() {
        // Cfg<D>::SMEM_BYTES = 1024 + 128·D·2 + 2·STAGES·128·D·2 + 128
        assertEquals(1024 + 32_768 + 131_072 + 128, CudaAttention.hopperSharedBytes(128));
        assertEquals(1024 + 16_384 + 98_304 + 128, CudaAttention.hopperSharedBytes(64));
        for (int d : CudaAttention.HOPPER_DIMS) assertTrue(CudaAttention.hopperSharedBytes(d) <= OPTIN, "d" + d);
    }

    @Test
    void tensorMapViewIsRank4PerSequence() {
        // q [B=16, N=2048, H=16, D=128] bf16: (D, H, N, B), strides D·2, H·D·2, N·H·D·2; box 64 columns × 128 rows of one head.
        CudaAttention.MapShape m = CudaAttention.hopperMapShape(128, 16, 2048, 16, 128);
        assertArrayEquals(new long[] {128, 16, 2048, 16}, m.dims());
        assertArrayEquals(new long[] {256, 4096, 8_388_608}, m.strides());
        assertArrayEquals(new int[] {64, 1, 128, 1}, m.box());
        CudaAttention.MapShape k = CudaAttention.hopperMapShape(64, 1, 7, 3, 128);
        assertArrayEquals(new long[] {64, 1, 7, 3}, k.dims());
        assertArrayEquals(new long[] {128, 128, 896}, k.strides());
        for (long s : k.strides()) assertEquals(0, s % 16, "TMA strides are multiples of 16 bytes");
    }

    @Test
    void kernelNamesAreInAbiListAndFatbin() {
        List<AbiFile.Kernel> listed = AbiFile.read().get(CudaAttention.HOPPER_FAMILY);
        assertNotNull(listed, "abi.txt has no [" + CudaAttention.HOPPER_FAMILY + "] group");
        Set<String> names = new HashSet<>();
        listed.forEach(k -> names.add(k.name()));
        assertEquals(Set.copyOf(CudaAttention.hopperKernelNames()), names, "abi.txt [attention_sm90a] vs CudaAttention.hopperKernelNames()");
        for (AbiFile.Kernel k : listed) {
            assertEquals(List.of("b8", "b8", "b8", "u64", "u64", "u32", "u32", "u32", "u32", "f32", "u32", "u32"), k.ptxTypes(), k.name());
        }

        KernelResources.assumeBuilt();
        byte[] fatbin = KernelResources.fatbin(CudaAttention.HOPPER_FAMILY);
        assertNotNull(fatbin, CudaAttention.HOPPER_FAMILY + ".fatbin was not built");
        int elfs = 0;
        for (FatbinSymbols.Entry e : FatbinSymbols.read(fatbin)) {
            assertEquals("sm_90a", e.arch(), "attention_sm90a.fatbin holds sm_90a only");
            if (e.kind() != FatbinSymbols.Kind.ELF) continue;
            elfs++;
            assertTrue(e.kernels().containsAll(CudaAttention.hopperKernelNames()), "sm_90a cubin lacks a v2 kernel: " + e.kernels());
        }
        assertEquals(1, elfs);
        assertFalse(CudaAttention.kernelNames().stream().anyMatch(n -> n.contains("sm90a")), "v2 names stay out of the [attention] group");
    }
}
