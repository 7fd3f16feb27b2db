package dev.surpass.model.conv;

import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntFunction;

/**
 * The I32 index tables of {@link ConvOps}' gathers (a 3×3 convolution's im2col indices, the
 * channels-first ↔ channels-last transposes, the channel concatenation, the per-sample broadcast),
 * made once per shape and kept on one device. A model holds one, built on its device, passes it to
 * every ConvOps call and closes it with its weights: the tables of a denoising loop are then
 * uploaded at its first step only.
 *
 * <p>One table per op and image size is kept until {@link #close}, made for the largest batch seen
 * (a smaller batch reads its first part; a larger one replaces it, the old table then freed at
 * close): a model run at many sizes holds one per size (a 3×3 conv's table is
 * {@code 36·N·ho·wo} bytes).
 *
 * <p>Threads: {@link #get} may run from several threads at once (a model's forwards); a table is
 * made once. Use after close throws {@link IllegalStateException}.
 */
public final class ConvTables implements AutoCloseable {
    private final Device device;
    private final Map<Key, Entry> tables = new ConcurrentHashMap<>();
    /** Tables replaced by one for more samples: calls in flight may still read them, so they are freed at close. */
    private final List<Tensor> retired = new ArrayList<>();
    private volatile boolean closed;

    /** A table's identity: the op's name and the integers that fix one sample's part of it. */
    private record Key(String op, int a, int b, int c) {}

    /** A table made for {@code samples} samples. */
    private record Entry(int samples, Tensor table) {}

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
     * The first {@code n} samples' part of the table for {@code (op, a, b, c)}, as a view the caller
     * closes. {@code make.apply(m)} gives the table for m samples, each sample's ids after the
     * previous one's, so that a table for more samples begins with the table for fewer: the table
     * held is made for the most samples asked so far (a larger n replaces it).
     */
    Tensor get(String op, int n, int a, int b, int c, IntFunction<int[]> make) {
        if (closed) throw new IllegalStateException("ConvTables is closed");
        Entry e = tables.compute(new Key(op, a, b, c), (k, old) -> {
            if (old != null && old.samples() >= n) return old;
            int[] ids = make.apply(n);
            Entry made = new Entry(n, device.upload(ids, ids.length));
            if (old != null) {
                synchronized (retired) {
                    retired.add(old.table());
                }
            }
            return made;
        });
        long per = e.table().dim(0) / e.samples();
        return e.table().view(0, n * per);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Entry e : tables.values()) e.table().close();
        tables.clear();
        synchronized (retired) {
            for (Tensor t : retired) t.close();
            retired.clear();
        }
    }
}
