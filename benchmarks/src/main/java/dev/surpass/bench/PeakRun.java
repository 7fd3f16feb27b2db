package dev.surpass.bench;

import java.util.Collection;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * One JMH run of some benchmarks together with {@link FmaPeakBenchmark}, so a report can state
 * each result as a fraction of the FMA peak measured in the same run.
 */
record PeakRun(Collection<RunResult> results, double peakGflops) {
    /** Runs {@code benchmarks} (unless the command line names its own) plus the FMA peak. */
    static PeakRun run(String[] args, Class<?>... benchmarks) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        var opts = new OptionsBuilder().parent(cli);
        if (cli.getIncludes().isEmpty()) {
            for (Class<?> b : benchmarks) opts.include(b.getSimpleName());
            opts.include(FmaPeakBenchmark.class.getSimpleName());
        }
        Collection<RunResult> results = new Runner(opts.build()).run();
        double peak = Double.NaN;
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().endsWith("fmaPeak")) {
                peak = r.getPrimaryResult().getScore() * FmaPeakBenchmark.FLOPS_PER_OP / 1e9;
            }
        }
        return new PeakRun(results, peak);
    }
}
