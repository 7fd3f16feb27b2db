package dev.surpass.soak;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Resources;
import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.CudaException;
import dev.surpass.cuda.CudaRuntime;
import dev.surpass.model.bert.BertModel;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.gpt2.Gpt2;
import dev.surpass.model.mamba.MambaLM;
import dev.surpass.model.mamba.Sampling;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Device memory on {@code cuda:0}: asking for more than the card has is a {@link CudaException}
 * naming the request and the free/total memory, after which the device still works and a large
 * request that fits succeeds; load → run → close loops keep the accounting at its start and the
 * driver's free memory flat (reported). Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaResourceTest {
    static TinyModels models;
    static Device gpu;

    @BeforeAll
    static void open() {
        if (Device.cudaDeviceCount() > 0) {
            gpu = Device.cuda(0);
            models = new TinyModels(11);
        }
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        if (models != null) models.close();
    }

    @BeforeEach
    void needGpu() {
        assumeTrue(gpu != null, "no CUDA device: " + CudaRuntime.unavailableReason());
    }

    @Test
    void moreThanTheCardHasIsACudaExceptionAndTheDeviceStaysUsable() {
        Device.Allocations start = gpu.allocations();
        long[] mem = CudaBackend.of(gpu).memoryInfo(); // {free, total}
        long tooMuch = mem[1] + (1L << 30);            // the card's memory and 1 GiB more
        CudaException e = assertThrows(CudaException.class, () -> gpu.allocate(DType.I32, tooMuch / 4));
        assertEquals("cuMemAllocAsync", e.call());
        String m = e.getMessage();
        assertTrue(m.contains(Long.toString(tooMuch / 4 * 4)) && m.contains("free of"), m);
        assertEquals(start, gpu.allocations(), "the failed request holds nothing");
        // the next requests succeed: a small one, and an eighth of what is free
        try (Tensor t = gpu.upload(new int[] {1, 2, 3}, 3)) {
            assertArrayEquals(new int[] {1, 2, 3}, t.toIntArray());
        }
        long eighth = CudaBackend.of(gpu).memoryInfo()[0] / 8 / 4;
        try (Tensor big = gpu.zeros(DType.I32, eighth)) {
            assertEquals(eighth * 4, big.byteSize());
            gpu.synchronize();
        }
        assertEquals(start, gpu.allocations());
        System.out.println("cuda OOM: asked " + tooMuch + " bytes on " + gpu.name() + " (" + mem[0] + " free of " + mem[1]
                + "): " + m + "; then " + eighth * 4 + " bytes succeeded");
    }

    @Test
    void loadRunCloseLoopsKeepDeviceMemoryFlat() {
        int rounds = Integer.getInteger("surpass.soak.gpuLoadRounds", 50);
        Resources start = Resources.now();
        Device.Allocations before = gpu.allocations();
        long[] memStart = null;
        for (int i = 0; i <= rounds; i++) {
            try (Gpt2 g = Gpt2.load(gpu, models.gpt2)) {
                assertEquals(3, Decoding.generate(g, new int[][] {{1, 2, 3}, {4, 5}}, 3, Sampling.temperature(0.8, i), 1, null, null)[0].length);
            }
            try (BertModel b = BertModel.load(gpu, models.bert); Tensor h = b.forward(new int[][] {{1, 2, 3, 4}}, null, null)) {
                assertEquals(4 * 64, h.numel());
            }
            try (MambaLM m = MambaLM.load(gpu, models.mamba)) {
                assertEquals(2, m.generate(new int[] {1, 2}, 2, Sampling.greedy(), null).length);
            }
            gpu.synchronize();
            assertEquals(before, gpu.allocations(), "round " + i);
            // round 0 warms the stream-ordered pool (it keeps freed blocks: release threshold UINT64_MAX)
            if (i == 0) memStart = CudaBackend.of(gpu).memoryInfo();
        }
        long[] memEnd = CudaBackend.of(gpu).memoryInfo();
        long drop = memStart[0] - memEnd[0];
        System.out.println("load -> run -> close x " + rounds + " (gpt2, bert, mamba) on " + gpu.name() + ": free memory after warm-up "
                + memStart[0] + ", after the loop " + memEnd[0] + " (drop " + drop + " bytes), total " + memEnd[1]
                + "; allocations " + before + " -> " + gpu.allocations());
        assertTrue(drop <= 64L << 20, "device free memory fell by " + drop + " bytes over " + rounds + " rounds");
        assertEquals("", Resources.now().changesSince(start));
    }
}
