package dev.surpass.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.BiFunction;

/**
 * Runs benchmark cases on devices: per case a warm-up, then timed samples (each sample runs the op
 * enough times to last about a millisecond, then waits for the device), and the median. Memory-bound
 * ops report GB/s (bytes read + written), matmul GFLOP/s; both as a fraction of the peak measured on
 * the same device in the same run ({@link Peaks}). Times include allocating and freeing each output,
 * as a caller of the op pays them.
 */
public final class Bench {
    /** How long to measure. */
    public record Options(boolean quick, int warmup, double warmupSeconds, int samples, double maxSecondsPerCase) {
        public static Options of(boolean quick) {
            return quick ? new Options(true, 3, 1.0, 7, 0.6) : new Options(false, 5, 1.5, 21, 3.0);
        }

        /**
         * The quick cases with a short warm-up (0.25 s, held until the timings settle, up to 2.5 s)
         * and 5 samples within 0.25 s: for {@code surpass demo} on a GPU, which must finish in a
         * minute; its figures are noisier than {@code --quick}'s, and too short for the CPU's JIT.
         */
        public static Options brief() {
            return new Options(true, 3, 0.25, 5, 0.25);
        }
    }

    /** One case's outcome; {@code error} is non-null when the op failed (then the numbers are NaN). */
    public record Result(String op, String shape, String dtype, long bytes, double flops, int samples, int callsPerSample,
                         double medianMs, double minMs, String metric, double value, double fractionOfPeak, String error) {
        public boolean ok() {
            return error == null;
        }
    }

    /** Everything measured on one device. */
    public record DeviceReport(String device, String description, Peaks peaks, List<Result> results) {}

    /** A whole run. */
    public record Report(Instant started, boolean quick, List<DeviceReport> devices) {
        public int errors() {
            int n = 0;
            for (DeviceReport d : devices) for (Result r : d.results) if (!r.ok()) n++;
            return n;
        }
    }

    private Bench() {}

    /** Runs the default {@link BenchSuite} on each device, printing a table per device to {@code out}. */
    public static Report run(List<Device> devices, Options options, PrintWriter out) {
        return run(devices, options, out, BenchSuite::cases, Peaks::measure);
    }

    /** Runs the given cases and peak measurement (tests substitute small ones). */
    public static Report run(List<Device> devices, Options options, PrintWriter out,
                             BiFunction<Device, Boolean, List<BenchCase>> cases,
                             BiFunction<Device, Boolean, Peaks> peaks) {
        Instant started = Instant.now();
        List<DeviceReport> reports = new ArrayList<>();
        for (Device d : devices) {
            out.println("== " + d.name() + (options.quick() ? " (quick)" : ""));
            Peaks p = peaks.apply(d, options.quick());
            out.printf(Locale.ROOT, "peak compute: %s GFLOP/s  (%s)%n", num(p.gflops()), p.gflopsMethod());
            out.printf(Locale.ROOT, "peak memory:  %s GB/s  (%s)%n", num(p.gbps()), p.gbpsMethod());
            out.printf(Locale.ROOT, "%-14s | %-32s | %-5s | %10s | %12s | %6s%n", "op", "shape", "dtype", "median ms", "achieved", "peak");
            out.flush();
            List<Result> results = new ArrayList<>();
            for (BenchCase c : cases.apply(d, options.quick())) {
                Result r = measure(d, c, p, options);
                results.add(r);
                if (r.ok()) {
                    out.printf(Locale.ROOT, "%-14s | %-32s | %-5s | %10.4f | %7s %-4s | %5.1f%%%n", r.op(), r.shape(), r.dtype(),
                            r.medianMs(), num(r.value()), r.metric(), 100 * r.fractionOfPeak());
                } else {
                    out.printf(Locale.ROOT, "%-14s | %-32s | %-5s | ERROR %s%n", r.op(), r.shape(), r.dtype(), r.error());
                }
                out.flush();
            }
            reports.add(new DeviceReport(d.name(), d.describe(), p, results));
        }
        return new Report(started, options.quick(), reports);
    }

    /** Times one case on one device. */
    public static Result measure(Device d, BenchCase c, Peaks peaks, Options o) {
        String metric = c.computeBound() ? "GFLOP/s" : "GB/s";
        try (Workload w = c.setup().apply(d)) {
            warmUp(d, w, o);
            long deadline = System.nanoTime() + (long) (o.maxSecondsPerCase() * 1e9);
            // Calls per sample: enough to last ~1 ms so launch and sync overheads do not dominate.
            long one = timeCalls(d, w, 1);
            int calls = (int) Math.max(1, Math.min(1000, 1_000_000 / Math.max(1, one)));
            long[] ns = new long[o.samples()];
            int n = 0;
            while (n < ns.length) {
                ns[n++] = timeCalls(d, w, calls) / calls;
                if (n >= 3 && System.nanoTime() > deadline) break;
            }
            long[] got = Arrays.copyOf(ns, n);
            Arrays.sort(got);
            double median = n % 2 == 1 ? got[n / 2] : (got[n / 2 - 1] + got[n / 2]) / 2.0;
            double value = c.computeBound() ? c.flops() / median : c.bytes() / median; // GFLOP/s or GB/s (per ns = G per s)
            double peak = c.computeBound() ? peaks.gflops() : peaks.gbps();
            double fraction = Double.isFinite(peak) && peak > 0 ? value / peak : Double.NaN;
            return new Result(c.op(), c.shape(), c.dtype().name(), c.bytes(), c.flops(), n, calls, median / 1e6, got[0] / 1e6,
                    metric, value, fraction, null);
        } catch (RuntimeException | OutOfMemoryError | AssertionError e) {
            String msg = e.getClass().getSimpleName() + ": " + firstLine(e.getMessage());
            return new Result(c.op(), c.shape(), c.dtype().name(), c.bytes(), c.flops(), 0, 0, Double.NaN, Double.NaN,
                    metric, Double.NaN, Double.NaN, msg);
        }
    }

    /**
     * At least {@code warmup} calls and {@code warmupSeconds}, then on until the JIT has settled:
     * the best of the last 5 calls within 10% of the best of the 5 before (a Vector API kernel
     * still running in the interpreter or C1 is 10-1000× slower than compiled, and C2 may finish
     * seconds later on a busy machine). Capped at 10× warmupSeconds.
     */
    private static void warmUp(Device d, Workload w, Options o) {
        long start = System.nanoTime();
        long minEnd = start + (long) (o.warmupSeconds() * 1e9);
        long maxEnd = start + (long) (o.warmupSeconds() * 10e9);
        long prevBest = Long.MAX_VALUE, best = Long.MAX_VALUE;
        for (int i = 0; i < 100_000; i++) {
            long t = timeCalls(d, w, 1);
            best = Math.min(best, t);
            if (i % 5 == 4) {
                long now = System.nanoTime();
                boolean settled = prevBest != Long.MAX_VALUE && best * 10 <= prevBest * 11 && prevBest * 10 <= best * 11;
                if (i + 1 >= o.warmup() && now >= minEnd && (settled || now >= maxEnd)) return;
                prevBest = best;
                best = Long.MAX_VALUE;
            }
        }
    }

    private static long timeCalls(Device d, Workload w, int calls) {
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            Tensor y = w.run();
            y.close();
        }
        d.synchronize();
        return System.nanoTime() - t0;
    }

    private static String firstLine(String s) {
        if (s == null) return "(no message)";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    static String num(double v) {
        if (!Double.isFinite(v)) return "n/a";
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    // ---- JSON ---------------------------------------------------------------------------------

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The report as JSON (schema "surpass-bench/1"). */
    public static ObjectNode toJson(Report report) {
        ObjectNode root = JSON.createObjectNode();
        root.put("schema", "surpass-bench/1");
        root.put("started", report.started().toString());
        root.put("quick", report.quick());
        ObjectNode host = root.putObject("host");
        host.put("java", Runtime.version().toString());
        host.put("vm", System.getProperty("java.vm.name"));
        host.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        host.put("cores", Runtime.getRuntime().availableProcessors());
        host.put("vectorFloatLanes", jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length());
        ArrayNode devs = root.putArray("devices");
        for (DeviceReport d : report.devices()) {
            ObjectNode dn = devs.addObject();
            dn.put("device", d.device());
            dn.put("description", d.description());
            ObjectNode pk = dn.putObject("peak");
            putNum(pk, "gflops", d.peaks().gflops());
            pk.put("gflopsMethod", d.peaks().gflopsMethod());
            putNum(pk, "gbps", d.peaks().gbps());
            pk.put("gbpsMethod", d.peaks().gbpsMethod());
            ArrayNode rs = dn.putArray("results");
            for (Result r : d.results()) {
                ObjectNode rn = rs.addObject();
                rn.put("op", r.op());
                rn.put("shape", r.shape());
                rn.put("dtype", r.dtype());
                rn.put("bytes", r.bytes());
                putNum(rn, "flops", r.flops());
                rn.put("metric", r.metric());
                if (r.ok()) {
                    rn.put("samples", r.samples());
                    rn.put("callsPerSample", r.callsPerSample());
                    putNum(rn, "medianMs", r.medianMs());
                    putNum(rn, "minMs", r.minMs());
                    putNum(rn, "value", r.value());
                    putNum(rn, "fractionOfPeak", r.fractionOfPeak());
                } else {
                    rn.put("error", r.error());
                }
            }
        }
        return root;
    }

    private static void putNum(ObjectNode n, String field, double v) {
        if (Double.isFinite(v)) n.put(field, v);
        else n.putNull(field);
    }

    /** Writes the report's JSON to {@code file} (parents created). */
    public static void writeJson(Report report, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        JSON.writeValue(file.toFile(), toJson(report));
    }
}
