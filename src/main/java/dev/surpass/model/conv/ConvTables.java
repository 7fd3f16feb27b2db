package dev.surpass.model.conv;

import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The I32 index tables of {@link ConvOps}' gathers (a 3×3 convolution's im2col indices, the
 * channels-first ↔ channels-last transposes, the channel concatenation, the per-sample broadcast),
 * made once per shape and kept on one device. A model holds one, built on its device, passes it to
 * every ConvOps call and closes it with its weights: the tables of a denoising loop are then
 * uploaded at its first step only.
 *
 * <p>One table per distinct key (op, sample count, sizes) is kept until {@link #close}; a model
 * run at many sizes holds one per size (a 3×3 conv's table is {@code 36·N·ho·wo} bytes).
 *
 * <p>Threads: {@link #get} may run from several threads at once (a model's forwards); a table is
 * made once. Use after close throws {@link IllegalStateException}.
 */
public final class ConvTables implements AutoCloseable {
    private final Device device;
    private final Map<Key, Tensor> tables = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** A table's identity: the op's name and the integers that fix its content. */
    private record Key(String op, int a, int b, int c, int d) {}

    public ConvTables(Device device) {
        if (device == null) throw new IllegalArgumentException("ConvTables: device is null");
        this.device = device;
    }

    public Device device() {
        return device;
    }

    /** How many tables are held (tests). */
    public int size() {
        return tables.size();
    }

    /**
     * The table for {@code (op, a, b, c, d)}, uploaded from {@code make} the first time. The table
     * belongs to this cache: callers neither close it nor keep it past {@link #close}.
     */
    Tensor get(String op, int a, int b, int c, int d, Supplier<int[]> make) {
        if (closed) throw new IllegalStateException("ConvTables is closed");
        return tables.computeIfAbsent(new Key(op, a, b, c, d), k -> {
            int[] ids = make.get();
            return device.upload(ids, ids.length);
        });
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : tables.values()) t.close();
        tables.clear();
    }
}
