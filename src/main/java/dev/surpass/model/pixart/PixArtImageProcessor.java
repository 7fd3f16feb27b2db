package dev.surpass.model.pixart;

import dev.surpass.Tensor;

/**
 * Resolution binning as diffusers' {@code PixArtImageProcessor} does it for the PixArt pipelines'
 * {@code use_resolution_binning}: the requested size is snapped to the closest trained aspect ratio
 * ({@link #classifyHeightWidthBin}), the picture is generated at that bin's size, and the decoded
 * images are resized back to cover the requested size and center-cropped ({@link #resizeAndCrop}).
 * The resize is torch's {@code F.interpolate(mode="bilinear", align_corners=False)} without
 * antialiasing ({@link #bilinear}), done on the host: the pictures are small beside the models.
 */
public final class PixArtImageProcessor {
    private PixArtImageProcessor() {}

    /** The aspect-ratio tables, as diffusers spells them (keys are the ratio strings height / width, rounded). */
    public enum Bins {
        /** ASPECT_RATIO_256_BIN. */
        B256(256, new double[] {
                0.25, 0.28, 0.32, 0.33, 0.35, 0.4, 0.42, 0.48, 0.5, 0.52, 0.57, 0.6, 0.68, 0.72, 0.78, 0.82, 0.88, 0.94, 1.0, 1.07, 1.13,
                1.21, 1.29, 1.38, 1.46, 1.67, 1.75, 2.0, 2.09, 2.4, 2.5, 3.0, 4.0
        }, new int[] {
                128, 512, 128, 464, 144, 448, 144, 432, 144, 416, 160, 400, 160, 384, 176, 368, 176, 352, 176, 336, 192, 336, 192, 320, 208,
                304, 208, 288, 224, 288, 224, 272, 240, 272, 240, 256, 256, 256, 256, 240, 272, 240, 272, 224, 288, 224, 288, 208, 304, 208,
                320, 192, 336, 192, 352, 176, 368, 176, 384, 160, 400, 160, 432, 144, 512, 128
        }),
        /** ASPECT_RATIO_512_BIN. */
        B512(512, new double[] {
                0.25, 0.28, 0.32, 0.33, 0.35, 0.4, 0.42, 0.48, 0.5, 0.52, 0.57, 0.6, 0.68, 0.72, 0.78, 0.82, 0.88, 0.94, 1.0, 1.07, 1.13,
                1.21, 1.29, 1.38, 1.46, 1.67, 1.75, 2.0, 2.09, 2.4, 2.5, 3.0, 4.0
        }, new int[] {
                256, 1024, 256, 928, 288, 896, 288, 864, 288, 832, 320, 800, 320, 768, 352, 736, 352, 704, 352, 672, 384, 672, 384, 640,
                416, 608, 416, 576, 448, 576, 448, 544, 480, 544, 480, 512, 512, 512, 512, 480, 544, 480, 544, 448, 576, 448, 576, 416, 608,
                416, 640, 384, 672, 384, 704, 352, 736, 352, 768, 320, 800, 320, 864, 288, 1024, 256
        }),
        /** ASPECT_RATIO_1024_BIN. */
        B1024(1024, new double[] {
                0.25, 0.28, 0.32, 0.33, 0.35, 0.4, 0.42, 0.48, 0.5, 0.52, 0.57, 0.6, 0.68, 0.72, 0.78, 0.82, 0.88, 0.94, 1.0, 1.07, 1.13,
                1.21, 1.29, 1.38, 1.46, 1.67, 1.75, 2.0, 2.09, 2.4, 2.5, 3.0, 4.0
        }, new int[] {
                512, 2048, 512, 1856, 576, 1792, 576, 1728, 576, 1664, 640, 1600, 640, 1536, 704, 1472, 704, 1408, 704, 1344, 768, 1344,
                768, 1280, 832, 1216, 832, 1152, 896, 1152, 896, 1088, 960, 1088, 960, 1024, 1024, 1024, 1024, 960, 1088, 960, 1088, 896,
                1152, 896, 1152, 832, 1216, 832, 1280, 768, 1344, 768, 1408, 704, 1472, 704, 1536, 640, 1600, 640, 1728, 576, 2048, 512
        }),
        /** ASPECT_RATIO_2048_BIN. */
        B2048(2048, new double[] {
                0.25, 0.26, 0.27, 0.28, 0.32, 0.33, 0.35, 0.4, 0.42, 0.48, 0.5, 0.52, 0.57, 0.6, 0.68, 0.72, 0.78, 0.82, 0.88, 0.94, 1.0,
                1.07, 1.13, 1.21, 1.29, 1.38, 1.46, 1.67, 1.75, 2.0, 2.09, 2.4, 2.5, 2.89, 3.0, 3.11, 3.62, 3.75, 3.88, 4.0
        }, new int[] {
                1024, 4096, 1024, 3968, 1024, 3840, 1024, 3712, 1152, 3584, 1152, 3456, 1152, 3328, 1280, 3200, 1280, 3072, 1408, 2944,
                1408, 2816, 1408, 2688, 1536, 2688, 1536, 2560, 1664, 2432, 1664, 2304, 1792, 2304, 1792, 2176, 1920, 2176, 1920, 2048,
                2048, 2048, 2048, 1920, 2176, 1920, 2176, 1792, 2304, 1792, 2304, 1664, 2432, 1664, 2560, 1536, 2688, 1536, 2816, 1408,
                2944, 1408, 3072, 1280, 3200, 1280, 3328, 1152, 3456, 1152, 3584, 1152, 3712, 1024, 3840, 1024, 3968, 1024, 4096, 1024
        });

        final int side;
        final double[] ratios;
        final int[] heightWidth;

        Bins(int side, double[] ratios, int[] heightWidth) {
            this.side = side;
            this.ratios = ratios;
            this.heightWidth = heightWidth;
        }

        /** The table's nominal side in pixels (256, 512, 1024, 2048). */
        public int side() {
            return side;
        }

        /** The number of bins. */
        public int size() {
            return ratios.length;
        }

        /** Bin {@code i}'s ratio key, as the dict key's float value. */
        public double ratio(int i) {
            return ratios[i];
        }

        /** Bin {@code i}'s {@code {height, width}} in pixels. */
        public int[] heightWidth(int i) {
            return new int[] {heightWidth[2 * i], heightWidth[2 * i + 1]};
        }

        /**
         * The table the pipelines pick by the transformer's sample_size: 32 → 256, 64 → 512, 128 → 1024,
         * and 256 → 2048 for PixArt-Σ only.
         *
         * @throws IllegalArgumentException for any other sample_size (diffusers' "Invalid sample size")
         */
        public static Bins forSampleSize(int sampleSize, boolean sigma) {
            return switch (sampleSize) {
                case 32 -> B256;
                case 64 -> B512;
                case 128 -> B1024;
                case 256 -> {
                    if (sigma) yield B2048;
                    throw new IllegalArgumentException("resolution binning: transformer sample_size 256 has an aspect-ratio table only for "
                            + "PixArt-Σ (α has 32, 64, 128); turn binning off to run at the given size");
                }
                default -> throw new IllegalArgumentException("resolution binning: transformer sample_size " + sampleSize + " has no aspect-ratio table "
                        + "(32, 64, 128" + (sigma ? ", 256" : "") + "); turn binning off to run at the given size");
            };
        }
    }

    /**
     * diffusers' {@code classify_height_width_bin}: the {@code {height, width}} of the bin whose ratio key is
     * closest to {@code height / width} (the first such in the table's order on a tie).
     *
     * @throws IllegalArgumentException for a non-positive size or a null table
     */
    public static int[] classifyHeightWidthBin(int height, int width, Bins bins) {
        if (height <= 0 || width <= 0) throw new IllegalArgumentException("classifyHeightWidthBin: size " + height + "×" + width + " must be positive");
        if (bins == null) throw new IllegalArgumentException("classifyHeightWidthBin: no table");
        double ar = (double) height / width;
        int best = 0;
        double bestDist = Math.abs(bins.ratios[0] - ar);
        for (int i = 1; i < bins.ratios.length; i++) {
            double d = Math.abs(bins.ratios[i] - ar);
            if (d < bestDist) { // strict: Python's min keeps the first minimum
                best = i;
                bestDist = d;
            }
        }
        return bins.heightWidth(best);
    }

    /**
     * diffusers' {@code resize_and_crop_tensor}: images {@code [N, C, H, W]} scaled by
     * {@code r = max(height / H, width / W)} to {@code (int(H·r), int(W·r))} with {@link #bilinear}, then
     * the center {@code height × width} crop (offsets {@code (resized − wanted) // 2}). A new tensor on the
     * images' device and dtype, owned by the caller (a copy when the size already matches).
     * <p>Where {@code int(side·r)} rounds one pixel below the wanted side (r = wanted / side is not exact in
     * float64, e.g. 176 → 120), diffusers' slice would start at −1 and return a one-pixel strip; this takes the
     * wanted side instead.
     *
     * @throws IllegalArgumentException for images that are not a floating {@code [N, C, H, W]} or a non-positive size
     */
    public static Tensor resizeAndCrop(Tensor images, int width, int height) {
        long[] s = check("resizeAndCrop", images);
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("resizeAndCrop: size " + width + "×" + height + " must be positive");
        int n = (int) s[0], c = (int) s[1], ih = (int) s[2], iw = (int) s[3];
        float[] x = images.toFloatArray();
        if (ih == height && iw == width) return images.device().upload(images.dtype(), x, s);
        double ratio = Math.max((double) height / ih, (double) width / iw);
        int rw = Math.max((int) (iw * ratio), width), rh = Math.max((int) (ih * ratio), height);
        float[] r = bilinear(x, n * c, ih, iw, rh, rw);
        int x0 = (rw - width) / 2, y0 = (rh - height) / 2;
        float[] out = new float[n * c * height * width];
        for (int p = 0; p < n * c; p++) {
            for (int y = 0; y < height; y++) {
                System.arraycopy(r, (p * rh + y0 + y) * rw + x0, out, (p * height + y) * width, width);
            }
        }
        return images.device().upload(images.dtype(), out, n, c, height, width);
    }

    /**
     * torch's {@code F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)} (no
     * antialias) of {@code x [N, C, H, W]}: a new tensor on x's device and dtype, owned by the caller.
     *
     * @throws IllegalArgumentException for x that is not a floating {@code [N, C, H, W]} or a non-positive size
     */
    public static Tensor bilinear(Tensor x, int height, int width) {
        long[] s = check("bilinear", x);
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("bilinear: size " + width + "×" + height + " must be positive");
        float[] r = bilinear(x.toFloatArray(), (int) (s[0] * s[1]), (int) s[2], (int) s[3], height, width);
        return x.device().upload(x.dtype(), r, s[0], s[1], height, width);
    }

    /**
     * The bilinear resize of {@code planes} planes {@code ih × iw} to {@code oh × ow}: source coordinate
     * {@code max(0, (d + 0.5)·in/out − 0.5)}, its floor and the next index (clamped to the last), weighted
     * by the fraction; the scale, coordinates, weights and sums in float32 as torch's CPU kernel
     * computes them (height weights outside the width sums).
     */
    static float[] bilinear(float[] x, int planes, int ih, int iw, int oh, int ow) {
        int[] y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        float[] wy = new float[oh], wx = new float[ow];
        taps(ih, oh, y0, y1, wy);
        taps(iw, ow, x0, x1, wx);
        float[] out = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++) {
            int in = p * ih * iw, o = p * oh * ow;
            for (int y = 0; y < oh; y++) {
                int r0 = in + y0[y] * iw, r1 = in + y1[y] * iw;
                float h1 = wy[y], h0 = 1 - h1;
                for (int xx = 0; xx < ow; xx++) {
                    float w1 = wx[xx], w0 = 1 - w1;
                    out[o + y * ow + xx] = h0 * (w0 * x[r0 + x0[xx]] + w1 * x[r0 + x1[xx]]) + h1 * (w0 * x[r1 + x0[xx]] + w1 * x[r1 + x1[xx]]);
                }
            }
        }
        return out;
    }

    /** Per output index along one axis: the two source indices and the second one's weight. */
    private static void taps(int in, int out, int[] i0, int[] i1, float[] w1) {
        float scale = (float) in / out;
        for (int d = 0; d < out; d++) {
            float src = Math.max((float) (scale * (d + 0.5) - 0.5), 0f); // the product in double, stored as float
            int i = Math.min((int) src, in - 1);
            i0[d] = i;
            i1[d] = i < in - 1 ? i + 1 : i;
            w1[d] = src - i;
        }
    }

    private static long[] check(String where, Tensor x) {
        if (x == null || x.isClosed()) throw new IllegalArgumentException(where + ": the images are null or closed");
        long[] s = x.shape();
        if (s.length != 4 || !x.dtype().isFloating() || s[0] < 1 || s[1] < 1 || s[2] < 1 || s[3] < 1) {
            throw new IllegalArgumentException(where + ": images are " + x.describe() + "; expected floating [N, C, H, W]");
        }
        return s;
    }
}
