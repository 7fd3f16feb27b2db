package dev.surpass.scan;

/**
 * The float64 sequential oracle of {@link SelectiveScan}: a direct transcription of mamba_ssm's
 * {@code selective_scan_ref}, one channel and one token at a time, on flat row-major arrays
 * (layouts as in {@link ScanDims}). Optional arrays are null when absent.
 */
public final class ReferenceSelectiveScan {
    private ReferenceSelectiveScan() {}

    /** y {@code [batch, dm, length]} and lastState {@code [nseq, dm, n]}. */
    public record Result(double[] y, double[] lastState) {}

    /**
     * The scan. {@code cu} null: dense, sequence s = batch row s; else varlen over batch row 0.
     * {@code init} is {@code [nseq, dm, n]} or null (zeros).
     */
    public static Result scan(float[] u, float[] delta, float[] a, float[] b, float[] c, float[] dSkip, float[] z,
                              float[] deltaBias, boolean softplus, float[] init, int batch, int dm, int n, int groups,
                              int length, int[] cu) {
        ScanDims dims = new ScanDims(batch, dm, n, groups, length, cu);
        double[] y = new double[batch * dm * length];
        double[] last = new double[dims.sequences() * dm * n];
        double[] h = new double[n];
        for (int s = 0; s < dims.sequences(); s++) {
            int bb = dims.batchOf(s);
            for (int d = 0; d < dm; d++) {
                int g = dims.groupOf(d);
                long row = ((long) bb * dm + d) * length;        // u, delta, z, y
                long bcRow = ((long) bb * groups + g) * n;       // B, C: row (bb, g, k) is bcRow + k
                long st = ((long) s * dm + d) * n;               // states
                for (int k = 0; k < n; k++) h[k] = init == null ? 0 : init[(int) (st + k)];
                for (int t = dims.start(s); t < dims.end(s); t++) {
                    int i = (int) (row + t);
                    double dt = delta[i] + (deltaBias == null ? 0 : deltaBias[d]);
                    if (softplus && dt <= 20) dt = Math.log1p(Math.exp(dt));
                    double ut = u[i], out = 0;
                    for (int k = 0; k < n; k++) {
                        int bc = (int) ((bcRow + k) * length + t);
                        h[k] = Math.exp(dt * a[d * n + k]) * h[k] + dt * b[bc] * ut;
                        out += h[k] * c[bc];
                    }
                    if (dSkip != null) out += dSkip[d] * ut;
                    if (z != null) out *= silu(z[i]);
                    y[i] = out;
                }
                for (int k = 0; k < n; k++) last[(int) (st + k)] = h[k];
            }
        }
        return new Result(y, last);
    }

    /**
     * One decode step from {@code state [batch, dm, n]} (not modified): x, dt, z {@code [batch, dm]},
     * B, C {@code [batch, groups, n]}. Returns y {@code [batch, dm]} and the new state.
     */
    public static Result stateUpdate(float[] state, float[] x, float[] dt, float[] a, float[] b, float[] c, float[] dSkip,
                                     float[] z, float[] deltaBias, boolean softplus, int batch, int dm, int n, int groups) {
        // A token is a scan of length 1 whose initial state is the state.
        return scan(x, dt, a, b, c, dSkip, z, deltaBias, softplus, state, batch, dm, n, groups, 1, null);
    }

    static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }
}
