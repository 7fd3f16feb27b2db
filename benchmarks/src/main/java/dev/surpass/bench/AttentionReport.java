package dev.surpass.bench;

import java.util.Collection;
import java.util.Locale;
import org.openjdk.jmh.results.RunResult;

/**
 * Runs {@link AttentionBenchmark} and {@link FmaPeakBenchmark} in one JMH run and prints, for the
 * fused attention and the matmul-softmax-matmul composition, causal and not: GFLOP/s
 * (4·B·H·N²·D, halved for causal), the fraction of the FMA peak measured in the same run, and the
 * fused / composition ratio. Takes JMH's usual command-line options (e.g. {@code -f 1 -wi 3 -i 5}).
 */
public final class AttentionReport {
    private AttentionReport() {}

    public static void main(String[] args) throws Exception {
        PeakRun run = PeakRun.run(args, AttentionBenchmark.class);
        Collection<RunResult> results = run.results();
        double peak = run.peakGflops();
        System.out.println();
        System.out.printf(Locale.ROOT, "attention prefill fp32 B%d H%d N%d D%d, 2 threads%n", AttentionBenchmark.B, AttentionBenchmark.H,
                AttentionBenchmark.N, AttentionBenchmark.D);
        System.out.printf(Locale.ROOT, "Vector API fp32 FMA peak (2 threads): %.1f GFLOP/s%n", peak);
        System.out.printf(Locale.ROOT, "%-11s %-12s %10s %10s %10s %16s%n", "mask", "impl", "ms/op", "GFLOP/s", "of peak", "fused/composition");
        for (boolean causal : new boolean[] {false, true}) {
            double fused = Double.NaN, comp = Double.NaN;
            for (RunResult r : results) {
                String name = r.getParams().getBenchmark();
                if (!name.contains("AttentionBenchmark") || !Boolean.toString(causal).equals(r.getParams().getParam("causal"))) continue;
                double gf = r.getPrimaryResult().getScore() * AttentionBenchmark.flops(causal) / 1e9;
                if (name.endsWith(".fused")) fused = gf;
                if (name.endsWith(".composition")) comp = gf;
            }
            if (Double.isNaN(fused) && Double.isNaN(comp)) continue;
            String mask = causal ? "causal" : "non-causal";
            double fl = AttentionBenchmark.flops(causal);
            System.out.printf(Locale.ROOT, "%-11s %-12s %10.2f %10.1f %9.0f%% %16s%n", mask, "fused",
                    fl / fused / 1e6, fused, 100 * fused / peak, String.format(Locale.ROOT, "%.2f", fused / comp));
            System.out.printf(Locale.ROOT, "%-11s %-12s %10.2f %10.1f %9.0f%%%n", mask, "composition",
                    fl / comp / 1e6, comp, 100 * comp / peak);
        }
    }
}
