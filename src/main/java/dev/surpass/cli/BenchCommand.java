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
import java.util.concurrent.Callable;
import java.util.function.BiFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code surpass bench}: per op and size, median time, GB/s or GFLOP/s, fraction of measured peak. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Times each op at a few sizes: median time, achieved GB/s (memory-bound ops: bytes read + written)",
            "or GFLOP/s (matmul), and the fraction of the device's peak measured in the same run",
            "(CPU: Vector API FMA loop and a large copy; CUDA: device-to-device copy and a bf16 cuBLAS GEMM)."
        })
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--device", defaultValue = "best", paramLabel = "DEVICE",
            description = "Where to run: " + Devices.HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON to FILE.")
    Path json;

    @Option(names = "--quick", description = "One small size per op and short measurements.")
    boolean quick;

    @Spec
    CommandSpec spec;

    private final BiFunction<Device, Boolean, List<BenchCase>> cases;
    private final BiFunction<Device, Boolean, Peaks> peaks;

    BenchCommand() {
        this(BenchSuite::cases, Peaks::measure);
    }

    /** With other cases and peaks (tests). */
    BenchCommand(BiFunction<Device, Boolean, List<BenchCase>> cases, BiFunction<Device, Boolean, Peaks> peaks) {
        this.cases = cases;
        this.peaks = peaks;
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Devices.validate(device);
        try (Devices devices = Devices.open(device, err)) {
            Bench.Report report = Bench.run(devices.devices(), Bench.Options.of(quick), out, cases, peaks);
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
