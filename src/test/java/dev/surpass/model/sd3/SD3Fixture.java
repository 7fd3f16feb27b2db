package dev.surpass.model.sd3;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
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
 * A tiny random SD3Transformer2DModel under diffusers' tensor names, its config.json, and an
 * independent float64 forward written from diffusers' source (transformer_sd3.py, attention.py's
 * JointTransformerBlock, JointAttnProcessor2_0, normalization.py, embeddings.py). The reference
 * keeps torch's fp32 rounding only where the model's own definition has it: the timestep
 * frequencies and phases, the position grid, and the stored position table.
 *
 * <p>{@link Variant}s each break one convention, so a test can check that the comparison would
 * see it.
 */
final class SD3Fixture extends dev.surpass.model.dit.JointRef {
    /** Deliberate departures from diffusers, each expected to move the output far beyond the tolerance. */
    enum Variant {
        /**
         * text tokens before the image tokens in the joint attention: NOT a departure (softmax
         * attention without a mask or positions is invariant to the order of the keys, so only
         * the split back matters); a test shows it changes nothing
         */
        TEXT_FIRST,
        /** each stream attending to its own tokens only, not the joint sequence */
        SEPARATE_STREAMS,
        /** the text stream's q and k normalized with the image stream's norm_q / norm_k weights */
        SHARED_QK_NORMS,
        /** AdaLayerNormContinuous read as (shift, scale) instead of diffusers' (scale, shift) */
        NORM_OUT_SHIFT_SCALE,
        /** the position table cropped at its top-left corner instead of its centre */
        CROP_TOP_LEFT,
        /** the feed-forward with exact (erf) GELU instead of the tanh approximation */
        GELU_ERF,
        /** attn2 of a dual block on the attention-updated stream's norm instead of the block input's */
        DUAL_AFTER_ATTN
    }

    final int layers, in, out, p, sample, g, joint, pool;
    final int[] dual;
    final boolean qk;
    final Map<String, long[]> shapes = new LinkedHashMap<>();
    /** The fp32 position table {@code [G·G, D]} that the file stores. */
    final float[] pos;
    private final Random r;

    private SD3Fixture(long seed, int heads, int hd, int layers, int in, int out, int p, int sample, int g, int joint, int pool, int[] dual,
                       boolean qk) {
        super(heads, hd);
        this.r = new Random(seed);
        this.layers = layers;
        this.in = in;
        this.out = out;
        this.p = p;
        this.sample = sample;
        this.g = g;
        this.joint = joint;
        this.pool = pool;
        this.dual = dual;
        this.qk = qk;
        conv("pos_embed.proj", in, d, p);
        lin("time_text_embed.timestep_embedder.linear_1", 256, d, 1);
        lin("time_text_embed.timestep_embedder.linear_2", d, d, 1);
        lin("time_text_embed.text_embedder.linear_1", pool, d, 1);
        lin("time_text_embed.text_embedder.linear_2", d, d, 1);
        lin("context_embedder", joint, d, 1);
        for (int i = 0; i < layers; i++) {
            String b = "transformer_blocks." + i;
            boolean pre = i == layers - 1, du = isDual(i);
            lin(b + ".norm1.linear", d, (du ? 9 : 6) * d, 0.5);
            lin(b + ".norm1_context.linear", d, (pre ? 2 : 6) * d, 0.5);
            for (String n : new String[] {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0"}) lin(b + ".attn." + n, d, d, 1);
            if (!pre) lin(b + ".attn.to_add_out", d, d, 1);
            if (qk) for (String n : new String[] {"norm_q", "norm_k", "norm_added_q", "norm_added_k"}) normWeight(b + ".attn." + n + ".weight");
            if (du) {
                for (String n : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) lin(b + ".attn2." + n, d, d, 1);
                if (qk) for (String n : new String[] {"norm_q", "norm_k"}) normWeight(b + ".attn2." + n + ".weight");
            }
            lin(b + ".ff.net.0.proj", d, 4 * d, 1);
            lin(b + ".ff.net.2", 4 * d, d, 1);
            if (!pre) {
                lin(b + ".ff_context.net.0.proj", d, 4 * d, 1);
                lin(b + ".ff_context.net.2", 4 * d, d, 1);
            }
        }
        lin("norm_out.linear", d, 2 * d, 0.5);
        lin("proj_out", d, p * p * out, 1);
        pos = table();
    }

    /** SD3-medium-like: no qk_norm, no dual attention; 3 blocks of 2 heads × 32, patch 2, table 12² (base 4). */
    static SD3Fixture sd3(long seed) {
        return new SD3Fixture(seed, 2, 32, 3, 4, 4, 2, 8, 12, 24, 20, new int[0], false);
    }

    /** SD3.5-large-like: qk_norm rms_norm. */
    static SD3Fixture sd35Large(long seed) {
        return new SD3Fixture(seed, 2, 32, 3, 4, 4, 2, 8, 12, 24, 20, new int[0], true);
    }

    /** SD3.5-medium-like: qk_norm rms_norm, dual attention in blocks 0 and 1 of 3; out_channels 8 (≠ in). */
    static SD3Fixture sd35Medium(long seed) {
        return new SD3Fixture(seed, 2, 32, 3, 4, 8, 2, 8, 12, 24, 20, new int[] {0, 1}, true);
    }

    boolean isDual(int i) {
        for (int x : dual) if (x == i) return true;
        return false;
    }

    private float[] gauss(int n, double s) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (s * r.nextGaussian());
        return v;
    }

    private void put(String name, float[] v, long... shape) {
        w.put(name, v);
        shapes.put(name, shape);
    }

    private void lin(String p, int cin, int cout, double gain) {
        put(p + ".weight", gauss(cout * cin, gain / Math.sqrt(cin)), cout, cin);
        put(p + ".bias", gauss(cout, 0.1), cout);
    }

    private void conv(String p, int cin, int cout, int k) {
        put(p + ".weight", gauss(cout * cin * k * k, 1 / Math.sqrt(cin * k * k)), cout, cin, k, k);
        put(p + ".bias", gauss(cout, 0.1), cout);
    }

    private void normWeight(String name) {
        float[] v = gauss(hd, 0.2);
        for (int i = 0; i < hd; i++) v[i] += 1;
        put(name, v, hd);
    }

    /** get_2d_sincos_pos_embed(D, G, base_size = sample / p): fp32 positions k / (G / base), float64 sin-cos, rounded to fp32. */
    private float[] table() {
        int e = d / 2, q = e / 2;
        float step = (float) ((double) g / (sample / p));
        float[] t = new float[g * g * d];
        for (int i = 0; i < g; i++) {
            for (int j = 0; j < g; j++) {
                double pi = (float) i / step, pj = (float) j / step;
                for (int k = 0; k < q; k++) {
                    double om = Math.pow(10000.0, -(double) k / q);
                    int o = (i * g + j) * d;
                    t[o + k] = (float) Math.sin(pj * om);       // the column (w) half first
                    t[o + q + k] = (float) Math.cos(pj * om);
                    t[o + e + k] = (float) Math.sin(pi * om);
                    t[o + e + q + k] = (float) Math.cos(pi * om);
                }
            }
        }
        return t;
    }

    ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("_class_name", "SD3Transformer2DModel");
        c.put("_diffusers_version", "0.31.0");
        c.put("sample_size", sample);
        c.put("patch_size", p);
        c.put("in_channels", in);
        c.put("num_layers", layers);
        c.put("attention_head_dim", hd);
        c.put("num_attention_heads", heads);
        c.put("joint_attention_dim", joint);
        c.put("caption_projection_dim", d);
        c.put("pooled_projection_dim", pool);
        c.put("out_channels", out);
        c.put("pos_embed_max_size", g);
        ArrayNode a = c.putArray("dual_attention_layers");
        for (int x : dual) a.add(x);
        if (qk) c.put("qk_norm", "rms_norm");
        else c.putNull("qk_norm");
        return c;
    }

    Path write(Path dir, DType dtype, boolean withPos) {
        return write(dir, dtype, withPos, config());
    }

    Path write(Path dir, DType dtype, boolean withPos, ObjectNode config) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), config.toPrettyString());
            Map<String, Tensor> ts = new LinkedHashMap<>();
            try (Device cpu = Device.cpu()) {
                if (withPos) ts.put("pos_embed.pos_embed", cpu.upload(DType.F32, pos, 1, (long) g * g, d));
                for (var e : w.entrySet()) ts.put(e.getKey(), cpu.upload(dtype, e.getValue(), shapes.get(e.getKey())));
                SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), ts, Map.of("format", "pt"));
                for (Tensor x : ts.values()) x.close();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The weights rounded to a 16-bit dtype (what a 16-bit file holds). */
    void roundTo(DType dt) {
        for (float[] v : w.values()) for (int i = 0; i < v.length; i++) v[i] = dt.round(v[i]);
    }

    static float[] noise(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    // ---- float64 reference ----------------------------------------------------------------------

    double[] forward(float[] x, int n, int h, int wd, float[] ts, float[] ctx, int s, float[] pooled) {
        return forward(x, n, h, wd, ts, ctx, s, pooled, EnumSet.noneOf(Variant.class));
    }

    /** {@code transformer(x [n, in, h, wd], ts (n or 1), ctx [n, s, joint], pooled [n, pool]).sample} in float64, {@code [n, out, h, wd]}. */
    double[] forward(float[] x, int n, int h, int wd, float[] ts, float[] ctx, int s, float[] pooled, Set<Variant> v) {
        return forward(x, n, h, wd, ts, ctx, s, pooled, v, Set.of());
    }

    /** As above with diffusers' {@code skip_layers}: the listed blocks are not run. */
    double[] forward(float[] x, int n, int h, int wd, float[] ts, float[] ctx, int s, float[] pooled, Set<Variant> v, Set<Integer> skip) {
        int hp = h / p, wp = wd / p, t = hp * wp;
        double[] result = new double[n * out * h * wd];
        for (int b = 0; b < n; b++) {
            // PatchEmbed: the stride-p conv, then the centre crop of the table
            double[] hs = new double[t * d];
            int top = v.contains(Variant.CROP_TOP_LEFT) ? 0 : (g - hp) / 2, left = v.contains(Variant.CROP_TOP_LEFT) ? 0 : (g - wp) / 2;
            float[] cw = w.get("pos_embed.proj.weight"), cb = w.get("pos_embed.proj.bias");
            for (int i = 0; i < hp; i++) {
                for (int j = 0; j < wp; j++) {
                    for (int o = 0; o < d; o++) {
                        double acc = cb[o];
                        for (int c = 0; c < in; c++) {
                            for (int a = 0; a < p; a++) {
                                for (int e = 0; e < p; e++) {
                                    acc += (double) cw[((o * in + c) * p + a) * p + e] * x[((b * in + c) * h + i * p + a) * wd + j * p + e];
                                }
                            }
                        }
                        hs[(i * wp + j) * d + o] = acc + pos[((top + i) * g + left + j) * d + o];
                    }
                }
            }
            // conditioning
            float tt = ts[ts.length == 1 ? 0 : b];
            double[] tp = new double[256];
            for (int k = 0; k < 128; k++) {
                float f = (float) Math.exp(((float) -Math.log(10000) * k) / 128f); // torch: fp32 exponent, fp32 exp
                float arg = tt * f;
                tp[k] = Math.cos(arg); // flip_sin_to_cos: cos first
                tp[128 + k] = Math.sin(arg);
            }
            double[] temb = linear(silu(linear(tp, 1, "time_text_embed.timestep_embedder.linear_1")), 1, "time_text_embed.timestep_embedder.linear_2");
            double[] pd = new double[pool];
            for (int k = 0; k < pool; k++) pd[k] = pooled[b * pool + k];
            double[] pe = linear(silu(linear(pd, 1, "time_text_embed.text_embedder.linear_1")), 1, "time_text_embed.text_embedder.linear_2");
            for (int k = 0; k < d; k++) temb[k] += pe[k];
            double[] cond = silu(temb);
            double[] cd = new double[s * joint];
            for (int k = 0; k < s * joint; k++) cd[k] = ctx[b * s * joint + k];
            double[] enc = linear(cd, s, "context_embedder");
            for (int i = 0; i < layers; i++) {
                if (skip.contains(i)) continue;
                double[][] r2 = block(i, hs, t, enc, s, cond, v);
                hs = r2[0];
                enc = r2[1];
            }
            double[] mod = linear(cond, 1, "norm_out.linear");
            boolean swap = v.contains(Variant.NORM_OUT_SHIFT_SCALE);
            double[] y = linear(modulate(hs, t, mod, swap ? 0 : 1, swap ? 1 : 0), t, "proj_out");
            // unpatchify: "nhwpqc->nchpwq"
            for (int i = 0; i < hp; i++) {
                for (int j = 0; j < wp; j++) {
                    for (int a = 0; a < p; a++) {
                        for (int e = 0; e < p; e++) {
                            for (int c = 0; c < out; c++) {
                                result[((b * out + c) * h + i * p + a) * wd + j * p + e] = y[(i * wp + j) * p * p * out + (a * p + e) * out + c];
                            }
                        }
                    }
                }
            }
        }
        return result;
    }

    private double[][] block(int i, double[] hs, int t, double[] enc, int s, double[] cond, Set<Variant> v) {
        String b = "transformer_blocks." + i;
        boolean pre = i == layers - 1, du = isDual(i);
        double[] mod = linear(cond, 1, b + ".norm1.linear");
        double[] cmod = linear(cond, 1, b + ".norm1_context.linear");
        double[] nh = modulate(hs, t, mod, 0, 1);
        double[] nh2 = du ? modulate(hs, t, mod, 6, 7) : null;
        double[] ne = pre ? modulate(enc, s, cmod, 1, 0) : modulate(enc, s, cmod, 0, 1);
        double[][] a = jointAttention(nh, t, ne, s, b + ".attn", !pre, v);
        double[] x = gated(hs, a[0], mod, 2);
        if (du) {
            if (v.contains(Variant.DUAL_AFTER_ATTN)) nh2 = modulate(x, t, mod, 6, 7);
            x = gated(x, selfAttention(nh2, t, b + ".attn2"), mod, 8);
        }
        x = gated(x, ff(modulate(x, t, mod, 3, 4), t, b + ".ff", v), mod, 5);
        if (pre) return new double[][] {x, null};
        double[] c = gated(enc, a[1], cmod, 2);
        c = gated(c, ff(modulate(c, s, cmod, 3, 4), s, b + ".ff_context", v), cmod, 5);
        return new double[][] {x, c};
    }

    private double[][] jointAttention(double[] nh, int t, double[] ne, int s, String p, boolean addOut, Set<Variant> variants) {
        boolean textFirst = variants.contains(Variant.TEXT_FIRST);
        double[] q = proj(nh, t, p + ".to_q", p + ".norm_q"), k = proj(nh, t, p + ".to_k", p + ".norm_k"), vv = proj(nh, t, p + ".to_v", null);
        boolean shared = variants.contains(Variant.SHARED_QK_NORMS);
        double[] cq = proj(ne, s, p + ".add_q_proj", p + (shared ? ".norm_q" : ".norm_added_q"));
        double[] ck = proj(ne, s, p + ".add_k_proj", p + (shared ? ".norm_k" : ".norm_added_k"));
        double[] cv = proj(ne, s, p + ".add_v_proj", null);
        if (variants.contains(Variant.SEPARATE_STREAMS)) {
            double[] oi = attend(q, k, vv, t), oc = attend(cq, ck, cv, s);
            return new double[][] {linear(oi, t, p + ".to_out.0"), addOut ? linear(oc, s, p + ".to_add_out") : null};
        }
        double[] o = attend(textFirst ? cat(cq, q) : cat(q, cq), textFirst ? cat(ck, k) : cat(k, ck), textFirst ? cat(cv, vv) : cat(vv, cv), t + s);
        int imgFrom = textFirst ? s : 0, txtFrom = textFirst ? 0 : t;
        double[] oi = java.util.Arrays.copyOfRange(o, imgFrom * d, (imgFrom + t) * d), oc = java.util.Arrays.copyOfRange(o, txtFrom * d, (txtFrom + s) * d);
        return new double[][] {linear(oi, t, p + ".to_out.0"), addOut ? linear(oc, s, p + ".to_add_out") : null};
    }

    private double[] selfAttention(double[] nh, int t, String p) {
        double[] o = attend(proj(nh, t, p + ".to_q", p + ".norm_q"), proj(nh, t, p + ".to_k", p + ".norm_k"), proj(nh, t, p + ".to_v", null), t);
        return linear(o, t, p + ".to_out.0");
    }

    /** A projection {@code [rows, D]}, RMS-normalized per head (eps 1e-6, weight) when qk_norm is on and {@code norm} named. */
    @Override
    protected double[] proj(double[] x, int rows, String p, String norm) {
        return super.proj(x, rows, p, qk ? norm : null); // SD3-medium has no q/k norms
    }

    private double[] ff(double[] x, int rows, String p, Set<Variant> v) {
        double[] h = linear(x, rows, p + ".net.0.proj");
        for (int i = 0; i < h.length; i++) {
            double z = h[i];
            h[i] = v.contains(Variant.GELU_ERF) ? 0.5 * z * (1 + erf(z / Math.sqrt(2)))
                    : 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
        }
        return linear(h, rows, p + ".net.2");
    }





    /** erf to ~1e-15 (Abramowitz–Stegun 7.1.26 is too coarse): the series below 3, the continued-fraction tail above. */
    private static double erf(double z) {
        double a = Math.abs(z);
        double r0;
        if (a < 3) {
            double sum = a, term = a;
            for (int n = 1; n < 200; n++) {
                term *= -a * a / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            r0 = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (a + f);
            r0 = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
        }
        return z < 0 ? -r0 : r0;
    }
}
