package dev.surpass.model.conv;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.GroupNorm;
import java.util.function.IntFunction;

/**
 * Convolution pieces of the diffusers image models (the VAE decoder, the UNet), on images held
 * channels-last: {@code [H·W, C]} F32 rows (row {@code y·W + x} holds pixel (y, x)'s C channels),
 * or a batch of N such images one after the other, {@code [N·H·W, C]} (the forms taking a sample
 * count), on the model's device, built from the layers ops only, so they run wherever the tensors
 * live. The gathers' I32 index tables come from a {@link ConvTables} the caller owns (made once per
 * size and kept there) or, given null, are made for the call:
 * <ul>
 * <li>a 3×3 convolution with padding 1 is one {@link Gather#rows} (the im2col matrix: for each
 *     output pixel the 9 input rows around it, in (ky, kx) order, a zero row where the window leaves
 *     the image) and one {@link Gemm#linear} with the weight laid out {@code [Cout, 9·Cin]} in the
 *     same (ky, kx, cin) order ({@link #relayout}). {@link Sampling#UP2} reads the image enlarged ×2
 *     by nearest neighbour (Upsample2D's interpolate then conv) without building it;
 *     {@link Sampling#DOWN2} is stride 2 (Downsample2D's conv, padding 1);
 *     {@link Sampling#DOWN2_PAD_END} is stride 2 with padding 0 after one zero column on the right
 *     and one zero row at the bottom (the VAE encoder's Downsample2D: {@code F.pad(x, (0, 1, 0, 1))}
 *     then a padding-0 conv). The output is made in
 *     blocks of rows so the im2col matrix stays under {@link #blockFloats} floats;</li>
 * <li>a 1×1 convolution is a {@link Gemm#linear};</li>
 * <li>GroupNorm over each image, optionally followed by SiLU;</li>
 * <li>a per-image row added to every pixel of that image (the UNet's time projection);</li>
 * <li>a channel concatenation ({@code torch.cat([a, b], dim=1)} of channels-first images) as one
 *     row gather.</li>
 * </ul>
 * Callers are the models, which validate their inputs; these methods trust their arguments. Every
 * method returns a new tensor the caller owns and leaves its inputs open.
 */
public final class ConvOps {
    private ConvOps() {}

    /** Largest im2col block (and attention-score block of the VAE), in floats: 64 MB (tests lower it to exercise the blocks). */
    public static volatile long blockFloats = 1L << 24;

    /** A convolution's weights: {@code weight [cout, k·k·cin]} in (ky, kx, cin) order, {@code bias [cout]}. */
    public record Conv(Tensor weight, Tensor bias, int k, int cin, int cout) {}

    /** A GroupNorm's affine parameters {@code [C]}. */
    public record Norm(Tensor weight, Tensor bias) {}

    /** How a 3×3 convolution (padding 1) samples its input. */
    public enum Sampling {
        /** Stride 1: the output has the input's size. */
        SAME,
        /** Stride 2 (Downsample2D): an h × w input gives ⌊(h − 1)/2⌋ + 1 × ⌊(w − 1)/2⌋ + 1. */
        DOWN2,
        /** Nearest ×2 first, then stride 1 (Upsample2D): 2h × 2w. */
        UP2,
        /**
         * Stride 2, padding 0, after padding one zero column right and one zero row below (the
         * AutoencoderKL encoder's Downsample2D, {@code padding=0}): an h × w input (h, w ≥ 2) gives
         * ⌊h/2⌋ × ⌊w/2⌋, window (ky, kx) of output (y, x) reading input (2y + ky, 2x + kx).
         */
        DOWN2_PAD_END;

        /** The output size along a dim of input size {@code n}. */
        public int out(int n) {
            return switch (this) {
                case SAME -> n;
                case DOWN2 -> (n - 1) / 2 + 1;
                case UP2 -> 2 * n;
                case DOWN2_PAD_END -> (n + 1 - 3) / 2 + 1; // (n + 1) padded, kernel 3, stride 2
            };
        }
    }

    /** A Conv2d weight {@code [cout, cin, k, k]} (row-major) re-laid out to {@code [cout, k·k·cin]} in (ky, kx, cin) order. */
    public static float[] relayout(float[] w, int cout, int cin, int k) {
        float[] r = new float[w.length];
        for (int o = 0; o < cout; o++) {
            for (int i = 0; i < cin; i++) {
                for (int y = 0; y < k; y++) {
                    for (int x = 0; x < k; x++) r[o * k * k * cin + (y * k + x) * cin + i] = w[((o * cin + i) * k + y) * k + x];
                }
            }
        }
        return r;
    }

    /** {@code [rows, cols]} → its transpose {@code [cols, rows]}, by a gather of single elements (channels-first ↔ channels-last). */
    public static Tensor transpose(Tensor x, int rows, int cols) {
        return transpose(x, 1, rows, cols, null);
    }

    /**
     * {@code n} matrices {@code [rows, cols]} one after the other ({@code n·rows·cols} elements) →
     * each transposed, {@code [n·cols, rows]}: a batch of channels-first images {@code [N, C, H·W]}
     * to channels-last rows {@code [N·H·W, C]} (rows = C, cols = H·W) or back (rows = H·W,
     * cols = C, the result then read as {@code [N, C, H·W]}). One gather of single elements; its
     * table comes from {@code tables} (null: made for this call).
     */
    public static Tensor transpose(Tensor x, int n, int rows, int cols, ConvTables tables) {
        Device dev = x.device();
        try (Scope s = Scope.open()) {
            Tensor ids = table(tables, dev, s, "transpose", n, rows, cols, 0, m -> transposeIds(m, rows, cols));
            Tensor table = s.track(x.reshape((long) n * rows * cols, 1));
            Tensor g = s.track(Gather.rows(table, ids));
            return g.reshape((long) n * cols, rows);
        }
    }

    private static int[] transposeIds(int n, int rows, int cols) {
        int[] ids = new int[Math.toIntExact((long) n * rows * cols)];
        int k = 0;
        for (int m = 0; m < n; m++) {
            int base = m * rows * cols;
            for (int j = 0; j < cols; j++) for (int i = 0; i < rows; i++) ids[k++] = base + i * cols + j;
        }
        return ids;
    }

    /** GroupNorm of {@code x [L, C]} as one sample ({@code groups} groups, {@code eps}), then SiLU when {@code silu}. */
    public static Tensor groupNorm(Tensor x, Norm n, int groups, float eps, boolean silu) {
        return groupNorm(x, 1, n, groups, eps, silu);
    }

    /**
     * GroupNorm of {@code x [N·L, C]}, the L rows of each of {@code samples} images one after the
     * other, each (sample, group) normalised on its own ({@code groups} groups, {@code eps}), then
     * SiLU when {@code silu}.
     */
    public static Tensor groupNorm(Tensor x, int samples, Norm n, int groups, float eps, boolean silu) {
        long l = x.dim(0) / samples, c = x.dim(1);
        try (Scope s = Scope.open()) {
            Tensor y = s.track(GroupNorm.groupNorm(s.track(x.reshape(samples, l, c)), groups, n.weight(), n.bias(), eps));
            Tensor a = silu ? s.track(Activation.silu(y)) : y;
            return a.reshape((long) samples * l, c);
        }
    }

    /**
     * {@code x [N·L, C]} (the L rows of each of N samples) plus, on every row of sample i,
     * {@code perSample}'s row i ({@code [N, C]}): the UNet's time projection broadcast over the
     * pixels. For N &gt; 1 the rows are first repeated by one gather (table from {@code tables}).
     */
    public static Tensor addPerSample(Tensor x, Tensor perSample, ConvTables tables) {
        int n = (int) perSample.dim(0);
        long c = perSample.dim(1);
        try (Scope s = Scope.open()) {
            if (n == 1) return Elementwise.add(x, s.track(perSample.reshape(c)));
            int l = (int) (x.dim(0) / n);
            Tensor ids = table(tables, x.device(), s, "repeat", n, l, 0, 0, m -> {
                int[] r = new int[m * l];
                for (int i = 0; i < m; i++) java.util.Arrays.fill(r, i * l, (i + 1) * l, i);
                return r;
            });
            return Elementwise.add(x, s.track(Gather.rows(perSample, ids)));
        }
    }

    /** A 1×1 convolution of {@code x [L, Cin]} (any number of rows: a batch's too). */
    public static Tensor conv1x1(Tensor x, Conv c) {
        return Gemm.linear(x, c.weight(), c.bias());
    }

    /**
     * A 3×3 convolution, padding 1, of the {@code h × w} image {@code x [h·w, cin]}, sampled as
     * {@code mode} says. Returns {@code [ho·wo, cout]} with ho = {@code mode.out(h)}, wo = {@code mode.out(w)}.
     */
    public static Tensor conv3x3(Tensor x, int h, int w, Conv c, Sampling mode) {
        return conv3x3(x, 1, h, w, c, mode, null);
    }

    /**
     * The 3×3 convolution of {@link #conv3x3(Tensor, int, int, Conv, Sampling)} over {@code n}
     * images at once: {@code x [n·h·w, cin]} (each image's rows in turn) → {@code [n·ho·wo, cout]}.
     * The im2col gather reads all images through one index table (a zero row for the padding, then
     * each image's rows), from {@code tables} (null: made for this call); the GEMM runs over all
     * images' rows, in blocks of whole output rows.
     */
    public static Tensor conv3x3(Tensor x, int n, int h, int w, Conv c, Sampling mode, ConvTables tables) {
        int ho = mode.out(h), wo = mode.out(w), cin = c.cin();
        long l = (long) h * w, outRows = (long) n * ho * wo;
        Device dev = x.device();
        try (Scope s = Scope.open()) {
            Tensor ids = table(tables, dev, s, "im2col", n, h, w, mode.ordinal(), m -> im2colIds(m, h, w, mode));
            Tensor padded = s.track(dev.zeros(DType.F32, n * l + 1, cin)); // the first row stays zero: the padding
            dev.backend().copy(x.storage(), x.byteOffset(), padded.storage(), padded.byteOffset() + 4L * cin, x.byteSize());
            long tileRows = Math.max(1, blockFloats / ((long) wo * 9 * cin));
            return inRowBlocks(dev, outRows, c.cout(), tileRows * wo, (p0, p1) -> {
                try (Scope b = Scope.open()) {
                    Tensor part = p0 == 0 && p1 == outRows ? ids : b.track(ids.view(p0 * 9, (p1 - p0) * 9));
                    Tensor cols = b.track(Gather.rows(padded, part));
                    return Gemm.linear(b.track(cols.reshape(p1 - p0, 9L * cin)), c.weight(), c.bias());
                }
            });
        }
    }

    /**
     * For each output pixel of each of n images, the 9 rows of its window in (ky, kx) order in the
     * table {@code [zero row; image 0's h·w rows; image 1's; ...]}: 0 outside the image.
     */
    private static int[] im2colIds(int n, int h, int w, Sampling mode) {
        int ho = mode.out(h), wo = mode.out(w);
        // the window's coordinates live in the (virtual) image the conv reads: 2h × 2w when upsampling
        int vh = mode == Sampling.UP2 ? 2 * h : h, vw = mode == Sampling.UP2 ? 2 * w : w;
        int stride = mode == Sampling.DOWN2 || mode == Sampling.DOWN2_PAD_END ? 2 : 1;
        // the window's top-left offset: −1 for padding 1 on every side, 0 when the padding is only right and below
        int off = mode == Sampling.DOWN2_PAD_END ? 0 : -1;
        int l = h * w, zero = 0;
        int[] ids = new int[Math.toIntExact(9L * n * ho * wo)];
        int k = 0;
        for (int m = 0; m < n; m++) {
            for (int y = 0; y < ho; y++) {
                for (int xx = 0; xx < wo; xx++) {
                    for (int ky = 0; ky < 3; ky++) {
                        for (int kx = 0; kx < 3; kx++) {
                            int sy = y * stride + ky + off, sx = xx * stride + kx + off;
                            if (sy < 0 || sy >= vh || sx < 0 || sx >= vw) ids[k++] = zero;
                            else ids[k++] = 1 + m * l + (mode == Sampling.UP2 ? (sy / 2) * w + sx / 2 : sy * w + sx);
                        }
                    }
                }
            }
        }
        return ids;
    }

    /**
     * The channel concatenation of two images of L pixels, {@code a [L, ca]} then {@code b [L, cb]}
     * → {@code [L, ca + cb]} (each row a's channels, then b's: {@code torch.cat([a, b], dim=1)} of
     * the channels-first images). Both are copied into one table of g-wide pieces, g = gcd(ca, cb),
     * and one row gather interleaves them. Row-wise, so L may count the rows of a whole batch.
     */
    public static Tensor concatChannels(Tensor a, Tensor b) {
        return concatChannels(a, b, 1, null);
    }

    /**
     * {@link #concatChannels(Tensor, Tensor)} of {@code n} images at once ({@code a [n·L, ca]},
     * {@code b [n·L, cb]}, each image's rows in turn), its gather's table from {@code tables} (null:
     * made for this call). The pieces are laid out image by image (image m's a rows, then its b
     * rows), so the table for fewer images is the start of the table for more.
     */
    public static Tensor concatChannels(Tensor a, Tensor b, int n, ConvTables tables) {
        long rows = a.dim(0), l = rows / n;
        int ca = (int) a.dim(1), cb = (int) b.dim(1), g = gcd(ca, cb), pa = ca / g, pb = cb / g;
        Device dev = a.device();
        long aBytes = l * ca * 4L, bBytes = l * cb * 4L;
        try (Scope s = Scope.open()) {
            Tensor table = s.track(dev.allocate(DType.F32, rows * (pa + pb), g));
            for (int m = 0; m < n; m++) {
                long at = table.byteOffset() + m * (aBytes + bBytes);
                dev.backend().copy(a.storage(), a.byteOffset() + m * aBytes, table.storage(), at, aBytes);
                dev.backend().copy(b.storage(), b.byteOffset() + m * bBytes, table.storage(), at + aBytes, bBytes);
            }
            Tensor ids = table(tables, dev, s, "concat", n, Math.toIntExact(l), pa, pb, k -> {
                int[] r = new int[Math.toIntExact(k * l * (pa + pb))];
                int i = 0;
                for (int m = 0; m < k; m++) {
                    long base = m * l * (pa + pb);
                    for (long p = 0; p < l; p++) {
                        for (int j = 0; j < pa; j++) r[i++] = (int) (base + p * pa + j);
                        for (int j = 0; j < pb; j++) r[i++] = (int) (base + l * pa + p * pb + j);
                    }
                }
                return r;
            });
            Tensor out = s.track(Gather.rows(table, ids));
            return out.reshape(rows, ca + cb);
        }
    }

    /**
     * The first {@code n} samples' part of the table {@code tables} holds for the key (made there,
     * for at least n samples), or with no cache the table for n samples made now; either tracked by {@code s}.
     */
    private static Tensor table(ConvTables tables, Device dev, Scope s, String op, int n, int a, int b, int c, IntFunction<int[]> make) {
        if (tables != null) return s.track(tables.get(op, n, a, b, c, make));
        int[] ids = make.apply(n);
        return s.track(dev.upload(ids, ids.length));
    }

    private static int gcd(int a, int b) {
        while (b != 0) {
            int t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    /** Makes the rows {@code [r0, r1)} of a blocked result. */
    public interface RowBlock {
        Tensor rows(long r0, long r1);
    }

    /**
     * A {@code [rows, cols]} F32 result made by {@code block} in pieces of at most {@code step}
     * rows, each copied into place (a single piece is returned as it is).
     */
    public static Tensor inRowBlocks(Device dev, long rows, long cols, long step, RowBlock block) {
        if (step >= rows) return block.rows(0, rows);
        Tensor out = dev.allocate(DType.F32, rows, cols);
        try {
            for (long r0 = 0; r0 < rows; r0 += step) {
                long r1 = Math.min(rows, r0 + step);
                try (Tensor part = block.rows(r0, r1)) {
                    dev.backend().copy(part.storage(), part.byteOffset(), out.storage(), out.byteOffset() + r0 * cols * 4, part.byteSize());
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }
}
