package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.surpass.backend.Backend;
import dev.surpass.cuda.ffi.CuDriver;
import dev.surpass.cuda.ffi.Cublas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Process-wide entry to CUDA: finds the driver, counts GPUs, opens backends. Never throws
 * {@link UnsatisfiedLinkError}: a host without a driver reports zero devices and a reason.
 *
 * <p>Initialisation is lazy and happens once per process, on the first call of any method here:
 * {@code libcuda.so.1} is looked up, {@code cuInit(0)} runs, GPUs are counted. cuBLAS is looked
 * up only when a GEMM first needs it. Per-GPU state ({@link CudaGpu}: primary context, memory
 * pool, loaded kernel modules, cuBLAS handles) is created when a GPU is first opened and kept
 * for the life of the process, shared by every {@link dev.surpass.Device} handle of that GPU.
 *
 * <p>Thread rules: every method is thread-safe.
 */
public final class CudaRuntime {
    private CudaRuntime() {}

    /** Outcome of driver initialisation: a driver and a GPU count, or a reason. */
    private record Init(CuDriver driver, int deviceCount, String reason) {}

    private static volatile Init init;
    private static volatile CudaGpu[] gpus;
    private static final Object LOCK = new Object();

    private static volatile Object cublas; // Cublas, or a String reason
    private static final Object CUBLAS_LOCK = new Object();

    private static Init init() {
        Init i = init;
        if (i != null) return i;
        synchronized (LOCK) {
            if (init == null) {
                Init made = initialise();
                gpus = new CudaGpu[made.deviceCount()];
                init = made;
            }
            return init;
        }
    }

    private static Init initialise() {
        CuDriver d;
        try {
            d = CuDriver.open();
        } catch (IllegalStateException e) {
            return new Init(null, 0, e.getMessage());
        } catch (IllegalCallerException e) {
            return new Init(null, 0, "native access to libcuda.so.1 is denied: run with --enable-native-access=dev.surpass"
                    + " (or ALL-UNNAMED on the class path): " + e.getMessage());
        }
        try {
            int rc = d.cuInit(0);
            if (rc != 0) {
                return new Init(null, 0, "cuInit failed: " + errorName(d, rc) + " (" + rc + ")");
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment n = a.allocate(JAVA_INT);
                rc = d.cuDeviceGetCount(n);
                if (rc != 0) {
                    return new Init(null, 0, "cuDeviceGetCount failed: " + errorName(d, rc) + " (" + rc + ")");
                }
                int count = n.get(JAVA_INT, 0);
                if (count <= 0) {
                    return new Init(null, 0, "the NVIDIA driver reports no GPU (cuDeviceGetCount = 0; check CUDA_VISIBLE_DEVICES)");
                }
                return new Init(d, count, null);
            }
        } catch (RuntimeException e) {
            return new Init(null, 0, "CUDA driver initialisation failed: " + e);
        }
    }

    /** GPUs visible to the driver; 0 when there is no driver or no device. Never throws. */
    public static int deviceCount() {
        return init().deviceCount();
    }

    /** Why CUDA is unusable (null when {@link #deviceCount()} &gt; 0). */
    public static String unavailableReason() {
        return init().reason();
    }

    /**
     * Opens a backend on GPU {@code ordinal} (retains its primary context).
     *
     * @throws IllegalStateException when there is no usable driver or GPU (the message says why)
     * @throws IllegalArgumentException when {@code ordinal} is out of range
     * @throws CudaException when the driver fails to set the GPU up
     */
    public static Backend openBackend(int ordinal) {
        return new CudaBackend(gpu(ordinal));
    }

    /**
     * Null when every kernel family present in the jar loads on this backend's GPU (and the
     * required {@code layers} family is present), else why not.
     */
    public static String kernelProblem(Backend backend) {
        if (!(backend instanceof CudaBackend cb)) {
            return "backend " + (backend == null ? "null" : backend.name()) + " is not a CUDA backend";
        }
        return cb.gpu().kernelProblem();
    }

    /** Version of the CUDA driver (e.g. 13000 for 13.0), or 0 when there is none. */
    public static int driverVersion() {
        Init i = init();
        if (i.driver() == null) return 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(i.driver(), "cuDriverGetVersion", i.driver().cuDriverGetVersion(v), null);
            return v.get(JAVA_INT, 0);
        }
    }

    // ---- package internals ------------------------------------------------------------------

    /** The driver; throws {@link IllegalStateException} with the reason when there is none. */
    static CuDriver driver() {
        Init i = init();
        if (i.driver() == null) throw new IllegalStateException("no CUDA device: " + i.reason());
        return i.driver();
    }

    /** The process-wide state of GPU {@code ordinal}, created (context retained) on first use. */
    static CudaGpu gpu(int ordinal) {
        Init i = init();
        if (i.driver() == null) throw new IllegalStateException("no CUDA device: " + i.reason());
        if (ordinal < 0 || ordinal >= i.deviceCount()) {
            throw new IllegalArgumentException("CUDA device ordinal " + ordinal + " out of range: this host has "
                    + i.deviceCount() + " GPU(s)");
        }
        CudaGpu[] all = gpus;
        CudaGpu g = all[ordinal];
        if (g != null) return g;
        synchronized (LOCK) {
            if (all[ordinal] == null) all[ordinal] = new CudaGpu(i.driver(), ordinal);
            return all[ordinal];
        }
    }

    /** cuBLAS, loaded on first use; throws {@link IllegalStateException} with the reason when absent. */
    static Cublas cublas() {
        Object c = cublasOrReason();
        if (c instanceof Cublas b) return b;
        throw new IllegalStateException("matmul on CUDA needs cuBLAS: " + c);
    }

    /** "13.1.0 (libcublas.so.13)" or "unavailable: why". */
    static String cublasDescription() {
        Object c = cublasOrReason();
        if (!(c instanceof Cublas b)) return "unavailable: " + c;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            int[] parts = new int[3];
            int[] props = {Cublas.MAJOR_VERSION, Cublas.MINOR_VERSION, Cublas.PATCH_LEVEL};
            for (int p = 0; p < 3; p++) {
                int st = b.cublasGetProperty(props[p], v);
                if (st != 0) return "version unknown (cublasGetProperty: " + cublasStatusName(b, st) + ") (" + b.library() + ")";
                parts[p] = v.get(JAVA_INT, 0);
            }
            return parts[0] + "." + parts[1] + "." + parts[2] + " (" + b.library() + ")";
        }
    }

    private static Object cublasOrReason() {
        Object c = cublas;
        if (c != null) return c;
        synchronized (CUBLAS_LOCK) {
            if (cublas == null) {
                try {
                    cublas = Cublas.open();
                } catch (IllegalStateException e) {
                    cublas = e.getMessage();
                } catch (IllegalCallerException e) {
                    cublas = "native access denied: " + e.getMessage();
                }
            }
            return cublas;
        }
    }

    /** Throws a {@link CudaException} for a failed CUresult. */
    static void check(CuDriver d, String call, int rc, String detail) {
        if (rc != 0) throw new CudaException(call, rc, errorName(d, rc), detail);
    }

    /** Throws a {@link CudaException} for a failed cublasStatus_t. */
    static void checkBlas(Cublas b, String call, int status, String detail) {
        if (status != 0) throw new CudaException(call, status, cublasStatusName(b, status), detail);
    }

    static String cublasStatusName(Cublas b, int status) {
        String n = null;
        try {
            n = b == null ? null : b.statusName(status);
        } catch (RuntimeException ignored) {
            // fall back to our table
        }
        return n != null && n.startsWith("CUBLAS_") ? n : CudaStatus.cublasName(status);
    }

    /**
     * The CUresult's name from {@code cuGetErrorName}, falling back to {@link CudaStatus}'s table
     * when there is no driver or the driver does not know the code.
     */
    static String errorName(CuDriver d, int rc) {
        if (d != null) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ADDRESS);
                if (d.cuGetErrorName(rc, p) == 0) {
                    MemorySegment s = p.get(ADDRESS, 0);
                    if (s.address() != 0) return s.reinterpret(128).getString(0);
                }
            } catch (RuntimeException ignored) {
                // fall back to our table
            }
        }
        return CudaStatus.driverName(rc);
    }
}
