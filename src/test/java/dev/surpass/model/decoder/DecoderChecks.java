package dev.surpass.model.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.PagedKvCache;
import dev.surpass.model.mamba.Sampling;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/** Checks every decoder model must pass (used by the GPT-2 and Llama tests). */
public final class DecoderChecks {
    private DecoderChecks() {}

    /**
     * Loads a model with {@code load}, forwards {@code prompts[0]}, generates 4 tokens greedily for
     * all {@code prompts} (ragged: the paged cache), closes it; then {@code failedLoad} (a load that
     * must throw IllegalArgumentException): {@code device} holds as many allocations after each as
     * before.
     */
    public static void freesEverything(dev.surpass.Device device, java.util.function.Supplier<? extends DecoderModel> load, int[][] prompts,
                                       Runnable failedLoad) {
        int before = device.liveAllocations();
        try (DecoderModel m = load.get()) {
            try (Tensor lg = Decoding.forward(m, new int[][] {prompts[0]})) {
                assertEquals((long) prompts[0].length * m.vocabSize(), lg.numel());
            }
            Decoding.generate(m, prompts, 4, Sampling.greedy(), 1.0, null, null);
        }
        assertEquals(before, device.liveAllocations(), "live allocations after close");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, failedLoad::run);
        assertEquals(before, device.liveAllocations(), "live allocations after a failed load");
    }

    /**
     * Prefills {@code seq[0, split)} into a paged cache (scattered pages, page size 3), then decodes
     * {@code seq[split..]} one token at a time through {@link Attention#decode}; each step's logits
     * must equal row t of the full forward within {@code tol} (max abs difference, returned).
     */
    public static double incrementalEqualsFull(DecoderModel m, int[] seq, int split, double tol) {
        float[] full;
        try (Tensor f = Decoding.forward(m, new int[][] {seq})) {
            full = f.toFloatArray();
        }
        int v = m.vocabSize(), layers = m.numLayers();
        PagedKvCache[] caches = new PagedKvCache[layers];
        int[][] sid = new int[layers][1];
        double worst = 0;
        try {
            for (int l = 0; l < layers; l++) {
                caches[l] = PagedKvCache.create(m.device(), DType.F32, 16, 3, m.numKvHeads(), m.headDim());
                caches[l].shuffleFreePages(17 + l);
                sid[l][0] = caches[l].newSequence();
            }
            int[] ids = Arrays.copyOf(seq, split), pos = new int[split];
            for (int t = 0; t < split; t++) pos[t] = t;
            int[] cu = {0, split};
            try (Tensor lg = m.logits(ids, pos, new int[] {split - 1}, (l, q, k, vv) -> {
                caches[l].appendPrompt(sid[l][0], k, vv);
                return Attention.prefillVarlen(q, k, vv, cu, cu, m.attentionOptions(l));
            })) {
                worst = Math.max(worst, maxAbs(lg.toFloatArray(), 0, full, (split - 1) * v, v));
            }
            for (int t = split; t < seq.length; t++) {
                try (Tensor lg = m.logits(new int[] {seq[t]}, new int[] {t}, null, (l, q, k, vv) -> {
                    caches[l].append(sid[l], k, vv);
                    return Attention.decode(q, caches[l], sid[l], m.attentionOptions(l));
                })) {
                    worst = Math.max(worst, maxAbs(lg.toFloatArray(), 0, full, t * v, v));
                }
            }
        } finally {
            for (PagedKvCache c : caches) if (c != null) c.close();
        }
        assertTrue(worst <= tol, "incremental decode vs full forward: max |diff| " + worst + " > " + tol);
        return worst;
    }

    private static double maxAbs(float[] a, int ao, float[] b, int bo, int n) {
        double w = 0;
        for (int i = 0; i < n; i++) w = Math.max(w, Math.abs(a[ao + i] - b[bo + i]));
        return w;
    }

    /** Greedy tokens of each prompt alone must equal the batch's; also under sampling with a seed. */
    public static void batchEqualsAlone(DecoderModel m, int[][] prompts, int maxNew) {
        for (Sampling s : new Sampling[] {Sampling.greedy(), new Sampling(1.0, 20, 0.95, 42)}) {
            List<int[]> streamed = new ArrayList<>();
            for (int b = 0; b < prompts.length; b++) streamed.add(new int[0]);
            int[][] batch = Decoding.generate(m, prompts, maxNew, s, 1.0, null, (b, tok) -> {
                int[] cur = streamed.get(b);
                int[] nx = Arrays.copyOf(cur, cur.length + 1);
                nx[cur.length] = tok;
                streamed.set(b, nx);
            });
            for (int b = 0; b < prompts.length; b++) {
                assertEquals(maxNew, batch[b].length, "prompt " + b + " gets maxNew tokens");
                assertArrayEquals(batch[b], streamed.get(b), "streamed tokens of prompt " + b);
                Sampling sb = new Sampling(s.temperature(), s.topK(), s.topP(), s.seed() + b * 0x9E3779B97F4A7C15L);
                int[] alone = Decoding.generate(m, new int[][] {prompts[b]}, maxNew, sb, 1.0, null, null)[0];
                assertArrayEquals(alone, batch[b], "prompt " + b + " (length " + prompts[b].length + ") in the batch vs alone, " + s);
                if (s.temperature() == 0) {
                    // greedy through the cache == argmax of recomputing the whole sequence (causal rows are prefixes)
                    int[] full = Arrays.copyOf(prompts[b], prompts[b].length + maxNew - 1);
                    System.arraycopy(batch[b], 0, full, prompts[b].length, maxNew - 1);
                    try (Tensor f = Decoding.forward(m, new int[][] {full})) {
                        float[] lg = f.toFloatArray();
                        int v = m.vocabSize();
                        for (int i = 0; i < maxNew; i++) {
                            int row = prompts[b].length - 1 + i;
                            assertEquals(argmax(Arrays.copyOfRange(lg, row * v, (row + 1) * v)), batch[b][i],
                                    "prompt " + b + " token " + i + " vs the full forward's argmax");
                        }
                    }
                }
            }
        }
    }

    /**
     * Greedy continuous batching: A runs alone for 3 steps, B joins, C joins later and is removed
     * after 2 tokens, D joins after A finishes. Each finished request equals its run alone.
     */
    public static void continuousBatching(DecoderModel m, int[] a, int[] b, int[] c, int[] d, int maxNew) {
        int[] aloneA = alone(m, a, maxNew), aloneB = alone(m, b, maxNew), aloneD = alone(m, d, maxNew), aloneC = alone(m, c, maxNew);
        List<Integer> streamedB = new ArrayList<>();
        boolean[] lastSeenB = {false};
        try (DecoderSession s = DecoderSession.create(m, 256, 4)) {
            int ia = s.add(DecoderSession.Request.greedy(a, maxNew));
            for (int i = 0; i < 3; i++) s.step();
            int ib = s.add(new DecoderSession.Request(b, maxNew, Sampling.greedy(), 1.0, null, (id, tok, last) -> {
                streamedB.add(tok);
                if (last) lastSeenB[0] = true;
            }));
            s.step();
            int ic = s.add(DecoderSession.Request.greedy(c, maxNew));
            s.step();
            s.step();
            assertArrayEquals(Arrays.copyOf(aloneC, 2), s.tokens(ic), "C's first 2 tokens mid-batch");
            assertTrue(s.remove(ic));
            assertFalse(s.isActive(ic));
            int id = -1;
            while (s.activeCount() > 0) {
                if (id < 0 && !s.isActive(ia)) id = s.add(DecoderSession.Request.greedy(d, maxNew));
                s.step();
            }
            assertTrue(id >= 0, "D was added after A finished");
            assertArrayEquals(aloneA, s.tokens(ia), "A");
            assertArrayEquals(aloneB, s.tokens(ib), "B joined after 3 steps");
            assertArrayEquals(aloneD, s.tokens(id), "D joined after A finished");
            assertArrayEquals(aloneB, streamedB.stream().mapToInt(Integer::intValue).toArray(), "B streamed");
            assertTrue(lastSeenB[0], "B's last token is flagged");
        }
    }

    private static int[] alone(DecoderModel m, int[] p, int maxNew) {
        return Decoding.generate(m, new int[][] {p}, maxNew, Sampling.greedy(), 1.0, null, null)[0];
    }

    /**
     * Seeds: the same seed gives the same tokens, other seeds others; stop ids end a sequence at
     * the first stop (emitted); the repetition penalty changes the first pick as HF's rule says.
     */
    public static void samplingStopsAndPenalty(DecoderModel m, int[] prompt) {
        Sampling s = new Sampling(1.0, 0, 1.0, 7);
        int[] t1 = Decoding.generate(m, new int[][] {prompt}, 12, s, 1.0, null, null)[0];
        int[] t2 = Decoding.generate(m, new int[][] {prompt}, 12, s, 1.0, null, null)[0];
        assertArrayEquals(t1, t2, "same seed, same tokens");
        boolean differs = false;
        for (long seed = 8; seed < 12 && !differs; seed++) {
            differs = !Arrays.equals(t1, Decoding.generate(m, new int[][] {prompt}, 12, new Sampling(1.0, 0, 1.0, seed), 1.0, null, null)[0]);
        }
        assertTrue(differs, "other seeds give other tokens");

        int[] greedy = alone(m, prompt, 8);
        int stop = greedy[3];
        int first = 0;
        while (greedy[first] != stop) first++;
        int[] stopped = Decoding.generate(m, new int[][] {prompt}, 8, Sampling.greedy(), 1.0, new int[] {stop}, null)[0];
        assertArrayEquals(Arrays.copyOf(greedy, first + 1), stopped, "ends at the first stop id, which is emitted");

        // repetition penalty 50 on the first pick: the argmax of the penalised forward row. Prompts
        // are tried (the given one, then random 10-token ones) until the penalty overturns the plain
        // argmax, so the check really exercises it.
        Random r = new Random(99);
        int v = m.vocabSize();
        for (int attempt = 0; attempt < 40; attempt++) {
            int[] p2 = prompt;
            if (attempt > 0) {
                p2 = new int[10];
                for (int i = 0; i < p2.length; i++) p2[i] = r.nextInt(Math.min(v, 12)); // few distinct ids: many are "seen"
            }
            float[] last;
            try (Tensor f = Decoding.forward(m, new int[][] {p2})) {
                last = Arrays.copyOfRange(f.toFloatArray(), (p2.length - 1) * v, p2.length * v);
            }
            int plain = argmax(last);
            for (int t : Arrays.stream(p2).distinct().toArray()) last[t] = last[t] > 0 ? last[t] / 50 : last[t] * 50;
            int best = argmax(last);
            if (best == plain) continue;
            int[] pen = Decoding.generate(m, new int[][] {p2}, 1, Sampling.greedy(), 50.0, null, null)[0];
            assertEquals(best, pen[0], "first token under repetition penalty 50");
            return;
        }
        throw new AssertionError("no prompt found whose plain argmax the repetition penalty overturns");
    }

    private static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    /**
     * GPU: {@code gpu} and {@code cpu} are the same checkpoint loaded on CUDA and on the CPU. Logits
     * of a 2×11 forward agree within 1e-4 relative to (1 + |cpu|) (fp32 on both, different summation
     * orders; TF32 off); on CUDA the paged decode equals the full forward (2e-4 abs) and a ragged
     * greedy batch gives each prompt the CPU's first 3 tokens.
     */
    public static void cudaMatchesCpu(DecoderModel gpu, DecoderModel cpu, int[][] equalLength, int[][] ragged) {
        try (dev.surpass.Tensor a = Decoding.forward(cpu, equalLength); dev.surpass.Tensor b = Decoding.forward(gpu, equalLength)) {
            float[] x = a.toFloatArray(), y = b.toFloatArray();
            double worst = 0;
            for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1 + Math.abs(x[i])));
            assertTrue(worst <= 1e-4, "CUDA vs CPU logits: max rel err " + worst);
        }
        int[] seq = equalLength[0];
        incrementalEqualsFull(gpu, seq, Math.max(1, seq.length / 2), 2e-4);
        int[][] gc = Decoding.generate(cpu, ragged, 3, Sampling.greedy(), 1.0, null, null);
        int[][] gg = Decoding.generate(gpu, ragged, 3, Sampling.greedy(), 1.0, null, null);
        for (int b = 0; b < ragged.length; b++) assertArrayEquals(gc[b], gg[b], "greedy tokens of prompt " + b + " on CUDA vs CPU");
    }
}
