package dev.surpass.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Gemm;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** cuBLAS GEMMs (row-major through the transpose trick) against a float64 reference. */
@Tag("gpu")
class CudaBlasTest {
    static final long SEED = 977L;
    static Device dev;

    @BeforeAll
    static void open() {
        if (Device.cudaDeviceCount() > 0) dev = Device.cuda(0);
    }

    /** Each test is skipped, with the reason, on a host without a GPU. */
    @BeforeEach
    void needGpu() {
        assumeTrue(dev != null, "no CUDA device: " + CudaRuntime.unavailableReason());
    }

    @AfterAll
    static void close() {
        if (dev != null) dev.close();
    }

    /** Values of dtype t (already rounded), so the reference sees exactly what the GPU sees. */
    static float[] random(Random r, DType t, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = t.round((float) r.nextGaussian());
        return f;
    }

    /** out[p,i,j] = sum_l a[p,i,l] * B(p)[l,j] (+ bias[j]) in float64. */
    static double[] reference(float[] a, float[] b, float[] bias, long batch, int m, int n, int k, boolean bT, boolean bBatched) {
        double[] out = new double[(int) (batch * m * n)];
        for (int p = 0; p < batch; p++) {
            int ao = p * m * k, bo = bBatched ? p * k * n : 0, oo = p * m * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = bias == null ? 0 : bias[j];
                    for (int l = 0; l < k; l++) {
                        double bv = bT ? b[bo + j * k + l] : b[bo + l * n + j];
                        s += (double) a[ao + i * k + l] * bv;
                    }
                    out[oo + i * n + j] = s;
                }
            }
        }
        return out;
    }

    static double relL2(double[] ref, float[] got) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = ref[i] - got[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    static void check(DType ab, DType c, long batch, int m, int n, int k, boolean bT, boolean bBatched, double tol) {
        Random r = new Random(SEED + m * 31L + n * 7L + k + batch);
        float[] a = random(r, ab, (int) (batch * m * k));
        float[] b = random(r, ab, (bBatched ? (int) batch : 1) * k * n);
        float[] poison = new float[(int) (batch * m * n)];
        java.util.Arrays.fill(poison, Float.NaN);
        CudaBackend be = CudaBackend.of(dev);
        try (Tensor ta = dev.upload(ab, a, a.length); Tensor tb = dev.upload(ab, b, b.length);
             Tensor out = dev.upload(c, poison, poison.length)) {
            CudaBlas.gemm(be, ab, c, batch, m, n, k, ta.devicePointer(), (long) m * k, tb.devicePointer(),
                    bBatched ? (long) k * n : 0, bT, out.devicePointer(), (long) m * n, 1f, 0f, false);
            double err = relL2(reference(a, b, null, batch, m, n, k, bT, bBatched), out.toFloatArray());
            String what = ab + "->" + c + " batch " + batch + " m " + m + " n " + n + " k " + k + " bT " + bT
                    + " bBatched " + bBatched + " seed " + SEED + ": rel L2 " + err;
            assertTrue(err < tol, what);
        }
    }

    @Test
    void fp32MatchesFloat64() {
        int[][] shapes = {{1, 1, 1}, {3, 13, 63}, {64, 65, 127}, {127, 64, 1000}};
        for (int[] s : shapes) {
            for (boolean bT : new boolean[] {false, true}) {
                check(DType.F32, DType.F32, 1, s[0], s[1], s[2], bT, false, 1e-5);
                check(DType.F32, DType.F32, 3, s[0], s[1], s[2], bT, true, 1e-5);
                check(DType.F32, DType.F32, 3, s[0], s[1], s[2], bT, false, 1e-5);
            }
        }
    }

    @Test
    void bf16AndFp16MatchFloat64() {
        int[][] shapes = {{1, 1, 1}, {13, 63, 65}, {64, 127, 1000}};
        for (int[] s : shapes) {
            for (boolean bT : new boolean[] {false, true}) {
                check(DType.BF16, DType.BF16, 1, s[0], s[1], s[2], bT, false, 1e-2);
                check(DType.BF16, DType.F32, 2, s[0], s[1], s[2], bT, true, 1e-4);
                check(DType.F16, DType.F16, 2, s[0], s[1], s[2], bT, false, 2e-3);
            }
        }
    }

    @Test
    void linearWithBiasOnCuda() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            Random r = new Random(SEED + 5);
            int rows = 65, k = 127, n = 63;
            float[] x = random(r, t, rows * k), w = random(r, t, n * k), bias = random(r, t, n);
            try (Tensor tx = dev.upload(t, x, 5, 13, k); Tensor tw = dev.upload(t, w, n, k); Tensor tb = dev.upload(t, bias, n);
                 Tensor y = Gemm.linear(tx, tw, tb)) {
                double err = relL2(reference(x, w, bias, 1, rows, n, k, true, false), y.toFloatArray());
                assertTrue(err < (t == DType.F32 ? 1e-5 : 1e-2), t + " linear rel L2 " + err + " seed " + SEED);
            }
        }
    }

    @Test
    void badArgumentsAreRejected() {
        CudaBackend be = CudaBackend.of(dev);
        assertThrows(IllegalArgumentException.class, () -> CudaBlas.gemm(be, DType.BF16, DType.F16, 1, 1, 1, 1, 0, 0, 0, 0, false, 0, 0, 1, 0, false));
        assertThrows(IllegalArgumentException.class, () -> CudaBlas.gemm(be, DType.I32, DType.I32, 1, 1, 1, 1, 0, 0, 0, 0, false, 0, 0, 1, 0, false));
        assertThrows(IllegalArgumentException.class, () -> CudaBlas.gemm(be, DType.F32, DType.F32, 1, -1, 1, 1, 0, 0, 0, 0, false, 0, 0, 1, 0, false));
    }
}
