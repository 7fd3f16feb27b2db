package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** {@link Gather#rows}: CPU against a host loop, CUDA against the CPU, and the checks. */
class GatherTest extends CpuOpTest {
    private static final int[] COLS = {1, 7, 33, 768, 4097};

    /** Expected rows of the (dtype-rounded) table, NaN for an out-of-range id. */
    static float[] expected(float[] table, long cols, int[] ids, int rows) {
        float[] out = new float[(int) (ids.length * cols)];
        for (int i = 0; i < ids.length; i++) {
            for (int c = 0; c < cols; c++) {
                out[(int) (i * cols + c)] = ids[i] >= 0 && ids[i] < rows ? table[(int) (ids[i] * cols + c)] : Float.NaN;
            }
        }
        return out;
    }

    @Test
    void cpuPicksRowsInEveryDtype() {
        Random r = new Random(SEED);
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (int cols : COLS) {
                int rows = 11;
                float[] table = ParityMath.random(SEED + cols, rows * cols, 2f, t);
                int[] ids = new int[13];
                for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(rows);
                try (Tensor tt = d.upload(t, table, rows, cols); Tensor it = d.upload(ids, ids.length); Tensor out = Gather.rows(tt, it)) {
                    assertArrayEquals(new long[] {ids.length, cols}, out.shape());
                    assertEquals(t, out.dtype());
                    assertArrayEquals(expected(tt.toFloatArray(), cols, ids, rows), out.toFloatArray(), t + " cols " + cols);
                }
            }
        }
    }

    @Test
    void badArgumentsAreNamed() {
        try (Tensor table = d.upload(DType.F32, new float[12], 3, 4); Tensor ok = d.upload(new int[] {0, 2}, 2);
             Tensor bad = d.upload(new int[] {0, 3}, 2); Tensor neg = d.upload(new int[] {-1}, 1);
             Tensor f = d.upload(DType.F32, new float[2], 2); Tensor ids2 = d.upload(new int[] {0, 1}, 1, 2);
             Tensor flat = d.upload(DType.F32, new float[4], 4)) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(table, bad)), "ids[1]", "3", "[0, 3)");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(table, neg)), "ids[0]", "-1");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(table, f)), "ids", "I32");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(table, ids2)), "ids", "1-D");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(flat, ok)), "table", "[rows, cols]");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(null, ok)), "table");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Gather.rows(table, null)), "ids");
        }
    }

    @Test
    void noIdsGiveAnEmptyResult() {
        try (Tensor table = d.upload(DType.F32, new float[12], 3, 4); Tensor none = d.upload(new int[0], 0); Tensor out = Gather.rows(table, none)) {
            assertArrayEquals(new long[] {0, 4}, out.shape());
        }
    }

    @Test
    @Tag("gpu")
    void cudaMatchesCpuAndGivesNaNRowsForOutOfRangeIds() {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Random r = new Random(SEED + 1);
        try (Device g = Device.cuda(0)) {
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                for (int cols : COLS) {
                    int rows = 9;
                    float[] table = ParityMath.random(SEED + 7 * cols, rows * cols, 2f, t);
                    int[] ids = new int[17];
                    for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(rows);
                    ids[3] = rows;          // one past the end
                    ids[11] = -5;           // negative
                    ids[16] = Integer.MAX_VALUE;
                    try (Tensor tt = g.upload(t, table, rows, cols); Tensor it = g.upload(ids, ids.length)) {
                        // Poison a block of the output's size first: the pool likely hands it out again, and
                        // every element must then be overwritten.
                        g.upload(t, filled(ids.length * cols, 12345f), ids.length, cols).close();
                        try (Tensor out = Gather.rows(tt, it)) {
                            float[] want = expected(tt.toFloatArray(), cols, ids, rows), got = out.toFloatArray();
                            for (int k = 0; k < want.length; k++) {
                                if (Float.isNaN(want[k])) assertTrue(Float.isNaN(got[k]), t + " cols " + cols + " element " + k + " should be NaN");
                                else assertEquals(want[k], got[k], t + " cols " + cols + " element " + k);
                            }
                        }
                    }
                }
            }
        }
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
