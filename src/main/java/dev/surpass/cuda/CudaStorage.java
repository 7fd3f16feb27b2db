package dev.surpass.cuda;

import dev.surpass.backend.LiveCounter;
import dev.surpass.backend.Storage;
import dev.surpass.cuda.ffi.CuDriver;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One allocation from a GPU's stream-ordered memory pool ({@code cuMemAllocAsync}).
 *
 * <p>Freeing: {@link #free()} may run on any thread (the last tensor's close, a Device close,
 * the Tensor Cleaner thread) while the memory's last users were queued on other threads'
 * per-thread default streams, which the freeing thread's own stream is not ordered after. So the
 * free is queued on {@code CU_STREAM_LEGACY}, the legacy default stream, which waits for all work
 * already queued on every blocking stream of the context (per-thread default streams included)
 * and is waited for by work queued after it. The pool then hands the block out again only in
 * stream order after the free. The cost is a GPU-side barrier between threads' streams at each
 * free; no host thread blocks. While a CUDA graph is being captured ({@link CudaGraph}) the legacy
 * stream would break the capture: the capturing thread's frees (of memory that capture allocated)
 * go on its own stream and become graph nodes, and other threads' frees wait in a queue until the
 * capture ends ({@link CudaGpu#freeAsync}).
 *
 * <p>A zero-byte allocation holds no device memory (pointer 0).
 *
 * <p>Accounting: each storage counts in {@link #live(int)} of its GPU from construction until its
 * free is queued (zero-byte ones included, so counts match the tensors).
 */
final class CudaStorage implements Storage {
    private static final System.Logger LOG = System.getLogger("dev.surpass.cuda");

    final CudaGpu gpu;
    private final long ptr;
    private final long bytes;
    private final AtomicBoolean freed = new AtomicBoolean();

    private static final ConcurrentHashMap<Integer, LiveCounter> LIVE = new ConcurrentHashMap<>();

    CudaStorage(CudaGpu gpu, long ptr, long bytes) {
        this.gpu = gpu;
        this.ptr = ptr;
        this.bytes = bytes;
        live(gpu.ordinal).add(bytes);
    }

    /** The allocations of GPU {@code ordinal} not yet freed, over every handle and thread. */
    static LiveCounter live(int ordinal) {
        return LIVE.computeIfAbsent(ordinal, o -> new LiveCounter());
    }

    @Override
    public long byteSize() {
        return bytes;
    }

    @Override
    public boolean isHost() {
        return false;
    }

    @Override
    public MemorySegment hostSegment() {
        throw new IllegalStateException("device storage on " + gpu.name() + " has no host segment");
    }

    @Override
    public long devicePointer() {
        if (freed.get()) throw new IllegalStateException("device storage on " + gpu.name() + " was freed");
        return ptr;
    }

    boolean isFreed() {
        return freed.get();
    }

    /** Queues the free (once); never throws: a failure is logged (e.g. after a sticky device error). */
    @Override
    public void free() {
        if (!freed.compareAndSet(false, true)) return;
        live(gpu.ordinal).remove(bytes);
        if (ptr == 0) return;
        try {
            gpu.ensureCurrent();
            int rc = gpu.freeAsync(ptr);
            if (rc != 0) {
                LOG.log(System.Logger.Level.WARNING, "surpass: cuMemFreeAsync of " + bytes + " bytes on " + gpu.name()
                        + " failed: " + CudaRuntime.errorName(gpu.driver, rc) + " (" + rc + ")");
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "surpass: freeing " + bytes + " bytes on " + gpu.name() + " failed", e);
        }
    }

    @Override
    public String toString() {
        return "CudaStorage[" + bytes + " bytes at 0x" + Long.toHexString(ptr) + " on " + gpu.name() + (freed.get() ? ", freed" : "") + "]";
    }
}
