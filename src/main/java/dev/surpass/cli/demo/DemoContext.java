package dev.surpass.cli.demo;

import dev.surpass.Device;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * What a demo step gets: the device to run on, stdout for its tables, stderr for progress, the
 * folder for its files ({@code demo-out/} by default), whether progress bars may redraw, and on a
 * GPU run the CPU as {@code twin}: steps run a share of their work there too, check that the two
 * agree and record the speed-ups ({@link StepResult.Builder#speedup}). {@code twin} is null when
 * the demo runs on the CPU; the context does not own it (nor {@code device}).
 */
public record DemoContext(Device device, Device twin, PrintWriter out, PrintWriter err, Path outDir, boolean interactive) {
    /** Without a twin (a CPU run). */
    public DemoContext(Device device, PrintWriter out, PrintWriter err, Path outDir, boolean interactive) {
        this(device, null, out, err, outDir, interactive);
    }

    /** A progress indicator for {@code total} units of work, labelled {@code label}. */
    public Progress progress(String label, int total) {
        return new Progress(err, label, total, interactive);
    }

    /** Whether stderr is a terminal that can redraw a line (and TERM is not dumb). */
    public static boolean terminal() {
        java.io.Console c = System.console();
        String term = System.getenv("TERM");
        return c != null && c.isTerminal() && term != null && !term.equals("dumb");
    }
}
