package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import org.junit.jupiter.api.Test;

/** Philox4x32-10 against Random123's known answers, the noise mapping, and CPU determinism. */
class PhiloxTest {
    @Test
    void random123KnownAnswers() {
        int[] w = new int[4];
        Philox.block(0, 0, 0, 0, 0, 0, w);
        assertArrayEquals(new int[] {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}, w);
        Philox.block(-1, -1, -1, -1, -1, -1, w);
        assertArrayEquals(new int[] {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}, w);
        Philox.block(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, w);
        assertArrayEquals(new int[] {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}, w);
    }

    @Test
    void counterAndKeyLayoutMatchPhiloxCuh() {
        // philox_counter(offset, stream) = {offset lo, offset hi, stream lo, stream hi}; key = {seed lo, seed hi}.
        long seed = 0x299f31d0a4093822L, offset = 0x85a308d3243f6a88L, stream = 0x0370734413198a2eL;
        int[] w = new int[4];
        Philox.words(seed, stream, offset, w);
        assertArrayEquals(new int[] {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}, w);
    }

    @Test
    void uniformsAreOnTheGridAndInRange() {
        assertEquals(0f, Philox.uniform(0));
        assertTrue(Philox.uniform(-1) < 1f);
        assertEquals(1f - 0x1p-24f, Philox.uniform(-1));
        assertEquals(0x1p-24f, Philox.uniformPos(0));
        assertEquals(1f, Philox.uniformPos(-1));
    }

    @Test
    void normalMapsElementToWordOfBlock() {
        long seed = 42, stream = 7;
        int[] w = new int[4];
        float[] z = new float[4];
        for (long i : new long[] {0, 1, 2, 3, 4, 5, 1001, (1L << 34) + 3}) {
            Philox.words(seed, stream, i / 4, w);
            Philox.normal4(w, z, 0);
            assertEquals(Float.floatToIntBits(z[(int) (i % 4)]), Float.floatToIntBits(Philox.normal(seed, stream, i)), "element " + i);
        }
        // Box–Muller: pair (w0 radius, w1 angle) makes normals 0 and 1.
        Philox.words(seed, stream, 0, w);
        float r0 = (float) Math.sqrt(-2f * (float) Math.log(Philox.uniformPos(w[0])));
        float t0 = Philox.TWO_PI * Philox.uniform(w[1]);
        assertEquals(r0 * (float) Math.cos(t0), Philox.normal(seed, stream, 0));
        assertEquals(r0 * (float) Math.sin(t0), Philox.normal(seed, stream, 1));
    }

    @Test
    void normalsRunMatchesSingleElements() {
        float[] run = new float[1003];
        Philox.normals(9, 3, 5, run, 0, run.length);
        for (int i = 0; i < run.length; i++) assertEquals(Philox.normal(9, 3, 5 + i), run[i], "element " + (5 + i));
    }

    @Test
    void streamsAndSeedsDifferAndMomentsAreStandard() {
        int n = 200_000;
        float[] a = new float[n], b = new float[n], c = new float[n];
        Philox.normals(1, 0, 0, a, 0, n);
        Philox.normals(1, 1, 0, b, 0, n);
        Philox.normals(2, 0, 0, c, 0, n);
        double mean = 0, var = 0, cross = 0;
        for (int i = 0; i < n; i++) {
            mean += a[i];
            var += (double) a[i] * a[i];
            cross += (double) a[i] * b[i];
        }
        mean /= n;
        var = var / n - mean * mean;
        assertEquals(0, mean, 0.01);
        assertEquals(1, var, 0.02);
        assertEquals(0, cross / n, 0.01, "streams 0 and 1 are correlated");
        assertNotEquals(a[0], c[0]);
        for (float v : a) assertTrue(Float.isFinite(v));
    }

    @Test
    void cpuNoiseTensorIsDeterministicAndMatchesPhilox() {
        try (Device cpu = Device.cpu();
             Tensor t1 = Noise.gaussian(cpu, DType.F32, 11, 2, 3, 4, 13, 13);
             Tensor t2 = Noise.gaussian(cpu, DType.F32, 11, 2, 3, 4, 13, 13);
             Tensor h = Noise.gaussian(cpu, DType.BF16, 11, 2, 2029)) {
            float[] x = t1.toFloatArray();
            assertArrayEquals(x, t2.toFloatArray());
            for (int i = 0; i < x.length; i += 97) assertEquals(Philox.normal(11, 2, i), x[i]);
            float[] hb = h.toFloatArray();
            for (int i = 0; i < hb.length; i++) assertEquals(DType.BF16.round(Philox.normal(11, 2, i)), hb[i]);
        }
    }

    @Test
    void cpuWordsTensor() {
        try (Device cpu = Device.cpu(); Tensor w = Noise.philoxWords(cpu, 0, 0, 3)) {
            int[] v = w.toIntArray();
            assertEquals(0x6627e8d5, v[0]);
            assertEquals(0x9b00dbd8, v[3]);
        }
        assertThrows(IllegalArgumentException.class, () -> Philox.normal(0, 0, -1));
    }

    /** A noise request the heap cannot hold is refused up front, not an OutOfMemoryError half way. */
    @Test
    void hugeCpuNoiseIsRefusedBeforeAllocating() {
        try (Device cpu = Device.cpu()) {
            long n = Runtime.getRuntime().maxMemory() / 8 + 1024; // 4n bytes > heap / 2
            org.junit.jupiter.api.Assumptions.assumeTrue(n <= Integer.MAX_VALUE - 16L, "heap too large for a single-array request to exceed half of it");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Noise.gaussian(cpu, DType.F32, 1, 0, n));
            assertTrue(e.getMessage().contains("gaussian") && e.getMessage().contains("heap"), e.getMessage());
        }
    }
}
