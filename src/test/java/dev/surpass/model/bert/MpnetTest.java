package dev.surpass.model.bert;

import static dev.surpass.model.decoder.RefMath.around1;
import static dev.surpass.model.decoder.RefMath.fill;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.RefMath;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny random MPNet (2 layers, hidden 48 = 3 heads of 16, intermediate 70, vocab 41, 110
 * positions, 32 relative buckets, eps 1e-5) saved with transformers' MPNetModel names, against a
 * float64 reference written here from the formulas: positions counted from padding id 1, no token
 * types, post-LN layers whose attention scores get the relative position bias of T5's
 * bidirectional buckets and HF's additive mask. Sequences of 100 tokens reach every bucket.
 */
class MpnetTest {
    static final int E = 48, NL = 2, H = 3, D = 16, F = 70, V = 41, P = 110, NB = 32, PAD = 1;
    static final double EPS = 1e-5;
    static final String CONFIG = "{\"architectures\": [\"MPNetForMaskedLM\"], \"model_type\": \"mpnet\", \"hidden_size\": 48,"
            + " \"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 70, \"max_position_embeddings\": 110,"
            + " \"vocab_size\": 41, \"layer_norm_eps\": 1e-5, \"hidden_act\": \"gelu\", \"relative_attention_num_buckets\": 32,"
            + " \"pad_token_id\": 1, \"bos_token_id\": 0, \"eos_token_id\": 2}";

    @TempDir
    static Path tmp;
    static Device cpu;
    static Map<String, float[]> w;
    static Path dir;
    static BertModel model;

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        w = weights(new Random(20261128L));
        dir = tmp.resolve("mpnet");
        writeCheckpoint(dir, CONFIG, entries(w, "mpnet."), DType.F32, 1);
        model = BertModel.load(cpu, dir);
    }

    @AfterAll
    static void tearDown() {
        model.close();
        cpu.close();
    }

    /** Random weights in MPNetModel's naming (no prefix); the relative bias is large enough to move the output. */
    static Map<String, float[]> weights(Random r) {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("embeddings.word_embeddings.weight", fill(new float[V * E], r, 0.5));
        m.put("embeddings.position_embeddings.weight", fill(new float[P * E], r, 0.3));
        m.put("embeddings.LayerNorm.weight", around1(E, r, 0.2));
        m.put("embeddings.LayerNorm.bias", fill(new float[E], r, 0.1));
        for (int l = 0; l < NL; l++) {
            String p = "encoder.layer." + l + ".";
            for (String s : new String[] {"attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o"}) {
                m.put(p + s + ".weight", fill(new float[E * E], r, 1.5 / Math.sqrt(E)));
                m.put(p + s + ".bias", fill(new float[E], r, 0.1));
            }
            m.put(p + "attention.LayerNorm.weight", around1(E, r, 0.2));
            m.put(p + "attention.LayerNorm.bias", fill(new float[E], r, 0.1));
            m.put(p + "intermediate.dense.weight", fill(new float[F * E], r, 1 / Math.sqrt(E)));
            m.put(p + "intermediate.dense.bias", fill(new float[F], r, 0.1));
            m.put(p + "output.dense.weight", fill(new float[E * F], r, 1 / Math.sqrt(F)));
            m.put(p + "output.dense.bias", fill(new float[E], r, 0.1));
            m.put(p + "output.LayerNorm.weight", around1(E, r, 0.2));
            m.put(p + "output.LayerNorm.bias", fill(new float[E], r, 0.1));
        }
        m.put("encoder.relative_attention_bias.weight", fill(new float[NB * H], r, 1.5));
        return m;
    }

    static long[] shapeOf(String name) {
        if (name.contains("word_embeddings")) return new long[] {V, E};
        if (name.contains("position_embeddings")) return new long[] {P, E};
        if (name.contains("relative_attention_bias")) return new long[] {NB, H};
        if (name.endsWith("intermediate.dense.weight")) return new long[] {F, E};
        if (name.endsWith("intermediate.dense.bias")) return new long[] {F};
        if (name.endsWith("output.dense.weight")) return new long[] {E, F};
        if (name.endsWith(".weight") && !name.contains("LayerNorm")) return new long[] {E, E};
        return new long[] {E};
    }

    static Map<String, Entry> entries(Map<String, float[]> w, String prefix) {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (var e : w.entrySet()) m.put(prefix + e.getKey(), new Entry(e.getValue(), shapeOf(e.getKey())));
        return m;
    }

    // ---------------------------------------------------------------------------------------------
    // float64 reference

    /**
     * The bucket of {@code relative = key − query} from the step boundaries torch 1.13 gives for
     * transformers' relative_position_bucket (32 buckets, max distance 128) over −3000..3000:
     * n = −relative; |n| below 8 is exact; from 8 the buckets start at 8, 12, 16, 23, 32, 46, 64, 91;
     * +16 when n < 0.
     */
    static int bucket(int relative) {
        int n = -relative, ret = n < 0 ? 16 : 0, a = Math.abs(n);
        if (a < 8) return ret + a;
        int[] starts = {8, 12, 16, 23, 32, 46, 64, 91};
        int b = 0;
        for (int i = 0; i < starts.length; i++) if (a >= starts[i]) b = 8 + i;
        return ret + b;
    }

    /** HF's create_position_ids_from_input_ids with padding id 1. */
    static int[] positions(int[] ids) {
        int[] pos = new int[ids.length];
        int count = 0;
        for (int t = 0; t < ids.length; t++) pos[t] = ids[t] == PAD ? PAD : PAD + ++count;
        return pos;
    }

    static double[][] reference(int[] ids, int[] mask) {
        return reference(ids, mask, positions(ids), true);
    }

    /** One row of the padded batch: last hidden state [n][E] for positions {@code pos}, with or without the relative bias. */
    static double[][] reference(int[] ids, int[] mask, int[] pos, boolean relative) {
        int n = ids.length;
        float[] we = w.get("embeddings.word_embeddings.weight"), pe = w.get("embeddings.position_embeddings.weight");
        float[] rel = w.get("encoder.relative_attention_bias.weight");
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = (double) we[ids[t] * E + i] + pe[pos[t] * E + i];
        x = ln(x, "embeddings.LayerNorm");
        for (int l = 0; l < NL; l++) {
            String p = "encoder.layer." + l + ".";
            double[][] q = lin(x, p + "attention.attn.q", E, E), k = lin(x, p + "attention.attn.k", E, E), v = lin(x, p + "attention.attn.v", E, E);
            double[][] ctx = new double[n][E];
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < n; i++) {
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        double dot = 0;
                        for (int c = 0; c < D; c++) dot += q[i][h * D + c] * k[j][h * D + c];
                        s[j] = dot / Math.sqrt(D) + (relative ? rel[bucket(j - i) * H + h] : 0);
                        if (mask[j] == 0) s[j] = (float) s[j] + -Float.MAX_VALUE; // HF adds the float32 minimum in float32
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j < n; j++) for (int c = 0; c < D; c++) ctx[i][h * D + c] += s[j] / sum * v[j][h * D + c];
                }
            }
            double[][] o = lin(ctx, p + "attention.attn.o", E, E);
            for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) o[t][i] += x[t][i];
            x = ln(o, p + "attention.LayerNorm");
            double[][] inter = lin(x, p + "intermediate.dense", E, F);
            for (double[] row : inter) for (int i = 0; i < F; i++) row[i] = 0.5 * row[i] * (1 + BertModelTest.erf(row[i] / Math.sqrt(2)));
            double[][] out = lin(inter, p + "output.dense", F, E);
            for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) out[t][i] += x[t][i];
            x = ln(out, p + "output.LayerNorm");
        }
        return x;
    }

    static double[][] lin(double[][] x, String name, int in, int out) {
        return RefMath.linear(x, w.get(name + ".weight"), w.get(name + ".bias"), in, out);
    }

    static double[][] ln(double[][] x, String name) {
        return RefMath.layerNorm(x, w.get(name + ".weight"), w.get(name + ".bias"), EPS);
    }

    /** max |got[s] − want| over every row of the padded output. */
    static double worst(float[] got, int s, int n, double[][] want) {
        double m = 0;
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) m = Math.max(m, Math.abs(got[(s * n + t) * E + i] - want[t][i]));
        return m;
    }

    // ---------------------------------------------------------------------------------------------

    /** Lengths 100 / 37 / 1 padded with id 1 (masked); a real id 1 inside the second row takes the padding position as in HF. */
    static int[][][] batch() {
        Random r = new Random(11);
        int n = 100;
        int[] lens = {100, 37, 1};
        int[][] ids = new int[3][n], mask = new int[3][n];
        for (int b = 0; b < 3; b++) {
            for (int t = 0; t < n; t++) {
                boolean real = t < lens[b];
                ids[b][t] = real ? 2 + r.nextInt(V - 2) : PAD;
                mask[b][t] = real ? 1 : 0;
            }
        }
        ids[1][5] = PAD; // attended, but positioned as a pad
        return new int[][][] {ids, mask};
    }

    @Test
    void bucketsFollowTorch() {
        for (int rel = -600; rel <= 600; rel++) assertEquals(bucket(rel), BertModel.relativeBucket(rel), "relative position " + rel);
        assertEquals(15, BertModel.relativeBucket(-5000)); // a key far before the query: n > 0
        assertEquals(31, BertModel.relativeBucket(5000));
    }

    @Test
    void paddedBatchMatchesTheFloat64Reference() {
        int[][][] in = batch();
        int[][] ids = in[0], mask = in[1];
        int n = ids[0].length;
        float[] got;
        try (Tensor h = model.forward(ids, mask, null)) {
            assertArrayEquals(new long[] {3, n, E}, h.shape());
            got = h.toFloatArray();
        }
        double worst = 0, noBias = 0, indexPositions = 0;
        for (int b = 0; b < 3; b++) {
            worst = Math.max(worst, worst(got, b, n, reference(ids[b], mask[b]))); // padded rows too, as HF gives them
            noBias = Math.max(noBias, worst(got, b, n, reference(ids[b], mask[b], positions(ids[b]), false)));
        }
        int[] plain = new int[n];
        for (int t = 0; t < n; t++) plain[t] = t + PAD + 1;
        indexPositions = worst(got, 1, n, reference(ids[1], mask[1], plain, true));
        assertTrue(worst < 2e-4, "max |surpass − float64 reference| = " + worst);
        assertTrue(noBias > 0.1, "the relative position bias must matter: " + noBias);
        assertTrue(indexPositions > 0.1, "positions counted from the padding id must matter: " + indexPositions);
        // The unpadded rows and the packed path give the real tokens' values of the padded batch.
        assertUnpaddedAndPackedAgree(got, ids, new int[] {100, 37, 1}, E, model, one -> model.forward(one, null, null), 2e-5);
    }

    /**
     * The real tokens' rows of a padded batch's output {@code got [B, n, e]} equal sequence 1 run
     * alone through {@code single} and every sequence through {@code enc.forwardPacked}, within {@code tol}.
     */
    static void assertUnpaddedAndPackedAgree(float[] got, int[][] ids, int[] lens, int e, SentenceEncoder enc,
                                             java.util.function.Function<int[][], Tensor> single, double tol) {
        int b = ids.length, n = ids[0].length;
        int[][] packed = new int[b][];
        for (int s = 0; s < b; s++) packed[s] = Arrays.copyOf(ids[s], lens[s]);
        try (Tensor one = single.apply(new int[][] {packed[1]}); Tensor all = enc.forwardPacked(packed)) {
            float[] s1 = one.toFloatArray(), p = all.toFloatArray();
            for (int i = 0; i < lens[1] * e; i++) assertEquals(got[n * e + i], s1[i], tol, "sequence 1 element " + i);
            int row = 0;
            for (int s = 0; s < b; s++) {
                for (int i = 0; i < lens[s] * e; i++) assertEquals(got[s * n * e + i], p[row * e + i], tol, "packed sequence " + s + " element " + i);
                row += lens[s];
            }
        }
    }

    @Test
    void fullyMaskedRowAveragesEveryKeyAsHf() {
        int[][] ids = {{4, 9, 13}};
        int[][] mask = {{0, 0, 0}};
        try (Tensor h = model.forward(ids, mask, null)) {
            double d = worst(h.toFloatArray(), 0, 3, reference(ids[0], mask[0]));
            assertTrue(d < 2e-4, "all-masked row: " + d);
        }
    }

    @Test
    void configAndWeightsLoadWithoutPrefixAndThePoolerRuns() throws IOException {
        BertConfig c = model.config();
        assertTrue(c.mpnet() && c.robertaPositions());
        assertEquals(new BertConfig(E, NL, H, F, P, 1, V, 1e-5f, 1, NB), c);
        assertEquals(P - 2, c.maxTokens());
        assertTrue(!model.hasPooler());
        Map<String, float[]> pw = new LinkedHashMap<>(w);
        Random r = new Random(5);
        pw.put("pooler.dense.weight", fill(new float[E * E], r, 1 / Math.sqrt(E)));
        pw.put("pooler.dense.bias", fill(new float[E], r, 0.1));
        Path plain = tmp.resolve("plain");
        Map<String, Entry> en = entries(pw, "");
        en.put("pooler.dense.weight", new Entry(pw.get("pooler.dense.weight"), E, E));
        writeCheckpoint(plain, CONFIG.replace("MPNetForMaskedLM", "MPNetModel"), en, DType.F32, 2);
        int[][] ids = {{0, 7, 9, 2}};
        try (BertModel m = BertModel.load(cpu, plain); Tensor h = m.forward(ids, null, null); Tensor pool = m.pooler(h)) {
            assertTrue(m.hasPooler());
            float[] hv = h.toFloatArray(), pv = pool.toFloatArray();
            float[] wp = pw.get("pooler.dense.weight"), bp = pw.get("pooler.dense.bias");
            for (int o = 0; o < E; o++) {
                double acc = bp[o];
                for (int i = 0; i < E; i++) acc += (double) wp[o * E + i] * hv[i];
                assertEquals(Math.tanh(acc), pv[o], 1e-5);
            }
        }
    }

    @Test
    void refusalsNameTheFileAndField() throws IOException {
        Path few = tmp.resolve("few-buckets");
        writeCheckpoint(few, CONFIG.replace("\"relative_attention_num_buckets\": 32", "\"relative_attention_num_buckets\": 16"), entries(w, ""),
                DType.F32, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, few).close());
        assertTrue(e.getMessage().contains("relative_attention_num_buckets") && e.getMessage().contains("config.json"), e.getMessage());
        Map<String, Entry> missing = entries(w, "");
        missing.remove("encoder.relative_attention_bias.weight");
        Path noBias = tmp.resolve("no-bias");
        writeCheckpoint(noBias, CONFIG, missing, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, noBias).close());
        assertTrue(e.getMessage().contains("encoder.relative_attention_bias.weight"), e.getMessage());
        Map<String, Entry> wrong = entries(w, "");
        wrong.put("encoder.relative_attention_bias.weight", new Entry(w.get("encoder.relative_attention_bias.weight"), H, NB));
        Path badShape = tmp.resolve("bad-shape");
        writeCheckpoint(badShape, CONFIG, wrong, DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, badShape).close());
        assertTrue(e.getMessage().contains("relative_attention_bias"), e.getMessage());
        Path relu = tmp.resolve("relu");
        writeCheckpoint(relu, CONFIG.replace("\"gelu\"", "\"relu\""), entries(w, ""), DType.F32, 1);
        e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, relu).close());
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        int[][] tooLong = {new int[P - 1]};
        Arrays.fill(tooLong[0], 5);
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(tooLong, null, null));
        assertTrue(e.getMessage().contains("at most " + (P - 2)), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new BertConfig(E, NL, H, F, P, 1, V, 1e-5f, 1, 16));
    }

    @Test
    void forwardFamilyTakesAnMpnetFolder() {
        assertTrue(BertConfig.looksLikeBert(dir));
        BertModelTest.forwardFamilyMatches(cpu, dir, model, new int[][] {{0, 6, 7, 8, 2}, {0, 9, 2, 1, 1}}, new int[][] {{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}});
    }

    /** A WordPiece tokenizer.json as all-mpnet-base-v2's: <s>=0, <pad>=1, </s>=2, <unk>=3, RobertaProcessing. */
    static String tokenizerJson() {
        StringBuilder vocab = new StringBuilder("{\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"hello\": 4, \"world\": 5, \"##s\": 6, \".\": 7");
        for (int i = 8; i < V; i++) vocab.append(", \"t").append(i).append("\": ").append(i);
        vocab.append('}');
        return "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"<unk>\","
                + " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100, \"vocab\": " + vocab + "},"
                + " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, \"strip_accents\": null,"
                + " \"lowercase\": true},"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                + " \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0], \"trim_offsets\": true,"
                + " \"add_prefix_space\": false}}";
    }

    /**
     * A sentence-transformers folder's files beside a checkpoint: {@link #tokenizerJson()},
     * modules.json (Transformer, mean Pooling of width {@code dim}, Normalize) and max_seq_length.
     */
    static void writeMeanNormalizeModules(Path st, int dim, int maxSeqLength) throws IOException {
        Files.writeString(st.resolve("tokenizer.json"), tokenizerJson());
        Files.writeString(st.resolve("modules.json"), "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                + " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
                + " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}]");
        Files.createDirectories(st.resolve("1_Pooling"));
        Files.writeString(st.resolve("1_Pooling/config.json"), "{\"word_embedding_dimension\": " + dim + ", \"pooling_mode_cls_token\": false,"
                + " \"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false, \"pooling_mode_mean_sqrt_len_tokens\": false}");
        Files.writeString(st.resolve("sentence_bert_config.json"), "{\"max_seq_length\": " + maxSeqLength + ", \"do_lower_case\": false}");
    }

    @Test
    void sentenceTransformersFolderMeanPoolsAndNormalizes() throws IOException {
        Path st = tmp.resolve("st");
        writeCheckpoint(st, CONFIG.replace("MPNetForMaskedLM", "MPNetModel"), entries(w, ""), DType.F32, 1);
        writeMeanNormalizeModules(st, E, 384);
        List<String> sentences = List.of("Hello worlds.", "t9 t10 t11 hello t12 worlds world t13 t14 t15 t16 t17 t18 t19 t20", "world");
        try (SentenceEmbeddings se = SentenceEmbeddings.load(cpu, st)) {
            float[][] got = se.embed(sentences);
            for (int s = 0; s < sentences.size(); s++) {
                int[] ids = se.tokenizer().encode(sentences.get(s), true);
                assertTrue(ids[0] == 0 && ids[ids.length - 1] == 2, "RobertaProcessing adds <s> … </s>: " + Arrays.toString(ids));
                int[] ones = new int[ids.length];
                Arrays.fill(ones, 1);
                double[][] h = reference(ids, ones);
                double[] mean = new double[E];
                for (double[] row : h) for (int i = 0; i < E; i++) mean[i] += row[i] / ids.length;
                double norm = 0;
                for (double v : mean) norm += v * v;
                norm = Math.sqrt(norm);
                for (int i = 0; i < E; i++) assertEquals(mean[i] / norm, got[s][i], 2e-5, "sentence " + s + " dim " + i);
            }
        }
    }
}
