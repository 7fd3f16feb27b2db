package dev.surpass.layers;

/**
 * The float64 oracle for {@link Softmax}: each row of {@code cols} values becomes
 * {@code exp(x - max) / Σ exp(x - max)}. Edge rows, matched by every implementation:
 * a row of only -∞ gives zeros (nothing to normalise; PyTorch gives NaN there); a row holding +∞
 * shares the mass equally among its +∞ entries (the limit); a row holding NaN is all NaN.
 */
public final class ReferenceSoftmax {
    private ReferenceSoftmax() {}

    public static double[] softmax(float[] x, int cols) {
        double[] out = new double[x.length];
        if (cols == 0) return out;
        for (int r = 0; r < x.length / cols; r++) {
            int o = r * cols;
            double max = Double.NEGATIVE_INFINITY;
            boolean nan = false;
            for (int j = 0; j < cols; j++) {
                nan |= Float.isNaN(x[o + j]);
                max = Math.max(max, x[o + j]);
            }
            if (nan) {
                for (int j = 0; j < cols; j++) out[o + j] = Double.NaN;
            } else if (max == Double.NEGATIVE_INFINITY) {
                // all -inf: leave zeros
            } else if (max == Double.POSITIVE_INFINITY) {
                int k = 0;
                for (int j = 0; j < cols; j++) if (x[o + j] == Float.POSITIVE_INFINITY) k++;
                for (int j = 0; j < cols; j++) out[o + j] = x[o + j] == Float.POSITIVE_INFINITY ? 1.0 / k : 0;
            } else {
                double sum = 0;
                for (int j = 0; j < cols; j++) {
                    out[o + j] = Math.exp(x[o + j] - max);
                    sum += out[o + j];
                }
                for (int j = 0; j < cols; j++) out[o + j] /= sum;
            }
        }
        return out;
    }
}
