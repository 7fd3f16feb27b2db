package dev.surpass.model.pixart;

import dev.surpass.DType;
import dev.surpass.model.decoder.RefMath;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A tiny random {@code PixArtTransformer2DModel} in diffusers' key names, and a float64 forward
 * transcribed from diffusers' {@code pixart_transformer_2d.py} / {@code BasicTransformerBlock}
 * (ada_norm_single) / {@code embeddings.py}: the text mask as a (1 − mask)·(−10000) bias on the
 * cross-attention scores, the position grid {@code arange(n)/(n/base)/interpolation_scale}, and so on.
 */
public final class PixArtFixture {
    public final int heads, headDim, layers, caption, sample, patch = 2, in = 4, out = 8;
    public final boolean extra;
    public final Double interp;
    public final Map<String, float[]> w = new LinkedHashMap<>();
    public final Map<String, long[]> shapes = new LinkedHashMap<>();

    public PixArtFixture(long seed, int heads, int headDim, int layers, int caption, int sample, boolean extra, Double interp) {
        this.heads = heads;
        this.headDim = headDim;
        this.layers = layers;
        this.caption = caption;
        this.sample = sample;
        this.extra = extra;
        this.interp = interp;
        Random r = new Random(seed);
        int d = heads * headDim;
        put(r, "pos_embed.proj.weight", 1 / Math.sqrt(in * patch * patch), d, in, patch, patch);
        put(r, "pos_embed.proj.bias", 0.1, d);
        lin(r, "adaln_single.emb.timestep_embedder.linear_1", 256, d, 1);
        lin(r, "adaln_single.emb.timestep_embedder.linear_2", d, d, 1);
        if (extra) {
            for (String n : new String[] {"resolution_embedder", "aspect_ratio_embedder"}) {
                lin(r, "adaln_single.emb." + n + ".linear_1", 256, d / 3, 1);
                lin(r, "adaln_single.emb." + n + ".linear_2", d / 3, d / 3, 1);
            }
        }
        lin(r, "adaln_single.linear", d, 6 * d, 0.5);
        lin(r, "caption_projection.linear_1", caption, d, 1);
        lin(r, "caption_projection.linear_2", d, d, 1);
        for (int i = 0; i < layers; i++) {
            String b = "transformer_blocks." + i + ".";
            put(r, b + "scale_shift_table", 1 / Math.sqrt(d), 6, d);
            for (String a : new String[] {"attn1", "attn2"}) {
                for (String n : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) lin(r, b + a + "." + n, d, d, 1);
            }
            lin(r, b + "ff.net.0.proj", d, 4 * d, 1);
            lin(r, b + "ff.net.2", 4 * d, d, 1);
        }
        put(r, "scale_shift_table", 1 / Math.sqrt(d), 2, d);
        lin(r, "proj_out", d, patch * patch * out, 1);
    }

    public int dim() {
        return heads * headDim;
    }

    public String config() {
        return "{\"_class_name\": \"PixArtTransformer2DModel\", \"activation_fn\": \"gelu-approximate\", \"attention_bias\": true, "
                + "\"attention_head_dim\": " + headDim + ", \"caption_channels\": " + caption + ", \"cross_attention_dim\": " + dim() + ", "
                + "\"in_channels\": " + in + ", \"norm_elementwise_affine\": false, \"norm_eps\": 1e-6, \"norm_type\": \"ada_norm_single\", "
                + "\"num_attention_heads\": " + heads + ", \"num_embeds_ada_norm\": 1000, \"num_layers\": " + layers + ", \"out_channels\": " + out + ", "
                + "\"patch_size\": " + patch + ", \"sample_size\": " + sample + ", \"use_additional_conditions\": " + extra
                + (interp == null ? "" : ", \"interpolation_scale\": " + interp) + "}";
    }

    /** Writes config.json and the weights (in {@code dtype}; {@code shards > 1}: diffusers' sharded layout with its index). */
    public Path write(Path dir, DType dtype, int shards) {
        try {
            Map<String, RefMath.Entry> e = new LinkedHashMap<>();
            for (String k : w.keySet()) e.put(k, new RefMath.Entry(w.get(k), shapes.get(k)));
            RefMath.writeCheckpoint(dir, config(), e, dtype, shards);
            if (shards > 1) Files.move(dir.resolve("model.safetensors.index.json"), dir.resolve("diffusion_pytorch_model.safetensors.index.json"));
            return dir;
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    /** The weights rounded to {@code t} (what a 16-bit file of them holds). */
    public void roundTo(DType t) {
        w.replaceAll((k, v) -> RefMath.rounded(v, t));
    }

    private void put(Random r, String name, double scale, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
        w.put(name, v);
        shapes.put(name, shape);
    }

    private void lin(Random r, String p, int i, int o, double scale) {
        put(r, p + ".weight", scale / Math.sqrt(i), o, i);
        put(r, p + ".bias", 0.1, o);
    }

    // ---------------------------------------------------------------------------------------------
    // The float64 forward

    /** {@code x} [B, in, H, W], {@code text} [B, S, caption] row-major; returns [B, out, H, W]. */
    public double[] forward(float[] x, int b, int hh, int ww, float[] t, float[] text, int s, int[][] mask, float[][] res, float[] ar) {
        int d = dim(), p = patch, gh = hh / p, gw = ww / p, tk = gh * gw;
        double sc = interp != null ? interp : Math.max(sample / 64, 1);
        double[] pos = pos(d, gh, gw, sample / p, sc);
        double[] result = new double[b * out * hh * ww];
        for (int n = 0; n < b; n++) {
            // patch embedding + positions
            double[][] h = new double[tk][d];
            float[] pw = w.get("pos_embed.proj.weight"), pb = w.get("pos_embed.proj.bias");
            for (int i = 0; i < gh; i++) {
                for (int j = 0; j < gw; j++) {
                    double[] row = h[i * gw + j];
                    for (int o = 0; o < d; o++) {
                        double acc = pb[o];
                        for (int c = 0; c < in; c++) {
                            for (int a = 0; a < p; a++) {
                                for (int q = 0; q < p; q++) {
                                    acc += pw[((o * in + c) * p + a) * p + q] * (double) x[((n * in + c) * hh + i * p + a) * ww + j * p + q];
                                }
                            }
                        }
                        row[o] = acc + pos[(i * gw + j) * d + o];
                    }
                }
            }
            // embedded timestep (+ size conditions)
            double[] e = mlp(freq(t[n]), "adaln_single.emb.timestep_embedder");
            if (extra) {
                double[] rh = mlp(freq(res[n][0]), "adaln_single.emb.resolution_embedder");
                double[] rw = mlp(freq(res[n][1]), "adaln_single.emb.resolution_embedder");
                double[] ra = mlp(freq(ar[n]), "adaln_single.emb.aspect_ratio_embedder");
                int se = d / 3;
                for (int k = 0; k < se; k++) {
                    e[k] += rh[k];
                    e[se + k] += rw[k];
                    e[2 * se + k] += ra[k];
                }
            }
            double[] m = linear(silu(e), "adaln_single.linear");
            // captions (all tokens; the mask acts on the scores)
            double[][] c = new double[s][];
            for (int j = 0; j < s; j++) {
                double[] row = new double[caption];
                for (int k = 0; k < caption; k++) row[k] = text[(n * s + j) * caption + k];
                c[j] = linear(gelu(linear(row, "caption_projection.linear_1")), "caption_projection.linear_2");
            }
            double[] bias = new double[s];
            for (int j = 0; j < s; j++) bias[j] = mask == null ? 0 : (1 - mask[n][j]) * -10000.0;
            for (int l = 0; l < layers; l++) {
                String pre = "transformer_blocks." + l + ".";
                float[] table = w.get(pre + "scale_shift_table");
                double[][] mod = new double[6][d];
                for (int k = 0; k < 6; k++) for (int j = 0; j < d; j++) mod[k][j] = table[k * d + j] + m[k * d + j];
                double[][] a = new double[tk][];
                for (int i = 0; i < tk; i++) a[i] = modulate(h[i], mod[0], mod[1]);
                double[][] o1 = attention(a, a, pre + "attn1", null);
                for (int i = 0; i < tk; i++) for (int j = 0; j < d; j++) h[i][j] += mod[2][j] * o1[i][j];
                double[][] o2 = attention(h, c, pre + "attn2", bias);
                for (int i = 0; i < tk; i++) for (int j = 0; j < d; j++) h[i][j] += o2[i][j];
                for (int i = 0; i < tk; i++) {
                    double[] f = linear(gelu(linear(modulate(h[i], mod[3], mod[4]), pre + "ff.net.0.proj")), pre + "ff.net.2");
                    for (int j = 0; j < d; j++) h[i][j] += mod[5][j] * f[j];
                }
            }
            float[] ft = w.get("scale_shift_table");
            double[] shift = new double[d], scale = new double[d];
            for (int j = 0; j < d; j++) {
                shift[j] = ft[j] + e[j];
                scale[j] = ft[d + j] + e[j];
            }
            for (int i = 0; i < gh; i++) {
                for (int j = 0; j < gw; j++) {
                    double[] o = linear(modulate(h[i * gw + j], shift, scale), "proj_out");     // (ph, pw, C) order
                    for (int a = 0; a < p; a++) {
                        for (int q = 0; q < p; q++) {
                            for (int ch = 0; ch < out; ch++) {
                                result[((n * out + ch) * hh + i * p + a) * ww + j * p + q] = o[(a * p + q) * out + ch];
                            }
                        }
                    }
                }
            }
        }
        return result;
    }

    /** get_2d_sincos_pos_embed on the interpolated grid, all in float64 (the positions rounded to fp32 as torch's arange math). */
    static double[] pos(int d, int gh, int gw, int base, double scale) {
        double[] out = new double[gh * gw * d];
        int e = d / 2, q = e / 2;
        for (int i = 0; i < gh; i++) {
            for (int j = 0; j < gw; j++) {
                double y = ((float) i / (float) ((double) gh / base)) / (float) scale, x = ((float) j / (float) ((double) gw / base)) / (float) scale;
                for (int k = 0; k < q; k++) {
                    double om = 1 / Math.pow(10000, k / (double) q);
                    int r = (i * gw + j) * d;
                    out[r + k] = Math.sin(x * om);
                    out[r + q + k] = Math.cos(x * om);
                    out[r + e + k] = Math.sin(y * om);
                    out[r + e + q + k] = Math.cos(y * om);
                }
            }
        }
        return out;
    }

    private double[][] attention(double[][] xq, double[][] xkv, String pre, double[] bias) {
        int d = dim(), nq = xq.length, nk = xkv.length;
        double[][] q = new double[nq][], k = new double[nk][], v = new double[nk][];
        for (int i = 0; i < nq; i++) q[i] = linear(xq[i], pre + ".to_q");
        for (int j = 0; j < nk; j++) {
            k[j] = linear(xkv[j], pre + ".to_k");
            v[j] = linear(xkv[j], pre + ".to_v");
        }
        double[][] o = new double[nq][];
        for (int i = 0; i < nq; i++) {
            double[] ctx = new double[d];
            for (int hh = 0; hh < heads; hh++) {
                double[] sc = new double[nk];
                double mx = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    double dot = 0;
                    for (int c = 0; c < headDim; c++) dot += q[i][hh * headDim + c] * k[j][hh * headDim + c];
                    sc[j] = dot / Math.sqrt(headDim) + (bias == null ? 0 : bias[j]);
                    mx = Math.max(mx, sc[j]);
                }
                double sum = 0;
                for (int j = 0; j < nk; j++) sum += sc[j] = Math.exp(sc[j] - mx);
                for (int j = 0; j < nk; j++) for (int c = 0; c < headDim; c++) ctx[hh * headDim + c] += sc[j] / sum * v[j][hh * headDim + c];
            }
            o[i] = linear(ctx, pre + ".to_out.0");
        }
        return o;
    }

    private double[] modulate(double[] x, double[] shift, double[] scale) {
        int d = x.length;
        double mean = 0, var = 0;
        for (double v : x) mean += v;
        mean /= d;
        for (double v : x) var += (v - mean) * (v - mean);
        var /= d;
        double inv = 1 / Math.sqrt(var + 1e-6);
        double[] r = new double[d];
        for (int j = 0; j < d; j++) r[j] = (x[j] - mean) * inv * (1 + scale[j]) + shift[j];
        return r;
    }

    private double[] mlp(double[] f, String p) {
        return linear(silu(linear(f, p + ".linear_1")), p + ".linear_2");
    }

    /** Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) in float64. */
    static double[] freq(double t) {
        double[] f = new double[256];
        for (int k = 0; k < 128; k++) {
            double a = t * Math.exp(-Math.log(10000) * k / 128.0);
            f[k] = Math.cos(a);
            f[128 + k] = Math.sin(a);
        }
        return f;
    }

    private double[] linear(double[] x, String p) {
        float[] wt = w.get(p + ".weight"), bs = w.get(p + ".bias");
        int o = bs.length, i = x.length;
        double[] r = new double[o];
        for (int a = 0; a < o; a++) {
            double acc = bs[a];
            for (int c = 0; c < i; c++) acc += wt[a * i + c] * x[c];
            r[a] = acc;
        }
        return r;
    }

    private static double[] silu(double[] x) {
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) r[i] = x[i] / (1 + Math.exp(-x[i]));
        return r;
    }

    private static double[] gelu(double[] x) {
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) r[i] = RefMath.geluTanh(x[i]);
        return r;
    }
}
