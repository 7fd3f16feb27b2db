package dev.surpass.model.conv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.conv.ConvOps.Conv;
import dev.surpass.model.conv.ConvOps.Sampling;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The shared conv pieces against direct float64 loops on channels-first images: 3×3 convs with
 * stride 1, stride 2 (odd and even sizes) and nearest ×2, in one block and in row blocks, and the
 * channel concatenation with channel counts whose gcd is 1 or larger; the batched forms (several
 * images per call, cached index tables) against each image alone; on CUDA (tag gpu) against the CPU.
 */
class ConvOpsTest {
    static final long SEED = Long.getLong("surpass.seed", 0xC0417L);

    private static float[] noise(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /**
     * Conv2d 3×3, padding 1, stride s over {@code x [cin, h, w]} (optionally upsampled ×2 first) → {@code [cout, ho, wo]} as
     * [ho·wo][cout] rows; for DOWN2_PAD_END F.pad(x, (0, 1, 0, 1)) then stride 2, padding 0.
     */
    static double[] reference(float[] x, float[] wt, float[] b, int cin, int cout, int h, int w, Sampling mode) {
        int vh = mode == Sampling.UP2 ? 2 * h : h, vw = mode == Sampling.UP2 ? 2 * w : w;
        int s = mode == Sampling.DOWN2 || mode == Sampling.DOWN2_PAD_END ? 2 : 1;
        // padding (before, after) per side: (1, 1), or (0, 1) for the encoder's downsample
        int before = mode == Sampling.DOWN2_PAD_END ? 0 : 1, after = 1;
        int ho = (vh + before + after - 3) / s + 1, wo = (vw + before + after - 3) / s + 1;
        double[] o = new double[ho * wo * cout];
        for (int c = 0; c < cout; c++) {
            for (int y = 0; y < ho; y++) {
                for (int xx = 0; xx < wo; xx++) {
                    double acc = b[c];
                    for (int i = 0; i < cin; i++) {
                        for (int ky = 0; ky < 3; ky++) {
                            for (int kx = 0; kx < 3; kx++) {
                                int sy = y * s + ky - before, sx = xx * s + kx - before;
                                if (sy < 0 || sy >= vh || sx < 0 || sx >= vw) continue;
                                int py = mode == Sampling.UP2 ? sy / 2 : sy, px = mode == Sampling.UP2 ? sx / 2 : sx;
                                acc += wt[((c * cin + i) * 3 + ky) * 3 + kx] * x[(i * h + py) * w + px];
                            }
                        }
                    }
                    o[(y * wo + xx) * cout + c] = acc;
                }
            }
        }
        return o;
    }

    private static void checkConvs(Device d) {
        Random r = new Random(SEED);
        int cin = 3, cout = 5;
        float[] wt = noise(r, cout * cin * 9), b = noise(r, cout);
        for (int[] hw : new int[][] {{5, 7}, {4, 6}, {1, 1}, {2, 3}}) {
            int h = hw[0], w = hw[1];
            float[] x = noise(r, cin * h * w);
            for (Sampling mode : Sampling.values()) {
                if (mode == Sampling.DOWN2_PAD_END && (h < 2 || w < 2)) continue; // the padded image is smaller than the kernel
                for (long block : new long[] {1L << 24, 40}) {
                    long saved = ConvOps.blockFloats;
                    ConvOps.blockFloats = block;
                    try (Tensor xt = d.upload(DType.F32, x, cin, (long) h * w); Tensor rows = ConvOps.transpose(xt, cin, h * w);
                         Tensor wr = d.upload(DType.F32, ConvOps.relayout(wt, cout, cin, 3), cout, 9L * cin); Tensor bt = d.upload(DType.F32, b, cout);
                         Tensor y = ConvOps.conv3x3(rows, h, w, new Conv(wr, bt, 3, cin, cout), mode)) {
                        assertArrayEquals(new long[] {(long) mode.out(h) * mode.out(w), cout}, y.shape());
                        ParityResult p = ParityMath.compare(y.toFloatArray(), reference(x, wt, b, cin, cout, h, w, mode), 1e-6);
                        assertTrue(p.passed(), mode + " " + h + "x" + w + " block " + block + ": " + p);
                    } finally {
                        ConvOps.blockFloats = saved;
                    }
                }
            }
        }
    }

    private static void checkConcat(Device d) {
        Random r = new Random(SEED + 1);
        for (int[] cc : new int[][] {{3, 5}, {4, 6}, {8, 8}, {64, 32}}) {
            int l = 7, ca = cc[0], cb = cc[1];
            float[] a = noise(r, l * ca), b = noise(r, l * cb);
            try (Tensor at = d.upload(DType.F32, a, l, ca); Tensor bt = d.upload(DType.F32, b, l, cb); Tensor y = ConvOps.concatChannels(at, bt)) {
                assertArrayEquals(new long[] {l, ca + cb}, y.shape());
                float[] got = y.toFloatArray();
                for (int p = 0; p < l; p++) {
                    for (int c = 0; c < ca; c++) assertEquals(a[p * ca + c], got[p * (ca + cb) + c]);
                    for (int c = 0; c < cb; c++) assertEquals(b[p * cb + c], got[p * (ca + cb) + ca + c]);
                }
            }
        }
    }

    @Test
    void convsMatchDirectLoops() {
        try (Device cpu = Device.cpu()) {
            checkConvs(cpu);
        }
    }

    @Test
    void concatPutsTheSecondImagesChannelsAfterTheFirsts() {
        try (Device cpu = Device.cpu()) {
            checkConcat(cpu);
        }
    }

    /** The encoder's downsample pads only right and below: a symmetric padding (DOWN2) reads other pixels, so the check tells them apart. */
    @Test
    void padEndIsNotTheSymmetricPad() {
        Random r = new Random(SEED + 2);
        int cin = 4, cout = 3, h = 6, w = 8;
        float[] x = noise(r, cin * h * w), wt = noise(r, cout * cin * 9), b = noise(r, cout);
        double[] sym = reference(x, wt, b, cin, cout, h, w, Sampling.DOWN2), asym = reference(x, wt, b, cin, cout, h, w, Sampling.DOWN2_PAD_END);
        assertEquals(sym.length, asym.length, "for even sizes both give h/2 × w/2");
        try (Device d = Device.cpu(); Tensor xt = d.upload(DType.F32, x, cin, (long) h * w); Tensor rows = ConvOps.transpose(xt, cin, h * w);
             Tensor wr = d.upload(DType.F32, ConvOps.relayout(wt, cout, cin, 3), cout, 9L * cin); Tensor bt = d.upload(DType.F32, b, cout);
             Tensor y = ConvOps.conv3x3(rows, h, w, new Conv(wr, bt, 3, cin, cout), Sampling.DOWN2_PAD_END)) {
            float[] got = y.toFloatArray();
            assertTrue(ParityMath.compare(got, asym, 1e-6).passed());
            ParityResult vsSym = ParityMath.compare(got, sym, 1e-6);
            assertTrue(!vsSym.passed() && vsSym.relL2() > 0.1, "a symmetric pad must fail the check: " + vsSym);
        }
    }

    @Test
    void samplingSizes() {
        assertEquals(3, Sampling.DOWN2_PAD_END.out(6));
        assertEquals(3, Sampling.DOWN2_PAD_END.out(7));
        assertEquals(1, Sampling.DOWN2_PAD_END.out(2));
        assertEquals(3, Sampling.DOWN2.out(5));
        assertEquals(2, Sampling.DOWN2.out(4));
        assertEquals(1, Sampling.DOWN2.out(1));
        assertEquals(10, Sampling.UP2.out(5));
        assertEquals(5, Sampling.SAME.out(5));
    }

    /**
     * n images at once (one index table, the GEMM over all their rows, blocks that cut through
     * image boundaries), with and without cached tables, against each image's float64 loops; the
     * batched transposes and the per-sample broadcast exactly.
     */
    private static void checkBatched(Device d) {
        Random r = new Random(SEED + 3);
        int n = 3, cin = 5, cout = 4;
        float[] wt = noise(r, cout * cin * 9), b = noise(r, cout);
        try (ConvTables tables = new ConvTables(d); Tensor wr = d.upload(DType.F32, ConvOps.relayout(wt, cout, cin, 3), cout, 9L * cin);
             Tensor bt = d.upload(DType.F32, b, cout)) {
            Conv conv = new Conv(wr, bt, 3, cin, cout);
            for (int[] hw : new int[][] {{5, 7}, {4, 6}, {3, 1}}) {
                int h = hw[0], w = hw[1];
                float[] x = noise(r, n * cin * h * w); // n channels-first images [cin, h, w]
                try (Tensor xt = d.upload(DType.F32, x, n, cin, h, w); Tensor rows = ConvOps.transpose(xt, n, cin, h * w, tables)) {
                    assertArrayEquals(new long[] {(long) n * h * w, cin}, rows.shape());
                    float[] got = rows.toFloatArray();
                    for (int m = 0; m < n; m++) {
                        for (int p = 0; p < h * w; p++) {
                            for (int c = 0; c < cin; c++) assertEquals(x[(m * cin + c) * h * w + p], got[(m * h * w + p) * cin + c]);
                        }
                    }
                    try (Tensor back = ConvOps.transpose(rows, n, h * w, cin, tables)) {
                        assertArrayEquals(x, back.toFloatArray(), "channels-last and back");
                    }
                    for (Sampling mode : Sampling.values()) {
                        if (mode == Sampling.DOWN2_PAD_END && (h < 2 || w < 2)) continue;
                        int outPer = mode.out(h) * mode.out(w);
                        for (long block : new long[] {1L << 24, 100}) { // 100 floats: 2 output pixels per block, across images too
                            long saved = ConvOps.blockFloats;
                            ConvOps.blockFloats = block;
                            try {
                                for (ConvTables t : new ConvTables[] {tables, null}) {
                                    try (Tensor y = ConvOps.conv3x3(rows, n, h, w, conv, mode, t)) {
                                        assertArrayEquals(new long[] {(long) n * outPer, cout}, y.shape());
                                        float[] all = y.toFloatArray();
                                        for (int m = 0; m < n; m++) {
                                            float[] one = java.util.Arrays.copyOfRange(x, m * cin * h * w, (m + 1) * cin * h * w);
                                            ParityResult pr = ParityMath.compare(java.util.Arrays.copyOfRange(all, m * outPer * cout, (m + 1) * outPer * cout),
                                                    reference(one, wt, b, cin, cout, h, w, mode), 1e-6);
                                            assertTrue(pr.passed(), mode + " " + h + "x" + w + " image " + m + " of " + n + " block " + block
                                                    + (t == null ? " uncached" : " cached") + ": " + pr);
                                        }
                                    }
                                }
                            } finally {
                                ConvOps.blockFloats = saved;
                            }
                        }
                    }
                    float[] per = noise(r, n * cin);
                    try (Tensor pt = d.upload(DType.F32, per, n, cin); Tensor y = ConvOps.addPerSample(rows, pt, tables)) {
                        float[] sum = y.toFloatArray();
                        for (int m = 0; m < n; m++) {
                            for (int p = 0; p < h * w; p++) {
                                for (int c = 0; c < cin; c++) {
                                    int at = (m * h * w + p) * cin + c;
                                    assertEquals(got[at] + per[m * cin + c], sum[at], "image " + m + " pixel " + p + " channel " + c);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void batchedPiecesMatchEachImageAlone() {
        try (Device cpu = Device.cpu()) {
            checkBatched(cpu);
        }
    }

    /**
     * A table is made once per key for the most images asked so far: fewer images read its start, more
     * replace it (the old one freed at close, with the rest); a closed cache refuses.
     */
    @Test
    void tablesAreMadeOnceAndFreedOnClose() {
        try (Device d = Device.cpu(); Tensor x3 = d.upload(DType.F32, noise(new Random(SEED + 4), 3 * 3 * 12), 36, 3);
             Tensor x2 = x3.view(0, 24, 3); Tensor x1 = x3.view(0, 12, 3);
             Tensor wr = d.upload(DType.F32, noise(new Random(SEED + 5), 2 * 27), 2, 27); Tensor bt = d.upload(DType.F32, new float[] {0.5f, -1}, 2)) {
            long inputs = d.liveBytes();
            ConvTables tables = new ConvTables(d);
            Conv conv = new Conv(wr, bt, 3, 3, 2);
            float[] two, one;
            try (Tensor y = ConvOps.conv3x3(x2, 2, 3, 4, conv, Sampling.SAME, tables)) {
                two = y.toFloatArray();
            }
            assertEquals(1, tables.size());
            long held = d.liveBytes() - inputs;
            assertEquals(4L * 9 * 2 * 3 * 4, held, "one im2col table of 9 ids per output pixel of both images");
            try (Tensor y = ConvOps.conv3x3(x2, 2, 3, 4, conv, Sampling.SAME, tables); Tensor z = ConvOps.conv3x3(x1, 1, 3, 4, conv, Sampling.SAME, tables)) {
                assertArrayEquals(two, y.toFloatArray());
                one = z.toFloatArray();
                assertArrayEquals(java.util.Arrays.copyOf(two, one.length), one, "the first image alone, from the start of the table");
            }
            assertEquals(held, d.liveBytes() - inputs, "one image reads the two images' table");
            try (Tensor z = ConvOps.conv3x3(x2, 2, 3, 4, conv, Sampling.DOWN2, tables); Tensor y = ConvOps.conv3x3(x3, 3, 3, 4, conv, Sampling.SAME, tables)) {
                assertArrayEquals(two, java.util.Arrays.copyOf(y.toFloatArray(), two.length), "three images: the first two as before");
            }
            assertEquals(2, tables.size(), "a second mode has its own table; three images replace the first");
            tables.close();
            assertEquals(inputs, d.liveBytes(), "close frees the tables, replaced ones too");
            assertThrows(IllegalStateException.class, () -> ConvOps.conv3x3(x2, 2, 3, 4, conv, Sampling.SAME, tables));
        }
    }

    @Tag("gpu")
    @Test
    void cudaMatchesDirectLoops() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0)) {
            checkConvs(g);
            checkConcat(g);
            checkBatched(g);
        }
    }
}
