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
 * transformers' {@code CLIPImageProcessor}: each image converted to RGB, resized so its shortest
 * edge is {@code size.shortest_edge} (the long edge {@code int(short · long / short_in)}, as
 * {@code get_resize_output_image_size}; or to {@code size.height × size.width}) with Pillow's
 * resampling reproduced bit for bit ({@link PilResize}, {@code resample} 3 = bicubic or 2 =
 * bilinear), center-cropped to {@code crop_size} (offsets {@code (in − crop) // 2}; zero padding
 * where the image is smaller, as {@code center_crop}), then each byte rescaled by
 * {@code rescale_factor} (1/255) and normalised per channel, {@code (x − image_mean[c]) / image_std[c]},
 * in float32 as numpy does it, channels first. Read from {@code preprocessor_config.json}; absent
 * fields take CLIP's values (openai mean [0.48145466, 0.4578275, 0.40821073], std [0.26862954,
 * 0.26130258, 0.27577711], shortest edge 224, bicubic, crop 224). Immutable.
 *
 * @param mean          image_mean per channel
 * @param std           image_std per channel
 * @param rescaleFactor rescale_factor (used when doRescale)
 * @param doRescale     do_rescale
 * @param doNormalize   do_normalize
 * @param cropHeight    crop_size height
 * @param cropWidth     crop_size width
 * @param doResize      do_resize
 * @param shortestEdge  size.shortest_edge, or 0 when the size is {@code resizeHeight × resizeWidth}
 * @param resizeHeight  size.height (with shortestEdge 0)
 * @param resizeWidth   size.width (with shortestEdge 0)
 * @param resample      Pillow's filter number: 3 bicubic, 2 bilinear
 * @param doCenterCrop  do_center_crop
 */
public record ClipImageProcessor(double[] mean, double[] std, double rescaleFactor, boolean doRescale, boolean doNormalize, int cropHeight,
                                 int cropWidth, boolean doResize, int shortestEdge, int resizeHeight, int resizeWidth, int resample,
                                 boolean doCenterCrop) {
    public ClipImageProcessor {
        if (mean.length != 3 || std.length != 3) throw new IllegalArgumentException("image_mean and image_std need 3 values (RGB)");
        if (cropHeight < 1 || cropWidth < 1) throw new IllegalArgumentException("crop_size must be positive, got " + cropHeight + "×" + cropWidth);
        if (doResize && shortestEdge < 1 && (resizeHeight < 1 || resizeWidth < 1)) {
            throw new IllegalArgumentException("size: need a positive shortest_edge or height and width");
        }
        PilResize.Filter.ofPil(resample);
        mean = mean.clone();
        std = std.clone();
    }

    /** The last steps only (rescale and normalise) on images that are already {@code cropHeight × cropWidth}. */
    public ClipImageProcessor(double[] mean, double[] std, double rescaleFactor, boolean doRescale, boolean doNormalize, int cropHeight,
                              int cropWidth) {
        this(mean, std, rescaleFactor, doRescale, doNormalize, cropHeight, cropWidth, false, 0, cropHeight, cropWidth, 3, false);
    }

    /** CLIP's processor: shortest edge 224 (bicubic), center crop 224, rescale 1/255, openai mean and std. */
    public static ClipImageProcessor defaults() {
        return new ClipImageProcessor(new double[] {0.48145466, 0.4578275, 0.40821073}, new double[] {0.26862954, 0.26130258, 0.27577711},
                1 / 255.0, true, true, 224, 224, true, 224, 0, 0, 3, true);
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
        int edge = d.shortestEdge, rh = 0, rw = 0;
        JsonNode size = c.node().get("size");
        if (size != null && !size.isNull()) {
            if (size.canConvertToExactIntegral()) {
                edge = c.positiveAt(c.node(), "size", "size");
            } else if (size.isObject() && size.has("shortest_edge")) {
                edge = c.positiveAt(size, "shortest_edge", "size.shortest_edge");
            } else if (size.isObject() && size.has("height") && size.has("width")) {
                edge = 0;
                rh = c.positiveAt(size, "height", "size.height");
                rw = c.positiveAt(size, "width", "size.width");
            } else {
                throw new IllegalArgumentException(f + ": field \"size\" is " + size + "; expected a size, {\"shortest_edge\"} or {\"height\", \"width\"}");
            }
        }
        int resample = 3;
        if (c.has("resample")) {
            JsonNode r = c.node().get("resample");
            if (!r.canConvertToExactIntegral()) throw new IllegalArgumentException(f + ": field \"resample\" is " + r + "; expected Pillow's filter number");
            resample = r.asInt();
            try {
                PilResize.Filter.ofPil(resample);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(f + ": field \"resample\": " + e.getMessage(), e);
            }
        }
        return new ClipImageProcessor(mean, std, c.optPositiveNumber("rescale_factor", d.rescaleFactor), c.bool("do_rescale", true),
                c.bool("do_normalize", true), h, w, c.bool("do_resize", true), edge, rh, rw, resample, c.bool("do_center_crop", true));
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
     * {@code pixel_values [B, 3, H, W]} F32 on {@code device} (owned by the caller): each image resized
     * and center-cropped as configured (crop_size; without resizing and cropping the images must all
     * share one size), rescaled and normalised.
     *
     * @throws IllegalArgumentException naming the image that is null or whose size does not fit
     */
    public Tensor pixelValues(Device device, BufferedImage... images) {
        if (device == null) throw new IllegalArgumentException("pixelValues: device is null");
        if (images == null || images.length == 0) throw new IllegalArgumentException("pixelValues: no images");
        int[][] rgb = new int[images.length][];
        int h = -1, w = -1;
        for (int i = 0; i < images.length; i++) {
            BufferedImage im = images[i];
            if (im == null) throw new IllegalArgumentException("pixelValues: images[" + i + "] is null");
            int[] size = new int[2];
            rgb[i] = prepare(im, size);
            if (h < 0) {
                h = size[0];
                w = size[1];
            } else if (size[0] != h || size[1] != w) {
                throw new IllegalArgumentException("pixelValues: images[" + i + "] comes out " + size[1] + "×" + size[0] + " but images[0] "
                        + w + "×" + h + " (without do_center_crop the images must share one size)");
            }
        }
        int plane = h * w;
        float[] out = new float[images.length * 3 * plane];
        for (int i = 0; i < images.length; i++) {
            for (int c = 0; c < 3; c++) {
                int shift = 16 - 8 * c;
                for (int j = 0; j < plane; j++) out[(i * 3 + c) * plane + j] = value((rgb[i][j] >> shift) & 0xFF, c);
            }
        }
        return device.upload(DType.F32, out, images.length, 3, h, w);
    }

    /** The RGB pixels of one image after resize and center crop; {@code size} receives {height, width}. */
    int[] prepare(BufferedImage im, int[] size) {
        int w = im.getWidth(), h = im.getHeight();
        int[] px = im.getRGB(0, 0, w, h, null, 0, w);
        for (int j = 0; j < px.length; j++) px[j] &= 0xFFFFFF;
        if (doResize) {
            int nh, nw;
            if (shortestEdge > 0) {
                int shortIn = Math.min(w, h), longIn = Math.max(w, h);
                int newLong = (int) ((double) shortestEdge * longIn / shortIn);
                nh = w <= h ? newLong : shortestEdge;
                nw = w <= h ? shortestEdge : newLong;
            } else {
                nh = resizeHeight;
                nw = resizeWidth;
            }
            if (nh != h || nw != w) {
                px = PilResize.resize(px, w, h, nw, nh, PilResize.Filter.ofPil(resample));
                w = nw;
                h = nh;
            }
        }
        if (doCenterCrop && (h != cropHeight || w != cropWidth)) {
            px = centerCrop(px, w, h, cropWidth, cropHeight);
            w = cropWidth;
            h = cropHeight;
        }
        size[0] = h;
        size[1] = w;
        return px;
    }

    /** transformers' center_crop: offsets {@code (in − crop) // 2}, zero padding (centred, extra at the end) where the image is smaller. */
    static int[] centerCrop(int[] px, int w, int h, int cw, int ch) {
        int top = Math.floorDiv(h - ch, 2), left = Math.floorDiv(w - cw, 2);
        int[] out = new int[cw * ch];
        for (int y = 0; y < ch; y++) {
            int sy = top + y;
            if (sy < 0 || sy >= h) continue;
            for (int x = 0; x < cw; x++) {
                int sx = left + x;
                if (sx >= 0 && sx < w) out[y * cw + x] = px[sy * w + sx];
            }
        }
        return out;
    }

    /** One byte of channel c, rescaled (float64 product rounded to float32, as transformers' rescale) and normalised in float32. */
    float value(int v, int c) {
        float x = doRescale ? (float) (v * rescaleFactor) : v;
        return doNormalize ? (x - (float) mean[c]) / (float) std[c] : x;
    }
}
