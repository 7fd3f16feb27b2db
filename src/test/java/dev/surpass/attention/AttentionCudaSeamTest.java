package dev.surpass.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * On a GPU host: tensors on different devices are rejected, and the CUDA path validates, runs the
 * kernels and frees its temporaries (only the output stays allocated).
 */
@Tag("gpu")
class AttentionCudaSeamTest {
    @Test
    void devicesMustMatchAndCudaRuns() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device gpu = Device.cuda(0); Device cpu = Device.cpu(); Scope sc = Scope.open()) {
            float[] x = ParityMath.random(1, 2 * 3 * 2 * 64, 1f, DType.F32);
            Tensor q = sc.track(gpu.upload(DType.F32, x, 2, 3, 2, 64));
            Tensor k = sc.track(gpu.upload(DType.F32, x, 2, 3, 2, 64));
            Tensor kc = sc.track(cpu.upload(DType.F32, x, 2, 3, 2, 64));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Attention.prefill(q, k, kc, AttentionOptions.defaults()));
            assertTrue(e.getMessage().contains("v is on cpu but q is on cuda:0"), e.getMessage());
            int live = gpu.liveAllocations();
            Tensor o = sc.track(Attention.prefill(q, k, k, AttentionOptions.defaults()));
            assertEquals(live + 1, gpu.liveAllocations(), "only the output stays allocated");
            assertEquals(2 * 3 * 2 * 64, o.toFloatArray().length);
            // the paged cache works on the GPU already (appends are device copies)
            try (PagedKvCache c = PagedKvCache.create(gpu, DType.F32, 4, 3, 2, 64)) {
                int s = c.newSequence();
                c.appendPrompt(s, sc.track(gpu.upload(DType.F32, java.util.Arrays.copyOf(x, 3 * 2 * 64), 3, 2, 64)),
                        sc.track(gpu.upload(DType.F32, java.util.Arrays.copyOf(x, 3 * 2 * 64), 3, 2, 64)));
                assertEquals(3, c.length(s));
            }
        }
    }
}
