package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link Sampling}: the top-k selection against a plain sort, and the sampled frequencies. */
class SamplingTest {
    static final long SEED = 20261127L;

    @Test
    void topKEqualsAFullSortWithTiesBySmallerId() {
        Random r = new Random(SEED);
        for (int trial = 0; trial < 20; trial++) {
            int vocab = 1 + r.nextInt(3000);
            float[] logits = new float[vocab + 3];
            // quantized values so that ties are common; some negative, offset 3 into the array
            for (int i = 0; i < logits.length; i++) logits[i] = (r.nextInt(41) - 20) * 0.25f;
            Integer[] order = new Integer[vocab];
            for (int i = 0; i < vocab; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Float.compare(logits[3 + b], logits[3 + a]));
            for (int k : new int[] {1, 2, 7, 50, vocab}) {
                if (k > vocab) continue;
                int[] want = new int[k];
                for (int i = 0; i < k; i++) want[i] = order[i];
                assertArrayEquals(want, Sampling.top(logits, 3, vocab, k), "vocab " + vocab + " k " + k + " (seed " + SEED + ")");
            }
        }
    }

    @Test
    void sampledFrequenciesFollowTheSoftmax() {
        // p = softmax(logits / T): logits {0, ln 3, -inf-ish} at T = 1 → {0.25, 0.75, ~0}
        float[] logits = {0f, (float) Math.log(3), -80f};
        int n = 20000;
        for (Sampling s : new Sampling[] {new Sampling(1, 0, 1, SEED), new Sampling(1, 2, 1, SEED), new Sampling(1, 0, 0.99, SEED)}) {
            Random rng = s.newRandom();
            int[] count = new int[3];
            for (int i = 0; i < n; i++) count[s.pick(logits, 0, 3, rng)]++;
            assertEquals(0.75, count[1] / (double) n, 0.015, s + " " + Arrays.toString(count));
            assertEquals(0, count[2], s + " " + Arrays.toString(count));
        }
        // top-p 0.7 keeps only the 0.75 token; temperature 2 flattens to {1/(1+√3), √3/(1+√3)}
        Sampling nucleus = new Sampling(1, 0, 0.7, SEED);
        Random rng = nucleus.newRandom();
        for (int i = 0; i < 100; i++) assertEquals(1, nucleus.pick(logits, 0, 3, rng));
        Sampling warm = new Sampling(2, 0, 1, SEED);
        rng = warm.newRandom();
        int ones = 0;
        for (int i = 0; i < n; i++) if (warm.pick(logits, 0, 3, rng) == 1) ones++;
        assertEquals(Math.sqrt(3) / (1 + Math.sqrt(3)), ones / (double) n, 0.015);
        assertTrue(new Sampling(1, 0, 1, 1).newRandom(1).nextLong() != new Sampling(1, 0, 1, 1).newRandom(0).nextLong());
    }
}
