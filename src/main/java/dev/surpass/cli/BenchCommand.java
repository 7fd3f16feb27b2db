package dev.surpass.cli;

import dev.surpass.bench.Bench;
import dev.surpass.bench.BenchCase;
import dev.surpass.bench.BenchSuite;
import dev.surpass.bench.Peaks;
import dev.surpass.Device;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code surpass bench}: per op and size, median time, GB/s or GFLOP/s, fraction of measured peak. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Times each op at a few sizes: median time, achieved GB/s (memory-bound ops: bytes read + written)",
            "or GFLOP/s (matmul), and the fraction of the device's peak measured in the same run",
            "(CPU: Vector API FMA loop and a large copy; CUDA: device-to-device copy and a bf16 cuBLAS GEMM)."
        })
final class BenchCommand extends CliCommand {
    @Option(names = "--device", defaultValue = "best", paramLabel = "DEVICE",
            description = "Where to run: " + Devices.HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON to FILE.")
    Path json;

    @Option(names = "--quick", description = "One small size per op and short measurements.")
    boolean quick;

    @Option(names = "--op", split = ",", paramLabel = "OP",
            description = "Only these ops (comma-separated base names, e.g. attention,attn_decode); default: all.")
    List<String> ops;

    private final BiFunction<Device, Boolean, List<BenchCase>> cases;
    private final BiFunction<Device, Boolean, Peaks> peaks;

    /** Op names --op accepts; null: any (test cases). */
    private final Set<String> knownOps;

    BenchCommand() {
        this(BenchSuite::cases, Peaks::measure, new TreeSet<>(BenchSuite.OPS));
    }

    /** With other cases and peaks (tests). */
    BenchCommand(BiFunction<Device, Boolean, List<BenchCase>> cases, BiFunction<Device, Boolean, Peaks> peaks) {
        this(cases, peaks, null);
    }

    private BenchCommand(BiFunction<Device, Boolean, List<BenchCase>> cases, BiFunction<Device, Boolean, Peaks> peaks,
                         Set<String> knownOps) {
        this.cases = cases;
        this.peaks = peaks;
        this.knownOps = knownOps;
    }

    @Override
    int execute(PrintWriter out, PrintWriter err) throws IOException {
        Devices.validate(device);
        BiFunction<Device, Boolean, List<BenchCase>> chosen = cases;
        if (ops != null && !ops.isEmpty()) {
            Set<String> unknown = new TreeSet<>(ops);
            if (knownOps != null) unknown.removeAll(knownOps);
            if (knownOps != null && !unknown.isEmpty()) {
                throw new UsageException("--op: unknown op(s) " + unknown + "; known: " + String.join(", ", knownOps));
            }
            Set<String> keep = new TreeSet<>(ops);
            chosen = (d, q) -> cases.apply(d, q).stream().filter(c -> keep.contains(c.op())).toList();
        }
        try (Devices devices = Devices.open(device, err)) {
            Bench.Report report = Bench.run(devices.devices(), Bench.Options.of(quick), out, chosen, peaks);
            if (json != null) {
                Bench.writeJson(report, json);
                out.println("wrote " + json);
            }
            int errors = report.errors() + devices.problems().size();
            for (Devices.Problem p : devices.problems()) out.println(p.device() + ": could not open: " + p.reason());
            out.println(errors == 0 ? "bench: all ops ran" : "bench: " + errors + " op(s) failed");
            return errors == 0 ? 0 : Main.FAILURE;
        }
    }
}
