package dev.surpass.model.clip;

/**
 * Pillow's {@code Image.resize} for 8-bit RGB images with its convolution filters, bit for bit (what
 * transformers' image processors call with {@code resample=BICUBIC} or {@code BILINEAR}): separable
 * two-pass resampling, horizontal then vertical, each output sample a weighted sum over the input
 * samples under the filter's support (widened by the scale when shrinking, so it antialiases), the
 * weights normalised to sum 1, then turned into 22-bit fixed point, the sum rounded and clamped to a
 * byte after each pass. A pass whose size does not change is skipped, as Pillow does. The arithmetic
 * follows Pillow's {@code libImaging/Resample.c} (precompute_coeffs, normalize_coeffs_8bpc, the 8bpc
 * horizontal and vertical passes).
 */
final class PilResize {
    private PilResize() {}

    /** The filters, with Pillow's resample numbers. */
    enum Filter {
        BILINEAR(2, 1.0), BICUBIC(3, 2.0);

        final int pil;
        final double support;

        Filter(int pil, double support) {
            this.pil = pil;
            this.support = support;
        }

        double weight(double x) {
            if (x < 0) x = -x;
            if (this == BILINEAR) return x < 1 ? 1 - x : 0;
            final double a = -0.5;
            if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
            if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
            return 0;
        }

        static Filter ofPil(int resample) {
            for (Filter f : values()) if (f.pil == resample) return f;
            throw new IllegalArgumentException("resample " + resample + " is not supported (2 = bilinear, 3 = bicubic)");
        }
    }

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** Per output index: the first input index, the count, and the fixed-point weights (ksize apart). */
    private record Coeffs(int[] start, int[] count, int[] k, int ksize) {}

    private static Coeffs coeffs(int inSize, int outSize, Filter f) {
        double scale = (double) inSize / outSize, filterScale = Math.max(1.0, scale);
        double support = f.support * filterScale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] start = new int[outSize], count = new int[outSize], k = new int[outSize * ksize];
        double inv = 1.0 / filterScale;
        double[] w = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            int xmin = Math.max(0, (int) (center - support + 0.5));
            int xmax = Math.min(inSize, (int) (center + support + 0.5)) - xmin;
            double ww = 0;
            for (int x = 0; x < xmax; x++) {
                w[x] = f.weight((x + xmin - center + 0.5) * inv);
                ww += w[x];
            }
            for (int x = 0; x < xmax; x++) {
                double v = ww != 0 ? w[x] / ww : w[x];
                k[xx * ksize + x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            start[xx] = xmin;
            count[xx] = xmax;
        }
        return new Coeffs(start, count, k, ksize);
    }

    private static int clip8(int ss) {
        return Math.clamp(ss >> PRECISION_BITS, 0, 255);
    }

    /**
     * {@code rgb} (packed 0xRRGGBB, row-major {@code w × h}) resized to {@code ow × oh}.
     *
     * @throws IllegalArgumentException for non-positive sizes or an array of the wrong length
     */
    static int[] resize(int[] rgb, int w, int h, int ow, int oh, Filter f) {
        if (w < 1 || h < 1 || ow < 1 || oh < 1 || rgb == null || rgb.length != w * h) {
            throw new IllegalArgumentException("resize: " + w + "×" + h + " → " + ow + "×" + oh + " with " + (rgb == null ? "no" : rgb.length) + " pixels");
        }
        int[] cur = rgb;
        int cw = w;
        if (ow != w) {
            Coeffs c = coeffs(w, ow, f);
            int[] out = new int[ow * h];
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < ow; xx++) {
                    int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                    int base = xx * c.ksize, x0 = c.start[xx];
                    for (int x = 0; x < c.count[xx]; x++) {
                        int p = cur[y * cw + x0 + x], kk = c.k[base + x];
                        s0 += ((p >> 16) & 0xFF) * kk;
                        s1 += ((p >> 8) & 0xFF) * kk;
                        s2 += (p & 0xFF) * kk;
                    }
                    out[y * ow + xx] = (clip8(s0) << 16) | (clip8(s1) << 8) | clip8(s2);
                }
            }
            cur = out;
            cw = ow;
        }
        if (oh != h) {
            Coeffs c = coeffs(h, oh, f);
            int[] out = new int[cw * oh];
            for (int yy = 0; yy < oh; yy++) {
                int base = yy * c.ksize, y0 = c.start[yy];
                for (int x = 0; x < cw; x++) {
                    int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                    for (int y = 0; y < c.count[yy]; y++) {
                        int p = cur[(y0 + y) * cw + x], kk = c.k[base + y];
                        s0 += ((p >> 16) & 0xFF) * kk;
                        s1 += ((p >> 8) & 0xFF) * kk;
                        s2 += (p & 0xFF) * kk;
                    }
                    out[yy * cw + x] = (clip8(s0) << 16) | (clip8(s1) << 8) | clip8(s2);
                }
            }
            cur = out;
        }
        return cur == rgb ? rgb.clone() : cur;
    }
}
