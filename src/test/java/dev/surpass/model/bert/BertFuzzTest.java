package dev.surpass.model.bert;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.RefMath;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes BertModel.forward on the tiny random checkpoint of {@link BertModelTest} (vocab 53, 19
 * positions, 3 token types): ids outside the vocabulary, masks with values other than 0/1 or of
 * another shape, fully masked rows, token types out of range, ragged, empty or null rows. Valid
 * calls match the float64 reference on their unmasked tokens.
 */
class BertFuzzTest {
    static Device cpu;
    @TempDir
    static Path tmp;
    static BertModel model;
    static BertModel mpnet;

    @BeforeAll
    static void open() throws IOException {
        cpu = Device.cpu();
        BertModelTest.w = BertModelTest.weights(new Random(20261127L));
        RefMath.writeCheckpoint(tmp, BertModelTest.CONFIG, BertModelTest.entries(BertModelTest.w, "bert."), DType.F32, 1);
        model = BertModel.load(cpu, tmp);
        MpnetTest.w = MpnetTest.weights(new Random(20261128L));
        Path m = tmp.resolve("mpnet-src");
        RefMath.writeCheckpoint(m, MpnetTest.CONFIG, MpnetTest.entries(MpnetTest.w, "mpnet."), DType.F32, 1);
        mpnet = BertModel.load(cpu, m);
    }

    @AfterAll
    static void close() {
        model.close();
        mpnet.close();
        cpu.close();
        Fuzz.finishModel("bert");
    }

    @Test
    void forward() {
        Fuzz.forAll("bert.forward", 80, g -> forward(DecoderFuzzCases.batches(g, BertModelTest.V, 22), grid(g), grid(g), g.bool(), g.bool(),
                g.bool()));
    }

    private static void forward(int[][] ids, int[][] maskRaw, int[][] typesRaw, boolean useMask, boolean useTypes, boolean maskMatchesIds) {
        int[][] mask = useMask ? (maskMatchesIds ? shapedLike(ids, maskRaw, 2) : maskRaw) : null;
        int[][] types = useTypes ? (maskMatchesIds ? shapedLike(ids, typesRaw, BertModelTest.T) : typesRaw) : null;
        String in = "ids " + Arrays.deepToString(ids) + " mask " + Arrays.deepToString(mask) + " types " + Arrays.deepToString(types);
        boolean valid = grid(ids, null, BertModelTest.V) && ids[0].length <= BertModelTest.P
                && (mask == null || grid(mask, ids, 2)) && (types == null || grid(types, ids, BertModelTest.T));
        if (!valid) {
            Fuzz.reject("bert.forward", in, () -> model.forward(ids, mask, types), "inputIds", "attentionMask", "tokenTypeIds");
            return;
        }
        try (Tensor out = Fuzz.call("bert.forward", in, () -> model.forward(ids, mask, types))) {
            if (out == null) throw new AssertionError("bert.forward: a valid call was refused: " + in);
            float[] got = out.toFloatArray();
            int n = ids[0].length, e = BertModelTest.E;
            for (int b = 0; b < ids.length; b++) {
                int[] m = mask == null ? ones(n) : mask[b];
                if (Arrays.stream(m).sum() == 0) continue; // fully masked row: documented, checked finite below
                double[][] ref = BertModelTest.reference(ids[b], m, types == null ? new int[n] : types[b]);
                for (int t = 0; t < n; t++) {
                    if (m[t] == 0) continue;
                    double num = 0, den = 0;
                    for (int i = 0; i < e; i++) {
                        double d = got[(b * n + t) * e + i] - ref[t][i];
                        num += d * d;
                        den += ref[t][i] * ref[t][i];
                    }
                    assertTrue(Math.sqrt(num / den) < 1e-4, "bert.forward: b " + b + " t " + t + " for " + in);
                }
            }
            for (float v : got) assertTrue(Float.isFinite(v), "non-finite output for " + in);
        }
    }

    static int[] ones(int n) {
        int[] a = new int[n];
        Arrays.fill(a, 1);
        return a;
    }

    /** A rectangular grid like {@code ids} (same rows and columns) with values from {@code raw}, kept mostly in [0, bound). */
    static int[][] shapedLike(int[][] ids, int[][] raw, int bound) {
        if (ids == null) return null;
        int[][] g = new int[ids.length][];
        int k = 0;
        for (int b = 0; b < ids.length; b++) {
            if (ids[b] == null) continue;
            g[b] = new int[ids[b].length];
            for (int t = 0; t < g[b].length; t++, k++) {
                int[] src = raw.length == 0 || raw[k % raw.length] == null || raw[k % raw.length].length == 0 ? new int[] {1} : raw[k % raw.length];
                int v = src[t % src.length];
                g[b][t] = (k % 7 == 3) ? v : Math.floorMod(v, bound);
            }
        }
        return g;
    }

    /** Present, rectangular (like {@code like} when given), non-empty, values in [0, bound). */
    static boolean grid(int[][] g, int[][] like, int bound) {
        if (g == null || g.length == 0) return false;
        if (like != null && g.length != like.length) return false;
        for (int b = 0; b < g.length; b++) {
            if (g[b] == null || g[b].length == 0 || g[b].length != g[0].length) return false;
            if (like != null && g[b].length != like[b].length) return false;
            for (int v : g[b]) if (v < 0 || v >= bound) return false;
        }
        return true;
    }

    /** Up to 3 rows (null one time in 20) of up to 6 values, mostly 0 / 1, sometimes −1, 2, 3 or MAX. */
    static int[][] grid(Gen g) {
        return g.array(int[][]::new, 0, 3, () -> g.chance(0.05) ? null
                : g.intArray(0, 6, () -> g.bool() ? g.between(0, 1) : g.pickInt(-1, 2, 3, Integer.MAX_VALUE)));
    }

    /** config.json mutated (wrong types, ranges, missing keys, deep nesting, truncation) then loaded with the real weights. */
    @Test
    void configFile() {
        Fuzz.forAll("files.bert.config", 30, g -> dev.surpass.fuzz.Mutate.configCase("files.bert.config", tmp, tmp.resolve("cfg"), g.anyLong(),
                d -> BertModel.load(cpu, d)));
    }

    /** MPNet's config.json (relative buckets, no token types) mutated then loaded with MpnetTest's weights. */
    @Test
    void mpnetConfigFile() throws IOException {
        Path src = tmp.resolve("mpnet-src");
        Fuzz.forAll("files.bert.mpnet.config", 30, g -> dev.surpass.fuzz.Mutate.configCase("files.bert.mpnet.config", src, tmp.resolve("mpnet-cfg"), g.anyLong(),
                d -> BertModel.load(cpu, d)));
    }

    /** MPNet's forward (relative bias, additive mask): valid calls match MpnetTest's float64 reference on every row, fully masked ones too. */
    @Test
    void mpnetForward() {
        Fuzz.forAll("bert.mpnet.forward", 40, g -> {
            int[][] ids = DecoderFuzzCases.batches(g, MpnetTest.V, 22);
            int[][] maskRaw = grid(g);
            int[][] mask = g.bool() ? null : g.bool() ? shapedLike(ids, maskRaw, 2) : maskRaw;
            String in = "ids " + Arrays.deepToString(ids) + " mask " + Arrays.deepToString(mask);
            boolean valid = grid(ids, null, MpnetTest.V) && ids[0].length <= MpnetTest.P - 2 && (mask == null || grid(mask, ids, 2));
            if (!valid) {
                Fuzz.reject("bert.mpnet.forward", in, () -> mpnet.forward(ids, mask, null), "inputIds", "attentionMask");
                return;
            }
            try (Tensor out = Fuzz.call("bert.mpnet.forward", in, () -> mpnet.forward(ids, mask, null))) {
                if (out == null) throw new AssertionError("bert.mpnet.forward: a valid call was refused: " + in);
                float[] got = out.toFloatArray();
                int n = ids[0].length;
                for (int b = 0; b < ids.length; b++) {
                    double d = MpnetTest.worst(got, b, n, MpnetTest.reference(ids[b], mask == null ? ones(n) : mask[b]));
                    assertTrue(d < 2e-4, "bert.mpnet.forward: row " + b + " max|d| " + d + " for " + in);
                }
            }
        });
    }
}
