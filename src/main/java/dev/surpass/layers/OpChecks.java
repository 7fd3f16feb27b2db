package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;
import java.util.function.Consumer;

/**
 * Argument checks shared by the layers entries. Every failure is an {@link IllegalArgumentException}
 * whose message starts with the op, names the argument and says what was expected, e.g.
 * {@code "layerNorm: weight has shape [64] but x's last dim is 65"}.
 */
final class OpChecks {
    private OpChecks() {}

    /** Largest row length the CPU scratch arrays and the CUDA launchers' int cols can take. */
    static final long MAX_COLS = Integer.MAX_VALUE - 64;

    /** x is present, open and of a floating dtype. */
    static void floating(String op, String name, Tensor x) {
        if (x == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (x.isClosed()) throw new IllegalArgumentException(op + ": " + name + " (" + x.describe() + ") is closed");
        if (!x.dtype().isFloating()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + x.dtype()
                    + "; expected a floating dtype (F32, F16 or BF16)");
        }
    }

    /** other is a valid floating operand with the same dtype as, and on the same device as, x. */
    static void companion(String op, String name, Tensor other, String xName, Tensor x) {
        floating(op, name, other);
        if (other.dtype() != x.dtype()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + other.dtype() + " but "
                    + xName + " has " + x.dtype() + "; convert one with Tensor.to(DType)");
        }
        if (!other.device().sameAs(x.device())) {
            throw new IllegalArgumentException(op + ": " + name + " is on " + other.device().name() + " but "
                    + xName + " is on " + x.device().name() + "; move one with Tensor.to(Device)");
        }
    }

    /** b's shape is a suffix of a's (b broadcasts over a's leading dims). */
    static void suffix(String op, Tensor a, Tensor b) {
        long[] as = a.shape(), bs = b.shape();
        if (bs.length > as.length) {
            throw new IllegalArgumentException(op + ": b has shape " + Shapes.toString(bs) + " (rank " + bs.length
                    + ") but a has shape " + Shapes.toString(as) + " (rank " + as.length
                    + "); b must be a's shape or a suffix of it");
        }
        for (int i = 1; i <= bs.length; i++) {
            long bd = bs[bs.length - i], ad = as[as.length - i];
            if (bd != ad) {
                throw new IllegalArgumentException(op + ": b has shape " + Shapes.toString(bs) + " which is not a suffix of a's shape "
                        + Shapes.toString(as) + ": b's dim " + (bs.length - i) + " is " + bd + " but a's dim "
                        + (as.length - i) + " is " + ad);
            }
        }
    }

    /** x has rank ≥ 1 and a last dim a row op can take; on CUDA also at most 2^31-1 rows. */
    static void rows(String op, Tensor x) {
        if (x.rank() < 1) throw new IllegalArgumentException(op + ": x must have rank ≥ 1 (it normalises the last dim), got a scalar");
        long cols = x.dim(-1);
        if (cols > MAX_COLS) {
            throw new IllegalArgumentException(op + ": x's last dim is " + cols + "; at most " + MAX_COLS + " is supported");
        }
        if (x.device().isCuda() && cols > 0) {
            long rows = x.numel() / cols;
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(op + ": x has " + rows + " rows (product of the leading dims of "
                        + Shapes.toString(x.shape()) + "); the CUDA kernels take at most " + Integer.MAX_VALUE);
            }
        }
    }

    /** A per-channel parameter ([C], C = x's last dim) when present. */
    static void channel(String op, String name, Tensor p, Tensor x) {
        if (p == null) return;
        companion(op, name, p, "x", x);
        long c = x.dim(-1);
        if (p.rank() != 1 || p.dim(0) != c) {
            throw new IllegalArgumentException(op + ": " + name + " has shape " + Shapes.toString(p.shape())
                    + " but x's last dim is " + c + "; expected [" + c + "]");
        }
    }

    static void eps(String op, float eps) {
        if (!(eps > 0) || !Float.isFinite(eps)) {
            throw new IllegalArgumentException(op + ": eps must be positive and finite, got " + eps);
        }
    }

    /**
     * Allocates the output like x (x's device, dtype and shape), runs {@code body} on it unless it
     * is empty, and closes it if the body throws.
     */
    static Tensor withOutput(Tensor x, DType dtype, Consumer<Tensor> body) {
        return ArgChecks.withOutput(x, dtype, x.shape(), body);
    }
}
