package dev.surpass.model.flux;

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
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * A tiny random FluxTransformer2DModel under diffusers' tensor names, its config.json, and an
 * independent float64 forward written from diffusers' source (transformer_flux.py's
 * FluxTransformer2DModel, FluxTransformerBlock, FluxSingleTransformerBlock, FluxAttnProcessor,
 * FluxPosEmbed; embeddings.py's get_1d_rotary_pos_embed / apply_rotary_emb /
 * CombinedTimestep(Guidance)TextProjEmbeddings; normalization.py). It keeps torch's fp32 rounding
 * only where the model's definition has it: {@code t · 1000}, the timestep frequencies and phases;
 * the rotary angles are float64 (as diffusers computes them) and not rounded.
 *
 * <p>{@link Variant}s each break one convention, so a test can check that the comparison would see it.
 */
final class FluxFixture extends dev.surpass.model.dit.JointRef {
    /** Deliberate departures from diffusers, each expected to move the output far beyond the tolerance. */
    enum Variant {
        /** the rotary ids concatenated image first while the tokens are text first */
        IDS_IMAGE_FIRST,
        /** rotate-half pairs (i, i + d/2) instead of diffusers' interleaved pairs (2i, 2i + 1) */
        ROTATE_HALF,
        /** no rotary embedding at all */
        NO_ROPE,
        /** AdaLayerNormContinuous read as (shift, scale) instead of diffusers' (scale, shift) */
        NORM_OUT_SHIFT_SCALE,
        /** the single block's proj_out on cat[mlp, attn] instead of cat[attn, mlp] */
        SINGLE_MLP_FIRST,
        /** the text stream's q and k normalized with the image stream's norm_q / norm_k weights */
        SHARED_QK_NORMS,
        /** the guidance embedded without the ×1000 */
        GUIDANCE_UNSCALED
    }

    final int layers, singleLayers, in, out, joint, pool;
    final int[] axes;
    final boolean guidance;
    final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Random r;

    FluxFixture(long seed, int heads, int hd, int layers, int singleLayers, int in, int out, int joint, int pool, boolean guidance, int[] axes) {
        super(heads, hd);
        this.r = new Random(seed);
        this.layers = layers;
        this.singleLayers = singleLayers;
        this.in = in;
        this.out = out;
        this.joint = joint;
        this.pool = pool;
        this.guidance = guidance;
        this.axes = axes.clone();
        lin("x_embedder", in, d, 1);
        lin("time_text_embed.timestep_embedder.linear_1", 256, d, 1);
        lin("time_text_embed.timestep_embedder.linear_2", d, d, 1);
        if (guidance) {
            lin("time_text_embed.guidance_embedder.linear_1", 256, d, 1);
            lin("time_text_embed.guidance_embedder.linear_2", d, d, 1);
        }
        lin("time_text_embed.text_embedder.linear_1", pool, d, 1);
        lin("time_text_embed.text_embedder.linear_2", d, d, 1);
        lin("context_embedder", joint, d, 1);
        for (int i = 0; i < layers; i++) {
            String b = "transformer_blocks." + i;
            lin(b + ".norm1.linear", d, 6 * d, 0.5);
            lin(b + ".norm1_context.linear", d, 6 * d, 0.5);
            for (String n : new String[] {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"}) {
                lin(b + ".attn." + n, d, d, 1);
            }
            for (String n : new String[] {"norm_q", "norm_k", "norm_added_q", "norm_added_k"}) normWeight(b + ".attn." + n + ".weight");
            lin(b + ".ff.net.0.proj", d, 4 * d, 1);
            lin(b + ".ff.net.2", 4 * d, d, 1);
            lin(b + ".ff_context.net.0.proj", d, 4 * d, 1);
            lin(b + ".ff_context.net.2", 4 * d, d, 1);
        }
        for (int i = 0; i < singleLayers; i++) {
            String b = "single_transformer_blocks." + i;
            lin(b + ".norm.linear", d, 3 * d, 0.5);
            lin(b + ".proj_mlp", d, 4 * d, 1);
            lin(b + ".proj_out", 5 * d, d, 1);
            for (String n : new String[] {"to_q", "to_k", "to_v"}) lin(b + ".attn." + n, d, d, 1);
            for (String n : new String[] {"norm_q", "norm_k"}) normWeight(b + ".attn." + n + ".weight");
        }
        lin("norm_out.linear", d, 2 * d, 0.5);
        lin("proj_out", d, out, 1);
    }

    /** The same weights read by a model of fewer blocks (the first {@code layers} double and {@code singleLayers} single ones). */
    FluxFixture truncated(int layers, int singleLayers) {
        return new FluxFixture(this, layers, singleLayers);
    }

    private FluxFixture(FluxFixture f, int layers, int singleLayers) {
        super(f.heads, f.hd);
        this.r = null;
        this.layers = layers;
        this.singleLayers = singleLayers;
        this.in = f.in;
        this.out = f.out;
        this.joint = f.joint;
        this.pool = f.pool;
        this.guidance = f.guidance;
        this.axes = f.axes;
        w.putAll(f.w);
        shapes.putAll(f.shapes);
    }

    /** FLUX.1-dev-like: guidance embedder; 2 double + 2 single blocks of 2 heads × 64, rope axes [8, 28, 28]; out_channels 8 ≠ in 12. */
    static FluxFixture dev(long seed) {
        return new FluxFixture(seed, 2, 64, 2, 2, 12, 8, 24, 20, true, new int[] {8, 28, 28});
    }

    /** FLUX.1-schnell-like: no guidance embedder; out_channels = in_channels. */
    static FluxFixture schnell(long seed) {
        return new FluxFixture(seed, 2, 64, 2, 2, 12, 12, 24, 20, false, new int[] {8, 28, 28});
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

    private void normWeight(String name) {
        float[] v = gauss(hd, 0.2);
        for (int i = 0; i < hd; i++) v[i] += 1;
        put(name, v, hd);
    }

    ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("_class_name", "FluxTransformer2DModel");
        c.put("_diffusers_version", "0.30.0.dev0");
        c.put("patch_size", 1);
        c.put("in_channels", in);
        if (out == in) c.putNull("out_channels");
        else c.put("out_channels", out);
        c.put("num_layers", layers);
        c.put("num_single_layers", singleLayers);
        c.put("attention_head_dim", hd);
        c.put("num_attention_heads", heads);
        c.put("joint_attention_dim", joint);
        c.put("pooled_projection_dim", pool);
        c.put("guidance_embeds", guidance);
        ArrayNode a = c.putArray("axes_dims_rope");
        for (int x : axes) a.add(x);
        return c;
    }

    Path write(Path dir, DType dtype) {
        return write(dir, dtype, config());
    }

    Path write(Path dir, DType dtype, ObjectNode config) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), config.toPrettyString());
            Map<String, Tensor> ts = new LinkedHashMap<>();
            try (Device cpu = Device.cpu()) {
                for (var e : w.entrySet()) ts.put(e.getKey(), cpu.upload(dtype, e.getValue(), shapes.get(e.getKey())));
                SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), ts, Map.of("format", "pt"));
                for (Tensor x : ts.values()) x.close();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The same weights in Black Forest Labs' original single-file layout (what diffusers'
     * convert_flux_transformer_checkpoint_to_diffusers reads): q, k, v fused into {@code qkv}, the single blocks'
     * q, k, v, proj_mlp into {@code linear1}, norm_out's rows back in (shift, scale) order; names prefixed by
     * {@code prefix} ("" or ComfyUI's "model.diffusion_model.").
     */
    Path writeOriginal(Path file, DType dtype, String prefix) {
        Map<String, float[]> o = new LinkedHashMap<>();
        Map<String, long[]> sh = new LinkedHashMap<>();
        java.util.function.BiConsumer<String, String> ren = (from, to) -> {
            for (String leaf : new String[] {".weight", ".bias"}) {
                o.put(to + leaf, w.get(from + leaf));
                sh.put(to + leaf, shapes.get(from + leaf));
            }
        };
        java.util.function.BiConsumer<String[], String> fuse = (froms, to) -> {
            for (String leaf : new String[] {".weight", ".bias"}) {
                int n = 0, rows = 0;
                for (String f : froms) {
                    n += w.get(f + leaf).length;
                    rows += (int) shapes.get(f + leaf)[0];
                }
                float[] v = new float[n];
                int at = 0;
                for (String f : froms) {
                    System.arraycopy(w.get(f + leaf), 0, v, at, w.get(f + leaf).length);
                    at += w.get(f + leaf).length;
                }
                o.put(to + leaf, v);
                sh.put(to + leaf, leaf.equals(".bias") ? new long[] {rows} : new long[] {rows, d});
            }
        };
        java.util.function.BiConsumer<String, String> scale = (from, to) -> {
            o.put(to + ".scale", w.get(from + ".weight"));
            sh.put(to + ".scale", shapes.get(from + ".weight"));
        };
        ren.accept("x_embedder", "img_in");
        ren.accept("context_embedder", "txt_in");
        ren.accept("time_text_embed.timestep_embedder.linear_1", "time_in.in_layer");
        ren.accept("time_text_embed.timestep_embedder.linear_2", "time_in.out_layer");
        if (guidance) {
            ren.accept("time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer");
            ren.accept("time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer");
        }
        ren.accept("time_text_embed.text_embedder.linear_1", "vector_in.in_layer");
        ren.accept("time_text_embed.text_embedder.linear_2", "vector_in.out_layer");
        for (int i = 0; i < layers; i++) {
            String b = "transformer_blocks." + i + ".", t = "double_blocks." + i + ".";
            ren.accept(b + "norm1.linear", t + "img_mod.lin");
            ren.accept(b + "norm1_context.linear", t + "txt_mod.lin");
            fuse.accept(new String[] {b + "attn.to_q", b + "attn.to_k", b + "attn.to_v"}, t + "img_attn.qkv");
            fuse.accept(new String[] {b + "attn.add_q_proj", b + "attn.add_k_proj", b + "attn.add_v_proj"}, t + "txt_attn.qkv");
            scale.accept(b + "attn.norm_q", t + "img_attn.norm.query_norm");
            scale.accept(b + "attn.norm_k", t + "img_attn.norm.key_norm");
            scale.accept(b + "attn.norm_added_q", t + "txt_attn.norm.query_norm");
            scale.accept(b + "attn.norm_added_k", t + "txt_attn.norm.key_norm");
            ren.accept(b + "attn.to_out.0", t + "img_attn.proj");
            ren.accept(b + "attn.to_add_out", t + "txt_attn.proj");
            ren.accept(b + "ff.net.0.proj", t + "img_mlp.0");
            ren.accept(b + "ff.net.2", t + "img_mlp.2");
            ren.accept(b + "ff_context.net.0.proj", t + "txt_mlp.0");
            ren.accept(b + "ff_context.net.2", t + "txt_mlp.2");
        }
        for (int i = 0; i < singleLayers; i++) {
            String b = "single_transformer_blocks." + i + ".", t = "single_blocks." + i + ".";
            ren.accept(b + "norm.linear", t + "modulation.lin");
            fuse.accept(new String[] {b + "attn.to_q", b + "attn.to_k", b + "attn.to_v", b + "proj_mlp"}, t + "linear1");
            scale.accept(b + "attn.norm_q", t + "norm.query_norm");
            scale.accept(b + "attn.norm_k", t + "norm.key_norm");
            ren.accept(b + "proj_out", t + "linear2");
        }
        ren.accept("proj_out", "final_layer.linear");
        // diffusers' (scale, shift) rows back to the original (shift, scale)
        float[] nw = w.get("norm_out.linear.weight"), nb = w.get("norm_out.linear.bias");
        float[] sw = new float[nw.length], sb = new float[nb.length];
        System.arraycopy(nw, d * d, sw, 0, d * d);
        System.arraycopy(nw, 0, sw, d * d, d * d);
        System.arraycopy(nb, d, sb, 0, d);
        System.arraycopy(nb, 0, sb, d, d);
        o.put("final_layer.adaLN_modulation.1.weight", sw);
        sh.put("final_layer.adaLN_modulation.1.weight", new long[] {2L * d, d});
        o.put("final_layer.adaLN_modulation.1.bias", sb);
        sh.put("final_layer.adaLN_modulation.1.bias", new long[] {2L * d});
        try {
            Files.createDirectories(file.getParent());
            Map<String, Tensor> ts = new LinkedHashMap<>();
            try (Device cpu = Device.cpu()) {
                for (var e : o.entrySet()) ts.put(prefix + e.getKey(), cpu.upload(dtype, e.getValue(), sh.get(e.getKey())));
                SafeTensors.write(file, ts, Map.of("format", "pt"));
                for (Tensor x : ts.values()) x.close();
            }
            return file;
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

    /** FluxPipeline's ids: text tokens all (0, 0, 0) but here (0, k mod 3, k) to exercise them; image tokens (0, row, col) of an {@code h × w} grid. */
    static float[] imageIds(int h, int w) {
        float[] ids = new float[h * w * 3];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                ids[(i * w + j) * 3 + 1] = i;
                ids[(i * w + j) * 3 + 2] = j;
            }
        }
        return ids;
    }

    static float[] textIds(int s) {
        float[] ids = new float[s * 3];
        for (int k = 0; k < s; k++) {
            ids[k * 3] = k % 2;
            ids[k * 3 + 1] = k % 3;
            ids[k * 3 + 2] = k;
        }
        return ids;
    }

    // ---- float64 reference ----------------------------------------------------------------------

    /**
     * {@code transformer(x [n, t, in], ctx [n, s, joint], pooled [n, pool], ts (n or 1), img_ids [t·3],
     * txt_ids [s·3], guidance (n or 1, or null)).sample} in float64, {@code [n, t, out]}.
     */
    double[] forward(float[] x, int n, int t, float[] ctx, int s, float[] pooled, float[] ts, float[] imgIds, float[] txtIds, float[] g,
                     Set<Variant> v) {
        double[] result = new double[n * t * out];
        int nt = s + t;
        // FluxPosEmbed on cat(txt_ids, img_ids) (or the departure's order)
        float[] ids = v.contains(Variant.IDS_IMAGE_FIRST) ? catF(imgIds, txtIds) : catF(txtIds, imgIds);
        double[][] cs = rope(ids, nt);
        for (int b = 0; b < n; b++) {
            double[] xs = new double[t * in];
            for (int k = 0; k < t * in; k++) xs[k] = x[b * t * in + k];
            double[] hs = linear(xs, t, "x_embedder");
            double[] temb = embed(ts[ts.length == 1 ? 0 : b] * 1000f, "time_text_embed.timestep_embedder");
            if (guidance) {
                float gg = g[g.length == 1 ? 0 : b];
                double[] ge = embed(v.contains(Variant.GUIDANCE_UNSCALED) ? gg : gg * 1000f, "time_text_embed.guidance_embedder");
                for (int k = 0; k < d; k++) temb[k] += ge[k];
            }
            double[] pd = new double[pool];
            for (int k = 0; k < pool; k++) pd[k] = pooled[b * pool + k];
            double[] pe = linear(silu(linear(pd, 1, "time_text_embed.text_embedder.linear_1")), 1, "time_text_embed.text_embedder.linear_2");
            for (int k = 0; k < d; k++) temb[k] += pe[k];
            double[] cond = silu(temb);
            double[] cd = new double[s * joint];
            for (int k = 0; k < s * joint; k++) cd[k] = ctx[b * s * joint + k];
            double[] enc = linear(cd, s, "context_embedder");
            for (int i = 0; i < layers; i++) {
                double[][] r2 = doubleBlock(i, hs, t, enc, s, cond, cs, v);
                hs = r2[0];
                enc = r2[1];
            }
            for (int i = 0; i < singleLayers; i++) {
                double[] h = cat(enc, hs);                         // diffusers cats [text, image] in every single block
                h = singleBlock(i, h, nt, cond, cs, v);
                enc = Arrays.copyOfRange(h, 0, s * d);
                hs = Arrays.copyOfRange(h, s * d, nt * d);
            }
            double[] mod = linear(cond, 1, "norm_out.linear");
            boolean swap = v.contains(Variant.NORM_OUT_SHIFT_SCALE);
            double[] y = linear(modulate(hs, t, mod, swap ? 0 : 1, swap ? 1 : 0), t, "proj_out");
            System.arraycopy(y, 0, result, b * t * out, t * out);
        }
        return result;
    }

    /** TimestepEmbedding(Timesteps(256, flip_sin_to_cos, shift 0)(tt)): fp32 frequencies and phases as torch, then linear_1, SiLU, linear_2. */
    private double[] embed(float tt, String p) {
        double[] tp = new double[256];
        for (int k = 0; k < 128; k++) {
            float f = (float) Math.exp(((float) -Math.log(10000) * k) / 128f);
            float arg = tt * f;
            tp[k] = Math.cos(arg); // flip_sin_to_cos: cos first
            tp[128 + k] = Math.sin(arg);
        }
        return linear(silu(linear(tp, 1, p + ".linear_1")), 1, p + ".linear_2");
    }

    /** cos and sin {@code [nt, hd]}: per axis, ω_i = theta^(−2i/dim), repeated twice (interleaved). */
    private double[][] rope(float[] ids, int nt) {
        double[] cos = new double[nt * hd], sin = new double[nt * hd];
        for (int tk = 0; tk < nt; tk++) {
            int off = 0;
            for (int a = 0; a < axes.length; a++) {
                for (int i = 0; i < axes[a] / 2; i++) {
                    double ang = ids[tk * axes.length + a] * Math.pow(10000.0, -2.0 * i / axes[a]);
                    cos[tk * hd + off + 2 * i] = cos[tk * hd + off + 2 * i + 1] = Math.cos(ang);
                    sin[tk * hd + off + 2 * i] = sin[tk * hd + off + 2 * i + 1] = Math.sin(ang);
                }
                off += axes[a];
            }
        }
        return new double[][] {cos, sin};
    }

    /** apply_rotary_emb(use_real_unbind_dim=-1) on {@code x [nt, H·hd]}: {@code x·cos + rot(x)·sin} with interleaved pairs. */
    private double[] rotary(double[] x, int nt, double[][] cs, Set<Variant> v) {
        if (v.contains(Variant.NO_ROPE)) return x;
        double[] y = new double[x.length];
        boolean half = v.contains(Variant.ROTATE_HALF);
        for (int tk = 0; tk < nt; tk++) {
            for (int h = 0; h < heads; h++) {
                int base = (tk * heads + h) * hd;
                for (int e = 0; e < hd; e++) {
                    double rot;
                    if (half) rot = e < hd / 2 ? -x[base + e + hd / 2] : x[base + e - hd / 2];
                    else rot = e % 2 == 0 ? -x[base + e + 1] : x[base + e - 1];
                    y[base + e] = x[base + e] * cs[0][tk * hd + e] + rot * cs[1][tk * hd + e];
                }
            }
        }
        return y;
    }

    private double[][] doubleBlock(int i, double[] hs, int t, double[] enc, int s, double[] cond, double[][] cs, Set<Variant> v) {
        String b = "transformer_blocks." + i, p = b + ".attn";
        double[] mod = linear(cond, 1, b + ".norm1.linear");
        double[] cmod = linear(cond, 1, b + ".norm1_context.linear");
        double[] nh = modulate(hs, t, mod, 0, 1);
        double[] ne = modulate(enc, s, cmod, 0, 1);
        boolean shared = v.contains(Variant.SHARED_QK_NORMS);
        double[] q = cat(proj(ne, s, p + ".add_q_proj", p + (shared ? ".norm_q" : ".norm_added_q")), proj(nh, t, p + ".to_q", p + ".norm_q"));
        double[] k = cat(proj(ne, s, p + ".add_k_proj", p + (shared ? ".norm_k" : ".norm_added_k")), proj(nh, t, p + ".to_k", p + ".norm_k"));
        double[] vv = cat(proj(ne, s, p + ".add_v_proj", null), proj(nh, t, p + ".to_v", null));
        double[] o = attend(rotary(q, s + t, cs, v), rotary(k, s + t, cs, v), vv, s + t);
        double[] oc = Arrays.copyOfRange(o, 0, s * d), oi = Arrays.copyOfRange(o, s * d, (s + t) * d);
        double[] x = gated(hs, linear(oi, t, p + ".to_out.0"), mod, 2);
        x = gated(x, ff(modulate(x, t, mod, 3, 4), t, b + ".ff"), mod, 5);
        double[] c = gated(enc, linear(oc, s, p + ".to_add_out"), cmod, 2);
        c = gated(c, ff(modulate(c, s, cmod, 3, 4), s, b + ".ff_context"), cmod, 5);
        return new double[][] {x, c};
    }

    private double[] singleBlock(int i, double[] h, int nt, double[] cond, double[][] cs, Set<Variant> v) {
        String b = "single_transformer_blocks." + i, p = b + ".attn";
        double[] mod = linear(cond, 1, b + ".norm.linear");
        double[] nh = modulate(h, nt, mod, 0, 1);
        double[] mlp = gelu(linear(nh, nt, b + ".proj_mlp"));
        double[] q = rotary(proj(nh, nt, p + ".to_q", p + ".norm_q"), nt, cs, v), k = rotary(proj(nh, nt, p + ".to_k", p + ".norm_k"), nt, cs, v);
        double[] o = attend(q, k, proj(nh, nt, p + ".to_v", null), nt);
        // cat along the features: row r is [attn_r (D) | mlp_r (4D)]
        double[] cat = new double[nt * 5 * d];
        boolean mlpFirst = v.contains(Variant.SINGLE_MLP_FIRST);
        for (int r0 = 0; r0 < nt; r0++) {
            System.arraycopy(o, r0 * d, cat, r0 * 5 * d + (mlpFirst ? 4 * d : 0), d);
            System.arraycopy(mlp, r0 * 4 * d, cat, r0 * 5 * d + (mlpFirst ? 0 : d), 4 * d);
        }
        return gated(h, linear(cat, nt, b + ".proj_out"), mod, 2);
    }

    private double[] ff(double[] x, int rows, String p) {
        return linear(gelu(linear(x, rows, p + ".net.0.proj")), rows, p + ".net.2");
    }






    private static float[] catF(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    static Set<Variant> none() {
        return EnumSet.noneOf(Variant.class);
    }
}
