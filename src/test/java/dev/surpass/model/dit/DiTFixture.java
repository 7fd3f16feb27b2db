package dev.surpass.model.dit;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A random DiT written to safetensors in the official naming, and a float64 forward pass written
 * independently of the library from DiT's {@code models.py} (plain loops, no library op).
 */
public final class DiTFixture {
    public final DiTConfig cfg;
    /** Every tensor by its official (unprefixed) name, row-major fp32. */
    public final Map<String, float[]> w = new LinkedHashMap<>();
    public final Map<String, long[]> shapes = new LinkedHashMap<>();
    /**
     * diffusers' numerics for {@link #forward}: timestep frequencies over 127 instead of 128, the
     * given eps before the MLP, and a block's own embedders ({@code blocks.i.t_embedder.*},
     * {@code blocks.i.y_embedder.*}) when the fixture has them.
     */
    public boolean diffusers;
    public double mlpEps = 1e-6;

    public DiTFixture(DiTConfig cfg, long seed) {
        this.cfg = cfg;
        Random r = new Random(seed);
        int d = cfg.hiddenSize(), c = cfg.inChannels(), p = cfg.patchSize(), m = cfg.mlpHidden();
        put(r, "x_embedder.proj.weight", 1 / Math.sqrt(c * p * p), d, c, p, p);
        put(r, "x_embedder.proj.bias", 0.1, d);
        put(r, "t_embedder.mlp.0.weight", 1 / Math.sqrt(256), d, 256);
        put(r, "t_embedder.mlp.0.bias", 0.1, d);
        put(r, "t_embedder.mlp.2.weight", 1 / Math.sqrt(d), d, d);
        put(r, "t_embedder.mlp.2.bias", 0.1, d);
        put(r, "y_embedder.embedding_table.weight", 0.5, cfg.labelRows(), d);
        for (int i = 0; i < cfg.depth(); i++) {
            String b = "blocks." + i + ".";
            put(r, b + "attn.qkv.weight", 1.5 / Math.sqrt(d), 3 * d, d);
            put(r, b + "attn.qkv.bias", 0.1, 3 * d);
            put(r, b + "attn.proj.weight", 1 / Math.sqrt(d), d, d);
            put(r, b + "attn.proj.bias", 0.1, d);
            put(r, b + "mlp.fc1.weight", 1 / Math.sqrt(d), m, d);
            put(r, b + "mlp.fc1.bias", 0.1, m);
            put(r, b + "mlp.fc2.weight", 1 / Math.sqrt(m), d, m);
            put(r, b + "mlp.fc2.bias", 0.1, d);
            put(r, b + "adaLN_modulation.1.weight", 0.5 / Math.sqrt(d), 6 * d, d);
            put(r, b + "adaLN_modulation.1.bias", 0.3, 6 * d);
        }
        put(r, "final_layer.adaLN_modulation.1.weight", 0.5 / Math.sqrt(d), 2 * d, d);
        put(r, "final_layer.adaLN_modulation.1.bias", 0.3, 2 * d);
        int fo = p * p * cfg.outChannels();
        put(r, "final_layer.linear.weight", 1 / Math.sqrt(d), fo, d);
        put(r, "final_layer.linear.bias", 0.1, fo);
        // pos_embed as the official code stores it: the fixed table (computed here from the formula).
        w.put("pos_embed", posEmbed64(d, cfg.gridSize()));
        shapes.put("pos_embed", new long[] {1, cfg.tokens(), d});
    }

    /** The tiny config of the tests: depth 2, hidden 64, 2 heads of 32 (Attention takes head dims 32, 64, 72, …), patch 2, 8×8, 4 channels, learn_sigma, 10 classes. */
    public static DiTConfig tiny() {
        return new DiTConfig(8, 2, 4, 64, 2, 2, 256, 10, 11, true);
    }

    private void put(Random r, String name, double scale, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            float x = (float) ((r.nextDouble() * 2 - 1) * scale);
            v[i] = x == 0f ? (float) scale / 2 : x;
        }
        w.put(name, v);
        shapes.put(name, shape);
    }

    /**
     * Writes the state dict: every name under {@code prefix} ("" or "ema."), in {@code dtype};
     * pos_embed only when {@code withPos}; {@code metadata} into the header (may be null).
     */
    public Path write(Path file, String prefix, DType dtype, boolean withPos, Map<String, String> metadata) {
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (Device cpu = Device.cpu()) {
            try {
                for (Map.Entry<String, float[]> e : w.entrySet()) {
                    if (!withPos && e.getKey().equals("pos_embed")) continue;
                    ts.put(prefix + e.getKey(), cpu.upload(dtype, e.getValue(), shapes.get(e.getKey())));
                }
                SafeTensors.write(file, ts, metadata == null ? Map.of() : metadata);
            } finally {
                for (Tensor t : ts.values()) t.close();
            }
        }
        return file;
    }

    /** Gives blocks 1.. their own random timestep and label embedders (a diffusers model trained or initialised as diffusers does). */
    public void addBlockEmbedders(long seed) {
        Random r = new Random(seed);
        int d = cfg.hiddenSize();
        for (int i = 1; i < cfg.depth(); i++) {
            String b = "blocks." + i + ".";
            put(r, b + "t_embedder.mlp.0.weight", 1 / Math.sqrt(256), d, 256);
            put(r, b + "t_embedder.mlp.0.bias", 0.1, d);
            put(r, b + "t_embedder.mlp.2.weight", 1 / Math.sqrt(d), d, d);
            put(r, b + "t_embedder.mlp.2.bias", 0.1, d);
            put(r, b + "y_embedder.embedding_table.weight", 0.5, cfg.labelRows(), d);
        }
    }

    /**
     * Writes the model as diffusers' {@code convert_dit_to_diffusers.py} leaves it: {@code dir/config.json}
     * (class DiTTransformer2DModel, plus {@code extraConfig} entries, e.g. {@code "norm_eps": 0.25})
     * and {@code dir/diffusion_pytorch_model.safetensors}, q/k/v split, the embedders copied into
     * every block (or each block's own when {@link #addBlockEmbedders} ran), no pos_embed.
     */
    public Path writeDiffusers(Path dir, DType dtype, String extraConfig) throws java.io.IOException {
        java.nio.file.Files.createDirectories(dir);
        int d = cfg.hiddenSize();
        Map<String, float[]> out = new LinkedHashMap<>();
        Map<String, long[]> sh = new LinkedHashMap<>();
        java.util.function.BiConsumer<String, String> copy = (to, from) -> { // a Linear's weight and bias (a table: its weight)
            for (String part : from.endsWith("embedding_table") ? new String[] {".weight"} : new String[] {".weight", ".bias"}) {
                out.put(to + part, w.get(from + part));
                sh.put(to + part, shapes.get(from + part));
            }
        };
        copy.accept("pos_embed.proj", "x_embedder.proj");
        for (int i = 0; i < cfg.depth(); i++) {
            String t = "transformer_blocks." + i + ".", b = "blocks." + i + ".";
            String own = w.containsKey(b + "t_embedder.mlp.0.weight") ? b : "";
            copy.accept(t + "norm1.emb.timestep_embedder.linear_1", own + "t_embedder.mlp.0");
            copy.accept(t + "norm1.emb.timestep_embedder.linear_2", own + "t_embedder.mlp.2");
            copy.accept(t + "norm1.emb.class_embedder.embedding_table", own + "y_embedder.embedding_table");
            copy.accept(t + "norm1.linear", b + "adaLN_modulation.1");
            float[] qkv = w.get(b + "attn.qkv.weight"), qkvB = w.get(b + "attn.qkv.bias");
            String[] qn = {"to_q", "to_k", "to_v"};
            for (int j = 0; j < 3; j++) {
                out.put(t + "attn1." + qn[j] + ".weight", java.util.Arrays.copyOfRange(qkv, j * d * d, (j + 1) * d * d));
                sh.put(t + "attn1." + qn[j] + ".weight", new long[] {d, d});
                out.put(t + "attn1." + qn[j] + ".bias", java.util.Arrays.copyOfRange(qkvB, j * d, (j + 1) * d));
                sh.put(t + "attn1." + qn[j] + ".bias", new long[] {d});
            }
            copy.accept(t + "attn1.to_out.0", b + "attn.proj");
            copy.accept(t + "ff.net.0.proj", b + "mlp.fc1");
            copy.accept(t + "ff.net.2", b + "mlp.fc2");
        }
        copy.accept("proj_out_1", "final_layer.adaLN_modulation.1");
        copy.accept("proj_out_2", "final_layer.linear");
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (Device cpu = Device.cpu()) {
            try {
                for (Map.Entry<String, float[]> e : out.entrySet()) ts.put(e.getKey(), cpu.upload(dtype, e.getValue(), sh.get(e.getKey())));
                SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), ts, Map.of("format", "pt"));
            } finally {
                for (Tensor t : ts.values()) t.close();
            }
        }
        String config = "{\"_class_name\": \"DiTTransformer2DModel\", \"_diffusers_version\": \"0.35.0\", \"activation_fn\": \"gelu-approximate\", "
                + "\"attention_bias\": true, \"attention_head_dim\": " + cfg.headDim() + ", \"dropout\": 0.0, \"in_channels\": " + cfg.inChannels()
                + ", \"norm_elementwise_affine\": false, \"norm_num_groups\": 32, \"norm_type\": \"ada_norm_zero\", \"num_attention_heads\": "
                + cfg.numHeads() + ", \"num_embeds_ada_norm\": " + cfg.numClasses() + ", \"num_layers\": " + cfg.depth() + ", \"out_channels\": "
                + cfg.outChannels() + ", \"patch_size\": " + cfg.patchSize() + ", \"sample_size\": " + cfg.inputSize()
                + ", \"upcast_attention\": false" + (extraConfig == null || extraConfig.isEmpty() ? "" : ", " + extraConfig) + "}";
        java.nio.file.Files.writeString(dir.resolve("config.json"), config);
        return dir;
    }

    /** Writes F32, no prefix, with pos_embed, and num_heads in the metadata. */
    public Path write(Path file) {
        return write(file, "", DType.F32, true, Map.of("num_heads", Integer.toString(cfg.numHeads())));
    }

    /** Rounds every weight to {@code dtype} (what a 16-bit checkpoint holds). */
    public void roundTo(DType dtype) {
        for (float[] v : w.values()) for (int i = 0; i < v.length; i++) v[i] = dtype.round(v[i]);
    }

    // ---- the float64 reference ------------------------------------------------------------------

    static float[] posEmbed64(int dim, int g) {
        int e = dim / 2, q = e / 2;
        float[] out = new float[g * g * dim];
        for (int i = 0; i < g; i++) {
            for (int j = 0; j < g; j++) {
                for (int k = 0; k < q; k++) {
                    double om = Math.pow(10000, -(double) k / q);
                    int row = (i * g + j) * dim;
                    out[row + k] = (float) Math.sin(j * om);
                    out[row + q + k] = (float) Math.cos(j * om);
                    out[row + e + k] = (float) Math.sin(i * om);
                    out[row + e + q + k] = (float) Math.cos(i * om);
                }
            }
        }
        return out;
    }

    private double[] linear(double[] x, int rows, String name, int out, int in) {
        float[] wt = w.get(name + ".weight"), b = w.get(name + ".bias");
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int k = 0; k < in; k++) s += x[r * in + k] * wt[o * in + k];
                y[r * out + o] = s;
            }
        }
        return y;
    }

    private static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }

    private static double geluTanh(double v) {
        return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
    }

    /** SiLU(c), c = t_embedder(timestep embedding: cos first, exponent over 128, or 127 in diffusers) + y_embedder[y], with the embedders under {@code pre}. */
    private double[] conditioning(int n, float[] tIn, int[] y, String pre) {
        int d = cfg.hiddenSize();
        double div = diffusers ? 127.0 : 128.0;
        double[] tf = new double[n * 256];
        for (int b = 0; b < n; b++)
            for (int k = 0; k < 128; k++) {
                double f = Math.exp(-Math.log(10000) * k / div);
                tf[b * 256 + k] = Math.cos(tIn[b] * f);
                tf[b * 256 + 128 + k] = Math.sin(tIn[b] * f);
            }
        double[] t1 = linear(tf, n, pre + "t_embedder.mlp.0", d, 256);
        for (int i = 0; i < t1.length; i++) t1[i] = silu(t1[i]);
        double[] cv = linear(t1, n, pre + "t_embedder.mlp.2", d, d);
        float[] table = w.get(pre + "y_embedder.embedding_table.weight");
        for (int b = 0; b < n; b++) for (int o = 0; o < d; o++) cv[b * d + o] = silu(cv[b * d + o] + table[y[b] * d + o]);
        return cv;
    }

    private static double[] modulate(double[] x, int n, int t, int d, double[] mod, int k, int shift, int scale) {
        return modulate(x, n, t, d, mod, k, shift, scale, 1e-6);
    }

    /** LN (no affine, eps as given; 1e-6 in DiT) of each token row, then x·(1 + scale) + shift with sample n's chunks. */
    private static double[] modulate(double[] x, int n, int t, int d, double[] mod, int k, int shift, int scale, double eps) {
        double[] out = new double[x.length];
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < t; i++) {
                int row = (b * t + i) * d;
                double mean = 0, var = 0;
                for (int c = 0; c < d; c++) mean += x[row + c];
                mean /= d;
                for (int c = 0; c < d; c++) var += (x[row + c] - mean) * (x[row + c] - mean);
                var /= d;
                for (int c = 0; c < d; c++) {
                    double ln = (x[row + c] - mean) / Math.sqrt(var + eps);
                    out[row + c] = ln * (1 + mod[b * k * d + scale * d + c]) + mod[b * k * d + shift * d + c];
                }
            }
        }
        return out;
    }

    /** DiT.forward in float64: x [N, C, H, W], t [N], y [N] → [N, outC, H, W]. */
    public double[] forward(float[] x, int n, float[] tIn, int[] y) {
        int d = cfg.hiddenSize(), c = cfg.inChannels(), p = cfg.patchSize(), g = cfg.gridSize(), tk = cfg.tokens();
        int s = cfg.inputSize(), heads = cfg.numHeads(), hd = cfg.headDim(), m = cfg.mlpHidden(), oc = cfg.outChannels();
        // x_embedder: Conv2d(k = s = p), tokens row-major, weight [D, C, p, p].
        float[] xw = w.get("x_embedder.proj.weight"), xb = w.get("x_embedder.proj.bias"), pos = w.get("pos_embed");
        double[] h = new double[n * tk * d];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < g; i++)
                for (int j = 0; j < g; j++)
                    for (int o = 0; o < d; o++) {
                        double acc = xb[o];
                        for (int ch = 0; ch < c; ch++)
                            for (int ph = 0; ph < p; ph++)
                                for (int pw = 0; pw < p; pw++)
                                    acc += xw[((o * c + ch) * p + ph) * p + pw] * (double) x[((b * c + ch) * s + i * p + ph) * s + j * p + pw];
                        h[(b * tk + i * g + j) * d + o] = acc + pos[(i * g + j) * d + o];
                    }
        double[] cv = conditioning(n, tIn, y, "");
        for (int l = 0; l < cfg.depth(); l++) {
            String pre = "blocks." + l + ".";
            double[] cl = w.containsKey(pre + "t_embedder.mlp.0.weight") ? conditioning(n, tIn, y, pre) : cv;
            double[] mod = linear(cl, n, pre + "adaLN_modulation.1", 6 * d, d);
            double[] a = modulate(h, n, tk, d, mod, 6, 0, 1);
            double[] qkv = linear(a, n * tk, pre + "attn.qkv", 3 * d, d);
            double[] att = new double[n * tk * d];
            double sc = 1 / Math.sqrt(hd);
            for (int b = 0; b < n; b++)
                for (int hh = 0; hh < heads; hh++)
                    for (int i = 0; i < tk; i++) {
                        double[] sv = new double[tk];
                        double mx = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < tk; j++) {
                            double dot = 0;
                            for (int e = 0; e < hd; e++) {
                                dot += qkv[(b * tk + i) * 3 * d + hh * hd + e] * qkv[(b * tk + j) * 3 * d + d + hh * hd + e];
                            }
                            sv[j] = dot * sc;
                            mx = Math.max(mx, sv[j]);
                        }
                        double z = 0;
                        for (int j = 0; j < tk; j++) z += (sv[j] = Math.exp(sv[j] - mx));
                        for (int e = 0; e < hd; e++) {
                            double o = 0;
                            for (int j = 0; j < tk; j++) o += sv[j] / z * qkv[(b * tk + j) * 3 * d + 2 * d + hh * hd + e];
                            att[(b * tk + i) * d + hh * hd + e] = o;
                        }
                    }
            double[] pr = linear(att, n * tk, pre + "attn.proj", d, d);
            for (int b = 0; b < n; b++) for (int i = 0; i < tk; i++) for (int o = 0; o < d; o++) {
                h[(b * tk + i) * d + o] += mod[b * 6 * d + 2 * d + o] * pr[(b * tk + i) * d + o];
            }
            double[] mm = modulate(h, n, tk, d, mod, 6, 3, 4, mlpEps);
            double[] f1 = linear(mm, n * tk, pre + "mlp.fc1", m, d);
            for (int i = 0; i < f1.length; i++) f1[i] = geluTanh(f1[i]);
            double[] f2 = linear(f1, n * tk, pre + "mlp.fc2", d, m);
            for (int b = 0; b < n; b++) for (int i = 0; i < tk; i++) for (int o = 0; o < d; o++) {
                h[(b * tk + i) * d + o] += mod[b * 6 * d + 5 * d + o] * f2[(b * tk + i) * d + o];
            }
        }
        double[] fm = linear(cv, n, "final_layer.adaLN_modulation.1", 2 * d, d);
        double[] hn = modulate(h, n, tk, d, fm, 2, 0, 1);
        double[] o = linear(hn, n * tk, "final_layer.linear", p * p * oc, d);
        // unpatchify: reshape (N, h, w, p, p, C) → einsum nhwpqc → nchpwq.
        double[] img = new double[n * oc * s * s];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < g; i++)
                for (int j = 0; j < g; j++)
                    for (int ph = 0; ph < p; ph++)
                        for (int pw = 0; pw < p; pw++)
                            for (int ch = 0; ch < oc; ch++) {
                                img[((b * oc + ch) * s + i * p + ph) * s + j * p + pw] = o[(b * tk + i * g + j) * p * p * oc + (ph * p + pw) * oc + ch];
                            }
        return img;
    }

    /** Relative L2 error of {@code got} against {@code ref}. */
    public static double relL2(float[] got, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    public static float[] randomLatents(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    public List<String> names() {
        return new ArrayList<>(w.keySet());
    }
}
