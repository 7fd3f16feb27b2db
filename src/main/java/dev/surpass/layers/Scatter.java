package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;

/**
 * Rows written in place to rows picked by an index tensor on the same device,
 * {@code dst[ids[i]] = src[i]}: the paged KV-cache append of one token per sequence, each to its
 * own page, in one launch. The inverse of {@link Gather}.
 *
 * <p>The ids must be distinct (two rows to one place race on CUDA). Out-of-range ids: on the CPU,
 * {@link IllegalArgumentException} naming the position and id, before anything is written; on
 * CUDA the ids are not read back first (that would need a synchronisation), so such a row is
 * skipped and nothing outside {@code dst} is written.
 */
public final class Scatter {
    private Scatter() {}

    /**
     * Writes {@code src [n, C]} into the rows {@code ids [n]} (I32) of {@code dst [R, C]}; all on
     * one device, src and dst of one floating dtype.
     *
     * @throws IllegalArgumentException for a null or closed argument, mismatching shapes, dtypes or
     *     devices, or (on the CPU) an id outside {@code [0, R)}
     */
    public static void rows(Tensor src, Tensor ids, Tensor dst) {
        OpChecks.floating("scatter", "dst", dst);
        OpChecks.companion("scatter", "src", src, "dst", dst);
        if (dst.rank() != 2 || src.rank() != 2 || src.dim(1) != dst.dim(1)) {
            throw new IllegalArgumentException("scatter: src has shape " + Shapes.toString(src.shape()) + " and dst "
                    + Shapes.toString(dst.shape()) + "; expected [n, C] and [rows, C]");
        }
        if (dst.dim(1) > OpChecks.MAX_COLS) {
            throw new IllegalArgumentException("scatter: dst has " + dst.dim(1) + " columns; at most " + OpChecks.MAX_COLS);
        }
        if (ids == null) throw new IllegalArgumentException("scatter: ids is null");
        if (ids.isClosed()) throw new IllegalArgumentException("scatter: ids (" + ids.describe() + ") is closed");
        if (ids.dtype() != DType.I32 || ids.rank() != 1 || ids.dim(0) != src.dim(0)) {
            throw new IllegalArgumentException("scatter: ids is " + ids.describe() + "; expected I32 [" + src.dim(0) + "] (one per src row)");
        }
        if (!ids.device().sameAs(dst.device())) {
            throw new IllegalArgumentException("scatter: ids is on " + ids.device().name() + " but dst is on " + dst.device().name());
        }
        long n = src.dim(0), rows = dst.dim(0), cols = dst.dim(1);
        if (n == 0) return;
        if (dst.device().isCpu()) {
            int[] id = ids.toIntArray();
            for (int i = 0; i < id.length; i++) {
                if (id[i] < 0 || id[i] >= rows) {
                    throw new IllegalArgumentException("scatter: ids[" + i + "] is " + id[i] + "; expected an index in [0, " + rows + ")");
                }
            }
            long rowBytes = cols * dst.dtype().byteSize();
            for (int i = 0; i < id.length; i++) {
                dst.device().backend().copy(src.storage(), src.byteOffset() + i * rowBytes, dst.storage(), dst.byteOffset() + id[i] * rowBytes,
                        rowBytes);
            }
            return;
        }
        CudaGatherScatter.scatter(src, ids, dst, n, cols, rows);
    }
}
