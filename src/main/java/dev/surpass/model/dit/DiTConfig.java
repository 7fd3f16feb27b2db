package dev.surpass.model.dit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The shape of a DiT (facebookresearch/DiT {@code models.py}): {@code DiT(input_size, patch_size,
 * in_channels, hidden_size, depth, num_heads, mlp_ratio, num_classes, learn_sigma)}.
 * <ul>
 *   <li>presets {@link #preset(String, int)}: S 12/384/6, B 12/768/12, L 24/1024/16, XL 28/1152/16
 *       (depth/hidden/heads) × patch 2, 4, 8; in_channels 4, mlp_ratio 4, 1000 classes, learn_sigma;
 *   <li>{@code mlpHidden} is {@code int(hidden·mlp_ratio)} (fc1's rows);
 *   <li>the label table has {@code numClasses + 1} rows when trained with class dropout (the last,
 *       index {@code numClasses}, is the null class of classifier-free guidance), else
 *       {@code numClasses}; {@link #labelRows} records which.
 * </ul>
 * Inferred from a checkpoint by {@link DiT#load}: every size but the input size and the head count
 * follows from the tensor shapes; those two come from {@code pos_embed}, a config (safetensors
 * metadata, {@code <name>.json} or {@code config.json} beside the file), the file name
 * ({@code DiT-XL-2-256x256} → 256 px → latent 32) or the preset head count of the hidden size.
 */
public record DiTConfig(int inputSize, int patchSize, int inChannels, int hiddenSize, int depth, int numHeads,
                        int mlpHidden, int numClasses, int labelRows, boolean learnSigma) {
    /** DiT's frequency embedding width (TimestepEmbedder's frequency_embedding_size). */
    public static final int FREQUENCY_DIM = 256;
    /** LayerNorm eps of every DiT norm. */
    public static final float LN_EPS = 1e-6f;

    public DiTConfig {
        positive("input_size", inputSize);
        positive("patch_size", patchSize);
        positive("in_channels", inChannels);
        positive("hidden_size", hiddenSize);
        positive("depth", depth);
        positive("num_heads", numHeads);
        positive("mlp hidden (fc1 rows)", mlpHidden);
        positive("num_classes", numClasses);
        if (inputSize % patchSize != 0) {
            throw new IllegalArgumentException("DiT config: input_size " + inputSize + " is not a multiple of patch_size " + patchSize);
        }
        if (hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("DiT config: hidden_size " + hiddenSize + " is not a multiple of num_heads " + numHeads);
        }
        if (hiddenSize % 4 != 0) {
            throw new IllegalArgumentException("DiT config: hidden_size " + hiddenSize + " must be a multiple of 4 (the 2-D sin-cos position embedding)");
        }
        if (labelRows != numClasses && labelRows != numClasses + 1) {
            throw new IllegalArgumentException("DiT config: the label table has " + labelRows + " rows; expected num_classes (" + numClasses
                    + ") or num_classes + 1 (with the null class)");
        }
    }

    private static void positive(String what, int v) {
        if (v < 1) throw new IllegalArgumentException("DiT config: " + what + " must be >= 1, got " + v);
    }

    /**
     * An official preset: {@code "DiT-XL/2"}, {@code "DiT-L/4"}, … (also {@code "XL/2"} or {@code "DiT-XL-2"})
     * at latent size {@code inputSize} (32 for 256 px, 64 for 512 px), 4 channels, 1000 classes, learn_sigma.
     */
    public static DiTConfig preset(String name, int inputSize) {
        if (name == null) throw new IllegalArgumentException("DiT preset: name is null");
        Matcher m = Pattern.compile("(?i)^(?:DiT[-_])?(XL|L|B|S)[/_-]([248])$").matcher(name.trim());
        if (!m.matches()) throw new IllegalArgumentException("DiT preset: '" + name + "' is not one of DiT-{S,B,L,XL}/{2,4,8}");
        int[] dhh = sizeOf(m.group(1).toUpperCase(Locale.ROOT));
        int hidden = dhh[1];
        return new DiTConfig(inputSize, Integer.parseInt(m.group(2)), 4, hidden, dhh[0], dhh[2], 4 * hidden, 1000, 1001, true);
    }

    /** depth, hidden, heads of a size name. */
    private static int[] sizeOf(String size) {
        return switch (size) {
            case "S" -> new int[] {12, 384, 6};
            case "B" -> new int[] {12, 768, 12};
            case "L" -> new int[] {24, 1024, 16};
            case "XL" -> new int[] {28, 1152, 16};
            default -> throw new IllegalArgumentException("DiT preset: unknown size " + size);
        };
    }

    /** The presets' head count for a hidden size (384 → 6, 768 → 12, 1024 and 1152 → 16), or 0. */
    static int presetHeads(int hidden) {
        return switch (hidden) {
            case 384 -> 6;
            case 768 -> 12;
            case 1024, 1152 -> 16;
            default -> 0;
        };
    }

    /** in_channels·2 with learn_sigma (ε then the variance values), else in_channels. */
    public int outChannels() {
        return learnSigma ? 2 * inChannels : inChannels;
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** Patches per side. */
    public int gridSize() {
        return inputSize / patchSize;
    }

    /** Tokens T = gridSize². */
    public int tokens() {
        return gridSize() * gridSize();
    }

    /** Length of a patch vector, C·p·p. */
    public int patchDim() {
        return inChannels * patchSize * patchSize;
    }

    /** True when the label table has the null class (index {@link #numClasses}) for guidance. */
    public boolean hasNullClass() {
        return labelRows > numClasses;
    }

    /** The null label (DiT's {@code num_classes}, 1000 for ImageNet). */
    public int nullClass() {
        return numClasses;
    }

    public DiTConfig withInputSize(int size) {
        return new DiTConfig(size, patchSize, inChannels, hiddenSize, depth, numHeads, mlpHidden, numClasses, labelRows, learnSigma);
    }

    public DiTConfig withNumHeads(int heads) {
        return new DiTConfig(inputSize, patchSize, inChannels, hiddenSize, depth, heads, mlpHidden, numClasses, labelRows, learnSigma);
    }

    /** The config as DiT's constructor arguments (what {@link #hints} reads back), e.g. for a config.json. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("input_size", Integer.toString(inputSize));
        m.put("patch_size", Integer.toString(patchSize));
        m.put("in_channels", Integer.toString(inChannels));
        m.put("hidden_size", Integer.toString(hiddenSize));
        m.put("depth", Integer.toString(depth));
        m.put("num_heads", Integer.toString(numHeads));
        m.put("mlp_ratio", Double.toString((double) mlpHidden / hiddenSize));
        m.put("num_classes", Integer.toString(numClasses));
        m.put("learn_sigma", Boolean.toString(learnSigma));
        return m;
    }

    // ---- hints from outside the tensors ----------------------------------------------------------

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern IMAGE_SIZE = Pattern.compile("(?:^|[-_])(\\d{2,4})(?:x(\\d{2,4}))?(?:$|[-_.])");

    /**
     * Config values for the checkpoint {@code file}, weakest first: its file name (image size →
     * {@code image_size}), {@code config.json} in its folder, {@code <name>.json} beside it, and the
     * safetensors header's metadata. Keys are DiT's constructor arguments (input_size, num_heads, …).
     */
    static Map<String, String> hints(Path file, Map<String, String> metadata) {
        Map<String, String> h = new LinkedHashMap<>();
        String fn = file.getFileName().toString();
        String stem = fn.contains(".") ? fn.substring(0, fn.lastIndexOf('.')) : fn;
        Matcher m = IMAGE_SIZE.matcher(stem);
        while (m.find()) {
            if (m.group(2) == null || m.group(2).equals(m.group(1))) h.put("image_size", m.group(1));
        }
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            readJson(dir.resolve("config.json"), h);
            readJson(dir.resolve(stem + ".json"), h);
        }
        if (metadata != null) h.putAll(metadata);
        return h;
    }

    private static void readJson(Path f, Map<String, String> into) {
        if (!Files.isRegularFile(f)) return;
        JsonNode n;
        try {
            n = JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!n.isObject()) return;
        n.fields().forEachRemaining(e -> {
            if (e.getValue().isValueNode()) into.put(e.getKey(), e.getValue().asText());
        });
    }

    static int intHint(Map<String, String> h, String key, String where) {
        String v = h.get(key);
        if (v == null) return 0;
        try {
            double d = Double.parseDouble(v.trim());
            if (d != Math.rint(d) || d < 1 || d > Integer.MAX_VALUE) throw new NumberFormatException();
            return (int) d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(where + ": config value " + key + " = '" + v + "' is not a positive integer");
        }
    }
}
