package dev.surpass.cli.demo;

import dev.surpass.Device;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * What a demo step gets: the device to run on, stdout for its tables, stderr for progress, the
 * folder for its files ({@code demo-out/} by default) and whether progress bars may redraw.
 */
public record DemoContext(Device device, PrintWriter out, PrintWriter err, Path outDir, boolean interactive) {
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
