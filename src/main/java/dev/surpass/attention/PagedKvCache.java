package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.layers.Scatter;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A paged key/value cache for decoding (vLLM's PagedAttention layout): K and V pools
 * {@code [numPages, pageSize, Hkv, D]} on one device, a free-page list, and per sequence a page
 * table (logical page → physical page) and a length. Token {@code t} of a sequence lives in
 * physical page {@code pageTable[t / pageSize]}, slot {@code t % pageSize}. Pages are taken from
 * the free list as sequences grow and returned by {@link #freeSequence}.
 *
 * <pre>{@code
 * try (PagedKvCache cache = PagedKvCache.create(dev, DType.BF16, 4096, 16, hkv, 128)) {
 *     int s = cache.newSequence();
 *     cache.appendPrompt(s, kPrompt, vPrompt);            // [N, Hkv, D]
 *     cache.append(new int[] {s}, kTok, vTok);            // [1, Hkv, D] per step
 *     Tensor o = Attention.decode(q, cache, new int[] {s}, AttentionOptions.defaults());
 * }
 * }</pre>
 *
 * <p>Thread rules: the methods are synchronized, so one cache may be used from several threads, but
 * a decode must not race with appends to the sequences it reads. The pools are owned by the cache:
 * {@link #close()} frees them, and later use throws {@link IllegalStateException}.
 */
public final class PagedKvCache implements AutoCloseable {
    private final Device device;
    private final DType dtype;
    private final int numPages, pageSize, numKvHeads, headDim;
    private final Tensor kPool, vPool;
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final Map<Integer, Seq> seqs = new HashMap<>();
    private int nextId;
    private boolean closed;

    private static final class Seq {
        int[] pages = new int[4];
        int nPages;
        int length;
    }

    private PagedKvCache(Device device, DType dtype, int numPages, int pageSize, int numKvHeads, int headDim) {
        this.device = device;
        this.dtype = dtype;
        this.numPages = numPages;
        this.pageSize = pageSize;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        Tensor k = device.allocate(dtype, numPages, pageSize, numKvHeads, headDim);
        try {
            this.vPool = device.allocate(dtype, numPages, pageSize, numKvHeads, headDim);
        } catch (RuntimeException e) {
            k.close();
            throw e;
        }
        this.kPool = k;
        for (int p = 0; p < numPages; p++) free.addLast(p);
    }

    /**
     * A cache of {@code numPages} pages of {@code pageSize} tokens (any size from 1) for
     * {@code numKvHeads} kv-heads of {@code headDim}, in {@code dtype}, on {@code device}.
     *
     * @throws IllegalArgumentException for a non-floating dtype, a non-positive size, an unsupported
     *     head dim, a closed device or pools too large to address
     */
    public static PagedKvCache create(Device device, DType dtype, int numPages, int pageSize, int numKvHeads, int headDim) {
        String op = "PagedKvCache.create";
        if (device == null) throw new IllegalArgumentException(op + ": device is null");
        if (device.isClosed()) throw new IllegalArgumentException(op + ": device " + device.name() + " is closed");
        if (dtype == null || !dtype.isFloating()) {
            throw new IllegalArgumentException(op + ": dtype must be F32, F16 or BF16, got " + dtype);
        }
        if (numPages < 1) throw new IllegalArgumentException(op + ": numPages must be >= 1, got " + numPages);
        if (pageSize < 1) throw new IllegalArgumentException(op + ": pageSize must be >= 1, got " + pageSize);
        if (numKvHeads < 1) throw new IllegalArgumentException(op + ": numKvHeads must be >= 1, got " + numKvHeads);
        AttentionChecks.headDim(op, "headDim", headDim);
        long elems = Shapes.numel(numPages, pageSize, numKvHeads, headDim);
        if ((long) numPages * pageSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": numPages × pageSize = " + (long) numPages * pageSize
                    + " tokens; at most " + Integer.MAX_VALUE + " are supported");
        }
        if (device.isCpu() && elems > Long.MAX_VALUE / 8) {
            throw new IllegalArgumentException(op + ": pools of " + elems + " elements are too large");
        }
        return new PagedKvCache(device, dtype, numPages, pageSize, numKvHeads, headDim);
    }

    // ---- sequences ------------------------------------------------------------------------------

    /** Starts an empty sequence; returns its id (ids are never reused by one cache). */
    public synchronized int newSequence() {
        ensureOpen();
        int id = nextId++;
        seqs.put(id, new Seq());
        return id;
    }

    /**
     * Appends one token to each sequence: row {@code b} of {@code k}, {@code v} [B, Hkv, D] goes to
     * sequence {@code seqIds[b]}. Either every sequence gets its token or, on an exception, none.
     *
     * @throws IllegalArgumentException for unknown or repeated ids, or shapes, dtypes or devices that
     *     do not match the cache
     * @throws IllegalStateException "cache full: …" when there are not enough free pages
     */
    public synchronized void append(int[] seqIds, Tensor k, Tensor v) {
        String op = "PagedKvCache.append";
        ensureOpen();
        if (seqIds == null) throw new IllegalArgumentException(op + ": seqIds is null");
        checkRows(op, "k", k, seqIds.length, "seqIds.length");
        checkRows(op, "v", v, seqIds.length, "seqIds.length");
        Seq[] ss = sequences(op, seqIds);
        int need = 0;
        for (Seq s : ss) if (s.length == s.nPages * pageSize) need++;
        ensurePages(need, seqIds.length + " sequences");
        long rowBytes = (long) numKvHeads * headDim * dtype.byteSize();
        if (device.isCuda() && ss.length > 1) {
            // One launch per pool for the whole batch instead of two copy calls per sequence.
            int[] slots = new int[ss.length];
            for (int b = 0; b < ss.length; b++) {
                Seq s = ss[b];
                if (s.length == s.nPages * pageSize) addPage(s);
                slots[b] = s.pages[s.length / pageSize] * pageSize + s.length % pageSize;
                s.length++;
            }
            long rowElems = (long) numKvHeads * headDim, poolRows = kPool.numel() / rowElems;
            try (Tensor ids = device.upload(slots, slots.length);
                 Tensor k2 = k.reshape(slots.length, rowElems); Tensor v2 = v.reshape(slots.length, rowElems);
                 Tensor kp = kPool.reshape(poolRows, rowElems); Tensor vp = vPool.reshape(poolRows, rowElems)) {
                Scatter.rows(k2, ids, kp);
                Scatter.rows(v2, ids, vp);
            }
            return;
        }
        for (int b = 0; b < ss.length; b++) {
            Seq s = ss[b];
            if (s.length == s.nPages * pageSize) addPage(s);
            copyTokens(k, v, b * rowBytes, s, s.length, 1, rowBytes);
            s.length++;
        }
    }

    /**
     * Appends {@code N} tokens ({@code k}, {@code v} [N, Hkv, D]) to one sequence, e.g. its prompt.
     *
     * @throws IllegalArgumentException for an unknown id or mismatching tensors
     * @throws IllegalStateException "cache full: …" when there are not enough free pages
     */
    public synchronized void appendPrompt(int seqId, Tensor k, Tensor v) {
        String op = "PagedKvCache.appendPrompt";
        ensureOpen();
        Seq s = sequence(op, seqId);
        if (k == null) throw new IllegalArgumentException(op + ": k is null");
        long n = k.rank() == 3 ? k.dim(0) : -1;
        checkRows(op, "k", k, n, "its dim 0");
        checkRows(op, "v", v, n, "k's dim 0");
        if (s.length + n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": sequence " + seqId + " would hold " + (s.length + n) + " tokens");
        }
        int tokens = (int) n;
        long pagesNeeded = ((long) s.length + tokens + pageSize - 1) / pageSize - s.nPages;
        ensurePages(pagesNeeded, "a prompt of " + tokens + " tokens");
        long rowBytes = (long) numKvHeads * headDim * dtype.byteSize();
        int done = 0;
        while (done < tokens) {
            if (s.length == s.nPages * pageSize) addPage(s);
            int run = Math.min(tokens - done, s.nPages * pageSize - s.length); // tokens left in this page
            copyTokens(k, v, done * rowBytes, s, s.length, run, rowBytes);
            s.length += run;
            done += run;
        }
    }

    /** Number of tokens cached for {@code seqId}. */
    public synchronized int length(int seqId) {
        ensureOpen();
        return sequence("PagedKvCache.length", seqId).length;
    }

    /** The physical pages of {@code seqId}, in logical order (a copy). */
    public synchronized int[] pageTable(int seqId) {
        ensureOpen();
        Seq s = sequence("PagedKvCache.pageTable", seqId);
        return Arrays.copyOf(s.pages, s.nPages);
    }

    /** Returns the pages of {@code seqId} to the free list and forgets the sequence. */
    public synchronized void freeSequence(int seqId) {
        ensureOpen();
        Seq s = sequence("PagedKvCache.freeSequence", seqId);
        for (int p = 0; p < s.nPages; p++) free.addLast(s.pages[p]);
        seqs.remove(seqId);
    }

    /** True when {@code seqId} is a live sequence of this cache. */
    public synchronized boolean contains(int seqId) {
        return !closed && seqs.containsKey(seqId);
    }

    /** Pages on the free list. */
    public synchronized int freePages() {
        ensureOpen();
        return free.size();
    }

    // ---- test and benchmark hooks -------------------------------------------------------------------

    /**
     * Hands out the free pages in the order {@code pages} from now on (for tests and benchmarks:
     * a scattered page table must give the same results as a contiguous one).
     *
     * @throws IllegalArgumentException unless {@code pages} is a permutation of the free pages
     */
    public synchronized void setFreePageOrder(int[] pages) {
        ensureOpen();
        if (pages == null) throw new IllegalArgumentException("setFreePageOrder: pages is null");
        Set<Integer> want = new HashSet<>(free);
        Set<Integer> seen = new HashSet<>();
        for (int p : pages) {
            if (!want.contains(p) || !seen.add(p)) {
                throw new IllegalArgumentException("setFreePageOrder: page " + p + " is not free or is repeated");
            }
        }
        if (seen.size() != want.size()) {
            throw new IllegalArgumentException("setFreePageOrder: got " + seen.size() + " pages but " + want.size() + " are free");
        }
        free.clear();
        for (int p : pages) free.addLast(p);
    }

    /** Shuffles the free list with {@code seed} (see {@link #setFreePageOrder}). */
    public synchronized void shuffleFreePages(long seed) {
        ensureOpen();
        Integer[] a = free.toArray(new Integer[0]);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = a.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            Integer t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        free.clear();
        free.addAll(Arrays.asList(a));
    }

    // ---- properties ----------------------------------------------------------------------------------

    public Device device() {
        return device;
    }

    public DType dtype() {
        return dtype;
    }

    public int numPages() {
        return numPages;
    }

    public int pageSize() {
        return pageSize;
    }

    public int numKvHeads() {
        return numKvHeads;
    }

    public int headDim() {
        return headDim;
    }

    /** The K pool [numPages, pageSize, Hkv, D] (owned by the cache). */
    Tensor kPool() {
        return kPool;
    }

    /** The V pool [numPages, pageSize, Hkv, D] (owned by the cache). */
    Tensor vPool() {
        return vPool;
    }

    public synchronized boolean isClosed() {
        return closed || kPool.isClosed();
    }

    /** Frees the pools; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        try {
            kPool.close();
        } finally {
            vPool.close();
        }
    }

    @Override
    public synchronized String toString() {
        return "PagedKvCache[" + dtype + " pages=" + numPages + "x" + pageSize + " Hkv=" + numKvHeads + " D=" + headDim
                + " free=" + free.size() + " sequences=" + seqs.size() + "@" + device.name() + (closed ? ", closed" : "") + "]";
    }

    // ---- internals ------------------------------------------------------------------------------------

    /** Checked inside the lock by {@link Attention#decode}: the sequences exist and are distinct. */
    synchronized void checkSequences(String op, int[] seqIds) {
        ensureOpen();
        sequences(op, seqIds);
    }

    void ensureOpen() {
        if (closed || kPool.isClosed() || vPool.isClosed()) {
            throw new IllegalStateException("PagedKvCache is closed (or its device " + device.name() + " was closed)");
        }
    }

    private Seq sequence(String op, int id) {
        Seq s = seqs.get(id);
        if (s == null) throw new IllegalArgumentException(op + ": unknown sequence id " + id + " (never created or already freed)");
        return s;
    }

    private Seq[] sequences(String op, int[] ids) {
        Seq[] ss = new Seq[ids.length];
        Set<Integer> seen = new HashSet<>();
        for (int b = 0; b < ids.length; b++) {
            if (!seen.add(ids[b])) {
                throw new IllegalArgumentException(op + ": seqIds[" + b + "] = " + ids[b] + " is repeated; each sequence may appear once");
            }
            Seq s = seqs.get(ids[b]);
            if (s == null) {
                throw new IllegalArgumentException(op + ": seqIds[" + b + "] = " + ids[b] + " is not a sequence of this cache");
            }
            ss[b] = s;
        }
        return ss;
    }

    private void checkRows(String op, String name, Tensor t, long rows, String rowsName) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (t.isClosed()) throw new IllegalArgumentException(op + ": " + name + " (" + t.describe() + ") is closed");
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + " but the cache holds " + dtype);
        }
        if (!t.device().sameAs(device)) {
            throw new IllegalArgumentException(op + ": " + name + " is on " + t.device().name() + " but the cache is on " + device.name());
        }
        if (t.rank() != 3) {
            throw new IllegalArgumentException(op + ": " + name + " must have rank 3 [tokens, Hkv, D], got shape " + Shapes.toString(t.shape()));
        }
        long[] want = {rows, numKvHeads, headDim};
        if (t.rank() != 3 || t.dim(0) != rows || t.dim(1) != numKvHeads || t.dim(2) != headDim) {
            throw new IllegalArgumentException(op + ": " + name + " has shape " + Shapes.toString(t.shape()) + " but expected "
                    + Shapes.toString(want) + " [tokens (" + rowsName + "), Hkv, D] for this cache");
        }
    }

    private void ensurePages(long need, String what) {
        if (need > free.size()) {
            throw new IllegalStateException("cache full: " + what + " need " + need + " new page(s) but only " + free.size()
                    + " of " + numPages + " are free (page size " + pageSize + "); free finished sequences or create a larger cache");
        }
    }

    private void addPage(Seq s) {
        if (s.nPages == s.pages.length) s.pages = Arrays.copyOf(s.pages, s.pages.length * 2);
        s.pages[s.nPages++] = free.removeFirst();
    }

    // Copies `count` token rows of k and v (from byte `srcByte`) to slots [pos, pos+count) of s,
    // which lie in one page.
    private void copyTokens(Tensor k, Tensor v, long srcByte, Seq s, int pos, int count, long rowBytes) {
        int page = s.pages[pos / pageSize];
        long dst = ((long) page * pageSize + pos % pageSize) * rowBytes;
        long bytes = count * rowBytes;
        var be = device.backend();
        be.copy(k.storage(), k.byteOffset() + srcByte, kPool.storage(), kPool.byteOffset() + dst, bytes);
        be.copy(v.storage(), v.byteOffset() + srcByte, vPool.storage(), vPool.byteOffset() + dst, bytes);
    }
}
