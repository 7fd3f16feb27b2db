package dev.surpass.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.surpass.Device;
import dev.surpass.model.bert.MiniLm;
import dev.surpass.model.bert.SentenceEmbeddings;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * all-MiniLM-L6-v2 sentence embeddings on the CPU, 2 threads each, in one JMH run:
 * <ul>
 *   <li>{@code surpass}: {@link SentenceEmbeddings#embed} on {@link Device#cpu()} (tokenize,
 *       encoder forward over the real tokens only, mean pooling, L2), through the public API,
 *       {@code -Dsurpass.cpu.threads=2};
 *   <li>{@code onnxruntime}: an {@link OrtSession} on the same {@code .onnx} bytes (intra-op threads 2,
 *       inter-op 1, sequential execution, all graph optimizations), fed the same token ids — tokenized by
 *       the same WordPiece tokenizer ({@link SentenceEmbeddings#tokenize}), padded to the longest with
 *       an attention mask as sentence-transformers does — then mean pooling over the real tokens and
 *       L2 normalisation in plain Java.
 * </ul>
 * Tokenization is <b>included on both sides</b> (same tokenizer, same cost), as are batching,
 * pooling and normalisation; model loading is not (setup).
 *
 * <p>One op embeds {@code batch} sentences: batch 32 is all of {@link #SENTENCES} in one pass;
 * batch 1 takes the next sentence of the list on each op, so both sides
 * cycle through the same mix of lengths. Sentences/s = ops/s × batch. Setup checks that the two
 * give the same embeddings (cosine ≥ 0.9999 for each sentence, in the batching being measured).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1) // each op is itself multithreaded
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dsurpass.cpu.threads=2", "-Xmx4g"})
public class MiniLmBenchmark {
    public static final int THREADS = 2;

    /** 32 varied sentences: short and long, punctuation, numbers, code, non-ASCII. */
    public static final List<String> SENTENCES = List.of(
            "A man is eating food.",
            "A man is riding a horse.",
            "The new movie is awesome.",
            "?!... ;-)",
            "Größere Häuser kosten mehr — naïve café prices, 東京 2024!",
            "¿Dónde está la biblioteca?",
            "Привет, как дела?",
            "这是一个测试句子。",
            "The price rose 3.5% to $1,234.56 on 2024-06-01.",
            "for (int i = 0; i < n; i++) { sum += a[i]; }",
            "https://example.org/path?q=1&r=two#frag",
            "A dog is running through the park.",
            "A cat sleeps on the warm windowsill.",
            "The stock market fell sharply today after the central bank unexpectedly raised interest rates by half a point.",
            "Quantum computers use qubits instead of bits.",
            "She plays the violin beautifully.",
            "The weather is cold and rainy.",
            "I love eating pizza with friends.",
            "The theory of relativity changed physics.",
            "He forgot his keys at the office.",
            "Photosynthesis converts light into chemical energy, releasing oxygen as a by-product that most life on Earth depends on.",
            "The train was delayed by an hour.",
            "Water boils at 100 degrees Celsius at sea level.",
            "supercalifragilisticexpialidocious",
            "Mathematics: ∑ x² ≥ 0, ∀ x ∈ ℝ",
            "Yes.",
            "Can you recommend a good book about the history of the Roman Empire?",
            "The committee will meet again next Tuesday to review the budget proposal and vote on the final plan.",
            "Our flight to Lisbon leaves at 7:45 in the morning, so we should get to the airport by six.",
            "Machine learning models can embed sentences as vectors, so that similar meanings end up close together.",
            "Please restart the server and check the logs for any errors before deploying the new version.",
            "The end.");

    @Param({"1", "32"})
    public int batch;

    Device device;
    SentenceEmbeddings st;
    OrtEnvironment env;
    OrtSession session;
    String hiddenOutput;
    int hidden;
    int next;

    @Setup(Level.Trial)
    public void setup() throws OrtException {
        if (SENTENCES.size() % batch != 0) throw new IllegalStateException("batch " + batch + " does not divide " + SENTENCES.size());
        device = Device.cpu();
        MiniLm.Artifact files = MiniLm.find();
        st = new SentenceEmbeddings(MiniLm.model(device, files), MiniLm.tokenizer(files), MiniLm.MAX_LENGTH);
        hidden = st.model().config().hiddenSize();
        env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(THREADS);
            o.setInterOpNumThreads(1);
            o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            session = env.createSession(files.onnx(), o);
        }
        hiddenOutput = session.getOutputNames().iterator().next(); // last_hidden_state: the only output computed
        // both sides give the same embeddings, in the batching being measured
        double minCos = 1;
        for (int from = 0; from < SENTENCES.size(); from += batch) {
            List<String> part = SENTENCES.subList(from, from + batch);
            float[][] mine = st.embed(part), theirs = ortEmbed(part);
            for (int s = 0; s < batch; s++) {
                double c = SentenceEmbeddings.cosine(mine[s], theirs[s]);
                if (!(c >= 0.9999)) throw new IllegalStateException("sentence " + (from + s) + ": cosine with ONNX Runtime " + c);
                minCos = Math.min(minCos, c);
            }
        }
        System.out.printf(Locale.ROOT, "%nbatch %d: surpass vs ONNX Runtime, min cosine over %d sentences %.9f (ORT outputs %s, using %s)%n",
                batch, SENTENCES.size(), minCos, session.getOutputNames(), hiddenOutput);
        next = 0;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        if (session != null) session.close();
        if (st != null) st.close();
        if (device != null) device.close();
    }

    /** The sentences of the next op: all 32, or the next one in turn. */
    List<String> nextBatch() {
        if (batch == SENTENCES.size()) return SENTENCES;
        int from = next;
        next = (next + batch) % SENTENCES.size();
        return SENTENCES.subList(from, from + batch);
    }

    @Benchmark
    public float[][] surpass() {
        return st.embed(nextBatch());
    }

    @Benchmark
    public float[][] onnxruntime() throws OrtException {
        return ortEmbed(nextBatch());
    }

    /** Tokenize (the same tokenizer), pad, run ONNX Runtime, mean-pool over the real tokens, L2-normalise. */
    float[][] ortEmbed(List<String> sentences) throws OrtException {
        int b = sentences.size(), n = 0;
        int[][] ids = new int[b][];
        for (int s = 0; s < b; s++) n = Math.max(n, (ids[s] = st.tokenize(sentences.get(s))).length);
        long[] in = new long[b * n], mask = new long[b * n], types = new long[b * n];
        for (int s = 0; s < b; s++) {
            for (int t = 0; t < ids[s].length; t++) {
                in[s * n + t] = ids[s][t]; // pad id 0 ([PAD]) elsewhere
                mask[s * n + t] = 1;
            }
        }
        long[] shape = {b, n};
        float[][] out = new float[b][hidden];
        try (OnnxTensor i = OnnxTensor.createTensor(env, LongBuffer.wrap(in), shape);
             OnnxTensor m = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
             OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape);
             OrtSession.Result r = session.run(Map.of("input_ids", i, "attention_mask", m, "token_type_ids", t), Set.of(hiddenOutput))) {
            FloatBuffer h = ((OnnxTensor) r.get(0)).getFloatBuffer(); // [b, n, hidden]
            double[] acc = new double[hidden];
            for (int s = 0; s < b; s++) {
                java.util.Arrays.fill(acc, 0);
                int count = ids[s].length;
                for (int tok = 0; tok < count; tok++) {
                    int base = (s * n + tok) * hidden;
                    for (int e = 0; e < hidden; e++) acc[e] += h.get(base + e);
                }
                double ss = 0;
                for (int e = 0; e < hidden; e++) {
                    acc[e] /= Math.max(count, 1);
                    ss += acc[e] * acc[e];
                }
                double norm = Math.max(Math.sqrt(ss), 1e-12);
                for (int e = 0; e < hidden; e++) out[s][e] = (float) (acc[e] / norm);
            }
        }
        return out;
    }
}
