package dev.surpass.cli;

import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityRegistry;
import java.io.PrintWriter;
import java.util.List;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code surpass parity}: every registered op against its float64 reference on every device. */
@Command(name = "parity", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Runs every op against its float64 reference on each device and prints",
            "op | shape | dtype | device | relL2 | maxAbs | tol | ok; the last line is 'N passed, M failed'.",
            "Exit code 1 when any case fails."
        })
final class ParityCommand extends CliCommand {
    @Option(names = "--device", defaultValue = "all", paramLabel = "DEVICE",
            description = "Where to run: " + Devices.HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--seed", defaultValue = "42", description = "Seed for the random inputs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--filter", paramLabel = "OP",
            description = "Only ops whose name contains OP (comma-separated: any of them).")
    String filter;

    private final Supplier<List<ParityCase>> cases;

    ParityCommand() {
        this(ParityRegistry::all);
    }

    /** With another source of cases (tests). */
    ParityCommand(Supplier<List<ParityCase>> cases) {
        this.cases = cases;
    }

    @Override
    int execute(PrintWriter out, PrintWriter err) {
        Devices.validate(device);
        List<ParityCase> selected = ParityRun.select(cases.get(), filter);
        try (Devices devices = Devices.open(device, err)) {
            if (selected.isEmpty()) err.println("surpass parity: no parity cases registered yet");
            out.println("parity: " + selected.size() + " case(s) x " + devices.devices().size() + " device(s), seed " + seed);
            ParityRun.Summary s = ParityRun.run(devices.devices(), devices.problems(), selected, seed, out);
            return s.failed() == 0 ? 0 : Main.FAILURE;
        }
    }
}
