package dev.surpass.model.bert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.PyTorchCheckpoint;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.io.TensorInfo;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads a sentence-transformers folder into {@link SentenceEmbeddings} (what
 * {@code SentenceTransformer(dir)} builds from {@code modules.json}):
 * <ul>
 *   <li>{@code sentence_transformers.models.Transformer} at its {@code path} ("" = the folder): the
 *       encoder ({@link BertModel#load}; {@link ModernBert#load} for model_type "modernbert";
 *       {@link dev.surpass.model.t5.T5Encoder#load} for "t5" / "mt5" (sentence-t5, GTR-T5); a decoder LLM when {@code config.json} names a Llama-family
 *       model — llama, mistral, qwen2, qwen3, … — {@link dev.surpass.model.llama.LlamaEncoder#load},
 *       whose checkpoint may be a base model's without the {@code model.} prefix and without
 *       {@code lm_head}), its {@code tokenizer.json}, and from
 *       {@code sentence_bert_config.json} {@code max_seq_length} (else the tokenizer config's
 *       {@code model_max_length}, at most what the position table holds) and {@code do_lower_case};
 *   <li>{@code Pooling}: {@code config.json}'s {@code pooling_mode_*} flags
 *       ({@link SentenceEmbeddings.Pooling}; an absent flag is off except mean, on as in
 *       {@code Pooling}'s constructor; a {@code pooling_mode} name overrides them); {@code word_embedding_dimension} must be the encoder's;
 *   <li>{@code Dense}: {@code in_features, out_features, bias, activation_function} (Tanh or
 *       Identity), weights {@code linear.weight} / {@code linear.bias} in {@code model.safetensors}
 *       or {@code pytorch_model.bin};
 *   <li>{@code Normalize}.
 * </ul>
 * Any other module type is refused by name.
 */
final class SentenceModules {
    private SentenceModules() {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ST = "sentence_transformers.models.";

    /** @param maxLength the most ids per sentence, or 0 for the folder's setting */
    static SentenceEmbeddings load(Device device, Path dir, int maxLength) {
        if (maxLength != 0 && maxLength < 2) throw new IllegalArgumentException("maxLength is " + maxLength + "; expected 0 (the folder's) or >= 2");
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": not a folder");
        Path modulesFile = dir.resolve("modules.json");
        if (!Files.isRegularFile(modulesFile)) return build(device, dir, dir, SentenceEmbeddings.Pooling.MEAN, true, List.of(), false, maxLength);
        JsonNode modules = json(modulesFile);
        if (!modules.isArray() || modules.isEmpty()) throw new IllegalArgumentException(modulesFile + ": expected a non-empty list of modules");
        List<JsonNode> ordered = new ArrayList<>();
        modules.forEach(ordered::add);
        ordered.sort((a, b) -> Integer.compare(a.path("idx").asInt(0), b.path("idx").asInt(0)));
        Path encoder = null;
        SentenceEmbeddings.Pooling pooling = null;
        List<Path> dense = new ArrayList<>();
        boolean normalize = false, includePrompt = true;
        for (JsonNode m : ordered) {
            String type = m.path("type").asText("");
            String name = type.startsWith(ST) ? type.substring(ST.length()) : type;
            Path at = dir.resolve(m.path("path").asText(""));
            if (!at.normalize().startsWith(dir.normalize())) throw new IllegalArgumentException(modulesFile + ": module path '" + m.path("path").asText() + "' leaves the folder");
            String where = modulesFile + ": module " + m.path("idx").asText("?") + " (" + type + ")";
            switch (name) {
                case "Transformer" -> {
                    if (encoder != null || pooling != null) throw new IllegalArgumentException(where + ": the Transformer must come first, once");
                    encoder = at;
                }
                case "Pooling" -> {
                    if (encoder == null || pooling != null) throw new IllegalArgumentException(where + ": Pooling must follow the Transformer, once");
                    pooling = pooling(at.resolve("config.json"));
                    JsonNode ip = json(at.resolve("config.json")).path("include_prompt");
                    if (!ip.isMissingNode() && !ip.isNull() && !ip.isBoolean()) {
                        throw new IllegalArgumentException(at.resolve("config.json") + ": include_prompt " + ip + " is not a boolean");
                    }
                    includePrompt = ip.asBoolean(true);
                }
                case "Dense" -> {
                    if (pooling == null || normalize) throw new IllegalArgumentException(where + ": Dense must come after Pooling and before Normalize");
                    dense.add(at);
                }
                case "Normalize" -> {
                    if (pooling == null) throw new IllegalArgumentException(where + ": Normalize must come after Pooling");
                    normalize = true;
                }
                default -> throw new IllegalArgumentException(where + ": module type '" + type + "' is not supported "
                        + "(Transformer, Pooling, Dense and Normalize are)");
            }
        }
        if (encoder == null) throw new IllegalArgumentException(modulesFile + ": no sentence_transformers.models.Transformer module");
        if (pooling == null) throw new IllegalArgumentException(modulesFile + ": no sentence_transformers.models.Pooling module");
        return build(device, dir, encoder, pooling, includePrompt, dense, normalize, maxLength);
    }

    private static SentenceEmbeddings build(Device device, Path dir, Path encoder, SentenceEmbeddings.Pooling pooling, boolean includePrompt,
                                            List<Path> denseDirs,
                                            boolean normalize, int maxLengthOverride) {
        Path tokFile = encoder.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokFile)) throw new IllegalArgumentException(encoder + ": no tokenizer.json");
        Tokenizer tok = Tokenizer.load(tokFile);
        JsonNode stc = firstJson(encoder.resolve("sentence_bert_config.json"), dir.resolve("sentence_bert_config.json"));
        SentenceEncoder model = dev.surpass.model.llama.LlamaConfig.looksLikeLlama(encoder)
                ? dev.surpass.model.llama.LlamaEncoder.load(device, encoder)
                : ModernBert.looksLikeModernBert(encoder) ? ModernBert.load(device, encoder)
                : dev.surpass.model.t5.T5Config.looksLikeT5(encoder) ? dev.surpass.model.t5.T5Encoder.load(device, encoder)
                : BertModel.load(device, encoder);
        try {
            int limit = model.maxTokens();
            int maxLength = limit;
            Path tc = encoder.resolve("tokenizer_config.json");
            if (Files.isRegularFile(tc)) { // sentence-transformers' fallback: the tokenizer's model_max_length (a huge sentinel when unset)
                JsonNode n = json(tc).path("model_max_length");
                if (n.isNumber() && n.asDouble() >= 2 && n.asDouble() < limit) maxLength = n.asInt();
            }
            boolean lower = false;
            if (stc != null) {
                JsonNode m = stc.path("max_seq_length");
                if (m.isIntegralNumber()) {
                    if (m.asLong() < 2) throw new IllegalArgumentException(encoder + ": sentence_bert_config.json: max_seq_length " + m + " must be >= 2");
                    maxLength = (int) Math.min(m.asLong(), limit); // longer inputs could not be embedded anyway: positions end at limit
                }
                lower = stc.path("do_lower_case").asBoolean(false);
            }
            if (maxLengthOverride > limit) {
                throw new IllegalArgumentException(encoder + ": maxLength " + maxLengthOverride + " is more than the " + limit
                        + " tokens the position table (max_position_embeddings) holds");
            }
            if (maxLengthOverride != 0) maxLength = maxLengthOverride;
            int width = pooling.modes() * model.hiddenSize();
            List<SentenceEmbeddings.Dense> dense = new ArrayList<>();
            for (Path d : denseDirs) {
                SentenceEmbeddings.Dense layer = dense(d);
                if (layer.in() != width) {
                    throw new IllegalArgumentException(d.resolve("config.json") + ": in_features " + layer.in() + " but the previous module gives " + width);
                }
                dense.add(layer);
                width = layer.out();
            }
            SentenceEmbeddings st = new SentenceEmbeddings(model, tok, maxLength, pooling, dense, normalize, lower);
            Path cfg = dir.resolve("config_sentence_transformers.json"); // the named prompts (e.g. a "query" instruction)
            if (!Files.isRegularFile(cfg)) return st.prompts(java.util.Map.of(), null, includePrompt);
            JsonNode c = json(cfg), ps = c.path("prompts");
            java.util.Map<String, String> prompts = new java.util.LinkedHashMap<>();
            if (!ps.isMissingNode() && !ps.isNull()) {
                if (!ps.isObject()) throw new IllegalArgumentException(cfg + ": prompts " + ps + " is not an object of name → text");
                for (var it = ps.fields(); it.hasNext(); ) {
                    var en = it.next();
                    if (!en.getValue().isTextual()) throw new IllegalArgumentException(cfg + ": prompts." + en.getKey() + " is not a string");
                    prompts.put(en.getKey(), en.getValue().asText());
                }
            }
            JsonNode dn = c.path("default_prompt_name");
            if (!dn.isMissingNode() && !dn.isNull() && !dn.isTextual()) throw new IllegalArgumentException(cfg + ": default_prompt_name " + dn + " is not a string");
            String defaultName = dn.isTextual() ? dn.asText() : null;
            if (defaultName != null && !prompts.containsKey(defaultName)) {
                throw new IllegalArgumentException(cfg + ": default_prompt_name '" + defaultName + "' is not one of the prompts " + prompts.keySet());
            }
            return st.prompts(prompts, defaultName, includePrompt);
        } catch (RuntimeException | Error e) {
            model.close();
            throw e;
        }
    }

    private static SentenceEmbeddings.Pooling pooling(Path config) {
        JsonNode n = json(config);
        String[] modes = {"pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens", "pooling_mode_mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};
        boolean[] on = new boolean[modes.length];
        for (int i = 0; i < modes.length; i++) {
            JsonNode v = n.path(modes[i]);
            if (!v.isMissingNode() && !v.isNull() && !v.isBoolean()) throw new IllegalArgumentException(config + ": " + modes[i] + " " + v + " is not a boolean");
            // Pooling(**config): an absent key takes the constructor's default, which is true for mean
            on[i] = v.isMissingNode() ? i == 2 : v.asBoolean(false);
        }
        JsonNode mode = n.path("pooling_mode"); // a mode name overrides the flags (Pooling.__init__)
        if (!mode.isMissingNode() && !mode.isNull()) {
            String[] names = {"cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"};
            int k = Arrays.asList(names).indexOf(mode.asText("").toLowerCase(java.util.Locale.ROOT));
            if (!mode.isTextual() || k < 0) {
                throw new IllegalArgumentException(config + ": pooling_mode " + mode + " is not one of " + Arrays.toString(names));
            }
            Arrays.fill(on, false);
            on[k] = true;
        }
        try {
            return new SentenceEmbeddings.Pooling(on[0], on[1], on[2], on[3], on[4], on[5]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(config + ": no pooling_mode_* is true", e);
        }
    }

    private static SentenceEmbeddings.Dense dense(Path dir) {
        Path cf = dir.resolve("config.json");
        JsonNode n = json(cf);
        int in = n.path("in_features").asInt(0), out = n.path("out_features").asInt(0);
        if (!n.path("in_features").isIntegralNumber() || in < 1 || !n.path("out_features").isIntegralNumber() || out < 1 || (long) in * out > 1 << 28) {
            throw new IllegalArgumentException(cf + ": in_features / out_features must be positive integers (got " + n.path("in_features") + ", "
                    + n.path("out_features") + ")");
        }
        boolean bias = n.path("bias").asBoolean(true);
        String act = n.path("activation_function").asText("torch.nn.modules.activation.Tanh");
        boolean tanh = switch (act) {
            case "torch.nn.modules.activation.Tanh" -> true;
            case "torch.nn.modules.linear.Identity" -> false;
            default -> throw new IllegalArgumentException(cf + ": activation_function '" + act + "' is not supported (Tanh and Identity are)");
        };
        Path weights = null;
        for (String f : new String[] {"model.safetensors", "pytorch_model.bin"}) if (Files.isRegularFile(dir.resolve(f))) weights = dir.resolve(f);
        if (weights == null) throw new IllegalArgumentException(dir + ": no model.safetensors or pytorch_model.bin for the Dense module");
        try (SafeTensorsFile st = PyTorchCheckpoint.openAsSafeTensors(weights)) {
            float[] w = read(st, weights, "linear.weight", out, in);
            float[] b = bias ? read(st, weights, "linear.bias", out) : null;
            return new SentenceEmbeddings.Dense(w, b, in, out, tanh);
        }
    }

    private static float[] read(SafeTensorsFile st, Path file, String name, long... shape) {
        if (!st.contains(name)) throw new IllegalArgumentException(file + ": tensor '" + name + "' is missing");
        TensorInfo i = st.info(name);
        if (!Arrays.equals(i.shape(), shape) || i.dtype() == null || !i.dtype().isFloating()) {
            throw new IllegalArgumentException(file + ": tensor '" + name + "' is " + i.dtypeName() + " " + Arrays.toString(i.shape()) + "; expected a float "
                    + Arrays.toString(shape));
        }
        try (Device cpu = Device.cpu(); Tensor t = st.tensor(name, cpu)) {
            return t.toFloatArray();
        }
    }

    private static JsonNode firstJson(Path... files) {
        for (Path f : files) if (Files.isRegularFile(f)) return json(f);
        return null;
    }

    private static JsonNode json(Path f) {
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(f + ": missing");
        try {
            JsonNode n = JSON.readTree(f.toFile());
            if (n == null) throw new IllegalArgumentException(f + ": empty");
            return n;
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage(), e);
        }
    }
}
