package dev.surpass.cli;

import dev.surpass.Device;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The devices a command runs on, from a {@code --device} value: {@code cpu}, {@code cuda} (GPU 0),
 * {@code cuda:N}, {@code all} (the CPU and every GPU) or {@code best} ({@link Device#best()}).
 * Logs each choice on stderr. Close it to close every device it opened.
 */
final class Devices implements AutoCloseable {
    static final String HELP = "cpu, cuda, cuda:N, all or best";

    /** A device that could not be opened under {@code all}: counted as a failure by callers. */
    record Problem(String device, String reason) {}

    private final List<Device> devices;
    private final List<Problem> problems;

    private Devices(List<Device> devices, List<Problem> problems) {
        this.devices = devices;
        this.problems = problems;
    }

    List<Device> devices() {
        return devices;
    }

    /** The first device; for a one-device value ({@link OneDevice}) the only one. */
    Device first() {
        return devices.getFirst();
    }

    List<Problem> problems() {
        return problems;
    }

    /** Short device label for tables: "cpu" or "cuda:0". */
    static String label(Device d) {
        return d.isCpu() ? "cpu" : "cuda:" + d.ordinal();
    }

    /**
     * Opens the devices {@code spec} names.
     *
     * @throws UsageException when the value is malformed or names a GPU this host lacks
     */
    static Devices open(String spec, PrintWriter err) {
        String s = validate(spec);
        List<Device> list = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        switch (s) {
            case "cpu" -> list.add(Device.cpu());
            case "best" -> list.add(Device.best());
            case "all" -> {
                list.add(Device.cpu());
                int n = Device.cudaDeviceCount();
                if (n == 0) {
                    err.println("surpass: no CUDA device (" + dev.surpass.cuda.CudaRuntime.unavailableReason() + "); running on the CPU only");
                }
                for (int i = 0; i < n; i++) {
                    try {
                        list.add(Device.cuda(i));
                    } catch (RuntimeException e) {
                        err.println("surpass: cuda:" + i + " failed to open: " + Main.oneLine(e.getMessage()));
                        problems.add(new Problem("cuda:" + i, Main.oneLine(e.getMessage())));
                    }
                }
            }
            default -> list.add(Device.cuda(s.equals("cuda") ? 0 : Integer.parseInt(s.substring(5))));
        }
        for (Device d : list) err.println("surpass: device " + d.name());
        err.flush();
        return new Devices(list, problems);
    }

    /**
     * Checks a {@code --device} value without opening anything; returns it normalised.
     *
     * @throws UsageException when it is malformed or names a GPU this host lacks
     */
    static String validate(String spec) {
        String s = spec == null ? "best" : spec.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "cpu", "best", "all" -> {
                return s;
            }
            default -> {}
        }
        int ordinal;
        if (s.equals("cuda")) {
            ordinal = 0;
        } else if (s.startsWith("cuda:")) {
            try {
                ordinal = Integer.parseInt(s.substring(5));
            } catch (NumberFormatException e) {
                throw new UsageException("--device " + spec + ": expected " + HELP);
            }
        } else {
            throw new UsageException("--device " + spec + ": expected " + HELP);
        }
        int n = Device.cudaDeviceCount();
        if (n == 0) {
            throw new UsageException("--device " + spec + ": no CUDA device: " + dev.surpass.cuda.CudaRuntime.unavailableReason()
                    + " (use --device cpu)");
        }
        if (ordinal < 0 || ordinal >= n) {
            throw new UsageException("--device " + spec + ": this host has " + n + " GPU(s) (cuda:0..cuda:" + (n - 1) + ")");
        }
        return s;
    }

    @Override
    public void close() {
        for (Device d : devices) d.close();
    }
}
