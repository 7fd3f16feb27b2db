package dev.surpass.cli;

import dev.surpass.Device;
import dev.surpass.bench.Bench;
import dev.surpass.cli.demo.DemoContext;
import dev.surpass.cli.demo.DemoStep;
import dev.surpass.cli.demo.DiTSamplesStep;
import dev.surpass.cli.demo.LanguageModelsStep;
import dev.surpass.cli.demo.ScalingStep;
import dev.surpass.cli.demo.SemanticSearchStep;
import dev.surpass.cli.demo.StepResult;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityRegistry;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code surpass demo}: a list of {@link DemoStep}s on {@link Device#best()} — parity, a quick
 * bench, the trained Austen GPT and Mamba ({@link LanguageModelsStep}), the Fashion-MNIST DiT's
 * samples ({@link DiTSamplesStep}), MiniLM semantic search ({@link SemanticSearchStep}), attention
 * vs Mamba scaling — each printing its checks, then a summary of what ran where
 * and which files were written. On a GPU the CPU is opened as the steps' twin ({@link #twinFor}):
 * each step checks the two devices agree, and the summary ends with the speed-ups. A new step is
 * one class implementing {@link DemoStep}, added to {@link #steps}.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Runs every parity case, a quick benchmark, the small trained models of models/ (Austen GPT and Mamba: "
                + "continuations, tokens/s, held-out bits per character; Fashion-MNIST DiT: samples per class), MiniLM semantic search "
                + "and the attention-vs-Mamba scaling measurement on the best device (CUDA when usable, else the CPU), writes plots under --out, and sums up what ran, where, and how it went. "
                + "On a GPU every step also runs a share of its work on the CPU: the two must agree, and the summary lists the GPU's speed-ups.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--seed", defaultValue = "42", description = "Seed for the parity inputs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--device", defaultValue = "best", paramLabel = "DEVICE",
            description = "Where to run: best (default: CUDA when usable, else the CPU), cpu, cuda or cuda:N.")
    String device;

    @Option(names = "--out", defaultValue = "demo-out", description = "Folder for the demo's files (default: ${DEFAULT-VALUE}).")
    Path outDir;

    @Option(names = "--steps", split = ",", paramLabel = "STEP",
            description = "Only these steps, by name: parity, bench, lm, dit, search, scaling (default: all).")
    List<String> only;

    @Spec
    CommandSpec spec;

    /** The scaling step's shape and lengths for a device (tests swap in a tiny one). */
    Function<Device, ScalingStep.Config> scalingConfig = ScalingStep.Config::forDevice;

    /** The language-model step's prompt and lengths (tests swap in a short one). */
    LanguageModelsStep.Config lmConfig = LanguageModelsStep.Config.defaults();

    /** The DiT step's steps and seed (tests swap in a short one). */
    DiTSamplesStep.Config ditConfig = DiTSamplesStep.Config.defaults();

    /**
     * The CPU twin opened beside the demo's device: the CPU on a GPU run (for the CPU ↔ GPU
     * parity and the speed-ups), none on a CPU run. Tests swap in a CPU twin on the CPU, so that
     * the GPU run's comparison code runs without a GPU.
     */
    Function<Device, Device> twinFor = d -> d.isCuda() ? Device.cpu() : null;

    /** A named step; the factory gets the opened devices. */
    record Entry(String name, Function<Devices, DemoStep> factory) {}

    /** The demo's steps in order. */
    List<Entry> steps() {
        return List.of(
                new Entry("parity", ds -> new ParityStep(ds, seed)),
                new Entry("bench", BenchStep::new),
                new Entry("lm", ds -> new LanguageModelsStep(lmConfig)),
                new Entry("dit", ds -> new DiTSamplesStep(ditConfig)),
                new Entry("search", ds -> new SemanticSearchStep(SemanticSearchStep.Config.defaults())),
                new Entry("scaling", ds -> new ScalingStep(scalingConfig.apply(ds.first()),
                        ds.first().isCuda() ? ScalingStep.Config.cpuComparison() : null)));
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<Entry> chosen = new ArrayList<>();
        for (Entry e : steps()) if (only == null || only.contains(e.name())) chosen.add(e);
        if (only != null) {
            for (String s : only) {
                if (steps().stream().noneMatch(e -> e.name().equals(s))) {
                    throw new UsageException("--steps: unknown step '" + s + "' (known: " + String.join(", ", steps().stream().map(Entry::name).toList()) + ")");
                }
            }
        }
        String where = Devices.validate(device);
        if (where.equals("all")) throw new UsageException("--device all: the demo runs on one device (best, cpu, cuda or cuda:N)");
        long t0 = System.nanoTime();
        try (Devices devices = Devices.open(where, err)) {
            Device d = devices.first();
            out.println("surpass demo on " + d.name());
            for (String line : d.describe().split("\n")) out.println("  " + line);
            try (Device twin = twinFor.apply(d)) {
                if (twin != null) out.println("  (each step also runs a share of its work on the CPU, to check the two agree and time the speed-ups)");
                return runSteps(chosen, new DemoContext(d, twin, out, err, outDir, DemoContext.terminal()), devices, t0);
            }
        }
    }

    /** Runs the chosen steps, prints each one's checks, then the summary; the exit code. */
    private int runSteps(List<Entry> chosen, DemoContext ctx, Devices devices, long t0) {
        PrintWriter out = ctx.out();
        Device d = ctx.device();
        List<StepResult> results = new ArrayList<>();
        int i = 0;
        for (Entry e : chosen) {
            DemoStep step = e.factory().apply(devices);
            out.println();
            out.println(++i + ". " + step.title());
            out.flush();
            long s0 = System.nanoTime();
            StepResult r;
            try {
                r = step.run(ctx);
            } catch (Exception | AssertionError ex) {
                r = StepResult.crashed(step.title(), d.name(), ex);
                out.println("  step failed: " + ex);
            }
            r = r.withSeconds((System.nanoTime() - s0) / 1e9);
            for (StepResult.Check c : r.checks()) out.println("  " + c);
            out.flush();
            results.add(r);
        }
        double total = (System.nanoTime() - t0) / 1e9;
        out.println();
        out.println("summary");
        out.printf(Locale.ROOT, "  device: %s (%s)%n", d.name(), d.isCuda() ? "CUDA" : "CPU only: no usable CUDA device");
        long failed = 0;
        List<Path> files = new ArrayList<>();
        i = 0;
        for (StepResult r : results) {
            failed += r.failures();
            files.addAll(r.files());
            out.printf(Locale.ROOT, "  %d. %-4s %-28s on %s, %5.1f s, %d/%d checks%n", ++i, r.passed() ? "ok" : "FAIL", r.title(), r.where(),
                    r.seconds(), r.checks().size() - r.failures(), r.checks().size());
            if (r.summary() != null && !r.summary().isEmpty()) out.println("       " + r.summary());
        }
        if (!files.isEmpty()) {
            out.println("  files:");
            for (Path p : files) out.println("    " + p.toAbsolutePath().normalize());
        }
        List<StepResult.Speedup> speedups = results.stream().flatMap(r -> r.speedups().stream()).toList();
        if (!speedups.isEmpty()) {
            out.println("  speed-ups of " + d.name() + " over the CPU (the same work timed on both in this run):");
            for (StepResult.Speedup s : speedups) out.println("    " + s);
        }
        out.printf(Locale.ROOT, "  %s in %.1f s (full runs: surpass parity --device all; surpass bench --json bench.json)%n",
                failed == 0 ? "all checks passed" : failed + " check(s) FAILED", total);
        return failed == 0 ? 0 : Main.FAILURE;
    }

    /** Every parity case against its float64 reference, on the demo's device and its CPU twin if any. */
    static final class ParityStep implements DemoStep {
        private final Devices devices;
        private final long seed;

        ParityStep(Devices devices, long seed) {
            this.devices = devices;
            this.seed = seed;
        }

        @Override
        public String title() {
            return "parity: every op against its float64 reference (one row per op; `surpass parity` lists every case)";
        }

        @Override
        public StepResult run(DemoContext ctx) {
            List<ParityCase> cases = ParityRegistry.all();
            List<Device> on = new ArrayList<>(devices.devices());
            if (ctx.twin() != null) on.add(ctx.twin());
            ParityRun.Summary s = ParityRun.run(on, devices.problems(), cases, seed, ctx.out(), true);
            StepResult.Builder b = new StepResult.Builder("parity", label(on));
            int runs = cases.size() * on.size();
            b.check("parity cases within tolerance", s.failed() == 0,
                    runs + " case run(s): " + s.passed() + " passed, " + s.failed() + " failed, " + s.skipped() + " skipped");
            return b.build(s.passed() + " of " + runs + " case runs passed" + (on.size() > 1 ? " (" + cases.size() + " cases on each of " + label(on) + ")" : ""));
        }
    }

    /** The quick benchmark on the demo's device. */
    static final class BenchStep implements DemoStep {
        private final Devices devices;

        BenchStep(Devices devices) {
            this.devices = devices;
        }

        @Override
        public String title() {
            return "bench (quick cases; `surpass bench` measures more sizes, longer)";
        }

        @Override
        public StepResult run(DemoContext ctx) {
            // On a GPU the brief timing keeps the demo within its minute; on the CPU the Vector API
            // kernels need --quick's longer warm-up before the JIT has compiled them.
            Bench.Options o = devices.first().isCuda() ? Bench.Options.brief() : Bench.Options.of(true);
            Bench.Report report = Bench.run(devices.devices(), o, ctx.out());
            int ok = 0;
            Bench.Result bestMem = null, bestFlops = null;
            for (Bench.DeviceReport dr : report.devices()) {
                for (Bench.Result r : dr.results()) {
                    if (!r.ok()) continue;
                    ok++;
                    if (r.metric().equals("GB/s")) {
                        if (bestMem == null || r.value() > bestMem.value()) bestMem = r;
                    } else if (bestFlops == null || r.value() > bestFlops.value()) {
                        bestFlops = r;
                    }
                }
            }
            StepResult.Builder b = new StepResult.Builder("bench (quick)", label(devices.devices()));
            b.check("every benchmarked op ran", report.errors() == 0,
                    ok + " op(s) timed, " + report.errors() + " failed");
            List<String> best = new ArrayList<>();
            if (bestMem != null) best.add("fastest memory-bound: " + describe(bestMem));
            if (bestFlops != null) best.add("fastest compute-bound: " + describe(bestFlops));
            return b.build(String.join("\n       ", best));
        }
    }

    private static String label(List<Device> devices) {
        List<String> names = new ArrayList<>();
        for (Device d : devices) names.add(d.name());
        return String.join(", ", names);
    }

    private static String describe(Bench.Result r) {
        return String.format(Locale.ROOT, "%s %s %s: %.3f ms, %.1f %s (%.0f%% of peak)", r.op(), r.shape(), r.dtype(),
                r.medianMs(), r.value(), r.metric(), 100 * r.fractionOfPeak());
    }
}
