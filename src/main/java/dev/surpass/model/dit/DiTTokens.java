package dev.surpass.model.dit;

import dev.surpass.Device;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import java.util.Arrays;

/**
 * Token-axis copies of the joint-attention transformers (SD3's and Flux's MMDiT): {@link #cat}
 * joins two streams along dim 1 ({@code torch.cat([a, b], dim=1)}), {@link #slice} cuts a run of
 * tokens back out. Each is one device copy per sample (the tokens of a sample are contiguous), so
 * the values are moved, never changed. Outputs are new tensors owned by the caller, in the inputs'
 * dtype, on their device. Callers are model internals that pass well-formed tensors; the checks
 * here guard against programming errors.
 */
public final class DiTTokens {
    private DiTTokens() {}

    /** {@code a [B, N, ...]} and {@code b [B, M, ...]} (same trailing dims, dtype, device) → {@code [B, N + M, ...]}: a's tokens first. */
    public static Tensor cat(Tensor a, Tensor b) {
        long[] sa = a.shape(), sb = b.shape();
        if (sa.length < 2 || sa.length != sb.length || sa[0] != sb[0] || a.dtype() != b.dtype() || !a.device().sameAs(b.device())
                || !Arrays.equals(Arrays.copyOfRange(sa, 2, sa.length), Arrays.copyOfRange(sb, 2, sb.length))) {
            throw new IllegalArgumentException("DiTTokens.cat: " + a.describe() + " and " + b.describe() + " do not join along dim 1");
        }
        long[] shape = sa.clone();
        shape[1] = sa[1] + sb[1];
        Device d = a.device();
        Tensor out = d.allocate(a.dtype(), shape);
        long n = sa[0], ra = a.byteSize() / n, rb = b.byteSize() / n;
        for (long i = 0; i < n; i++) {
            d.backend().copy(a.storage(), a.byteOffset() + i * ra, out.storage(), out.byteOffset() + i * (ra + rb), ra);
            d.backend().copy(b.storage(), b.byteOffset() + i * rb, out.storage(), out.byteOffset() + i * (ra + rb) + ra, rb);
        }
        return out;
    }

    /** Tokens {@code [from, from + count)} of every sample of {@code x [B, N, ...]}, as {@code [B, count, ...]}. */
    public static Tensor slice(Tensor x, long from, long count) {
        long[] s = x.shape();
        if (s.length < 2 || from < 0 || count < 1 || from + count > s[1]) {
            throw new IllegalArgumentException("DiTTokens.slice: tokens [" + from + ", " + (from + count) + ") of " + Shapes.toString(s));
        }
        long[] shape = s.clone();
        shape[1] = count;
        Device d = x.device();
        Tensor out = d.allocate(x.dtype(), shape);
        long n = s[0], row = x.byteSize() / (n * s[1]);
        for (long i = 0; i < n; i++) {
            d.backend().copy(x.storage(), x.byteOffset() + (i * s[1] + from) * row, out.storage(), out.byteOffset() + i * count * row, count * row);
        }
        return out;
    }
}
