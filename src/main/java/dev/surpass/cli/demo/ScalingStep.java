package dev.surpass.cli.demo;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.attention.PagedKvCache;
import dev.surpass.attention.ReferenceAttention;
import dev.surpass.cli.plot.Figure;
import dev.surpass.cli.plot.LineChart;
import dev.surpass.scan.ReferenceSelectiveScan;
import dev.surpass.scan.ScanOutput;
import dev.surpass.scan.SelectiveScan;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The survey's comparison table, measured: the sequence-mixing core of one attention layer
 * against one Mamba selective scan, as the sequence grows. Per length L, batch 1:
 * <ul>
 *   <li>prefill: causal fused attention over q, k, v {@code [1, L, H, D]} ({@link Attention#prefill})
 *       versus the selective scan over {@code [1, Dm, L]} ({@link SelectiveScan#selectiveScan}) —
 *       tokens per second;</li>
 *   <li>decode at position L: one query attending over a {@link PagedKvCache} holding L+1 tokens
 *       ({@link Attention#decode}; the O(1) append of the token's K/V is not timed), versus one
 *       {@link SelectiveScan#selectiveStateUpdate} of the constant {@code [1, Dm, N]} state — µs per
 *       generated token;</li>
 *   <li>memory per layer: the KV cache, {@code 2·L·H·D} elements, versus the SSM state,
 *       {@code Dm·N} fp32 — exact from the shapes, and measured as the bytes this device handle
 *       allocated for them ({@link Device#liveBytes()} before and after; per handle, so other
 *       threads' allocations do not disturb it).</li>
 * </ul>
 * Projections, convolutions and MLPs are left out on both sides: this is the part whose cost the
 * two families disagree on. Checks: each op matches its float64 reference at the smallest L, every
 * output is finite at every L, the allocations equal the shapes' bytes (KV rounded up to whole
 * pages), and the KV cache grows in proportion to L while the state stays constant.
 */
public final class ScalingStep implements DemoStep {
    /**
     * The measured shape: attention {@code heads × headDim} (d_model = their product), Mamba
     * {@code dInner × stateN}; inputs in {@code dtype}; each timing repeats until
     * {@code budgetSeconds} (at least once after an untimed run) or {@code maxReps}; at the first
     * length each op first runs untimed for {@code warmupSeconds} (the JIT compiles the CPU
     * kernels; CUDA loads its modules); the CPU decode, which goes sequence-major past 8 MiB of
     * keys and values (about 1.4k tokens here: code the JIT has not compiled at shorter lengths),
     * warms up for half of that at every later length too. Decode times are over {@code decodeSteps} tokens.
     */
    public record Config(int[] lengths, int heads, int headDim, int dInner, int stateN, DType dtype, int pageSize,
                         double warmupSeconds, double budgetSeconds, int maxReps, int decodeSteps) {
        public Config {
            lengths = lengths.clone();
            if (lengths.length < 2) throw new IllegalArgumentException("ScalingStep: at least two lengths");
            for (int i = 1; i < lengths.length; i++) {
                if (lengths[i] <= lengths[i - 1]) throw new IllegalArgumentException("ScalingStep: lengths must increase");
            }
        }

        /** GPT-2-small / mamba-130m-like: d_model 768 = 12 heads × 64, Mamba d_inner 1536, N 16. */
        public static Config forDevice(Device d) {
            if (d.isCuda()) {
                return new Config(new int[] {256, 512, 1024, 2048, 4096, 8192, 16384}, 12, 64, 1536, 16, DType.BF16, 16,
                        0.2, 0.05, 50, 8);
            }
            return new Config(new int[] {256, 512, 1024, 2048, 4096}, 12, 64, 1536, 16, DType.F32, 16, 1.0, 0.25, 5, 4);
        }

        /** The CPU side of a GPU run's speed-ups: two lengths, same shape, fp32. */
        public static Config cpuComparison() {
            return new Config(new int[] {256, 1024}, 12, 64, 1536, 16, DType.F32, 16, 0.5, 0.2, 3, 4);
        }

        String describe() {
            return String.format(Locale.ROOT, "attention %d heads × %d (d_model %d), Mamba d_inner %d × N %d, %s, batch 1, one layer",
                    heads, headDim, heads * headDim, dInner, stateN, dtype);
        }
    }

    /** One row of the table. Times in seconds; memory in bytes. */
    public record Row(int length, double attnPrefillS, double scanS, double attnDecodeS, double stateUpdateS,
                      long kvBytes, long kvAllocated, long stateBytes, long stateAllocated) {
        double attnTokensPerS() {
            return length / attnPrefillS;
        }

        double scanTokensPerS() {
            return length / scanS;
        }
    }

    private final Config config, cpuComparison;
    private final List<Row> rows = new ArrayList<>();

    public ScalingStep(Config config) {
        this(config, null);
    }

    /**
     * With {@code cpuComparison} non-null, the same ops are also measured on the CPU at its
     * lengths (each one of {@code config}'s) and the speed-ups printed: for a GPU run.
     */
    public ScalingStep(Config config, Config cpuComparison) {
        this.config = config;
        this.cpuComparison = cpuComparison;
        if (cpuComparison != null) {
            for (int l : cpuComparison.lengths()) {
                if (Arrays.stream(config.lengths()).noneMatch(x -> x == l)) {
                    throw new IllegalArgumentException("ScalingStep: CPU comparison length " + l + " is not one of the measured lengths");
                }
            }
        }
    }

    public List<Row> rows() {
        return List.copyOf(rows);
    }

    @Override
    public String title() {
        return "attention vs Mamba as the sequence grows (prefill, decode, memory)";
    }

    @Override
    public StepResult run(DemoContext ctx) throws IOException {
        Config c = config;
        Device dev = ctx.device();
        PrintWriter out = ctx.out();
        StepResult.Builder res = new StepResult.Builder("attention vs Mamba scaling", dev.name());
        out.println("  shape: " + c.describe() + "; lengths " + c.lengths()[0] + " → " + c.lengths()[c.lengths().length - 1]);
        rows.clear();
        try (Progress p = ctx.progress("scaling", visits(c).length * 4)) {
            measure(dev, c, p, res, "", rows);
        }
        printTable(out, c);

        int n = c.lengths().length;
        Row first = rows.get(0), lastRow = rows.get(n - 1);
        double kvGrowth = (double) lastRow.kvBytes() / first.kvBytes(), lGrowth = (double) lastRow.length() / first.length();
        res.check("memory: KV cache grows ∝ L, Mamba state constant",
                kvGrowth == lGrowth && lastRow.stateAllocated() == first.stateAllocated() && lastRow.kvAllocated() > first.kvAllocated(),
                String.format(Locale.ROOT, "KV ×%.0f over L ×%.0f, state ×%.0f", kvGrowth, lGrowth,
                        (double) lastRow.stateAllocated() / first.stateAllocated()));

        String speedup = "";
        if (cpuComparison != null) {
            Config cc = cpuComparison;
            out.println("  the same ops on the CPU (" + cc.dtype() + "), for the speed-ups:");
            List<Row> cpuRows = new ArrayList<>();
            try (Device own = ctx.twin() == null ? Device.cpu() : null; Progress p = ctx.progress("scaling (cpu)", visits(cc).length * 4)) {
                measure(own != null ? own : ctx.twin(), cc, p, res, "cpu: ", cpuRows);
            }
            speedup = "\n       " + printSpeedups(out, dev.name(), cpuRows);
            Row cr = cpuRows.getLast(), g = rowAt(cr.length());
            res.speedup("attention prefill, L=" + cr.length(), cr.attnPrefillS(), g.attnPrefillS())
                    .speedup("Mamba scan, L=" + cr.length(), cr.scanS(), g.scanS())
                    .speedup("attention decode step at L=" + cr.length(), cr.attnDecodeS(), g.attnDecodeS())
                    .speedup("Mamba state update", cr.stateUpdateS(), g.stateUpdateS());
        }

        Path png = ctx.outDir().resolve("scaling.png");
        BufferedImage img = plot(png, c, dev.name());
        res.check("scaling.png written", Files.size(png) > 0 && img.getWidth() > 0, png + " " + img.getWidth() + "×" + img.getHeight());
        res.file(png);
        Path csv = ctx.outDir().resolve("scaling.csv");
        writeCsv(csv);
        res.file(csv);

        String summary = String.format(Locale.ROOT,
                "at L=%d: prefill attention %s tok/s vs Mamba %s tok/s; decode %.1f vs %.1f µs/token; KV %s vs state %s",
                lastRow.length(), LineChart.format(lastRow.attnTokensPerS()), LineChart.format(lastRow.scanTokensPerS()),
                lastRow.attnDecodeS() * 1e6, lastRow.stateUpdateS() * 1e6, bytes(lastRow.kvBytes()), bytes(lastRow.stateBytes()));
        return res.build(summary + speedup);
    }

    /**
     * Measures every length of {@code c} on {@code dev} into {@code into}, adding the reference,
     * finiteness and allocation checks (names prefixed by {@code prefix}) to {@code res}.
     */
    private static void measure(Device dev, Config c, Progress p, StepResult.Builder res, String prefix, List<Row> into) {
        double tol = c.dtype() == DType.F32 ? 1e-4 : 2e-2;
        int nonFinite = 0, kvAllocBad = 0, stateAllocBad = 0;
        int[] visits = visits(c);
        for (int vi = 0; vi < visits.length; vi++) {
            int L = visits[vi];
            boolean check = vi == 0;
            SplittableRandom rnd = new SplittableRandom(1234 + L);
            try (Scope s = Scope.open()) {
                // ---- attention prefill
                int H = c.heads(), D = c.headDim();
                Tensor q = s.track(dev.upload(c.dtype(), uniform(rnd, L * H * D, 1f), 1, L, H, D));
                Tensor k = s.track(dev.upload(c.dtype(), uniform(rnd, L * H * D, 1f), 1, L, H, D));
                Tensor v = s.track(dev.upload(c.dtype(), uniform(rnd, L * H * D, 1f), 1, L, H, D));
                AttentionOptions causal = AttentionOptions.causal();
                float[] o;
                try (Tensor ot = Attention.prefill(q, k, v, causal)) {
                    o = ot.toFloatArray();
                }
                if (!finite(o)) nonFinite++;
                if (check) {
                    double[] ref = ReferenceAttention.prefill(q.toFloatArray(), k.toFloatArray(), v.toFloatArray(), 1, L, L, H, H, D,
                            causal).out();
                    refCheck(res, prefix + "attention prefill L=" + L + " vs float64 reference", o, ref, tol);
                }
                double tPrefill = time(dev, () -> Attention.prefill(q, k, v, causal), c, check);
                p.step("attention prefill L=" + L);

                // ---- attention decode against a paged KV cache of L tokens
                int pages = (L + 1 + c.pageSize() - 1) / c.pageSize();
                long before = dev.liveBytes();
                PagedKvCache cache = s.track(PagedKvCache.create(dev, c.dtype(), pages, c.pageSize(), H, D));
                long kvAllocated = dev.liveBytes() - before;
                long kvBytes = 2L * L * H * D * c.dtype().byteSize();
                long kvExactAlloc = 2L * pages * c.pageSize() * H * D * c.dtype().byteSize();
                if (kvAllocated != kvExactAlloc || kvAllocated < kvBytes) kvAllocBad++;
                int seq = cache.newSequence();
                try (Tensor k3 = k.reshape(L, H, D); Tensor v3 = v.reshape(L, H, D)) {
                    cache.appendPrompt(seq, k3, v3);
                }
                Tensor qd = s.track(dev.upload(c.dtype(), uniform(rnd, H * D, 1f), 1, H, D));
                Tensor kd = s.track(dev.upload(c.dtype(), uniform(rnd, H * D, 1f), 1, H, D));
                Tensor vd = s.track(dev.upload(c.dtype(), uniform(rnd, H * D, 1f), 1, H, D));
                int[] ids = {seq};
                AttentionOptions plain = AttentionOptions.defaults();
                cache.append(ids, kd, vd);
                float[] od;
                try (Tensor ot = Attention.decode(qd, cache, ids, plain)) {
                    od = ot.toFloatArray();
                }
                if (!finite(od)) nonFinite++;
                if (check) {
                    float[] kAll = concat(k.toFloatArray(), kd.toFloatArray()), vAll = concat(v.toFloatArray(), vd.toFloatArray());
                    double[] ref = ReferenceAttention.decode(qd.toFloatArray(), new float[][] {kAll}, new float[][] {vAll}, H, H, D,
                            plain).out();
                    refCheck(res, prefix + "attention decode at L=" + (L + 1) + " vs float64 reference", od, ref, tol);
                }
                // one timed unit = decodeSteps decodes over the L+1 cached tokens (the cache does not
                // grow while timing; the O(1) append of a token's K/V is left out of the figure)
                double decodeWarmup = check ? c.warmupSeconds() : dev.isCpu() ? c.warmupSeconds() / 2 : 0;
                double tDecode = time(dev, () -> {
                    Tensor last = null;
                    for (int i = 0; i < c.decodeSteps(); i++) {
                        if (last != null) last.close();
                        last = Attention.decode(qd, cache, ids, plain);
                    }
                    return last;
                }, c, decodeWarmup) / c.decodeSteps();
                p.step("attention decode L=" + L);

                // ---- Mamba selective scan
                int Dm = c.dInner(), N = c.stateN();
                Tensor u = s.track(dev.upload(c.dtype(), uniform(rnd, Dm * L, 1f), 1, Dm, L));
                Tensor delta = s.track(dev.upload(c.dtype(), shifted(rnd, Dm * L, -3f, -1f), 1, Dm, L));
                Tensor z = s.track(dev.upload(c.dtype(), uniform(rnd, Dm * L, 1f), 1, Dm, L));
                Tensor B = s.track(dev.upload(c.dtype(), uniform(rnd, N * L, 1f), 1, N, L));
                Tensor C = s.track(dev.upload(c.dtype(), uniform(rnd, N * L, 1f), 1, N, L));
                float[] aArr = new float[Dm * N];
                for (int d = 0; d < Dm; d++) for (int n = 0; n < N; n++) aArr[d * N + n] = -(n + 1); // S4D-real
                float[] dArr = new float[Dm], biasArr = shifted(rnd, Dm, -0.5f, 0.5f);
                Arrays.fill(dArr, 1f);
                Tensor A = s.track(dev.upload(DType.F32, aArr, Dm, N));
                Tensor Dskip = s.track(dev.upload(DType.F32, dArr, Dm));
                Tensor bias = s.track(dev.upload(DType.F32, biasArr, Dm));
                float[] y, last;
                try (ScanOutput so = SelectiveScan.selectiveScan(u, delta, A, B, C, Dskip, z, bias, true, null)) {
                    y = so.y().toFloatArray();
                    last = so.lastState().toFloatArray();
                }
                if (!finite(y) || !finite(last)) nonFinite++;
                if (check) {
                    ReferenceSelectiveScan.Result ref = ReferenceSelectiveScan.scan(u.toFloatArray(), delta.toFloatArray(), aArr,
                            B.toFloatArray(), C.toFloatArray(), dArr, z.toFloatArray(), biasArr, true, null, 1, Dm, N, 1, L, null);
                    refCheck(res, prefix + "Mamba scan L=" + L + " vs float64 reference (y)", y, ref.y(), tol);
                    refCheck(res, prefix + "Mamba scan L=" + L + " vs float64 reference (last state)", last, ref.lastState(), 1e-4);
                }
                double tScan = time(dev, () -> SelectiveScan.selectiveScan(u, delta, A, B, C, Dskip, z, bias, true, null), c, check);
                p.step("Mamba scan L=" + L);

                // ---- Mamba decode: one state update from the scan's last state
                before = dev.liveBytes();
                Tensor state = s.track(dev.upload(DType.F32, last, 1, Dm, N));
                long stateAllocated = dev.liveBytes() - before;
                long stateBytes = 4L * Dm * N;
                if (stateAllocated != stateBytes) stateAllocBad++;
                Tensor x1 = s.track(dev.upload(c.dtype(), uniform(rnd, Dm, 1f), 1, Dm));
                Tensor dt1 = s.track(dev.upload(c.dtype(), shifted(rnd, Dm, -3f, -1f), 1, Dm));
                Tensor z1 = s.track(dev.upload(c.dtype(), uniform(rnd, Dm, 1f), 1, Dm));
                Tensor B1 = s.track(dev.upload(c.dtype(), uniform(rnd, N, 1f), 1, N));
                Tensor C1 = s.track(dev.upload(c.dtype(), uniform(rnd, N, 1f), 1, N));
                float[] y1;
                try (Tensor yt = SelectiveScan.selectiveStateUpdate(state, x1, dt1, A, B1, C1, Dskip, z1, bias, true)) {
                    y1 = yt.toFloatArray();
                }
                float[] state1 = state.toFloatArray();
                if (!finite(y1) || !finite(state1)) nonFinite++;
                if (check) {
                    ReferenceSelectiveScan.Result ref = ReferenceSelectiveScan.stateUpdate(last, x1.toFloatArray(), dt1.toFloatArray(),
                            aArr, B1.toFloatArray(), C1.toFloatArray(), dArr, z1.toFloatArray(), biasArr, true, 1, Dm, N, 1);
                    refCheck(res, prefix + "Mamba state update vs float64 reference (y)", y1, ref.y(), tol);
                    refCheck(res, prefix + "Mamba state update vs float64 reference (state)", state1, ref.lastState(), 1e-4);
                }
                double tUpdate = time(dev, () -> {
                    Tensor lastY = null;
                    for (int i = 0; i < c.decodeSteps(); i++) {
                        if (lastY != null) lastY.close();
                        lastY = SelectiveScan.selectiveStateUpdate(state, x1, dt1, A, B1, C1, Dskip, z1, bias, true);
                    }
                    return lastY;
                }, c, check) / c.decodeSteps();
                p.step("Mamba decode L=" + L);
                Row row = new Row(L, tPrefill, tScan, tDecode, tUpdate, kvBytes, kvAllocated, stateBytes, stateAllocated);
                if (vi < c.lengths().length) {
                    into.add(row);
                } else { // a second visit: keep the faster time of each op
                    Row a = into.get(vi - c.lengths().length);
                    into.set(vi - c.lengths().length, new Row(L, Math.min(a.attnPrefillS(), tPrefill), Math.min(a.scanS(), tScan),
                            Math.min(a.attnDecodeS(), tDecode), Math.min(a.stateUpdateS(), tUpdate), kvBytes, kvAllocated, stateBytes,
                            stateAllocated));
                }
            }
        }
        int n = visits.length;
        res.check(prefix + "outputs finite at every length", nonFinite == 0, nonFinite + " of " + 4 * n + " runs with NaN/Inf");
        res.check(prefix + "KV cache allocation = whole pages of 2·L·H·D·" + c.dtype().byteSize() + " B", kvAllocBad == 0,
                kvAllocBad + " of " + n + " caches off");
        res.check(prefix + "Mamba state allocation = Dm·N·4 B = " + 4L * c.dInner() * c.stateN() + " B", stateAllocBad == 0,
                stateAllocBad + " of " + n + " states off");
    }

    // ---- measurement helpers ------------------------------------------------------------------

    /**
     * The lengths in the order measured: all of them, then the first two again (each op keeps its
     * faster time). The smallest sizes run first, while the JIT is still compiling the CPU kernels
     * (slower still when other processes share the cores); the second visit measures them warm.
     */
    static int[] visits(Config c) {
        int n = c.lengths().length, again = Math.min(2, n - 1);
        int[] v = Arrays.copyOf(c.lengths(), n + again);
        System.arraycopy(c.lengths(), 0, v, n, again);
        return v;
    }

    /**
     * Seconds of the fastest run of {@code op} (its result closed), after one untimed run
     * ({@code warm}: untimed runs for the configured warm-up); synchronised per run. The fastest, not
     * the median: on a shared machine a short budget's median jumped by up to 2× from one length
     * to the next (the plot showed dips that did not reproduce).
     */
    private static double time(Device dev, Supplier<? extends AutoCloseable> op, Config c, boolean first) {
        return time(dev, op, c, first ? c.warmupSeconds() : 0);
    }

    /** As above after {@code warmup} seconds of untimed runs (at least one). */
    private static double time(Device dev, Supplier<? extends AutoCloseable> op, Config c, double warmup) {
        long w0 = System.nanoTime();
        do {
            close(op.get());
            dev.synchronize();
        } while ((System.nanoTime() - w0) / 1e9 < warmup);
        List<Double> ts = new ArrayList<>();
        long start = System.nanoTime();
        do {
            long t0 = System.nanoTime();
            AutoCloseable r = op.get();
            dev.synchronize();
            ts.add((System.nanoTime() - t0) / 1e9);
            close(r);
        } while (ts.size() < c.maxReps() && (System.nanoTime() - start) / 1e9 < c.budgetSeconds());
        return ts.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
    }

    private static void close(AutoCloseable r) {
        if (r == null) return;
        try {
            r.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String refCheck(StepResult.Builder res, String name, float[] got, double[] ref, double tol) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = got[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        double rel = Math.sqrt(num / Math.max(den, 1e-300));
        boolean ok = got.length == ref.length && rel <= tol && Double.isFinite(rel);
        String detail = String.format(Locale.ROOT, "relative L2 error %.2e (bound %.0e)", rel, tol);
        res.check(name, ok, detail);
        return (ok ? "ok   " : "FAIL ") + name + ": " + detail;
    }

    private static float[] uniform(SplittableRandom r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }

    private static float[] shifted(SplittableRandom r, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + r.nextDouble() * (hi - lo));
        return a;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    private static boolean finite(float[] a) {
        for (float f : a) if (!Float.isFinite(f)) return false;
        return true;
    }

    static String bytes(long b) {
        if (b >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", b / 1048576.0);
        if (b >= 1L << 10) return String.format(Locale.ROOT, "%.0f KiB", b / 1024.0);
        return b + " B";
    }

    // ---- output -------------------------------------------------------------------------------

    private void printTable(PrintWriter out, Config c) {
        out.printf(Locale.ROOT, "  %6s | %13s %13s | %14s %14s | %10s %11s%n", "", "prefill tok/s", "", "decode µs/tok", "", "memory",
                "per layer");
        out.printf(Locale.ROOT, "  %6s | %13s %13s | %14s %14s | %10s %11s%n", "L", "attention", "Mamba scan", "attn over KV",
                "Mamba state", "KV cache", "Mamba state");
        for (Row r : rows) {
            out.printf(Locale.ROOT, "  %6d | %13s %13s | %14.1f %14.1f | %10s %11s%n", r.length(), LineChart.format(r.attnTokensPerS()),
                    LineChart.format(r.scanTokensPerS()), r.attnDecodeS() * 1e6, r.stateUpdateS() * 1e6, bytes(r.kvBytes()),
                    bytes(r.stateBytes()));
        }
        Row a = rows.get(0), b = rows.get(rows.size() - 1);
        out.printf(Locale.ROOT, "  L ×%d: attention prefill tokens/s ×%.2f, Mamba ×%.2f; decode µs/token attention ×%.2f, Mamba ×%.2f%n",
                b.length() / a.length(), b.attnTokensPerS() / a.attnTokensPerS(), b.scanTokensPerS() / a.scanTokensPerS(),
                b.attnDecodeS() / a.attnDecodeS(), b.stateUpdateS() / a.stateUpdateS());
        out.printf(Locale.ROOT, "  (memory measured: the device allocated %s for the KV cache pages at L=%d, %s for the state)%n",
                bytes(b.kvAllocated()), b.length(), bytes(b.stateAllocated()));
    }

    /** This run's row at {@code length} (one of the measured lengths). */
    private Row rowAt(int length) {
        return rows.stream().filter(r -> r.length() == length).findFirst().orElseThrow();
    }

    /** Prints the speed-up over the CPU at each compared length; returns the last line. */
    private String printSpeedups(PrintWriter out, String device, List<Row> cpuRows) {
        String line = "";
        for (Row cr : cpuRows) {
            Row g = rowAt(cr.length());
            line = String.format(Locale.ROOT, "%s vs cpu at L=%d: prefill attention ×%.1f, Mamba scan ×%.1f; decode attention ×%.1f, Mamba ×%.1f",
                    device, cr.length(), cr.attnPrefillS() / g.attnPrefillS(), cr.scanS() / g.scanS(), cr.attnDecodeS() / g.attnDecodeS(),
                    cr.stateUpdateS() / g.stateUpdateS());
            out.println("  " + line);
        }
        return line;
    }

    private BufferedImage plot(Path png, Config c, String device) throws IOException {
        int n = rows.size();
        double[] L = new double[n], ap = new double[n], sp = new double[n], ad = new double[n], sd = new double[n], kv = new double[n],
                st = new double[n];
        for (int i = 0; i < n; i++) {
            Row r = rows.get(i);
            L[i] = r.length();
            ap[i] = r.attnTokensPerS();
            sp[i] = r.scanTokensPerS();
            ad[i] = r.attnDecodeS() * 1e6;
            sd[i] = r.stateUpdateS() * 1e6;
            kv[i] = r.kvBytes() / 1048576.0;
            st[i] = r.stateBytes() / 1048576.0;
        }
        java.awt.Color attn = LineChart.PALETTE[0], mamba = LineChart.PALETTE[1];
        LineChart prefill = new LineChart("Prefill throughput (higher is better)")
                .xAxis("sequence length L (tokens)", true).powersOfTwoX(true).yAxis("tokens / s", true)
                .add("attention (fused, causal)", L, ap, attn, false).add("Mamba selective scan", L, sp, mamba, true);
        LineChart decode = new LineChart("Decode cost per token at position L")
                .xAxis("sequence length L (tokens)", true).powersOfTwoX(true).yAxis("µs / token", true)
                .add("attention over paged KV cache", L, ad, attn, false).add("Mamba state update", L, sd, mamba, true);
        LineChart memory = new LineChart("Decode memory per layer")
                .xAxis("sequence length L (tokens)", true).powersOfTwoX(true).yAxis("MiB", true)
                .add("KV cache (2·L·H·D)", L, kv, attn, false).add("Mamba state (Dm·N fp32)", L, st, mamba, true);
        String caption = "surpass demo on " + device + ": " + c.describe() + "; mixing cores only (no projections)";
        return Figure.writePng(png, List.of(prefill, decode, memory), 3, 560, 440, caption);
    }

    private void writeCsv(Path csv) throws IOException {
        StringBuilder sb = new StringBuilder(
                "length,attn_prefill_s,scan_s,attn_decode_s_per_token,state_update_s_per_token,kv_bytes,kv_allocated,state_bytes,state_allocated\n");
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT, "%d,%.6e,%.6e,%.6e,%.6e,%d,%d,%d,%d%n", r.length(), r.attnPrefillS(), r.scanS(),
                    r.attnDecodeS(), r.stateUpdateS(), r.kvBytes(), r.kvAllocated(), r.stateBytes(), r.stateAllocated()));
        }
        Files.createDirectories(csv.toAbsolutePath().getParent());
        Files.writeString(csv, sb);
    }
}
