package dev.surpass.model.dit;

import static dev.surpass.backend.ArgChecks.companion;
import static dev.surpass.backend.ArgChecks.floating;

import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;

/**
 * The fused ops of a DiT block ({@code kernels/dit/}), each one pass over its tensors:
 * <ul>
 *   <li>{@link #modulate}: {@code LN(x)·(1 + scale) + shift} — LayerNorm without affine (biased
 *       variance, eps inside the root), then the adaLN modulation with a per-sample shift and scale;
 *   <li>{@link #gateResidual}: {@code x + gate·y} with a per-sample gate (adaLN-Zero's residual);
 *   <li>{@link #patchify}: {@code [N, C, H, W] → [N, T, C·p·p]}, the im2col of DiT's
 *       {@code Conv2d(kernel = stride = p)} (patch vectors in (C, ph, pw) order, tokens row-major);
 *   <li>{@link #unpatchify}: {@code [N, T, p·p·C] → [N, C, H, W]} with the final layer's
 *       (ph, pw, C) feature order (channel fastest).
 * </ul>
 * The per-sample parameters come straight from the adaLN linear's output {@code mod [N, K·D]}:
 * chunk {@code k} is columns {@code [k·D, (k+1)·D)} (DiT's {@code .chunk(K, dim=1)}; a block's
 * chunks are 0 shift_msa, 1 scale_msa, 2 gate_msa, 3 shift_mlp, 4 scale_mlp, 5 gate_mlp; the final
 * layer's are 0 shift, 1 scale), so nothing is sliced or copied.
 *
 * <p>dtypes F32, F16, BF16 (all operands of one dtype; fp32 math; outputs rounded once). Each op
 * runs where its inputs live: {@link VectorDiTOps} on the CPU, {@link CudaDiTOps} on CUDA; the
 * float64 oracle is {@link ReferenceDiTOps}. Errors: {@link IllegalArgumentException} naming the
 * argument. Thread rules: stateless; each output is a new tensor owned by the caller.
 */
public final class DiTOps {
    private DiTOps() {}

    /**
     * {@code out[n, t, :] = LN(x[n, t, :])·(1 + mod[n, scale chunk]) + mod[n, shift chunk]} for
     * {@code x [N, T, D]} and {@code mod [N, K·D]}.
     */
    public static Tensor modulate(Tensor x, Tensor mod, int shiftChunk, int scaleChunk, float eps) {
        checkTokens("modulate", x);
        int chunks = checkMod("modulate", mod, x);
        checkChunk("modulate", "shiftChunk", shiftChunk, chunks);
        checkChunk("modulate", "scaleChunk", scaleChunk, chunks);
        if (!(eps > 0) || !Float.isFinite(eps)) throw new IllegalArgumentException("modulate: eps must be positive and finite, got " + eps);
        long d = x.dim(2);
        return withOutput(x, x.shape(), out -> {
            long rows = x.dim(0) * x.dim(1);
            int tokens = (int) x.dim(1), stride = (int) mod.dim(1);
            int shiftOff = (int) (shiftChunk * d), scaleOff = (int) (scaleChunk * d);
            if (x.device().isCpu()) VectorDiTOps.modulate(x, mod, out, rows, (int) d, tokens, stride, shiftOff, scaleOff, eps);
            else CudaDiTOps.modulate(x, mod, out, rows, (int) d, tokens, stride, shiftOff, scaleOff, eps);
        });
    }

    /** {@code out = x + mod[n, gate chunk]·y} for {@code x, y [N, T, D]} and {@code mod [N, K·D]}. */
    public static Tensor gateResidual(Tensor x, Tensor y, Tensor mod, int gateChunk) {
        checkTokens("gateResidual", x);
        companion("gateResidual", "y", y, x);
        if (!java.util.Arrays.equals(y.shape(), x.shape())) {
            throw new IllegalArgumentException("gateResidual: y has shape " + Shapes.toString(y.shape()) + " but x has "
                    + Shapes.toString(x.shape()) + "; they must match");
        }
        int chunks = checkMod("gateResidual", mod, x);
        checkChunk("gateResidual", "gateChunk", gateChunk, chunks);
        long d = x.dim(2);
        return withOutput(x, x.shape(), out -> {
            long rows = x.dim(0) * x.dim(1);
            int tokens = (int) x.dim(1), stride = (int) mod.dim(1), gateOff = (int) (gateChunk * d);
            if (x.device().isCpu()) VectorDiTOps.gateResidual(x, y, mod, out, rows, (int) d, tokens, stride, gateOff);
            else CudaDiTOps.gateResidual(x, y, mod, out, rows, (int) d, tokens, stride, gateOff);
        });
    }

    /**
     * {@code x [N, C, H, W] → [N, (H/p)·(W/p), C·p·p]}: {@code out[n, i·(W/p) + j, (c·p + ph)·p + pw] =
     * x[n, c, i·p + ph, j·p + pw]}. H and W must be multiples of {@code patch}.
     */
    public static Tensor patchify(Tensor x, int patch) {
        floating("patchify", "x", x);
        if (x.rank() != 4) throw new IllegalArgumentException("patchify: x has shape " + Shapes.toString(x.shape()) + "; expected [N, C, H, W]");
        checkPatch("patchify", patch, x.dim(2), x.dim(3));
        long n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        checkInts("patchify", x, c, h, w);
        long[] shape = {n, (h / patch) * (w / patch), c * patch * patch};
        return withOutput(x, shape, out -> {
            if (x.device().isCpu()) VectorDiTOps.patchify(x, out, (int) n, (int) c, (int) h, (int) w, patch);
            else CudaDiTOps.patchify(x, out, out.numel(), (int) c, (int) h, (int) w, patch);
        });
    }

    /**
     * {@code x [N, T, p·p·C] → [N, C, H, W]} with {@code T = (H/p)·(W/p)}:
     * {@code out[n, c, i·p + ph, j·p + pw] = x[n, i·(W/p) + j, (ph·p + pw)·C + c]}.
     */
    public static Tensor unpatchify(Tensor x, int patch, int channels, int height, int width) {
        floating("unpatchify", "x", x);
        if (x.rank() != 3) throw new IllegalArgumentException("unpatchify: x has shape " + Shapes.toString(x.shape()) + "; expected [N, T, p·p·C]");
        if (channels < 1) throw new IllegalArgumentException("unpatchify: channels must be >= 1, got " + channels);
        checkPatch("unpatchify", patch, height, width);
        long tokens = (long) (height / patch) * (width / patch);
        if (x.dim(1) != tokens) {
            throw new IllegalArgumentException("unpatchify: x has " + x.dim(1) + " tokens (dim 1) but a " + height + "×" + width
                    + " output with patch " + patch + " needs " + tokens);
        }
        long feat = (long) patch * patch * channels;
        if (x.dim(2) != feat) {
            throw new IllegalArgumentException("unpatchify: x's dim 2 is " + x.dim(2) + " but patch " + patch + " × " + patch + " × "
                    + channels + " channels = " + feat);
        }
        long n = x.dim(0);
        long[] shape = {n, channels, height, width};
        return withOutput(x, shape, out -> {
            if (x.device().isCpu()) VectorDiTOps.unpatchify(x, out, (int) n, channels, height, width, patch);
            else CudaDiTOps.unpatchify(x, out, out.numel(), channels, height, width, patch);
        });
    }

    // ---- checks ----------------------------------------------------------------------------------

    private static void checkTokens(String op, Tensor x) {
        floating(op, "x", x);
        if (x.rank() != 3) throw new IllegalArgumentException(op + ": x has shape " + Shapes.toString(x.shape()) + "; expected [N, T, D]");
        if (x.dim(1) > Integer.MAX_VALUE || x.dim(2) > Integer.MAX_VALUE / 8) {
            throw new IllegalArgumentException(op + ": x has shape " + Shapes.toString(x.shape()) + "; T and D must fit an int");
        }
    }

    /** mod is [N, K·D] like x's batch and width; returns K. */
    private static int checkMod(String op, Tensor mod, Tensor x) {
        companion(op, "mod", mod, x);
        long n = x.dim(0), d = x.dim(2);
        if (mod.rank() != 2 || mod.dim(0) != n || d == 0 || mod.dim(1) % d != 0 || mod.dim(1) == 0) {
            throw new IllegalArgumentException(op + ": mod has shape " + Shapes.toString(mod.shape()) + " but x is "
                    + Shapes.toString(x.shape()) + "; expected [N = " + n + ", K·D] (K chunks of D = " + d + ")");
        }
        if (mod.dim(1) > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": mod's dim 1 (" + mod.dim(1) + ") must fit an int");
        return (int) (mod.dim(1) / d);
    }

    private static void checkChunk(String op, String name, int chunk, int chunks) {
        if (chunk < 0 || chunk >= chunks) {
            throw new IllegalArgumentException(op + ": " + name + " = " + chunk + " but mod has " + chunks + " chunks (valid: 0.." + (chunks - 1) + ")");
        }
    }

    private static void checkPatch(String op, int patch, long h, long w) {
        if (patch < 1) throw new IllegalArgumentException(op + ": patch must be >= 1, got " + patch);
        if (h < 1 || w < 1 || h % patch != 0 || w % patch != 0) {
            throw new IllegalArgumentException(op + ": height " + h + " and width " + w + " must be positive multiples of the patch size " + patch);
        }
    }

    private static void checkInts(String op, Tensor x, long... dims) {
        for (long d : dims) {
            if (d > Integer.MAX_VALUE / 64) throw new IllegalArgumentException(op + ": x has shape " + Shapes.toString(x.shape()) + "; dims too large");
        }
    }

    private static Tensor withOutput(Tensor x, long[] shape, java.util.function.Consumer<Tensor> body) {
        return ArgChecks.withOutput(x, x.dtype(), shape, body);
    }
}
