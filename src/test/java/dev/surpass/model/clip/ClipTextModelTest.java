package dev.surpass.model.clip;

import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelFamilies;
import dev.surpass.model.decoder.RefMath.Entry;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLIP text encoder on tiny random checkpoints written here, against a float64 forward written
 * from transformers' CLIPTextTransformer (embeddings, pre-LN causal layers, final LayerNorm,
 * pooling, projection): the fused attention (head dim 32) and the unfused one (head dim 12), both
 * pooling rules, clip skip, the CLIPModel layout, a pipeline root, the refusals, and on CUDA (tag
 * gpu) against the CPU.
 */
class ClipTextModelTest {
    static final long SEED = Long.getLong("surpass.seed", 0xC11BL);
    /** fp32 against float64 over a few layers: relative L2. */
    static final double TOL = 1e-5;
    static final int VOCAB = 300, MAX_POS = 20;

    @TempDir
    static Path tmp;
    static Device cpu;

    /** A tiny random CLIP text encoder: its config, its weights under HF names (no prefix), and a float64 forward. */
    static final class Fixture {
        final int d, heads, f, layers, proj, eos;
        final String act;
        final Map<String, float[]> w = new LinkedHashMap<>();
        final Map<String, long[]> shapes = new LinkedHashMap<>();

        Fixture(int d, int heads, int f, int layers, String act, int proj, int eos, long seed) {
            this.d = d;
            this.heads = heads;
            this.f = f;
            this.layers = layers;
            this.act = act;
            this.proj = proj;
            this.eos = eos;
            Random r = new Random(seed);
            put(r, "embeddings.token_embedding.weight", 1, VOCAB, d);
            put(r, "embeddings.position_embedding.weight", 0.5, MAX_POS, d);
            for (int i = 0; i < layers; i++) {
                String p = "encoder.layers." + i + ".";
                for (String n : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                    put(r, p + "self_attn." + n + ".weight", (n.equals("q_proj") || n.equals("k_proj") ? 2 : 1) / Math.sqrt(d), d, d);
                    put(r, p + "self_attn." + n + ".bias", 0.1, d);
                }
                norm(r, p + "layer_norm1");
                norm(r, p + "layer_norm2");
                put(r, p + "mlp.fc1.weight", 1 / Math.sqrt(d), f, d);
                put(r, p + "mlp.fc1.bias", 0.1, f);
                put(r, p + "mlp.fc2.weight", 1 / Math.sqrt(f), d, f);
                put(r, p + "mlp.fc2.bias", 0.1, d);
            }
            norm(r, "final_layer_norm");
            if (proj > 0) put(r, "text_projection.weight", 1 / Math.sqrt(d), proj, d);
        }

        void norm(Random r, String p) {
            put(r, p + ".weight", 0.2, d);
            for (int i = 0; i < d; i++) w.get(p + ".weight")[i] += 1;
            put(r, p + ".bias", 0.2, d);
        }

        void put(Random r, String name, double scale, long... shape) {
            long n = 1;
            for (long s : shape) n *= s;
            float[] v = new float[(int) n];
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
            w.put(name, v);
            shapes.put(name, shape);
        }

        /** config.json of a CLIPTextModel(WithProjection). */
        String config() {
            return "{\"architectures\": [\"" + (proj > 0 ? "CLIPTextModelWithProjection" : "CLIPTextModel") + "\"], \"model_type\": \"clip_text_model\","
                    + " \"hidden_size\": " + d + ", \"intermediate_size\": " + f + ", \"num_hidden_layers\": " + layers
                    + ", \"num_attention_heads\": " + heads + ", \"max_position_embeddings\": " + MAX_POS + ", \"hidden_act\": \"" + act + "\","
                    + " \"layer_norm_eps\": 1e-05, \"vocab_size\": " + VOCAB + ", \"projection_dim\": " + Math.max(proj, 1)
                    + ", \"bos_token_id\": 0, \"eos_token_id\": " + eos + ", \"pad_token_id\": 1}";
        }

        /** The tensors with {@code text_model.} on the encoder's names when {@code prefixed} (the projection stays at the root). */
        Map<String, Entry> entries(boolean prefixed) {
            return entries(prefixed ? "text_model." : "", "text_projection");
        }

        /** The tensors with {@code prefix} on every name but those starting with {@code root}. */
        Map<String, Entry> entries(String prefix, String root) {
            Map<String, Entry> m = new LinkedHashMap<>();
            for (var e : w.entrySet()) {
                String n = !e.getKey().startsWith(root) ? prefix + e.getKey() : e.getKey();
                m.put(n, new Entry(e.getValue(), shapes.get(e.getKey())));
            }
            return m;
        }

        Path write(Path dir, boolean prefixed) {
            try {
                writeCheckpoint(dir, config(), entries(prefixed), DType.F32, 1);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return dir;
        }

        // ---------------------------------------------------------------------------------------- float64 reference

        double[] g(String name) {
            float[] v = w.get(name);
            double[] o = new double[v.length];
            for (int i = 0; i < v.length; i++) o[i] = v[i];
            return o;
        }

        /** The residual stream of one sequence after {@code count} layers, [L][D]. */
        double[][] stream(int[] ids, int count) {
            int l = ids.length;
            double[] tok = g("embeddings.token_embedding.weight"), pos = g("embeddings.position_embedding.weight");
            double[][] x = new double[l][d];
            for (int t = 0; t < l; t++) for (int j = 0; j < d; j++) x[t][j] = tok[ids[t] * d + j] + pos[t * d + j];
            return layers(x, count, true);
        }

        /** The first {@code count} encoder layers on {@code x [L][D]}, causal or not. */
        double[][] layers(double[][] x, int count, boolean causal) {
            int l = x.length, dh = d / heads;
            for (int i = 0; i < count; i++) {
                String p = "encoder.layers." + i + ".";
                double[][] h = ln(x, p + "layer_norm1");
                double[][] q = lin(h, p + "self_attn.q_proj"), k = lin(h, p + "self_attn.k_proj"), v = lin(h, p + "self_attn.v_proj");
                double[][] o = new double[l][d];
                for (int hh = 0; hh < heads; hh++) {
                    for (int a = 0; a < l; a++) {
                        int keys = causal ? a + 1 : l;
                        double[] s = new double[keys];
                        double mx = Double.NEGATIVE_INFINITY;
                        for (int b = 0; b < keys; b++) {
                            double dot = 0;
                            for (int j = 0; j < dh; j++) dot += q[a][hh * dh + j] * k[b][hh * dh + j];
                            s[b] = dot / Math.sqrt(dh);
                            mx = Math.max(mx, s[b]);
                        }
                        double sum = 0;
                        for (int b = 0; b < keys; b++) sum += s[b] = Math.exp(s[b] - mx);
                        for (int b = 0; b < keys; b++) for (int j = 0; j < dh; j++) o[a][hh * dh + j] += s[b] / sum * v[b][hh * dh + j];
                    }
                }
                x = add(x, lin(o, p + "self_attn.out_proj"));
                double[][] m = lin(ln(x, p + "layer_norm2"), p + "mlp.fc1");
                for (double[] row : m) for (int j = 0; j < row.length; j++) row[j] = act(row[j]);
                x = add(x, lin(m, p + "mlp.fc2"));
            }
            return x;
        }

        double act(double v) {
            return switch (act) {
                case "quick_gelu" -> v / (1 + Math.exp(-1.702 * v));
                case "gelu" -> dev.surpass.layers.ReferenceActivation.geluErf(v);
                default -> throw new IllegalStateException(act);
            };
        }

        double[][] ln(double[][] x, String p) {
            double[] gw = g(p + ".weight"), gb = g(p + ".bias");
            double[][] o = new double[x.length][d];
            for (int t = 0; t < x.length; t++) {
                double mean = 0, var = 0;
                for (double v : x[t]) mean += v;
                mean /= d;
                for (double v : x[t]) var += (v - mean) * (v - mean);
                var /= d;
                for (int j = 0; j < d; j++) o[t][j] = (x[t][j] - mean) / Math.sqrt(var + 1e-5) * gw[j] + gb[j];
            }
            return o;
        }

        double[][] lin(double[][] x, String p) {
            double[] wt = g(p + ".weight"), b = w.containsKey(p + ".bias") ? g(p + ".bias") : null;
            int out = wt.length / x[0].length, in = x[0].length;
            double[][] o = new double[x.length][out];
            for (int t = 0; t < x.length; t++) {
                for (int n = 0; n < out; n++) {
                    double s = b == null ? 0 : b[n];
                    for (int j = 0; j < in; j++) s += x[t][j] * wt[n * in + j];
                    o[t][n] = s;
                }
            }
            return o;
        }

        static double[][] add(double[][] a, double[][] b) {
            double[][] o = new double[a.length][a[0].length];
            for (int i = 0; i < a.length; i++) for (int j = 0; j < a[0].length; j++) o[i][j] = a[i][j] + b[i][j];
            return o;
        }

        /** HF's pooled position: argmax of the ids when eos_token_id == 2, else the first eos (0 when none). */
        int poolAt(int[] ids) {
            int at = 0;
            if (eos == 2) {
                for (int t = 1; t < ids.length; t++) if (ids[t] > ids[at]) at = t;
                return at;
            }
            for (int t = 0; t < ids.length; t++) if (ids[t] == eos) return t;
            return 0;
        }

        /** {last [B·L·D], pooled [B·D], embeds [B·P] or null} for layers run = all − clipSkip. */
        double[][] forward(int[][] ids, int clipSkip) {
            int b = ids.length, l = ids[0].length;
            double[] last = new double[b * l * d], pooled = new double[b * d];
            double[] emb = proj > 0 ? new double[b * proj] : null;
            for (int s = 0; s < b; s++) {
                double[][] y = ln(stream(ids[s], layers - clipSkip), "final_layer_norm");
                for (int t = 0; t < l; t++) System.arraycopy(y[t], 0, last, (s * l + t) * d, d);
                double[] pr = y[poolAt(ids[s])];
                System.arraycopy(pr, 0, pooled, s * d, d);
                if (emb != null) {
                    double[][] e = lin(new double[][] {pr}, "text_projection");
                    System.arraycopy(e[0], 0, emb, s * proj, proj);
                }
            }
            return new double[][] {last, pooled, emb};
        }
    }

    static Fixture quick, gelu;
    static Path quickDir, geluDir;

    @BeforeAll
    static void write() {
        cpu = Device.cpu();
        quick = new Fixture(96, 3, 200, 3, "quick_gelu", 40, VOCAB - 1, SEED);        // head dim 32: fused
        gelu = new Fixture(48, 4, 72, 2, "gelu", 0, 2, SEED + 1);                       // head dim 12: unfused, legacy eos 2
        quickDir = quick.write(tmp.resolve("quick"), true);
        geluDir = gelu.write(tmp.resolve("gelu"), false);
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    /** B rows of length L: bos-like id 0, random ids below eos, the eos, then padding. */
    static int[][] prompts(Random r, int eos, int pad, int l, int... lengths) {
        int[][] ids = new int[lengths.length][l];
        for (int s = 0; s < lengths.length; s++) {
            for (int t = 0; t < l; t++) ids[s][t] = t == 0 ? 0 : t < lengths[s] - 1 ? 3 + r.nextInt(VOCAB - 10) : t == lengths[s] - 1 ? eos : pad;
        }
        return ids;
    }

    static void assertClose(Tensor got, double[] ref, String what) {
        ParityResult r = ParityMath.compare(got.toFloatArray(), ref, TOL);
        assertTrue(r.passed(), what + ": " + r + " seed=" + SEED);
    }

    @Test
    void fusedForwardMatchesFloat64Reference() {
        int[][] ids = prompts(new Random(SEED), VOCAB - 1, VOCAB - 1, 13, 5, 13, 9);
        double[][] ref = quick.forward(ids, 0);
        try (ClipTextModel m = ClipTextModel.load(cpu, quickDir); ClipTextOutput o = m.forward(ids)) {
            assertTrue(m.hasProjection());
            assertArrayEquals(new long[] {3, 13, 96}, o.lastHiddenState().shape());
            assertArrayEquals(new long[] {3, 96}, o.pooled().shape());
            assertArrayEquals(new long[] {3, 40}, o.textEmbeds().shape());
            assertClose(o.lastHiddenState(), ref[0], "last_hidden_state");
            assertClose(o.pooled(), ref[1], "pooled");
            assertClose(o.textEmbeds(), ref[2], "text_embeds");
        }
    }

    @Test
    void unfusedHeadDimAndGeluMatchFloat64Reference() {
        int[][] ids = prompts(new Random(SEED + 2), VOCAB - 1, 1, 17, 17, 4); // legacy eos 2: pooled at the largest id
        double[][] ref = gelu.forward(ids, 0);
        try (ClipTextModel m = ClipTextModel.load(cpu, geluDir); ClipTextOutput o = m.forward(ids)) {
            assertFalse(m.hasProjection());
            assertNull(o.textEmbeds());
            assertClose(o.lastHiddenState(), ref[0], "last_hidden_state");
            assertClose(o.pooled(), ref[1], "pooled");
        }
        int[][] one = {{5}}; // a single token
        try (ClipTextModel m = ClipTextModel.load(cpu, geluDir); ClipTextOutput o = m.forward(one)) {
            assertClose(o.lastHiddenState(), gelu.forward(one, 0)[0], "one token");
        }
    }

    @Test
    void poolingRuleFollowsEosTokenId() {
        // not legacy (eos 299): the first eos, 0 when none; legacy (eos 2): argmax, first of equal maxima
        int[][] ids = {{0, 7, 299, 299, 4}, {0, 9, 8, 7, 6}, {0, 299, 5, 6, 299}};
        try (ClipTextModel q = ClipTextModel.load(cpu, quickDir); ClipTextModel g = ClipTextModel.load(cpu, geluDir)) {
            assertArrayEquals(new int[] {2, 5, 11}, q.poolRows(ids));
            assertArrayEquals(new int[] {2, 6, 11}, g.poolRows(ids));
            try (ClipTextOutput o = q.forward(ids)) { // pooled rows are rows of last_hidden_state
                float[] last = o.lastHiddenState().toFloatArray(), pooled = o.pooled().toFloatArray();
                int[] at = {2, 0, 1};
                for (int s = 0; s < 3; s++) {
                    for (int j = 0; j < 96; j++) assertEquals(last[(s * 5 + at[s]) * 96 + j], pooled[s * 96 + j], 0f);
                }
            }
        }
    }

    @Test
    void clipSkipIsAnEarlierLayerThroughTheFinalNorm() {
        int[][] ids = prompts(new Random(SEED + 3), VOCAB - 1, VOCAB - 1, 11, 11, 6);
        try (ClipTextModel m = ClipTextModel.load(cpu, quickDir); ClipTextOutput o = m.forward(ids)) {
            try (Tensor h0 = m.hiddenStates(ids, 0)) {
                assertArrayEquals(o.lastHiddenState().toFloatArray(), h0.toFloatArray(), 0f);
            }
            for (int skip = 1; skip <= quick.layers; skip++) {
                try (Tensor h = m.hiddenStates(ids, skip)) {
                    assertArrayEquals(new long[] {2, 11, 96}, h.shape());
                    assertClose(h, quick.forward(ids, skip)[0], "clip skip " + skip);
                }
            }
            for (int index = 0; index <= quick.layers; index++) { // raw hidden_states[index], no final norm (SDXL's way)
                try (Tensor h = m.hiddenState(ids, index)) {
                    double[] ref = new double[2 * 11 * 96];
                    for (int r = 0; r < 2; r++) {
                        double[][] x = quick.stream(ids[r], index);
                        for (int t = 0; t < 11; t++) System.arraycopy(x[t], 0, ref, (r * 11 + t) * 96, 96);
                    }
                    assertClose(h, ref, "hidden_states[" + index + "]");
                    // one pass for both (what SDXL / SD3 read): the same values as the two calls, bit for bit
                    try (ClipTextModel.WithHiddenState w = m.forwardWithHiddenState(ids, index)) {
                        assertArrayEquals(h.toFloatArray(), w.hiddenState().toFloatArray(), 0f, "one pass: hidden_states[" + index + "]");
                        assertArrayEquals(o.lastHiddenState().toFloatArray(), w.output().lastHiddenState().toFloatArray(), 0f, "one pass: last");
                        assertArrayEquals(o.pooled().toFloatArray(), w.output().pooled().toFloatArray(), 0f, "one pass: pooled");
                    }
                }
            }
            assertThrows(IllegalArgumentException.class, () -> m.forwardWithHiddenState(ids, 4));
            String m4 = assertThrows(IllegalArgumentException.class, () -> m.hiddenState(ids, 4)).getMessage();
            assertTrue(m4.contains("index is 4"), m4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.hiddenStates(ids, 4));
            assertTrue(e.getMessage().contains("clipSkip is 4"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> m.hiddenStates(ids, -1));
        }
    }

    @Test
    void clipModelCheckpointAndPipelineRootLoadTheSameEncoder() throws Exception {
        int[][] ids = prompts(new Random(SEED + 4), VOCAB - 1, VOCAB - 1, 9, 9, 3);
        float[] want;
        float[] wantEmb;
        try (ClipTextModel m = ClipTextModel.load(cpu, quickDir); ClipTextOutput o = m.forward(ids)) {
            want = o.lastHiddenState().toFloatArray();
            wantEmb = o.textEmbeds().toFloatArray();
        }
        // CLIPModel: text_config with defaults left out, projection_dim at the top, vision tensors beside
        Path full = tmp.resolve("full");
        Map<String, Entry> e = quick.entries(true);
        e.put("vision_model.embeddings.class_embedding", new Entry(new float[] {1, 2, 3, 4}, 4));
        e.put("visual_projection.weight", new Entry(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        e.put("logit_scale", new Entry(new float[] {2.6592f}));
        writeCheckpoint(full, "{\"architectures\": [\"CLIPModel\"], \"model_type\": \"clip\", \"projection_dim\": 40, \"text_config\": {"
                + "\"hidden_size\": 96, \"intermediate_size\": 200, \"num_hidden_layers\": 3, \"num_attention_heads\": 3, \"max_position_embeddings\": "
                + MAX_POS + ", \"vocab_size\": " + VOCAB + ", \"eos_token_id\": " + (VOCAB - 1) + "}, \"vision_config\": {\"hidden_size\": 4}}", e, DType.F32, 1);
        try (ClipTextModel m = ClipTextModel.load(cpu, full); ClipTextOutput o = m.forward(ids)) {
            assertEquals(ClipTextConfig.Act.QUICK_GELU, m.config().activation());
            assertArrayEquals(want, o.lastHiddenState().toFloatArray(), 0f);
            assertArrayEquals(wantEmb, o.textEmbeds().toFloatArray(), 0f);
        }
        // a pipeline root: the encoder in text_encoder/ (unprefixed names this time)
        Path root = tmp.resolve("pipe");
        quick.write(root.resolve("text_encoder"), false);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        try (ClipTextModel m = ClipTextModel.load(cpu, root); ClipTextOutput o = m.forward(ids)) {
            assertArrayEquals(want, o.lastHiddenState().toFloatArray(), 0f);
        }
        assertTrue(ModelFamilies.find(root) instanceof ClipForward || ModelFamilies.find(root.resolve("text_encoder")) instanceof ClipForward);
        assertTrue(ModelFamilies.find(full) instanceof ClipForward);
    }

    @Test
    void forwardFamilyGivesEveryOutput() {
        int[][] ids = prompts(new Random(SEED + 5), VOCAB - 1, VOCAB - 1, 7, 7, 4);
        long[] flat = new long[14];
        for (int s = 0; s < 2; s++) for (int t = 0; t < 7; t++) flat[s * 7 + t] = ids[s][t];
        try (Tensor in = cpu.upload(flat, 2, 7); Tensor skip = cpu.upload(new long[] {1}, 1)) {
            Map<String, Tensor> out = new ClipForward().forward(cpu, quickDir, Map.of("input_ids", in, "clip_skip", skip));
            try {
                assertEquals(java.util.Set.of("last_hidden_state", "pooler_output", "text_embeds", "hidden_states_clip_skip"), out.keySet());
                double[][] ref = quick.forward(ids, 0);
                assertClose(out.get("text_embeds"), ref[2], "text_embeds");
                assertClose(out.get("hidden_states_clip_skip"), quick.forward(ids, 1)[0], "clip skip 1");
            } finally {
                for (Tensor t : out.values()) t.close();
            }
        }
    }

    @Test
    void badInputsAreRefusedByName() throws Exception {
        try (ClipTextModel m = ClipTextModel.load(cpu, quickDir)) {
            String msg = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[][] {{0, 1, 2}, {0, 1}})).getMessage();
            assertTrue(msg.contains("ids[1] has 2 tokens"), msg);
            msg = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[][] {{0, VOCAB}})).getMessage();
            assertTrue(msg.contains("ids[0][1] is " + VOCAB), msg);
            msg = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[][] {new int[MAX_POS + 1]})).getMessage();
            assertTrue(msg.contains("max_position_embeddings"), msg);
            assertThrows(IllegalArgumentException.class, () -> m.forward(new int[0][]));
            assertThrows(IllegalArgumentException.class, () -> m.forward(null));
            m.close();
            assertThrows(IllegalStateException.class, () -> m.forward(new int[][] {{0}}));
        }
        Path bad = tmp.resolve("badact");
        Files.createDirectories(bad);
        Files.writeString(bad.resolve("config.json"), quick.config().replace("quick_gelu", "relu"));
        String msg = assertThrows(IllegalArgumentException.class, () -> ClipTextModel.load(cpu, bad)).getMessage();
        assertTrue(msg.contains("hidden_act") && msg.contains("relu"), msg);
        Files.writeString(bad.resolve("config.json"), "{\"model_type\": \"clip_vision_model\"}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTextModel.load(cpu, bad)).getMessage();
        assertTrue(msg.contains("model_type") && msg.contains("clip_vision_model"), msg);
        Files.writeString(bad.resolve("config.json"), quick.config().replace("\"num_attention_heads\": 3", "\"num_attention_heads\": 5"));
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTextModel.load(cpu, bad)).getMessage();
        assertTrue(msg.contains("hidden_size") && msg.contains("num_attention_heads 5"), msg);
        // a missing tensor and a tensor of the wrong shape
        Map<String, Entry> e = quick.entries(true);
        e.remove("text_model.encoder.layers.1.mlp.fc2.bias");
        Path missing = tmp.resolve("missing");
        writeCheckpoint(missing, quick.config(), e, DType.F32, 1);
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTextModel.load(cpu, missing)).getMessage();
        assertTrue(msg.contains("encoder.layers.1.mlp.fc2.bias"), msg);
        Path shape = tmp.resolve("shape");
        writeCheckpoint(shape, quick.config().replace("\"intermediate_size\": 200", "\"intermediate_size\": 201"), quick.entries(true), DType.F32, 1);
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTextModel.load(cpu, shape)).getMessage();
        assertTrue(msg.contains("mlp.fc1.weight") && msg.contains("201"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTextModel.load(cpu, tmp.resolve("nowhere"))).getMessage();
        assertTrue(msg.contains("nowhere"), msg);
    }

    @Test
    void sixteenBitWeightsAreWidened() throws Exception {
        Path bf = tmp.resolve("bf16");
        writeCheckpoint(bf, gelu.config(), gelu.entries(true), DType.BF16, 2);
        int[][] ids = prompts(new Random(SEED + 6), VOCAB - 1, 1, 8, 8);
        try (ClipTextModel m = ClipTextModel.load(cpu, bf); ClipTextOutput o = m.forward(ids)) {
            ParityResult r = ParityMath.compare(o.lastHiddenState().toFloatArray(), gelu.forward(ids, 0)[0], 3e-2);
            assertTrue(r.passed(), r.toString());
        }
    }

    @Test
    @Tag("gpu")
    void cudaMatchesTheCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0)) {
            for (Path dir : new Path[] {quickDir, geluDir}) {
                Fixture fx = dir == quickDir ? quick : gelu;
                int[][] ids = prompts(new Random(SEED + 7), VOCAB - 1, VOCAB - 1, MAX_POS, MAX_POS, 7, 2);
                double[][] ref = fx.forward(ids, 0);
                try (ClipTextModel onGpu = ClipTextModel.load(g, dir); ClipTextModel onCpu = ClipTextModel.load(cpu, dir);
                     ClipTextOutput a = onGpu.forward(ids); ClipTextOutput b = onCpu.forward(ids);
                     Tensor skipGpu = onGpu.hiddenStates(ids, 1); Tensor skipCpu = onCpu.hiddenStates(ids, 1)) {
                    assertClose(a.lastHiddenState(), ref[0], dir + " cuda last_hidden_state");
                    assertClose(a.pooled(), ref[1], dir + " cuda pooled");
                    if (fx.proj > 0) assertClose(a.textEmbeds(), ref[2], dir + " cuda text_embeds");
                    double[] cpuLast = toDouble(b.lastHiddenState().toFloatArray());
                    assertTrue(ParityMath.compare(a.lastHiddenState().toFloatArray(), cpuLast, TOL).passed(), dir + " cuda vs cpu");
                    assertTrue(ParityMath.compare(skipGpu.toFloatArray(), toDouble(skipCpu.toFloatArray()), TOL).passed(), dir + " clip skip cuda vs cpu");
                }
            }
        }
    }

    static double[] toDouble(float[] v) {
        double[] o = new double[v.length];
        for (int i = 0; i < v.length; i++) o[i] = v[i];
        return o;
    }
}
