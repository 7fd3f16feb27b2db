package dev.surpass.model.dit;

/**
 * The float64 oracle of {@link DiTOps}, written straight from DiT's {@code models.py}: plain loops
 * over fp32 inputs, double results. Shapes as in {@link DiTOps}; {@code mod} is {@code [N, K·D]}.
 */
public final class ReferenceDiTOps {
    private ReferenceDiTOps() {}

    /** {@code LN(x)·(1 + scale) + shift}, LayerNorm with biased variance, no affine. */
    public static double[] modulate(float[] x, float[] mod, int n, int tokens, int d, int modStride, int shiftChunk, int scaleChunk, double eps) {
        double[] out = new double[n * tokens * d];
        for (int b = 0; b < n; b++) {
            for (int t = 0; t < tokens; t++) {
                int row = (b * tokens + t) * d;
                double mean = 0;
                for (int c = 0; c < d; c++) mean += x[row + c];
                mean /= d;
                double var = 0;
                for (int c = 0; c < d; c++) var += (x[row + c] - mean) * (x[row + c] - mean);
                var /= d;
                double rstd = 1 / Math.sqrt(var + eps);
                for (int c = 0; c < d; c++) {
                    double shift = mod[b * modStride + shiftChunk * d + c], scale = mod[b * modStride + scaleChunk * d + c];
                    out[row + c] = (x[row + c] - mean) * rstd * (1 + scale) + shift;
                }
            }
        }
        return out;
    }

    /** {@code x + gate·y}. */
    public static double[] gateResidual(float[] x, float[] y, float[] mod, int n, int tokens, int d, int modStride, int gateChunk) {
        double[] out = new double[n * tokens * d];
        for (int b = 0; b < n; b++) {
            for (int t = 0; t < tokens; t++) {
                int row = (b * tokens + t) * d;
                for (int c = 0; c < d; c++) out[row + c] = x[row + c] + (double) mod[b * modStride + gateChunk * d + c] * y[row + c];
            }
        }
        return out;
    }

    /** {@code [N, C, H, W] → [N, T, C·p·p]}, (C, ph, pw) order. */
    public static double[] patchify(float[] x, int n, int c, int h, int w, int p) {
        int gh = h / p, gw = w / p, feat = c * p * p;
        double[] out = new double[n * gh * gw * feat];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < gh; i++)
                for (int j = 0; j < gw; j++)
                    for (int ch = 0; ch < c; ch++)
                        for (int ph = 0; ph < p; ph++)
                            for (int pw = 0; pw < p; pw++) {
                                int t = i * gw + j;
                                out[(b * gh * gw + t) * feat + (ch * p + ph) * p + pw] = x[((b * c + ch) * h + i * p + ph) * w + j * p + pw];
                            }
        return out;
    }

    /** {@code [N, T, p·p·C] → [N, C, H, W]}, (ph, pw, C) order. */
    public static double[] unpatchify(float[] x, int n, int c, int h, int w, int p) {
        int gh = h / p, gw = w / p, feat = c * p * p;
        double[] out = new double[n * c * h * w];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < gh; i++)
                for (int j = 0; j < gw; j++)
                    for (int ph = 0; ph < p; ph++)
                        for (int pw = 0; pw < p; pw++)
                            for (int ch = 0; ch < c; ch++) {
                                int t = i * gw + j;
                                out[((b * c + ch) * h + i * p + ph) * w + j * p + pw] = x[(b * gh * gw + t) * feat + (ph * p + pw) * c + ch];
                            }
        return out;
    }
}
