package dev.surpass.model.bert;

import static dev.surpass.model.decoder.RefMath.fill;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * sentence-transformers folders ({@link SentenceEmbeddings#load}): every Pooling mode, a Dense
 * module and Normalize against a float64 transcription of sentence-transformers' modules over the
 * encoder's last hidden state (itself checked against the float64 BERT reference in BertModelTest);
 * max_seq_length truncation; refusals naming the file; and DistilBERT, whose renamed weights must
 * give exactly what the same weights give as a BERT without token types.
 */
class SentenceModulesTest {
    static final int E = BertModelTest.E;
    static final List<String> SENTENCES = List.of("Hello worlds.", "world hello hello .", "t9 t10 t11 hello t12 worlds world");

    @TempDir
    static Path tmp;
    static Device cpu;
    static Map<String, float[]> w;

    @BeforeAll
    static void setUp() {
        cpu = Device.cpu();
        w = BertModelTest.weights(new Random(77));
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    /** A BERT folder with the WordPiece tokenizer of EmbedCommandTest. */
    static Path bertFolder(Path dir) throws IOException {
        writeCheckpoint(dir, BertModelTest.CONFIG, BertModelTest.entries(w, ""), DType.F32, 1);
        Files.writeString(dir.resolve("tokenizer.json"), EmbedCommandTest.tokenizerJson());
        return dir;
    }

    static void modules(Path dir, String... types) throws IOException {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < types.length; i += 2) {
            if (i > 0) b.append(", ");
            b.append("{\"idx\": ").append(i / 2).append(", \"name\": \"").append(i / 2).append("\", \"path\": \"").append(types[i + 1])
                    .append("\", \"type\": \"sentence_transformers.models.").append(types[i]).append("\"}");
        }
        Files.writeString(dir.resolve("modules.json"), b.append("]").toString());
    }

    static void pooling(Path dir, String modes) throws IOException {
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.writeString(dir.resolve("1_Pooling/config.json"), "{\"word_embedding_dimension\": " + E + ", " + modes + ", \"include_prompt\": true}");
    }

    /** The encoder's last hidden state of one sentence's ids, from the library (validated elsewhere against float64). */
    static double[][] hidden(BertModel m, int[] ids) {
        try (Tensor h = m.forward(new int[][] {ids}, null, null)) {
            float[] v = h.toFloatArray();
            double[][] out = new double[ids.length][E];
            for (int t = 0; t < ids.length; t++) for (int i = 0; i < E; i++) out[t][i] = v[t * E + i];
            return out;
        }
    }

    /** sentence-transformers' Pooling.forward for one unpadded sentence, every mode in its order. */
    static double[] poolAll(double[][] h) {
        int n = h.length;
        double[] out = new double[6 * E];
        for (int i = 0; i < E; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0, wsum = 0, wts = 0;
            for (int t = 0; t < n; t++) {
                max = Math.max(max, h[t][i]);
                sum += h[t][i];
                wsum += (t + 1) * h[t][i];
                wts += t + 1;
            }
            out[i] = h[0][i];
            out[E + i] = max;
            out[2 * E + i] = sum / n;
            out[3 * E + i] = sum / Math.sqrt(n);
            out[4 * E + i] = wsum / wts;
            out[5 * E + i] = h[n - 1][i];
        }
        return out;
    }

    static double relL2(float[] got, double[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < want.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void everyPoolingModeDenseAndNormalizeMatchTheFloat64Pipeline() throws IOException {
        Path dir = bertFolder(tmp.resolve("all"));
        modules(dir, "Transformer", "", "Pooling", "1_Pooling", "Dense", "2_Dense", "Normalize", "3_Normalize");
        pooling(dir, "\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": true, "
                + "\"pooling_mode_mean_sqrt_len_tokens\": true, \"pooling_mode_weightedmean_tokens\": true, \"pooling_mode_lasttoken\": true");
        int in = 6 * E, out = 23;
        Random r = new Random(5);
        float[] dw = fill(new float[out * in], r, 1 / Math.sqrt(in)), db = fill(new float[out], r, 0.2);
        Files.createDirectories(dir.resolve("2_Dense"));
        Files.writeString(dir.resolve("2_Dense/config.json"), "{\"in_features\": " + in + ", \"out_features\": " + out
                + ", \"bias\": true, \"activation_function\": \"torch.nn.modules.activation.Tanh\"}");
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try {
            ts.put("linear.weight", cpu.upload(DType.F32, dw, out, in));
            ts.put("linear.bias", cpu.upload(DType.F32, db, out));
            SafeTensors.write(dir.resolve("2_Dense/model.safetensors"), ts, Map.of());
        } finally {
            for (Tensor t : ts.values()) t.close();
        }
        Files.writeString(dir.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 6, \"do_lower_case\": false}");
        try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, dir)) {
            assertEquals(6, st.maxLength());
            assertTrue(st.normalizes());
            assertEquals(out, st.dimension());
            float[][] got = st.embed(SENTENCES);
            for (int s = 0; s < SENTENCES.size(); s++) {
                int[] ids = st.tokenize(SENTENCES.get(s));
                assertTrue(ids.length <= 6);
                double[] pooled = poolAll(hidden(st.model(), ids));
                double[] v = new double[out];
                double norm = 0;
                for (int o = 0; o < out; o++) {
                    double acc = db[o];
                    for (int k = 0; k < in; k++) acc += dw[o * in + k] * pooled[k];
                    v[o] = Math.tanh(acc);
                    norm += v[o] * v[o];
                }
                for (int o = 0; o < out; o++) v[o] /= Math.sqrt(norm);
                double e = relL2(got[s], v);
                assertTrue(e < 1e-6, "sentence " + s + ": relL2 " + e);
            }
            assertEquals(6, st.tokenize(SENTENCES.get(2)).length, "max_seq_length 6 truncates");
        }
    }

    @Test
    void clsPoolingWithoutNormalizeAndAPlainFolderMeanPools() throws IOException {
        Path dir = bertFolder(tmp.resolve("cls"));
        modules(dir, "Transformer", "", "Pooling", "1_Pooling");
        pooling(dir, "\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": false");
        try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, dir)) {
            assertFalse(st.normalizes());
            assertEquals(SentenceEmbeddings.Pooling.CLS, st.pooling());
            float[][] got = st.embed(SENTENCES);
            for (int s = 0; s < SENTENCES.size(); s++) {
                double[] cls = hidden(st.model(), st.tokenize(SENTENCES.get(s)))[0];
                assertTrue(relL2(got[s], cls) < 1e-6);
            }
        }
        EmbedCommandTest.Run r = EmbedCommandTest.run("embed", "--device", "cpu", "--model", dir.toString(), "--show", "2", "hello world");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("dim 64, norm ") && !r.out().contains("norm 1.000000"), r.out()); // CLS, not normalised
        Path plain = bertFolder(tmp.resolve("plain"));
        try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, plain)) {
            assertEquals(SentenceEmbeddings.Pooling.MEAN, st.pooling());
            assertFalse(st.normalizes(), "sentence-transformers does not normalise a plain encoder");
            float[] got = st.embed(List.of(SENTENCES.get(1)))[0];
            double[] mean = java.util.Arrays.copyOfRange(poolAll(hidden(st.model(), st.tokenize(SENTENCES.get(1)))), 2 * E, 3 * E);
            assertTrue(relL2(got, mean) < 1e-6);
        }
    }

    /** Pooling(**config): an absent flag takes the constructor's default (mean on, the rest off); a pooling_mode name overrides. */
    @Test
    void poolingConfigDefaultsAsSentenceTransformers() throws IOException {
        Path dir = bertFolder(tmp.resolve("defaults"));
        modules(dir, "Transformer", "", "Pooling", "1_Pooling");
        String[][] cases = {
            {"\"pooling_mode_cls_token\": true", "true,false,true,false,false,false"}, // mean absent: on, after cls
            {"\"pooling_mode_lasttoken\": true, \"pooling_mode_mean_tokens\": null", "false,false,false,false,false,true"},
            {"\"pooling_mode\": \"LastToken\", \"pooling_mode_cls_token\": true", "false,false,false,false,false,true"},
        };
        for (String[] c : cases) {
            pooling(dir, c[0]);
            try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, dir)) {
                SentenceEmbeddings.Pooling p = st.pooling();
                assertEquals(c[1], p.cls() + "," + p.max() + "," + p.mean() + "," + p.meanSqrtLen() + "," + p.weightedMean() + "," + p.lastToken(), c[0]);
                assertEquals(p.modes() * E, st.embed(List.of("hello"))[0].length);
            }
        }
        pooling(dir, "\"pooling_mode\": \"median\"");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, dir).close());
        assertTrue(e.getMessage().contains("pooling_mode") && e.getMessage().contains("median") && e.getMessage().contains("1_Pooling"), e.getMessage());
    }

    /**
     * config_sentence_transformers.json's prompts: the named (or default) prompt's text goes before
     * each sentence; with Pooling's include_prompt false its tokens — [CLS] and the prompt's, not its
     * [SEP] — are masked out of mean pooling, as sentence-transformers' _get_prompt_length counts them.
     */
    @Test
    void promptsGoBeforeTheSentenceAndIncludePromptFalseMasksThem() throws IOException {
        Path dir = bertFolder(tmp.resolve("prompts"));
        modules(dir, "Transformer", "", "Pooling", "1_Pooling");
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.writeString(dir.resolve("1_Pooling/config.json"), "{\"word_embedding_dimension\": " + E
                + ", \"pooling_mode_mean_tokens\": true, \"include_prompt\": false}");
        Files.writeString(dir.resolve("config_sentence_transformers.json"),
                "{\"prompts\": {\"query\": \"t9 t10 \", \"document\": \"\"}, \"default_prompt_name\": \"query\", \"similarity_fn_name\": \"cosine\"}");
        String s = "hello world";
        try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, dir)) {
            assertEquals(Map.of("query", "t9 t10 ", "document", ""), st.prompts());
            assertEquals("query", st.defaultPromptName());
            assertFalse(st.includesPrompt());
            int[] ids = st.tokenize("t9 t10 " + s); // [CLS] t9 t10 hello world [SEP]
            assertArrayEquals(new int[] {2, 9, 10, 4, 5, 3}, ids);
            double[][] h = hidden(st.model(), ids);
            double[] want = new double[E];
            for (int t = 3; t < ids.length; t++) for (int i = 0; i < E; i++) want[i] += h[t][i] / (ids.length - 3); // [CLS] t9 t10 masked
            float[] byDefault = st.embed(List.of(s))[0], named = st.embed(List.of(s), "query")[0];
            assertTrue(relL2(byDefault, want) < 1e-6, "default prompt, prompt tokens masked: " + relL2(byDefault, want));
            assertArrayEquals(byDefault, named);
            // the empty "document" prompt: the sentence alone, all its tokens pooled
            double[][] h2 = hidden(st.model(), st.tokenize(s));
            double[] mean = new double[E];
            for (double[] row : h2) for (int i = 0; i < E; i++) mean[i] += row[i] / h2.length;
            assertTrue(relL2(st.embed(List.of(s), "document")[0], mean) < 1e-6);
            // counting the prompt's [SEP] too (or keeping its tokens) would pool other rows
            double[] wrong = new double[E];
            for (int t = 4; t < ids.length; t++) for (int i = 0; i < E; i++) wrong[i] += h[t][i] / (ids.length - 4);
            assertTrue(relL2(byDefault, wrong) > 1e-2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> st.embed(List.of(s), "passage"));
            assertTrue(e.getMessage().contains("passage") && e.getMessage().contains("query"), e.getMessage());
        }
        EmbedCommandTest.Run r = EmbedCommandTest.run("embed", "--device", "cpu", "--model", dir.toString(), "--prompt-name", "document",
                "--query-prompt-name", "query", "--query", "hello", "hello world", "t11 t12");
        assertEquals(0, r.code(), r.err());
        EmbedCommandTest.Run bad = EmbedCommandTest.run("embed", "--device", "cpu", "--model", dir.toString(), "--prompt-name", "nope", "x");
        assertEquals(dev.surpass.cli.Main.USAGE, bad.code(), bad.err());
        Files.writeString(dir.resolve("config_sentence_transformers.json"), "{\"prompts\": {\"query\": \"q: \"}, \"default_prompt_name\": \"passage\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, dir).close());
        assertTrue(e.getMessage().contains("config_sentence_transformers.json") && e.getMessage().contains("passage"), e.getMessage());
    }

    @Test
    void badFoldersAreRefusedByName() throws IOException {
        String[][] cases = {
            {"[{\"idx\": 0, \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                + "{\"idx\": 1, \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.LSTM\"}]", "LSTM"},
            {"[{\"idx\": 0, \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]", "Pooling must follow"},
            {"[{\"idx\": 0, \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}]", "no sentence_transformers.models.Pooling"},
            {"[{\"idx\": 0, \"path\": \"../x\", \"type\": \"sentence_transformers.models.Transformer\"}]", "leaves the folder"},
            {"{}", "non-empty list"},
        };
        int i = 0;
        for (String[] c : cases) {
            Path dir = bertFolder(tmp.resolve("bad" + i++));
            pooling(dir, "\"pooling_mode_mean_tokens\": true");
            Files.writeString(dir.resolve("modules.json"), c[0]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, dir).close());
            assertTrue(e.getMessage().contains(c[1]) && e.getMessage().contains("modules.json"), e.getMessage());
        }
        Path noMode = bertFolder(tmp.resolve("nomode"));
        modules(noMode, "Transformer", "", "Pooling", "1_Pooling");
        pooling(noMode, "\"pooling_mode_mean_tokens\": false");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, noMode).close());
        assertTrue(e.getMessage().contains("1_Pooling") && e.getMessage().contains("no pooling_mode_"), e.getMessage());
        Path act = bertFolder(tmp.resolve("act"));
        modules(act, "Transformer", "", "Pooling", "1_Pooling", "Dense", "2_Dense");
        pooling(act, "\"pooling_mode_mean_tokens\": true");
        Files.createDirectories(act.resolve("2_Dense"));
        Files.writeString(act.resolve("2_Dense/config.json"), "{\"in_features\": 64, \"out_features\": 8, \"activation_function\": \"torch.nn.modules.activation.ReLU\"}");
        e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, act).close());
        assertTrue(e.getMessage().contains("ReLU"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SentenceEmbeddings.load(cpu, bertFolder(tmp.resolve("long")), 50).close());
        assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
    }

    /** modules.json, the Pooling config and sentence_bert_config.json mutated: the folder loads and embeds, or the refusal names the folder. */
    @Test
    void mutatedModuleFilesLoadOrAreRefusedByName() throws IOException {
        Path src = bertFolder(tmp.resolve("fuzz-src"));
        modules(src, "Transformer", "", "Pooling", "1_Pooling", "Normalize", "2_Normalize");
        pooling(src, "\"pooling_mode_cls_token\": false, \"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": true");
        Files.writeString(src.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 12, \"do_lower_case\": true}");
        Files.writeString(src.resolve("config_sentence_transformers.json"), "{\"prompts\": {\"query\": \"t9 \", \"document\": \"\"}, "
                + "\"default_prompt_name\": \"query\"}");
        String[] files = {"modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"};
        dev.surpass.fuzz.Fuzz.forAll("files.sentence.modules", 45, g -> {
            long seed = g.anyLong();
            String f = files[(int) Math.floorMod(seed, (long) files.length)];
            Path dir = tmp.resolve("fuzz");
            Files.createDirectories(dir.resolve("1_Pooling"));
            for (String c : new String[] {"config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json",
                "sentence_bert_config.json", "config_sentence_transformers.json"}) {
                Files.copy(src.resolve(c), dir.resolve(c), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            String m = dev.surpass.fuzz.Mutate.json(Files.readString(src.resolve(f)), new Random(seed));
            Files.writeString(dir.resolve(f), m);
            SentenceEmbeddings st = dev.surpass.fuzz.Fuzz.call("files.sentence.modules", f + " (seed " + seed + "): " + dev.surpass.fuzz.Mutate.abbreviate(m),
                    () -> SentenceEmbeddings.load(cpu, dir), dir.toString());
            if (st != null) {
                try (st) {
                    assertEquals(SENTENCES.size(), st.embed(SENTENCES).length);
                }
            }
        });
        dev.surpass.fuzz.Fuzz.finish("files.sentence.");
    }

    @Test
    void distilBertIsBertWithoutTokenTypes() throws IOException {
        // the same weights as a BERT whose one token type embeds to zero, with DistilBERT's fixed eps
        Map<String, float[]> bw = new LinkedHashMap<>(w);
        bw.put("embeddings.token_type_embeddings.weight", new float[E]);
        BertModelTest.Dims one = new BertModelTest.Dims(E, BertModelTest.NL, BertModelTest.F, BertModelTest.V, BertModelTest.P, 1, 0.5, 0.1);
        Path bert = tmp.resolve("as-bert");
        writeCheckpoint(bert, BertModelTest.CONFIG.replace("\"type_vocab_size\": 3", "\"type_vocab_size\": 1").replace("1e-6", "1e-12"),
                BertModelTest.entries(bw, "", one), DType.F32, 1);
        Map<String, Entry> dw = new LinkedHashMap<>();
        String[][] names = {
            {"attention.self.query.", "attention.q_lin."}, {"attention.self.key.", "attention.k_lin."}, {"attention.self.value.", "attention.v_lin."},
            {"attention.output.dense.", "attention.out_lin."}, {"attention.output.LayerNorm.", "sa_layer_norm."},
            {"intermediate.dense.", "ffn.lin1."}, {"output.dense.", "ffn.lin2."}, {"output.LayerNorm.", "output_layer_norm."},
        };
        for (var en : w.entrySet()) {
            String k = en.getKey();
            if (k.contains("token_type")) continue;
            String to = k;
            if (k.startsWith("encoder.layer.")) {
                String rest = k.substring("encoder.layer.".length());
                String layer = rest.substring(0, rest.indexOf('.') + 1), tail = rest.substring(rest.indexOf('.') + 1);
                for (String[] kv : names) if (tail.startsWith(kv[0])) to = "transformer.layer." + layer + kv[1] + tail.substring(kv[0].length());
            }
            dw.put("distilbert." + to, new Entry(en.getValue(), BertModelTest.shapeOf(k, BertModelTest.Dims.TINY)));
        }
        Path distil = tmp.resolve("distil");
        writeCheckpoint(distil, "{\"model_type\": \"distilbert\", \"architectures\": [\"DistilBertModel\"], \"dim\": " + E + ", \"n_layers\": "
                + BertModelTest.NL + ", \"n_heads\": " + BertModelTest.H + ", \"hidden_dim\": " + BertModelTest.F + ", \"max_position_embeddings\": "
                + BertModelTest.P + ", \"vocab_size\": " + BertModelTest.V + ", \"activation\": \"gelu\", \"sinusoidal_pos_embds\": false}", dw, DType.F32, 1);
        assertTrue(BertConfig.looksLikeBert(distil));
        int[][] ids = {{2, 9, 17, 4, 3, 0}, {2, 40, 3, 0, 0, 0}};
        int[][] mask = {{1, 1, 1, 1, 1, 0}, {1, 1, 1, 0, 0, 0}};
        try (BertModel a = BertModel.load(cpu, bert); BertModel b = BertModel.load(cpu, distil);
             Tensor ha = a.forward(ids, mask, null); Tensor hb = b.forward(ids, mask, null)) {
            assertEquals(1e-12f, b.config().layerNormEps());
            assertFalse(b.hasPooler());
            assertArrayEquals(ha.toFloatArray(), hb.toFloatArray());
        }
        Path bad = tmp.resolve("distil-bad");
        writeCheckpoint(bad, Files.readString(distil.resolve("config.json")).replace("\"gelu\"", "\"relu\""), dw, DType.F32, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BertModel.load(cpu, bad).close());
        assertTrue(e.getMessage().contains("activation"), e.getMessage());
    }

    /**
     * An XLM-RoBERTa sentence-transformers folder (multilingual-e5 / paraphrase-multilingual shape:
     * {@code roberta.} weights, positions from pad_token_id, a SentencePiece Unigram tokenizer.json
     * with XLM-R's Precompiled + Replace normalizer, Metaspace and RobertaProcessing, mean pooling,
     * Normalize): the folder's tokenizer gives the hand-worked ids, the embedding is the L2-normalised
     * mean of the encoder's last hidden state over them, and {@code surpass embed} runs the folder.
     */
    @Test
    void xlmRobertaFolderWithAUnigramTokenizer() throws IOException {
        Path dir = tmp.resolve("xlmr");
        String cfg = BertModelTest.CONFIG.replace("\"BertModel\"", "\"XLMRobertaModel\"").replace("\"bert\"", "\"xlm-roberta\"")
                .replace("}", ", \"pad_token_id\": 1, \"bos_token_id\": 0, \"eos_token_id\": 2}");
        writeCheckpoint(dir, cfg, BertModelTest.entries(w, "roberta."), DType.F32, 1);
        Files.writeString(dir.resolve("tokenizer.json"), xlmrTokenizerJson());
        modules(dir, "Transformer", "", "Pooling", "1_Pooling", "Normalize", "2_Normalize");
        pooling(dir, "\"pooling_mode_mean_tokens\": true");
        Files.writeString(dir.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 16, \"do_lower_case\": false}");
        List<String> sentences = List.of("Hello world", "über  字 the world.", "\uFF28ello the <mask>");
        int[][] ids = {{0, 8, 9, 2}, {0, 14, 13, 7, 9, 5, 2}, {0, 8, 7, 15, 2}};
        try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, dir)) {
            assertTrue(st.normalizes());
            float[][] got = st.embed(sentences);
            for (int s = 0; s < sentences.size(); s++) {
                assertArrayEquals(ids[s], st.tokenize(sentences.get(s)), sentences.get(s));
                double[] mean = java.util.Arrays.copyOfRange(poolAll(hidden(st.model(), ids[s])), 2 * E, 3 * E);
                double norm = 0;
                for (double v : mean) norm += v * v;
                for (int i = 0; i < E; i++) mean[i] /= Math.sqrt(norm);
                double e = relL2(got[s], mean);
                assertTrue(e < 1e-6, "sentence " + s + ": relL2 " + e);
            }
        }
        EmbedCommandTest.Run r = EmbedCommandTest.run("embed", "--device", "cpu", "--model", dir.toString(), "--show", "2", "Hello world", "über 字");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("dim 64, norm 1.000000"), r.out());
    }

    /** XLM-R's tokenizer.json structure on a 16-piece vocabulary (ids below the model's 53). */
    static String xlmrTokenizerJson() {
        Map<String, String> rules = new LinkedHashMap<>();
        rules.put("u\u0308", "\u00FC");
        rules.put("\u3000", " ");
        for (char c = 'A'; c <= 'Z'; c++) rules.put(String.valueOf((char) (0xFF21 + c - 'A')), String.valueOf(c)); // fullwidth → ASCII
        String charsmap = dev.surpass.text.DartsCharsMap.base64(rules);
        String[] pieces = {"<s>", "<pad>", "</s>", "<unk>", ",", ".", "\u2581", "\u2581the", "\u2581Hello", "\u2581world", "s", "\u2581wor", "ld",
            "\u2581\u5B57", "\u2581\u00FCber", "<mask>"};
        double[] scores = {0, 0, 0, 0, -3, -3, -3.5, -2, -6, -6, -4, -5, -5, -7, -8, 0};
        StringBuilder vocab = new StringBuilder();
        for (int i = 0; i < pieces.length; i++) vocab.append(i == 0 ? "" : ", ").append("[\"").append(pieces[i]).append("\", ").append(scores[i]).append(']');
        String[] special = {"<s>", "<pad>", "</s>", "<unk>"};
        StringBuilder added = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            added.append("{\"id\": ").append(i).append(", \"content\": \"").append(special[i])
                    .append("\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}, ");
        }
        added.append("{\"id\": 15, \"content\": \"<mask>\", \"single_word\": false, \"lstrip\": true, \"rstrip\": false, \"normalized\": false, \"special\": true}");
        return "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": [" + added + "],"
                + " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"" + charsmap + "\"},"
                + " {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \" \"}]},"
                + " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"always\", \"split\": true},"
                + " \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0], \"trim_offsets\": true, \"add_prefix_space\": true},"
                + " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"always\", \"split\": true},"
                + " \"model\": {\"type\": \"Unigram\", \"unk_id\": 3, \"vocab\": [" + vocab + "], \"byte_fallback\": false}}";
    }
}
