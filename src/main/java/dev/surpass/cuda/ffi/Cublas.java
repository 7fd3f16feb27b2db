package dev.surpass.cuda.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Raw downcalls into cuBLAS. Internal to surpass. Methods return the {@code cublasStatus_t}
 * unchanged (0 = success). Signatures and enum values are those of cuBLAS 13's
 * {@code cublas_api.h} (the same since cuBLAS 11): {@code cublasCreate} etc. are exported as
 * {@code cublasCreate_v2}; {@code cublasGemmEx} and {@code cublasGemmStridedBatchedEx} keep their
 * names. Handles and device pointers are passed as {@code long} addresses.
 *
 * <p>Thread rules: the bindings may be called from any thread; a cuBLAS handle itself must not be
 * used by two threads at once (the caller keeps one per thread).
 */
public final class Cublas {
    /** Tried in this order: CUDA 13, CUDA 12, an unversioned development link. */
    public static final String[] LIBRARIES = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};

    // cublasOperation_t
    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;
    // cublasMath_t
    public static final int CUBLAS_DEFAULT_MATH = 0;
    public static final int CUBLAS_TF32_TENSOR_OP_MATH = 3;
    public static final int CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16;
    // cublasComputeType_t
    public static final int CUBLAS_COMPUTE_32F = 68;
    public static final int CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
    // cublasGemmAlgo_t
    public static final int CUBLAS_GEMM_DEFAULT = -1;
    // cudaDataType_t (library_types.h)
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16F = 2;
    public static final int CUDA_R_16BF = 14;
    // libraryPropertyType_t (library_types.h)
    public static final int MAJOR_VERSION = 0;
    public static final int MINOR_VERSION = 1;
    public static final int PATCH_LEVEL = 2;

    private final String library;
    private final MethodHandle cublasCreate;
    private final MethodHandle cublasDestroy;
    private final MethodHandle cublasSetStream;
    private final MethodHandle cublasSetMathMode;
    private final MethodHandle cublasGetProperty;
    private final MethodHandle cublasGetStatusName;
    private final MethodHandle cublasGemmEx;
    private final MethodHandle cublasGemmStridedBatchedEx;

    private Cublas(SymbolLookup lib, String library) {
        this.library = library;
        // cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
        cublasCreate = Ffi.required(lib, library, "cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        // cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
        cublasDestroy = Ffi.required(lib, library, "cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        // cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)
        cublasSetStream = Ffi.required(lib, library, "cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        // cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
        cublasSetMathMode = Ffi.required(lib, library, "cublasSetMathMode", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
        cublasGetProperty = Ffi.required(lib, library, "cublasGetProperty", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        // const char *cublasGetStatusName(cublasStatus_t status)  (cuBLAS 11.4+; optional)
        cublasGetStatusName = Ffi.optional(lib, FunctionDescriptor.of(ADDRESS, JAVA_INT), "cublasGetStatusName");
        // cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
        //     int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda,
        //     const void *B, cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
        //     cublasComputeType_t computeType, cublasGemmAlgo_t algo)
        cublasGemmEx = Ffi.required(lib, library, "cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT));
        // cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
        //     cublasOperation_t transb, int m, int n, int k, const void *alpha,
        //     const void *A, cudaDataType Atype, int lda, long long strideA,
        //     const void *B, cudaDataType Btype, int ldb, long long strideB, const void *beta,
        //     void *C, cudaDataType Ctype, int ldc, long long strideC, int batchCount,
        //     cublasComputeType_t computeType, cublasGemmAlgo_t algo)
        cublasGemmStridedBatchedEx = Ffi.required(lib, library, "cublasGemmStridedBatchedEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,
                ADDRESS,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,
                JAVA_INT, JAVA_INT, JAVA_INT));
    }

    /**
     * Loads the first cuBLAS of {@link #LIBRARIES} that exists.
     *
     * @throws IllegalStateException naming what was tried when none loads or one lacks a symbol
     */
    public static Cublas open() {
        for (String name : LIBRARIES) {
            Optional<SymbolLookup> lib = Ffi.library(name);
            if (lib.isPresent()) {
                try {
                    return new Cublas(lib.get(), name);
                } catch (Ffi.MissingSymbolException e) {
                    throw new IllegalStateException(e.getMessage());
                }
            }
        }
        throw new IllegalStateException("cuBLAS not found (tried " + String.join(", ", LIBRARIES)
                + "): install the CUDA toolkit's libcublas or add its folder to LD_LIBRARY_PATH");
    }

    /** The library file that was loaded, e.g. "libcublas.so.13". */
    public String library() {
        return library;
    }

    private static MemorySegment h(long handle) {
        return MemorySegment.ofAddress(handle);
    }

    public int cublasCreate(MemorySegment outHandle) {
        try { return (int) cublasCreate.invokeExact(outHandle); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cublasDestroy(long handle) {
        try { return (int) cublasDestroy.invokeExact(h(handle)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cublasSetStream(long handle, long stream) {
        try { return (int) cublasSetStream.invokeExact(h(handle), h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cublasSetMathMode(long handle, int mode) {
        try { return (int) cublasSetMathMode.invokeExact(h(handle), mode); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cublasGetProperty(int type, MemorySegment outValue) {
        try { return (int) cublasGetProperty.invokeExact(type, outValue); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** The status's name from cuBLAS itself, or null when this cuBLAS lacks cublasGetStatusName. */
    public String statusName(int status) {
        if (cublasGetStatusName == null) return null;
        try {
            MemorySegment p = (MemorySegment) cublasGetStatusName.invokeExact(status);
            if (p.address() == 0) return null;
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw Ffi.rethrow(t);
        }
    }

    /** alpha and beta point at host floats (the default host pointer mode) for 32F compute. */
    public int cublasGemmEx(long handle, int transa, int transb, int m, int n, int k,
                            MemorySegment alpha, long a, int aType, int lda,
                            long b, int bType, int ldb,
                            MemorySegment beta, long c, int cType, int ldc,
                            int computeType, int algo) {
        try {
            return (int) cublasGemmEx.invokeExact(h(handle), transa, transb, m, n, k,
                    alpha, h(a), aType, lda, h(b), bType, ldb, beta, h(c), cType, ldc, computeType, algo);
        } catch (Throwable t) {
            throw Ffi.rethrow(t);
        }
    }

    public int cublasGemmStridedBatchedEx(long handle, int transa, int transb, int m, int n, int k,
                                          MemorySegment alpha, long a, int aType, int lda, long strideA,
                                          long b, int bType, int ldb, long strideB,
                                          MemorySegment beta, long c, int cType, int ldc, long strideC,
                                          int batchCount, int computeType, int algo) {
        try {
            return (int) cublasGemmStridedBatchedEx.invokeExact(h(handle), transa, transb, m, n, k,
                    alpha, h(a), aType, lda, strideA, h(b), bType, ldb, strideB,
                    beta, h(c), cType, ldc, strideC, batchCount, computeType, algo);
        } catch (Throwable t) {
            throw Ffi.rethrow(t);
        }
    }
}
