package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.surpass.DType;
import dev.surpass.cuda.ffi.Cublas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Row-major GEMMs through cuBLAS ({@code cublasGemmEx}, {@code cublasGemmStridedBatchedEx}) with
 * fp32 accumulation, on the calling thread's stream.
 *
 * <p>cuBLAS is column-major. A row-major {@code C[m,n] = A[m,k]·B} is computed as the
 * column-major {@code Cᵀ[n,m] = Bᵀ·Aᵀ}: a row-major matrix read column-major is its transpose, so
 * cuBLAS gets (m', n', k') = (n, m, k), its "A" is our B, its "B" is our A, and no data moves.
 *
 * <p>Types: A and B share one dtype (F32, F16 or BF16); C is that dtype or F32. fp32 uses
 * {@code CUBLAS_COMPUTE_32F} (or {@code CUBLAS_COMPUTE_32F_FAST_TF32} when TF32 is allowed);
 * 16-bit inputs use {@code CUBLAS_COMPUTE_32F} with reduced-precision split-K reductions
 * disallowed, so all accumulation is fp32.
 *
 * <p>Thread rules: thread-safe; each thread uses its own cuBLAS handle.
 */
public final class CudaBlas {
    /** cuBLAS batched calls are issued in chunks of at most this many matrices. */
    static final int MAX_BATCH_PER_CALL = 65535;

    private CudaBlas() {}

    /** The cudaDataType_t of a floating dtype. */
    static int dataType(DType t) {
        return switch (t) {
            case F32 -> Cublas.CUDA_R_32F;
            case F16 -> Cublas.CUDA_R_16F;
            case BF16 -> Cublas.CUDA_R_16BF;
            default -> throw new IllegalArgumentException("cuBLAS GEMM takes F32, F16 or BF16, got " + t);
        };
    }

    /**
     * {@code C[p] = alpha · A[p]·op(B[p]) + beta · C[p]} for p in [0, batch), row-major, where
     * {@code A[p]} is {@code [m,k]}, {@code B[p]} is {@code [k,n]} or, when {@code bTransposed},
     * {@code [n,k]} (so op(B) = Bᵀ), and {@code C[p]} is {@code [m,n]}. Pointers are device
     * addresses; strides are in elements between consecutive matrices (0 = shared by all p).
     *
     * @throws IllegalArgumentException for negative sizes, unsupported dtypes or mismatched A/B types
     * @throws IllegalStateException when cuBLAS is not installed
     * @throws CudaException when cuBLAS reports a failure
     */
    public static void gemm(CudaBackend be, DType abType, DType cType, long batch, int m, int n, int k,
                            long a, long strideA, long b, long strideB, boolean bTransposed,
                            long c, long strideC, float alpha, float beta, boolean allowTf32) {
        if (be == null) throw new IllegalArgumentException("backend is null");
        if (abType == null || cType == null) throw new IllegalArgumentException("dtype is null");
        if (batch < 0) throw new IllegalArgumentException("batch must be >= 0, got " + batch);
        if (m < 0) throw new IllegalArgumentException("m must be >= 0, got " + m);
        if (n < 0) throw new IllegalArgumentException("n must be >= 0, got " + n);
        if (k < 0) throw new IllegalArgumentException("k must be >= 0, got " + k);
        if (strideA < 0 || strideB < 0 || strideC < 0) throw new IllegalArgumentException("strides must be >= 0");
        int abT = dataType(abType);
        int cT = dataType(cType);
        if (cType != abType && cType != DType.F32) {
            throw new IllegalArgumentException("GEMM output must be " + abType + " or F32 for " + abType + " inputs, got " + cType);
        }
        if (batch == 0 || m == 0 || n == 0) return;
        if (k == 0) throw new IllegalArgumentException("k must be >= 1 (a k = 0 product is a fill, not a GEMM)");

        Cublas blas = CudaRuntime.cublas();
        be.gpu().ensureCurrent();
        long handle = be.gpu().cublasHandle(blas);
        boolean tf32 = abType == DType.F32 && allowTf32;
        int math = tf32 ? Cublas.CUBLAS_TF32_TENSOR_OP_MATH : Cublas.CUBLAS_DEFAULT_MATH;
        if (cType != DType.F32) math |= Cublas.CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
        CudaRuntime.checkBlas(blas, "cublasSetMathMode", blas.cublasSetMathMode(handle, math), null);
        int compute = tf32 ? Cublas.CUBLAS_COMPUTE_32F_FAST_TF32 : Cublas.CUBLAS_COMPUTE_32F;

        // Column-major view: C'[n,m] = op(B')[n,k] · A'[k,m] with B' = our B, A' = our A.
        int transa = bTransposed ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N;
        int lda = Math.max(1, bTransposed ? k : n); // B stored [n,k] (ld k) or [k,n] (ld n), row-major
        int ldb = Math.max(1, k);                   // A stored [m,k], row-major: column-major k x m, ld k
        int ldc = Math.max(1, n);                   // C stored [m,n], row-major: column-major n x m, ld n
        long abSize = abType.byteSize();
        long cSize = cType.byteSize();
        String what = "row-major " + abType + "->" + cType + " gemm batch " + batch + " m " + m + " n " + n + " k " + k
                + (bTransposed ? " (B transposed)" : "");
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment al = ar.allocate(JAVA_FLOAT);
            MemorySegment bt = ar.allocate(JAVA_FLOAT);
            al.set(JAVA_FLOAT, 0, alpha);
            bt.set(JAVA_FLOAT, 0, beta);
            if (batch == 1) {
                int st = blas.cublasGemmEx(handle, transa, Cublas.CUBLAS_OP_N, n, m, k,
                        al, b, abT, lda, a, abT, ldb, bt, c, cT, ldc, compute, Cublas.CUBLAS_GEMM_DEFAULT);
                CudaRuntime.checkBlas(blas, "cublasGemmEx", st, what);
                return;
            }
            for (long p0 = 0; p0 < batch; p0 += MAX_BATCH_PER_CALL) {
                int count = (int) Math.min(MAX_BATCH_PER_CALL, batch - p0);
                int st = blas.cublasGemmStridedBatchedEx(handle, transa, Cublas.CUBLAS_OP_N, n, m, k,
                        al, b + p0 * strideB * abSize, abT, lda, strideB,
                        a + p0 * strideA * abSize, abT, ldb, strideA,
                        bt, c + p0 * strideC * cSize, cT, ldc, strideC,
                        count, compute, Cublas.CUBLAS_GEMM_DEFAULT);
                CudaRuntime.checkBlas(blas, "cublasGemmStridedBatchedEx", st, what + " (matrices " + p0 + ".." + (p0 + count) + ")");
            }
        }
    }

    /**
     * Writes {@code bias[n]} into every row of the row-major {@code C[rows, n]} exactly (as a
     * rank-1 GEMM {@code ones[rows,1]·bias[1,n]} with beta 0), so that a following GEMM with
     * beta 1 adds the product to it and rounds once. {@code biasType} is {@code cType}, or a
     * 16-bit type when {@code cType} is F32.
     */
    public static void broadcastRows(CudaBackend be, DType biasType, long bias, DType cType, long c, long rows, int n) {
        if (be == null) throw new IllegalArgumentException("backend is null");
        if (rows < 0) throw new IllegalArgumentException("rows must be >= 0, got " + rows);
        if (n < 0) throw new IllegalArgumentException("n must be >= 0, got " + n);
        if (biasType != cType && cType != DType.F32) {
            throw new IllegalArgumentException("bias dtype " + biasType + " does not fit output dtype " + cType);
        }
        if (rows == 0 || n == 0) return;
        long chunk = Math.min(rows, 1L << 20);
        CudaStorage ones = (CudaStorage) be.allocate(chunk * biasType.byteSize());
        try {
            switch (biasType) {
                case F32 -> be.fill32(ones.devicePointer(), Float.floatToRawIntBits(1f), chunk);
                case F16 -> be.fill16(ones.devicePointer(), DType.floatToF16(1f), chunk);
                case BF16 -> be.fill16(ones.devicePointer(), DType.floatToBf16(1f), chunk);
                default -> throw new IllegalArgumentException("bias dtype must be floating, got " + biasType);
            }
            // Row-major C[r, n] = ones[r,1] · bias[1,n]: here A = ones [r,1] (k = 1), B = bias [1,n].
            for (long r0 = 0; r0 < rows; r0 += chunk) {
                int r = (int) Math.min(chunk, rows - r0);
                gemm(be, biasType, cType, 1, r, n, 1, ones.devicePointer(), 0, bias, 0, false,
                        c + r0 * n * cType.byteSize(), 0, 1f, 0f, false);
            }
        } finally {
            ones.free(); // stream-ordered after the GEMMs (see CudaStorage)
        }
    }
}
