package dev.surpass.scan;

/**
 * The float64 oracle of {@link CausalConv1d}, on flat row-major arrays: x {@code [rows, length]}
 * (rows = Bt·Dm, channel d = row % dm), w {@code [dm, width]}, bias {@code [dm]} or null, state
 * {@code [rows, width-1]} or null (zeros).
 */
public final class ReferenceCausalConv1d {
    private ReferenceCausalConv1d() {}

    /** out {@code [rows, length]} and the final state {@code [rows, width-1]}. */
    public record Result(double[] out, double[] finalState) {}

    public static Result conv(float[] x, float[] w, float[] bias, boolean silu, float[] state, int rows, int dm, int length,
                              int width) {
        int p = width - 1;
        double[] out = new double[rows * length];
        double[] fin = new double[rows * p];
        double[] seq = new double[p + length];  // [state | x] of one row
        for (int r = 0; r < rows; r++) {
            int d = r % dm;
            for (int j = 0; j < p; j++) seq[j] = state == null ? 0 : state[r * p + j];
            for (int t = 0; t < length; t++) seq[p + t] = x[r * length + t];
            for (int t = 0; t < length; t++) {
                double acc = bias == null ? 0 : bias[d];
                for (int k = 0; k < width; k++) acc += w[d * width + k] * seq[t + k]; // x[t - (W-1) + k]
                out[r * length + t] = silu ? ReferenceSelectiveScan.silu(acc) : acc;
            }
            for (int j = 0; j < p; j++) fin[r * p + j] = seq[length + j];
        }
        return new Result(out, fin);
    }

    /** One decode step: x {@code [rows]}; returns out {@code [rows]} and the shifted state. */
    public static Result update(float[] state, float[] x, float[] w, float[] bias, boolean silu, int rows, int dm, int width) {
        return conv(x, w, bias, silu, state, rows, dm, 1, width);
    }
}
