package dev.surpass.model.vae;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * A random diffusers AutoencoderKL written as a folder (config.json + diffusion_pytorch_model.safetensors,
 * attention weights under today's or the legacy names, a few encoder tensors the decoder must
 * skip), and a float64 decoder written independently of the library from diffusers' Decoder:
 * channels-first images, direct convolution loops, GroupNorm, nearest upsampling and softmax
 * attention as their formulas read. {@link Piece}s can be left out of the reference to show that
 * each one moves the output. {@link #withEncoder} adds diffusers' Encoder + quant_conv and
 * {@link #encode} is its float64 forward (Downsample2D's one-sided padding, or a symmetric variant).
 */
public final class VaeFixture {
    /** Parts of the decoder the reference can leave out. */
    public enum Piece { POST_QUANT_CONV, ATTENTION, ATTENTION_SCALE, CONV_SHORTCUT, GROUPS, NORM_AFFINE }

    public final int[] boc;
    public final int layers, groups, latent, out;
    public final boolean postQuant, attention;
    /** Every tensor by its diffusers name (today's attention names), row-major fp32. */
    public final Map<String, float[]> w = new LinkedHashMap<>();
    public final Map<String, long[]> shapes = new LinkedHashMap<>();

    public VaeFixture(int[] boc, int layers, int groups, int latent, int out, boolean postQuant, boolean attention, long seed) {
        this.boc = boc.clone();
        this.layers = layers;
        this.groups = groups;
        this.latent = latent;
        this.out = out;
        this.postQuant = postQuant;
        this.attention = attention;
        Random r = new Random(seed);
        int top = boc[boc.length - 1];
        if (postQuant) conv(r, "post_quant_conv", latent, latent, 1);
        conv(r, "decoder.conv_in", latent, top, 3);
        resnet(r, "decoder.mid_block.resnets.0", top, top);
        resnet(r, "decoder.mid_block.resnets.1", top, top);
        if (attention) {
            String a = "decoder.mid_block.attentions.0";
            norm(r, a + ".group_norm", top);
            for (String n : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) {
                put(r, a + "." + n + ".weight", (n.equals("to_q") || n.equals("to_k") ? 3 : 1) / Math.sqrt(top), top, top); // peaked softmax
                put(r, a + "." + n + ".bias", 0.2, top);
            }
        }
        int prev = top;
        for (int i = 0; i < boc.length; i++) {
            int ch = boc[boc.length - 1 - i];
            for (int j = 0; j <= layers; j++) resnet(r, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? prev : ch, ch);
            if (i < boc.length - 1) conv(r, "decoder.up_blocks." + i + ".upsamplers.0.conv", ch, ch, 3);
            prev = ch;
        }
        norm(r, "decoder.conv_norm_out", boc[0]);
        conv(r, "decoder.conv_out", boc[0], out, 3);
    }

    /** Whether {@link #withEncoder} added the encoder's weights (else the folder holds only a stray encoder.conv_in and quant_conv). */
    public boolean encoder;
    public int inChannels = 3;

    /**
     * Adds random weights for diffusers' Encoder (conv_in, DownEncoderBlock2D × levels with
     * layers_per_block resnets and a downsample conv on all but the last, mid block, conv_norm_out,
     * conv_out to 2·latent) and quant_conv (when postQuant), drawn after the decoder's so those stay as they were.
     */
    public VaeFixture withEncoder(long seed) {
        Random r = new Random(seed * 31 + 7);
        int levels = boc.length, top = boc[levels - 1];
        conv(r, "encoder.conv_in", inChannels, boc[0], 3);
        int prev = boc[0];
        for (int i = 0; i < levels; i++) {
            int ch = boc[i];
            for (int j = 0; j < layers; j++) resnet(r, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? prev : ch, ch);
            if (i < levels - 1) conv(r, "encoder.down_blocks." + i + ".downsamplers.0.conv", ch, ch, 3);
            prev = ch;
        }
        resnet(r, "encoder.mid_block.resnets.0", top, top);
        resnet(r, "encoder.mid_block.resnets.1", top, top);
        if (attention) {
            String a = "encoder.mid_block.attentions.0";
            norm(r, a + ".group_norm", top);
            for (String n : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) {
                put(r, a + "." + n + ".weight", (n.equals("to_q") || n.equals("to_k") ? 3 : 1) / Math.sqrt(top), top, top);
                put(r, a + "." + n + ".bias", 0.2, top);
            }
        }
        norm(r, "encoder.conv_norm_out", top);
        conv(r, "encoder.conv_out", top, 2 * latent, 3);
        if (postQuant) conv(r, "quant_conv", 2 * latent, 2 * latent, 1);
        encoder = true;
        return this;
    }

    /** The tests' tiny VAE: block_out_channels [32, 48], 1 layer per block, 8 groups, 4 latent and 3 image channels. */
    public static VaeFixture tiny(long seed) {
        return new VaeFixture(new int[] {32, 48}, 1, 8, 4, 3, true, true, seed);
    }

    private void put(Random r, String name, double scale, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
        w.put(name, v);
        shapes.put(name, shape);
    }

    private void conv(Random r, String p, int cin, int cout, int k) {
        put(r, p + ".weight", 1 / Math.sqrt(cin * k * k), cout, cin, k, k);
        put(r, p + ".bias", 0.2, cout);
    }

    private void norm(Random r, String p, int c) {
        put(r, p + ".weight", 0.3, c);
        float[] g = w.get(p + ".weight");
        for (int i = 0; i < c; i++) g[i] += 1;
        put(r, p + ".bias", 0.3, c);
    }

    private void resnet(Random r, String p, int cin, int cout) {
        norm(r, p + ".norm1", cin);
        conv(r, p + ".conv1", cin, cout, 3);
        norm(r, p + ".norm2", cout);
        conv(r, p + ".conv2", cout, cout, 3);
        if (cin != cout) conv(r, p + ".conv_shortcut", cin, cout, 1);
    }

    /** config.json as diffusers writes it (encoder fields included). */
    public ObjectNode config() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode c = m.createObjectNode();
        c.put("_class_name", "AutoencoderKL");
        c.put("_diffusers_version", "0.31.0");
        c.put("act_fn", "silu");
        var b = c.putArray("block_out_channels");
        var down = c.putArray("down_block_types");
        var up = c.putArray("up_block_types");
        for (int ch : boc) {
            b.add(ch);
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
        }
        c.put("in_channels", 3);
        c.put("latent_channels", latent);
        c.put("layers_per_block", layers);
        c.put("norm_num_groups", groups);
        c.put("out_channels", out);
        c.put("sample_size", 64);
        c.put("scaling_factor", 0.18215);
        c.put("force_upcast", true);
        c.put("use_post_quant_conv", postQuant);
        c.put("use_quant_conv", postQuant);
        c.put("mid_block_add_attention", attention);
        return c;
    }

    /** Writes the folder: F32 or 16-bit weights, today's or the legacy attention names. */
    public Path write(Path dir, DType dtype, boolean legacyNames) {
        return write(dir, dtype, legacyNames, config());
    }

    public Path write(Path dir, DType dtype, boolean legacyNames, ObjectNode config) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), config.toPrettyString());
            Map<String, Tensor> ts = new LinkedHashMap<>();
            try (Device cpu = Device.cpu()) {
                Random r = new Random(1);
                if (!encoder) { // stray encoder tensors the decoder must skip (and an encode must find incomplete)
                    ts.put("encoder.conv_in.weight", cpu.upload(dtype, noise(r, boc[0] * 3 * 9), boc[0], 3, 3, 3));
                    ts.put("quant_conv.weight", cpu.upload(dtype, noise(r, 4 * latent * latent), 2L * latent, 2L * latent, 1, 1));
                }
                for (var e : w.entrySet()) ts.put(legacyNames ? legacy(e.getKey()) : e.getKey(), cpu.upload(dtype, e.getValue(), shapes.get(e.getKey())));
                SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), ts, Map.of("format", "pt"));
                for (Tensor t : ts.values()) t.close();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static float[] noise(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** The names diffusers saved before its Attention class: query, key, value, proj_attn. */
    static String legacy(String name) {
        return name.replace(".to_q.", ".query.").replace(".to_k.", ".key.").replace(".to_v.", ".value.").replace(".to_out.0.", ".proj_attn.");
    }

    /** The weights rounded to a 16-bit dtype (what a 16-bit file holds). */
    public void roundTo(DType t) {
        for (float[] v : w.values()) for (int i = 0; i < v.length; i++) v[i] = t.round(v[i]);
    }

    // ---- float64 reference ----------------------------------------------------------------------

    /** {@code vae.decode(z).sample} for {@code z [n, latent, h, w]}: {@code [n, out, h·f, w·f]}. */
    public double[] decode(float[] z, int n, int h, int wd) {
        return decode(z, n, h, wd, EnumSet.noneOf(Piece.class));
    }

    public double[] decode(float[] z, int n, int h, int wd, Set<Piece> without) {
        int f = 1 << (boc.length - 1);
        double[] all = new double[n * out * h * f * wd * f];
        for (int s = 0; s < n; s++) {
            double[] x = new double[latent * h * wd];
            for (int i = 0; i < x.length; i++) x[i] = z[s * x.length + i];
            double[] img = decodeOne(x, h, wd, without);
            System.arraycopy(img, 0, all, s * img.length, img.length);
        }
        return all;
    }

    private double[] decodeOne(double[] x, int h, int wd, Set<Piece> without) {
        int top = boc[boc.length - 1];
        int g = without.contains(Piece.GROUPS) ? 1 : groups;
        if (postQuant && !without.contains(Piece.POST_QUANT_CONV)) x = conv(x, "post_quant_conv", latent, latent, h, wd, 1);
        x = conv(x, "decoder.conv_in", latent, top, h, wd, 3);
        x = resnet(x, "decoder.mid_block.resnets.0", top, top, h, wd, g, without);
        if (attention && !without.contains(Piece.ATTENTION)) x = attention(x, "decoder.mid_block.attentions.0", top, h * wd, g, without);
        x = resnet(x, "decoder.mid_block.resnets.1", top, top, h, wd, g, without);
        int prev = top;
        for (int i = 0; i < boc.length; i++) {
            int ch = boc[boc.length - 1 - i];
            for (int j = 0; j <= layers; j++) x = resnet(x, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? prev : ch, ch, h, wd, g, without);
            if (i < boc.length - 1) {
                x = upsample(x, ch, h, wd);
                h *= 2;
                wd *= 2;
                x = conv(x, "decoder.up_blocks." + i + ".upsamplers.0.conv", ch, ch, h, wd, 3);
            }
            prev = ch;
        }
        x = silu(groupNorm(x, "decoder.conv_norm_out", boc[0], h * wd, g, without));
        return conv(x, "decoder.conv_out", boc[0], out, h, wd, 3);
    }

    private double[] resnet(double[] x, String p, int cin, int cout, int h, int wd, int g, Set<Piece> without) {
        double[] y = conv(silu(groupNorm(x, p + ".norm1", cin, h * wd, g, without)), p + ".conv1", cin, cout, h, wd, 3);
        y = conv(silu(groupNorm(y, p + ".norm2", cout, h * wd, g, without)), p + ".conv2", cout, cout, h, wd, 3);
        double[] sc = cin != cout && !without.contains(Piece.CONV_SHORTCUT) ? conv(x, p + ".conv_shortcut", cin, cout, h, wd, 1) : x;
        double[] o = new double[y.length];
        for (int i = 0; i < o.length; i++) o[i] = sc[i % sc.length] + y[i]; // (a left-out shortcut reuses x's channels cyclically)
        return o;
    }

    /** Conv2d, stride 1, padding k/2, channels-first {@code [cin, h, w]} → {@code [cout, h, w]}. */
    private double[] conv(double[] x, String p, int cin, int cout, int h, int wd, int k) {
        float[] wt = w.get(p + ".weight"), b = w.get(p + ".bias");
        int pad = k / 2;
        double[] o = new double[cout * h * wd];
        for (int co = 0; co < cout; co++) {
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < wd; xx++) {
                    double acc = b[co];
                    for (int ci = 0; ci < cin; ci++) {
                        for (int ky = 0; ky < k; ky++) {
                            int sy = y + ky - pad;
                            if (sy < 0 || sy >= h) continue;
                            for (int kx = 0; kx < k; kx++) {
                                int sx = xx + kx - pad;
                                if (sx < 0 || sx >= wd) continue;
                                acc += wt[((co * cin + ci) * k + ky) * k + kx] * x[(ci * h + sy) * wd + sx];
                            }
                        }
                    }
                    o[(co * h + y) * wd + xx] = acc;
                }
            }
        }
        return o;
    }

    /** torch GroupNorm on {@code [c, l]}: per group of c/g channels, mean and biased variance over its (c/g)·l values, eps 1e-6. */
    private double[] groupNorm(double[] x, String p, int c, int l, int g, Set<Piece> without) {
        float[] gw = w.get(p + ".weight"), gb = w.get(p + ".bias");
        boolean affine = !without.contains(Piece.NORM_AFFINE);
        int cg = c / g;
        double[] o = new double[x.length];
        for (int gi = 0; gi < g; gi++) {
            double mean = 0, var = 0;
            for (int i = gi * cg * l; i < (gi + 1) * cg * l; i++) mean += x[i];
            mean /= (double) cg * l;
            for (int i = gi * cg * l; i < (gi + 1) * cg * l; i++) var += (x[i] - mean) * (x[i] - mean);
            var /= (double) cg * l;
            double rstd = 1 / Math.sqrt(var + 1e-6);
            for (int i = gi * cg * l; i < (gi + 1) * cg * l; i++) {
                int ch = i / l;
                o[i] = affine ? (x[i] - mean) * rstd * gw[ch] + gb[ch] : (x[i] - mean) * rstd;
            }
        }
        return o;
    }

    private static double[] silu(double[] x) {
        double[] o = new double[x.length];
        for (int i = 0; i < x.length; i++) o[i] = x[i] / (1 + Math.exp(-x[i]));
        return o;
    }

    /** F.interpolate(scale_factor=2, mode="nearest"): output (y, x) reads input (y/2, x/2). */
    private static double[] upsample(double[] x, int c, int h, int wd) {
        double[] o = new double[c * 4 * h * wd];
        for (int ch = 0; ch < c; ch++) {
            for (int y = 0; y < 2 * h; y++) for (int xx = 0; xx < 2 * wd; xx++) o[(ch * 2 * h + y) * 2 * wd + xx] = x[(ch * h + y / 2) * wd + xx / 2];
        }
        return o;
    }

    /** Attention with group_norm, one head of c channels over l positions, scale c^-1/2, residual. */
    private double[] attention(double[] x, String a, int c, int l, int g, Set<Piece> without) {
        double[] hn = groupNorm(x, a + ".group_norm", c, l, g, without);
        double[][] q = proj(hn, a + ".to_q", c, l), k = proj(hn, a + ".to_k", c, l), v = proj(hn, a + ".to_v", c, l);
        double scale = without.contains(Piece.ATTENTION_SCALE) ? 1 : 1 / Math.sqrt(c);
        double[][] o = new double[l][c];
        for (int i = 0; i < l; i++) {
            double[] s = new double[l];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < l; j++) {
                double d = 0;
                for (int ch = 0; ch < c; ch++) d += q[i][ch] * k[j][ch];
                s[j] = d * scale;
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j < l; j++) sum += s[j] = Math.exp(s[j] - max);
            for (int j = 0; j < l; j++) for (int ch = 0; ch < c; ch++) o[i][ch] += s[j] / sum * v[j][ch];
        }
        float[] ow = w.get(a + ".to_out.0.weight"), ob = w.get(a + ".to_out.0.bias");
        double[] r = new double[x.length];
        for (int i = 0; i < l; i++) {
            for (int co = 0; co < c; co++) {
                double acc = ob[co];
                for (int ch = 0; ch < c; ch++) acc += ow[co * c + ch] * o[i][ch];
                r[co * l + i] = acc + x[co * l + i];
            }
        }
        return r;
    }

    /** A linear over channels of channels-first {@code [c, l]} → per position {@code [l][c]}. */
    private double[][] proj(double[] x, String p, int c, int l) {
        float[] wt = w.get(p + ".weight"), b = w.get(p + ".bias");
        double[][] o = new double[l][c];
        for (int i = 0; i < l; i++) {
            for (int co = 0; co < c; co++) {
                double acc = b[co];
                for (int ch = 0; ch < c; ch++) acc += wt[co * c + ch] * x[ch * l + i];
                o[i][co] = acc;
            }
        }
        return o;
    }

    /**
     * {@code vae.encode(x).latent_dist.parameters} for images {@code x [n, in, h, w]}: {@code [n, 2·latent, h/f, w/f]}
     * (mean, then logvar). With {@code symmetricPad} the downsample convs pad 1 on every side instead of diffusers'
     * F.pad(x, (0, 1, 0, 1)) with padding 0 (a wrong variant, to show the test tells them apart).
     */
    public double[] encode(float[] img, int n, int h, int wd, boolean symmetricPad) {
        int f = 1 << (boc.length - 1), per = inChannels * h * wd;
        double[] all = new double[n * 2 * latent * (h / f) * (wd / f)];
        Set<Piece> none = EnumSet.noneOf(Piece.class);
        for (int s = 0; s < n; s++) {
            double[] x = new double[per];
            for (int i = 0; i < per; i++) x[i] = img[s * per + i];
            int hh = h, ww = wd, top = boc[boc.length - 1];
            x = conv(x, "encoder.conv_in", inChannels, boc[0], hh, ww, 3);
            int prev = boc[0];
            for (int i = 0; i < boc.length; i++) {
                int ch = boc[i];
                for (int j = 0; j < layers; j++) x = resnet(x, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? prev : ch, ch, hh, ww, groups, none);
                if (i < boc.length - 1) {
                    x = downsample(x, "encoder.down_blocks." + i + ".downsamplers.0.conv", ch, hh, ww, symmetricPad);
                    hh /= 2;
                    ww /= 2;
                }
                prev = ch;
            }
            x = resnet(x, "encoder.mid_block.resnets.0", top, top, hh, ww, groups, none);
            if (attention) x = attention(x, "encoder.mid_block.attentions.0", top, hh * ww, groups, none);
            x = resnet(x, "encoder.mid_block.resnets.1", top, top, hh, ww, groups, none);
            x = silu(groupNorm(x, "encoder.conv_norm_out", top, hh * ww, groups, none));
            x = conv(x, "encoder.conv_out", top, 2 * latent, hh, ww, 3);
            if (postQuant) x = conv(x, "quant_conv", 2 * latent, 2 * latent, hh, ww, 1);
            System.arraycopy(x, 0, all, s * x.length, x.length);
        }
        return all;
    }

    /**
     * Downsample2D of the encoder: x padded with one zero column on the right and one zero row at the bottom, then a
     * 3×3 conv with stride 2 and no padding ({@code [c, h, w]} → {@code [c, h/2, w/2]} for even h, w); or, symmetric,
     * padding 1 on every side.
     */
    private double[] downsample(double[] x, String p, int c, int h, int wd, boolean symmetric) {
        float[] wt = w.get(p + ".weight"), b = w.get(p + ".bias");
        int ph = h + 1, pw = wd + 1; // the padded image's size (asymmetric)
        int ho = symmetric ? (h + 2 - 3) / 2 + 1 : (ph - 3) / 2 + 1, wo = symmetric ? (wd + 2 - 3) / 2 + 1 : (pw - 3) / 2 + 1;
        int off = symmetric ? -1 : 0;
        double[] o = new double[c * ho * wo];
        for (int co = 0; co < c; co++) {
            for (int y = 0; y < ho; y++) {
                for (int xx = 0; xx < wo; xx++) {
                    double acc = b[co];
                    for (int ci = 0; ci < c; ci++) {
                        for (int ky = 0; ky < 3; ky++) {
                            int sy = 2 * y + ky + off;
                            if (sy < 0 || sy >= h) continue; // the padding row (or rows) is zero
                            for (int kx = 0; kx < 3; kx++) {
                                int sx = 2 * xx + kx + off;
                                if (sx < 0 || sx >= wd) continue;
                                acc += wt[((co * c + ci) * 3 + ky) * 3 + kx] * x[(ci * h + sy) * wd + sx];
                            }
                        }
                    }
                    o[(co * ho + y) * wo + xx] = acc;
                }
            }
        }
        return o;
    }

    /** Seeded images in [-1, 1] (uniform), like preprocessed pictures. */
    public static float[] images(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    /** Seeded latents like a sampler's output (standard normal, so not zeros nor a constant). */
    public static float[] latents(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }
}
