package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.model.bert.SentenceEmbeddings;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A decoder LLM as a sentence embedder, as Qwen3-Embedding ships: a {@code Qwen3Model} checkpoint
 * (no {@code model.} prefix, no {@code lm_head}), a tokenizer whose post-processor appends the EOS,
 * and sentence-transformers modules Transformer → Pooling (last token) → Normalize. Against
 * LlamaTest's float64 reference of the final hidden states; last-token pooling, the q/k norms and
 * the appended EOS shown to matter; refusals named.
 */
class Qwen3EmbeddingTest {
    @TempDir
    Path tmp;

    static final int EOS = 2; // "</s>" in LlamaTest's SentencePiece vocabulary
    static final int[] NO_WINDOW = {-1, -1};

    /** Qwen3Test's weights as Qwen3Model.save_pretrained names them. */
    static Map<String, float[]> bare(Map<String, float[]> w) {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (var e : w.entrySet()) if (e.getKey().startsWith("model.")) m.put(e.getKey().substring("model.".length()), e.getValue());
        return m;
    }

    /** LlamaTest's tokenizer with Qwen3-Embedding's post-processor: the sentence, then the EOS. */
    static String eosTokenizerJson() throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = (ObjectNode) json.readTree(sentencePieceTokenizerJson());
        ObjectNode pp = root.putObject("post_processor").put("type", "TemplateProcessing");
        ArrayNode single = pp.putArray("single");
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        single.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        ObjectNode sp = pp.putObject("special_tokens").putObject("</s>").put("id", "</s>");
        sp.putArray("ids").add(EOS);
        sp.putArray("tokens").add("</s>");
        return json.writeValueAsString(root);
    }

    /** A sentence-transformers folder around a Qwen3Model checkpoint; {@code pooling} is the Pooling config's mode field. */
    Path folder(String name, Map<String, float[]> weights, String pooling) throws IOException {
        Path d = tmp.resolve(name);
        String config = Qwen3Test.config("").replace("Qwen3ForCausalLM", "Qwen3Model");
        writeCheckpoint(d, config, entries(weights, false), DType.F32, 1);
        Files.writeString(d.resolve("tokenizer.json"), eosTokenizerJson());
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"padding_side\": \"left\", \"model_max_length\": 131072}");
        Files.writeString(d.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 24, \"do_lower_case\": false}");
        Files.writeString(d.resolve("modules.json"), "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                + " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
                + " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}]");
        Files.createDirectories(d.resolve("1_Pooling"));
        Files.writeString(d.resolve("1_Pooling/config.json"), ("{\"word_embedding_dimension\": " + E + ", \"pooling_mode_cls_token\": false,"
                + " \"pooling_mode_mean_tokens\": false, \"pooling_mode_max_tokens\": false, \"pooling_mode_mean_sqrt_len_tokens\": false,"
                + " \"pooling_mode_weightedmean_tokens\": false, \"pooling_mode_lasttoken\": false, \"include_prompt\": true}")
                        .replace("\"" + pooling + "\": false", "\"" + pooling + "\": true"));
        Files.createDirectories(d.resolve("2_Normalize"));
        return d;
    }

    static final String[] SENTENCES = {"the quick brown fox", "hi", "a much longer sentence that runs past the twenty four token limit", "zz"};

    /** The float64 embedding of {@code ids}: the final hidden state of the last token (or the mean), L2-normalised. */
    static double[] refEmbedding(Map<String, float[]> w, int[] ids, boolean last) {
        double[][] h = hidden(w, ids, Qwen2Test.invFreq1e6(), 1, NO_WINDOW, LlamaTest::swiGlu);
        double[] v = new double[E];
        if (last) v = h[ids.length - 1].clone();
        else for (double[] row : h) for (int i = 0; i < E; i++) v[i] += row[i] / ids.length;
        double n = 0;
        for (double x : v) n += x * x;
        n = Math.sqrt(n);
        for (int i = 0; i < E; i++) v[i] /= n;
        return v;
    }

    /** {@code n} random ids in [0, V). */
    static int[] ids(long seed, int n) {
        Random r = new Random(seed);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.nextInt(V);
        return a;
    }

    static double maxAbs(float[] got, double[] want) {
        double m = 0;
        for (int i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
        return m;
    }

    // fp32 vs float64 over 2 layers, unit vectors: measured ~8e-8 (sentence 0); a wrong pooled row, missing q/k
    // norm or missing EOS moves the vector by > 1e-2
    static final double TOL = 2e-5;

    @Test
    void lastTokenEmbeddingsMatchFloat64Reference() throws IOException {
        Path d = folder("qwen3-embedding", bare(Qwen3Test.wn), "pooling_mode_lasttoken");
        try (Device cpu = Device.cpu(); SentenceEmbeddings st = SentenceEmbeddings.load(cpu, d)) {
            assertInstanceOf(LlamaEncoder.class, st.encoder());
            assertThrows(IllegalStateException.class, st::model);
            assertTrue(st.pooling().lastToken() && st.normalizes() && st.dense().isEmpty());
            assertEquals(24, st.maxLength());
            assertEquals(E, st.dimension());
            float[][] got = st.embed(List.of(SENTENCES));
            Map<String, float[]> noNorm = new LinkedHashMap<>(Qwen3Test.wn);
            noNorm.keySet().removeIf(k -> k.endsWith("q_norm.weight") || k.endsWith("k_norm.weight"));
            for (int s = 0; s < SENTENCES.length; s++) {
                int[] ids = st.tokenize(SENTENCES[s]);
                assertEquals(EOS, ids[ids.length - 1], "the EOS ends sentence " + s + " (truncation keeps it)");
                assertTrue(ids.length <= 24);
                double err = maxAbs(got[s], refEmbedding(Qwen3Test.wn, ids, true));
                assertTrue(err <= TOL, "sentence " + s + ": max|Δ| " + err);
                // each part matters: last-token pooling (vs mean), the q/k norms, the appended EOS
                assertTrue(maxAbs(got[s], refEmbedding(Qwen3Test.wn, ids, false)) > 1e-2, "mean pooling differs, sentence " + s);
                assertTrue(maxAbs(got[s], refEmbedding(noNorm, ids, true)) > 1e-2, "q/k norms, sentence " + s);
                int[] noEos = Arrays.copyOf(ids, ids.length - 1);
                assertTrue(maxAbs(got[s], refEmbedding(Qwen3Test.wn, noEos, true)) > 1e-2, "EOS, sentence " + s);
            }
            assertEquals(24, st.tokenize(SENTENCES[2]).length, "the long sentence is truncated");
            // one sentence alone embeds as in the batch (nothing leaks between packed sentences)
            float[] alone = st.embed(List.of(SENTENCES[0]))[0];
            for (int i = 0; i < E; i++) assertEquals(got[0][i], alone[i], 1e-6);
        }
    }

    /** The same folder on CUDA (varlen prefill attention, cuBLAS projections): the float64 reference's embeddings. */
    @Test
    @org.junit.jupiter.api.Tag("gpu")
    void cudaEmbeddingsMatchFloat64Reference() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        Path d = folder("qwen3-cuda", bare(Qwen3Test.wn), "pooling_mode_lasttoken");
        try (Device gpu = Device.cuda(0); SentenceEmbeddings st = SentenceEmbeddings.load(gpu, d)) {
            float[][] got = st.embed(List.of(SENTENCES));
            for (int s = 0; s < SENTENCES.length; s++) {
                double err = maxAbs(got[s], refEmbedding(Qwen3Test.wn, st.tokenize(SENTENCES[s]), true));
                assertTrue(err <= 1e-4, "sentence " + s + ": max|Δ| " + err); // fp32 in other summation orders (unmeasured: no GPU where it was written)
            }
        }
    }

    @Test
    void meanPoolingFolderPoolsTheMean() throws IOException {
        Path d = folder("qwen3-mean", bare(Qwen3Test.wn), "pooling_mode_mean_tokens");
        try (Device cpu = Device.cpu(); SentenceEmbeddings st = SentenceEmbeddings.load(cpu, d)) {
            float[] got = st.embed(List.of(SENTENCES[0]))[0];
            assertTrue(maxAbs(got, refEmbedding(Qwen3Test.wn, st.tokenize(SENTENCES[0]), false)) <= TOL);
        }
    }

    @Test
    void hiddenStatesArePerSequenceAndBaseModelsHaveNoLogits() throws IOException {
        Path d = folder("qwen3-base", bare(Qwen3Test.wn), "pooling_mode_lasttoken");
        int[][] seqs = {ids(5, 9), ids(6, 1), ids(7, 17)};
        try (Device cpu = Device.cpu(); Llama m = Llama.loadBase(cpu, d); Tensor h = m.hiddenStates(seqs)) {
            assertTrue(!m.hasHead() && m.describe().contains("no LM head"), m.describe());
            float[] got = h.toFloatArray();
            assertEquals((9 + 1 + 17) * E, got.length);
            int row = 0;
            for (int[] s : seqs) {
                double[][] want = hidden(Qwen3Test.wn, s, Qwen2Test.invFreq1e6(), 1, NO_WINDOW, LlamaTest::swiGlu);
                float[] part = Arrays.copyOfRange(got, row * E, (row + s.length) * E);
                assertTrue(maxRelErr(part, want) <= LlamaTest.TOL, "sequence of " + s.length);
                row += s.length;
            }
            var e = assertThrows(IllegalStateException.class, () -> m.logits(new int[] {1}, new int[] {0}, null, (l, q, k, v) -> null));
            assertTrue(e.getMessage().contains("LM head"), e.getMessage());
            var bad = assertThrows(IllegalArgumentException.class, () -> m.hiddenStates(new int[][] {{1, 2}, {3, V}}));
            assertTrue(bad.getMessage().contains("sequences[1][1]"), bad.getMessage());
            assertThrows(IllegalArgumentException.class, () -> m.hiddenStates(new int[][] {new int[65]}));
        }
        // a causal LM's folder loads for hidden states too (its lm_head unread), with the same values
        Path lm = tmp.resolve("qwen3-lm");
        writeCheckpoint(lm, Qwen3Test.config(""), entries(Qwen3Test.wn, false), DType.F32, 1);
        try (Device cpu = Device.cpu(); Llama m = Llama.loadBase(cpu, lm); Tensor h = m.hiddenStates(new int[][] {seqs[2]})) {
            assertTrue(maxRelErr(h.toFloatArray(), hidden(Qwen3Test.wn, seqs[2], Qwen2Test.invFreq1e6(), 1, NO_WINDOW, LlamaTest::swiGlu))
                    <= LlamaTest.TOL);
        }
    }

    @Test
    void refusalsNameTheFileAndTensor() throws IOException {
        Map<String, float[]> missing = bare(Qwen3Test.wn);
        missing.remove("layers.1.self_attn.k_norm.weight");
        Path d = folder("qwen3-missing", missing, "pooling_mode_lasttoken");
        Path ok = folder("qwen3-ok", bare(Qwen3Test.wn), "pooling_mode_lasttoken");
        try (Device cpu = Device.cpu()) {
            var e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, d));
            assertTrue(e.getMessage().contains("layers.1.self_attn.k_norm.weight"), e.getMessage());
            var tooLong = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, ok, 65));
            assertTrue(tooLong.getMessage().contains("65") && tooLong.getMessage().contains(ok.toString()), tooLong.getMessage());
            // the causal-LM loader wants model.* names and a head: it refuses the base checkpoint rather than inventing one
            var head = assertThrows(IllegalArgumentException.class, () -> Llama.load(cpu, ok));
            assertTrue(head.getMessage().contains("model.embed_tokens.weight"), head.getMessage());
            Files.writeString(ok.resolve("1_Pooling/config.json"), "{\"pooling_mode_lasttoken\": \"yes\"}");
            var pool = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, ok));
            assertTrue(pool.getMessage().contains("pooling_mode_lasttoken"), pool.getMessage());
        }
    }

    @Test
    void embedCommandWritesTheEmbeddings() throws IOException {
        Path d = folder("qwen3-cli", bare(Qwen3Test.wn), "pooling_mode_lasttoken");
        Path out = tmp.resolve("e.safetensors");
        StringWriter o = new StringWriter(), err = new StringWriter();
        int code;
        try (PrintWriter po = new PrintWriter(o, true); PrintWriter pe = new PrintWriter(err, true)) {
            code = dev.surpass.cli.Main.run(po, pe, "embed", "--device", "cpu", "--model", d.toString(), "--out", out.toString(),
                    SENTENCES[0], SENTENCES[1]);
        }
        assertEquals(0, code, err.toString());
        assertTrue(err.toString().contains("qwen3: 2 layers"), err.toString());
        try (Device cpu = Device.cpu(); SentenceEmbeddings st = SentenceEmbeddings.load(cpu, d); SafeTensorsFile f = SafeTensors.open(out);
             Tensor t = f.tensor("embeddings", cpu)) {
            assertEquals(List.of(2L, (long) E), Arrays.stream(t.shape()).boxed().toList());
            float[] got = t.toFloatArray();
            float[][] want = st.embed(List.of(SENTENCES[0], SENTENCES[1]));
            for (int s = 0; s < 2; s++) for (int i = 0; i < E; i++) assertEquals(want[s][i], got[s * E + i], 0f);
        }
    }
}
