package dev.surpass.model.decoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A {@code config.json} object with typed, checked field access: every error names the file and the
 * field and says what was expected.
 */
public final class ConfigJson {
    // Python's json module (which writes HF's config.json) spells non-finite floats Infinity / NaN.
    private static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final JsonNode node;
    private final String where;

    public ConfigJson(JsonNode node, String where) {
        if (node == null || !node.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
        this.node = node;
        this.where = where;
    }

    /** Reads {@code dir/config.json} (or the file itself when {@code path} is a file). */
    public static ConfigJson load(Path path, String family) {
        if (path == null) throw new IllegalArgumentException("path is null");
        Path f = Files.isDirectory(path) ? path.resolve("config.json") : path;
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(f + ": no config.json for a " + family + " model");
        try {
            return new ConfigJson(JSON.readTree(f.toFile()), f.toString());
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** {@code dir/config.json} parsed, or null when it is absent or unreadable (for {@code accepts}). */
    public static JsonNode peek(Path dir) {
        try {
            if (dir == null || !Files.isDirectory(dir)) return null;
            Path f = dir.resolve("config.json");
            if (!Files.isRegularFile(f)) return null;
            JsonNode n = JSON.readTree(f.toFile());
            return n != null && n.isObject() ? n : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    public JsonNode node() {
        return node;
    }

    public String where() {
        return where;
    }

    public boolean has(String key) {
        return node.has(key) && !node.get(key).isNull();
    }

    /** A required positive integer: the first of {@code keys} present. */
    public int positive(String... keys) {
        for (String k : keys) if (has(k)) return positiveAt(node, k, k);
        throw new IllegalArgumentException(where + ": missing field \"" + keys[0] + "\""
                + (keys.length > 1 ? " (or \"" + String.join("\", \"", java.util.Arrays.copyOfRange(keys, 1, keys.length)) + "\")" : ""));
    }

    /** An optional positive integer, {@code dflt} when absent or null. */
    public int optPositive(String key, int dflt) {
        return has(key) ? positiveAt(node, key, key) : dflt;
    }

    /** An optional integer >= 0, {@code dflt} when absent or null. */
    public int optPositiveOrZero(String key, int dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.canConvertToExactIntegral() || v.asLong() < 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": field \"" + key + "\" is " + v + "; expected an integer >= 0");
        }
        return v.asInt();
    }

    /** An optional positive finite number. */
    public double optPositiveNumber(String key, double dflt) {
        return has(key) ? positiveNumber(node, key, key) : dflt;
    }

    public boolean bool(String key, boolean dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isBoolean()) throw new IllegalArgumentException(where + ": field \"" + key + "\" is " + v + "; expected true or false");
        return v.asBoolean();
    }

    public String text(String key, String dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isTextual()) throw new IllegalArgumentException(where + ": field \"" + key + "\" is " + v + "; expected a string");
        return v.asText();
    }

    /** A positive integer field {@code key} of object {@code n}, named {@code field} in errors. */
    public int positiveAt(JsonNode n, String key, String field) {
        JsonNode v = n.get(key);
        if (v == null || !v.canConvertToExactIntegral() || v.asLong() <= 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": field \"" + field + "\" is " + v + "; expected a positive integer");
        }
        return v.asInt();
    }

    /** A positive finite number field {@code key} of object {@code n}, named {@code field} in errors. */
    public double positiveNumber(JsonNode n, String key, String field) {
        JsonNode v = n.get(key);
        if (v == null || !v.isNumber() || !(v.asDouble() > 0) || !Double.isFinite(v.asDouble())) {
            throw new IllegalArgumentException(where + ": field \"" + field + "\" is " + v + "; expected a positive number");
        }
        return v.asDouble();
    }

    /** The settings of HF's default (unscaled) RoPE: {@code rope_theta} and {@code partial_rotary_factor}. */
    public record DefaultRope(double theta, double partialRotaryFactor) {}

    /**
     * The default RoPE of a config: {@code rope_theta} and {@code partial_rotary_factor} top level
     * (transformers 4) or in {@code rope_parameters} / {@code rope_scaling} (5: a top-level
     * partial_rotary_factor wins, the object's rope_theta wins, as its standardize_rope_params);
     * {@code dfltTheta} / {@code dfltFactor} when absent. A RoPE type other than "default" is refused,
     * naming the field and {@code family}.
     */
    public DefaultRope defaultRope(String family, double dfltTheta, double dfltFactor) {
        JsonNode rp = null;
        String rpName = null;
        for (String k : new String[] {"rope_scaling", "rope_parameters"}) {
            if (!has(k)) continue;
            JsonNode v = node.get(k);
            if (!v.isObject()) throw new IllegalArgumentException(where + ": field \"" + k + "\" is " + v + "; expected an object or null");
            String rt = v.path("rope_type").asText(v.path("type").asText("default"));
            if (!rt.equals("default")) {
                throw new IllegalArgumentException(where + ": " + k + " type \"" + rt + "\" is not supported for " + family + "; only \"default\"");
            }
            if (rp == null) {
                rp = v;
                rpName = k;
            }
        }
        double pct = has("partial_rotary_factor") ? positiveNumber(node, "partial_rotary_factor", "partial_rotary_factor")
                : rp != null && rp.hasNonNull("partial_rotary_factor") ? positiveNumber(rp, "partial_rotary_factor", rpName + ".partial_rotary_factor")
                : dfltFactor;
        double theta = rp != null && rp.hasNonNull("rope_theta") ? positiveNumber(rp, "rope_theta", rpName + ".rope_theta")
                : optPositiveNumber("rope_theta", dfltTheta);
        return new DefaultRope(theta, pct);
    }

    /**
     * The activation field {@code key} ({@code hidden_act}, GPT-J's {@code activation_function},
     * Falcon's {@code activation}; default {@code dflt}) as a GELU: true for the tanh approximations
     * ("gelu_new", "gelu_fast", "gelu_pytorch_tanh"), false for "gelu" (erf); others refused by name.
     */
    public boolean geluTanh(String key, String dflt) {
        String act = text(key, dflt);
        return switch (act) {
            case "gelu" -> false;
            case "gelu_new", "gelu_fast", "gelu_pytorch_tanh" -> true;
            default -> throw new IllegalArgumentException(where + ": field \"" + key + "\" is \"" + act
                    + "\"; supported: gelu_new, gelu_fast, gelu_pytorch_tanh (tanh), gelu (erf)");
        };
    }

    /** {@code eos_token_id} (a number or a list of numbers), or none. */
    /**
     * The ids {@code generate} stops at for the model in {@code dir}: {@code generation_config.json}'s
     * {@code eos_token_id} when that file sets one (as HF's generate uses it: instruct models list
     * their end-of-turn ids there), else {@code fallback} (config.json's).
     *
     * @throws IllegalArgumentException naming the file when it is not valid JSON or its eos_token_id is not an id or a list of ids
     */
    public static int[] generationEosIds(Path dir, int[] fallback) {
        Path f = dir == null ? null : dir.resolve("generation_config.json");
        if (f == null || !Files.isRegularFile(f)) return fallback;
        ConfigJson g;
        try {
            g = new ConfigJson(JSON.readTree(f.toFile()), f.toString());
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!g.has("eos_token_id")) return fallback;
        return g.eosIds();
    }

    public int[] eosIds() {
        JsonNode n = node.path("eos_token_id");
        if (n.canConvertToExactIntegral()) return new int[] {n.asInt()};
        if (n.isArray()) {
            int[] ids = new int[n.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!n.get(i).canConvertToExactIntegral()) {
                    throw new IllegalArgumentException(where + ": field \"eos_token_id\" is " + n + "; expected an id or a list of ids");
                }
                ids[i] = n.get(i).asInt();
            }
            return ids;
        }
        if (!n.isMissingNode() && !n.isNull()) {
            throw new IllegalArgumentException(where + ": field \"eos_token_id\" is " + n + "; expected an id or a list of ids");
        }
        return new int[0];
    }
}
