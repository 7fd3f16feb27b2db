package dev.surpass.cli;

import java.io.PrintWriter;
import picocli.CommandLine.Option;

/**
 * The {@code --device} option of a command that runs on one device (everything {@link Devices}
 * takes but {@code all}), as a picocli mixin: {@code @Mixin OneDevice device;}.
 */
final class OneDevice {
    @Option(names = "--device", defaultValue = "best", paramLabel = "DEVICE", description = "cpu, cuda, cuda:N or best (default: ${DEFAULT-VALUE}).")
    String spec;

    /**
     * Checks the value without opening anything.
     *
     * @throws UsageException naming {@code command} for {@code all}, or as {@link Devices#validate} does
     */
    void validate(String command) {
        if ("all".equals(Devices.validate(spec))) {
            throw new UsageException("--device all: " + command + " runs on one device (" + Devices.HELP.replace(", all", "") + ")");
        }
    }

    /** Opens the device, logging it on {@code err}; it is {@link Devices#first()}. */
    Devices open(PrintWriter err) {
        return Devices.open(spec, err);
    }
}
