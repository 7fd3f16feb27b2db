package dev.surpass.model.t5;

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
import dev.surpass.cli.ModelFamilies;
import dev.surpass.cli.ModelForward;
import dev.surpass.io.SafeTensors;
import dev.surpass.model.bert.SentenceEmbeddings;
import dev.surpass.model.decoder.RefMath;
import dev.surpass.model.decoder.RefMath.Entry;
import dev.surpass.text.Tokenizer;
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
 * A tiny random T5 encoder (2 blocks, d_model 40, 3 heads of d_kv 12 so the projections are 36
 * wide, d_ff 70, vocab 50, 32 relative buckets up to distance 20) saved in transformers' names,
 * against a float64 reference written here from HF's T5Stack: unscaled embeddings, T5LayerNorm
 * (RMS, no mean, no bias), unscaled attention scores plus layer 0's relative bias (buckets from the
 * boundaries torch gives, pinned below) and HF's additive mask, relu / gated feed-forward, final
 * norm. Sequences of 100 tokens reach the log-spaced and the capped buckets.
 */
class T5EncoderTest {
    static final int E = 40, DKV = 12, H = 3, INNER = H * DKV, FF = 70, NL = 2, V = 50, NB = 32, MD = 20;
    static final double EPS = 1e-6;
    static final double TOL = 2e-5;

    @TempDir
    static Path tmp;
    static Device cpu;
    static Map<String, float[]> relu, gated;
    static T5Encoder reluModel, gatedModel;

    static String config(String proj, String type) {
        return "{\"architectures\": [\"T5EncoderModel\"], \"model_type\": \"" + type + "\", \"d_model\": " + E + ", \"d_kv\": " + DKV
                + ", \"d_ff\": " + FF + ", \"num_heads\": " + H + ", \"num_layers\": " + NL + ", \"vocab_size\": " + V
                + ", \"relative_attention_num_buckets\": " + NB + ", \"relative_attention_max_distance\": " + MD
                + ", \"layer_norm_epsilon\": 1e-6, \"feed_forward_proj\": \"" + proj + "\", \"pad_token_id\": 0, \"eos_token_id\": 1}";
    }

    @BeforeAll
    static void setUp() throws IOException {
        cpu = Device.cpu();
        relu = weights(new Random(20261128L), false);
        gated = weights(new Random(5), true);
        writeCheckpoint(tmp.resolve("relu"), config("relu", "t5"), entries(relu), DType.F32, 1);
        writeCheckpoint(tmp.resolve("gated"), config("gated-gelu", "t5"), entries(gated), DType.F32, 2); // sharded, with an index
        reluModel = T5Encoder.load(cpu, tmp.resolve("relu"));
        gatedModel = T5Encoder.load(cpu, tmp.resolve("gated"));
    }

    @AfterAll
    static void tearDown() {
        reluModel.close();
        gatedModel.close();
        cpu.close();
    }

    /** Random weights in T5EncoderModel's names; the relative bias is large enough to move the output. */
    static Map<String, float[]> weights(Random r, boolean isGated) {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("shared.weight", fill(new float[V * E], r, 1.0));
        for (int l = 0; l < NL; l++) {
            String p = "encoder.block." + l + ".layer.";
            m.put(p + "0.layer_norm.weight", around1(E, r, 0.3));
            m.put(p + "0.SelfAttention.q.weight", fill(new float[INNER * E], r, 0.5 / Math.sqrt(E)));
            m.put(p + "0.SelfAttention.k.weight", fill(new float[INNER * E], r, 1 / Math.sqrt(E)));
            m.put(p + "0.SelfAttention.v.weight", fill(new float[INNER * E], r, 1 / Math.sqrt(E)));
            m.put(p + "0.SelfAttention.o.weight", fill(new float[E * INNER], r, 1 / Math.sqrt(INNER)));
            if (l == 0) m.put(p + "0.SelfAttention.relative_attention_bias.weight", fill(new float[NB * H], r, 1.5));
            m.put(p + "1.layer_norm.weight", around1(E, r, 0.3));
            if (isGated) {
                m.put(p + "1.DenseReluDense.wi_0.weight", fill(new float[FF * E], r, 1 / Math.sqrt(E)));
                m.put(p + "1.DenseReluDense.wi_1.weight", fill(new float[FF * E], r, 1 / Math.sqrt(E)));
            } else {
                m.put(p + "1.DenseReluDense.wi.weight", fill(new float[FF * E], r, 1 / Math.sqrt(E)));
            }
            m.put(p + "1.DenseReluDense.wo.weight", fill(new float[E * FF], r, 1 / Math.sqrt(FF)));
        }
        m.put("encoder.final_layer_norm.weight", around1(E, r, 0.3));
        return m;
    }

    static long[] shapeOf(String name) {
        if (name.endsWith("shared.weight") || name.endsWith("embed_tokens.weight") || name.equals("lm_head.weight")) return new long[] {V, E};
        if (name.contains("relative_attention_bias")) return new long[] {NB, H};
        if (name.contains("layer_norm")) return new long[] {E};
        if (name.contains(".wi")) return new long[] {FF, E};
        if (name.contains("DenseReluDense.wo")) return new long[] {E, FF};
        if (name.endsWith(".o.weight")) return new long[] {E, INNER};
        return new long[] {INNER, E};
    }

    static Map<String, Entry> entries(Map<String, float[]> w) {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (var e : w.entrySet()) m.put(e.getKey(), new Entry(e.getValue(), shapeOf(e.getKey())));
        return m;
    }

    // ---------------------------------------------------------------------------------------------
    // float64 reference

    /**
     * Where torch 1.13's {@code _relative_position_bucket(d, True, NB, MD)} moves to the next bucket,
     * for distances d = 1..3000 (printed by tools/parity/hf_t5_parity.py); the same for negative d.
     */
    static final Map<String, int[]> TORCH_STEPS = Map.of(
            "32/128", new int[] {1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 23, 32, 46, 64, 91},
            "32/20", new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 18},
            "64/256", new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 23, 27, 32, 39, 46, 54, 64, 77, 91, 108, 128, 153, 182, 216},
            "16/50", new int[] {1, 2, 3, 4, 8, 15, 27},
            "8/10", new int[] {1, 2, 5});

    /** torch's bucket of {@code relative = key − query} from its pinned steps: the upper half for keys after the query. */
    static int torchBucket(int relative, int nb, int md) {
        int[] steps = TORCH_STEPS.get(nb + "/" + md);
        int a = Math.abs(relative), b = 0;
        for (int s : steps) if (a >= s) b++;
        return (relative > 0 ? nb / 2 : 0) + b;
    }

    /** One padded row: the last hidden state [n][E], keys with mask 0 get the float32 minimum added (in float32, as HF). */
    static double[][] reference(Map<String, float[]> w, boolean isGated, int[] ids, int[] mask) {
        int n = ids.length;
        float[] emb = w.get("shared.weight"), rel = w.get("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
        double[][] x = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) x[t][i] = emb[ids[t] * E + i];
        for (int l = 0; l < NL; l++) {
            String p = "encoder.block." + l + ".layer.";
            double[][] h = RefMath.rmsNorm(x, w.get(p + "0.layer_norm.weight"), EPS);
            double[][] q = lin(w, h, p + "0.SelfAttention.q", E, INNER), k = lin(w, h, p + "0.SelfAttention.k", E, INNER);
            double[][] v = lin(w, h, p + "0.SelfAttention.v", E, INNER);
            double[][] ctx = new double[n][INNER];
            for (int hh = 0; hh < H; hh++) {
                for (int i = 0; i < n; i++) {
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        double dot = 0;
                        for (int c = 0; c < DKV; c++) dot += q[i][hh * DKV + c] * k[j][hh * DKV + c];
                        s[j] = dot + rel[torchBucket(j - i, NB, MD) * H + hh]; // no 1/sqrt(d_kv)
                        if (mask[j] == 0) s[j] = (float) ((float) s[j] + -Float.MAX_VALUE);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j < n; j++) for (int c = 0; c < DKV; c++) ctx[i][hh * DKV + c] += s[j] / sum * v[j][hh * DKV + c];
                }
            }
            RefMath.addInPlace(x, lin(w, ctx, p + "0.SelfAttention.o", INNER, E));
            h = RefMath.rmsNorm(x, w.get(p + "1.layer_norm.weight"), EPS);
            double[][] f;
            if (isGated) {
                double[][] a = lin(w, h, p + "1.DenseReluDense.wi_0", E, FF), b = lin(w, h, p + "1.DenseReluDense.wi_1", E, FF);
                for (int t = 0; t < n; t++) for (int i = 0; i < FF; i++) a[t][i] = RefMath.geluTanh(a[t][i]) * b[t][i];
                f = a;
            } else {
                f = lin(w, h, p + "1.DenseReluDense.wi", E, FF);
                for (double[] row : f) for (int i = 0; i < FF; i++) row[i] = Math.max(row[i], 0);
            }
            RefMath.addInPlace(x, lin(w, f, p + "1.DenseReluDense.wo", FF, E));
        }
        return RefMath.rmsNorm(x, w.get("encoder.final_layer_norm.weight"), EPS);
    }

    static double[][] lin(Map<String, float[]> w, double[][] x, String name, int in, int out) {
        return RefMath.linear(x, w.get(name + ".weight"), null, in, out);
    }

    static int[] randomIds(Random r, int n) {
        int[] ids = new int[n];
        for (int t = 0; t < n; t++) ids[t] = 2 + r.nextInt(V - 2);
        return ids;
    }

    static int[] ones(int n) {
        int[] m = new int[n];
        Arrays.fill(m, 1);
        return m;
    }

    /** Rows [from, from + n) of a [rows, E] result. */
    static float[] rows(float[] all, int from, int n) {
        return Arrays.copyOfRange(all, from * E, (from + n) * E);
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void bucketsMatchTorchAndADirectTranscription() {
        for (String key : TORCH_STEPS.keySet()) {
            int nb = Integer.parseInt(key.split("/")[0]), md = Integer.parseInt(key.split("/")[1]);
            for (int rel = -3000; rel <= 3000; rel++) {
                int want = torchBucket(rel, nb, md);
                assertEquals(want, T5Encoder.relativeBucket(rel, nb, md), "bucket of " + rel + " with " + key);
                assertEquals(want, direct(rel, nb, md), "the transcription itself at " + rel + " with " + key);
            }
        }
        // other shapes (odd bucket counts, far distances): against the transcription alone
        int[][] shapes = {{33, 40}, {6, 7}, {128, 1000}, {40, 64}};
        for (int[] s : shapes) for (int rel = -5000; rel <= 5000; rel += 1) assertEquals(direct(rel, s[0], s[1]), T5Encoder.relativeBucket(rel, s[0], s[1]));
        assertEquals(NB / 2 - 1, T5Encoder.relativeBucket(-Integer.MAX_VALUE, NB, MD)); // far before: last lower bucket
        assertEquals(NB - 1, T5Encoder.relativeBucket(Integer.MAX_VALUE, NB, MD));
        assertEquals(NB / 2 - 1, T5Encoder.relativeBucket(Integer.MIN_VALUE, NB, MD));
    }

    /** HF's _relative_position_bucket(bidirectional=True) line by line, float32 arithmetic as torch's float tensors. */
    static int direct(int relativePosition, int numBuckets, int maxDistance) {
        int buckets = 0;
        numBuckets /= 2;
        buckets += relativePosition > 0 ? numBuckets : 0;
        int rp = Math.abs(relativePosition);
        int maxExact = numBuckets / 2;
        if (rp < maxExact) return buckets + rp;
        float logRatio = (float) Math.log((float) rp / (float) maxExact);
        float large = logRatio / (float) Math.log(maxDistance / (double) maxExact) * (float) (numBuckets - maxExact);
        return buckets + Math.min(maxExact + (int) large, numBuckets - 1);
    }

    @Test
    void reluEncoderMatchesTheFloat64Reference() {
        int[] ids = randomIds(new Random(1), 100);
        try (Tensor h = reluModel.forward(new int[][] {ids}, null)) {
            assertArrayEquals(new long[] {1, 100, E}, h.shape());
            double err = RefMath.maxRelErr(h.toFloatArray(), reference(relu, false, ids, ones(100)));
            assertTrue(err < TOL, "relu T5 max rel err " + err);
        }
    }

    @Test
    void gatedGeluEncoderFromShardsMatchesTheFloat64Reference() {
        int[] ids = randomIds(new Random(2), 77);
        try (Tensor h = gatedModel.forwardPacked(new int[][] {ids})) {
            double err = RefMath.maxRelErr(h.toFloatArray(), reference(gated, true, ids, ones(77)));
            assertTrue(err < TOL, "gated-gelu T5 max rel err " + err);
        }
        assertEquals(T5Config.Act.GELU_TANH, gatedModel.config().act()); // "gated-gelu" means gelu_new (tanh)
    }

    @Test
    void gatedSiluReadsTheGatedWeightsAndDiffersFromGatedGelu() throws IOException {
        // the same weights read as gated-silu: the reference with SiLU in place of GELU must match, relu's must not
        Path dir = tmp.resolve("silu");
        writeCheckpoint(dir, config("gated-silu", "mt5"), entries(gated), DType.F32, 1);
        int[] ids = randomIds(new Random(3), 30);
        try (T5Encoder m = T5Encoder.load(cpu, dir); Tensor h = m.forward(new int[][] {ids}); Tensor g = gatedModel.forward(new int[][] {ids})) {
            assertEquals(T5Config.Act.SILU, m.config().act());
            assertTrue(m.config().gated());
            double[][] want = reference(gated, true, ids, ones(30)); // gelu_new: must differ from SiLU's output
            double diff = RefMath.maxRelErr(h.toFloatArray(), want);
            assertTrue(diff > 1e-3, "silu and gelu gave the same output: " + diff);
            assertTrue(RefMath.maxRelErr(g.toFloatArray(), want) < TOL);
        }
    }

    @Test
    void paddedBatchEqualsEachRowAloneAndHfsPaddedRows() {
        Random r = new Random(4);
        int[] lens = {100, 37, 1, 64};
        int[][] ragged = new int[lens.length][];
        for (int s = 0; s < lens.length; s++) ragged[s] = randomIds(r, lens[s]);
        int n = 100;
        int[][] grid = new int[lens.length][n], mask = new int[lens.length][n];
        for (int s = 0; s < lens.length; s++) {
            System.arraycopy(ragged[s], 0, grid[s], 0, lens[s]); // padded with id 0 = pad_token_id
            Arrays.fill(mask[s], 0, lens[s], 1);
        }
        try (Tensor padded = reluModel.forward(ragged); Tensor explicit = reluModel.forward(grid, mask); Tensor packed = reluModel.forwardPacked(ragged)) {
            assertArrayEquals(new long[] {lens.length, n, E}, padded.shape());
            float[] p = padded.toFloatArray(), x = explicit.toFloatArray(), k = packed.toFloatArray();
            assertArrayEquals(x, p, "forward(ragged) is forward(padded with pad_token_id, mask)");
            int from = 0;
            for (int s = 0; s < lens.length; s++) {
                double[][] alone = reference(relu, false, ragged[s], ones(lens[s]));
                assertTrue(RefMath.maxRelErr(rows(p, s * n, lens[s]), alone) < TOL, "row " + s + " in the padded batch");
                assertTrue(RefMath.maxRelErr(rows(k, from, lens[s]), alone) < TOL, "row " + s + " packed");
                // every position of the padded row, the padded ones too, as HF computes them
                assertTrue(RefMath.maxRelErr(rows(p, s * n, n), reference(relu, false, grid[s], mask[s])) < TOL, "padded row " + s);
                from += lens[s];
            }
        }
    }

    @Test
    void aRowWithEveryKeyMaskedAveragesAsHfDoes() {
        int[] ids = randomIds(new Random(6), 9);
        int[] none = new int[9];
        try (Tensor h = gatedModel.forward(new int[][] {ids}, new int[][] {none})) {
            assertTrue(RefMath.maxRelErr(h.toFloatArray(), reference(gated, true, ids, none)) < TOL);
        }
    }

    @Test
    void reluOnDeviceOpsIsExactlyTheHostClamp() {
        Random r = new Random(7);
        float[] v = new float[3 * 1003];
        for (int i = 0; i < v.length; i++) v[i] = i % 11 == 0 ? 0f : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 4));
        v[5] = -0f;
        v[6] = Float.NaN;
        v[7] = -Float.MAX_VALUE;
        v[8] = Float.MIN_VALUE;
        v[9] = -Float.MIN_VALUE;
        try (Tensor x = cpu.upload(DType.F32, v, 3, 1003);
             Tensor a = reluModel.relu(x); Tensor b = reluModel.reluOnDevice(x)) {
            float[] ha = a.toFloatArray(), hb = b.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                float want = Float.isNaN(v[i]) ? Float.NaN : Math.max(v[i], 0f);
                assertEquals(want, ha[i], 0f, "host relu at " + i + " of " + v[i]);
                assertEquals(want, hb[i], 0f, "device-op relu at " + i + " of " + v[i]);
            }
        }
    }

    @Test
    void aFullSeq2SeqCheckpointLoadsItsEncoderOnly() throws IOException {
        // T5ForConditionalGeneration's tensors: encoder.embed_tokens instead of shared, the decoder, lm_head
        Map<String, Entry> full = new LinkedHashMap<>();
        Random r = new Random(8);
        for (var e : entries(relu).entrySet()) full.put(e.getKey().equals("shared.weight") ? "encoder.embed_tokens.weight" : e.getKey(), e.getValue());
        for (var e : entries(weights(r, false)).entrySet()) {
            String k = e.getKey();
            if (k.startsWith("encoder.")) full.put("decoder." + k.substring("encoder.".length()), e.getValue());
        }
        full.put("decoder.block.0.layer.1.EncDecAttention.q.weight", new Entry(fill(new float[INNER * E], r, 1), INNER, E));
        full.put("decoder.block.0.layer.2.DenseReluDense.wo.weight", new Entry(fill(new float[E * FF], r, 1), E, FF));
        full.put("lm_head.weight", new Entry(fill(new float[V * E], r, 1), V, E));
        Path dir = tmp.resolve("full");
        writeCheckpoint(dir, config("relu", "t5").replace("T5EncoderModel", "T5ForConditionalGeneration"), full, DType.F32, 1);
        int[] ids = randomIds(new Random(9), 45);
        try (T5Encoder m = T5Encoder.load(cpu, dir); Tensor a = m.forward(new int[][] {ids}); Tensor b = reluModel.forward(new int[][] {ids})) {
            assertArrayEquals(b.toFloatArray(), a.toFloatArray());
        }
    }

    @Test
    void bf16WeightsAreWidened() throws IOException {
        Path dir = tmp.resolve("bf16");
        writeCheckpoint(dir, config("relu", "t5"), entries(relu), DType.BF16, 1);
        int[] ids = randomIds(new Random(10), 20);
        try (T5Encoder m = T5Encoder.load(cpu, dir); Tensor h = m.forward(new int[][] {ids})) {
            double err = RefMath.maxRelErr(h.toFloatArray(), reference(RefMath.rounded(relu, DType.BF16), false, ids, ones(20)));
            assertTrue(err < TOL, "bf16 T5 against the reference on the rounded weights: " + err);
        }
    }

    @Test
    void surpassForwardHasAT5Family() {
        ModelForward f = ModelFamilies.find(tmp.resolve("relu"));
        assertEquals("t5", f.family());
        int[] a = randomIds(new Random(12), 6);
        int[] ids = new int[12], mask = new int[12];
        System.arraycopy(a, 0, ids, 0, 6);
        Arrays.fill(mask, 0, 6, 1);
        try (Tensor i = cpu.upload(ids, 2, 6); Tensor m = cpu.upload(mask, 2, 6)) {
            Map<String, Tensor> out = f.forward(cpu, tmp.resolve("relu"), Map.of("input_ids", i, "attention_mask", m));
            try (Tensor h = out.get("last_hidden_state")) {
                assertArrayEquals(new long[] {2, 6, E}, h.shape());
                assertTrue(RefMath.maxRelErr(rows(h.toFloatArray(), 0, 6), reference(relu, false, a, ones(6))) < TOL);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // sentence-transformers

    /** A WordPiece tokenizer whose template appends {@code </s>} (id 1) as T5's does; ids below V. */
    static String tokenizerJson() {
        StringBuilder vocab = new StringBuilder("{\"<pad>\": 0, \"</s>\": 1, \"<unk>\": 2, \"hello\": 3, \"world\": 4, \"##s\": 5, \".\": 6");
        for (int i = 7; i < V; i++) vocab.append(", \"t").append(i).append("\": ").append(i);
        vocab.append('}');
        return "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"<unk>\", \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,"
                + " \"vocab\": " + vocab + "}, \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                + " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"</s>\"}}],"
                + " \"special_tokens\": {\"</s>\": {\"ids\": [1]}}}}";
    }

    /** sentence-t5's layout: Transformer at {@code at} ("" = the root), mean Pooling, Dense 40 → 24 without bias (Identity), Normalize. */
    static Path sentenceT5(String name, String at, float[] dense) throws IOException {
        Path dir = tmp.resolve(name), enc = dir.resolve(at);
        writeCheckpoint(enc, config("relu", "t5"), entries(relu), DType.F32, 1);
        Files.writeString(enc.resolve("tokenizer.json"), tokenizerJson());
        Files.writeString(enc.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 64, \"do_lower_case\": false}");
        Files.writeString(dir.resolve("modules.json"), "[{\"idx\": 0, \"name\": \"0\", \"path\": \"" + at + "\", \"type\": \"sentence_transformers.models.Transformer\"},"
                + " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
                + " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"},"
                + " {\"idx\": 3, \"name\": \"3\", \"path\": \"3_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}]");
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.writeString(dir.resolve("1_Pooling/config.json"), "{\"word_embedding_dimension\": " + E + ", \"pooling_mode_cls_token\": false,"
                + " \"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false, \"pooling_mode_mean_sqrt_len_tokens\": false}");
        Files.createDirectories(dir.resolve("2_Dense"));
        Files.writeString(dir.resolve("2_Dense/config.json"), "{\"in_features\": " + E + ", \"out_features\": 24, \"bias\": false,"
                + " \"activation_function\": \"torch.nn.modules.linear.Identity\"}");
        try (Tensor t = cpu.upload(DType.F32, dense, 24, E)) {
            SafeTensors.write(dir.resolve("2_Dense/model.safetensors"), Map.of("linear.weight", t), Map.of());
        }
        Files.createDirectories(dir.resolve("3_Normalize"));
        return dir;
    }

    @Test
    void sentenceT5FoldersEmbedAsTheFloat64Pipeline() throws IOException {
        float[] dense = fill(new float[24 * E], new Random(13), 1 / Math.sqrt(E));
        List<String> sentences = List.of("Hello worlds.", "world hello t9 t17 t33 t48 t7 hello", "t21");
        for (String at : new String[] {"", "0_Transformer"}) {
            Path dir = sentenceT5("st5" + (at.isEmpty() ? "root" : "sub"), at, dense);
            Tokenizer tok = Tokenizer.load(dir.resolve(at).resolve("tokenizer.json"));
            try (SentenceEmbeddings st = SentenceEmbeddings.load(cpu, dir)) {
                float[][] got = st.embed(sentences);
                for (int s = 0; s < sentences.size(); s++) {
                    int[] ids = tok.encode(sentences.get(s), true, 64);
                    assertEquals(1, ids[ids.length - 1], "</s> appended");
                    double[][] h = reference(relu, false, ids, ones(ids.length));
                    double[] mean = new double[E];
                    for (double[] row : h) for (int i = 0; i < E; i++) mean[i] += row[i] / ids.length;
                    double[] out = new double[24];
                    double norm = 0;
                    for (int o = 0; o < 24; o++) {
                        for (int i = 0; i < E; i++) out[o] += mean[i] * dense[o * E + i];
                        norm += out[o] * out[o];
                    }
                    assertEquals(24, got[s].length);
                    for (int o = 0; o < 24; o++) assertEquals(out[o] / Math.sqrt(norm), got[s][o], 2e-5, at + " sentence " + s + " dim " + o);
                }
            }
        }
    }

    @Test
    void surpassEmbedRunsAT5FolderWithoutModulesJson() throws IOException {
        // no modules.json: mean pooling and L2 over the folder's tokenizer, as for a BERT folder
        Path dir = tmp.resolve("embedcli");
        writeCheckpoint(dir, config("relu", "t5"), entries(relu), DType.F32, 1);
        Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson());
        java.io.StringWriter out = new java.io.StringWriter(), err = new java.io.StringWriter();
        int code;
        try (java.io.PrintWriter o = new java.io.PrintWriter(out, true); java.io.PrintWriter e = new java.io.PrintWriter(err, true)) {
            code = dev.surpass.cli.Main.run(o, e, "embed", "--device", "cpu", "--model", dir.toString(), "--show", "3", "hello world");
        }
        assertEquals(0, code, err.toString());
        assertTrue(out.toString().contains("dim " + E + ", norm 1.000000, first:"), out.toString());
        int[] ids = Tokenizer.load(dir.resolve("tokenizer.json")).encode("hello world", true, 64);
        double[][] h = reference(relu, false, ids, ones(ids.length));
        double[] mean = new double[E];
        double norm = 0;
        for (double[] row : h) for (int i = 0; i < E; i++) mean[i] += row[i] / ids.length;
        for (double m : mean) norm += m * m;
        String first = out.toString().substring(out.toString().indexOf("first:") + "first:".length()).strip().split("\\s+")[0];
        assertEquals(mean[0] / Math.sqrt(norm), Double.parseDouble(first), 1e-4, out.toString());
    }

    // ---------------------------------------------------------------------------------------------
    // refusals

    static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void badConfigsAndCheckpointsAreRefusedByName() throws IOException {
        Path umt5 = tmp.resolve("umt5");
        writeCheckpoint(umt5, config("gated-gelu", "umt5"), entries(gated), DType.F32, 1);
        assertTrue(T5Config.looksLikeT5(umt5));
        String m = message(() -> T5Encoder.load(cpu, umt5));
        assertTrue(m.contains("umt5") && m.contains("relative attention bias"), m);

        Map<String, Entry> perLayer = entries(relu);
        perLayer.put("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", new Entry(fill(new float[NB * H], new Random(1), 1), NB, H));
        Path pl = tmp.resolve("perlayer");
        writeCheckpoint(pl, config("relu", "t5"), perLayer, DType.F32, 1);
        m = message(() -> T5Encoder.load(cpu, pl));
        assertTrue(m.contains("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight") && m.contains("UMT5"), m);

        for (String proj : new String[] {"gated-gelu-new", "fancy-gelu", "mish", "gated-tanh"}) {
            Path d = tmp.resolve("proj-" + proj);
            writeCheckpoint(d, config(proj, "t5"), entries(relu), DType.F32, 1);
            m = message(() -> T5Encoder.load(cpu, d));
            assertTrue(m.contains("feed_forward_proj") && m.contains(proj) && m.contains("config.json"), m);
        }

        Path wrongFf = tmp.resolve("wrongff");
        writeCheckpoint(wrongFf, config("gated-gelu", "t5"), entries(relu), DType.F32, 1);
        m = message(() -> T5Encoder.load(cpu, wrongFf));
        assertTrue(m.contains("wi_0.weight") && m.contains("feed_forward_proj"), m);

        Map<String, Entry> noFinal = entries(relu);
        noFinal.remove("encoder.final_layer_norm.weight");
        Path nf = tmp.resolve("nofinal");
        writeCheckpoint(nf, config("relu", "t5"), noFinal, DType.F32, 1);
        m = message(() -> T5Encoder.load(cpu, nf));
        assertTrue(m.contains("encoder.final_layer_norm.weight"), m);

        Path badShape = tmp.resolve("badshape");
        writeCheckpoint(badShape, config("relu", "t5").replace("\"d_kv\": 12", "\"d_kv\": 13"), entries(relu), DType.F32, 1);
        m = message(() -> T5Encoder.load(cpu, badShape));
        assertTrue(m.contains("encoder.block.0.layer.0.SelfAttention.q.weight") && m.contains("[36, 40]"), m);

        Path noDist = tmp.resolve("nodist");
        writeCheckpoint(noDist, config("relu", "t5").replace("\"relative_attention_max_distance\": 20", "\"relative_attention_max_distance\": 8"),
                entries(relu), DType.F32, 1);
        m = message(() -> T5Encoder.load(cpu, noDist));
        assertTrue(m.contains("relative_attention_max_distance"), m);

        Path bert = tmp.resolve("notT5");
        writeCheckpoint(bert, config("relu", "bert"), entries(relu), DType.F32, 1);
        assertTrue(!T5Config.looksLikeT5(bert));
        m = message(() -> T5Encoder.load(cpu, bert));
        assertTrue(m.contains("model_type \"bert\""), m);
    }

    @Test
    void badInputsAreRefusedByName() throws IOException {
        assertTrue(message(() -> reluModel.forward(new int[][] {{3, 4}, {5, V}})).contains("ids[1][1] is " + V));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3, 4}, {}})).contains("ids[1] has 0 ids"));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3, 4}, {5}}, null)).contains("ids[1] has 1 columns; expected 2"));
        assertTrue(message(() -> reluModel.forward(new int[][] {{3, 4}}, new int[][] {{1, 2}})).contains("attentionMask[0][1] is 2"));
        assertTrue(message(() -> reluModel.forwardPacked(new int[][] {{-1}})).contains("ids[0][0] is -1"));
        assertTrue(message(() -> reluModel.forwardPacked(null)).contains("null or empty"));
        Path dir = tmp.resolve("closing");
        writeCheckpoint(dir, config("relu", "t5"), entries(relu), DType.F32, 1);
        T5Encoder m = T5Encoder.load(cpu, dir);
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> m.forward(new int[][] {{3}}));
    }

    /** Calls free all they allocate (padded, masked, packed, and the device-op ReLU the GPU runs): on a GPU a leak is device memory lost per call. */
    @Test
    void callsLeaveNothingAllocated() {
        for (String name : new String[] {"relu", "gated"}) {
            try (Device d = Device.cpu(); T5Encoder m = T5Encoder.load(d, tmp.resolve(name))) {
                int base = d.liveAllocations();
                int[][] ragged = {{3, 4, 5, 6}, {7}, {8, 9}};
                try (Tensor a = m.forward(ragged); Tensor b = m.forwardPacked(ragged);
                     Tensor c = m.forward(new int[][] {{3, 4, 5}, {6, 7, 0}}, new int[][] {{1, 1, 1}, {1, 1, 0}})) {
                    assertEquals(base + 3, d.liveAllocations(), name);
                }
                assertEquals(base, d.liveAllocations(), name);
                try (Tensor x = d.upload(DType.F32, new float[] {-1, 0, 2, -0f, 5, -3}, 2, 3); Tensor y = m.reluOnDevice(x)) {
                    assertArrayEquals(new float[] {0, 0, 2, 0, 5, 0}, y.toFloatArray(), 0f); // (x·0 keeps a negative x's sign: −0, equal to 0)
                }
                assertEquals(base, d.liveAllocations(), name + " reluOnDevice");
            }
        }
    }

    /**
     * A sequence's position bias {@code [heads, L, L]} is one host array: with many heads the token
     * cap is below MAX_TOKENS, and a longer sequence is refused by name (it used to overflow
     * {@code heads·L·L} in int: t5-base's 12 heads at 13,378..16,384 tokens).
     */
    @Test
    void theTokenCapKeepsThePositionBiasInOneArray() throws IOException {
        assertEquals(T5Encoder.MAX_TOKENS, T5Encoder.maxTokens(3));
        assertEquals(16_383, T5Encoder.maxTokens(8));
        assertEquals(13_377, T5Encoder.maxTokens(12));
        assertEquals(5_792, T5Encoder.maxTokens(64));
        for (int h : new int[] {1, 8, 12, 16, 32, 64, 128}) {
            long l = T5Encoder.maxTokens(h);
            assertTrue(h * l * l <= Integer.MAX_VALUE - 8 && (l == T5Encoder.MAX_TOKENS || h * (l + 1) * (l + 1) > Integer.MAX_VALUE - 8), "heads " + h);
        }
        assertEquals(T5Encoder.MAX_TOKENS, reluModel.maxTokens());

        // 12 heads of 3 (the same [36, 40] projections as the 3 × 12 fixture)
        int heads = 12;
        Map<String, Entry> w = entries(relu);
        w.put("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                new Entry(fill(new float[NB * heads], new Random(3), 1), NB, heads));
        Path dir = tmp.resolve("twelveheads");
        writeCheckpoint(dir, config("relu", "t5").replace("\"num_heads\": 3", "\"num_heads\": 12").replace("\"d_kv\": 12", "\"d_kv\": 3"),
                w, DType.F32, 1);
        try (T5Encoder m = T5Encoder.load(cpu, dir)) {
            assertEquals(13_377, m.maxTokens());
            int[] row = new int[13_378];
            Arrays.fill(row, 3);
            for (Runnable r : new Runnable[] {() -> m.forwardPacked(new int[][] {row}), () -> m.forward(new int[][] {row}),
                    () -> m.forward(new int[][] {row}, null)}) {
                String msg = message(r);
                assertTrue(msg.contains("13378") && msg.contains("13377") && msg.contains("12 heads"), msg);
            }
            try (Tensor y = m.forward(new int[][] {{3, 4, 5}, {6}})) { // shorter rows run as before
                assertArrayEquals(new long[] {2, 3, E}, y.shape());
            }
        }
    }
}
