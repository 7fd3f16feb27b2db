package dev.surpass.model.vae;

import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.Softmax;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.model.conv.ConvOps.Conv;
import dev.surpass.model.conv.ConvOps.Norm;
import dev.surpass.model.conv.ConvTables;

/**
 * The VAE decoder's pieces, on one image held channels-last: {@code [H·W, C]} F32 rows, on the
 * model's device. The convolutions, GroupNorm and row blocking are the shared {@link ConvOps}; here
 * are the decoder's norm eps, its ResnetBlock2D (no time embedding) and its mid-block attention:
 * single-head self-attention over the H·W positions as Gemm, softmax, Gemm, in blocks of query rows
 * (the fused attention's head dims stop well below a VAE's 512 channels). The gathers' index tables
 * come from the model's {@link ConvTables}.
 * Every method returns a new tensor the caller owns and leaves its inputs open.
 */
final class VaeOps {
    private VaeOps() {}

    /** ResnetBlock2D: norm1, SiLU, conv1, norm2, SiLU, conv2, plus a 1×1 conv_shortcut when the channels change. */
    record Resnet(Norm norm1, Conv conv1, Norm norm2, Conv conv2, Conv shortcut) {}

    /** The mid block's Attention: group_norm, to_q / to_k / to_v / to_out.0 as {@code [C, C]} linears. */
    record Attn(Norm norm, Tensor q, Tensor qb, Tensor k, Tensor kb, Tensor v, Tensor vb, Tensor o, Tensor ob) {}

    /** {@code [C, L]} (channels-first, one image) → {@code [L, C]} rows (or back), the gather's table from {@code tables}. */
    static Tensor transpose(Tensor x, int rows, int cols, ConvTables tables) {
        return ConvOps.transpose(x, 1, rows, cols, tables);
    }

    /** GroupNorm (eps 1e-6) of {@code x [L, C]} as one sample, then SiLU when {@code silu}. */
    static Tensor norm(Tensor x, Norm n, int groups, boolean silu) {
        return ConvOps.groupNorm(x, n, groups, AutoencoderKLConfig.NORM_EPS, silu);
    }

    /** A 1×1 convolution of {@code x [L, Cin]}. */
    static Tensor conv1x1(Tensor x, Conv c) {
        return ConvOps.conv1x1(x, c);
    }

    /**
     * A 3×3 convolution, padding 1, of the {@code h × w} image {@code x [h·w, cin]}; with
     * {@code upsample} of that image enlarged ×2 by nearest neighbour first.
     */
    static Tensor conv3x3(Tensor x, int h, int w, Conv c, boolean upsample, ConvTables tables) {
        return ConvOps.conv3x3(x, 1, h, w, c, upsample ? ConvOps.Sampling.UP2 : ConvOps.Sampling.SAME, tables);
    }

    /** ResnetBlock2D on {@code x [h·w, cin]}: {@code shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))}. */
    static Tensor resnet(Tensor x, int h, int w, Resnet r, int groups, ConvTables tables) {
        try (Scope s = Scope.open()) {
            Tensor a = s.track(norm(x, r.norm1(), groups, true));
            Tensor b = s.track(conv3x3(a, h, w, r.conv1(), false, tables));
            Tensor c = s.track(norm(b, r.norm2(), groups, true));
            Tensor d = s.track(conv3x3(c, h, w, r.conv2(), false, tables));
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
            long block = Math.max(1, ConvOps.blockFloats / l);
            Tensor o = s.track(ConvOps.inRowBlocks(x.device(), l, c, block, (r0, r1) -> {
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
}
