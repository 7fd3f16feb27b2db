package dev.surpass.bench;

import java.util.Collection;
import java.util.Locale;
import org.openjdk.jmh.results.RunResult;

/**
 * Runs {@link GemmBenchmark} and {@link FmaPeakBenchmark} in one JMH run and prints GFLOP/s, the
 * fraction of the measured FMA peak, and the surpass / OpenBLAS ratio per shape. Takes JMH's
 * usual command-line options (e.g. {@code -f 1 -wi 3 -i 5}).
 */
public final class GemmReport {
    private GemmReport() {}

    public static void main(String[] args) throws Exception {
        PeakRun run = PeakRun.run(args, GemmBenchmark.class);
        Collection<RunResult> results = run.results();
        double peak = run.peakGflops();
        System.out.println();
        System.out.printf(Locale.ROOT, "Vector API fp32 FMA peak (2 threads): %.1f GFLOP/s%n", peak);
        System.out.printf(Locale.ROOT, "%-16s %-10s %12s %10s %10s %14s%n", "shape MxNxK", "impl", "ops/s", "GFLOP/s", "of peak", "surpass/BLAS");
        for (String shape : new String[] {"1024x1024x1024", "4096x4096x1024"}) {
            double ours = Double.NaN, blas = Double.NaN;
            for (RunResult r : results) {
                String name = r.getParams().getBenchmark();
                if (!name.contains("GemmBenchmark") || !shape.equals(r.getParams().getParam("shape"))) continue;
                double gf = r.getPrimaryResult().getScore() * GemmBenchmark.flops(shape) / 1e9;
                if (name.endsWith(".surpass")) ours = gf;
                if (name.endsWith(".openblas")) blas = gf;
            }
            if (Double.isNaN(ours) && Double.isNaN(blas)) continue;
            System.out.printf(Locale.ROOT, "%-16s %-10s %12.2f %10.1f %9.0f%% %14s%n", shape, "surpass",
                    ours * 1e9 / GemmBenchmark.flops(shape), ours, 100 * ours / peak, String.format(Locale.ROOT, "%.2f", ours / blas));
            System.out.printf(Locale.ROOT, "%-16s %-10s %12.2f %10.1f %9.0f%%%n", shape, "openblas",
                    blas * 1e9 / GemmBenchmark.flops(shape), blas, 100 * blas / peak);
        }
    }
}
