package dev.surpass.io;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An open safetensors file: the validated header plus a read-only memory mapping of the file.
 * Made by {@link SafeTensors#open(Path)}.
 *
 * <p>Zero copy: {@link #bytes(String)} returns a read-only slice of the mapping, and
 * {@link #tensor(String, Device)} on a CPU device wraps that slice without copying (the tensor
 * borrows the mapping: it is valid while this file is open, and writing into it throws
 * {@link IllegalArgumentException}, since the mapping is read-only). On a GPU
 * the tensor is an upload copy and outlives the file.
 *
 * <p>Closing unmaps the file. Afterwards every method except {@link #path()} and
 * {@link #isClosed()} throws {@link IllegalStateException}, and so does reading any slice or
 * borrowed CPU tensor obtained earlier: a closed mapping is never touched, so use after close is an
 * exception, never a crash. Closing twice is harmless.
 *
 * <p>Thread rules: the header is immutable and the mapping read-only, so one instance may be
 * shared by any number of threads reading tensors concurrently. {@link #close()} may be called from
 * any thread; a read racing with it in another thread throws {@link IllegalStateException}.
 * The file on disk must not be truncated or rewritten in place while it is open (replace it by
 * renaming a new file over it, as {@link SafeTensors#write} does; the mapping keeps the old bytes).
 */
public final class SafeTensorsFile implements AutoCloseable {
    private final Path path;
    private final Header header;
    private final Arena arena;
    private final MemorySegment data;
    private final long fileSize;
    private final long headerSize;
    private final List<String> names;
    private volatile boolean closed;

    SafeTensorsFile(Path path, Header header, Arena arena, MemorySegment data, long fileSize, long headerSize) {
        this.path = path;
        this.header = header;
        this.arena = arena;
        this.data = data;
        this.fileSize = fileSize;
        this.headerSize = headerSize;
        List<String> n = new ArrayList<>(header.byOffset().size());
        for (TensorInfo i : header.byOffset()) n.add(i.name());
        this.names = List.copyOf(n);
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** Size of the file in bytes when it was opened. */
    public long fileSize() {
        ensureOpen();
        return fileSize;
    }

    /** Length of the JSON header (without the 8-byte length prefix); data starts at {@code 8 + headerSize()}. */
    public long headerSize() {
        ensureOpen();
        return headerSize;
    }

    /** The tensor names, in data-offset order (the order their bytes lie in the file). */
    public List<String> names() {
        ensureOpen();
        return names;
    }

    /** Number of tensors. */
    public int size() {
        ensureOpen();
        return names.size();
    }

    public boolean contains(String name) {
        ensureOpen();
        return header.byName().containsKey(name);
    }

    /** Every tensor's header entry, in data-offset order. */
    public List<TensorInfo> infos() {
        ensureOpen();
        return header.byOffset();
    }

    /**
     * The header entry of {@code name}.
     *
     * @throws IllegalArgumentException when the file has no such tensor (the message suggests a near name)
     */
    public TensorInfo info(String name) {
        ensureOpen();
        TensorInfo i = name == null ? null : header.byName().get(name);
        if (i == null) throw new IllegalArgumentException(path + ": no tensor '" + SafeTensors.printable(name) + "'" + suggestion(name));
        return i;
    }

    /** The {@code __metadata__} map (empty when the header has none); unmodifiable, header order. */
    public Map<String, String> metadata() {
        ensureOpen();
        return header.metadata();
    }

    /**
     * Non-fatal oddities found at open: gaps between tensors, unused bytes after the last one.
     * The reference reader rejects such files; surpass reads them (and logs these at DEBUG level).
     */
    public List<String> warnings() {
        ensureOpen();
        return header.warnings();
    }

    /**
     * The raw little-endian bytes of {@code name}: a read-only slice of the mapping, no copy. Valid
     * while this file is open; reading it after {@link #close()} throws {@link IllegalStateException}.
     */
    public MemorySegment bytes(String name) {
        TensorInfo i = info(name);
        return data.asSlice(i.begin(), i.byteSize());
    }

    /**
     * The tensor {@code name} on {@code device}.
     *
     * <p>CPU: a tensor over the mapped bytes, no copy (borrowed: valid while this file is open,
     * read-only; closing the tensor does not unmap anything). When the bytes are not aligned to the
     * element size (possible in files whose header length is not a multiple of 8, or after odd-sized
     * tensors) the tensor is a copy instead, so ops may use aligned access. Other devices: an upload
     * copy that the caller owns and that outlives this file.
     *
     * @throws IllegalArgumentException when there is no such tensor, or its dtype has no surpass
     *                                  {@link DType} (read its {@link #bytes} instead)
     */
    public Tensor tensor(String name, Device device) {
        if (device == null) throw new IllegalArgumentException("device is null");
        TensorInfo i = info(name);
        DType dt = i.dtype();
        if (dt == null) {
            throw new IllegalArgumentException(path + ": tensor '" + SafeTensors.printable(name) + "' has dtype " + i.dtypeName()
                    + ", which surpass does not support (supported: F32, F16, BF16, I32, I64); its raw bytes are available through bytes(name)");
        }
        MemorySegment s = data.asSlice(i.begin(), i.byteSize());
        long[] shape = i.shape();
        if (device.isCpu() && s.address() % dt.byteSize() == 0) {
            return device.wrap(dt, s, shape);
        }
        return device.upload(dt, s, shape);
    }

    /**
     * Every tensor on {@code device}, in data-offset order (see {@link #tensor}). On failure the
     * tensors made so far are closed.
     *
     * @throws IllegalArgumentException when a tensor's dtype is not supported (named in the message)
     */
    public Map<String, Tensor> tensors(Device device) {
        ensureOpen();
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (TensorInfo i : header.byOffset()) {
                if (i.dtype() == null) tensor(i.name(), device); // throws with the full message
                out.put(i.name(), tensor(i.name(), device));
            }
        } catch (RuntimeException e) {
            for (Tensor t : out.values()) t.close();
            throw e;
        }
        return out;
    }

    /** The mapped data section (for tests of the zero-copy path). */
    MemorySegment dataSegment() {
        ensureOpen();
        return data;
    }

    public boolean isClosed() {
        return closed;
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException(path + ": safetensors file is closed");
    }

    /**
     * Unmaps the file. Slices and borrowed CPU tensors obtained from it throw
     * {@link IllegalStateException} on later use. Idempotent.
     *
     * @throws IllegalStateException when the mapping is pinned by a native call in progress on
     *                               another thread; the file then stays open and close may be retried
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        try {
            arena.close();
        } catch (IllegalStateException e) {
            throw new IllegalStateException(path + ": cannot close yet: the mapping is in use by a native call on another thread", e);
        }
        closed = true;
    }

    private String suggestion(String name) {
        if (name == null || header.byName().isEmpty() || header.byName().size() > 100_000) return "";
        String best = null;
        int bestD = Integer.MAX_VALUE;
        String a = name.length() > 256 ? name.substring(0, 256) : name;
        for (String n : names) {
            if (Math.abs(n.length() - a.length()) >= bestD || n.length() > 256) continue;
            int d = editDistance(a, n, bestD);
            if (d < bestD) {
                bestD = d;
                best = n;
            }
        }
        int limit = Math.max(2, a.length() / 4);
        String more = " (" + names.size() + " tensors)";
        return best != null && bestD <= limit ? "; did you mean '" + SafeTensors.printable(best) + "'?" + more : more;
    }

    /** Levenshtein distance, giving up (returning {@code cap}) once every entry of a row reaches {@code cap}. */
    private static int editDistance(String a, String b, int cap) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            int rowMin = cur[0];
            for (int j = 1; j <= b.length(); j++) {
                int c = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + c);
                rowMin = Math.min(rowMin, cur[j]);
            }
            if (rowMin >= cap) return cap;
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    @Override
    public String toString() {
        return "SafeTensorsFile[" + path + (closed ? ", closed" : ", " + names.size() + " tensors") + "]";
    }
}
