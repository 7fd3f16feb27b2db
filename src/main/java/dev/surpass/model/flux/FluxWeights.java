package dev.surpass.model.flux;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.ConfigJson;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tensors of a Flux transformer, asked for by diffusers' names, from either layout:
 * <ul>
 *   <li>a diffusers folder: the names as they are;
 *   <li>Black Forest Labs' original single file ({@code flux1-dev.safetensors}, {@code flux1-schnell.safetensors};
 *       also with ComfyUI's {@code model.diffusion_model.} prefix): renamed and cut as diffusers'
 *       {@code convert_flux_transformer_checkpoint_to_diffusers} does — {@code double_blocks.N.img_attn.qkv} /
 *       {@code txt_attn.qkv} row blocks q, k, v; {@code single_blocks.N.linear1} row blocks q, k, v, proj_mlp;
 *       {@code linear2} is proj_out; {@code *.norm.query_norm.scale} / {@code key_norm.scale} the qk RMSNorm weights;
 *       {@code img_in}, {@code txt_in}, {@code time_in}, {@code guidance_in}, {@code vector_in},
 *       {@code final_layer.linear}. {@code final_layer.adaLN_modulation.1} is norm_out.linear with its halves in the
 *       original (shift, scale) order, where diffusers swaps the rows to (scale, shift): here the rows stay and
 *       {@link #shiftFirstNormOut} tells the model to read the chunks the other way round (the same values). The
 *       config is inferred from the shapes ({@link #config}).
 * </ul>
 * A fused tensor is read once: its other row blocks wait in this object until asked for; {@link #close} frees any
 * that never were. Not thread-safe; one per load.
 */
final class FluxWeights implements AutoCloseable {
    /** ComfyUI's prefix on BFL's names, which diffusers strips. */
    static final String COMFY_PREFIX = "model.diffusion_model.";
    private static final Pattern DOUBLE = Pattern.compile("transformer_blocks\\.(\\d+)\\.(.+)");
    private static final Pattern SINGLE = Pattern.compile("single_transformer_blocks\\.(\\d+)\\.(.+)");
    private static final Map<String, String> TOP = Map.of("x_embedder", "img_in", "context_embedder", "txt_in",
            "time_text_embed.timestep_embedder.linear_1", "time_in.in_layer", "time_text_embed.timestep_embedder.linear_2", "time_in.out_layer",
            "time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer",
            "time_text_embed.text_embedder.linear_1", "vector_in.in_layer", "time_text_embed.text_embedder.linear_2", "vector_in.out_layer",
            "proj_out", "final_layer.linear", "norm_out.linear", "final_layer.adaLN_modulation.1");
    private static final Map<String, String> DOUBLE_RENAMED = Map.ofEntries(Map.entry("norm1.linear", "img_mod.lin"),
            Map.entry("norm1_context.linear", "txt_mod.lin"), Map.entry("ff.net.0.proj", "img_mlp.0"), Map.entry("ff.net.2", "img_mlp.2"),
            Map.entry("ff_context.net.0.proj", "txt_mlp.0"), Map.entry("ff_context.net.2", "txt_mlp.2"), Map.entry("attn.to_out.0", "img_attn.proj"),
            Map.entry("attn.to_add_out", "txt_attn.proj"), Map.entry("attn.norm_q", "img_attn.norm.query_norm"),
            Map.entry("attn.norm_k", "img_attn.norm.key_norm"), Map.entry("attn.norm_added_q", "txt_attn.norm.query_norm"),
            Map.entry("attn.norm_added_k", "txt_attn.norm.key_norm"));
    private static final Map<String, String> SINGLE_RENAMED = Map.of("norm.linear", "modulation.lin", "proj_out", "linear2",
            "attn.norm_q", "norm.query_norm", "attn.norm_k", "norm.key_norm");
    /** diffusers module → (fused BFL module, row block). */
    private static final Map<String, Object[]> DOUBLE_FUSED = Map.of("attn.to_q", new Object[] {"img_attn.qkv", 0},
            "attn.to_k", new Object[] {"img_attn.qkv", 1}, "attn.to_v", new Object[] {"img_attn.qkv", 2},
            "attn.add_q_proj", new Object[] {"txt_attn.qkv", 0}, "attn.add_k_proj", new Object[] {"txt_attn.qkv", 1},
            "attn.add_v_proj", new Object[] {"txt_attn.qkv", 2});
    private static final Map<String, Object[]> SINGLE_FUSED = Map.of("attn.to_q", new Object[] {"linear1", 0},
            "attn.to_k", new Object[] {"linear1", 1}, "attn.to_v", new Object[] {"linear1", 2}, "proj_mlp", new Object[] {"linear1", 3});

    private final Checkpoint wt;
    private final Device device;
    /** null for a diffusers folder; BFL's names' prefix ("" or {@link #COMFY_PREFIX}) for the original layout. */
    private final String prefix;
    private final int innerDim;
    private final Map<String, Tensor> pending = new HashMap<>();

    private FluxWeights(Checkpoint wt, Device device, String prefix, int innerDim) {
        this.wt = wt;
        this.device = device;
        this.prefix = prefix;
        this.innerDim = innerDim;
    }

    /** A diffusers folder's tensors. */
    static FluxWeights diffusers(Checkpoint wt, Device device, FluxTransformerConfig config) {
        return new FluxWeights(wt, device, null, config.innerDim());
    }

    /** Whether {@code wt} holds BFL's original names (with or without ComfyUI's prefix). */
    static boolean isOriginal(Checkpoint wt) {
        return wt.has("img_in.weight") || wt.has(COMFY_PREFIX + "img_in.weight");
    }

    /** BFL's original single file; the config comes from {@link #config}. */
    static FluxWeights original(Checkpoint wt, Device device) {
        String prefix = wt.has("img_in.weight") ? "" : COMFY_PREFIX;
        if (!wt.has(prefix + "img_in.weight")) {
            throw new IllegalArgumentException(wt.dir() + ": no img_in.weight (nor " + COMFY_PREFIX + "img_in.weight): not a Flux transformer in"
                    + " Black Forest Labs' layout");
        }
        return new FluxWeights(wt, device, prefix, (int) wt.info(prefix + "img_in.weight").shape()[0]);
    }

    /** The checkpoint's folder (for messages). */
    java.nio.file.Path dir() {
        return wt.dir();
    }

    /** Whether norm_out.linear's rows are (shift, scale) — BFL's order — instead of diffusers' (scale, shift). */
    boolean shiftFirstNormOut() {
        return prefix != null;
    }

    /**
     * The config BFL's file implies, as diffusers' single-file loader would build the model: the widths from
     * img_in, txt_in, vector_in, final_layer.linear and the qk norm's length (the head dim), the block counts from the
     * highest double_blocks / single_blocks index, guidance_embeds from guidance_in's presence, patch_size 1 and
     * FLUX.1's axes_dims_rope [16, 56, 56] (refused by the config check when the head dim is not their sum, 128).
     */
    FluxTransformerConfig config() {
        int layers = 0, single = 0;
        for (String n : wt.names()) {
            if (!n.startsWith(prefix)) continue;
            String s = n.substring(prefix.length());
            if (s.startsWith("double_blocks.")) layers = Math.max(layers, index(s) + 1);
            if (s.startsWith("single_blocks.")) single = Math.max(single, index(s) + 1);
        }
        String norm = layers > 0 ? "double_blocks.0.img_attn.norm.query_norm.scale" : "single_blocks.0.norm.query_norm.scale";
        long[] in = shape("img_in.weight"), txt = shape("txt_in.weight"), vec = shape("vector_in.in_layer.weight"), out = shape("final_layer.linear.weight");
        int headDim = (int) shape(norm)[0];
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("_class_name", "FluxTransformer2DModel");
        c.put("patch_size", 1);
        c.put("in_channels", in[1]);
        c.put("out_channels", out[0]);
        c.put("num_layers", layers);
        c.put("num_single_layers", single);
        c.put("attention_head_dim", headDim);
        c.put("num_attention_heads", innerDim % headDim == 0 ? innerDim / headDim : 0);
        c.put("joint_attention_dim", txt[1]);
        c.put("pooled_projection_dim", vec[1]);
        c.put("guidance_embeds", wt.has(prefix + "guidance_in.in_layer.weight"));
        c.putArray("axes_dims_rope").add(16).add(56).add(56);
        return FluxTransformerConfig.of(new ConfigJson(c, wt.dir() + " (the config inferred from Black Forest Labs' layout)"));
    }

    private long[] shape(String bflName) {
        return wt.info(prefix + bflName).shape();
    }

    private static int index(String s) {
        int a = s.indexOf('.') + 1, b = s.indexOf('.', a);
        try {
            return Integer.parseInt(s.substring(a, b < 0 ? s.length() : b));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Whether the tensor diffusers calls {@code name} is there. */
    boolean has(String name) {
        if (prefix == null) return wt.has(name);
        Part p = locate(name);
        return p != null && wt.has(p.name());
    }

    /** A linear weight {@code [out, in]} by its diffusers name, as {@link Checkpoint#uploadLinear} gives it. */
    Tensor linear(String name, long out, long in) {
        if (prefix == null) return wt.uploadLinear(device, name, out, in);
        Part p = part(name);
        if (p.rows() == null) return wt.uploadLinear(device, p.name(), out, in);
        if (p.rows()[p.index()] != out) throw new IllegalArgumentException(wt.dir() + ": " + name + " would have " + out + " rows, not " + p.rows()[p.index()]);
        String key = p.name() + "#" + p.index();
        if (!pending.containsKey(key)) {
            Tensor[] blocks = wt.uploadLinearSplit(device, p.name(), in, p.rows());
            for (int i = 0; i < blocks.length; i++) pending.put(p.name() + "#" + i, blocks[i]);
        }
        return pending.remove(key);
    }

    /** A 1-D tensor (a bias or a norm weight) of length {@code n}, F32, by its diffusers name. */
    Tensor vector(String name, long n) {
        if (prefix == null) return wt.upload(device, name, n);
        Part p = part(name);
        if (p.rows() == null) return wt.upload(device, p.name(), n);
        long total = 0, from = 0;
        for (int i = 0; i < p.rows().length; i++) {
            if (i < p.index()) from += p.rows()[i];
            total += p.rows()[i];
        }
        if (p.rows()[p.index()] != n) throw new IllegalArgumentException(wt.dir() + ": " + name + " would have " + n + " values, not " + p.rows()[p.index()]);
        return wt.uploadRange(device, p.name(), total, (int) from, (int) n);
    }

    /** A linear weight {@code [out, Σ cols]} by its diffusers name, cut by columns ({@link Checkpoint#uploadLinearColumns}). */
    Tensor[] linearColumns(String name, long out, long... cols) {
        if (prefix == null) return wt.uploadLinearColumns(device, name, out, cols);
        Part p = part(name);
        if (p.rows() != null) throw new IllegalStateException(name + " is part of the fused " + p.name());
        return wt.uploadLinearColumns(device, p.name(), out, cols);
    }

    /** A BFL tensor, and for a fused one its row blocks and which of them diffusers' tensor is. */
    record Part(String name, long[] rows, int index) {}

    private Part part(String name) {
        Part p = locate(name);
        if (p == null) throw new IllegalArgumentException(wt.dir() + ": tensor '" + name + "' has no counterpart in Black Forest Labs' layout");
        return p;
    }

    /** The BFL tensor behind diffusers' {@code name}, or null when there is none. */
    Part locate(String name) {
        int dot = name.lastIndexOf('.');
        String module = name.substring(0, dot), leaf = name.substring(dot + 1);
        long d = innerDim;
        Matcher m;
        if ((m = SINGLE.matcher(module)).matches()) {
            String b = prefix + "single_blocks." + m.group(1) + ".", rest = m.group(2);
            if (SINGLE_RENAMED.containsKey(rest)) return renamed(b + SINGLE_RENAMED.get(rest), rest, leaf);
            Object[] f = SINGLE_FUSED.get(rest);
            return f == null ? null : new Part(b + f[0] + "." + leaf, new long[] {d, d, d, 4 * d}, (Integer) f[1]);
        }
        if ((m = DOUBLE.matcher(module)).matches()) {
            String b = prefix + "double_blocks." + m.group(1) + ".", rest = m.group(2);
            if (DOUBLE_RENAMED.containsKey(rest)) return renamed(b + DOUBLE_RENAMED.get(rest), rest, leaf);
            Object[] f = DOUBLE_FUSED.get(rest);
            return f == null ? null : new Part(b + f[0] + "." + leaf, new long[] {d, d, d}, (Integer) f[1]);
        }
        String t = TOP.get(module);
        return t == null ? null : new Part(prefix + t + "." + leaf, null, 0);
    }

    /** A plain rename; the qk norms' {@code weight} is BFL's {@code scale}. */
    private static Part renamed(String bfl, String rest, String leaf) {
        boolean norm = rest.contains("norm_");
        return new Part(bfl + "." + (norm && leaf.equals("weight") ? "scale" : leaf), null, 0);
    }

    @Override
    public void close() {
        for (Tensor t : pending.values()) t.close();
        pending.clear();
    }
}
