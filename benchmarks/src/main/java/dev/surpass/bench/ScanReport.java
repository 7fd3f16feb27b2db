package dev.surpass.bench;

import java.util.Locale;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs {@link ScanBenchmark} (the scan and the memory copy, one JMH run) and prints the scan's
 * GB/s and its fraction of the copy bandwidth measured in the same run. Takes JMH's usual
 * command-line options (e.g. {@code -f 1 -wi 3 -i 5}).
 */
public final class ScanReport {
    private ScanReport() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        var opts = new OptionsBuilder().parent(cli);
        if (cli.getIncludes().isEmpty()) opts.include(ScanBenchmark.class.getSimpleName());
        double scan = Double.NaN, copy = Double.NaN;
        for (RunResult r : new Runner(opts.build()).run()) {
            String name = r.getParams().getBenchmark();
            if (name.endsWith("ScanBenchmark.scan")) scan = r.getPrimaryResult().getScore();
            if (name.endsWith("ScanBenchmark.copy")) copy = r.getPrimaryResult().getScore();
        }
        double scanGbps = scan * ScanBenchmark.scanBytes() / 1e9, copyGbps = copy * ScanBenchmark.copyBytes() / 1e9;
        System.out.println();
        System.out.printf(Locale.ROOT, "memory copy (%d MiB, 2 threads, read + write): %.2f GB/s%n", ScanBenchmark.COPY_MIB, copyGbps);
        System.out.printf(Locale.ROOT, "selective scan fp32 Bt%d Dm%d N%d L%d: %.2f scans/s, %.1f ms, %.2f GB/s = %.0f%% of the copy%n",
                ScanBenchmark.BT, ScanBenchmark.DM, ScanBenchmark.N, ScanBenchmark.L, scan, 1e3 / scan, scanGbps,
                100 * scanGbps / copyGbps);
    }
}
