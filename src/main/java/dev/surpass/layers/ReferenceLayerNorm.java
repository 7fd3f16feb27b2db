package dev.surpass.layers;

/**
 * The float64 oracle for {@link LayerNorm}: per row of {@code cols},
 * {@code (x - mean) / sqrt(var + eps) * weight + bias} with the biased variance computed in a
 * second pass over {@code x - mean}. {@code weight} and {@code bias} may be null.
 */
public final class ReferenceLayerNorm {
    private ReferenceLayerNorm() {}

    public static double[] layerNorm(float[] x, float[] weight, float[] bias, int cols, float eps) {
        double[] out = new double[x.length];
        if (cols == 0) return out;
        for (int r = 0; r < x.length / cols; r++) {
            int o = r * cols;
            double mean = 0;
            for (int j = 0; j < cols; j++) mean += x[o + j];
            mean /= cols;
            double var = 0;
            for (int j = 0; j < cols; j++) {
                double d = x[o + j] - mean;
                var += d * d;
            }
            var /= cols;
            double rstd = 1 / Math.sqrt(var + eps);
            for (int j = 0; j < cols; j++) {
                double y = (x[o + j] - mean) * rstd;
                if (weight != null) y *= weight[j];
                if (bias != null) y += bias[j];
                out[o + j] = y;
            }
        }
        return out;
    }
}
