package dev.surpass.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The scan and diffusion cases of {@code surpass bench}: their byte counts, and that they run (tiny sizes). */
class ScanDiffusionBenchCasesTest {
    @Test
    void bytesAreWhatTheOpsMustMove() {
        // Bt8 Dm1536 N16 L2048 fp32: u, delta, z, y; B, C; A; D, bias; last state.
        BenchCase scan = BenchSuite.selectiveScan(DType.F32, 8, 1536, 16, 2048);
        long x = 8L * 1536 * 2048, bc = 8L * 16 * 2048;
        assertEquals(4 * (4 * x + 2 * bc + 1536L * 16 + 2 * 1536 + 8L * 1536 * 16), scan.bytes());
        assertFalse(scan.computeBound(), "the scan is judged in GB/s");
        assertEquals("selective_scan", scan.op());
        BenchCase noZ = BenchSuite.selectiveScan(DType.F32, 8, 1536, 16, 2048, false);
        assertEquals(scan.bytes() - 4 * x, noZ.bytes(), "no gate: z is not read");
        assertEquals("Bt8 Dm1536 N16 L2048 no-z", noZ.shape());
        long lat = 64L * 4 * 128 * 128;
        BenchCase ddim = BenchSuite.ddimStep(DType.F32, 64, 4, 128, 128);
        assertEquals(4 * lat * 4, ddim.bytes(), "x, cond, uncond read; x_prev written");
        BenchCase dpm = BenchSuite.dpmpp2mStep(DType.F32, 64, 4, 128, 128);
        assertEquals(6 * lat * 4, dpm.bytes(), "x, cond, uncond, prevX0 read; x_next, x0 written");
        assertFalse(ddim.computeBound() || dpm.computeBound());
        for (String op : List.of("selective_scan", "ddim_step", "dpmpp2m_step")) assertTrue(BenchSuite.OPS.contains(op), op);
        try (Device d = Device.cpu()) {
            for (boolean quick : new boolean[] {true, false}) {
                List<BenchCase> cpu = BenchSuite.cases(d, quick);
                for (String op : List.of("selective_scan", "ddim_step", "dpmpp2m_step")) {
                    assertEquals(1, cpu.stream().filter(c -> c.op().equals(op)).count(), op + " quick=" + quick);
                }
            }
        }
    }

    @Test
    void tinyCasesRun() {
        try (Device d = Device.cpu()) {
            List<BenchCase> cases = List.of(BenchSuite.selectiveScan(DType.F32, 2, 24, 16, 65),
                    BenchSuite.selectiveScan(DType.F32, 1, 8, 4, 33, false),
                    BenchSuite.ddimStep(DType.F32, 2, 4, 8, 8), BenchSuite.dpmpp2mStep(DType.F32, 2, 4, 8, 8));
            long[][] shapes = {{2, 24, 65}, {1, 8, 33}, {2, 4, 8, 8}, {2, 4, 8, 8}};
            for (int i = 0; i < cases.size(); i++) {
                BenchCase c = cases.get(i);
                try (Workload w = c.setup().apply(d)) {
                    for (int rep = 0; rep < 2; rep++) { // the DPM step rewrites prevX0: a second call must work too
                        try (Tensor out = w.run()) {
                            assertArrayEquals(shapes[i], out.shape(), c.op());
                            for (float v : out.toFloatArray()) assertTrue(Float.isFinite(v), c.op());
                        }
                    }
                }
            }
            assertEquals(0, d.liveAllocations(), "leaked tensors");
        }
    }
}
