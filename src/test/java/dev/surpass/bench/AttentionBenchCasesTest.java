package dev.surpass.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The attention cases of {@code surpass bench}: their flop/byte counts, and that they run (tiny sizes). */
class AttentionBenchCasesTest {
    @Test
    void prefillCountsFlopsAndDecodeCountsKvBytes() {
        BenchCase full = BenchSuite.attentionPrefill(DType.F32, 1, 8, 1024, 128, false);
        BenchCase causal = BenchSuite.attentionPrefill(DType.F32, 1, 8, 1024, 128, true);
        assertEquals(4.0 * 8 * 1024 * 1024 * 128, full.flops());
        assertEquals(full.flops() / 2, causal.flops());
        assertTrue(full.computeBound());
        BenchCase dec = BenchSuite.attentionDecode(DType.BF16, 64, 32, 8, 4096, 128, 16);
        assertEquals(2L * 64 * 4096 * 8 * 128 * 2, dec.bytes());
        assertTrue(!dec.computeBound(), "decode is judged in GB/s");
        List<BenchCase> cpu;
        try (Device d = Device.cpu()) {
            cpu = BenchSuite.cases(d, true);
        }
        assertEquals(2, cpu.stream().filter(c -> c.op().equals("attention")).count());
        assertEquals(1, cpu.stream().filter(c -> c.op().equals("attn_decode")).count());
    }

    @Test
    void tinyCasesRun() {
        try (Device d = Device.cpu()) {
            for (BenchCase c : List.of(BenchSuite.attentionPrefill(DType.F32, 1, 2, 33, 64, true),
                    BenchSuite.attentionDecode(DType.F32, 2, 4, 2, 70, 64, 16))) {
                try (Workload w = c.setup().apply(d); Tensor out = w.run()) {
                    for (float x : out.toFloatArray()) assertTrue(Float.isFinite(x), c.op());
                }
            }
            assertEquals(0, d.liveAllocations(), "leaked tensors");
        }
    }
}
