package dev.surpass.cli.demo;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a demo step did: its checks (each can fail), the files it wrote, where it ran, how long it
 * took, and a one-line summary for the closing table.
 */
public record StepResult(String title, String where, List<Check> checks, List<Path> files, String summary, double seconds) {
    /** One check: a name, whether it held, and the numbers behind it. */
    public record Check(String name, boolean passed, String detail) {
        @Override
        public String toString() {
            return (passed ? "ok   " : "FAIL ") + name + (detail == null || detail.isEmpty() ? "" : ": " + detail);
        }
    }

    public StepResult {
        checks = List.copyOf(checks);
        files = List.copyOf(files);
    }

    public boolean passed() {
        return checks.stream().allMatch(Check::passed);
    }

    public long failures() {
        return checks.stream().filter(c -> !c.passed()).count();
    }

    /** The same result with its duration set (the runner times each step). */
    public StepResult withSeconds(double s) {
        return new StepResult(title, where, checks, files, summary, s);
    }

    /** A step that threw: one failed check carrying the exception. */
    public static StepResult crashed(String title, String where, Throwable e) {
        return new StepResult(title, where, List.of(new Check("ran to the end", false, e.toString())), List.of(), "failed: " + e, 0);
    }

    /** Collects checks and files while a step runs. */
    public static final class Builder {
        private final String title, where;
        private final List<Check> checks = new ArrayList<>();
        private final List<Path> files = new ArrayList<>();

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

        public List<Check> checks() {
            return List.copyOf(checks);
        }

        public StepResult build(String summary) {
            return new StepResult(title, where, checks, files, summary, 0);
        }
    }
}
