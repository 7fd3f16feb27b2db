package dev.surpass.cli;

import dev.surpass.Device;
import dev.surpass.bench.Bench;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityRegistry;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code surpass demo}: parity and a quick bench on {@link Device#best()}, then what ran where. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Runs every parity case and a quick benchmark on the best device (CUDA when usable, else the CPU) "
                + "and sums up what ran, where, and how it went.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--seed", defaultValue = "42", description = "Seed for the parity inputs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (Devices devices = Devices.open("best", err)) {
            Device d = devices.first();
            out.println("surpass demo on " + d.name());
            for (String line : d.describe().split("\n")) out.println("  " + line);
            out.println();
            out.println("1. parity: every op against its float64 reference (one row per op; `surpass parity` lists every case)");
            List<ParityCase> cases = ParityRegistry.all();
            ParityRun.Summary parity = ParityRun.run(devices.devices(), devices.problems(), cases, seed, out, true);
            out.println();
            out.println("2. bench (quick)");
            Bench.Report report = Bench.run(devices.devices(), Bench.Options.of(true), out);
            out.println();
            out.println("summary");
            out.println("  device: " + d.name());
            out.println("  parity: " + cases.size() + " case(s): " + parity.passed() + " passed, " + parity.failed() + " failed");
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
            out.println("  bench: " + ok + " op(s) timed, " + report.errors() + " failed");
            if (bestMem != null) out.println("    fastest memory-bound: " + describe(bestMem));
            if (bestFlops != null) out.println("    fastest compute-bound: " + describe(bestFlops));
            out.println("  (full runs: surpass parity --device all; surpass bench --json bench.json)");
            return parity.failed() == 0 && report.errors() == 0 ? 0 : Main.FAILURE;
        }
    }

    private static String describe(Bench.Result r) {
        return String.format(Locale.ROOT, "%s %s %s: %.3f ms, %.1f %s (%.0f%% of peak)", r.op(), r.shape(), r.dtype(),
                r.medianMs(), r.value(), r.metric(), 100 * r.fractionOfPeak());
    }
}
