package dev.surpass.layers;

/**
 * The float64 oracle for {@link RmsNorm}: per row of {@code cols},
 * {@code x / sqrt(mean(x²) + eps) * weight}; {@code weight} may be null.
 */
public final class ReferenceRmsNorm {
    private ReferenceRmsNorm() {}

    public static double[] rmsNorm(float[] x, float[] weight, int cols, float eps) {
        double[] out = new double[x.length];
        if (cols == 0) return out;
        for (int r = 0; r < x.length / cols; r++) {
            int o = r * cols;
            double ms = 0;
            for (int j = 0; j < cols; j++) ms += (double) x[o + j] * x[o + j];
            ms /= cols;
            double rstd = 1 / Math.sqrt(ms + eps);
            for (int j = 0; j < cols; j++) {
                double y = x[o + j] * rstd;
                if (weight != null) y *= weight[j];
                out[o + j] = y;
            }
        }
        return out;
    }
}
