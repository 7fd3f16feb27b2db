package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.DeviceKind;
import dev.surpass.Tensor;
import dev.surpass.backend.Backend;
import dev.surpass.backend.Storage;
import dev.surpass.cuda.ffi.CuDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link Backend} on one CUDA GPU, and the launch API the op launchers use. Internal: users
 * see {@link Device}.
 *
 * <p>Context: opening retains the GPU's primary context and {@link #close()} releases it (the
 * runtime holds one more retain for the life of the process, see {@link CudaGpu}). Every call
 * makes the context current on the calling thread first.
 *
 * <p>Streams: all work is queued on {@code CU_STREAM_PER_THREAD}, so each Java thread has its own
 * ordered stream; {@link #synchronize()} waits for the calling thread's stream only. Copies to
 * the host return when the bytes have arrived. Copies from the host return when the source may
 * be reused: from a heap array at once (the driver has staged it), from native memory (which may
 * be pinned) after waiting for the thread's stream. Device-to-device copies, fills and kernel
 * launches are asynchronous.
 *
 * <p>Debugging: with {@code -Dsurpass.cuda.sync=true} or Java assertions enabled ({@code -ea},
 * as in tests), each launch is followed by a synchronize and a check, so a kernel fault is
 * reported at the launch that caused it.
 *
 * <p>Thread rules: thread-safe; share one backend between any number of threads.
 */
public final class CudaBackend implements Backend {
    /** Synchronize and check after each launch (debug/test mode). */
    static final boolean SYNC_AFTER_LAUNCH = Boolean.getBoolean("surpass.cuda.sync")
            || CudaBackend.class.desiredAssertionStatus();

    private static final long STAGING_CHUNK = 64L << 20;
    private static final long PT = CuDriver.CU_STREAM_PER_THREAD;

    private final CudaGpu gpu;
    private final CuDriver driver;
    private final AtomicBoolean closed = new AtomicBoolean();

    CudaBackend(CudaGpu gpu) {
        this.gpu = gpu;
        this.driver = gpu.driver;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ctx = a.allocate(ADDRESS);
            gpu.check("cuDevicePrimaryCtxRetain", driver.cuDevicePrimaryCtxRetain(ctx, gpu.device), gpu.name());
        }
    }

    /**
     * The CUDA backend of {@code device}.
     *
     * @throws IllegalArgumentException when the device is null or not a CUDA device
     */
    public static CudaBackend of(Device device) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (!(device.backend() instanceof CudaBackend cb)) {
            throw new IllegalArgumentException("device " + device.name() + " is not a CUDA device");
        }
        return cb;
    }

    /** The CUDA backend of the device {@code tensor} lives on. */
    public static CudaBackend of(Tensor tensor) {
        if (tensor == null) throw new IllegalArgumentException("tensor is null");
        return of(tensor.device());
    }

    CudaGpu gpu() {
        return gpu;
    }

    /** What the driver reports about this GPU. */
    public CudaProperties properties() {
        return gpu.props;
    }

    @Override
    public DeviceKind kind() {
        return DeviceKind.CUDA;
    }

    @Override
    public int ordinal() {
        return gpu.ordinal;
    }

    @Override
    public String name() {
        return gpu.name();
    }

    @Override
    public String describe() {
        CudaProperties p = gpu.props;
        long[] mem = gpu.memInfo();
        String problem = gpu.kernelProblem();
        StringBuilder s = new StringBuilder();
        s.append(name()).append('\n');
        s.append("  compute capability ").append(p.ccMajor()).append('.').append(p.ccMinor())
                .append(" (").append(p.arch()).append("), ").append(p.smCount()).append(" SMs\n");
        s.append("  memory ").append(gib(p.totalMemory())).append(" GiB");
        if (mem != null) s.append(" (").append(gib(mem[0])).append(" GiB free)");
        s.append('\n');
        s.append("  shared memory per block ").append(p.maxSharedPerBlock() / 1024).append(" KiB, opt-in ")
                .append(p.maxSharedPerBlockOptin() / 1024).append(" KiB; L2 ").append(p.l2Bytes() >> 20).append(" MiB\n");
        s.append("  driver CUDA ").append(p.driverVersionString()).append(", cuBLAS ").append(CudaRuntime.cublasDescription()).append('\n');
        s.append("  kernels: ").append(problem == null ? "loaded" : problem);
        return s.toString();
    }

    private static String gib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f", bytes / (double) (1L << 30));
    }

    private void ensureOpen() {
        if (closed.get()) throw new IllegalStateException("CUDA backend " + name() + " is closed");
    }

    // ---- memory -----------------------------------------------------------------------------

    /**
     * Free and total device memory in bytes ({@code cuMemGetInfo}).
     *
     * @throws CudaException when the query fails
     */
    public long[] memoryInfo() {
        ensureOpen();
        gpu.ensureCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG);
            MemorySegment total = a.allocate(JAVA_LONG);
            gpu.check("cuMemGetInfo", driver.cuMemGetInfo(free, total), name());
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    /**
     * Allocates from the GPU's default pool, ordered on this thread's stream. On out-of-memory it
     * waits once for pending frees of all threads (a legacy-stream synchronize) and retries.
     *
     * @throws CudaException naming the requested bytes and the free/total memory when it fails;
     *     the device stays usable
     */
    @Override
    public Storage allocate(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("bytes must be >= 0, got " + bytes);
        ensureOpen();
        if (bytes == 0) return new CudaStorage(gpu, 0, 0);
        gpu.ensureCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_LONG);
            int rc = driver.cuMemAllocAsync(out, bytes, PT);
            if (rc == CuDriver.CUDA_ERROR_OUT_OF_MEMORY) {
                // Frees queued on the legacy stream by other threads may not have run yet.
                int s = gpu.synchronizeLegacyUnlessCapturing();
                if (s == 0) rc = driver.cuMemAllocAsync(out, bytes, PT);
            }
            if (rc != 0) {
                long[] mem = gpu.memInfo();
                String detail = "cannot allocate " + bytes + " bytes (" + human(bytes) + ") on " + name()
                        + (mem == null ? "" : ": " + human(mem[0]) + " free of " + human(mem[1]));
                throw new CudaException("cuMemAllocAsync", rc, CudaRuntime.errorName(driver, rc), detail);
            }
            return new CudaStorage(gpu, out.get(JAVA_LONG, 0), bytes);
        }
    }

    @Override
    public dev.surpass.backend.LiveCounter live() {
        return CudaStorage.live(gpu.ordinal);
    }

    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + " B" : String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** The device storage of this GPU, checked: [offset, offset + bytes) inside it. */
    private CudaStorage storage(Storage s, long offset, long bytes, String what) {
        if (!(s instanceof CudaStorage cs)) {
            throw new IllegalArgumentException(what + " is not device storage of " + name() + ": " + s);
        }
        if (cs.gpu != gpu) throw new IllegalArgumentException(what + " lives on " + cs.gpu.name() + ", not " + name());
        if (cs.isFreed()) throw new IllegalStateException(what + " was freed");
        if (offset < 0 || bytes < 0 || offset > cs.byteSize() - bytes) {
            throw new IllegalArgumentException(what + ": range [" + offset + ", " + offset + " + " + bytes
                    + ") is outside its " + cs.byteSize() + " bytes");
        }
        return cs;
    }

    private void syncThisThread(String after) {
        gpu.check("cuStreamSynchronize", driver.cuStreamSynchronize(PT), after);
    }

    @Override
    public void copyFromHost(MemorySegment src, Storage dst, long dstOffset, long bytes) {
        if (src == null) throw new IllegalArgumentException("source segment is null");
        CudaStorage d = storage(dst, dstOffset, bytes, "destination");
        if (src.byteSize() < bytes) {
            throw new IllegalArgumentException("source segment has " + src.byteSize() + " bytes, copy needs " + bytes);
        }
        ensureOpen();
        if (bytes == 0) return;
        gpu.ensureCurrent();
        long base = d.devicePointer() + dstOffset;
        if (src.isNative()) {
            gpu.check("cuMemcpyHtoDAsync", driver.cuMemcpyHtoDAsync(base, src, bytes, PT), bytes + " bytes to " + name());
            // Wait so that the caller may reuse or free the source (it may be pinned memory, which
            // the driver reads asynchronously).
            syncThisThread("host-to-device copy");
            return;
        }
        // A heap segment cannot be passed to native code: stage it through native memory. The
        // staging buffer is pageable (malloc'd) memory, which the driver cannot read after
        // cuMemcpyHtoDAsync returns (it has no pinned mapping of it): it copies such a source into
        // its own pinned staging before returning. So the buffer may be reused or freed at once,
        // and this copy, unlike the pinned-source one above, does not wait for the stream: small
        // per-step uploads (token ids, page tables, lengths) no longer stall the queue.
        staged(bytes, (stage, off, n) -> {
            MemorySegment.copy(src, off, stage, 0, n);
            gpu.check("cuMemcpyHtoDAsync", driver.cuMemcpyHtoDAsync(base + off, stage, n, PT), n + " bytes to " + name());
        });
    }

    @Override
    public void copyToHost(Storage src, long srcOffset, MemorySegment dst, long bytes) {
        if (dst == null) throw new IllegalArgumentException("destination segment is null");
        CudaStorage s = storage(src, srcOffset, bytes, "source");
        if (dst.byteSize() < bytes) {
            throw new IllegalArgumentException("destination segment has " + dst.byteSize() + " bytes, copy needs " + bytes);
        }
        if (dst.isReadOnly()) throw new IllegalArgumentException("destination segment is read-only");
        ensureOpen();
        if (bytes == 0) return;
        gpu.ensureCurrent();
        long base = s.devicePointer() + srcOffset;
        if (dst.isNative()) {
            gpu.check("cuMemcpyDtoHAsync", driver.cuMemcpyDtoHAsync(dst, base, bytes, PT), bytes + " bytes from " + name());
            syncThisThread("device-to-host copy");
            return;
        }
        staged(bytes, (stage, off, n) -> {
            gpu.check("cuMemcpyDtoHAsync", driver.cuMemcpyDtoHAsync(stage, base + off, n, PT), n + " bytes from " + name());
            syncThisThread("device-to-host copy");
            MemorySegment.copy(stage, 0, dst, off, n);
        });
    }

    /** One piece of a staged copy: bytes {@code [off, off + n)} of the copy, through {@code stage}. */
    @FunctionalInterface
    private interface StagedPiece {
        void copy(MemorySegment stage, long off, long n);
    }

    /**
     * Runs {@code piece} over bytes {@code [0, bytes)} in order, in pieces of at most
     * {@link #STAGING_CHUNK}, through one native staging buffer (a heap segment cannot be passed to
     * the driver), freed at the end.
     */
    private static void staged(long bytes, StagedPiece piece) {
        try (Arena a = Arena.ofConfined()) {
            long chunk = Math.min(bytes, STAGING_CHUNK);
            MemorySegment stage = a.allocate(chunk, 64);
            for (long off = 0; off < bytes; off += chunk) piece.copy(stage, off, Math.min(chunk, bytes - off));
        }
    }

    @Override
    public void copy(Storage src, long srcOffset, Storage dst, long dstOffset, long bytes) {
        CudaStorage s = storage(src, srcOffset, bytes, "source");
        CudaStorage d = storage(dst, dstOffset, bytes, "destination");
        ensureOpen();
        if (bytes == 0) return;
        gpu.ensureCurrent();
        gpu.check("cuMemcpyDtoDAsync", driver.cuMemcpyDtoDAsync(d.devicePointer() + dstOffset, s.devicePointer() + srcOffset, bytes, PT),
                bytes + " bytes on " + name());
    }

    @Override
    public void zero(Storage dst, long offset, long bytes) {
        CudaStorage d = storage(dst, offset, bytes, "destination");
        ensureOpen();
        if (bytes == 0) return;
        gpu.ensureCurrent();
        gpu.check("cuMemsetD8Async", driver.cuMemsetD8Async(d.devicePointer() + offset, (byte) 0, bytes, PT), bytes + " bytes on " + name());
    }

    /** Fills {@code count} 16-bit elements at {@code ptr} (2-byte aligned) with {@code bits}, on this thread's stream. */
    void fill16(long ptr, short bits, long count) {
        if ((ptr & 1) != 0) throw new IllegalArgumentException("fill16: pointer 0x" + Long.toHexString(ptr) + " is not 2-byte aligned");
        if (count == 0) return;
        gpu.ensureCurrent();
        gpu.check("cuMemsetD16Async", driver.cuMemsetD16Async(ptr, bits, count, PT), count + " elements on " + name());
    }

    /** Fills {@code count} 32-bit elements at {@code ptr} (4-byte aligned) with {@code bits}, on this thread's stream. */
    void fill32(long ptr, int bits, long count) {
        if ((ptr & 3) != 0) throw new IllegalArgumentException("fill32: pointer 0x" + Long.toHexString(ptr) + " is not 4-byte aligned");
        if (count == 0) return;
        gpu.ensureCurrent();
        gpu.check("cuMemsetD32Async", driver.cuMemsetD32Async(ptr, bits, count, PT), count + " elements on " + name());
    }

    /** Waits for the work this thread queued on this GPU; a kernel fault surfaces here as a {@link CudaException}. */
    @Override
    public void synchronize() {
        gpu.ensureCurrent();
        syncThisThread(name());
    }

    /** Releases this handle's retain of the primary context. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        gpu.check("cuDevicePrimaryCtxRelease", driver.cuDevicePrimaryCtxRelease(gpu.device), name());
    }

    public boolean isClosed() {
        return closed.get();
    }

    // ---- kernels ----------------------------------------------------------------------------

    /**
     * Loads (once per process) the module of {@code family} and returns null, or says why it is
     * unusable ("kernels not built: …").
     */
    public String moduleProblem(String family) {
        if (family == null || family.isBlank()) throw new IllegalArgumentException("family is null or blank");
        ensureOpen();
        return gpu.module(family).problem();
    }

    /**
     * Launches {@code kernel} of {@code family} ({@code dev/surpass/kernels/<family>.fatbin}) on
     * this thread's stream.
     *
     * @param grid blocks; x up to 2^31-1, y and z up to 65535
     * @param block threads; at most 1024 in all (and the kernel's own limit)
     * @param sharedBytes dynamic shared memory; above 48 KiB the kernel's limit is raised
     *     (up to the GPU's opt-in maximum minus the kernel's static shared memory)
     * @param args the kernel's parameters in order: {@link Long} (a device pointer or
     *     {@code long long}), {@link Integer} ({@code int}), {@link Float} ({@code float}),
     *     {@link TensorMapArg} ({@code const __grid_constant__ CUtensorMap}, 128 bytes by value)
     * @throws IllegalArgumentException for a bad shape, shared size or argument type
     * @throws IllegalStateException when the kernels are not built or lack {@code kernel}
     * @throws CudaException when the launch fails (or, in debug/test mode, the kernel faults)
     */
    public void launch(String family, String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        if (family == null || family.isBlank()) throw new IllegalArgumentException("family is null or blank");
        if (kernel == null || kernel.isBlank()) throw new IllegalArgumentException("kernel is null or blank");
        if (grid == null) throw new IllegalArgumentException("grid is null");
        if (block == null) throw new IllegalArgumentException("block is null");
        if (args == null) throw new IllegalArgumentException("args is null");
        CudaProperties p = gpu.props;
        if (grid.x() > p.maxGridX() || grid.y() > p.maxGridY() || grid.z() > p.maxGridZ()) {
            throw new IllegalArgumentException("grid " + grid + " of " + kernel + " exceeds " + name() + "'s limit ("
                    + p.maxGridX() + ", " + p.maxGridY() + ", " + p.maxGridZ() + ")");
        }
        if (block.x() > p.maxBlockX() || block.y() > p.maxBlockY() || block.z() > p.maxBlockZ()
                || block.volume() > p.maxThreadsPerBlock()) {
            throw new IllegalArgumentException("block " + block + " of " + kernel + " exceeds " + name() + "'s limit ("
                    + p.maxBlockX() + ", " + p.maxBlockY() + ", " + p.maxBlockZ() + "; " + p.maxThreadsPerBlock() + " threads)");
        }
        if (sharedBytes < 0) throw new IllegalArgumentException("sharedBytes must be >= 0, got " + sharedBytes);
        ensureOpen();
        gpu.ensureCurrent();
        CudaGpu.Function f = gpu.function(family, kernel);
        if (block.volume() > f.maxThreadsPerBlock) {
            throw new IllegalArgumentException("block " + block + " has " + block.volume() + " threads but kernel " + kernel
                    + " allows at most " + f.maxThreadsPerBlock + " (its register use)");
        }
        if ((long) sharedBytes + f.staticSharedBytes > p.maxSharedPerBlockOptin()) {
            throw new IllegalArgumentException("sharedBytes " + sharedBytes + " + the kernel's static " + f.staticSharedBytes
                    + " exceed " + name() + "'s " + p.maxSharedPerBlockOptin() + " bytes of shared memory per block");
        }
        if (sharedBytes > 48 * 1024) gpu.ensureDynamicShared(f, sharedBytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = packParams(a, kernel, args);
            int rc = driver.cuLaunchKernel(f.handle, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                    sharedBytes, PT, params, MemorySegment.NULL);
            gpu.check("cuLaunchKernel", rc, kernel + " grid " + grid + " block " + block + " shared " + sharedBytes);
        }
        if (SYNC_AFTER_LAUNCH && !gpu.capturingOnThisThread()) { // a capturing stream cannot be synchronized
            gpu.check("cuStreamSynchronize", driver.cuStreamSynchronize(PT), "after " + kernel + " (debug sync)");
        }
    }

    /**
     * The kernelParams array of cuLaunchKernel: one pointer per parameter, each to a copy of its value
     * in {@code a} (8-byte slots for scalars and pointers, a 128-byte 64-byte-aligned slot for a tensor
     * map). The driver copies the values during the launch, so the arena may close after it.
     *
     * @throws IllegalArgumentException for a null or unsupported argument, naming its index
     */
    static MemorySegment packParams(Arena a, String kernel, Object... args) {
        MemorySegment params = a.allocate(ADDRESS, Math.max(1, args.length));
        for (int i = 0; i < args.length; i++) {
            MemorySegment slot;
            switch (args[i]) {
                case Long v -> (slot = a.allocate(8, 8)).set(JAVA_LONG, 0, v);
                case Integer v -> (slot = a.allocate(8, 8)).set(JAVA_INT, 0, v);
                case Float v -> (slot = a.allocate(8, 8)).set(JAVA_FLOAT, 0, v);
                case TensorMapArg m -> m.writeTo(slot = a.allocate(TensorMapArg.BYTES, TensorMapArg.ALIGN));
                case null -> throw new IllegalArgumentException("argument " + i + " of " + kernel + " is null");
                default -> throw new IllegalArgumentException("argument " + i + " of " + kernel + " is a "
                        + args[i].getClass().getSimpleName() + "; expected Long (pointer or int64), Integer, Float or TensorMapArg");
            }
            params.setAtIndex(ADDRESS, i, slot);
        }
        return params;
    }

    /**
     * Encodes a tiled TMA tensor map over device memory at {@code address} (cuTensorMapEncodeTiled):
     * {@code dims[i]} elements along dimension i (dimension 0 contiguous), {@code byteStrides[i]} the
     * stride of dimension i + 1 in bytes, a box of {@code box[i]} elements per copy, interleave none,
     * 128-byte swizzle, L2 promotion 256 bytes, out-of-bounds elements read as zero.
     *
     * @throws IllegalArgumentException when the request breaks a TMA rule (see the message)
     * @throws IllegalStateException when the driver has no cuTensorMapEncodeTiled (older than CUDA 12.0)
     * @throws CudaException when the driver refuses the map
     */
    public TensorMapArg tensorMap(DType dtype, long address, long[] dims, long[] byteStrides, int[] box) {
        int dt = TensorMapArg.checkTiled(dtype, address, dims, byteStrides, box, true);
        ensureOpen();
        if (!driver.hasTensorMaps()) throw new IllegalStateException("the NVIDIA driver has no cuTensorMapEncodeTiled (CUDA 12.0+ needed)");
        int rank = dims.length;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment map = a.allocate(TensorMapArg.BYTES, TensorMapArg.ALIGN);
            MemorySegment d = a.allocateFrom(JAVA_LONG, dims);
            MemorySegment st = a.allocate(JAVA_LONG, Math.max(1, rank - 1));
            for (int i = 0; i < rank - 1; i++) st.setAtIndex(JAVA_LONG, i, byteStrides[i]);
            MemorySegment bx = a.allocateFrom(JAVA_INT, box);
            MemorySegment es = a.allocate(JAVA_INT, rank);
            for (int i = 0; i < rank; i++) es.setAtIndex(JAVA_INT, i, 1);
            int rc = driver.cuTensorMapEncodeTiled(map, dt, rank, address, d, st, bx, es, CuDriver.TENSOR_MAP_INTERLEAVE_NONE,
                    CuDriver.TENSOR_MAP_SWIZZLE_128B, CuDriver.TENSOR_MAP_L2_PROMOTION_L2_256B, CuDriver.TENSOR_MAP_FLOAT_OOB_FILL_NONE);
            gpu.check("cuTensorMapEncodeTiled", rc, dtype + " dims " + java.util.Arrays.toString(dims) + " strides "
                    + java.util.Arrays.toString(byteStrides) + " box " + java.util.Arrays.toString(box));
            return new TensorMapArg(map.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
    }

    /**
     * Runs {@code work} (which queues GPU work on this thread) between two events on this
     * thread's stream and returns the GPU time between them in milliseconds.
     */
    public float timeMillis(Runnable work) {
        if (work == null) throw new IllegalArgumentException("work is null");
        ensureOpen();
        gpu.ensureCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(ADDRESS);
            gpu.check("cuEventCreate", driver.cuEventCreate(e, CuDriver.CU_EVENT_DEFAULT), null);
            long start = e.get(ADDRESS, 0).address();
            long end = 0;
            try {
                gpu.check("cuEventCreate", driver.cuEventCreate(e, CuDriver.CU_EVENT_DEFAULT), null);
                end = e.get(ADDRESS, 0).address();
                gpu.check("cuEventRecord", driver.cuEventRecord(start, PT), null);
                work.run();
                gpu.check("cuEventRecord", driver.cuEventRecord(end, PT), null);
                gpu.check("cuEventSynchronize", driver.cuEventSynchronize(end), null);
                MemorySegment ms = a.allocate(JAVA_FLOAT);
                gpu.check("cuEventElapsedTime", driver.cuEventElapsedTime(ms, start, end), null);
                return ms.get(JAVA_FLOAT, 0);
            } finally {
                driver.cuEventDestroy(start);
                if (end != 0) driver.cuEventDestroy(end);
            }
        }
    }

    @Override
    public String toString() {
        return "CudaBackend[" + name() + (closed.get() ? ", closed" : "") + "]";
    }
}
