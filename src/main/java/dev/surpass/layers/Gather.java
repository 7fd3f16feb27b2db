package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;
import dev.surpass.backend.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * Rows of a table picked by an index tensor on the same device: the token-embedding lookup
 * {@code out[i] = table[ids[i]]}. Unlike copying rows by host-known offsets, the indices may have
 * been written on the device (or copied there before a captured CUDA graph is replayed), so the
 * lookup itself needs no host round trip.
 *
 * <p>Out-of-range ids: on the CPU, {@link IllegalArgumentException} naming the position and id. On
 * CUDA the ids are not read back before the kernel runs (that would need a synchronisation), so
 * the kernel writes a row of NaN for an id outside {@code [0, rows)} and never reads outside the
 * table; callers that hold the ids on the host check them first (the models do).
 */
public final class Gather {
    private Gather() {}

    /**
     * {@code table [R, C]} (floating) and {@code ids [n]} (I32) → {@code [n, C]} like the table.
     *
     * @throws IllegalArgumentException for a null or closed argument, a table that is not 2-D or not
     *     floating, ids that are not a 1-D I32 tensor on the table's device, or (on the CPU) an id
     *     outside {@code [0, R)}
     */
    public static Tensor rows(Tensor table, Tensor ids) {
        OpChecks.floating("gather", "table", table);
        if (table.rank() != 2) {
            throw new IllegalArgumentException("gather: table has shape " + Shapes.toString(table.shape()) + "; expected [rows, cols]");
        }
        if (table.dim(1) > OpChecks.MAX_COLS) {
            throw new IllegalArgumentException("gather: table has " + table.dim(1) + " columns; at most " + OpChecks.MAX_COLS);
        }
        if (ids == null) throw new IllegalArgumentException("gather: ids is null");
        if (ids.isClosed()) throw new IllegalArgumentException("gather: ids (" + ids.describe() + ") is closed");
        if (ids.dtype() != DType.I32 || ids.rank() != 1) {
            throw new IllegalArgumentException("gather: ids is " + ids.describe() + "; expected a 1-D I32 tensor");
        }
        if (!ids.device().sameAs(table.device())) {
            throw new IllegalArgumentException("gather: ids is on " + ids.device().name() + " but table is on " + table.device().name());
        }
        long n = ids.dim(0), rows = table.dim(0), cols = table.dim(1);
        if (table.device().isCpu()) {
            int[] id = ids.toIntArray();
            for (int i = 0; i < id.length; i++) {
                if (id[i] < 0 || id[i] >= rows) {
                    throw new IllegalArgumentException("gather: ids[" + i + "] is " + id[i] + "; expected an index in [0, " + rows + ")");
                }
            }
            return ArgChecks.withOutput(table, table.dtype(), new long[] {n, cols}, out -> {
                long rowBytes = cols * table.dtype().byteSize();
                MemorySegment src = table.storage().hostSegment(), dst = out.storage().hostSegment();
                long srcAt = table.byteOffset(), dstAt = out.byteOffset();
                // on all threads in chunks of at least 256 KB: a 3×3 convolution's im2col gathers
                // nine rows per pixel, hundreds of MB at the VAE's 256×256 stage
                Parallel.forRange(id.length, Math.max(1, (256 << 10) / Math.max(1, rowBytes)), (lo, hi) -> {
                    for (int i = (int) lo; i < hi; i++) MemorySegment.copy(src, srcAt + id[i] * rowBytes, dst, dstAt + i * rowBytes, rowBytes);
                });
            });
        }
        return ArgChecks.withOutput(table, table.dtype(), new long[] {n, cols}, out -> CudaGatherScatter.gather(table, ids, out, n, cols, rows));
    }
}
