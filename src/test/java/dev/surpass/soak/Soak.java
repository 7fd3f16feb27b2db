package dev.surpass.soak;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.diffusion.DdimStep;
import dev.surpass.diffusion.Guidance;
import dev.surpass.diffusion.NoiseSchedule;
import dev.surpass.diffusion.StepOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.layers.Softmax;
import dev.surpass.model.bert.BertModel;
import dev.surpass.model.bert.MiniLm;
import dev.surpass.model.bert.SentenceEmbeddings;
import dev.surpass.model.decoder.DecoderSession;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.gpt2.Gpt2;
import dev.surpass.model.mamba.MambaLM;
import dev.surpass.model.mamba.Sampling;
import dev.surpass.scan.CausalConv1d;
import dev.surpass.scan.ConvOutput;
import dev.surpass.scan.ScanOutput;
import dev.surpass.scan.SelectiveScan;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The concurrency soak: {@code threads} threads share one {@link Device} and one copy of each tiny
 * model ({@link TinyModels}), and each runs a round-robin mix of ops and model calls on its own
 * inputs (seeded by thread and job) until the time is up. Every result is compared with the result
 * of the same call made single-threaded before the threads started: bit for bit on the CPU (whose
 * ops split work in fixed chunks, so they are deterministic); on CUDA float results may also match
 * to a relative 1e-5 of (1 + |x|), because cuBLAS documents that it may pick other GEMM algorithms
 * while several streams are active (token ids must still match exactly).
 *
 * <p>A watchdog fails the run, with every thread's stack, when a thread makes no progress for
 * {@code stallSeconds} (or the whole run overruns by that much).
 */
final class Soak {
    /** One result as comparable bits: raw float bits, or ids. */
    record Result(int[] bits, boolean floats) {
        static Result of(float[] v) {
            int[] b = new int[v.length];
            for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
            return new Result(b, true);
        }

        static Result ids(int[]... rows) {
            int n = 0;
            for (int[] r : rows) n += r.length + 1;
            int[] b = new int[n];
            int o = 0;
            for (int[] r : rows) {
                b[o++] = r.length;
                System.arraycopy(r, 0, b, o, r.length);
                o += r.length;
            }
            return new Result(b, false);
        }

        /** Null when equal (exactly, or within {@code tol} for floats when tol > 0), else what differs. */
        String compare(Result want, double tol) {
            if (floats != want.floats || bits.length != want.bits.length) return "length " + bits.length + " vs " + want.bits.length;
            for (int i = 0; i < bits.length; i++) {
                if (bits[i] == want.bits[i]) continue;
                if (floats && tol > 0) {
                    float a = Float.intBitsToFloat(bits[i]), b = Float.intBitsToFloat(want.bits[i]);
                    if (Math.abs(a - b) <= tol * (1 + Math.abs(b))) continue;
                    return "element " + i + ": " + a + " vs " + b;
                }
                return "element " + i + ": " + (floats ? Float.intBitsToFloat(bits[i]) + " vs " + Float.intBitsToFloat(want.bits[i])
                        : bits[i] + " vs " + want.bits[i]);
            }
            return null;
        }
    }

    @FunctionalInterface
    interface Body {
        Result run(Device dev, Random r, long seed);
    }

    record Job(String name, Body body) {}

    /** What a run did. */
    record Report(int threads, double seconds, long operations, long mismatches, long errors, long[] perJob, List<String> problems) {
        String summary(String device, List<Job> jobs) {
            StringBuilder s = new StringBuilder();
            s.append(String.format("soak on %s: %d threads, %.1f s, %d operations, %d mismatches, %d errors%n",
                    device, threads, seconds, operations, mismatches, errors));
            s.append("  ops per job:\n");
            for (int j = 0; j < jobs.size(); j++) s.append(String.format("  %-18s %8d%n", jobs.get(j).name(), perJob[j]));
            for (String p : problems) s.append("  ").append(p).append('\n');
            return s.toString();
        }
    }

    final Device dev;
    final Gpt2 gpt2;
    final BertModel bert;
    final MambaLM mamba;
    /** The real all-MiniLM-L6-v2 when its artifact is at hand (test class path or ~/.m2) and -Dsurpass.soak.minilm is not false; else null. */
    final SentenceEmbeddings miniLm;
    final String miniLmNote;
    final List<Job> jobs = new ArrayList<>();

    Soak(Device dev, TinyModels models) {
        this.dev = dev;
        Gpt2 g = null;
        BertModel b = null;
        MambaLM m = null;
        try {
            g = Gpt2.load(dev, models.gpt2);
            b = BertModel.load(dev, models.bert);
            m = MambaLM.load(dev, models.mamba);
        } catch (RuntimeException | Error e) {
            if (g != null) g.close();
            if (b != null) b.close();
            throw e;
        }
        gpt2 = g;
        bert = b;
        mamba = m;
        SentenceEmbeddings st = null;
        String note;
        if (Boolean.parseBoolean(System.getProperty("surpass.soak.minilm", "true"))) {
            try {
                MiniLm.Artifact a = MiniLm.find();
                st = new SentenceEmbeddings(MiniLm.model(dev, a), MiniLm.tokenizer(a), MiniLm.MAX_LENGTH);
                note = "all-MiniLM-L6-v2 from " + a.where();
            } catch (IllegalStateException e) {
                note = "all-MiniLM-L6-v2 left out: " + e.getMessage();
            }
        } else {
            note = "all-MiniLM-L6-v2 left out (-Dsurpass.soak.minilm=false)";
        }
        miniLm = st;
        miniLmNote = note;
        defineJobs();
    }

    void close() {
        if (miniLm != null) miniLm.close();
        mamba.close();
        bert.close();
        gpt2.close();
    }

    static float[] random(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }

    static int[] ids(Random r, int n, int vocab) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.nextInt(vocab);
        return a;
    }

    private void defineJobs() {
        jobs.add(new Job("attention.causal", (d, r, seed) -> {
            int b = 1, n = 37, h = 2, hd = 32;
            try (Scope s = Scope.open()) {
                Tensor q = s.track(d.upload(DType.F32, random(r, b * n * h * hd, 1), b, n, h, hd));
                Tensor k = s.track(d.upload(DType.F32, random(r, b * n * h * hd, 1), b, n, h, hd));
                Tensor v = s.track(d.upload(DType.F32, random(r, b * n * h * hd, 1), b, n, h, hd));
                return Result.of(s.track(Attention.prefill(q, k, v, AttentionOptions.causal())).toFloatArray());
            }
        }));
        jobs.add(new Job("attention.softcap", (d, r, seed) -> {
            int b = 1, n = 21, h = 2, hd = 64;
            try (Scope s = Scope.open()) {
                Tensor q = s.track(d.upload(DType.F32, random(r, b * n * h * hd, 2), b, n, h, hd));
                Tensor k = s.track(d.upload(DType.F32, random(r, b * n * h * hd, 2), b, n, h, hd));
                Tensor v = s.track(d.upload(DType.F32, random(r, b * n * h * hd, 1), b, n, h, hd));
                return Result.of(s.track(Attention.prefill(q, k, v, AttentionOptions.causal().softcap(5f))).toFloatArray());
            }
        }));
        jobs.add(new Job("attention.gqa.bf16", (d, r, seed) -> {
            int b = 2, n = 29, hq = 4, hkv = 2, hd = 64;
            try (Scope s = Scope.open()) {
                Tensor q = s.track(d.upload(DType.BF16, random(r, b * n * hq * hd, 1), b, n, hq, hd));
                Tensor k = s.track(d.upload(DType.BF16, random(r, b * n * hkv * hd, 1), b, n, hkv, hd));
                Tensor v = s.track(d.upload(DType.BF16, random(r, b * n * hkv * hd, 1), b, n, hkv, hd));
                return Result.of(s.track(Attention.prefill(q, k, v, AttentionOptions.defaults().window(5, 2))).toFloatArray());
            }
        }));
        jobs.add(new Job("selective_scan", (d, r, seed) -> {
            int bt = 1, dm = 24, l = 33, n = 8;
            float[] a = new float[dm * n];
            for (int i = 0; i < a.length; i++) a[i] = -(1 + (i % n));
            try (Scope s = Scope.open()) {
                Tensor u = s.track(d.upload(DType.F32, random(r, bt * dm * l, 1), bt, dm, l));
                Tensor delta = s.track(d.upload(DType.F32, random(r, bt * dm * l, 1), bt, dm, l));
                Tensor A = s.track(d.upload(DType.F32, a, dm, n));
                Tensor B = s.track(d.upload(DType.F32, random(r, bt * n * l, 1), bt, n, l));
                Tensor C = s.track(d.upload(DType.F32, random(r, bt * n * l, 1), bt, n, l));
                Tensor D = s.track(d.upload(DType.F32, random(r, dm, 1), dm));
                Tensor z = s.track(d.upload(DType.F32, random(r, bt * dm * l, 1), bt, dm, l));
                Tensor bias = s.track(d.upload(DType.F32, random(r, dm, 0.5), dm));
                ScanOutput o = s.track(SelectiveScan.selectiveScan(u, delta, A, B, C, D, z, bias, true, null));
                float[] y = o.y().toFloatArray(), st = o.lastState().toFloatArray();
                float[] both = java.util.Arrays.copyOf(y, y.length + st.length);
                System.arraycopy(st, 0, both, y.length, st.length);
                return Result.of(both);
            }
        }));
        jobs.add(new Job("causal_conv1d", (d, r, seed) -> {
            int bt = 2, dm = 24, l = 19, w = 4;
            try (Scope s = Scope.open()) {
                Tensor x = s.track(d.upload(DType.F32, random(r, bt * dm * l, 1), bt, dm, l));
                Tensor wt = s.track(d.upload(DType.F32, random(r, dm * w, 0.5), dm, w));
                Tensor bias = s.track(d.upload(DType.F32, random(r, dm, 0.2), dm));
                ConvOutput o = s.track(CausalConv1d.causalConv1d(x, wt, bias, true, null));
                return Result.of(o.out().toFloatArray());
            }
        }));
        jobs.add(new Job("layers", (d, r, seed) -> {
            int rows = 13, in = 64, out = 96;
            try (Scope s = Scope.open()) {
                Tensor x = s.track(d.upload(DType.F32, random(r, rows * in, 1), rows, in));
                Tensor w = s.track(d.upload(DType.F32, random(r, out * in, 0.125), out, in));
                Tensor b = s.track(d.upload(DType.F32, random(r, out, 0.1), out));
                Tensor g = s.track(d.upload(DType.F32, random(r, out, 1), out));
                Tensor h = s.track(Gemm.linear(x, w, b));
                Tensor a = s.track(Activation.gelu(h, Activation.Gelu.TANH));
                Tensor n1 = s.track(LayerNorm.layerNorm(a, g, b, 1e-5f));
                Tensor n2 = s.track(RmsNorm.rmsNorm(n1, g, 1e-6f));
                return Result.of(s.track(Softmax.softmax(n2)).toFloatArray());
            }
        }));
        DdimStep ddim = new DdimStep(NoiseSchedule.ditLinear(1000), 1.0);
        jobs.add(new Job("ddim_step.cfg", (d, r, seed) -> {
            long[] shape = {2, 4, 5, 5};
            try (Scope s = Scope.open()) {
                Tensor x = s.track(d.upload(DType.F32, random(r, 200, 1), shape));
                Tensor m = s.track(d.upload(DType.F32, random(r, 400, 1), 4, 4, 5, 5));
                StepOptions o = StepOptions.defaults().withGuidance(Guidance.condFirst(4)).withSeed(seed);
                return Result.of(s.track(ddim.step(x, m, 500, 480, o)).toFloatArray());
            }
        }));
        jobs.add(new Job("bert.forward", (d, r, seed) -> {
            int n = 11;
            int[][] in = {ids(r, n, TinyModels.BERT_VOCAB), ids(r, n, TinyModels.BERT_VOCAB)};
            int[][] mask = new int[2][n];
            for (int[] m : mask) java.util.Arrays.fill(m, 1);
            for (int t = 7; t < n; t++) mask[1][t] = 0;
            try (Tensor h = bert.forward(in, mask, null)) {
                return Result.of(h.toFloatArray());
            }
        }));
        if (miniLm != null) {
            String[] words = {"the", "cat", "sat", "on", "a", "mat", "while", "GPUs", "hum", "softly", "in", "racks", "of", "servers"};
            jobs.add(new Job("minilm.embed", (d, r, seed) -> {
                List<String> sentences = new ArrayList<>();
                for (int k = 0; k < 2; k++) {
                    StringBuilder sb = new StringBuilder();
                    int n = 3 + r.nextInt(8);
                    for (int w = 0; w < n; w++) sb.append(w == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
                    sentences.add(sb.toString());
                }
                float[][] e = miniLm.embed(sentences);
                float[] flat = new float[e.length * e[0].length];
                for (int k = 0; k < e.length; k++) System.arraycopy(e[k], 0, flat, k * e[0].length, e[0].length);
                return Result.of(flat);
            }));
        }
        jobs.add(new Job("gpt2.generate", (d, r, seed) -> {
            int[][] prompts = {ids(r, 5, TinyModels.GPT2_VOCAB), ids(r, 9, TinyModels.GPT2_VOCAB)};
            return Result.ids(Decoding.generate(gpt2, prompts, 4, Sampling.temperature(0.9, seed).withTopK(20), 1.1, null, null));
        }));
        jobs.add(new Job("gpt2.session", (d, r, seed) -> {
            try (DecoderSession s = DecoderSession.create(gpt2, 48, 8)) {
                int a = s.add(DecoderSession.Request.greedy(ids(r, 6, TinyModels.GPT2_VOCAB), 3));
                int b = s.add(new DecoderSession.Request(ids(r, 3, TinyModels.GPT2_VOCAB), 4, Sampling.temperature(0.7, seed), 1.2, null, null));
                while (s.isActive(a) || s.isActive(b)) s.step();
                return Result.ids(s.tokens(a), s.tokens(b));
            }
        }));
        jobs.add(new Job("mamba.generate", (d, r, seed) ->
                Result.ids(mamba.generate(ids(r, 7, TinyModels.MAMBA_VOCAB), 4, Sampling.temperature(0.8, seed).withTopP(0.9), null))));
        jobs.add(new Job("mamba.forward", (d, r, seed) -> {
            try (Tensor logits = mamba.forward(new int[][] {ids(r, 6, TinyModels.MAMBA_VOCAB), ids(r, 6, TinyModels.MAMBA_VOCAB)})) {
                return Result.of(logits.toFloatArray());
            }
        }));
    }

    static long seed(int thread, int job) {
        return 0x50A4_0000L + thread * 1009L + job;
    }

    Result runOne(int thread, int job) {
        long seed = seed(thread, job);
        return jobs.get(job).body().run(dev, new Random(seed), seed);
    }

    /**
     * Runs the soak: the expected results single-threaded first, then {@code threads} threads for
     * {@code seconds}; {@code tol} 0 for bit-exact.
     */
    Report run(int threads, double seconds, double tol, double stallSeconds) throws InterruptedException {
        int nj = jobs.size();
        Result[][] want = new Result[threads][nj];
        for (int t = 0; t < threads; t++) for (int j = 0; j < nj; j++) want[t][j] = runOne(t, j);

        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong ops = new AtomicLong(), mismatches = new AtomicLong(), errors = new AtomicLong();
        AtomicLongArray perJob = new AtomicLongArray(nj);
        AtomicLongArray progress = new AtomicLongArray(threads);
        ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
        Thread[] ts = new Thread[threads];
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int id = t;
            progress.set(id, System.nanoTime());
            ts[t] = Thread.ofPlatform().name("soak-" + t).daemon().unstarted(() -> {
                for (int i = 0; !stop.get(); i++) {
                    int j = (i + id) % nj;
                    try {
                        Result got = runOne(id, j);
                        String diff = got.compare(want[id][j], tol);
                        if (diff != null) {
                            mismatches.incrementAndGet();
                            if (problems.size() < 20) problems.add("MISMATCH thread " + id + " " + jobs.get(j).name() + " seed " + seed(id, j) + ": " + diff);
                        }
                    } catch (Throwable e) {
                        errors.incrementAndGet();
                        if (problems.size() < 20) problems.add("ERROR thread " + id + " " + jobs.get(j).name() + ": " + e);
                        if (e instanceof Error err && !(e instanceof AssertionError)) throw err;
                    }
                    ops.incrementAndGet();
                    perJob.incrementAndGet(j);
                    progress.set(id, System.nanoTime());
                    if (System.nanoTime() - start > seconds * 1e9) break;
                }
            });
        }
        for (Thread t : ts) t.start();
        // the watchdog: every thread must finish an operation every stallSeconds
        long stallNs = (long) (stallSeconds * 1e9);
        while (true) {
            boolean alive = false;
            for (Thread t : ts) alive |= t.isAlive();
            if (!alive) break;
            long now = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                if (ts[t].isAlive() && now - progress.get(t) > stallNs) {
                    stop.set(true);
                    throw new AssertionError("soak stalled: thread soak-" + t + " made no progress for " + stallSeconds + " s\n" + threadDump());
                }
            }
            Thread.sleep(100);
        }
        double secs = (System.nanoTime() - start) / 1e9;
        long[] pj = new long[nj];
        for (int j = 0; j < nj; j++) pj[j] = perJob.get(j);
        return new Report(threads, secs, ops.get(), mismatches.get(), errors.get(), pj, List.copyOf(problems));
    }

    static String threadDump() {
        StringBuilder s = new StringBuilder();
        for (var e : Thread.getAllStackTraces().entrySet()) {
            s.append('"').append(e.getKey().getName()).append("\" ").append(e.getKey().getState()).append('\n');
            for (StackTraceElement f : e.getValue()) s.append("    at ").append(f).append('\n');
        }
        return s.toString();
    }
}
