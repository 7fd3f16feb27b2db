package dev.surpass.model.decoder;

import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.model.mamba.Sampling;
import java.util.Arrays;
import java.util.function.Function;

/**
 * Fuzz cases shared by the decoder models (GPT-2, Llama): forward with token ids outside the
 * vocabulary, ragged / empty / null rows and sequences past the context; generate and
 * {@link DecoderSession} with bad prompts, maxNewTokens, sampling, penalties, stop ids and session
 * sizes. Valid forwards are compared with the model's float64 reference.
 */
public final class DecoderFuzzCases {
    private DecoderFuzzCases() {}

    /** A token id: mostly in the vocabulary, sometimes −1, vocab, or an extreme int. */
    public static int tokenId(Gen g, int vocab) {
        return g.weighted(20, 1) == 0 ? g.between(0, vocab - 1) : g.pickInt(-1, vocab, vocab + 1, Integer.MIN_VALUE, Integer.MAX_VALUE);
    }

    /** Up to {@code max} token ids ({@link #tokenId}), null one time in five (stop ids). */
    public static int[] stops(Gen g, int vocab, int max) {
        return g.chance(0.2) ? null : g.intArray(0, max, () -> tokenId(g, vocab));
    }

    /** Batches of rows of ids: mostly rectangular, sometimes ragged, empty or null rows. */
    public static int[][] batches(Gen g, int vocab, int maxLen) {
        if (g.weighted(6, 1) == 0) {
            int b = g.between(1, 3);
            int[] r = g.intArray(1, maxLen, () -> tokenId(g, vocab));
            int[][] x = new int[b][];
            for (int i = 0; i < b; i++) {
                x[i] = r.clone();
                for (int t = 0; t < r.length; t++) if (r[t] >= 0 && r[t] < vocab) x[i][t] = (r[t] + 7 * i) % vocab;
            }
            return x;
        }
        return g.array(int[][]::new, 0, 3, () -> switch (g.between(0, 2)) {
            case 0 -> g.intArray(1, maxLen, () -> tokenId(g, vocab));
            case 1 -> new int[0];
            default -> null;
        });
    }

    /** Whether every row is present, non-empty, of one length within the context, and every id in the vocabulary. */
    static boolean validBatch(int[][] ids, int vocab, int maxPos) {
        if (ids == null || ids.length == 0) return false;
        for (int[] r : ids) {
            if (r == null || r.length == 0 || r.length != ids[0].length || r.length > maxPos) return false;
            for (int t : r) if (t < 0 || t >= vocab) return false;
        }
        return true;
    }

    /** Decoding.forward: valid batches match {@code reference} (one sequence → logits [L][V]); others are refused. */
    public static void forward(String prop, DecoderModel m, int[][] ids, Function<int[], double[][]> reference) {
        String in = "ids " + Arrays.deepToString(ids);
        boolean valid = validBatch(ids, m.vocabSize(), m.maxPositions());
        if (!valid) {
            Fuzz.reject(prop, in, () -> Decoding.forward(m, ids), "ids", "token id", "position");
            return;
        }
        try (Tensor lg = Fuzz.call(prop, in, () -> Decoding.forward(m, ids))) {
            if (lg == null) throw new AssertionError(prop + ": a valid batch was refused: " + in);
            float[] got = lg.toFloatArray();
            int len = ids[0].length, v = m.vocabSize();
            double[][] ref = reference.apply(ids[ids.length - 1]);
            double num = 0, den = 0;
            int base = (ids.length - 1) * len * v;
            for (int t = 0; t < len; t++) {
                for (int j = 0; j < v; j++) {
                    double d = got[base + t * v + j] - ref[t][j];
                    num += d * d;
                    den += ref[t][j] * ref[t][j];
                }
            }
            double rel = Math.sqrt(num / Math.max(den, 1e-30));
            if (!(rel < 1e-4)) throw new AssertionError(prop + ": relL2 " + rel + " against the reference for " + in);
        }
    }

    /** Decoding.generate with any arguments: tokens in the vocabulary, at most maxNewTokens of them, or a refusal. */
    public static void generate(String prop, DecoderModel m, int[][] prompts, int maxNew, Sampling sampling, double penalty, int[] stopIds) {
        String in = "prompts " + Arrays.deepToString(prompts) + " maxNew " + maxNew + " " + sampling + " penalty " + penalty + " stop "
                + Arrays.toString(stopIds);
        int[][] out = Fuzz.call(prop, in, () -> Decoding.generate(m, prompts, maxNew, sampling, penalty, stopIds, null),
                "prompts", "maxNewTokens", "sampling", "repetitionPenalty", "prompt[", "context");
        if (out == null) return;
        for (int[] r : out) {
            if (r.length > maxNew) throw new AssertionError(prop + ": " + r.length + " tokens for maxNew " + maxNew + ": " + in);
            for (int t : r) if (t < 0 || t >= m.vocabSize()) throw new AssertionError(prop + ": token " + t + " outside the vocabulary: " + in);
        }
    }

    /** A session of any size takes requests (or refuses them) and steps to completion. */
    public static void session(String prop, DecoderModel m, int maxTokens, int pageSize, int[][] prompts, int maxNew) {
        String in = "maxTokens " + maxTokens + " pageSize " + pageSize + " prompts " + Arrays.deepToString(prompts) + " maxNew " + maxNew;
        DecoderSession s = Fuzz.call(prop, in, () -> DecoderSession.create(m, maxTokens, pageSize), "maxTokens", "pageSize", "allocate",
                "numPages", "tokens");
        if (s == null) return;
        try (s) {
            for (int[] p : prompts) {
                Fuzz.call(prop, in, () -> s.add(new DecoderSession.Request(p, maxNew, Sampling.greedy(), 1.0, null, null)),
                        "prompt", "maxNewTokens", "session full");
            }
            int steps = 0;
            while (s.activeCount() > 0 && steps++ < 200) Fuzz.call(prop + ".step", in, s::step);
            if (s.activeCount() > 0) throw new AssertionError(prop + ": still active after 200 steps: " + in);
        }
    }

    /** Session sizes: small and valid, or 0, negative, huge (refused or certain to fail to allocate). */
    public static int sessionSize(Gen g) {
        return g.weighted(8, 1) == 0 ? g.between(1, 96) : g.pickInt(0, -1, Integer.MIN_VALUE);
    }

    /** Greedy, or temperature sampling with top-k and top-p (half and half). */
    public static Sampling sampling(Gen g) {
        if (g.bool()) return Sampling.greedy();
        double t = g.pickDouble(0.5, 1.0, 2.0);
        int k = g.between(0, 5);
        double p = g.pickDouble(0.5, 0.9, 1.0);
        return Sampling.temperature(t, g.anyLong()).withTopK(k).withTopP(p);
    }
}
