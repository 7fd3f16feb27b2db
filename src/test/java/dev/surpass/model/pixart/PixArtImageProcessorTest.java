package dev.surpass.model.pixart;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link PixArtImageProcessor}: the bin classification against values diffusers' own
 * {@code classify_height_width_bin} gives on its tables, the bilinear resize against torch 1.13's
 * {@code F.interpolate(mode="bilinear", align_corners=False)} (values printed by a transcription run in
 * torch, on data {@code sin(1.3 i + 0.7)·cos(0.11 i)} both sides compute) and against a float64
 * transcription of torch's formula on random data, and {@code resize_and_crop_tensor} likewise.
 */
class PixArtImageProcessorTest {
    static Device cpu;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        if (cpu != null) cpu.close();
    }

    /** {side, height, width, bin height, bin width} from diffusers' classify_height_width_bin on ASPECT_RATIO_{side}_BIN. */
    static final int[][] CLASSIFIED = {
        {256, 1, 1, 256, 256}, {256, 100, 300, 144, 432}, {256, 300, 100, 432, 144}, {512, 512, 768, 416, 608}, {512, 777, 333, 768, 320},
        {1024, 1024, 1024, 1024, 1024}, {1024, 720, 1280, 768, 1344}, {1024, 1280, 720, 1344, 768}, {1024, 1000, 3000, 576, 1728},
        {1024, 4000, 1000, 2048, 512}, {1024, 600, 1000, 768, 1280}, {1024, 1, 5000, 512, 2048}, {2048, 2048, 4096, 1408, 2816},
        {2048, 3000, 1000, 3456, 1152}, {2048, 1000, 2900, 1152, 3328}, {1024, 1032, 1000, 1024, 1024}, {512, 530, 1000, 352, 672}};

    static PixArtImageProcessor.Bins bins(int side) {
        return PixArtImageProcessor.Bins.valueOf("B" + side);
    }

    @Test
    void classificationMatchesDiffusers() {
        for (int[] c : CLASSIFIED) {
            assertArrayEquals(new int[] {c[3], c[4]}, PixArtImageProcessor.classifyHeightWidthBin(c[1], c[2], bins(c[0])), java.util.Arrays.toString(c));
        }
    }

    @Test
    void tablesAndTheirChoice() {
        assertEquals(33, bins(256).size());
        assertEquals(33, bins(1024).size());
        assertEquals(40, bins(2048).size());
        for (PixArtImageProcessor.Bins b : PixArtImageProcessor.Bins.values()) {
            for (int i = 0; i < b.size(); i++) {
                int[] hw = b.heightWidth(i);
                assertTrue(Math.abs((double) hw[0] / hw[1] - b.ratio(i)) < 0.03, b + " bin " + i + ": the key is the rounded height / width");
                assertEquals(0, hw[0] % 16, b + " bin " + i);
                assertEquals(0, hw[1] % 16, b + " bin " + i);
                if (i > 0) assertTrue(b.ratio(i) > b.ratio(i - 1), b + ": keys ascend");
            }
            assertArrayEquals(new int[] {b.side(), b.side()}, b.heightWidth(java.util.Arrays.binarySearch(b.ratios, 1.0)));
        }
        assertEquals(PixArtImageProcessor.Bins.B256, PixArtImageProcessor.Bins.forSampleSize(32, false));
        assertEquals(PixArtImageProcessor.Bins.B512, PixArtImageProcessor.Bins.forSampleSize(64, true));
        assertEquals(PixArtImageProcessor.Bins.B1024, PixArtImageProcessor.Bins.forSampleSize(128, false));
        assertEquals(PixArtImageProcessor.Bins.B2048, PixArtImageProcessor.Bins.forSampleSize(256, true));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.Bins.forSampleSize(256, false)).getMessage().contains("256"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.Bins.forSampleSize(8, true)).getMessage().contains("sample_size 8"));
        assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.classifyHeightWidthBin(0, 5, bins(256)));
        assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.classifyHeightWidthBin(5, 5, null));
    }

    static float[] data(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (Math.sin(1.3 * i + 0.7) * Math.cos(0.11 * i));
        return x;
    }

    /** torch's values: {shape n, c, ih, iw, oh, ow}, flat indices, values there, the sum of all. */
    @Test
    void bilinearMatchesTorch() {
        Object[][] cases = {
            {new int[] {2, 3, 7, 5, 9, 13}, new int[] {0, 1, 234, 352, 700, 701},
                new double[] {0.6442176699638367, 0.6641857028007507, -0.08581656962633133, -0.40398308634757996, -0.43573588132858276, -0.4301616847515106}, 1.5164068096783012},
            {new int[] {1, 3, 16, 16, 11, 6}, new int[] {0, 1, 66, 100, 196, 197},
                new double[] {0.70199054479599, -0.5756691098213196, -0.7065405249595642, 0.049793876707553864, -0.3699791431427002, 0.5498752593994141}, 0.6918281642720103},
            {new int[] {1, 2, 13, 17, 5, 4}, new int[] {0, 1, 13, 21, 38, 39},
                new double[] {0.08552169054746628, 0.6089332103729248, -0.06782474368810654, 0.11587829142808914, 0.11227934062480927, 0.006751753389835358}, 1.0312094278633595},
            {new int[] {1, 1, 6, 6, 6, 9}, new int[] {0, 1, 18, 28, 52, 53},
                new double[] {0.6442176699638367, 0.7740097045898438, -0.13849487900733948, 0.10531178116798401, -0.6310827136039734, -0.6059640645980835}, 0.3930654567666352}};
        for (Object[] c : cases) {
            int[] s = (int[]) c[0];
            try (Tensor x = cpu.upload(DType.F32, data(s[0] * s[1] * s[2] * s[3]), s[0], s[1], s[2], s[3]);
                 Tensor y = PixArtImageProcessor.bilinear(x, s[4], s[5])) {
                assertArrayEquals(new long[] {s[0], s[1], s[4], s[5]}, y.shape());
                float[] v = y.toFloatArray();
                int[] at = (int[]) c[1];
                double[] want = (double[]) c[2];
                for (int k = 0; k < at.length; k++) assertEquals(want[k], v[at[k]], 1e-6, java.util.Arrays.toString(s) + " at " + at[k]);
                double sum = 0;
                for (float f : v) sum += f;
                assertEquals((double) c[3], sum, 1e-5, java.util.Arrays.toString(s) + ": sum");
            }
        }
    }

    /** torch's bilinear (align_corners=False, no antialias) in float64, straight from its definition. */
    static double[] reference(float[] x, int planes, int ih, int iw, int oh, int ow) {
        double[] out = new double[planes * oh * ow];
        for (int p = 0; p < planes; p++) {
            for (int y = 0; y < oh; y++) {
                double sy = Math.max(0, (y + 0.5) * ih / oh - 0.5);
                int y0 = (int) Math.floor(sy), y1 = Math.min(y0 + 1, ih - 1);
                double ly = sy - y0;
                for (int xx = 0; xx < ow; xx++) {
                    double sx = Math.max(0, (xx + 0.5) * iw / ow - 0.5);
                    int x0 = (int) Math.floor(sx), x1 = Math.min(x0 + 1, iw - 1);
                    double lx = sx - x0;
                    int b = p * ih * iw;
                    out[(p * oh + y) * ow + xx] = (1 - ly) * ((1 - lx) * x[b + y0 * iw + x0] + lx * x[b + y0 * iw + x1])
                            + ly * ((1 - lx) * x[b + y1 * iw + x0] + lx * x[b + y1 * iw + x1]);
                }
            }
        }
        return out;
    }

    @Test
    void bilinearMatchesFloat64OnRandomData() {
        Random r = new Random(11);
        int[][] sizes = {{1, 3, 17, 23, 40, 31}, {2, 3, 40, 31, 17, 23}, {1, 1, 1, 1, 3, 5}, {1, 2, 5, 3, 1, 1}, {1, 3, 33, 33, 33, 33}, {3, 1, 9, 64, 9, 7}};
        for (int[] s : sizes) {
            int planes = s[0] * s[1];
            float[] x = new float[planes * s[2] * s[3]];
            for (int i = 0; i < x.length; i++) x[i] = (float) (2 * r.nextDouble() - 1);
            try (Tensor t = cpu.upload(DType.F32, x, s[0], s[1], s[2], s[3]); Tensor y = PixArtImageProcessor.bilinear(t, s[4], s[5])) {
                float[] got = y.toFloatArray();
                double[] want = reference(x, planes, s[2], s[3], s[4], s[5]);
                double worst = 0;
                for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i])); // float32 coordinates as torch: ~2e-6 from float64
                assertTrue(worst < 1e-5, java.util.Arrays.toString(s) + ": max|Δ| " + worst);
            }
        }
    }

    @Test
    void resizeAndCropMatchesTorch() {
        // {ih, iw, new width, new height}, torch's output shape [2, 3, nh, nw], values at flat indices, sum
        Object[][] cases = {
            {new int[] {16, 24, 20, 10}, new int[] {0, 7, 600, 1199}, new double[] {-0.23311708867549896, 0.1495039463043213, -0.008151938207447529, -0.14223578572273254}, -0.3843261384317884},
            {new int[] {24, 16, 7, 30}, new int[] {0, 7, 630, 1259}, new double[] {0.3721553087234497, -0.10136736929416656, 0.021078964695334435, 0.059922415763139725}, 0.7746218082029372},
            {new int[] {32, 32, 21, 21}, new int[] {0, 7, 1323, 2645}, new double[] {0.7267909646034241, 0.1808592975139618, -0.2135026454925537, -0.13016639649868011}, 0.3910332167579327},
            {new int[] {12, 20, 40, 30}, new int[] {0, 7, 3600, 7199}, new double[] {0.1633799523115158, 0.16917793452739716, -0.22557640075683594, 0.06377702951431274}, -0.3634801593143493}};
        for (Object[] c : cases) {
            int[] s = (int[]) c[0];
            try (Tensor x = cpu.upload(DType.F32, data(2 * 3 * s[0] * s[1]), 2, 3, s[0], s[1]);
                 Tensor y = PixArtImageProcessor.resizeAndCrop(x, s[2], s[3])) {
                assertArrayEquals(new long[] {2, 3, s[3], s[2]}, y.shape());
                float[] v = y.toFloatArray();
                int[] at = (int[]) c[1];
                double[] want = (double[]) c[2];
                for (int k = 0; k < at.length; k++) assertEquals(want[k], v[at[k]], 1e-6, java.util.Arrays.toString(s) + " at " + at[k]);
                double sum = 0;
                for (float f : v) sum += f;
                assertEquals((double) c[3], sum, 1e-5, java.util.Arrays.toString(s) + ": sum");
            }
        }
    }

    @Test
    void resizeAndCropEdges() {
        float[] x = data(3 * 8 * 12);
        try (Tensor t = cpu.upload(DType.F32, x, 1, 3, 8, 12); Tensor same = PixArtImageProcessor.resizeAndCrop(t, 12, 8)) {
            assertArrayEquals(x, same.toFloatArray(), "the size already matches: a copy");
            assertTrue(same != t);
        }
        // 176 → 120: int(176 · (120 / 176)) is 119 in float64; the crop still is 120 wide (diffusers' slice would give 1 pixel)
        try (Tensor t = cpu.upload(DType.F32, data(176 * 176), 1, 1, 176, 176); Tensor y = PixArtImageProcessor.resizeAndCrop(t, 120, 120)) {
            assertArrayEquals(new long[] {1, 1, 120, 120}, y.shape());
        }
        try (Tensor t = cpu.upload(DType.F32, x, 1, 3, 8, 12)) {
            assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.resizeAndCrop(t, 0, 8));
            assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.bilinear(t, 8, -1));
        }
        try (Tensor t = cpu.upload(DType.F32, x, 3, 8, 12)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> PixArtImageProcessor.resizeAndCrop(t, 4, 4)).getMessage().contains("[N, C, H, W]"));
        }
    }

    /** On a CUDA device: the same values as on the CPU (the resize runs on the host), the result on that device, nothing left allocated. */
    @Tag("gpu")
    @Test
    void cudaMatchesCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        float[] x = data(2 * 3 * 24 * 16);
        try (Device g = Device.cuda(0)) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                int live = g.liveAllocations();
                try (Tensor c = cpu.upload(dt, x, 2, 3, 24, 16); Tensor d = g.upload(dt, x, 2, 3, 24, 16);
                     Tensor rc = PixArtImageProcessor.resizeAndCrop(c, 7, 30); Tensor rd = PixArtImageProcessor.resizeAndCrop(d, 7, 30)) {
                    assertTrue(rd.device().sameAs(g), dt + ": the result stays on the device");
                    assertEquals(dt, rd.dtype());
                    assertArrayEquals(rc.toFloatArray(), rd.toFloatArray(), dt + ": CUDA = CPU");
                }
                assertEquals(live, g.liveAllocations(), dt + ": nothing left on the device");
            }
        }
    }
}
