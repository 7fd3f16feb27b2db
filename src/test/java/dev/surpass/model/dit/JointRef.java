package dev.surpass.model.dit;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The float64 building blocks the MMDiT references of the tests share (SD3's and Flux's fixtures): biased linears over
 * the fixture's weights {@link #w} (diffusers' names), per-head RMS norms of a projection, joint softmax attention over
 * all tokens, adaLN modulation and gated residuals, SiLU / GELU-tanh, concatenation. {@code heads × hd = d}; activations are
 * row-major {@code [rows, width]}.
 */
public abstract class JointRef {
    public final int heads, hd, d;
    /** The weights in diffusers' names, float32 as the checkpoint holds them. */
    public final Map<String, float[]> w = new LinkedHashMap<>();

    protected JointRef(int heads, int hd) {
        this.heads = heads;
        this.hd = hd;
        this.d = heads * hd;
    }

    /** {@code x · Wᵀ + b} of linear {@code p} ({@code p.weight [out, in]}, {@code p.bias [out]}). */
    protected double[] linear(double[] x, int rows, String p) {
        float[] wt = w.get(p + ".weight"), bs = w.get(p + ".bias");
        int o = bs.length, k = wt.length / o;
        double[] y = new double[rows * o];
        for (int r0 = 0; r0 < rows; r0++) {
            for (int j = 0; j < o; j++) {
                double acc = bs[j];
                for (int e = 0; e < k; e++) acc += wt[j * k + e] * x[r0 * k + e];
                y[r0 * o + j] = acc;
            }
        }
        return y;
    }

    /** Linear {@code p}, then (norm not null) each head's RMSNorm (eps 1e-6) with weights {@code norm.weight [hd]}. */
    protected double[] proj(double[] x, int rows, String p, String norm) {
        double[] y = linear(x, rows, p);
        if (norm == null) return y;
        float[] nw = w.get(norm + ".weight");
        for (int r0 = 0; r0 < rows * heads; r0++) {
            double ms = 0;
            for (int k = 0; k < hd; k++) ms += y[r0 * hd + k] * y[r0 * hd + k];
            double inv = 1 / Math.sqrt(ms / hd + 1e-6);
            for (int k = 0; k < hd; k++) y[r0 * hd + k] *= inv * nw[k];
        }
        return y;
    }

    /** softmax(q·kᵀ/√hd)·v per head over all {@code n} tokens, {@code [n, D]} layouts. */
    protected double[] attend(double[] q, double[] k, double[] v, int n) {
        double[] o = new double[n * d];
        double sc = 1 / Math.sqrt(hd);
        double[] sco = new double[n];
        for (int hh = 0; hh < heads; hh++) {
            for (int i = 0; i < n; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int e = 0; e < hd; e++) acc += q[i * d + hh * hd + e] * k[j * d + hh * hd + e];
                    sco[j] = acc * sc;
                    max = Math.max(max, sco[j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) sum += sco[j] = Math.exp(sco[j] - max);
                for (int j = 0; j < n; j++) {
                    double pj = sco[j] / sum;
                    for (int e = 0; e < hd; e++) o[i * d + hh * hd + e] += pj * v[j * d + hh * hd + e];
                }
            }
        }
        return o;
    }

    /** LayerNorm (eps 1e-6, no affine) of each row of {@code x [rows, D]}, times {@code 1 + mod[scale chunk]}, plus {@code mod[shift chunk]}. */
    protected double[] modulate(double[] x, int rows, double[] mod, int shift, int scale) {
        double[] y = new double[rows * d];
        for (int r0 = 0; r0 < rows; r0++) {
            double mean = 0, var = 0;
            for (int k = 0; k < d; k++) mean += x[r0 * d + k];
            mean /= d;
            for (int k = 0; k < d; k++) var += (x[r0 * d + k] - mean) * (x[r0 * d + k] - mean);
            double inv = 1 / Math.sqrt(var / d + 1e-6);
            for (int k = 0; k < d; k++) y[r0 * d + k] = (x[r0 * d + k] - mean) * inv * (1 + mod[scale * d + k]) + mod[shift * d + k];
        }
        return y;
    }

    /** {@code x + mod[gate chunk] · y} per row. */
    protected double[] gated(double[] x, double[] y, double[] mod, int gate) {
        int rows = x.length / d;
        double[] z = new double[x.length];
        for (int r0 = 0; r0 < rows; r0++) for (int k = 0; k < d; k++) z[r0 * d + k] = x[r0 * d + k] + mod[gate * d + k] * y[r0 * d + k];
        return z;
    }

    protected static double[] silu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] / (1 + Math.exp(-x[i]));
        return y;
    }

    /** GELU, tanh approximation. */
    protected static double[] gelu(double[] h) {
        double[] y = new double[h.length];
        for (int i = 0; i < h.length; i++) {
            double z = h[i];
            y[i] = 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
        }
        return y;
    }

    protected static double[] cat(double[] a, double[] b) {
        double[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
