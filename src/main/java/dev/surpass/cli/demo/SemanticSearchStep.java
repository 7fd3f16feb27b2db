package dev.surpass.cli.demo;

import dev.surpass.Device;
import dev.surpass.model.bert.BertModel;
import dev.surpass.model.bert.MiniLm;
import dev.surpass.model.bert.SentenceEmbeddings;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Semantic search with all-MiniLM-L6-v2 ({@link MiniLm}: the encoder read from the ONNX export's
 * initializers, WordPiece tokenizer, mean pooling, L2): a dozen sentences on different topics are
 * embedded, and each query ranks them by cosine similarity. Checks: each hand-picked query's top
 * result is the expected sentence, every embedding has unit norm and every cosine lies in [−1, 1];
 * when ONNX Runtime is on the class path or in the local Maven repository (a test-scope
 * dependency: a machine that ran the build has it) the embeddings are compared with it
 * ({@link OrtEmbeddings}); on a GPU run the CPU twin embeds
 * them too, to check the two agree and time the speed-up. The MiniLM artifact comes from the
 * class path or the local Maven repository; without it the step says it skipped and how to get it.
 */
public final class SemanticSearchStep implements DemoStep {
    /** A query and the index of the sentence it should find first. */
    public record Query(String text, int expected) {}

    /** The sentences searched and the queries. */
    public record Config(List<String> sentences, List<Query> queries) {
        public Config {
            sentences = List.copyOf(sentences);
            queries = List.copyOf(queries);
            for (Query q : queries) {
                if (q.expected() < 0 || q.expected() >= sentences.size()) throw new IllegalArgumentException("SemanticSearchStep: bad expected index");
            }
        }

        /** Twelve sentences on twelve topics, three queries. */
        public static Config defaults() {
            return new Config(List.of(
                    "The cat curled up on the warm windowsill and fell asleep.",
                    "Stock markets fell sharply after the central bank raised interest rates.",
                    "Boil the pasta in salted water for ten minutes, then drain it.",
                    "The striker scored twice in the second half to win the match.",
                    "A new telescope captured images of a distant galaxy.",
                    "Regular exercise and enough sleep improve your health.",
                    "The train to London was delayed by heavy snow.",
                    "She is learning to play the violin in an orchestra.",
                    "The laptop's battery lasts about ten hours on a single charge.",
                    "Elizabeth Bennet refused Mr. Darcy's first proposal of marriage.",
                    "Tomatoes and basil grow well in a sunny garden.",
                    "The museum opened an exhibition of Impressionist paintings."),
                    List.of(new Query("How long should I cook spaghetti?", 2),
                            new Query("Which team won the football game?", 3),
                            new Query("What did astronomers see in space?", 4)));
        }
    }

    private final Config config;
    private final Supplier<MiniLm.Artifact> artifact;

    /** With the artifact found by {@link MiniLm#find}. */
    public SemanticSearchStep(Config config) {
        this(config, MiniLm::find);
    }

    /** With the artifact from {@code artifact} (which throws {@link IllegalStateException} when there is none). */
    public SemanticSearchStep(Config config, Supplier<MiniLm.Artifact> artifact) {
        this.config = config;
        this.artifact = artifact;
    }

    @Override
    public String title() {
        return "semantic search: all-MiniLM-L6-v2 sentence embeddings rank a dozen sentences for a query";
    }

    @Override
    public StepResult run(DemoContext ctx) throws Exception {
        Device dev = ctx.device();
        PrintWriter out = ctx.out();
        StepResult.Builder res = new StepResult.Builder("semantic search", dev.name());
        MiniLm.Artifact a;
        try {
            a = artifact.get();
        } catch (IllegalStateException e) {
            out.println("  skipped: all-MiniLM-L6-v2 not found. Get it with: mvn dependency:get -Dartifact=" + MiniLm.ARTIFACT
                    + " -Dtransitive=false");
            return res.build("skipped: all-MiniLM-L6-v2 not found (mvn dependency:get -Dartifact=" + MiniLm.ARTIFACT + " -Dtransitive=false)");
        }
        List<String> sentences = config.sentences();
        List<String> all = new ArrayList<>(sentences);
        for (Query q : config.queries()) all.add(q.text());
        Device twin = ctx.twin();
        float[][] e, ort = null, cpu = null;
        String ortProblem = null;
        long t0;
        double seconds, cpuSeconds = 0;
        try (Progress p = ctx.progress("semantic search", twin == null ? 2 : 3)) {
            BertModel m = MiniLm.model(dev, a);
            try (SentenceEmbeddings se = new SentenceEmbeddings(m, MiniLm.tokenizer(a), MiniLm.MAX_LENGTH)) {
                p.step("model loaded");
                se.embed(all.subList(0, 1)); // warm-up: the first pass loads kernels and fills caches
                t0 = System.nanoTime();
                e = se.embed(all);
                seconds = (System.nanoTime() - t0) / 1e9;
                p.step("embedded");
                if (twin != null) {
                    try (SentenceEmbeddings cse = new SentenceEmbeddings(MiniLm.model(twin, a), MiniLm.tokenizer(a), MiniLm.MAX_LENGTH)) {
                        cse.embed(all.subList(0, 1)); // warm-up, as on the device
                        t0 = System.nanoTime();
                        cpu = cse.embed(all);
                        cpuSeconds = (System.nanoTime() - t0) / 1e9;
                    }
                    p.step("embedded on the CPU");
                }
                if (OrtEmbeddings.available()) {
                    try {
                        ort = OrtEmbeddings.embed(a.onnx(), se::tokenize, all);
                    } catch (ReflectiveOperationException | RuntimeException | LinkageError ex) { // LinkageError: its native library did not load
                        ortProblem = ex.toString();
                    }
                }
            }
        }
        out.printf(Locale.ROOT, "  all-MiniLM-L6-v2 from %s; %d sentences + %d queries embedded in %.2f s (%d dimensions)%n", a.where(),
                sentences.size(), config.queries().size(), seconds, e[0].length);
        double worstNorm = 0, minCos = 1, maxCos = -1;
        for (float[] v : e) {
            double n = 0;
            for (float x : v) n += (double) x * x;
            worstNorm = Math.max(worstNorm, Math.abs(Math.sqrt(n) - 1));
        }
        int hits = 0;
        StringBuilder summary = new StringBuilder();
        for (int qi = 0; qi < config.queries().size(); qi++) {
            Query q = config.queries().get(qi);
            float[] qv = e[sentences.size() + qi];
            double[] cos = new double[sentences.size()];
            for (int i = 0; i < cos.length; i++) {
                cos[i] = SentenceEmbeddings.cosine(qv, e[i]);
                minCos = Math.min(minCos, cos[i]);
                maxCos = Math.max(maxCos, cos[i]);
            }
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < cos.length; i++) order.add(i);
            order.sort(Comparator.comparingDouble(i -> -cos[i]));
            out.println("  query: " + q.text());
            for (int r = 0; r < Math.min(3, order.size()); r++) {
                int i = order.get(r);
                out.printf(Locale.ROOT, "    %d. %.4f  %s%n", r + 1, cos[i], sentences.get(i));
            }
            boolean hit = order.get(0) == q.expected();
            if (hit) hits++;
            res.check("top result for \"" + q.text() + "\"", hit,
                    String.format(Locale.ROOT, "got \"%s\" (%.3f), expected \"%s\" (%.3f)", sentences.get(order.get(0)), cos[order.get(0)],
                            sentences.get(q.expected()), cos[q.expected()]));
            if (qi == 0) summary.append(String.format(Locale.ROOT, "\"%s\" → \"%s\" (%.3f)", q.text(), sentences.get(order.get(0)),
                    cos[order.get(0)]));
        }
        res.check("embeddings have unit norm", worstNorm < 1e-4, String.format(Locale.ROOT, "max | |e| − 1 | = %.2g", worstNorm));
        res.check("cosine similarities within [-1, 1]", minCos >= -1 - 1e-6 && maxCos <= 1 + 1e-6,
                String.format(Locale.ROOT, "range [%.4f, %.4f]", minCos, maxCos));
        if (cpu != null) {
            double minAgree = 1;
            for (int i = 0; i < e.length; i++) minAgree = Math.min(minAgree, SentenceEmbeddings.cosine(e[i], cpu[i]));
            res.check("embeddings: " + dev.name() + " agrees with the CPU", minAgree > 0.99999,
                    String.format(Locale.ROOT, "min cosine %.9f over %d sentences (bound 0.99999)", minAgree, e.length));
            res.speedup("MiniLM: embed " + all.size() + " sentences", cpuSeconds, seconds);
        }
        if (ort != null || ortProblem != null) {
            double minAgree = 1;
            if (ort != null) for (int i = 0; i < e.length; i++) minAgree = Math.min(minAgree, SentenceEmbeddings.cosine(e[i], ort[i]));
            res.check("embeddings agree with ONNX Runtime", ort != null && minAgree > 0.9999, ort == null ? "ONNX Runtime failed: " + ortProblem
                    : String.format(Locale.ROOT, "min cosine %.9f over %d sentences (bound 0.9999; ONNX Runtime from %s)", minAgree, e.length,
                            OrtEmbeddings.where()));
        } else {
            out.println("  ONNX Runtime not found (neither on the class path nor in the local Maven repository as " + OrtEmbeddings.GROUP + ":"
                    + OrtEmbeddings.NAME + "; `./surpass test` downloads it): no comparison here");
        }
        return res.build(hits + "/" + config.queries().size() + " queries found their sentence; " + summary);
    }
}
