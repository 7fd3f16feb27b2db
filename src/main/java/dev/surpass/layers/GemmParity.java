package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Parity cases for {@link Gemm#matmul} and {@link Gemm#linear} against {@link ReferenceGemm}
 * (float64), at awkward shapes and in F32, F16 and BF16. Inputs are uniform in [-1, 1) (weights
 * scaled by 1/sqrt(K), as a real layer's are) and rounded to the dtype first, so the only error
 * measured is the op's own: fp32 accumulation, plus the final rounding for 16-bit outputs.
 */
public final class GemmParity {
    private GemmParity() {}

    /** One matmul or linear shape in one dtype. */
    record GemmCase(String op, DType dtype, int batch, int m, int n, int k, boolean bBatched, boolean bias)
            implements ParityCase {

        @Override
        public String shape() {
            if (op.equals("linear")) {
                String x = batch == 1 ? "[" + m + ", " + k + "]" : "[" + batch + ", " + m + ", " + k + "]";
                return x + "x[" + n + ", " + k + "]" + (bias ? "+bias[" + n + "]" : "");
            }
            String a = batch == 1 ? "[" + m + ", " + k + "]" : "[" + batch + ", " + m + ", " + k + "]";
            String b = bBatched ? "[" + batch + ", " + k + ", " + n + "]" : "[" + k + ", " + n + "]";
            return a + "x" + b;
        }

        @Override
        public ParityResult run(Device device, long seed) {
            boolean linear = op.equals("linear");
            int bCopies = bBatched ? batch : 1;
            float bScale = (float) (1.0 / Math.sqrt(Math.max(1, k)));
            float[] a = ParityMath.random(seed, batch * m * k, 1f, dtype);
            float[] b = ParityMath.random(seed + 1, bCopies * k * n, bScale, dtype);
            float[] bi = bias ? ParityMath.random(seed + 2, n, 1f, dtype) : null;
            long[] aShape = batch == 1 ? new long[] {m, k} : new long[] {batch, m, k};
            long[] bShape = linear ? new long[] {n, k} : bBatched ? new long[] {batch, k, n} : new long[] {k, n};
            double[] ref = ReferenceGemm.gemm(a, b, bi, batch, m, n, k, linear, bBatched);
            try (Tensor ta = device.upload(dtype, a, aShape);
                 Tensor tb = device.upload(dtype, b, bShape);
                 Tensor tbias = bi == null ? null : device.upload(dtype, bi, n);
                 Tensor out = linear ? Gemm.linear(ta, tb, tbias) : Gemm.matmul(ta, tb)) {
                long[] want = aShape.clone();
                want[want.length - 1] = n;
                if (!Arrays.equals(out.shape(), want) || out.dtype() != dtype) {
                    throw new IllegalStateException(op + " " + shape() + ": output is " + out.describe()
                            + ", expected " + dtype + Arrays.toString(want));
                }
                return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(dtype));
            }
        }
    }

    public static List<ParityCase> cases() {
        List<ParityCase> all = new ArrayList<>();
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (int[] s : new int[][] {{1, 1, 1}, {3, 5, 7}, {13, 65, 63}, {64, 64, 64}, {65, 127, 129}}) {
                all.add(new GemmCase("matmul", t, 1, s[0], s[1], s[2], false, false));
            }
            all.add(new GemmCase("matmul", t, 3, 17, 19, 33, false, false)); // [3,17,33] x [33,19]
            all.add(new GemmCase("matmul", t, 3, 17, 19, 33, true, false));  // [3,17,33] x [3,33,19]
            all.add(new GemmCase("linear", t, 1, 13, 65, 63, false, true));
            all.add(new GemmCase("linear", t, 1, 13, 65, 63, false, false));
            all.add(new GemmCase("linear", t, 2, 5, 33, 1000, false, true)); // x [2,5,1000]
            all.add(new GemmCase("linear", t, 1, 65, 127, 129, false, true));
        }
        return all;
    }
}
