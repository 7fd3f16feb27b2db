package dev.surpass.model.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * all-MiniLM-L6-v2 end to end on the CPU (weights and tokenizer from the test-scope Maven
 * artifact): unit norms, semantic sanity, the smoke values of data-and-models.md §1, and
 * {@code last_hidden_state} and the pooled embeddings against ONNX Runtime (test-scope dependency)
 * running the same {@code .onnx} on the same ids.
 */
class MiniLmTest {
    static final List<String> SENTENCES = List.of(
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "A man is riding a horse.",
            "The new movie is awesome.",
            "The new film is so great.",
            "",
            "?!... ;-)",
            "Größere Häuser kosten mehr — naïve café prices, 東京 2024!");

    /** SENTENCES and 42 more: empty-ish, punctuation-only, non-ASCII, numbers, code, specials, long. */
    static final List<String> VARIED = java.util.stream.Stream.concat(SENTENCES.stream(), java.util.stream.Stream.of(
            " ", "...", "!!!???", "—–-", "¿Dónde está la biblioteca?", "Ça va très bien, merci.", "Привет, как дела?",
            "这是一个测试句子。", "日本語のテキストも大丈夫ですか", "한국어 문장입니다.", "مرحبا بالعالم", "שלום עולם",
            "Emoji only: 😀🎉🚀", "The price rose 3.5% to $1,234.56 on 2024-06-01.", "x = f(y) + g[z] * 2;",
            "for (int i = 0; i < n; i++) { sum += a[i]; }", "https://example.org/path?q=1&r=two#frag", "user@example.com wrote:",
            "[CLS] hello [SEP] world [MASK]", "ALL CAPS SENTENCE WITH SHOUTING", "tHe MiXeD cAsE tExT",
            "A dog is running through the park.", "A cat sleeps on the warm windowsill.", "The stock market fell sharply today.",
            "Quantum computers use qubits instead of bits.", "She plays the violin beautifully.", "The weather is cold and rainy.",
            "I love eating pizza with friends.", "The theory of relativity changed physics.", "He forgot his keys at the office.",
            "Photosynthesis converts light into chemical energy.", "The train was delayed by an hour.", "Water boils at 100 degrees Celsius.",
            "An unbelievably long antidisestablishmentarianism word.", "supercalifragilisticexpialidocious", "tab\tseparated\tvalues\nand lines",
            "zero\u200bwidth space and soft\u00adhyphen", "Ångström, Æsir, Øresund, Þórr", "ﬁ ligature and ｆｕｌｌｗｉｄｔｈ letters",
            "Mathematics: ∑ x² ≥ 0, ∀ x ∈ ℝ", "1 2 3 4 5 6 7 8 9 10", "The end.")).toList();

    static Device cpu;
    static MiniLm.Artifact artifact;
    static SentenceEmbeddings st;
    static AutoCloseable ort; // an OrtPeer, made on first use (typed loosely so this class loads without ONNX Runtime)

    @BeforeAll
    static void setUp() {
        MiniLmFixture.assumeMiniLm();
        cpu = Device.cpu();
        artifact = MiniLm.find();
        st = new SentenceEmbeddings(MiniLm.model(cpu, artifact), MiniLm.tokenizer(artifact), MiniLm.MAX_LENGTH);
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (ort != null) ort.close();
        if (st != null) st.close();
        if (cpu != null) cpu.close();
    }

    /** last_hidden_state from ONNX Runtime (2 threads) on the same .onnx bytes. */
    static float[][][] runOrt(int[][] ids, int[][] mask) throws Exception {
        MiniLmFixture.assumeOnnxRuntime();
        if (ort == null) ort = new OrtPeer(artifact.onnx(), 2);
        return ((OrtPeer) ort).lastHiddenState(ids, mask);
    }

    @Test
    void embeddingsAreUnitLengthAndMeaningful() {
        float[][] e = st.embed(SENTENCES);
        assertEquals(SENTENCES.size(), e.length);
        for (int i = 0; i < e.length; i++) {
            assertEquals(384, e[i].length);
            double n = 0;
            for (float x : e[i]) n += (double) x * x;
            assertEquals(1.0, Math.sqrt(n), 1e-5, "norm of sentence " + i);
        }
        double food = SentenceEmbeddings.cosine(e[0], e[1]), horse = SentenceEmbeddings.cosine(e[0], e[2]);
        double film = SentenceEmbeddings.cosine(e[3], e[4]), cross = SentenceEmbeddings.cosine(e[0], e[3]);
        // an independent numpy run (data-and-models.md §1): 0.755, 0.247, 0.876, cross-topic ≈ 0
        assertEquals(0.755, food, 2e-3);
        assertEquals(0.247, horse, 2e-3);
        assertEquals(0.876, film, 2e-3);
        assertTrue(food - horse > 0.4 && film - cross > 0.6, "paraphrases " + food + ", " + film + " vs unrelated " + horse + ", " + cross);
        float[] first = {0.03324f, 0.00441f, -0.00628f, 0.04838f, -0.13870f};
        for (int i = 0; i < 5; i++) assertEquals(first[i], e[0][i], 1e-4, "dim " + i);
    }

    @Test
    void batchedEqualsAlone() {
        float[][] all = st.embed(SENTENCES);
        for (int i : new int[] {0, 6, 7}) {
            float[] one = st.embed(List.of(SENTENCES.get(i)))[0];
            assertArrayEquals(one, all[i], 2e-6f, "sentence " + i + " alone vs padded in the batch");
        }
    }

    @Test
    void matchesOnnxRuntime() throws Exception {
        assertEquals(50, VARIED.size());
        int b = VARIED.size();
        int[][] ids = new int[b][];
        int n = 0;
        for (int i = 0; i < b; i++) n = Math.max(n, (ids[i] = st.tokenize(VARIED.get(i))).length);
        int[][] padded = new int[b][n], mask = new int[b][n];
        for (int i = 0; i < b; i++) {
            System.arraycopy(ids[i], 0, padded[i], 0, ids[i].length);
            for (int t = 0; t < ids[i].length; t++) mask[i][t] = 1;
        }
        long t0 = System.nanoTime();
        float[][][] ref = runOrt(padded, mask);
        long t1 = System.nanoTime();
        float[] got;
        try (Tensor h = st.model().forward(padded, mask, null)) {
            got = h.toFloatArray();
        }
        double worst = 0;
        for (int s = 0; s < b; s++) {
            for (int t = 0; t < n; t++) { // padded positions too: both attend only to the real keys
                for (int i = 0; i < 384; i++) {
                    double r = ref[s][t][i];
                    worst = Math.max(worst, Math.abs(got[(s * n + t) * 384 + i] - r) / (1 + Math.abs(r)));
                }
            }
        }
        System.out.printf("MiniLM [%d x %d] vs ONNX Runtime: last_hidden_state max |Δ|/(1+|ref|) = %.3g (ORT %.0f ms, surpass %.0f ms)%n",
                b, n, worst, (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6);
        assertTrue(worst < 1e-4, "last_hidden_state vs ONNX Runtime: max |Δ|/(1+|ref|) = " + worst);
        // pooled + normalised, and the similarity ranking against sentence 0
        float[][] mine = st.embed(VARIED);
        float[] flatRef = new float[b * n * 384];
        for (int s = 0; s < b; s++) for (int t = 0; t < n; t++) System.arraycopy(ref[s][t], 0, flatRef, (s * n + t) * 384, 384);
        float[][] theirs = SentenceEmbeddings.meanPool(flatRef, mask, 384);
        double minCos = 1;
        for (int s = 0; s < b; s++) {
            theirs[s] = SentenceEmbeddings.normalize(theirs[s]);
            double c = SentenceEmbeddings.cosine(mine[s], theirs[s]);
            assertTrue(c >= 0.99999, "sentence " + s + ": cosine with ONNX Runtime " + c);
            minCos = Math.min(minCos, c);
        }
        System.out.printf("MiniLM pooled embeddings vs ONNX Runtime: min cosine %.9f over %d sentences%n", minCos, b);
        // the similarity ranking against sentence 0: every pair that ONNX Runtime separates by more
        // than 1e-4 is ordered the same way (exact ties, such as "" and " ", may fall either way)
        for (int i = 1; i < b; i++) {
            for (int j = i + 1; j < b; j++) {
                double ti = SentenceEmbeddings.cosine(theirs[0], theirs[i]), tj = SentenceEmbeddings.cosine(theirs[0], theirs[j]);
                if (Math.abs(ti - tj) <= 1e-4) continue;
                double mi = SentenceEmbeddings.cosine(mine[0], mine[i]), mj = SentenceEmbeddings.cosine(mine[0], mine[j]);
                assertEquals(ti > tj, mi > mj, "ranking of sentences " + i + " and " + j);
            }
        }
    }

    @Test
    void longInputIsTruncatedAndStillMatches() throws Exception {
        String text = "The quick brown fox jumps over the lazy dog, again and again. ".repeat(40);
        int[] ids = st.tokenize(text);
        assertEquals(MiniLm.MAX_LENGTH, ids.length);
        assertEquals(102, ids[ids.length - 1]);
        int[][] one = {ids}, mask = {IntStream.range(0, ids.length).map(i -> 1).toArray()};
        float[][][] ref = runOrt(one, mask);
        try (Tensor h = st.model().forward(one, null, null)) {
            float[] got = h.toFloatArray();
            double worst = 0;
            for (int t = 0; t < ids.length; t++) {
                for (int i = 0; i < 384; i++) worst = Math.max(worst, Math.abs(got[t * 384 + i] - ref[0][t][i]) / (1 + Math.abs(ref[0][t][i])));
            }
            assertTrue(worst < 1e-4, "256 tokens vs ONNX Runtime: " + worst);
        }
    }
}
