package dev.surpass.model.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.ConfigJson;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The last two steps of transformers' {@code CLIPImageProcessor} on images that are already the
 * crop size (resizing and center cropping are the caller's): each RGB byte rescaled by
 * {@code rescale_factor} (1/255) and normalised per channel, {@code (x − image_mean[c]) / image_std[c]},
 * in float32 as numpy does it, channels first. Read from {@code preprocessor_config.json}; absent
 * fields take CLIP's values (openai mean [0.48145466, 0.4578275, 0.40821073], std [0.26862954,
 * 0.26130258, 0.27577711], crop 224). Immutable.
 *
 * @param mean          image_mean per channel
 * @param std           image_std per channel
 * @param rescaleFactor rescale_factor (used when doRescale)
 * @param doRescale     do_rescale
 * @param doNormalize   do_normalize
 * @param cropHeight    crop_size height: the images' required height
 * @param cropWidth     crop_size width
 */
public record ClipImageProcessor(double[] mean, double[] std, double rescaleFactor, boolean doRescale, boolean doNormalize, int cropHeight,
                                 int cropWidth) {
    public ClipImageProcessor {
        if (mean.length != 3 || std.length != 3) throw new IllegalArgumentException("image_mean and image_std need 3 values (RGB)");
        mean = mean.clone();
        std = std.clone();
    }

    /** CLIP's processor: openai mean and std, rescale 1/255, crop 224. */
    public static ClipImageProcessor defaults() {
        return new ClipImageProcessor(new double[] {0.48145466, 0.4578275, 0.40821073}, new double[] {0.26862954, 0.26130258, 0.27577711},
                1 / 255.0, true, true, 224, 224);
    }

    /**
     * Reads {@code dir/preprocessor_config.json} (the defaults when the file is absent).
     *
     * @throws IllegalArgumentException naming the file and field for a bad value
     */
    public static ClipImageProcessor load(Path dir) {
        if (dir == null) throw new IllegalArgumentException("ClipImageProcessor.load: dir is null");
        Path f = dir.resolve("preprocessor_config.json");
        ClipImageProcessor d = defaults();
        if (!Files.isRegularFile(f)) return d;
        ConfigJson c = ConfigJson.load(f, "CLIP image processor");
        double[] mean = triple(c, "image_mean", d.mean), std = triple(c, "image_std", d.std);
        for (double s : std) if (!(s > 0)) throw new IllegalArgumentException(f + ": field \"image_std\" has " + s + "; expected positive values");
        int h = d.cropHeight, w = d.cropWidth;
        JsonNode crop = c.node().get("crop_size");
        if (crop != null && !crop.isNull()) {
            if (crop.canConvertToExactIntegral()) {
                h = w = c.positiveAt(c.node(), "crop_size", "crop_size");
            } else if (crop.isObject()) {
                h = c.positiveAt(crop, "height", "crop_size.height");
                w = c.positiveAt(crop, "width", "crop_size.width");
            } else {
                throw new IllegalArgumentException(f + ": field \"crop_size\" is " + crop + "; expected a size or {\"height\", \"width\"}");
            }
        }
        return new ClipImageProcessor(mean, std, c.optPositiveNumber("rescale_factor", d.rescaleFactor), c.bool("do_rescale", true),
                c.bool("do_normalize", true), h, w);
    }

    private static double[] triple(ConfigJson c, String key, double[] dflt) {
        if (!c.has(key)) return dflt;
        JsonNode v = c.node().get(key);
        if (!v.isArray() || v.size() != 3) throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; expected 3 numbers (RGB)");
        double[] o = new double[3];
        for (int i = 0; i < 3; i++) {
            if (!v.get(i).isNumber()) throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + v + "; expected 3 numbers (RGB)");
            o[i] = v.get(i).asDouble();
        }
        return o;
    }

    @Override
    public double[] mean() {
        return mean.clone();
    }

    @Override
    public double[] std() {
        return std.clone();
    }

    /**
     * {@code pixel_values [B, 3, cropHeight, cropWidth]} F32 on {@code device} (owned by the caller)
     * from images of exactly the crop size.
     *
     * @throws IllegalArgumentException naming the image whose size differs
     */
    public Tensor pixelValues(Device device, BufferedImage... images) {
        if (device == null) throw new IllegalArgumentException("pixelValues: device is null");
        if (images == null || images.length == 0) throw new IllegalArgumentException("pixelValues: no images");
        int h = cropHeight, w = cropWidth, plane = h * w;
        float[] out = new float[images.length * 3 * plane];
        int[] rgb = new int[plane];
        for (int i = 0; i < images.length; i++) {
            BufferedImage im = images[i];
            if (im == null || im.getWidth() != w || im.getHeight() != h) {
                throw new IllegalArgumentException("pixelValues: images[" + i + "] is " + (im == null ? "null" : im.getWidth() + "×" + im.getHeight())
                        + "; expected " + w + "×" + h + " (crop_size): resize and center-crop it first");
            }
            im.getRGB(0, 0, w, h, rgb, 0, w);
            for (int c = 0; c < 3; c++) {
                int shift = 16 - 8 * c;
                for (int j = 0; j < plane; j++) out[(i * 3 + c) * plane + j] = value((rgb[j] >> shift) & 0xFF, c);
            }
        }
        return device.upload(DType.F32, out, images.length, 3, h, w);
    }

    /** One byte of channel c, rescaled (float64 product rounded to float32, as transformers' rescale) and normalised in float32. */
    float value(int v, int c) {
        float x = doRescale ? (float) (v * rescaleFactor) : v;
        return doNormalize ? (x - (float) mean[c]) / (float) std[c] : x;
    }
}
