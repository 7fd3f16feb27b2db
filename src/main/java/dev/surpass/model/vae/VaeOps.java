package dev.surpass.model.vae;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.GroupNorm;
import dev.surpass.layers.Softmax;

/**
 * The VAE decoder's pieces, on one image held channels-last: {@code [H·W, C]} F32 rows (row
 * {@code y·W + x} holds pixel (y, x)'s C channels), on the model's device, built from the layers
 * ops only:
 * <ul>
 * <li>a 3×3 convolution with padding 1 is one {@link Gather#rows} (the im2col matrix: for each output
 *     pixel the 9 input rows around it, in (ky, kx) order, a zero row where the window leaves the
 *     image) and one {@link Gemm#linear} with the weight laid out {@code [Cout, 9·Cin]} in the same
 *     (ky, kx, cin) order; with {@code upsample} the window reads the image enlarged ×2 by nearest
 *     neighbour (Upsample2D's interpolate then conv) without building it. The output is made in
 *     blocks of rows so the im2col matrix stays under {@link #blockFloats} floats;</li>
 * <li>a 1×1 convolution is a {@link Gemm#linear};</li>
 * <li>single-head self-attention over the H·W positions is Gemm, softmax, Gemm, in blocks of query
 *     rows (the fused attention's head dims stop well below a VAE's 512 channels).</li>
 * </ul>
 * Every method returns a new tensor the caller owns and leaves its inputs open.
 */
final class VaeOps {
    private VaeOps() {}

    /** Largest im2col block (and attention-score block), in floats: 64 MB (tests lower it to exercise the blocks). */
    static volatile long blockFloats = 1L << 24;

    /** A convolution's weights: {@code weight [cout, k·k·cin]} in (ky, kx, cin) order, {@code bias [cout]}. */
    record Conv(Tensor weight, Tensor bias, int k, int cin, int cout) {}

    /** A GroupNorm's affine parameters {@code [C]}. */
    record Norm(Tensor weight, Tensor bias) {}

    /** ResnetBlock2D: norm1, SiLU, conv1, norm2, SiLU, conv2, plus a 1×1 conv_shortcut when the channels change. */
    record Resnet(Norm norm1, Conv conv1, Norm norm2, Conv conv2, Conv shortcut) {}

    /** The mid block's Attention: group_norm, to_q / to_k / to_v / to_out.0 as {@code [C, C]} linears. */
    record Attn(Norm norm, Tensor q, Tensor qb, Tensor k, Tensor kb, Tensor v, Tensor vb, Tensor o, Tensor ob) {}

    /** {@code [C, L]} (channels-first, one image) → {@code [L, C]} rows, by a gather of single elements. */
    static Tensor transpose(Tensor x, int rows, int cols) {
        int[] ids = new int[rows * cols];
        for (int j = 0; j < cols; j++) for (int i = 0; i < rows; i++) ids[j * rows + i] = i * cols + j;
        try (Scope s = Scope.open()) {
            Tensor table = s.track(x.reshape((long) rows * cols, 1));
            Tensor g = s.track(Gather.rows(table, s.track(x.device().upload(ids, ids.length))));
            return g.reshape(cols, rows);
        }
    }

    /** GroupNorm (eps 1e-6) of {@code x [L, C]} as one sample, then SiLU when {@code silu}. */
    static Tensor norm(Tensor x, Norm n, int groups, boolean silu) {
        long l = x.dim(0), c = x.dim(1);
        try (Scope s = Scope.open()) {
            Tensor y = s.track(GroupNorm.groupNorm(s.track(x.reshape(1, l, c)), groups, n.weight(), n.bias(), AutoencoderKLConfig.NORM_EPS));
            Tensor a = silu ? s.track(Activation.silu(y)) : y;
            return a.reshape(l, c);
        }
    }

    /** A 1×1 convolution of {@code x [L, Cin]}. */
    static Tensor conv1x1(Tensor x, Conv c) {
        return Gemm.linear(x, c.weight(), c.bias());
    }

    /**
     * A 3×3 convolution, padding 1, of the {@code h × w} image {@code x [h·w, cin]}; with
     * {@code upsample} of that image enlarged ×2 by nearest neighbour first. Returns
     * {@code [ho·wo, cout]}, ho × wo being h × w or 2h × 2w.
     */
    static Tensor conv3x3(Tensor x, int h, int w, Conv c, boolean upsample) {
        int ho = upsample ? 2 * h : h, wo = upsample ? 2 * w : w, cin = c.cin();
        long l = (long) h * w;
        Device dev = x.device();
        try (Tensor padded = dev.zeros(DType.F32, l + 1, cin)) { // the last row stays zero: the padding
            dev.backend().copy(x.storage(), x.byteOffset(), padded.storage(), padded.byteOffset(), x.byteSize());
            long tileRows = Math.max(1, blockFloats / ((long) wo * 9 * cin));
            return inRowBlocks(dev, (long) ho * wo, c.cout(), tileRows * wo, (p0, p1) -> {
                int n = (int) (p1 - p0);
                int[] ids = new int[n * 9];
                for (int p = 0; p < n; p++) {
                    int y = (int) ((p0 + p) / wo), xx = (int) ((p0 + p) % wo);
                    for (int ky = 0; ky < 3; ky++) {
                        for (int kx = 0; kx < 3; kx++) {
                            int sy = y + ky - 1, sx = xx + kx - 1;
                            int src;
                            if (sy < 0 || sy >= ho || sx < 0 || sx >= wo) src = (int) l;
                            else src = upsample ? (sy / 2) * w + sx / 2 : sy * w + sx;
                            ids[p * 9 + ky * 3 + kx] = src;
                        }
                    }
                }
                try (Scope s = Scope.open()) {
                    Tensor cols = s.track(Gather.rows(padded, s.track(dev.upload(ids, ids.length))));
                    return Gemm.linear(s.track(cols.reshape(n, 9L * cin)), c.weight(), c.bias());
                }
            });
        }
    }

    /** ResnetBlock2D on {@code x [h·w, cin]}: {@code shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))}. */
    static Tensor resnet(Tensor x, int h, int w, Resnet r, int groups) {
        try (Scope s = Scope.open()) {
            Tensor a = s.track(norm(x, r.norm1(), groups, true));
            Tensor b = s.track(conv3x3(a, h, w, r.conv1(), false));
            Tensor c = s.track(norm(b, r.norm2(), groups, true));
            Tensor d = s.track(conv3x3(c, h, w, r.conv2(), false));
            Tensor sc = r.shortcut() == null ? x : s.track(conv1x1(x, r.shortcut()));
            return Elementwise.add(sc, d); // output_scale_factor 1
        }
    }

    /**
     * The mid block's self-attention on {@code x [L, C]}: one head of C channels over the L
     * positions, scale 1/√C, residual added (rescale_output_factor 1).
     */
    static Tensor attention(Tensor x, Attn a, int groups) {
        long l = x.dim(0), c = x.dim(1);
        float scale = (float) (1 / Math.sqrt(c));
        try (Scope s = Scope.open()) {
            Tensor hn = s.track(norm(x, a.norm(), groups, false));
            Tensor q = s.track(Gemm.linear(hn, a.q(), a.qb()));
            Tensor k = s.track(Gemm.linear(hn, a.k(), a.kb()));
            Tensor v = s.track(Gemm.linear(hn, a.v(), a.vb()));
            long block = Math.max(1, blockFloats / l);
            Tensor o = s.track(inRowBlocks(x.device(), l, c, block, (r0, r1) -> {
                try (Scope b = Scope.open()) {
                    Tensor qs = r0 == 0 && r1 == l ? q : b.track(q.view(r0 * c, r1 - r0, c));
                    Tensor scores = b.track(Gemm.linear(qs, k, null)); // q·kᵀ [rows, L]
                    Tensor p = b.track(Softmax.softmax(b.track(Elementwise.scale(scores, scale))));
                    return Gemm.matmul(p, v);
                }
            }));
            Tensor proj = s.track(Gemm.linear(o, a.o(), a.ob()));
            return Elementwise.add(proj, x);
        }
    }

    interface RowBlock {
        Tensor rows(long r0, long r1);
    }

    /**
     * A {@code [rows, cols]} F32 result made by {@code block} in pieces of at most {@code step}
     * rows, each copied into place (a single piece is returned as it is).
     */
    static Tensor inRowBlocks(Device dev, long rows, long cols, long step, RowBlock block) {
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
