package dev.surpass.backend;

import dev.surpass.Shapes;
import dev.surpass.Tensor;

/** Argument checks shared by the op families' public entries; messages name the op and argument. */
public final class ArgChecks {
    private ArgChecks() {}

    /**
     * {@code t} is present, open, floating, of rank {@code rank} (its {@code layout} is named in the
     * message, e.g. "[B, N, H, D]") and no dim exceeds {@code maxDim}.
     */
    public static void floatingTensor(String op, String name, Tensor t, int rank, String layout, long maxDim) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (t.isClosed()) throw new IllegalArgumentException(op + ": " + name + " (" + t.describe() + ") is closed");
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + "; expected F32, F16 or BF16");
        }
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
}
