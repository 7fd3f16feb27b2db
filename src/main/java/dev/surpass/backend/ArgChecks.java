package dev.surpass.backend;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import java.util.function.Consumer;

/** Argument checks shared by the op families' public entries; messages name the op and argument. */
public final class ArgChecks {
    private ArgChecks() {}

    /**
     * {@code t} is present, open, floating, of rank {@code rank} (its {@code layout} is named in the
     * message, e.g. "[B, N, H, D]") and no dim exceeds {@code maxDim}.
     */
    public static void floatingTensor(String op, String name, Tensor t, int rank, String layout, long maxDim) {
        floating(op, name, t);
        if (t.rank() != rank) {
            throw new IllegalArgumentException(op + ": " + name + " must have rank " + rank + " " + layout + ", got shape "
                    + Shapes.toString(t.shape()));
        }
        for (int i = 0; i < rank; i++) {
            if (t.dim(i) > maxDim) {
                throw new IllegalArgumentException(op + ": " + name + "'s dim " + i + " is " + t.dim(i) + "; at most " + maxDim
                        + " is supported");
            }
        }
    }

    /** {@code t} is present, open and of a floating dtype (F32, F16 or BF16). */
    public static void floating(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (t.isClosed()) throw new IllegalArgumentException(op + ": " + name + " (" + t.describe() + ") is closed");
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + "; expected F32, F16 or BF16");
        }
    }

    /** {@code t} is a valid floating operand with x's dtype, on x's device (x is named "x" in the message). */
    public static void companion(String op, String name, Tensor t, Tensor x) {
        floating(op, name, t);
        if (t.dtype() != x.dtype()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + " but x has " + x.dtype()
                    + "; convert one with Tensor.to(DType)");
        }
        if (!t.device().sameAs(x.device())) {
            throw new IllegalArgumentException(op + ": " + name + " is on " + t.device().name() + " but x is on " + x.device().name()
                    + "; move one with Tensor.to(Device)");
        }
    }

    /**
     * Allocates an output of {@code dtype} and {@code shape} on x's device, runs {@code body} on it
     * unless it is empty, and closes it if the body throws.
     */
    public static Tensor withOutput(Tensor x, DType dtype, long[] shape, Consumer<Tensor> body) {
        Tensor out = x.device().allocate(dtype, shape);
        if (out.numel() == 0) return out;
        try {
            body.accept(out);
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
        return out;
    }
}
