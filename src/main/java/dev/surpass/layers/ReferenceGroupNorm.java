package dev.surpass.layers;

/**
 * The float64 oracle for {@link GroupNorm}: x is {@code [n, l, c]} channels-last; for each sample
 * and each group of {@code c / groups} consecutive channels, the mean and biased variance (second
 * pass over {@code x - mean}) of its {@code l · c / groups} values, then
 * {@code (x - mean) / sqrt(var + eps) * weight[ch] + bias[ch]}. weight and bias may be null.
 */
public final class ReferenceGroupNorm {
    private ReferenceGroupNorm() {}

    public static double[] groupNorm(float[] x, float[] weight, float[] bias, int n, int l, int c, int groups, float eps) {
        double[] out = new double[x.length];
        int cg = c / groups;
        for (int s = 0; s < n; s++) {
            for (int g = 0; g < groups; g++) {
                double mean = 0;
                for (int p = 0; p < l; p++) for (int j = 0; j < cg; j++) mean += x[(s * l + p) * c + g * cg + j];
                mean /= (double) l * cg;
                double var = 0;
                for (int p = 0; p < l; p++) {
                    for (int j = 0; j < cg; j++) {
                        double d = x[(s * l + p) * c + g * cg + j] - mean;
                        var += d * d;
                    }
                }
                var /= (double) l * cg;
                double rstd = 1 / Math.sqrt(var + eps);
                for (int p = 0; p < l; p++) {
                    for (int j = 0; j < cg; j++) {
                        int ch = g * cg + j, at = (s * l + p) * c + ch;
                        double y = (x[at] - mean) * rstd;
                        if (weight != null) y *= weight[ch];
                        if (bias != null) y += bias[ch];
                        out[at] = y;
                    }
                }
            }
        }
        return out;
    }
}
