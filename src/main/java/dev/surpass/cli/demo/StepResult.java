package dev.surpass.cli.demo;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a demo step did: its checks (each can fail), the files it wrote, where it ran, how long it
 * took, a one-line summary for the closing table, and on a GPU run the speed-ups over the CPU twin
 * it measured.
 */
public record StepResult(String title, String where, List<Check> checks, List<Path> files, List<Speedup> speedups, String summary,
                         double seconds) {
    /** One check: a name, whether it held, and the numbers behind it. */
    public record Check(String name, boolean passed, String detail) {
        @Override
        public String toString() {
            return (passed ? "ok   " : "FAIL ") + name + (detail == null || detail.isEmpty() ? "" : ": " + detail);
        }
    }

    /**
     * The same work timed on the CPU and on the demo's device, in one run.
     *
     * @param what          the work, e.g. "GPT: 90 new tokens"
     * @param cpuSeconds    its time on the CPU
     * @param deviceSeconds its time on the device
     */
    public record Speedup(String what, double cpuSeconds, double deviceSeconds) {
        /** How many times faster the device was (below 1: slower). */
        public double factor() {
            return cpuSeconds / deviceSeconds;
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%-44s ×%7.1f  (cpu %s, device %s)", what, factor(), time(cpuSeconds),
                    time(deviceSeconds));
        }

        private static String time(double s) {
            return s >= 1 ? String.format(java.util.Locale.ROOT, "%.2f s", s)
                    : s >= 1e-3 ? String.format(java.util.Locale.ROOT, "%.2f ms", s * 1e3) : String.format(java.util.Locale.ROOT, "%.1f µs", s * 1e6);
        }
    }

    public StepResult {
        checks = List.copyOf(checks);
        files = List.copyOf(files);
        speedups = List.copyOf(speedups);
    }

    public boolean passed() {
        return checks.stream().allMatch(Check::passed);
    }

    public long failures() {
        return checks.stream().filter(c -> !c.passed()).count();
    }

    /** The same result with its duration set (the runner times each step). */
    public StepResult withSeconds(double s) {
        return new StepResult(title, where, checks, files, speedups, summary, s);
    }

    /** A step that threw: one failed check carrying the exception. */
    public static StepResult crashed(String title, String where, Throwable e) {
        return new StepResult(title, where, List.of(new Check("ran to the end", false, e.toString())), List.of(), List.of(), "failed: " + e, 0);
    }

    /** Collects checks and files while a step runs. */
    public static final class Builder {
        private final String title, where;
        private final List<Check> checks = new ArrayList<>();
        private final List<Path> files = new ArrayList<>();
        private final List<Speedup> speedups = new ArrayList<>();

        public Builder(String title, String where) {
            this.title = title;
            this.where = where;
        }

        /** Records a check and returns whether it passed. */
        public boolean check(String name, boolean passed, String detail) {
            checks.add(new Check(name, passed, detail));
            return passed;
        }

        public Builder file(Path p) {
            files.add(p);
            return this;
        }

        /** Records the same work's time on the CPU and on the device. */
        public Builder speedup(String what, double cpuSeconds, double deviceSeconds) {
            speedups.add(new Speedup(what, cpuSeconds, deviceSeconds));
            return this;
        }

        public List<Check> checks() {
            return List.copyOf(checks);
        }

        public StepResult build(String summary) {
            return new StepResult(title, where, checks, files, speedups, summary, 0);
        }
    }
}
