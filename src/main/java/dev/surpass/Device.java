package dev.surpass;

import dev.surpass.backend.Backend;
import dev.surpass.backend.CpuBackend;
import dev.surpass.backend.HostStorage;
import dev.surpass.backend.LiveCounter;
import dev.surpass.backend.Storage;
import dev.surpass.cuda.CudaRuntime;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A place where tensors live and ops run: the CPU or one CUDA GPU.
 *
 * <p>A {@code Device} is a handle that owns the memory of every tensor allocated through it:
 * closing it frees what its tensors still hold (later use of those tensors throws). Handles are
 * cheap on the CPU; on CUDA a handle retains the GPU's primary context, and kernel modules and
 * library handles are shared by all handles of the same GPU.
 *
 * <p>Thread rules: a device may be shared by any number of threads; allocation, copies and ops are
 * thread-safe. On CUDA each thread queues its work on its own stream, so ops from one thread run in
 * order and a download waits for them. A tensor written by one thread and read by another needs
 * the writer to call {@link #synchronize()} first (or to hand it over after a download).
 *
 * <p>Choice of backend: {@link #best()} picks CUDA when a GPU is present and its kernels load, else
 * the CPU, and logs why; {@code -Dsurpass.device=cpu|cuda} forces the choice.
 *
 * <p>Accounting (for leak checks): {@link #liveAllocations()} and {@link #liveBytes()} count what
 * this handle holds; {@link #allocations()} counts what the physical device holds over every handle
 * and thread; {@link Resources#now()} takes all of it, open scopes and GPU handles included, at once.
 */
public final class Device implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.surpass");
    /** Each physical device seen so far ("cpu", "cuda:0") and its process-wide counter. */
    private static final Map<String, LiveCounter> COUNTERS = new ConcurrentHashMap<>();
    private static final AtomicInteger OPEN_GPU_HANDLES = new AtomicInteger();

    static {
        COUNTERS.put("cpu", CpuBackend.INSTANCE.live());
    }

    private final Backend backend;
    private final Set<Buffer> live = ConcurrentHashMap.newKeySet();
    private final AtomicLong liveBytes = new AtomicLong();
    private volatile boolean closed;

    private Device(Backend backend) {
        this.backend = backend;
        COUNTERS.putIfAbsent(key(backend), backend.live());
        if (backend.kind() != DeviceKind.CPU) OPEN_GPU_HANDLES.incrementAndGet();
    }

    private static String key(Backend b) {
        return b.kind() == DeviceKind.CPU ? "cpu" : "cuda:" + b.ordinal();
    }

    /**
     * A number of allocations and the bytes they hold.
     *
     * @param count allocations not yet freed (tensors and their views share one)
     * @param bytes their sizes as requested (the CPU pool may round a block up; the CUDA pool too)
     */
    public record Allocations(long count, long bytes) {
        @Override
        public String toString() {
            return count + " allocation(s), " + bytes + " bytes";
        }
    }

    /** A handle on the host CPU. */
    public static Device cpu() {
        return new Device(CpuBackend.INSTANCE);
    }

    /**
     * A handle on CUDA GPU {@code ordinal}.
     *
     * @throws IllegalStateException when there is no CUDA driver or no such GPU (the message says why)
     * @throws dev.surpass.cuda.CudaException when the driver fails to set the GPU up
     */
    public static Device cuda(int ordinal) {
        int n = CudaRuntime.deviceCount();
        if (n == 0) {
            throw new IllegalStateException("no CUDA device: " + CudaRuntime.unavailableReason());
        }
        if (ordinal < 0 || ordinal >= n) {
            throw new IllegalArgumentException("CUDA device ordinal " + ordinal + " out of range: this host has " + n + " GPU(s)");
        }
        return new Device(CudaRuntime.openBackend(ordinal));
    }

    /** Number of CUDA GPUs visible (0 without a driver; never throws). */
    public static int cudaDeviceCount() {
        return CudaRuntime.deviceCount();
    }

    /**
     * CUDA GPU 0 when it is present and its kernels load, else the CPU; logs the reason for a
     * fallback. {@code -Dsurpass.device=cpu} or {@code =cuda} forces the choice ({@code cuda}
     * fails when no GPU is usable).
     */
    public static Device best() {
        String forced = System.getProperty("surpass.device", "").trim().toLowerCase(java.util.Locale.ROOT);
        switch (forced) {
            case "cpu" -> {
                LOG.log(System.Logger.Level.INFO, "surpass: CPU forced by -Dsurpass.device=cpu");
                return cpu();
            }
            case "cuda" -> {
                Device d = cuda(0);
                String why = CudaRuntime.kernelProblem(d.backend);
                if (why != null) {
                    d.close();
                    throw new IllegalStateException("-Dsurpass.device=cuda but the CUDA kernels are unusable: " + why);
                }
                return d;
            }
            case "" -> {}
            default -> throw new IllegalArgumentException("-Dsurpass.device=" + forced + ": expected cpu or cuda");
        }
        if (CudaRuntime.deviceCount() == 0) {
            LOG.log(System.Logger.Level.INFO, "surpass: using the CPU: no CUDA device (" + CudaRuntime.unavailableReason() + ")");
            return cpu();
        }
        Device d;
        try {
            d = cuda(0);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "surpass: using the CPU: CUDA device 0 failed to open: " + e.getMessage());
            return cpu();
        }
        String why = CudaRuntime.kernelProblem(d.backend);
        if (why != null) {
            d.close();
            LOG.log(System.Logger.Level.WARNING, "surpass: using the CPU: CUDA kernels unusable: " + why);
            return cpu();
        }
        return d;
    }

    public DeviceKind kind() {
        return backend.kind();
    }

    public boolean isCuda() {
        return backend.kind() == DeviceKind.CUDA;
    }

    public boolean isCpu() {
        return backend.kind() == DeviceKind.CPU;
    }

    /** GPU ordinal, 0 for the CPU. */
    public int ordinal() {
        return backend.ordinal();
    }

    /** "cpu" or "cuda:0 (NVIDIA H200)". */
    public String name() {
        return backend.name();
    }

    /** A multi-line description (cores and SIMD width, or GPU name, capability, memory, kernels). */
    public String describe() {
        return backend.describe();
    }

    /** True when {@code other} is the same physical device (kind and ordinal), whatever the handle. */
    public boolean sameAs(Device other) {
        return other != null && other.kind() == kind() && other.ordinal() == ordinal();
    }

    /** Internal: the backend this handle delegates to. Not part of the API. */
    public Backend backend() {
        ensureOpen();
        return backend;
    }

    // ---- allocation -------------------------------------------------------------------------

    /**
     * An uninitialised tensor: its contents are unspecified (on the CPU a large block may be
     * reused from a tensor freed earlier, so its old bytes remain). Use {@link #zeros} for zeros.
     */
    public Tensor allocate(DType dtype, long... shape) {
        if (dtype == null) throw new IllegalArgumentException("dtype is null");
        long[] s = shape.clone();
        long bytes = Shapes.byteSize(dtype, s);
        return new Tensor(newBuffer(bytes), 0, dtype, s);
    }

    /** A tensor of zeros. */
    public Tensor zeros(DType dtype, long... shape) {
        Tensor t = allocate(dtype, shape);
        backend.zero(t.storage(), t.byteOffset(), t.byteSize());
        return t;
    }

    /** Uploads fp32 values, converting to {@code dtype} (bf16 round-to-nearest-even, fp16 via the JDK). */
    public Tensor upload(DType dtype, float[] data, long... shape) {
        if (data == null) throw new IllegalArgumentException("data is null");
        if (dtype == null || !dtype.isFloating()) {
            throw new IllegalArgumentException("upload(float[]) needs a floating dtype (F32, F16, BF16), got " + dtype);
        }
        checkLength(data.length, shape);
        MemorySegment src = switch (dtype) {
            case F32 -> MemorySegment.ofArray(data);
            case BF16 -> {
                short[] b = new short[data.length];
                for (int i = 0; i < b.length; i++) b[i] = DType.floatToBf16(data[i]);
                yield MemorySegment.ofArray(b);
            }
            case F16 -> {
                short[] b = new short[data.length];
                for (int i = 0; i < b.length; i++) b[i] = DType.floatToF16(data[i]);
                yield MemorySegment.ofArray(b);
            }
            default -> throw new AssertionError(dtype);
        };
        return uploadSegment(dtype, src, shape);
    }

    /** Uploads 16-bit float bit patterns (F16 or BF16). */
    public Tensor upload(DType dtype, short[] bits, long... shape) {
        if (bits == null) throw new IllegalArgumentException("data is null");
        if (dtype != DType.F16 && dtype != DType.BF16) {
            throw new IllegalArgumentException("upload(short[]) takes F16 or BF16 bits, got " + dtype);
        }
        checkLength(bits.length, shape);
        return uploadSegment(dtype, MemorySegment.ofArray(bits), shape);
    }

    /** Uploads 32-bit indices as I32. */
    public Tensor upload(int[] data, long... shape) {
        if (data == null) throw new IllegalArgumentException("data is null");
        checkLength(data.length, shape);
        return uploadSegment(DType.I32, MemorySegment.ofArray(data), shape);
    }

    /** Uploads 64-bit indices as I64. */
    public Tensor upload(long[] data, long... shape) {
        if (data == null) throw new IllegalArgumentException("data is null");
        checkLength(data.length, shape);
        return uploadSegment(DType.I64, MemorySegment.ofArray(data), shape);
    }

    /** Copies raw little-endian bytes of {@code dtype} from {@code src} (exactly the tensor's size). */
    public Tensor upload(DType dtype, MemorySegment src, long... shape) {
        if (dtype == null) throw new IllegalArgumentException("dtype is null");
        if (src == null) throw new IllegalArgumentException("source segment is null");
        long bytes = Shapes.byteSize(dtype, shape);
        if (src.byteSize() != bytes) {
            throw new IllegalArgumentException("source segment has " + src.byteSize() + " bytes but " + dtype + " "
                    + Shapes.toString(shape) + " needs " + bytes);
        }
        return uploadSegment(dtype, src, shape);
    }

    /**
     * A CPU tensor over {@code segment} without copying (e.g. a memory-mapped weight). The tensor
     * borrows the memory: it stays valid only while the segment's owner keeps it alive, and closing
     * the tensor does not free it.
     */
    public Tensor wrap(DType dtype, MemorySegment segment, long... shape) {
        if (!isCpu()) throw new IllegalArgumentException("wrap() makes host tensors; this device is " + name());
        if (dtype == null) throw new IllegalArgumentException("dtype is null");
        if (segment == null) throw new IllegalArgumentException("segment is null");
        long bytes = Shapes.byteSize(dtype, shape);
        if (segment.byteSize() != bytes) {
            throw new IllegalArgumentException("segment has " + segment.byteSize() + " bytes but " + dtype + " "
                    + Shapes.toString(shape) + " needs " + bytes);
        }
        ensureOpen();
        Buffer b = new Buffer(this, new HostStorage(segment, null));
        register(b);
        return new Tensor(b, 0, dtype, shape.clone());
    }

    private Tensor uploadSegment(DType dtype, MemorySegment src, long[] shape) {
        Tensor t = allocate(dtype, shape);
        try {
            backend.copyFromHost(src, t.storage(), t.byteOffset(), t.byteSize());
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    private static void checkLength(long length, long[] shape) {
        long n = Shapes.numel(shape);
        if (n != length) {
            throw new IllegalArgumentException("data has " + length + " elements but shape " + Shapes.toString(shape) + " needs " + n);
        }
    }

    Buffer newBuffer(long bytes) {
        ensureOpen();
        Storage s = backend.allocate(bytes);
        Buffer b = new Buffer(this, s);
        register(b);
        return b;
    }

    private void register(Buffer b) {
        live.add(b);
        liveBytes.addAndGet(b.storage.byteSize());
        if (closed) { // raced with close(): do not leak
            b.forceFree();
            throw new IllegalStateException("device " + name() + " is closed");
        }
    }

    void free(Buffer b) {
        if (live.remove(b)) {
            liveBytes.addAndGet(-b.storage.byteSize());
            b.storage.free();
        }
    }

    /**
     * What this physical device holds, over every handle and thread of the process: allocations
     * made and not yet freed (on CUDA, whose free has not been queued). A debug figure for leak
     * checks; readable after close. Borrowed host memory ({@link #wrap}) is not counted.
     */
    public Allocations allocations() {
        LiveCounter c = backend.live();
        return new Allocations(c.count(), c.bytes());
    }

    /** {@link #allocations()} of every device used so far, by "cpu" / "cuda:N" (sorted). */
    static Map<String, Allocations> allAllocations() {
        Map<String, Allocations> m = new TreeMap<>();
        COUNTERS.forEach((k, c) -> m.put(k, new Allocations(c.count(), c.bytes())));
        return m;
    }

    /** CUDA handles opened and not closed (each holds a retain of its GPU's primary context). */
    static int openGpuHandles() {
        return OPEN_GPU_HANDLES.get();
    }

    /** Number of live allocations made through this handle (for leak checks). */
    public int liveAllocations() {
        return live.size();
    }

    /** Bytes held by live allocations made through this handle. */
    public long liveBytes() {
        return liveBytes.get();
    }

    /** Waits until the work this thread queued on the device has finished. */
    public void synchronize() {
        ensureOpen();
        backend.synchronize();
    }

    /**
     * {@link #synchronize} then {@code loaded}: how a model loader ends, so that the weights it
     * uploaded and converted on this thread's queue are complete before any other thread uses the
     * model (on CUDA each thread has its own stream).
     */
    public <T> T ready(T loaded) {
        synchronize();
        return loaded;
    }

    public boolean isClosed() {
        return closed;
    }

    void ensureOpen() {
        if (closed) throw new IllegalStateException("device " + backend.name() + " is closed");
    }

    /**
     * Frees every allocation still live on this handle and releases the backend's hold (on CUDA,
     * the primary context retain). Tensors of this handle throw on later use. Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
        }
        if (backend.kind() != DeviceKind.CPU) OPEN_GPU_HANDLES.decrementAndGet();
        try {
            backend.synchronize();
        } catch (RuntimeException ignored) {
            // a sticky device error: still free what we hold
        }
        for (Buffer b : live.toArray(new Buffer[0])) b.forceFree();
        if (backend != CpuBackend.INSTANCE) backend.close();
    }

    @Override
    public String toString() {
        return "Device[" + backend.name() + (closed ? ", closed" : "") + "]";
    }

}
