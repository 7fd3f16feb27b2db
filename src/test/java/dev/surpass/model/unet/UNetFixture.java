package dev.surpass.model.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.layers.ReferenceActivation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * A random diffusers UNet2DConditionModel written as a folder (config.json +
 * diffusion_pytorch_model.safetensors under diffusers' names), and a float64 forward written from
 * diffusers' source independently of the library: channels-first images, direct convolution loops
 * (stride 1 and 2), nearest upsampling, GroupNorm, LayerNorm, per-head softmax attention and GEGLU
 * as their formulas read. {@link Variant}s change the reference to show what each convention is
 * worth.
 */
public final class UNetFixture {
    /** Ways the reference can deviate from diffusers (each must move the output far beyond the tolerance). */
    enum Variant {
        /** torch.cat([skip, x]) instead of torch.cat([x, skip]). */
        SKIP_FIRST,
        /** attention_head_dim read as the head size (heads = C / attention_head_dim), not as diffusers' head count. */
        HEAD_DIM_AS_SIZE,
        /** [sin, cos] instead of flip_sin_to_cos's [cos, sin]. */
        NO_FLIP
    }

    final int[] boc, heads;        // heads: the attention_head_dim entries (diffusers' head counts)
    final boolean headsAsList, linearProj;
    final int layers, groups, cin, cout, cross;
    final int[] tl;                // transformer_layers_per_block per level
    final int addTimeDim, projDim; // text_time (SDXL): addition_time_embed_dim, projection_class_embeddings_input_dim; 0 without
    final String[] down, up;
    final int t;                   // time_embed_dim
    final Map<String, float[]> w = new LinkedHashMap<>();
    final Map<String, long[]> shapes = new LinkedHashMap<>();

    UNetFixture(int[] boc, int layers, int groups, int[] heads, boolean headsAsList, int tl, boolean linearProj, int cin, int cout, int cross,
                String[] down, String[] up, long seed) {
        this(boc, layers, groups, heads, headsAsList, filled(boc.length, tl), linearProj, cin, cout, cross, down, up, 0, 0, seed);
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    public UNetFixture(int[] boc, int layers, int groups, int[] heads, boolean headsAsList, int[] tl, boolean linearProj, int cin, int cout,
                       int cross, String[] down, String[] up, int addTimeDim, int projDim, long seed) {
        this.boc = boc.clone();
        this.heads = heads.clone();
        this.headsAsList = headsAsList;
        this.linearProj = linearProj;
        this.layers = layers;
        this.groups = groups;
        this.tl = tl.clone();
        this.addTimeDim = addTimeDim;
        this.projDim = projDim;
        this.cin = cin;
        this.cout = cout;
        this.cross = cross;
        this.down = down.clone();
        this.up = up.clone();
        this.t = 4 * boc[0];
        Random r = new Random(seed);
        int c0 = boc[0], n = boc.length;
        conv(r, "conv_in", cin, c0, 3);
        lin(r, "time_embedding.linear_1", c0, t);
        lin(r, "time_embedding.linear_2", t, t);
        if (addTimeDim > 0) {
            lin(r, "add_embedding.linear_1", projDim, t);
            lin(r, "add_embedding.linear_2", t, t);
        }
        int ch = c0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers; j++) {
                resnet(r, "down_blocks." + i + ".resnets." + j, ch, boc[i]);
                ch = boc[i];
                if (down[i].startsWith("CrossAttn")) transformer(r, "down_blocks." + i + ".attentions." + j, ch, heads[i], tl[i]);
            }
            if (i < n - 1) conv(r, "down_blocks." + i + ".downsamplers.0.conv", ch, ch, 3);
        }
        int top = boc[n - 1];
        resnet(r, "mid_block.resnets.0", top, top);
        transformer(r, "mid_block.attentions.0", top, heads[n - 1], tl[n - 1]);
        resnet(r, "mid_block.resnets.1", top, top);
        int prev = top;
        for (int i = 0; i < n; i++) {
            int lvl = n - 1 - i, o = boc[lvl], in = boc[Math.max(lvl - 1, 0)];
            for (int j = 0; j <= layers; j++) {
                int skip = j == layers ? in : o, rin = j == 0 ? prev : o;
                resnet(r, "up_blocks." + i + ".resnets." + j, rin + skip, o);
                if (up[i].startsWith("CrossAttn")) transformer(r, "up_blocks." + i + ".attentions." + j, o, heads[lvl], tl[lvl]);
            }
            if (i < n - 1) conv(r, "up_blocks." + i + ".upsamplers.0.conv", o, o, 3);
            prev = o;
        }
        norm(r, "conv_norm_out", c0);
        conv(r, "conv_out", c0, cout, 3);
    }

    /** SD 1.x's shape in miniature: 2 levels [32, 48], attention_head_dim 1 as an int (1 head: head dims 32, supported, and 48, padded to 64). */
    static UNetFixture sd1(long seed) {
        return new UNetFixture(new int[] {32, 48}, 1, 8, new int[] {1, 1}, false, 1, false, 4, 3, 24,
                new String[] {"CrossAttnDownBlock2D", "DownBlock2D"}, new String[] {"UpBlock2D", "CrossAttnUpBlock2D"}, seed);
    }

    /** SD 2.x's conventions in miniature: 3 levels, use_linear_projection, attention_head_dim [1, 2, 2] as a list, 2 transformer layers. */
    static UNetFixture sd2(long seed) {
        return new UNetFixture(new int[] {16, 32, 48}, 1, 4, new int[] {1, 2, 2}, true, 2, true, 4, 4, 20,
                new String[] {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"},
                new String[] {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}, seed);
    }

    /**
     * SDXL base's shape in miniature: 3 levels with down blocks [DownBlock2D, CrossAttn, CrossAttn],
     * per-level head counts [1, 2, 3] as a list, transformer_layers_per_block [1, 2, 3] (SDXL: [1, 2, 10]),
     * linear projections, 2 resnets per block, and text_time added conditions (addition_time_embed_dim 8,
     * pooled text of 14: projection_class_embeddings_input_dim 62).
     */
    static UNetFixture sdxl(long seed) {
        return new UNetFixture(new int[] {16, 32, 48}, 2, 8, new int[] {1, 2, 3}, true, new int[] {1, 2, 3}, true, 4, 4, 40,
                new String[] {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"},
                new String[] {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"}, 8, 6 * 8 + 14, seed);
    }

    /** text_time: the pooled text embedding's width. */
    int textDim() {
        return projDim - 6 * addTimeDim;
    }

    private void put(Random r, String name, double scale, double offset, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (offset + r.nextGaussian() * scale);
        w.put(name, v);
        shapes.put(name, shape);
    }

    private void conv(Random r, String p, int ci, int co, int k) {
        put(r, p + ".weight", 1 / Math.sqrt(ci * k * k), 0, co, ci, k, k);
        put(r, p + ".bias", 0.2, 0, co);
    }

    private void lin(Random r, String p, int in, int out) {
        put(r, p + ".weight", 1 / Math.sqrt(in), 0, out, in);
        put(r, p + ".bias", 0.2, 0, out);
    }

    private void norm(Random r, String p, int c) {
        put(r, p + ".weight", 0.3, 1, c);
        put(r, p + ".bias", 0.3, 0, c);
    }

    private void resnet(Random r, String p, int ci, int co) {
        norm(r, p + ".norm1", ci);
        conv(r, p + ".conv1", ci, co, 3);
        lin(r, p + ".time_emb_proj", t, co);
        norm(r, p + ".norm2", co);
        conv(r, p + ".conv2", co, co, 3);
        if (ci != co) conv(r, p + ".conv_shortcut", ci, co, 1);
    }

    private void transformer(Random r, String p, int c, int h, int tl) {
        int inner = h * (c / h);
        norm(r, p + ".norm", c);
        if (linearProj) lin(r, p + ".proj_in", c, inner);
        else conv(r, p + ".proj_in", c, inner, 1);
        for (int b = 0; b < tl; b++) {
            String q = p + ".transformer_blocks." + b;
            norm(r, q + ".norm1", inner);
            attn(r, q + ".attn1", inner, inner);
            norm(r, q + ".norm2", inner);
            attn(r, q + ".attn2", inner, cross);
            norm(r, q + ".norm3", inner);
            lin(r, q + ".ff.net.0.proj", inner, 8 * inner);
            lin(r, q + ".ff.net.2", 4 * inner, inner);
        }
        if (linearProj) lin(r, p + ".proj_out", inner, c);
        else conv(r, p + ".proj_out", inner, c, 1);
    }

    private void attn(Random r, String p, int inner, int kv) {
        // peaked enough that the softmax matters; the deeper text_time (SDXL-like) UNet less so, or its float64 output
        // itself moves by 3e-5 (relative L2) under one-ulp input changes and fp32 rounding compounds to ~1e-4
        double gain = addTimeDim > 0 ? 1.5 : 2.5;
        put(r, p + ".to_q.weight", gain / Math.sqrt(inner), 0, inner, inner);
        put(r, p + ".to_k.weight", gain / Math.sqrt(kv), 0, inner, kv);
        put(r, p + ".to_v.weight", 1 / Math.sqrt(kv), 0, inner, kv);
        lin(r, p + ".to_out.0", inner, inner);
    }

    /** config.json as diffusers writes it. */
    ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("_class_name", "UNet2DConditionModel");
        c.put("_diffusers_version", "0.31.0");
        c.put("act_fn", "silu");
        if (addTimeDim > 0) c.put("addition_embed_type", "text_time");
        else c.putNull("addition_embed_type");
        if (headsAsList) {
            ArrayNode a = c.putArray("attention_head_dim");
            for (int h : heads) a.add(h);
        } else {
            c.put("attention_head_dim", heads[0]);
        }
        ArrayNode b = c.putArray("block_out_channels");
        for (int ch : boc) b.add(ch);
        c.put("center_input_sample", false);
        c.putNull("class_embed_type");
        c.put("cross_attention_dim", cross);
        ArrayNode d = c.putArray("down_block_types");
        for (String s : down) d.add(s);
        c.put("downsample_padding", 1);
        c.put("dual_cross_attention", false);
        c.put("flip_sin_to_cos", true);
        c.put("freq_shift", 0);
        c.put("in_channels", cin);
        c.put("layers_per_block", layers);
        c.put("mid_block_scale_factor", 1);
        c.put("norm_eps", 1e-5);
        c.put("norm_num_groups", groups);
        c.putNull("num_class_embeds");
        c.put("only_cross_attention", false);
        c.put("out_channels", cout);
        c.put("sample_size", 32);
        if (java.util.Arrays.stream(tl).allMatch(x -> x == 1)) {
            c.put("transformer_layers_per_block", 1);
        } else { // as a per-level list, the other form diffusers reads
            ArrayNode a = c.putArray("transformer_layers_per_block");
            for (int x : tl) a.add(x);
        }
        ArrayNode u = c.putArray("up_block_types");
        for (String s : up) u.add(s);
        c.put("upcast_attention", linearProj);
        c.put("use_linear_projection", linearProj);
        // the fields diffusers >= 0.19 writes with their defaults: accepted as they are
        for (String f : new String[] {"addition_time_embed_dim", "class_embed_type", "cross_attention_norm", "encoder_hid_dim", "encoder_hid_dim_type",
                                      "mid_block_only_cross_attention", "num_attention_heads", "projection_class_embeddings_input_dim",
                                      "reverse_transformer_layers_per_block", "time_cond_proj_dim", "time_embedding_act_fn", "time_embedding_dim",
                                      "timestep_post_act"}) {
            c.putNull(f);
        }
        if (addTimeDim > 0) {
            c.put("addition_time_embed_dim", addTimeDim);
            c.put("projection_class_embeddings_input_dim", projDim);
        }
        c.put("addition_embed_type_num_heads", 64);
        c.put("attention_type", "default");
        c.put("class_embeddings_concat", false);
        c.put("conv_in_kernel", 3);
        c.put("conv_out_kernel", 3);
        c.put("dropout", 0.0);
        c.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        c.put("resnet_out_scale_factor", 1.0);
        c.put("resnet_skip_time_act", false);
        c.put("resnet_time_scale_shift", "default");
        c.put("time_embedding_type", "positional");
        return c;
    }

    public Path write(Path dir, DType dtype) {
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

    /** The weights rounded to a 16-bit dtype (what a 16-bit file holds). */
    void roundTo(DType d) {
        for (float[] v : w.values()) for (int i = 0; i < v.length; i++) v[i] = d.round(v[i]);
    }

    static float[] noise(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    // ---- float64 reference ----------------------------------------------------------------------

    double[] forward(float[] sample, int n, int h, int wd, float[] ts, float[] ctx, int s) {
        return forward(sample, n, h, wd, ts, ctx, s, EnumSet.noneOf(Variant.class));
    }

    double[] forward(float[] sample, int n, int h, int wd, float[] ts, float[] ctx, int s, Set<Variant> v) {
        return forward(sample, n, h, wd, ts, ctx, s, null, null, v);
    }

    /**
     * {@code unet(sample [n, cin, h, wd], ts, ctx [n, s, cross], added_cond_kwargs={text_embeds [n, textDim], time_ids [n, 6]}).sample}
     * → {@code [n, cout, h, wd]}; text and ids null without text_time.
     */
    double[] forward(float[] sample, int n, int h, int wd, float[] ts, float[] ctx, int s, float[] text, float[] ids, Set<Variant> v) {
        double[] all = new double[n * cout * h * wd];
        for (int b = 0; b < n; b++) {
            double[] x = new double[cin * h * wd];
            for (int i = 0; i < x.length; i++) x[i] = sample[b * x.length + i];
            double[][] e = new double[s][cross];
            for (int i = 0; i < s; i++) for (int j = 0; j < cross; j++) e[i][j] = ctx[(b * s + i) * cross + j];
            double[] aug = null;
            if (text != null) { // get_aug_embed: [text_embeds, add_time_proj(time_ids) flattened] → add_embedding
                int pt = textDim();
                double[] in = new double[projDim];
                for (int i = 0; i < pt; i++) in[i] = text[b * pt + i];
                for (int k = 0; k < 6; k++) {
                    double[] e1 = sinusoid(ids[b * 6 + k], addTimeDim, v);
                    System.arraycopy(e1, 0, in, pt + k * addTimeDim, addTimeDim);
                }
                aug = linear(silu(linear(in, "add_embedding.linear_1")), "add_embedding.linear_2");
            }
            double[] y = one(x, h, wd, ts[ts.length == 1 ? 0 : b], e, aug, v);
            System.arraycopy(y, 0, all, b * y.length, y.length);
        }
        return all;
    }

    /** Timesteps(dim, flip_sin_to_cos, 0): diffusers computes these in fp32, so the phases are rounded as torch rounds them. */
    private static double[] sinusoid(float step, int dim, Set<Variant> v) {
        int half = dim / 2;
        double[] te = new double[dim];
        for (int i = 0; i < half; i++) {
            float f = (float) Math.exp(((float) -Math.log(10000) * i) / (float) half);
            float a = step * f;
            boolean flip = !v.contains(Variant.NO_FLIP);
            te[flip ? half + i : i] = Math.sin(a);
            te[flip ? i : half + i] = Math.cos(a);
        }
        return te;
    }

    private double[] one(double[] x, int h, int wd, float step, double[][] ctx, double[] aug, Set<Variant> v) {
        int c0 = boc[0], n = boc.length;
        double[] te = sinusoid(step, c0, v);
        double[] temb = linear(silu(linear(te, "time_embedding.linear_1")), "time_embedding.linear_2");
        if (aug != null) for (int i = 0; i < temb.length; i++) temb[i] += aug[i];
        double[] tact = silu(temb);
        Deque<double[]> skips = new ArrayDeque<>();
        Deque<Integer> skipC = new ArrayDeque<>();
        x = conv(x, "conv_in", cin, c0, h, wd, 3, 1);
        int ch = c0;
        skips.push(x);
        skipC.push(ch);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers; j++) {
                x = resnet(x, "down_blocks." + i + ".resnets." + j, ch, boc[i], h, wd, tact);
                ch = boc[i];
                if (down[i].startsWith("CrossAttn")) x = transformer(x, "down_blocks." + i + ".attentions." + j, ch, h * wd, heads[i], tl[i], ctx, v);
                skips.push(x);
                skipC.push(ch);
            }
            if (i < n - 1) {
                x = conv(x, "down_blocks." + i + ".downsamplers.0.conv", ch, ch, h, wd, 3, 2);
                h = (h - 1) / 2 + 1;
                wd = (wd - 1) / 2 + 1;
                skips.push(x);
                skipC.push(ch);
            }
        }
        x = resnet(x, "mid_block.resnets.0", ch, ch, h, wd, tact);
        x = transformer(x, "mid_block.attentions.0", ch, h * wd, heads[n - 1], tl[n - 1], ctx, v);
        x = resnet(x, "mid_block.resnets.1", ch, ch, h, wd, tact);
        for (int i = 0; i < n; i++) {
            int lvl = n - 1 - i, o = boc[lvl];
            for (int j = 0; j <= layers; j++) {
                double[] skip = skips.pop();
                int sc = skipC.pop();
                double[] cat = new double[x.length + skip.length]; // channels-first: a cat on dim 1 stacks the planes
                if (v.contains(Variant.SKIP_FIRST)) {
                    System.arraycopy(skip, 0, cat, 0, skip.length);
                    System.arraycopy(x, 0, cat, skip.length, x.length);
                } else {
                    System.arraycopy(x, 0, cat, 0, x.length);
                    System.arraycopy(skip, 0, cat, x.length, skip.length);
                }
                x = resnet(cat, "up_blocks." + i + ".resnets." + j, ch + sc, o, h, wd, tact);
                ch = o;
                if (up[i].startsWith("CrossAttn")) x = transformer(x, "up_blocks." + i + ".attentions." + j, ch, h * wd, heads[lvl], tl[lvl], ctx, v);
            }
            if (i < n - 1) {
                double[] u = new double[ch * 4 * h * wd];
                for (int c = 0; c < ch; c++) {
                    for (int y = 0; y < 2 * h; y++) for (int xx = 0; xx < 2 * wd; xx++) u[(c * 2 * h + y) * 2 * wd + xx] = x[(c * h + y / 2) * wd + xx / 2];
                }
                h *= 2;
                wd *= 2;
                x = conv(u, "up_blocks." + i + ".upsamplers.0.conv", ch, ch, h, wd, 3, 1);
            }
        }
        x = silu(groupNorm(x, "conv_norm_out", c0, h * wd, 1e-5));
        return conv(x, "conv_out", c0, cout, h, wd, 3, 1);
    }

    private double[] resnet(double[] x, String p, int ci, int co, int h, int wd, double[] tact) {
        int l = h * wd;
        double[] y = conv(silu(groupNorm(x, p + ".norm1", ci, l, 1e-5)), p + ".conv1", ci, co, h, wd, 3, 1);
        double[] tp = linear(tact, p + ".time_emb_proj");
        for (int c = 0; c < co; c++) for (int i = 0; i < l; i++) y[c * l + i] += tp[c];
        y = conv(silu(groupNorm(y, p + ".norm2", co, l, 1e-5)), p + ".conv2", co, co, h, wd, 3, 1);
        double[] sc = ci != co ? conv(x, p + ".conv_shortcut", ci, co, h, wd, 1, 1) : x;
        for (int i = 0; i < y.length; i++) y[i] += sc[i];
        return y;
    }

    /** Transformer2DModel on channels-first {@code x [c, l]}. */
    private double[] transformer(double[] x, String p, int c, int l, int headsAttr, int tl, double[][] ctx, Set<Variant> v) {
        int hds = v.contains(Variant.HEAD_DIM_AS_SIZE) ? c / headsAttr : headsAttr; // diffusers: attention_head_dim is the count
        int d = c / hds, inner = hds * d;
        double[] hn = groupNorm(x, p + ".norm", c, l, 1e-6);
        double[][] hs = new double[l][];
        for (int i = 0; i < l; i++) {
            double[] px = new double[c];
            for (int ch = 0; ch < c; ch++) px[ch] = hn[ch * l + i];
            hs[i] = linear(px, p + ".proj_in");
        }
        for (int b = 0; b < tl; b++) {
            String q = p + ".transformer_blocks." + b;
            double[][] n1 = layerNorm(hs, q + ".norm1");
            add(hs, attention(n1, n1, q + ".attn1", hds, d));
            double[][] n2 = layerNorm(hs, q + ".norm2");
            add(hs, attention(n2, ctx, q + ".attn2", hds, d));
            double[][] n3 = layerNorm(hs, q + ".norm3");
            for (int i = 0; i < l; i++) {
                double[] pr = linear(n3[i], q + ".ff.net.0.proj");
                int ff = pr.length / 2;
                double[] g = new double[ff];
                for (int k = 0; k < ff; k++) {
                    double gate = pr[ff + k];
                    g[k] = pr[k] * gate * 0.5 * (1 + ReferenceActivation.erf(gate / Math.sqrt(2))); // hidden · gelu(gate)
                }
                double[] f = linear(g, q + ".ff.net.2");
                for (int k = 0; k < inner; k++) hs[i][k] += f[k];
            }
        }
        double[] out = new double[x.length];
        for (int i = 0; i < l; i++) {
            double[] o = linear(hs[i], p + ".proj_out");
            for (int ch = 0; ch < c; ch++) out[ch * l + i] = o[ch] + x[ch * l + i];
        }
        return out;
    }

    private static void add(double[][] a, double[][] b) {
        for (int i = 0; i < a.length; i++) for (int k = 0; k < a[i].length; k++) a[i][k] += b[i][k];
    }

    /** Multi-head attention, no masks, scale d^-1/2, q/k/v without bias, to_out.0 with. */
    private double[][] attention(double[][] xq, double[][] xkv, String p, int hds, int d) {
        int l = xq.length, s = xkv.length;
        double[][] q = new double[l][], k = new double[s][], vv = new double[s][];
        for (int i = 0; i < l; i++) q[i] = linear(xq[i], p + ".to_q");
        for (int j = 0; j < s; j++) {
            k[j] = linear(xkv[j], p + ".to_k");
            vv[j] = linear(xkv[j], p + ".to_v");
        }
        double[][] out = new double[l][];
        for (int i = 0; i < l; i++) {
            double[] o = new double[hds * d];
            for (int hh = 0; hh < hds; hh++) {
                double[] sc = new double[s];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < s; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[i][hh * d + e] * k[j][hh * d + e];
                    sc[j] = dot / Math.sqrt(d);
                    max = Math.max(max, sc[j]);
                }
                double sum = 0;
                for (int j = 0; j < s; j++) sum += sc[j] = Math.exp(sc[j] - max);
                for (int j = 0; j < s; j++) for (int e = 0; e < d; e++) o[hh * d + e] += sc[j] / sum * vv[j][hh * d + e];
            }
            out[i] = linear(o, p + ".to_out.0");
        }
        return out;
    }

    private double[][] layerNorm(double[][] x, String p) {
        float[] g = w.get(p + ".weight"), b = w.get(p + ".bias");
        double[][] o = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            int c = x[i].length;
            double mean = 0, var = 0;
            for (double e : x[i]) mean += e;
            mean /= c;
            for (double e : x[i]) var += (e - mean) * (e - mean);
            var /= c;
            double rstd = 1 / Math.sqrt(var + 1e-5);
            o[i] = new double[c];
            for (int k = 0; k < c; k++) o[i][k] = (x[i][k] - mean) * rstd * g[k] + b[k];
        }
        return o;
    }

    /** y = W x + b for a weight stored [out, in] or as a 1×1 conv [out, in, 1, 1]; no bias when the file has none. */
    private double[] linear(double[] x, String p) {
        float[] wt = w.get(p + ".weight"), b = w.get(p + ".bias");
        int out = (int) shapes.get(p + ".weight")[0], in = x.length;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double acc = b == null ? 0 : b[o];
            for (int i = 0; i < in; i++) acc += wt[o * in + i] * x[i];
            y[o] = acc;
        }
        return y;
    }

    /** Conv2d, padding k/2, stride 1 or 2, channels-first {@code [ci, h, w]} → {@code [co, ho, wo]}. */
    private double[] conv(double[] x, String p, int ci, int co, int h, int wd, int k, int stride) {
        float[] wt = w.get(p + ".weight"), b = w.get(p + ".bias");
        int pad = k / 2, ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
        double[] o = new double[co * ho * wo];
        for (int c = 0; c < co; c++) {
            for (int y = 0; y < ho; y++) {
                for (int xx = 0; xx < wo; xx++) {
                    double acc = b[c];
                    for (int i = 0; i < ci; i++) {
                        for (int ky = 0; ky < k; ky++) {
                            int sy = y * stride + ky - pad;
                            if (sy < 0 || sy >= h) continue;
                            for (int kx = 0; kx < k; kx++) {
                                int sx = xx * stride + kx - pad;
                                if (sx < 0 || sx >= wd) continue;
                                acc += wt[((c * ci + i) * k + ky) * k + kx] * x[(i * h + sy) * wd + sx];
                            }
                        }
                    }
                    o[(c * ho + y) * wo + xx] = acc;
                }
            }
        }
        return o;
    }

    /** torch GroupNorm on {@code [c, l]}: per group of c/g channels, mean and biased variance over its values. */
    private double[] groupNorm(double[] x, String p, int c, int l, double eps) {
        float[] gw = w.get(p + ".weight"), gb = w.get(p + ".bias");
        int cg = c / groups;
        double[] o = new double[x.length];
        for (int gi = 0; gi < groups; gi++) {
            double mean = 0, var = 0;
            for (int i = gi * cg * l; i < (gi + 1) * cg * l; i++) mean += x[i];
            mean /= (double) cg * l;
            for (int i = gi * cg * l; i < (gi + 1) * cg * l; i++) var += (x[i] - mean) * (x[i] - mean);
            var /= (double) cg * l;
            double rstd = 1 / Math.sqrt(var + eps);
            for (int i = gi * cg * l; i < (gi + 1) * cg * l; i++) o[i] = (x[i] - mean) * rstd * gw[i / l] + gb[i / l];
        }
        return o;
    }

    private static double[] silu(double[] x) {
        double[] o = new double[x.length];
        for (int i = 0; i < x.length; i++) o[i] = x[i] / (1 + Math.exp(-x[i]));
        return o;
    }
}
