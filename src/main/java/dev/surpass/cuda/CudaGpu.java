package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.surpass.cuda.ffi.CuDriver;
import dev.surpass.cuda.ffi.Cublas;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.WeakReference;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Process-lifetime state of one GPU, shared by every {@link CudaBackend} (and so every Device
 * handle) of that GPU: the primary context, the default memory pool, loaded kernel modules and
 * functions, and one cuBLAS handle per thread.
 *
 * <p>The primary context is retained once here and never released, so kernel modules and cuBLAS
 * handles stay valid while no Device is open (a Device's own retain/release, in
 * {@link CudaBackend}, only counts on top of it). Device memory is not tied to this lifetime:
 * Devices free what they allocated when they close.
 *
 * <p>Thread rules: thread-safe. Every method that calls the driver first makes the context
 * current on the calling thread ({@link #ensureCurrent()}).
 */
final class CudaGpu {
    private static final System.Logger LOG = System.getLogger("dev.surpass.cuda");

    /** Where the kernel build puts one fatbin per family. */
    static final String KERNEL_DIR = "dev/surpass/kernels/";
    /** Families the runtime checks in {@link #kernelProblem()}; "layers" is required. */
    static final List<String> KNOWN_FAMILIES = List.of("layers", "attention", "mamba", "diffusion");
    /** An optional resource listing further family names, one per line. */
    static final String FAMILY_INDEX = KERNEL_DIR + "families.txt";

    /** The context this thread last made current (0 = none known). */
    private static final ThreadLocal<long[]> CURRENT = ThreadLocal.withInitial(() -> new long[1]);
    /** The GPU whose per-thread stream the calling thread is capturing into a graph, else null. */
    private static final ThreadLocal<CudaGpu> CAPTURING = new ThreadLocal<>();

    final CuDriver driver;
    final int ordinal;
    final int device;
    final long context;
    final long pool;
    final CudaProperties props;

    /** family → loaded module or the reason it is unusable. */
    private final ConcurrentHashMap<String, ModuleEntry> modules = new ConcurrentHashMap<>();
    /** "family/kernel" → function. */
    private final ConcurrentHashMap<String, Function> functions = new ConcurrentHashMap<>();

    private final ThreadLocal<Long> blasHandle = new ThreadLocal<>();
    /** Handles of every thread, so that handles of threads that died can be destroyed. */
    private final List<BlasOwner> blasOwners = new ArrayList<>();

    /** A loaded module (handle != 0) or why there is none. */
    record ModuleEntry(long handle, String problem) {}

    /** A kernel entry point with its launch limits. */
    static final class Function {
        final String family;
        final String name;
        final long handle;
        final int maxThreadsPerBlock;
        final int staticSharedBytes;
        /** The largest CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES set so far (guarded by this). */
        int dynamicSharedLimit = 48 * 1024;

        Function(String family, String name, long handle, int maxThreadsPerBlock, int staticSharedBytes) {
            this.family = family;
            this.name = name;
            this.handle = handle;
            this.maxThreadsPerBlock = maxThreadsPerBlock;
            this.staticSharedBytes = staticSharedBytes;
        }
    }

    private record BlasOwner(WeakReference<Thread> thread, long handle) {}

    CudaGpu(CuDriver driver, int ordinal) {
        this.driver = driver;
        this.ordinal = ordinal;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(JAVA_INT);
            check("cuDeviceGet", driver.cuDeviceGet(i, ordinal), "ordinal " + ordinal);
            this.device = i.get(JAVA_INT, 0);

            MemorySegment ctx = a.allocate(ADDRESS);
            check("cuDevicePrimaryCtxRetain", driver.cuDevicePrimaryCtxRetain(ctx, device), "cuda:" + ordinal);
            this.context = ctx.get(ADDRESS, 0).address();
            try {
                ensureCurrent();

                this.props = queryProperties(a);
                if (attribute(a, CuDriver.ATTR_MEMORY_POOLS_SUPPORTED) == 0) {
                    throw new IllegalStateException("cuda:" + ordinal + " (" + props.name()
                            + ") does not support stream-ordered memory pools (CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 0)");
                }
                MemorySegment p = a.allocate(ADDRESS);
                check("cuDeviceGetDefaultMemPool", driver.cuDeviceGetDefaultMemPool(p, device), "cuda:" + ordinal);
                this.pool = p.get(ADDRESS, 0).address();
                // Keep freed memory in the pool instead of returning it to the OS at each synchronize:
                // a release threshold of UINT64_MAX makes cuMemFreeAsync'd blocks reusable at once.
                MemorySegment threshold = a.allocate(JAVA_LONG);
                threshold.set(JAVA_LONG, 0, -1L);
                check("cuMemPoolSetAttribute", driver.cuMemPoolSetAttribute(pool, CuDriver.MEMPOOL_ATTR_RELEASE_THRESHOLD, threshold),
                        "CU_MEMPOOL_ATTR_RELEASE_THRESHOLD");
            } catch (RuntimeException e) {
                // Unusable GPU: give back the retain so a retry does not stack them up.
                driver.cuDevicePrimaryCtxRelease(device);
                CURRENT.get()[0] = 0;
                throw e;
            }
        }
    }

    private CudaProperties queryProperties(Arena a) {
        MemorySegment nameBuf = a.allocate(256);
        check("cuDeviceGetName", driver.cuDeviceGetName(nameBuf, 256, device), null);
        nameBuf.set(JAVA_BYTE, 255, (byte) 0);
        String name = nameBuf.getString(0, StandardCharsets.UTF_8);
        MemorySegment total = a.allocate(JAVA_LONG);
        check("cuDeviceTotalMem", driver.cuDeviceTotalMem(total, device), null);
        MemorySegment v = a.allocate(JAVA_INT);
        check("cuDriverGetVersion", driver.cuDriverGetVersion(v), null);
        int driverVersion = v.get(JAVA_INT, 0);
        return new CudaProperties(ordinal, name,
                attribute(a, CuDriver.ATTR_COMPUTE_CAPABILITY_MAJOR),
                attribute(a, CuDriver.ATTR_COMPUTE_CAPABILITY_MINOR),
                attribute(a, CuDriver.ATTR_MULTIPROCESSOR_COUNT),
                total.get(JAVA_LONG, 0),
                attribute(a, CuDriver.ATTR_MAX_SHARED_MEMORY_PER_BLOCK),
                attribute(a, CuDriver.ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                attribute(a, CuDriver.ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
                attribute(a, CuDriver.ATTR_L2_CACHE_SIZE),
                attribute(a, CuDriver.ATTR_MAX_THREADS_PER_BLOCK),
                attribute(a, CuDriver.ATTR_MAX_BLOCK_DIM_X),
                attribute(a, CuDriver.ATTR_MAX_BLOCK_DIM_Y),
                attribute(a, CuDriver.ATTR_MAX_BLOCK_DIM_Z),
                attribute(a, CuDriver.ATTR_MAX_GRID_DIM_X),
                attribute(a, CuDriver.ATTR_MAX_GRID_DIM_Y),
                attribute(a, CuDriver.ATTR_MAX_GRID_DIM_Z),
                driverVersion);
    }

    private int attribute(Arena a, int attr) {
        MemorySegment v = a.allocate(JAVA_INT);
        check("cuDeviceGetAttribute", driver.cuDeviceGetAttribute(v, attr, device), "attribute " + attr);
        return v.get(JAVA_INT, 0);
    }

    /** "cuda:0 (NVIDIA H200)". */
    String name() {
        return props == null ? "cuda:" + ordinal : "cuda:" + ordinal + " (" + props.name() + ")"; // props is null while constructing
    }

    void check(String call, int rc, String detail) {
        CudaRuntime.check(driver, call, rc, detail);
    }

    /**
     * Makes this GPU's primary context current on the calling thread. Cheap when it already is:
     * a thread-local compare. (Assumes other code on surpass's threads does not switch contexts
     * behind its back; code using the CUDA runtime API on the same GPU uses the same primary
     * context, so it is unaffected.)
     */
    void ensureCurrent() {
        long[] cur = CURRENT.get();
        if (cur[0] != context) {
            check("cuCtxSetCurrent", driver.cuCtxSetCurrent(context), name());
            cur[0] = context;
        }
    }

    /** True while the calling thread captures its stream on this GPU ({@link CudaGraph#capture}). */
    boolean capturingOnThisThread() {
        return CAPTURING.get() == this;
    }

    // Legacy-stream work (frees, the out-of-memory retry's synchronize) joins every blocking stream of
    // the context, a capturing per-thread stream included, which breaks that capture. So while any
    // thread captures on this GPU, other threads' frees are queued and issued when the last capture
    // ends; the read lock makes "no capture is running" and the legacy call one step with respect to
    // a capture's start (which takes the write lock). Frees never block on a capture.
    private final ReentrantReadWriteLock legacyGate = new ReentrantReadWriteLock();
    private int captures; // captures in progress on this GPU; written under the write lock
    private final ConcurrentLinkedQueue<Long> deferredFrees = new ConcurrentLinkedQueue<>();

    /**
     * Marks the start of the calling thread's capture: from here until {@link #endCapture()}, this
     * thread's frees go on its own (capturing) stream and other threads' frees are deferred.
     */
    void beginCapture() {
        legacyGate.writeLock().lock();
        try {
            captures++;
        } finally {
            legacyGate.writeLock().unlock();
        }
        CAPTURING.set(this);
    }

    /** Marks the end of the calling thread's capture; the last one issues the deferred frees. */
    void endCapture() {
        CAPTURING.remove();
        boolean last;
        legacyGate.writeLock().lock();
        try {
            last = --captures == 0;
        } finally {
            legacyGate.writeLock().unlock();
        }
        if (!last) return;
        for (Long p; (p = deferredFrees.poll()) != null; ) {
            int rc = freeAsync(p);
            if (rc != 0) {
                System.getLogger("dev.surpass.cuda").log(System.Logger.Level.WARNING, "surpass: deferred cuMemFreeAsync on " + name()
                        + " failed: " + CudaRuntime.errorName(driver, rc) + " (" + rc + ")");
            }
        }
    }

    /**
     * Queues the free of {@code ptr} (context current): on the calling thread's stream while it
     * captures (the memory was allocated by the capture, so the free becomes a graph node), else on
     * the legacy stream, which orders it after every thread's work (see {@link CudaStorage}), or, while
     * another thread captures, after that capture ends.
     *
     * @return the driver's status (0 also when deferred)
     */
    int freeAsync(long ptr) {
        if (capturingOnThisThread()) return driver.cuMemFreeAsync(ptr, CuDriver.CU_STREAM_PER_THREAD);
        legacyGate.readLock().lock();
        try {
            if (captures > 0) {
                deferredFrees.add(ptr);
                return 0;
            }
            return driver.cuMemFreeAsync(ptr, CuDriver.CU_STREAM_LEGACY);
        } finally {
            legacyGate.readLock().unlock();
        }
    }

    /**
     * Waits for all threads' queued work on the legacy stream (how an out-of-memory retry lets other
     * threads' frees land), unless some thread is capturing: then it returns -1 without waiting.
     */
    /**
     * Waits for pending frees (a legacy-stream synchronize, unless a capture is running) and releases the default pool's
     * unused memory to the driver; false when that could not be done.
     */
    boolean trimPool() {
        if (synchronizeLegacyUnlessCapturing() != 0) return false;
        return driver.cuMemPoolTrimTo(pool, 0) == 0;
    }

    int synchronizeLegacyUnlessCapturing() {
        if (capturingOnThisThread()) return -1;
        legacyGate.readLock().lock();
        try {
            return captures > 0 ? -1 : driver.cuStreamSynchronize(CuDriver.CU_STREAM_LEGACY);
        } finally {
            legacyGate.readLock().unlock();
        }
    }

    /** Free and total device memory in bytes, or null when the query itself fails. */
    long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            ensureCurrent();
            MemorySegment free = a.allocate(JAVA_LONG);
            MemorySegment total = a.allocate(JAVA_LONG);
            if (driver.cuMemGetInfo(free, total) != 0) return null;
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (RuntimeException e) {
            return null;
        }
    }

    // ---- kernel modules ---------------------------------------------------------------------

    /** The resource path of a family's fatbin. */
    static String resourcePath(String family) {
        return KERNEL_DIR + family + ".fatbin";
    }

    /** The loaded module of {@code family} or why it is unusable; loads once per process. */
    ModuleEntry module(String family) {
        ModuleEntry e = modules.get(family);
        if (e != null) return e;
        // computeIfAbsent runs the load at most once per family, even with racing threads.
        return modules.computeIfAbsent(family, this::load);
    }

    private ModuleEntry load(String family) {
        String path = resourcePath(family);
        byte[] image;
        try (InputStream in = CudaRuntime.class.getModule().getResourceAsStream(path)) {
            if (in == null) {
                return new ModuleEntry(0, "kernels not built: the jar has no " + path
                        + " (nvcc was not found when it was built)");
            }
            image = in.readAllBytes();
        } catch (IOException e) {
            return new ModuleEntry(0, "cannot read " + path + ": " + e.getMessage());
        }
        if (image.length == 0) return new ModuleEntry(0, path + " is empty (a failed kernel build?)");
        try (Arena a = Arena.ofConfined()) {
            // The driver reads the image in place during the call and keeps its own copy. A trailing
            // NUL makes the buffer safe to read as text too (cuModuleLoadData also accepts PTX).
            MemorySegment img = a.allocate(image.length + 1L, 16);
            MemorySegment.copy(image, 0, img, JAVA_BYTE, 0, image.length);
            img.set(JAVA_BYTE, image.length, (byte) 0);
            MemorySegment out = a.allocate(ADDRESS);
            ensureCurrent();
            int rc = driver.cuModuleLoadData(out, img);
            if (rc != 0) {
                return new ModuleEntry(0, "kernels in " + path + " do not load on " + name() + ", " + props.arch()
                        + ": cuModuleLoadData failed: " + CudaRuntime.errorName(driver, rc) + " (" + rc + ")");
            }
            LOG.log(System.Logger.Level.DEBUG, () -> "surpass: loaded " + path + " (" + image.length + " bytes) on " + name());
            return new ModuleEntry(out.get(ADDRESS, 0).address(), null);
        } catch (RuntimeException e) {
            return new ModuleEntry(0, "loading " + path + " on " + name() + " failed: " + e.getMessage());
        }
    }

    /** True when the jar holds a fatbin for {@code family}. */
    static boolean hasResource(String family) {
        try (InputStream in = CudaRuntime.class.getModule().getResourceAsStream(resourcePath(family))) {
            return in != null;
        } catch (IOException e) {
            return false;
        }
    }

    /** Families to check: the known ones, those in the optional index, and _sm90a variants on sm_90. */
    Set<String> familiesToCheck() {
        Set<String> fams = new LinkedHashSet<>(KNOWN_FAMILIES);
        try (InputStream in = CudaRuntime.class.getModule().getResourceAsStream(FAMILY_INDEX)) {
            if (in != null) {
                for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\\R")) {
                    String f = line.strip();
                    if (!f.isEmpty() && !f.startsWith("#")) fams.add(f);
                }
            }
        } catch (IOException ignored) {
            // no index: the known families only
        }
        Set<String> all = new LinkedHashSet<>();
        for (String f : fams) {
            if (f.endsWith("_sm90a")) {
                if (isSm90()) all.add(f);
                continue;
            }
            all.add(f);
            // sm_90a cubins run only on compute capability 9.0 exactly (H100/H200), not on 10.x/12.x.
            if (isSm90()) all.add(f + "_sm90a");
        }
        return all;
    }

    boolean isSm90() {
        return props.ccMajor() == 9 && props.ccMinor() == 0;
    }

    /** Null when "layers" and every other family present load here, else the first problem. */
    String kernelProblem() {
        for (String f : familiesToCheck()) {
            boolean required = f.equals("layers");
            if (!required && !hasResource(f)) continue;
            ModuleEntry e = module(f);
            if (e.problem() != null) return e.problem();
        }
        return null;
    }

    /**
     * The entry point {@code kernel} of {@code family}.
     *
     * @throws IllegalStateException when the family's fatbin is missing or unloadable, or lacks the kernel
     */
    Function function(String family, String kernel) {
        String key = family + "/" + kernel;
        Function f = functions.get(key);
        if (f != null) return f;
        ModuleEntry m = module(family);
        if (m.problem() != null) throw new IllegalStateException(m.problem());
        return functions.computeIfAbsent(key, k -> lookUp(m.handle(), family, kernel));
    }

    private Function lookUp(long module, String family, String kernel) {
        try (Arena a = Arena.ofConfined()) {
            ensureCurrent();
            MemorySegment out = a.allocate(ADDRESS);
            int rc = driver.cuModuleGetFunction(out, module, a.allocateFrom(kernel, StandardCharsets.UTF_8));
            if (rc == CuDriver.CUDA_ERROR_NOT_FOUND) {
                throw new IllegalStateException("kernel " + kernel + " is not in " + resourcePath(family)
                        + " (the kernel build and the Java launcher disagree on its name)");
            }
            check("cuModuleGetFunction", rc, kernel);
            long fn = out.get(ADDRESS, 0).address();
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuFuncGetAttribute", driver.cuFuncGetAttribute(v, CuDriver.FUNC_ATTR_MAX_THREADS_PER_BLOCK, fn),
                    kernel + " CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK");
            int maxThreads = v.get(JAVA_INT, 0);
            check("cuFuncGetAttribute", driver.cuFuncGetAttribute(v, CuDriver.FUNC_ATTR_SHARED_SIZE_BYTES, fn),
                    kernel + " CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES");
            return new Function(family, kernel, fn, maxThreads, v.get(JAVA_INT, 0));
        }
    }

    /**
     * Raises the function's dynamic shared memory limit to {@code bytes} when a launch asks for
     * more than the default 48 KiB (and more than set before).
     */
    void ensureDynamicShared(Function f, int bytes) {
        synchronized (f) {
            if (bytes <= f.dynamicSharedLimit) return;
            ensureCurrent();
            check("cuFuncSetAttribute", driver.cuFuncSetAttribute(f.handle, CuDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
                    f.name + " CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = " + bytes);
            f.dynamicSharedLimit = bytes;
        }
    }

    // ---- cuBLAS -----------------------------------------------------------------------------

    /**
     * This thread's cuBLAS handle on this GPU, created on first use with its stream set to the
     * thread's per-thread default stream. cuBLAS handles are not thread-safe, hence one per thread;
     * handles of threads that have died are destroyed when a new one is made.
     */
    long cublasHandle(Cublas blas) {
        Long h = blasHandle.get();
        if (h != null) return h;
        ensureCurrent();
        reapDeadThreadHandles(blas);
        long handle;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            CudaRuntime.checkBlas(blas, "cublasCreate", blas.cublasCreate(out), name());
            handle = out.get(ADDRESS, 0).address();
        }
        int st = blas.cublasSetStream(handle, CuDriver.CU_STREAM_PER_THREAD);
        if (st != 0) {
            blas.cublasDestroy(handle);
            CudaRuntime.checkBlas(blas, "cublasSetStream", st, "per-thread default stream");
        }
        synchronized (blasOwners) {
            blasOwners.add(new BlasOwner(new WeakReference<>(Thread.currentThread()), handle));
        }
        blasHandle.set(handle);
        return handle;
    }

    private void reapDeadThreadHandles(Cublas blas) {
        synchronized (blasOwners) {
            for (Iterator<BlasOwner> it = blasOwners.iterator(); it.hasNext(); ) {
                BlasOwner o = it.next();
                Thread t = o.thread().get();
                if (t == null || !t.isAlive()) {
                    it.remove();
                    // The owner is gone, so nobody else uses the handle; its work finished or is
                    // ordered before this on the GPU (cublasDestroy synchronizes).
                    int st = blas.cublasDestroy(o.handle());
                    if (st != 0) {
                        LOG.log(System.Logger.Level.WARNING, "surpass: cublasDestroy of a dead thread's handle failed: "
                                + CudaRuntime.cublasStatusName(blas, st));
                    }
                }
            }
        }
    }
}
