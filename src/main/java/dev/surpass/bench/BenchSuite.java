package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.layers.Softmax;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The ops {@code surpass bench} measures, at a few sizes per device: fp32 on the CPU; bf16 (and an
 * fp32 matmul) on CUDA. Memory-bound ops count the bytes they must read and write; matmul counts
 * {@code 2·M·N·K} flops.
 */
public final class BenchSuite {
    private BenchSuite() {}

    /** The default cases for {@code device}; {@code quick} keeps one small size per op. */
    public static List<BenchCase> cases(Device device, boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        if (device.isCpu()) {
            long[] sizes = quick ? new long[] {1L << 20} : new long[] {1L << 20, 1L << 24};
            int[] cols = quick ? new int[] {1024} : new int[] {1024, 4096};
            int[] mm = quick ? new int[] {256} : new int[] {256, 1024, 2048};
            memoryBound(cases, DType.F32, sizes, cols);
            for (int n : mm) cases.add(matmul(DType.F32, n, n, n));
        } else {
            long[] sizes = quick ? new long[] {1L << 24} : new long[] {1L << 24, 1L << 27};
            int[] cols = quick ? new int[] {4096} : new int[] {1024, 4096};
            int[] mm = quick ? new int[] {4096} : new int[] {1024, 4096, 8192};
            memoryBound(cases, DType.BF16, sizes, cols);
            for (int n : mm) cases.add(matmul(DType.BF16, n, n, n));
            cases.add(matmul(DType.F32, quick ? 2048 : 4096, quick ? 2048 : 4096, quick ? 2048 : 4096));
        }
        return cases;
    }

    private static void memoryBound(List<BenchCase> cases, DType t, long[] sizes, int[] cols) {
        int es = t.byteSize();
        for (long n : sizes) {
            String s = "[" + n + "]";
            cases.add(new BenchCase("add", s, t, 3 * n * es, 0, d -> binary(d, t, n, Elementwise::add)));
            cases.add(new BenchCase("scale", s, t, 2 * n * es, 0, d -> unary(d, t, n, x -> Elementwise.scale(x, 0.5f))));
            cases.add(new BenchCase("gelu_erf", s, t, 2 * n * es, 0, d -> unary(d, t, n, x -> Activation.gelu(x, Activation.Gelu.ERF))));
            cases.add(new BenchCase("silu", s, t, 2 * n * es, 0, d -> unary(d, t, n, Activation::silu)));
        }
        for (long n : sizes) {
            for (int c : cols) {
                long rows = n / c;
                if (rows < 1) continue;
                String s = "[" + rows + ", " + c + "]";
                long bytes = 2 * rows * c * es;
                cases.add(new BenchCase("softmax", s, t, bytes, 0, d -> rowsOp(d, t, rows, c, 0, (x, p) -> Softmax.softmax(x))));
                cases.add(new BenchCase("layer_norm", s, t, bytes + 2L * c * es, 0,
                        d -> rowsOp(d, t, rows, c, 2, (x, p) -> LayerNorm.layerNorm(x, p[0], p[1], 1e-5f))));
                cases.add(new BenchCase("rms_norm", s, t, bytes + (long) c * es, 0,
                        d -> rowsOp(d, t, rows, c, 1, (x, p) -> RmsNorm.rmsNorm(x, p[0], 1e-6f))));
            }
        }
    }

    /** A {@code [m,k]·[k,n]} product. */
    public static BenchCase matmul(DType t, int m, int n, int k) {
        long bytes = ((long) m * k + (long) k * n + (long) m * n) * t.byteSize();
        return new BenchCase("matmul", "[" + m + ", " + k + "]x[" + k + ", " + n + "]", t, bytes, 2.0 * m * n * k, d -> {
            Tensor a = d.upload(t, Fill.uniform(m * (long) k, 1, 1f), m, k);
            Tensor b;
            try {
                b = d.upload(t, Fill.uniform(k * (long) n, 2, 1f), k, n);
            } catch (RuntimeException e) {
                a.close();
                throw e;
            }
            return workload(() -> Gemm.matmul(a, b), a, b);
        });
    }

    private static Workload unary(Device d, DType t, long n, Function<Tensor, Tensor> op) {
        Tensor x = d.upload(t, Fill.uniform(n, 3, 2f), n);
        return workload(() -> op.apply(x), x);
    }

    private static Workload binary(Device d, DType t, long n, java.util.function.BinaryOperator<Tensor> op) {
        Tensor a = d.upload(t, Fill.uniform(n, 4, 2f), n);
        Tensor b;
        try {
            b = d.upload(t, Fill.uniform(n, 5, 2f), n);
        } catch (RuntimeException e) {
            a.close();
            throw e;
        }
        return workload(() -> op.apply(a, b), a, b);
    }

    private interface RowsOp {
        Tensor apply(Tensor x, Tensor[] params);
    }

    private static Workload rowsOp(Device d, DType t, long rows, int cols, int nParams, RowsOp op) {
        List<Tensor> owned = new ArrayList<>();
        try {
            Tensor x = d.upload(t, Fill.uniform(rows * cols, 6, 3f), rows, cols);
            owned.add(x);
            Tensor[] p = new Tensor[nParams];
            for (int i = 0; i < nParams; i++) {
                p[i] = d.upload(t, Fill.uniform(cols, 7 + i, 1f), cols);
                owned.add(p[i]);
            }
            return workload(() -> op.apply(x, p), owned.toArray(new Tensor[0]));
        } catch (RuntimeException e) {
            owned.forEach(Tensor::close);
            throw e;
        }
    }

    private static Workload workload(java.util.function.Supplier<Tensor> call, Tensor... inputs) {
        return new Workload() {
            @Override
            public Tensor run() {
                return call.get();
            }

            @Override
            public void close() {
                for (Tensor t : inputs) t.close();
            }
        };
    }

    /** Cheap deterministic inputs (never all zeros): a xorshift stream mapped to [-scale, scale). */
    static final class Fill {
        private Fill() {}

        static float[] uniform(long n, long seed, float scale) {
            if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("bench input of " + n + " elements is too large");
            float[] x = new float[(int) n];
            long s = 0x9E3779B97F4A7C15L * (seed + 1);
            for (int i = 0; i < x.length; i++) {
                s ^= s << 13;
                s ^= s >>> 7;
                s ^= s << 17;
                float u = ((s >>> 40) * 0x1.0p-24f) * 2f - 1f;
                x[i] = u == 0f ? scale * 0.5f : u * scale;
            }
            return x;
        }
    }
}
