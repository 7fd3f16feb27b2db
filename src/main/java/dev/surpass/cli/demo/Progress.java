package dev.surpass.cli.demo;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A console progress indicator for a step with a known number of units. On a terminal it redraws
 * one line on stderr ({@code label [#####-----] 5/10 detail}); elsewhere (a pipe, a log, CI) it
 * prints a plain line at each quarter and one at the end, so logs stay short.
 */
public final class Progress implements AutoCloseable {
    private static final int WIDTH = 24;
    private final PrintWriter err;
    private final String label;
    private final int total;
    private final boolean interactive;
    private final LongSupplier clock;
    private final long start;
    private int done, lastQuarter, lastLen;
    private boolean closed;

    public Progress(PrintWriter err, String label, int total, boolean interactive) {
        this(err, label, total, interactive, System::nanoTime);
    }

    Progress(PrintWriter err, String label, int total, boolean interactive, LongSupplier clock) {
        if (total < 1) throw new IllegalArgumentException("Progress: total must be >= 1, got " + total);
        this.err = err;
        this.label = label;
        this.total = total;
        this.interactive = interactive;
        this.clock = clock;
        this.start = clock.getAsLong();
        if (interactive) draw("");
    }

    /** One more unit done; {@code detail} names it (e.g. "attention prefill L=4096"). */
    public synchronized void step(String detail) {
        if (closed) return;
        done = Math.min(total, done + 1);
        if (interactive) {
            draw(detail);
        } else {
            int quarter = done * 4 / total;
            if (quarter > lastQuarter && done < total) {
                lastQuarter = quarter;
                err.printf(Locale.ROOT, "  %s: %d/%d (%s)%n", label, done, total, detail);
                err.flush();
            }
        }
    }

    public synchronized int done() {
        return done;
    }

    private void draw(String detail) {
        int filled = done * WIDTH / total;
        String line = String.format(Locale.ROOT, "  %s [%s%s] %d/%d %s", label, "#".repeat(filled), "-".repeat(WIDTH - filled),
                done, total, detail);
        if (line.length() > 100) line = line.substring(0, 100);
        int pad = Math.max(0, lastLen - line.length());
        err.print("\r" + line + " ".repeat(pad));
        err.flush();
        lastLen = line.length();
    }

    /** Ends the indicator with a final line: units done and the time taken. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        double s = (clock.getAsLong() - start) / 1e9;
        String line = String.format(Locale.ROOT, "  %s: %d/%d done in %.1f s", label, done, total, s);
        if (interactive) {
            err.print("\r" + line + " ".repeat(Math.max(0, lastLen - line.length())) + "\n");
        } else {
            err.println(line);
        }
        err.flush();
    }
}
