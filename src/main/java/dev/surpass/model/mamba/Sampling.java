package dev.surpass.model.mamba;

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

    /** Picks a token from {@code logits[off, off + vocab)}. */
    public int pick(float[] logits, int off, int vocab, Random rng) {
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < vocab; i++) if (logits[off + i] > logits[off + best]) best = i;
            return best;
        }
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(logits[off + b], logits[off + a]));
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
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
}
