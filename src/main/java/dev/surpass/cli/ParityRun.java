package dev.surpass.cli;

import dev.surpass.Device;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityResult;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Runs parity cases on devices and prints one table row per case and device:
 * {@code op | shape | dtype | device | relL2 | maxAbs | tol | ok}. Shared by {@code parity} and
 * {@code demo}.
 */
final class ParityRun {

    record Summary(int passed, int failed, int skipped) {}

    private ParityRun() {}

    /** Cases whose op name contains any of the comma-separated {@code filter} words (all when blank). */
    static List<ParityCase> select(List<ParityCase> all, String filter) {
        if (filter == null || filter.isBlank()) return all;
        String[] words = Arrays.stream(filter.toLowerCase(Locale.ROOT).split(","))
                .map(String::strip).filter(w -> !w.isEmpty()).toArray(String[]::new);
        List<ParityCase> out = new ArrayList<>();
        for (ParityCase c : all) {
            String op = c.op().toLowerCase(Locale.ROOT);
            for (String w : words) {
                if (op.contains(w)) {
                    out.add(c);
                    break;
                }
            }
        }
        if (out.isEmpty()) {
            Set<String> ops = new LinkedHashSet<>();
            for (ParityCase c : all) ops.add(c.op());
            throw new UsageException("no parity case matches --filter '" + filter + "'; ops: "
                    + (ops.isEmpty() ? "none registered" : String.join(", ", ops)));
        }
        return out;
    }

    /** Runs every case on every device, prints the table, the failures and the closing count. */
    static Summary run(List<Device> devices, List<Devices.Problem> problems, List<ParityCase> cases, long seed,
                       PrintWriter out) {
        return run(devices, problems, cases, seed, out, false);
    }

    /**
     * As {@link #run(List, List, List, long, PrintWriter)}; with {@code perOp} the table has one row
     * per op, dtype and device (case count, worst relL2 / tolerance, ok) instead of one per case.
     */
    static Summary run(List<Device> devices, List<Devices.Problem> problems, List<ParityCase> cases, long seed,
                       PrintWriter out, boolean perOp) {
        PrintWriter table = perOp ? new PrintWriter(java.io.Writer.nullWriter()) : out;
        java.util.Map<String, double[]> groups = new java.util.LinkedHashMap<>(); // cases, failed, worst err/tol, worst relL2
        // Column widths from the cases, so every row lines up however long a shape is.
        int opW = 2, shapeW = 5;
        for (ParityCase c : cases) {
            opW = Math.max(opW, c.op().length());
            shapeW = Math.max(shapeW, c.shape().length());
        }
        final String row = "%-" + opW + "s | %-" + shapeW + "s | %-5s | %-7s | %-9s | %-9s | %-7s | %s%n";
        table.printf(row, "op", "shape", "dtype", "device", "relL2", "maxAbs", "tol", "ok");
        table.println("-".repeat(opW) + "-+-" + "-".repeat(shapeW) + "-+-" + "-".repeat(5) + "-+-" + "-".repeat(7) + "-+-"
                + "-".repeat(9) + "-+-" + "-".repeat(9) + "-+-" + "-".repeat(7) + "-+-----");
        int passed = 0, failed = 0, skipped = 0;
        List<String> skips = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        Set<String> failedOps = new LinkedHashSet<>();
        for (Device d : devices) {
            String dev = Devices.label(d);
            for (ParityCase c : cases) {
                String unsupported = c.unsupportedOn(d);
                if (unsupported != null) {
                    skipped++;
                    table.printf(row, c.op(), c.shape(), c.dtype(), dev, "-", "-", "-", "SKIP");
                    skips.add(c.op() + " on " + dev + ": " + unsupported);
                    continue;
                }
                ParityResult r = null;
                String error = null;
                try {
                    r = c.run(d, seed);
                } catch (RuntimeException | AssertionError | OutOfMemoryError e) {
                    error = e.getClass().getSimpleName() + ": " + Main.oneLine(e.getMessage());
                }
                boolean ok = error == null && r != null && r.passed();
                if (ok) passed++;
                else {
                    failed++;
                    failedOps.add(c.op());
                }
                double[] g = groups.computeIfAbsent(c.op() + "|" + c.dtype() + "|" + dev, k -> new double[4]);
                g[0]++;
                if (!ok) g[1]++;
                if (r != null) {
                    g[2] = Math.max(g[2], r.relL2() / r.tolerance());
                    g[3] = Math.max(g[3], r.relL2());
                }
                if (error != null) {
                    table.printf(row, c.op(), c.shape(), c.dtype(), dev, "-", "-", "-", "ERROR");
                    failures.add(c.op() + " " + c.shape() + " " + c.dtype() + " on " + dev + ": " + error);
                } else {
                    table.printf(row, c.op(), c.shape(), c.dtype(), dev, sci(r.relL2()), sci(r.maxAbs()), sci1(r.tolerance()),
                            ok ? "ok" : (r.nonFinite() ? "FAIL (non-finite)" : "FAIL"));
                    if (!ok) {
                        failures.add(c.op() + " " + c.shape() + " " + c.dtype() + " on " + dev + ": relL2 " + sci(r.relL2())
                                + " > tol " + sci1(r.tolerance()) + (r.nonFinite() ? ", non-finite output" : ""));
                    }
                }
                table.flush();
            }
        }
        if (perOp) {
            String fmt = "%-24s | %-5s | %-7s | %5s | %-9s | %-13s | %s%n";
            out.printf(fmt, "op", "dtype", "device", "cases", "max relL2", "max relL2/tol", "ok");
            for (var e : groups.entrySet()) {
                String[] k = e.getKey().split("\\|");
                double[] g = e.getValue();
                out.printf(fmt, k[0], k[1], k[2], (int) g[0], sci(g[3]), String.format(Locale.ROOT, "%.3f", g[2]),
                        g[1] == 0 ? "ok" : (int) g[1] + " FAILED");
            }
        }
        for (Devices.Problem p : problems) {
            failed++;
            failures.add(p.device() + ": could not open: " + p.reason());
        }
        if (!failures.isEmpty()) {
            out.println();
            out.println("failures (seed " + seed + "):");
            for (String f : failures) out.println("  " + f);
            if (!failedOps.isEmpty()) {
                out.println("rerun: surpass parity --seed " + seed + " --filter " + String.join(",", failedOps));
            }
        }
        if (skipped > 0) {
            out.println();
            out.println("skipped (" + skipped + "):");
            for (String sk : new LinkedHashSet<>(skips)) out.println("  " + sk);
            out.println(skipped + " skipped (no kernel on that device yet)");
        }
        out.println(passed + " passed, " + failed + " failed");
        out.flush();
        return new Summary(passed, failed, skipped);
    }

    static String sci(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.3e", v) : String.valueOf(v);
    }

    private static String sci1(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.1e", v) : String.valueOf(v);
    }
}
