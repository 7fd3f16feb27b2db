package dev.surpass.model.dit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * diffusers' layout of a DiT: the {@code transformer/} folder of a {@code DiTPipeline} (what the Hub's
 * {@code facebook/DiT-XL-2-256} holds, written by diffusers' {@code convert_dit_to_diffusers.py}), a
 * {@code config.json} of class {@code DiTTransformer2DModel} (or the older {@code Transformer2DModel}
 * with {@code norm_type} ada_norm_zero) beside {@code diffusion_pytorch_model.safetensors} (or
 * {@code .bin}).
 *
 * <p>The weights are the official ones renamed ({@link #stored}), with q, k and v stored apart and a
 * copy of the timestep and label embedders in every block ({@code norm1.emb}); each block conditions
 * on its own copy and the final layer on block 0's. The module differs from the official code in
 * two numbers, both kept here: the timestep frequencies divide by {@code half − 1} (127, its
 * {@code downscale_freq_shift=1}) instead of 128, and the LayerNorm before the MLP ({@code norm3})
 * uses the config's {@code norm_eps} (default 1e-5) instead of 1e-6; {@code norm1} and the final
 * norm keep 1e-6. The position table is recomputed (a non-persistent buffer, never in the file).
 */
final class DiffusersDiT {
    private DiffusersDiT() {}

    /** What {@link DiT} needs from the folder. */
    record Folder(Path dir, Path weights, DiTConfig config, float mlpNormEps) {}

    /** diffusers' frequency shift of its DiT timestep embedding ({@code Timesteps(256, True, 1)}). */
    static final int FREQ_SHIFT = 1;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> CLASSES = Set.of("DiTTransformer2DModel", "Transformer2DModel");
    private static final List<String> WEIGHT_FILES = List.of("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
            "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin");

    /** The transformer folder under {@code path} (the pipeline root or the folder itself), or null when it is not one. */
    static Path transformerDir(Path path) {
        if (path == null || !Files.isDirectory(path)) return null;
        for (Path d : new Path[] {path, path.resolve("transformer")}) {
            JsonNode n = readJsonOrNull(d.resolve("config.json"));
            if (n != null && CLASSES.contains(n.path("_class_name").asText(""))) return d;
        }
        return null;
    }

    /** True when {@code path} is a diffusers DiT folder (pipeline root or transformer folder). */
    static boolean looksLike(Path path) {
        return transformerDir(path) != null;
    }

    /**
     * Reads the folder's config and finds its weights.
     *
     * @throws IllegalArgumentException naming the file and field for a config this DiT cannot run
     */
    static Folder read(Path path) {
        Path dir = transformerDir(path);
        if (dir == null) {
            throw new IllegalArgumentException(path + ": not a diffusers DiT folder (no config.json of class DiTTransformer2DModel or "
                    + "Transformer2DModel here or in transformer/)");
        }
        Path cf = dir.resolve("config.json");
        JsonNode n = readJsonOrNull(cf);
        String where = cf.toString();
        String normType = text(n, "norm_type", "ada_norm_zero");
        if (!normType.equals("ada_norm_zero")) {
            throw new IllegalArgumentException(where + ": norm_type '" + normType + "' is not supported (DiT is ada_norm_zero)");
        }
        String act = text(n, "activation_fn", "gelu-approximate");
        if (!act.equals("gelu-approximate")) {
            throw new IllegalArgumentException(where + ": activation_fn '" + act + "' is not supported (DiT's MLP is gelu-approximate)");
        }
        if (!n.path("attention_bias").asBoolean(true)) {
            throw new IllegalArgumentException(where + ": attention_bias false is not supported (DiT's q, k, v have biases)");
        }
        if (n.path("norm_elementwise_affine").asBoolean(false)) {
            throw new IllegalArgumentException(where + ": norm_elementwise_affine true is not supported (DiT's LayerNorms have no affine)");
        }
        for (String f : new String[] {"cross_attention_dim", "num_vector_embeds", "caption_channels"}) {
            if (n.hasNonNull(f)) throw new IllegalArgumentException(where + ": " + f + " " + n.get(f) + " is not supported (not a class-conditional DiT)");
        }
        if (n.path("only_cross_attention").asBoolean(false) || n.path("double_self_attention").asBoolean(false)) {
            throw new IllegalArgumentException(where + ": only_cross_attention / double_self_attention are not supported (DiT has one self-attention)");
        }
        int heads = positive(n, "num_attention_heads", 16, where);
        int headDim = positive(n, "attention_head_dim", 72, where);
        int in = positive(n, "in_channels", 4, where);
        int out = n.hasNonNull("out_channels") ? positive(n, "out_channels", in, where) : in;
        if (out != in && out != 2 * in) {
            throw new IllegalArgumentException(where + ": out_channels " + out + " must be in_channels (" + in + ") or twice it (learned sigma)");
        }
        int layers = positive(n, "num_layers", 28, where);
        int sample = positive(n, "sample_size", 32, where);
        if (!n.has("patch_size") || n.get("patch_size").isNull()) {
            throw new IllegalArgumentException(where + ": patch_size is missing: a Transformer2DModel without patches is not a DiT");
        }
        int patch = positive(n, "patch_size", 2, where);
        if (!n.hasNonNull("num_embeds_ada_norm")) {
            throw new IllegalArgumentException(where + ": num_embeds_ada_norm (the class count) is missing");
        }
        int classes = positive(n, "num_embeds_ada_norm", 1000, where);
        JsonNode eps = n.path("norm_eps");
        float normEps = eps.isMissingNode() || eps.isNull() ? 1e-5f : (float) eps.asDouble(Double.NaN);
        if (!(normEps > 0) || !Float.isFinite(normEps)) throw new IllegalArgumentException(where + ": norm_eps " + eps + " must be a positive number");
        long dl = (long) heads * headDim;
        if (dl > 1 << 16) throw new IllegalArgumentException(where + ": num_attention_heads · attention_head_dim = " + dl + " is too large");
        if (sample > 1 << 12 || (long) (sample / patch) * (sample / patch) * dl > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": sample_size " + sample + " is too large for one position table");
        }
        int d = (int) dl;
        // diffusers' LabelEmbedding adds the null row when trained with class dropout (0.1 in its DiT); the file decides
        DiTConfig cfg;
        try {
            cfg = new DiTConfig(sample, patch, in, d, layers, heads, 4 * d, classes, classes + 1, out == 2 * in);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
        return new Folder(dir, weights(dir), cfg, normEps);
    }

    /** The weight file of a transformer folder: safetensors first, fp32 before fp16, then PyTorch's .bin. */
    private static Path weights(Path dir) {
        if (Files.exists(dir.resolve("diffusion_pytorch_model.safetensors.index.json"))
                && !Files.exists(dir.resolve("diffusion_pytorch_model.safetensors"))) {
            throw new IllegalArgumentException(dir + ": sharded weights (diffusion_pytorch_model.safetensors.index.json) are not supported; "
                    + "a DiT fits one file");
        }
        for (String f : WEIGHT_FILES) {
            if (Files.isRegularFile(dir.resolve(f))) return dir.resolve(f);
        }
        throw new IllegalArgumentException(dir + ": no weights: expected one of " + WEIGHT_FILES);
    }

    private static final Pattern BLOCK = Pattern.compile("^blocks\\.(\\d+)\\.(.+)$");

    /**
     * The diffusers name of an official DiT tensor name, or null when diffusers does not store it
     * ({@code pos_embed}). Block-level embedders are asked for as {@code blocks.i.t_embedder.*} /
     * {@code blocks.i.y_embedder.*}, the split attention as {@code blocks.i.attn.{q,k,v}.*}.
     */
    static String stored(String official) {
        if (official.equals("pos_embed")) return null;
        if (official.startsWith("x_embedder.proj.")) return "pos_embed.proj." + official.substring("x_embedder.proj.".length());
        if (official.startsWith("final_layer.adaLN_modulation.1.")) return "proj_out_1." + official.substring("final_layer.adaLN_modulation.1.".length());
        if (official.startsWith("final_layer.linear.")) return "proj_out_2." + official.substring("final_layer.linear.".length());
        if (official.startsWith("t_embedder.") || official.startsWith("y_embedder.")) return stored("blocks.0." + official);
        Matcher m = BLOCK.matcher(official);
        if (!m.matches()) throw new IllegalArgumentException("no diffusers name for DiT tensor '" + official + "'");
        String b = "transformer_blocks." + m.group(1) + ".", rest = m.group(2);
        String[][] map = {
            {"t_embedder.mlp.0.", "norm1.emb.timestep_embedder.linear_1."},
            {"t_embedder.mlp.2.", "norm1.emb.timestep_embedder.linear_2."},
            {"y_embedder.embedding_table.", "norm1.emb.class_embedder.embedding_table."},
            {"attn.q.", "attn1.to_q."}, {"attn.k.", "attn1.to_k."}, {"attn.v.", "attn1.to_v."},
            {"attn.proj.", "attn1.to_out.0."},
            {"mlp.fc1.", "ff.net.0.proj."}, {"mlp.fc2.", "ff.net.2."},
            {"adaLN_modulation.1.", "norm1.linear."},
        };
        for (String[] kv : map) {
            if (rest.startsWith(kv[0])) return b + kv[1] + rest.substring(kv[0].length());
        }
        throw new IllegalArgumentException("no diffusers name for DiT tensor '" + official + "'");
    }

    private static String text(JsonNode n, String field, String dflt) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static int positive(JsonNode n, String field, int dflt, String where) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1) {
            throw new IllegalArgumentException(where + ": " + field + " " + v + " must be a positive integer");
        }
        return v.asInt();
    }

    private static JsonNode readJsonOrNull(Path f) {
        if (!Files.isRegularFile(f)) return null;
        try {
            JsonNode n = JSON.readTree(f.toFile());
            return n != null && n.isObject() ? n : null;
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage(), e);
        }
    }
}
