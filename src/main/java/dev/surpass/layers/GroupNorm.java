package dev.surpass.layers;

import dev.surpass.Shapes;
import dev.surpass.Tensor;

/**
 * GroupNorm over channels-last data: {@code x [N, *, C]} (N samples, any number of spatial dims,
 * C channels last, e.g. an image as {@code [N, H·W, C]}) with C split into {@code groups} groups of
 * {@code C / groups} consecutive channels; each (sample, group) is normalised over its spatial
 * positions and channels together, {@code (x - mean) / sqrt(var + eps) * weight[c] + bias[c]},
 * biased variance, fp32 statistics. This is {@code torch.nn.functional.group_norm} applied to
 * {@code x.movedim(-1, 1)} (PyTorch's channels-first layout), with the result moved back. A rank-2
 * {@code x [N, C]} has one position per sample, as in PyTorch. {@code weight} and {@code bias} are
 * {@code [C]} or null (no affine). The result is a new tensor like {@code x}.
 *
 * <p>Errors: {@link IllegalArgumentException} for a null, closed or non-floating {@code x}, one of
 * rank below 2, groups below 1 or not dividing C; a weight or bias of another dtype, device or
 * shape than {@code [C]}; an eps that is not positive and finite.
 */
public final class GroupNorm {
    private GroupNorm() {}

    public static Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps) {
        OpChecks.floating("groupNorm", "x", x);
        if (x.rank() < 2) {
            throw new IllegalArgumentException("groupNorm: x has shape " + Shapes.toString(x.shape())
                    + "; expected [N, *, C] (rank ≥ 2, channels last)");
        }
        OpChecks.rows("groupNorm", x);
        long c = x.dim(-1);
        if (groups < 1 || c % groups != 0) {
            throw new IllegalArgumentException("groupNorm: groups is " + groups + " but x's channel dim (last) is " + c
                    + "; groups must be ≥ 1 and divide it");
        }
        OpChecks.channel("groupNorm", "weight", weight, x);
        OpChecks.channel("groupNorm", "bias", bias, x);
        OpChecks.eps("groupNorm", eps);
        if (x.device().isCuda() && x.dim(0) * groups > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("groupNorm: " + x.dim(0) + " samples × " + groups
                    + " groups; the CUDA kernel takes at most " + Integer.MAX_VALUE + " (sample, group) pairs");
        }
        return OpChecks.withOutput(x, x.dtype(), out -> {
            long n = x.dim(0);
            int cols = (int) c;
            long l = cols == 0 || n == 0 ? 0 : x.numel() / n / cols;
            if (x.device().isCpu()) VectorGroupNorm.groupNorm(x, weight, bias, out, n, l, cols, groups, eps, true);
            else CudaGroupNorm.groupNorm(x, weight, bias, out, n, l, cols, groups, eps);
        });
    }
}
