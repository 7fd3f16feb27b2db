package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import org.junit.jupiter.api.Test;

class GroupNormTest extends CpuOpTest {
    @Test
    void validation() {
        Tensor x = d.upload(DType.F32, ParityMath.random(SEED, 2 * 5 * 12, 1f, DType.F32), 2, 5, 12);
        Tensor w12 = d.upload(DType.F32, ParityMath.random(SEED, 12, 1f, DType.F32), 12);
        Tensor w8 = d.upload(DType.F32, ParityMath.random(SEED, 8, 1f, DType.F32), 8);
        Tensor w12h = d.upload(DType.BF16, ParityMath.random(SEED, 12, 1f, DType.BF16), 12);
        Tensor vec = d.upload(DType.F32, ParityMath.random(SEED, 12, 1f, DType.F32), 12);
        Tensor ints = d.upload(new int[] {1, 2}, 1, 2);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(x, 5, w12, null, 1e-6f)),
                "groupNorm: groups is 5 but x's channel dim (last) is 12");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(x, 0, w12, null, 1e-6f)), "groups is 0");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(x, 4, w8, null, 1e-6f)),
                "groupNorm: weight has shape [8] but x's last dim is 12");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(x, 4, w12, w8, 1e-6f)),
                "groupNorm: bias has shape [8]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(x, 4, w12, w12h, 1e-6f)),
                "groupNorm: bias has dtype BF16 but x has F32");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(vec, 4, null, null, 1e-6f)),
                "groupNorm: x has shape [12]; expected [N, *, C]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(null, 4, null, null, 1e-6f)), "groupNorm: x is null");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(ints, 1, null, null, 1e-6f)),
                "groupNorm: x has dtype I32");
        for (float eps : new float[] {0f, -1e-6f, Float.NaN, Float.POSITIVE_INFINITY}) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> GroupNorm.groupNorm(x, 4, null, null, eps)),
                    "groupNorm: eps must be positive and finite, got " + eps);
        }
    }

    /** The reference against PyTorch's definition spelled on the channels-first layout: its own statistics, group by group. */
    @Test
    void referenceNormalisesEachSampleAndGroup() {
        int n = 3, l = 11, c = 12, groups = 4, cg = 3;
        float[] x = ParityMath.random(SEED, n * l * c, 5f, DType.F32);
        double[] y = ReferenceGroupNorm.groupNorm(x, null, null, n, l, c, groups, 1e-12f);
        for (int s = 0; s < n; s++) {
            for (int g = 0; g < groups; g++) {
                double mean = 0, var = 0;
                for (int p = 0; p < l; p++) for (int j = 0; j < cg; j++) mean += y[(s * l + p) * c + g * cg + j];
                mean /= l * cg;
                for (int p = 0; p < l; p++) for (int j = 0; j < cg; j++) var += Math.pow(y[(s * l + p) * c + g * cg + j] - mean, 2);
                var /= l * cg;
                assertEquals(0, mean, 1e-12, "sample " + s + " group " + g);
                assertEquals(1, var, 1e-9, "sample " + s + " group " + g);
            }
        }
        float[] w = ParityMath.random(SEED + 1, c, 2f, DType.F32), b = ParityMath.random(SEED + 2, c, 2f, DType.F32);
        double[] ya = ReferenceGroupNorm.groupNorm(x, w, b, n, l, c, groups, 1e-12f);
        for (int i = 0; i < x.length; i++) assertEquals(y[i] * w[i % c] + b[i % c], ya[i], 1e-12);
        // one group is LayerNorm over a whole sample; one channel per group is a per-channel norm over positions
        double[] ln = ReferenceLayerNorm.layerNorm(x, null, null, l * c, 1e-12f);
        double[] one = ReferenceGroupNorm.groupNorm(x, null, null, n, l, c, 1, 1e-12f);
        for (int i = 0; i < x.length; i++) assertEquals(ln[i], one[i], 1e-12);
    }

    @Test
    void cpuMatchesReferenceOnAwkwardShapes() {
        int[][] shapes = {{1, 1, 3, 3}, {2, 35, 96, 32}, {1, 4099, 20, 5}, {3, 130, 256, 32}, {2, 17, 1031, 1}};
        for (DType t : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int[] s : shapes) {
                int n = s[0], l = s[1], c = s[2], groups = s[3];
                float[] x = ParityMath.random(SEED, n * l * c, 3f, t);
                for (int i = 0; i < x.length; i++) x[i] = t.round(x[i] + (i % c) * 0.25f); // channels on different levels
                float[] w = ParityMath.random(SEED + 1, c, 1f, t), b = ParityMath.random(SEED + 2, c, 1f, t);
                try (Tensor tx = d.upload(t, x, n, l, c); Tensor tw = d.upload(t, w, c); Tensor tb = d.upload(t, b, c);
                     Tensor y = GroupNorm.groupNorm(tx, groups, tw, tb, 1e-6f)) {
                    ParityResult r = ParityMath.compare(y.toFloatArray(), ReferenceGroupNorm.groupNorm(x, w, b, n, l, c, groups, 1e-6f),
                            ParityMath.tolerance(t));
                    assertTrue(r.passed(), t + " " + java.util.Arrays.toString(s) + ": " + r + " seed=" + SEED);
                }
            }
        }
    }

    /** The statistics are per group and per sample: a norm over the wrong extent is far off. */
    @Test
    void groupsAndSamplesMatter() {
        int n = 2, l = 9, c = 8;
        float[] x = ParityMath.random(SEED, n * l * c, 3f, DType.F32);
        for (int i = 0; i < x.length; i++) x[i] += (i % c) + 5 * (i / (l * c)); // per-channel and per-sample offsets
        double[] ref = ReferenceGroupNorm.groupNorm(x, null, null, n, l, c, 4, 1e-6f);
        try (Tensor tx = d.upload(DType.F32, x, n, l, c); Tensor y = GroupNorm.groupNorm(tx, 4, null, null, 1e-6f);
             Tensor y2 = GroupNorm.groupNorm(tx, 2, null, null, 1e-6f); Tensor merged = tx.reshape(1, n * l, c);
             Tensor y3 = GroupNorm.groupNorm(merged, 4, null, null, 1e-6f)) {
            assertTrue(ParityMath.compare(y.toFloatArray(), ref, 1e-5).passed());
            assertFalse(ParityMath.compare(y2.toFloatArray(), ref, 1e-2).passed(), "2 groups instead of 4");
            assertFalse(ParityMath.compare(y3.toFloatArray(), ref, 1e-2).passed(), "both samples in one");
        }
    }

    @Test
    void largeOffsetsDoNotCancel() {
        int n = 2, l = 300, c = 32;
        for (float offset : new float[] {1e3f, 1e4f, -3e4f}) {
            float[] x = ParityMath.random(SEED, n * l * c, 1f, DType.F32);
            for (int i = 0; i < x.length; i++) x[i] += offset;
            try (Tensor t = d.upload(DType.F32, x, n, l, c); Tensor y = GroupNorm.groupNorm(t, 8, null, null, 1e-6f)) {
                ParityResult r = ParityMath.compare(y.toFloatArray(), ReferenceGroupNorm.groupNorm(x, null, null, n, l, c, 8, 1e-6f), 1e-5);
                assertTrue(r.passed(), "offset " + offset + ": " + r + " seed=" + SEED);
            }
        }
    }

    @Test
    void emptyTensors() {
        try (Tensor x = d.allocate(DType.F32, 0, 5, 8); Tensor y = GroupNorm.groupNorm(x, 2, null, null, 1e-6f);
             Tensor x0 = d.allocate(DType.F16, 2, 0, 8); Tensor y0 = GroupNorm.groupNorm(x0, 4, null, null, 1e-6f)) {
            assertArrayEquals(new long[] {0, 5, 8}, y.shape());
            assertArrayEquals(new long[] {2, 0, 8}, y0.shape());
        }
    }

    @Test
    void resultsDoNotDependOnThreading() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            long[] s = {2, 1500, 96};
            try (Tensor x = d.upload(t, ParityMath.random(SEED, 2 * 1500 * 96, 3f, t), s);
                 Tensor w = d.upload(t, ParityMath.random(SEED + 1, 96, 1f, t), 96);
                 Tensor b = d.upload(t, ParityMath.random(SEED + 2, 96, 1f, t), 96);
                 Tensor o1 = d.allocate(t, s); Tensor o2 = d.allocate(t, s)) {
                VectorGroupNorm.groupNorm(x, w, b, o1, 2, 1500, 96, 32, 1e-6f, true);
                VectorGroupNorm.groupNorm(x, w, b, o2, 2, 1500, 96, 32, 1e-6f, false);
                assertArrayEquals(o2.toFloatArray(), o1.toFloatArray(), t + " seed=" + SEED);
            }
        }
    }
}
