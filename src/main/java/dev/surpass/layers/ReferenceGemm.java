package dev.surpass.layers;

/**
 * The float64 oracle for {@link Gemm}: a plain triple loop, written to be read, not to be fast.
 *
 * <p>Layouts are row-major and contiguous, as in {@link dev.surpass.Tensor}:
 * {@code a [batch, m, k]}, {@code b [k, n]} (or {@code [n, k]} when {@code bTransposed}), with one
 * copy of {@code b} per batch when {@code bBatched} and one shared copy otherwise,
 * {@code bias [n]} or null, result {@code [batch, m, n]}.
 */
public final class ReferenceGemm {
    private ReferenceGemm() {}

    /**
     * {@code out[p][i][j] = sum_t a[p][i][t] * B[p][t][j] + bias[j]}, every product and sum in
     * float64, where {@code B[p][t][j]} is {@code b[p][t][j]} or, transposed, {@code b[p][j][t]}.
     */
    public static double[] gemm(float[] a, float[] b, float[] bias, int batch, int m, int n, int k,
                                boolean bTransposed, boolean bBatched) {
        double[] out = new double[Math.multiplyExact(Math.multiplyExact(batch, m), n)];
        for (int p = 0; p < batch; p++) {
            int aBase = p * m * k;
            int bBase = bBatched ? p * k * n : 0;
            int outBase = p * m * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double sum = bias == null ? 0.0 : bias[j];
                    for (int t = 0; t < k; t++) {
                        double bv = bTransposed ? b[bBase + j * k + t] : b[bBase + t * n + j];
                        sum += (double) a[aBase + i * k + t] * bv;
                    }
                    out[outBase + i * n + j] = sum;
                }
            }
        }
        return out;
    }

    /** {@code a [batch, m, k] · b [k, n]} or {@code b [batch, k, n]}. */
    public static double[] matmul(float[] a, float[] b, int batch, int m, int n, int k, boolean bBatched) {
        return gemm(a, b, null, batch, m, n, k, false, bBatched);
    }

    /** {@code x [rows, k] · weightᵀ + bias}, {@code weight [n, k]}, {@code bias [n]} or null. */
    public static double[] linear(float[] x, float[] weight, float[] bias, int rows, int n, int k) {
        return gemm(x, weight, bias, 1, rows, n, k, true, false);
    }
}
