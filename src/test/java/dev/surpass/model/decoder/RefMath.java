package dev.surpass.model.decoder;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Plain float64 loops for the decoder references (written independently of the model code) and a
 * checkpoint writer. Rows are {@code double[T][C]}; weights are row-major float arrays.
 */
public final class RefMath {
    private RefMath() {}

    /** Uniform in ±scale·√3 (variance scale²), never exactly zero. */
    public static float[] fill(float[] a, Random r, double scale) {
        for (int i = 0; i < a.length; i++) {
            double u;
            do u = (r.nextDouble() * 2 - 1) * scale * Math.sqrt(3); while (u == 0);
            a[i] = (float) u;
        }
        return a;
    }

    /** 1 ± spread, for norm weights. */
    public static float[] around1(int n, Random r, double spread) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (1 + spread * (r.nextDouble() * 2 - 1));
        return a;
    }

    /** {@code x [T][in] · W} with {@code W} stored [in, out] (Conv1D), plus bias [out] or null. */
    public static double[][] conv1d(double[][] x, float[] w, float[] b, int in, int out) {
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) s += x[t][i] * w[i * out + o];
                y[t][o] = s;
            }
        }
        return y;
    }

    /** {@code x [T][in] · Wᵀ} with {@code W} stored [out, in] (nn.Linear), plus bias or null. */
    public static double[][] linear(double[][] x, float[] w, float[] b, int in, int out) {
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) s += x[t][i] * w[o * in + i];
                y[t][o] = s;
            }
        }
        return y;
    }

    public static double[][] layerNorm(double[][] x, float[] w, float[] b, double eps) {
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            int c = x[t].length;
            double mean = 0, var = 0;
            for (double v : x[t]) mean += v;
            mean /= c;
            for (double v : x[t]) var += (v - mean) * (v - mean);
            var /= c;
            y[t] = new double[c];
            for (int i = 0; i < c; i++) y[t][i] = (x[t][i] - mean) / Math.sqrt(var + eps) * w[i] + (b == null ? 0 : b[i]);
        }
        return y;
    }

    public static double[][] rmsNorm(double[][] x, float[] w, double eps) {
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            int c = x[t].length;
            double ms = 0;
            for (double v : x[t]) ms += v * v;
            ms /= c;
            y[t] = new double[c];
            for (int i = 0; i < c; i++) y[t][i] = x[t][i] / Math.sqrt(ms + eps) * w[i];
        }
        return y;
    }

    /** Causal softmax attention, 1/√D, GQA: q-head h reads kv-head h / (hq / hkv). */
    public static double[][] causalAttention(double[][] q, double[][] k, double[][] v, int hq, int hkv, int d) {
        return causalAttention(q, k, v, hq, hkv, d, -1);
    }

    /** Causal attention where row i sees keys {@code j > i − window} (HF's sliding_window; -1: all j ≤ i). */
    public static double[][] causalAttention(double[][] q, double[][] k, double[][] v, int hq, int hkv, int d, int window) {
        return causalAttention(q, k, v, hq, hkv, d, window, 1 / Math.sqrt(d), 0);
    }

    /** The same with the scores' scale given and, when {@code softcap > 0}, capped as {@code softcap·tanh(s/softcap)} (Gemma 2). */
    public static double[][] causalAttention(double[][] q, double[][] k, double[][] v, int hq, int hkv, int d, int window, double scale,
                                             double softcap) {
        int n = q.length, group = hq / hkv;
        double[][] o = new double[n][hq * d];
        for (int h = 0; h < hq; h++) {
            int kh = h / group;
            for (int i = 0; i < n; i++) {
                double[] s = new double[i + 1];
                double mx = Double.NEGATIVE_INFINITY;
                int j0 = window > 0 ? Math.max(0, i - window + 1) : 0;
                for (int j = j0; j <= i; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += q[i][h * d + c] * k[j][kh * d + c];
                    s[j] = dot * scale;
                    if (softcap > 0) s[j] = softcap * Math.tanh(s[j] / softcap);
                    mx = Math.max(mx, s[j]);
                }
                double sum = 0;
                for (int j = j0; j <= i; j++) sum += s[j] = Math.exp(s[j] - mx);
                for (int j = j0; j <= i; j++) for (int c = 0; c < d; c++) o[i][h * d + c] += s[j] / sum * v[j][kh * d + c];
            }
        }
        return o;
    }

    public static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /** The exact GELU {@code x·Φ(x)} (erf), through a series accurate to ~1e-15 on the ranges the tests reach. */
    public static double geluErf(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    /** erf by its Maclaurin series (|x| < 3) or its continued fraction complement (beyond), both to double precision. */
    static double erf(double x) {
        double a = Math.abs(x);
        double r;
        if (a < 3) {
            double term = a, sum = a;
            for (int n = 1; n < 200 && Math.abs(term) > 1e-18; n++) {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0; // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (a + f);
            r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
        }
        return x < 0 ? -r : r;
    }

    /**
     * Rotate-half RoPE in place on the first {@code rot} dims of each of {@code heads} heads of
     * width {@code d} in rows {@code [T][heads·d]}, row t at position t, base {@code theta}.
     */
    public static void ropeHalf(double[][] x, int heads, int d, int rot, double theta) {
        int h2 = rot / 2;
        for (int t = 0; t < x.length; t++) {
            double[] y = x[t].clone();
            for (int h = 0; h < heads; h++) {
                for (int j = 0; j < rot; j++) {
                    double ang = t * Math.pow(theta, -2.0 * (j % h2) / rot);
                    double rv = j < h2 ? -x[t][h * d + j + h2] : x[t][h * d + j - h2];
                    y[h * d + j] = x[t][h * d + j] * Math.cos(ang) + rv * Math.sin(ang);
                }
            }
            x[t] = y;
        }
    }

    public static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    public static void addInPlace(double[][] x, double[][] y) {
        for (int t = 0; t < x.length; t++) for (int i = 0; i < x[t].length; i++) x[t][i] += y[t][i];
    }

    /** Max |got − ref| / (1 + |ref|) over all entries of {@code got [T·V]} against {@code ref [T][V]}. */
    public static double maxRelErr(float[] got, double[][] ref) {
        double worst = 0;
        int v = ref[0].length;
        for (int t = 0; t < ref.length; t++) {
            for (int i = 0; i < v; i++) worst = Math.max(worst, Math.abs(got[t * v + i] - ref[t][i]) / (1 + Math.abs(ref[t][i])));
        }
        return worst;
    }

    public static double[][] concat(double[][]... parts) {
        List<double[]> all = new ArrayList<>();
        for (double[][] p : parts) all.addAll(List.of(p));
        return all.toArray(new double[0][]);
    }

    /** A tensor to write: values and shape. */
    public record Entry(float[] data, long... shape) {}

    /**
     * Writes {@code tensors} as safetensors in {@code dir}, each in {@code dtype} (values rounded to
     * it): one file, or {@code shards > 1} files with a {@code model.safetensors.index.json}.
     */
    public static void writeCheckpoint(Path dir, String config, Map<String, Entry> tensors, DType dtype, int shards) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config);
        List<String> names = new ArrayList<>(tensors.keySet());
        StringBuilder map = new StringBuilder();
        try (Device cpu = Device.cpu()) {
            for (int s = 0; s < shards; s++) {
                String file = shards == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
                Map<String, Tensor> part = new LinkedHashMap<>();
                try {
                    for (int i = s; i < names.size(); i += shards) {
                        Entry e = tensors.get(names.get(i));
                        part.put(names.get(i), cpu.upload(dtype, e.data(), e.shape()));
                        if (map.length() > 0) map.append(",\n");
                        map.append("    \"").append(names.get(i)).append("\": \"").append(file).append('"');
                    }
                    SafeTensors.write(dir.resolve(file), part);
                } finally {
                    for (Tensor t : part.values()) t.close();
                }
            }
        }
        if (shards > 1) {
            Files.writeString(dir.resolve("model.safetensors.index.json"),
                    "{\"metadata\": {\"total_size\": 0},\n  \"weight_map\": {\n" + map + "\n  }\n}\n");
        }
    }

    /** Every tensor of {@code weights} {@link #rounded(float[], DType) rounded} to {@code t}, in the same order. */
    public static Map<String, float[]> rounded(Map<String, float[]> weights, DType t) {
        Map<String, float[]> r = new LinkedHashMap<>();
        for (var e : weights.entrySet()) r.put(e.getKey(), rounded(e.getValue(), t));
        return r;
    }

    /** The values rounded to {@code t} (what a 16-bit checkpoint of them holds). */
    public static float[] rounded(float[] a, DType t) {
        float[] r = a.clone();
        for (int i = 0; i < r.length; i++) r[i] = t.round(r[i]);
        return r;
    }
}
