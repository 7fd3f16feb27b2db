package dev.surpass.bench;

import java.util.Locale;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs {@link MiniLmBenchmark} (surpass and ONNX Runtime, batch 1 and 32, one JMH run) and prints
 * sentences/s for both and the surpass / ONNX Runtime ratio. Takes JMH's usual command-line
 * options (e.g. {@code -f 1 -wi 3 -i 5}).
 */
public final class MiniLmReport {
    private MiniLmReport() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        var opts = new OptionsBuilder().parent(cli);
        if (cli.getIncludes().isEmpty()) opts.include(MiniLmBenchmark.class.getSimpleName());
        var results = new Runner(opts.build()).run();
        System.out.println();
        System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 sentence embeddings, CPU, %d threads each, tokenization included%n",
                MiniLmBenchmark.THREADS);
        System.out.printf(Locale.ROOT, "%-6s %16s %16s %16s%n", "batch", "surpass sent/s", "ORT sent/s", "surpass/ORT");
        for (int batch : new int[] {1, 32}) {
            double mine = Double.NaN, ort = Double.NaN;
            for (RunResult r : results) {
                String name = r.getParams().getBenchmark();
                if (!name.contains("MiniLmBenchmark") || !Integer.toString(batch).equals(r.getParams().getParam("batch"))) continue;
                double sps = r.getPrimaryResult().getScore() * batch;
                if (name.endsWith(".surpass")) mine = sps;
                if (name.endsWith(".onnxruntime")) ort = sps;
            }
            if (Double.isNaN(mine) && Double.isNaN(ort)) continue;
            System.out.printf(Locale.ROOT, "%-6d %16.1f %16.1f %16.2f%n", batch, mine, ort, mine / ort);
        }
    }
}
