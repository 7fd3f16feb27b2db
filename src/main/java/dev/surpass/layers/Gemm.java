package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;

/**
 * Matrix products with fp32 accumulation: a blocked Vector API SGEMM on the CPU
 * ({@link VectorGemm}), cuBLAS on CUDA ({@link CudaGemm}). The float64 oracle is
 * {@link ReferenceGemm}.
 *
 * <p>Dtypes: F32, F16 and BF16 operands (all of one dtype). 16-bit operands are widened to fp32
 * (exactly) before the products, sums are fp32, and the result is rounded once to the operands'
 * dtype. On CUDA, fp32 operands use TF32 tensor cores only with {@code -Dsurpass.gemm.tf32=true}
 * (default false: full fp32).
 *
 * <p>The output is a new tensor on the operands' device; the caller owns it.
 */
public final class Gemm {
    private Gemm() {}

    /** True when {@code -Dsurpass.gemm.tf32=true}: fp32 GEMMs on CUDA may use TF32 tensor cores. */
    public static boolean allowTf32() {
        return Boolean.getBoolean("surpass.gemm.tf32");
    }

    /**
     * {@code a [..., M, K] · b [K, N]} (b shared by every batch) or {@code b [..., K, N]} with the
     * same leading dims as {@code a} → {@code [..., M, N]}.
     *
     * @throws IllegalArgumentException naming the argument and dim when the operands do not fit
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        checkOperand("matmul", "a", a);
        checkOperand("matmul", "b", b);
        checkPair("matmul", "a", a, "b", b);
        if (a.rank() < 2) throw new IllegalArgumentException("matmul: a " + a.describe() + " has rank " + a.rank() + "; expected [..., M, K] (rank >= 2)");
        if (b.rank() < 2) throw new IllegalArgumentException("matmul: b " + b.describe() + " has rank " + b.rank() + "; expected [K, N] or [..., K, N] (rank >= 2)");
        long[] as = a.shape(), bs = b.shape();
        long m = as[as.length - 2], k = as[as.length - 1];
        long kb = bs[bs.length - 2], n = bs[bs.length - 1];
        if (k != kb) {
            throw new IllegalArgumentException("matmul: inner dims differ: a " + a.describe() + " has K=" + k
                    + " (dim -1) but b " + b.describe() + " has K=" + kb + " (dim -2)");
        }
        boolean bBatched = b.rank() > 2;
        if (bBatched) {
            if (b.rank() != a.rank()) {
                throw new IllegalArgumentException("matmul: b " + b.describe() + " has rank " + b.rank() + " but a " + a.describe()
                        + " has rank " + a.rank() + "; b must be [K, N] or have a's leading dims");
            }
            for (int i = 0; i < as.length - 2; i++) {
                if (as[i] != bs[i]) {
                    throw new IllegalArgumentException("matmul: batch dim " + i + " differs: a " + a.describe() + " has " + as[i]
                            + " but b " + b.describe() + " has " + bs[i]);
                }
            }
        }
        long batch = Shapes.product(as, 0, as.length - 2);
        checkInt("matmul", "M (a dim -2)", m);
        checkInt("matmul", "K (a dim -1)", k);
        checkInt("matmul", "N (b dim -1)", n);
        long[] outShape = as.clone();
        outShape[outShape.length - 1] = n;
        return run(a, b, null, outShape, batch, (int) m, (int) n, (int) k, false, bBatched);
    }

    /**
     * {@code y = x · Wᵀ + b}: {@code x [..., K]}, {@code weight [N, K]}, {@code bias [N]} or null
     * → {@code [..., N]}. The weight is read in its stored [N, K] layout (never transposed in memory).
     * An F32 x (and bias) may take a BF16 or F16 weight: the product of x with the weight widened
     * to fp32 (exactly), summed in fp32. On the CPU a decode step or a short prompt (up to 16 rows
     * of x) reads the 16-bit weight as it lies, half the bytes of an fp32 weight; more rows, and
     * CUDA, widen the weight per call.
     *
     * @throws IllegalArgumentException naming the argument and dim when the operands do not fit
     */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        long[] outShape = checkLinear(x, weight, bias);
        int rows = (int) Shapes.product(outShape, 0, outShape.length - 1);
        int n = (int) weight.dim(0), k = (int) x.dim(-1);
        if (weight.dtype() != x.dtype()) { // F32 x, 16-bit weight (checkLinear)
            Device dev = x.device();
            if (!dev.isCpu()) {
                try (Tensor wide = weight.to(DType.F32)) {
                    return run(x, wide, bias, outShape, 1, rows, n, k, true, false);
                }
            }
            Tensor out = dev.allocate(DType.F32, outShape);
            try {
                if (VectorGemmHalf.linear(x, weight, bias, out, rows, n, k, Parallel.threads())) return out;
            } catch (RuntimeException | Error e) {
                out.close();
                throw e;
            }
            out.close();
            try (Tensor wide = dev.allocate(DType.F32, n, k)) { // a prompt: the weight widened once for all its rows
                VectorGemmHalf.widen(weight, wide);
                return run(x, wide, bias, outShape, 1, rows, n, k, true, false);
            }
        }
        return run(x, weight, bias, outShape, 1, rows, n, k, true, false);
    }

    /** {@link LinearWeight#linear}: the checks of {@code linear}, then the packed CPU product or {@code linear} itself. */
    static Tensor linearPrepared(Tensor x, LinearWeight weight, Tensor bias) {
        Tensor w = weight.weight();
        long[] outShape = checkLinear(x, w, bias);
        int k = weight.k(), n = weight.n(), rows = (int) Shapes.product(outShape, 0, outShape.length - 1);
        if (!weight.isPacked() || x.dtype() != DType.F32 || !VectorGemm.packedFits(rows, k)) {
            return linear(x, w, bias); // (x too large to pack whole: the blocked path packs it in pieces)
        }
        Tensor out = x.device().allocate(DType.F32, outShape);
        try {
            VectorGemm.linearPacked(x, weight.packed(), n, k, bias, out, rows, Parallel.threads());
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** The checks of {@code linear}; returns the output shape {@code [..., N]}. */
    private static long[] checkLinear(Tensor x, Tensor weight, Tensor bias) {
        checkOperand("linear", "x", x);
        checkOperand("linear", "weight", weight);
        if (x.dtype() == DType.F32 && (weight.dtype() == DType.F16 || weight.dtype() == DType.BF16)) {
            checkDevices("linear", "x", x, "weight", weight); // an F32 product with a 16-bit weight
        } else {
            checkPair("linear", "x", x, "weight", weight);
        }
        if (bias != null) {
            checkOperand("linear", "bias", bias);
            checkPair("linear", "x", x, "bias", bias);
        }
        if (x.rank() < 1) throw new IllegalArgumentException("linear: x " + x.describe() + " has rank 0; expected [..., K]");
        if (weight.rank() != 2) {
            throw new IllegalArgumentException("linear: weight " + weight.describe() + " has rank " + weight.rank() + "; expected [N, K]");
        }
        long k = x.dim(-1), n = weight.dim(0), kw = weight.dim(1);
        if (k != kw) {
            throw new IllegalArgumentException("linear: inner dims differ: x " + x.describe() + " has K=" + k
                    + " (dim -1) but weight " + weight.describe() + " has K=" + kw + " (dim 1)");
        }
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != n)) {
            throw new IllegalArgumentException("linear: bias " + bias.describe() + " must be [N] = [" + n + "] to match weight "
                    + weight.describe());
        }
        long[] xs = x.shape();
        long rows = Shapes.product(xs, 0, xs.length - 1);
        checkInt("linear", "rows of x (product of its leading dims)", rows);
        checkInt("linear", "K (x dim -1)", k);
        checkInt("linear", "N (weight dim 0)", n);
        long[] outShape = xs.clone();
        outShape[outShape.length - 1] = n;
        return outShape;
    }

    private static Tensor run(Tensor a, Tensor b, Tensor bias, long[] outShape, long batch, int m, int n, int k,
                              boolean bTransposed, boolean bBatched) {
        Device dev = a.device();
        Tensor out = dev.allocate(a.dtype(), outShape);
        try {
            if (out.numel() > 0) {
                if (dev.isCpu()) {
                    VectorGemm.gemm(a, b, bias, out, batch, m, n, k, bTransposed, bBatched);
                } else if (dev.isCuda()) {
                    CudaGemm.gemm(a, b, bias, out, batch, m, n, k, bTransposed, bBatched, allowTf32());
                } else {
                    throw new IllegalArgumentException("gemm: no implementation for device " + dev.name());
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    private static void checkOperand(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (t.isClosed()) throw new IllegalArgumentException(op + ": " + name + " " + t.describe() + " is closed");
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(op + ": " + name + " " + t.describe() + " has dtype " + t.dtype() + "; expected F32, F16 or BF16");
        }
    }

    private static void checkPair(String op, String n1, Tensor t1, String n2, Tensor t2) {
        if (t1.dtype() != t2.dtype()) {
            throw new IllegalArgumentException(op + ": dtypes differ: " + n1 + " " + t1.describe() + " is " + t1.dtype()
                    + " but " + n2 + " " + t2.describe() + " is " + t2.dtype() + "; convert one with to(DType)");
        }
        checkDevices(op, n1, t1, n2, t2);
    }

    private static void checkDevices(String op, String n1, Tensor t1, String n2, Tensor t2) {
        if (!t1.device().sameAs(t2.device())) {
            throw new IllegalArgumentException(op + ": devices differ: " + n1 + " " + t1.describe() + " but " + n2 + " " + t2.describe()
                    + "; move one with to(Device)");
        }
    }

    private static void checkInt(String op, String what, long v) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": " + what + " = " + v + " exceeds " + Integer.MAX_VALUE);
    }
}
