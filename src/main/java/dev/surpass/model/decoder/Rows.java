package dev.surpass.model.decoder;

import dev.surpass.Tensor;
import dev.surpass.layers.Gather;

/** Row copies of contiguous tensors. */
public final class Rows {
    private Rows() {}

    /**
     * Rows {@code rows[i]} of {@code table [R, C]} stacked into a new {@code [rows.length, C]} tensor:
     * the ids go to the device in one copy and {@link Gather} picks the rows in one launch (a copy
     * call per row costs a driver call each, which dominated small decode steps on CUDA).
     */
    public static Tensor gather(Tensor table, int[] rows) {
        long r = table.dim(0), cols = table.numel() / r;
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] < 0 || rows[i] >= r) throw new IllegalArgumentException("gather: row " + rows[i] + " at [" + i + "] is outside [0, " + r + ")");
        }
        try (Tensor flat = table.reshape(r, cols); Tensor ids = table.device().upload(rows, rows.length)) {
            return Gather.rows(flat, ids);
        }
    }

    /** Rows {@code [start, start + count)} of {@code t} (dim 0), as a copy shaped like {@code t} with dim 0 = count. */
    public static Tensor range(Tensor t, long start, long count) {
        long[] shape = t.shape();
        long per = t.numel() / shape[0];
        shape[0] = count;
        long es = t.dtype().byteSize();
        Tensor out = t.device().allocate(t.dtype(), shape);
        try {
            t.device().backend().copy(t.storage(), t.byteOffset() + start * per * es, out.storage(), out.byteOffset(), count * per * es);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }
}
