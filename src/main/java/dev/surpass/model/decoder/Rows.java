package dev.surpass.model.decoder;

import dev.surpass.Tensor;

/** Row copies of contiguous tensors through the device's copy (no kernel needed). */
public final class Rows {
    private Rows() {}

    /** Rows {@code rows[i]} of {@code table [R, C]} stacked into a new {@code [rows.length, C]} tensor. */
    public static Tensor gather(Tensor table, int[] rows) {
        long cols = table.numel() / table.dim(0);
        long rowBytes = cols * table.dtype().byteSize();
        Tensor out = table.device().allocate(table.dtype(), rows.length, cols);
        try {
            for (int i = 0; i < rows.length; i++) {
                table.device().backend().copy(table.storage(), table.byteOffset() + rows[i] * rowBytes, out.storage(),
                        out.byteOffset() + i * rowBytes, rowBytes);
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
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
