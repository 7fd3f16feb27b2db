package dev.surpass.bench;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.attention.PagedKvCache;
import dev.surpass.diffusion.DdimStep;
import dev.surpass.diffusion.DpmSolverStep;
import dev.surpass.diffusion.Guidance;
import dev.surpass.diffusion.NoiseSchedule;
import dev.surpass.diffusion.StepOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LinearWeight;
import dev.surpass.layers.LayerNorm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.layers.Softmax;
import dev.surpass.scan.ScanOutput;
import dev.surpass.scan.SelectiveScan;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The ops {@code surpass bench} measures, at a few sizes per device: fp32 on the CPU; bf16 (and an
 * fp32 matmul) on CUDA, with the selective scan and the diffusion steps in fp32 on both (the
 * shapes of issues 4 and 5's targets). Memory-bound ops count the bytes they must read and write;
 * matmul and attention prefill count flops.
 */
public final class BenchSuite {
    private BenchSuite() {}

    /** Base names of every op the default cases time (the values {@code surpass bench --op} takes). */
    public static final List<String> OPS = List.of(
            "add", "scale", "gelu_erf", "silu", "softmax", "layer_norm", "rms_norm", "group_norm", "matmul", "linear", "attention", "attn_decode",
            "selective_scan", "ddim_step", "dpmpp2m_step");

    /** The default cases for {@code device}; {@code quick} keeps one small size per op. */
    public static List<BenchCase> cases(Device device, boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        if (device.isCpu()) {
            // 4M floats = 16 MiB per tensor: past the last-level cache, so GB/s compare with the copy peak
            long[] sizes = quick ? new long[] {1L << 22} : new long[] {1L << 20, 1L << 24};
            int[] cols = quick ? new int[] {1024} : new int[] {1024, 4096};
            int[] mm = quick ? new int[] {256} : new int[] {256, 1024, 2048};
            memoryBound(cases, DType.F32, sizes, cols);
            for (int n : mm) cases.add(matmul(DType.F32, n, n, n));
            if (!quick) { // a sentence's rows, then a short prompt's, through a BERT-base-sized FFN weight, as stored and prepared
                for (int rows : new int[] {15, 96}) {
                    cases.add(linear(DType.F32, rows, 3072, 768, false));
                    cases.add(linear(DType.F32, rows, 3072, 768, true));
                }
            }
            int n = quick ? 512 : 1024;
            cases.add(attentionPrefill(DType.F32, 1, 8, n, 128, false));
            cases.add(attentionPrefill(DType.F32, 1, 8, n, 128, true));
            cases.add(attentionDecode(DType.F32, 4, 32, 8, quick ? 512 : 2048, 128, 16));
            cases.add(selectiveScan(DType.F32, 2, 1536, 16, quick ? 512 : 2048));
            int lb = quick ? 16 : 64; // 16-100 MB of latents: out of the caches, as the GPU case
            cases.add(ddimStep(DType.F32, lb, 4, 128, 128));
            cases.add(dpmpp2mStep(DType.F32, lb, 4, 128, 128));
        } else {
            long[] sizes = quick ? new long[] {1L << 24} : new long[] {1L << 24, 1L << 27};
            int[] cols = quick ? new int[] {4096} : new int[] {1024, 4096};
            int[] mm = quick ? new int[] {4096} : new int[] {1024, 4096, 8192};
            memoryBound(cases, DType.BF16, sizes, cols);
            for (int n : mm) cases.add(matmul(DType.BF16, n, n, n));
            cases.add(matmul(DType.F32, quick ? 2048 : 4096, quick ? 2048 : 4096, quick ? 2048 : 4096));
            if (!quick) cases.add(linear(DType.BF16, 15, 3072, 768, true));
            for (int d : quick ? new int[] {128} : new int[] {64, 128}) {
                cases.add(attentionPrefill(DType.BF16, quick ? 4 : 16, 16, 2048, d, false));
                cases.add(attentionPrefill(DType.BF16, quick ? 4 : 16, 16, 2048, d, true));
            }
            if (!quick) cases.add(attentionPrefill(DType.BF16, 4, 16, 8192, 128, true));
            cases.add(attentionDecode(DType.BF16, quick ? 16 : 64, 32, 8, 4096, 128, 16));
            cases.add(selectiveScan(DType.F32, quick ? 2 : 8, 1536, 16, 2048));
            if (!quick) cases.add(selectiveScan(DType.F32, 8, 1536, 16, 2048, false)); // issue 4's floor: no gate
            if (quick) {
                cases.add(ddimStep(DType.F32, 16, 4, 64, 64));
                cases.add(dpmpp2mStep(DType.F32, 16, 4, 64, 64));
            } else {
                cases.add(ddimStep(DType.F32, 64, 4, 128, 128));
                cases.add(dpmpp2mStep(DType.F32, 64, 4, 128, 128));
            }
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
                // one channels-last image [1, rows, c] in 32 groups (the VAE decoder's norm)
                cases.add(new BenchCase("group_norm", "[1, " + rows + ", " + c + "] / 32", t, bytes + 2L * c * es, 0,
                        d -> rowsOp(d, t, rows, c, 2, (x, p) -> {
                            try (Tensor img = x.reshape(1, rows, c)) {
                                return dev.surpass.layers.GroupNorm.groupNorm(img, 32, p[0], p[1], 1e-6f);
                            }
                        })));
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

    /**
     * {@code y = x·Wᵀ} for a short input ({@code rows} rows: a sentence), the weight {@code [n, k]}
     * used as stored ({@link Gemm#linear}) or prepared once ({@link LinearWeight}: packed on the
     * CPU). The one weight stays in the caches from op to op (a model's many weights would not).
     */
    public static BenchCase linear(DType t, int rows, int n, int k, boolean prepared) {
        long bytes = ((long) rows * k + (long) n * k + (long) rows * n) * t.byteSize();
        String shape = "[" + rows + ", " + k + "]x[" + n + ", " + k + "]T" + (prepared ? " prepared" : "");
        return new BenchCase("linear", shape, t, bytes, 2.0 * rows * n * k, d -> {
            Tensor x = d.upload(t, Fill.uniform(rows * (long) k, 3, 1f), rows, k);
            try {
                Tensor w = d.upload(t, Fill.uniform(n * (long) k, 4, 1f), n, k);
                try {
                    if (!prepared) return workload(() -> Gemm.linear(x, w, null), x, w);
                    LinearWeight lw = LinearWeight.of(w);
                    return workload(() -> lw.linear(x, null), x, w);
                } catch (RuntimeException e) {
                    w.close();
                    throw e;
                }
            } catch (RuntimeException e) {
                x.close();
                throw e;
            }
        });
    }

    /**
     * Fused attention prefill, q/k/v {@code [B, N, H, D]}: {@code 4·B·H·N²·D} flops, halved when
     * causal (the FlashAttention convention); bytes are q, k, v and o once.
     */
    public static BenchCase attentionPrefill(DType t, int b, int h, int n, int d, boolean causal) {
        long elems = (long) b * n * h * d;
        double flops = 4.0 * b * h * n * (double) n * d * (causal ? 0.5 : 1.0);
        String shape = "B" + b + " H" + h + " N" + n + " D" + d + (causal ? " causal" : "");
        AttentionOptions o = causal ? AttentionOptions.causal() : AttentionOptions.defaults();
        return new BenchCase("attention", shape, t, 4 * elems * t.byteSize(), flops, dev -> {
            List<Tensor> owned = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) owned.add(dev.upload(t, Fill.uniform(elems, 20 + i, i == 2 ? 1f : 2f), b, n, h, d));
                Tensor q = owned.get(0), k = owned.get(1), v = owned.get(2);
                return workload(() -> Attention.prefill(q, k, v, o), owned.toArray(new Tensor[0]));
            } catch (RuntimeException e) {
                owned.forEach(Tensor::close);
                throw e;
            }
        });
    }

    /**
     * One decode step of {@code b} sequences of {@code len} cached tokens against a paged KV cache
     * ({@code hkv} kv-heads, pages of {@code pageSize}, shuffled so that pages are not contiguous).
     * Judged in GB/s of KV read: {@code bytes = 2·B·len·Hkv·D·size} (the query and output are
     * negligible), against the device's measured memory peak.
     */
    public static BenchCase attentionDecode(DType t, int b, int hq, int hkv, int len, int d, int pageSize) {
        long kvBytes = 2L * b * len * hkv * d * t.byteSize();
        String shape = "B" + b + " Hq" + hq + " Hkv" + hkv + " L" + len + " D" + d + " page" + pageSize;
        return new BenchCase("attn_decode", shape, t, kvBytes, 0, dev -> {
            int pages = b * ((len + pageSize - 1) / pageSize);
            PagedKvCache cache = PagedKvCache.create(dev, t, pages, pageSize, hkv, d);
            List<Tensor> owned = new ArrayList<>();
            try {
                cache.shuffleFreePages(7);
                int[] ids = new int[b];
                long rows = (long) len * hkv * d;
                for (int s = 0; s < b; s++) {
                    ids[s] = cache.newSequence();
                    try (Tensor k = dev.upload(t, Fill.uniform(rows, 30 + 2L * s, 2f), len, hkv, d);
                         Tensor v = dev.upload(t, Fill.uniform(rows, 31 + 2L * s, 1f), len, hkv, d)) {
                        cache.appendPrompt(ids[s], k, v);
                    }
                }
                Tensor q = dev.upload(t, Fill.uniform((long) b * hq * d, 29, 2f), b, hq, d);
                owned.add(q);
                AttentionOptions o = AttentionOptions.defaults();
                return new Workload() {
                    @Override
                    public Tensor run() {
                        return Attention.decode(q, cache, ids, o);
                    }

                    @Override
                    public void close() {
                        owned.forEach(Tensor::close);
                        cache.close();
                    }
                };
            } catch (RuntimeException e) {
                owned.forEach(Tensor::close);
                cache.close();
                throw e;
            }
        });
    }

    /**
     * The selective scan as the Mamba block calls it: {@code u, delta, z [Bt, Dm, L]}, {@code A [Dm, N]},
     * {@code B, C [Bt, N, L]}, D and the delta bias {@code [Dm]}, softplus on, no initial state.
     * Judged in GB/s against the bytes it must move once: u, delta, z read and y written
     * ({@code [Bt, Dm, L]} each), B and C read, A, D and the bias read, the last state
     * {@code [Bt, Dm, N]} F32 written.
     */
    public static BenchCase selectiveScan(DType t, int bt, int dm, int n, int len) {
        return selectiveScan(t, bt, dm, n, len, true);
    }

    /** {@link #selectiveScan(DType, int, int, int, int)}, without the gate z when {@code gate} is false ("no-z"). */
    public static BenchCase selectiveScan(DType t, int bt, int dm, int n, int len, boolean gate) {
        long x = (long) bt * dm * len, bc = (long) bt * n * len;
        int es = t.byteSize(), f4 = DType.F32.byteSize();
        long bytes = (gate ? 4 : 3) * x * es + 2 * bc * es + (long) dm * n * f4 + 2L * dm * f4 + (long) bt * dm * n * f4;
        String shape = "Bt" + bt + " Dm" + dm + " N" + n + " L" + len + (gate ? "" : " no-z");
        return new BenchCase("selective_scan", shape, t, bytes, 0, dev -> {
            List<Tensor> owned = new ArrayList<>();
            try {
                Tensor u = own(owned, dev.upload(t, Fill.uniform(x, 40, 1f), bt, dm, len));
                Tensor delta = own(owned, dev.upload(t, Fill.uniform(x, 41, 1f), bt, dm, len));
                Tensor z = gate ? own(owned, dev.upload(t, Fill.uniform(x, 42, 2f), bt, dm, len)) : null;
                float[] a = Fill.uniform((long) dm * n, 43, 0.5f);
                for (int i = 0; i < a.length; i++) a[i] = -(1f + a[i]); // A = −exp(A_log) < 0: a decaying state
                Tensor A = own(owned, dev.upload(DType.F32, a, dm, n));
                Tensor B = own(owned, dev.upload(t, Fill.uniform(bc, 44, 1f), bt, n, len));
                Tensor C = own(owned, dev.upload(t, Fill.uniform(bc, 45, 1f), bt, n, len));
                Tensor D = own(owned, dev.upload(DType.F32, Fill.uniform(dm, 46, 1f), dm));
                Tensor bias = own(owned, dev.upload(DType.F32, Fill.uniform(dm, 47, 0.5f), dm));
                return workload(() -> {
                    ScanOutput o = SelectiveScan.selectiveScan(u, delta, A, B, C, D, z, bias, true, null);
                    o.lastState().close();
                    return o.y();
                }, owned.toArray(new Tensor[0]));
            } catch (RuntimeException e) {
                owned.forEach(Tensor::close);
                throw e;
            }
        });
    }

    /**
     * One fused DDIM step (η = 0, ε-prediction) with classifier-free guidance in diffusers' order
     * (every channel guided, scale 7.5) on latents {@code [b, c, h, w]}: it reads x and the model
     * output's two halves ({@code [2b, c, h, w]}) and writes x_prev, so {@code bytes = 4·b·c·h·w·size}.
     */
    public static BenchCase ddimStep(DType t, int b, int c, int h, int w) {
        long n = (long) b * c * h * w;
        DdimStep st = new DdimStep(NoiseSchedule.scaledLinear(1000, 0.00085, 0.012), 0);
        StepOptions o = StepOptions.defaults().withGuidance(Guidance.diffusers(7.5));
        return new BenchCase("ddim_step", latentShape(b, c, h, w), t, 4 * n * t.byteSize(), 0,
                dev -> guided(dev, t, b, c, h, w, 0, (x, m, p) -> st.step(x, m, 501, 481, o)));
    }

    /**
     * One second-order DPM-Solver++(2M) step with classifier-free guidance (as {@link #ddimStep}):
     * it reads x, both model-output halves and the previous x0, and writes x_next and this step's
     * x0, so {@code bytes = 6·b·c·h·w·size}.
     */
    public static BenchCase dpmpp2mStep(DType t, int b, int c, int h, int w) {
        long n = (long) b * c * h * w;
        NoiseSchedule sch = NoiseSchedule.scaledLinear(1000, 0.00085, 0.012);
        DpmSolverStep st = new DpmSolverStep(sch.sigmasAt(sch.timesteps(20, NoiseSchedule.Spacing.LINSPACE, 0)));
        StepOptions o = StepOptions.defaults().withGuidance(Guidance.diffusers(7.5));
        return new BenchCase("dpmpp2m_step", latentShape(b, c, h, w), t, 6 * n * t.byteSize(), 0,
                dev -> guided(dev, t, b, c, h, w, 1, (x, m, p) -> st.step(x, m, p, 1, o)));
    }

    private static String latentShape(int b, int c, int h, int w) {
        return "[" + b + ", " + c + ", " + h + ", " + w + "] cfg";
    }

    private interface StepCall {
        Tensor apply(Tensor x, Tensor modelOut, Tensor prevX0);
    }

    /** Latents x {@code [b, c, h, w]}, a guided model output {@code [2b, c, h, w]} and, if asked, a prevX0. */
    private static Workload guided(Device dev, DType t, int b, int c, int h, int w, int extra, StepCall call) {
        long n = (long) b * c * h * w;
        List<Tensor> owned = new ArrayList<>();
        try {
            Tensor x = own(owned, dev.upload(t, Fill.uniform(n, 50, 2f), b, c, h, w));
            Tensor m = own(owned, dev.upload(t, Fill.uniform(2 * n, 51, 1f), 2L * b, c, h, w));
            Tensor p = extra > 0 ? own(owned, dev.upload(t, Fill.uniform(n, 52, 1f), b, c, h, w)) : null;
            return workload(() -> call.apply(x, m, p), owned.toArray(new Tensor[0]));
        } catch (RuntimeException e) {
            owned.forEach(Tensor::close);
            throw e;
        }
    }

    private static Tensor own(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
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
