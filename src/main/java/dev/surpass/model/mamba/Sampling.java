package dev.surpass.model.mamba;

import dev.surpass.layers.Argmax;
import java.util.Arrays;
import java.util.Random;

/**
 * How the next token is picked from logits: greedy (temperature 0), or sampled at a temperature
 * after keeping the top-k logits and then the smallest set whose probability reaches top-p
 * (HF {@code generate}'s order: temperature → top-k → top-p). The seed makes a run repeatable.
 *
 * @param temperature 0 for greedy (argmax), else &gt; 0
 * @param topK        keep the k most likely tokens; 0 keeps all
 * @param topP        keep the nucleus of this probability mass, in (0, 1]; 1 keeps all
 * @param seed        seed of the sampler's random stream
 */
public record Sampling(double temperature, int topK, double topP, long seed) {
    public Sampling {
        if (!(temperature >= 0) || !Double.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature is " + temperature + "; expected 0 (greedy) or a positive number");
        }
        if (topK < 0) throw new IllegalArgumentException("topK is " + topK + "; expected 0 (off) or a positive count");
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP is " + topP + "; expected a value in (0, 1]");
    }

    public static Sampling greedy() {
        return new Sampling(0, 0, 1, 0);
    }

    public static Sampling temperature(double t, long seed) {
        return new Sampling(t, 0, 1, seed);
    }

    public Sampling withTopK(int k) {
        return new Sampling(temperature, k, topP, seed);
    }

    public Sampling withTopP(double p) {
        return new Sampling(temperature, topK, p, seed);
    }

    /** A fresh random stream for one generation. */
    public Random newRandom() {
        return new Random(seed);
    }

    /**
     * The random stream of sequence {@code b} of a batch: sequence 0 gets {@link #newRandom()}, the
     * others streams derived from the seed, so a sequence samples the same tokens whatever its
     * batch-mates are.
     */
    public Random newRandom(int b) {
        return new Random(seed + b * 0x9E3779B97F4A7C15L);
    }

    /** Picks a token from {@code logits[off, off + vocab)}. */
    public int pick(float[] logits, int off, int vocab, Random rng) {
        if (temperature == 0) return Argmax.first(logits, off, vocab); // the rule the device argmax also follows
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
        if (keep == vocab && topP >= 1) {
            // Plain sampling from the whole vocabulary: no order needed, O(vocab).
            float mx = logits[off];
            for (int i = 1; i < vocab; i++) mx = Math.max(mx, logits[off + i]);
            double max = mx / temperature, total = 0;
            for (int i = 0; i < vocab; i++) total += Math.exp(logits[off + i] / temperature - max);
            double r = rng.nextDouble() * total;
            int lastPositive = 0;
            for (int i = 0; i < vocab; i++) {
                double p = Math.exp(logits[off + i] / temperature - max);
                if (p > 0) lastPositive = i;
                r -= p;
                if (r < 0) return i;
            }
            return lastPositive;
        }
        int[] order = top(logits, off, vocab, keep);
        double max = logits[off + order[0]] / temperature;
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(logits[off + order[i]] / temperature - max);
            sum += p[i];
        }
        // Nucleus: the smallest prefix (by probability) whose mass reaches topP.
        double acc = 0;
        int nucleus = keep;
        for (int i = 0; i < keep; i++) {
            acc += p[i] / sum;
            if (acc >= topP) {
                nucleus = i + 1;
                break;
            }
        }
        double total = 0;
        for (int i = 0; i < nucleus; i++) total += p[i];
        double r = rng.nextDouble() * total;
        for (int i = 0; i < nucleus; i++) {
            r -= p[i];
            if (r < 0) return order[i];
        }
        return order[nucleus - 1];
    }

    /**
     * HF's {@code RepetitionPenaltyLogitsProcessor} in place on {@code logits[off, off + vocab)}: the logit of each token in
     * {@code seen} (the prompt and the tokens picked so far) divided by {@code penalty} when positive, else multiplied by it.
     * {@code penalty} 1 leaves them alone. Applied before {@link #pick}, as HF applies processors before the warpers.
     */
    public static void penalize(float[] logits, int off, int vocab, java.util.BitSet seen, double penalty) {
        if (penalty == 1.0) return;
        for (int t = seen.nextSetBit(0); t >= 0 && t < vocab; t = seen.nextSetBit(t + 1)) {
            float x = logits[off + t];
            logits[off + t] = (float) (x < 0 ? x * penalty : x / penalty);
        }
    }

    /** Checks a repetition penalty: 1 for off, else a positive finite number (HF's {@code repetition_penalty}). */
    public static double checkPenalty(String where, double penalty) {
        if (!(penalty > 0) || !Double.isFinite(penalty)) {
            throw new IllegalArgumentException(where + ": repetitionPenalty is " + penalty + "; expected a positive number (1 = off)");
        }
        return penalty;
    }

    /**
     * The {@code k} ids with the largest logits, largest first, ties by smaller id. Each id is packed
     * with its logit into one long that sorts in that order (no boxing): a bounded heap keeps the
     * k smallest keys, O(vocab · log k), then those k are sorted.
     */
    static int[] top(float[] logits, int off, int vocab, int k) {
        long[] heap = new long[k]; // max-heap of the k smallest keys seen
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            long key = key(logits[off + i], i);
            if (size < k) {
                int c = size++;
                heap[c] = key;
                while (c > 0 && heap[(c - 1) / 2] < heap[c]) {
                    long t = heap[c];
                    heap[c] = heap[(c - 1) / 2];
                    heap[(c - 1) / 2] = t;
                    c = (c - 1) / 2;
                }
            } else if (key < heap[0]) {
                heap[0] = key;
                int c = 0;
                while (true) {
                    int l = 2 * c + 1, r = l + 1, m = c;
                    if (l < k && heap[l] > heap[m]) m = l;
                    if (r < k && heap[r] > heap[m]) m = r;
                    if (m == c) break;
                    long t = heap[c];
                    heap[c] = heap[m];
                    heap[m] = t;
                    c = m;
                }
            }
        }
        Arrays.sort(heap);
        int[] ids = new int[k];
        for (int i = 0; i < k; i++) ids[i] = (int) heap[i];
        return ids;
    }

    /** A long that sorts by descending logit, then ascending id. */
    private static long key(float logit, int id) {
        int bits = Float.floatToIntBits(logit);
        int asc = bits ^ ((bits >> 31) & 0x7fffffff); // order-preserving float → int
        return ((long) ~asc << 32) | id;
    }
}
