package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** {@link Scatter#rows}: CPU against a host loop, CUDA against the CPU, and the checks. */
class ScatterTest extends CpuOpTest {
    private static final int[] COLS = {1, 7, 33, 768, 4097};

    /** dst after writing src's rows to ids (out-of-range ids skipped). */
    static float[] expected(float[] dst, float[] src, long cols, int[] ids, int rows) {
        float[] out = dst.clone();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= rows) continue;
            System.arraycopy(src, (int) (i * cols), out, (int) (ids[i] * cols), (int) cols);
        }
        return out;
    }

    static float[] run(Device dev, DType t, float[] dst, float[] src, int cols, int[] ids, int rows) {
        try (Tensor d = dev.upload(t, dst, rows, cols); Tensor s = dev.upload(t, src, ids.length, cols); Tensor i = dev.upload(ids, ids.length)) {
            Scatter.rows(s, i, d);
            return d.toFloatArray();
        }
    }

    @Test
    void cpuWritesRowsInEveryDtype() {
        int[] ids = {4, 0, 9, 2};
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (int cols : COLS) {
                int rows = 10;
                float[] dst = ParityMath.random(SEED + cols, rows * cols, 2f, t), src = ParityMath.random(SEED - cols, ids.length * cols, 2f, t);
                float[] got = run(d, t, dst, src, cols, ids, rows);
                float[] want = expected(round(t, dst), round(t, src), cols, ids, rows);
                assertArrayEquals(want, got, t + " cols " + cols);
            }
        }
    }

    static float[] round(DType t, float[] x) {
        float[] r = x.clone();
        for (int i = 0; i < r.length; i++) r[i] = t.round(r[i]);
        return r;
    }

    @Test
    void badArgumentsAreNamedAndNothingIsWritten() {
        try (Tensor dst = d.upload(DType.F32, new float[12], 3, 4); Tensor src = d.upload(DType.F32, new float[] {1, 1, 1, 1, 2, 2, 2, 2}, 2, 4);
             Tensor bad = d.upload(new int[] {0, 3}, 2); Tensor one = d.upload(new int[] {0}, 1);
             Tensor h = d.upload(DType.F16, new float[8], 2, 4)) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Scatter.rows(src, bad, dst)), "ids[1]", "3");
            assertArrayEquals(new float[12], dst.toFloatArray(), "nothing written before the check failed");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Scatter.rows(src, one, dst)), "ids", "[2]");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Scatter.rows(h, bad, dst)), "src", "dtype");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Scatter.rows(src, null, dst)), "ids");
        }
    }

    @Test
    @Tag("gpu")
    void cudaMatchesCpuAndSkipsOutOfRangeIds() {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        int[] ids = {5, 0, 11, 3, -1, 7, Integer.MAX_VALUE, 2};
        try (Device g = Device.cuda(0)) {
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                for (int cols : COLS) {
                    int rows = 11;
                    float[] dst = ParityMath.random(SEED + 3 * cols, rows * cols, 2f, t), src = ParityMath.random(SEED + 5 * cols, ids.length * cols, 2f, t);
                    float[] want = expected(round(t, dst), round(t, src), cols, ids, rows);
                    assertArrayEquals(want, run(g, t, dst, src, cols, ids, rows), t + " cols " + cols);
                }
            }
        }
    }
}
