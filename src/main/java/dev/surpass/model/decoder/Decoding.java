package dev.surpass.model.decoder;

import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.model.mamba.LogitsRules;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Path;

/**
 * The whole-batch entries over a {@link DecoderModel}: a forward pass (ids → logits) through the
 * varlen fused attention, and batched generation through a {@link DecoderSession}; plus the checks
 * the models share.
 */
public final class Decoding {
    private Decoding() {}

    /** Page size of the sessions {@link #generate} creates. */
    public static final int PAGE_SIZE = 16;

    /** Receives each generated token of prompt {@code sequence} as soon as it is picked. */
    @FunctionalInterface
    public interface TokenSink {
        void accept(int sequence, int token);
    }

    /**
     * Logits {@code [B, L, vocab]} F32 of equal-length sequences {@code ids[B][L]} (causal; all
     * rows packed into one varlen pass, no cache).
     */
    public static Tensor forward(DecoderModel model, int[][] ids) {
        if (model == null) throw new IllegalArgumentException("forward: model is null");
        if (ids == null || ids.length == 0) throw new IllegalArgumentException("forward: ids is null or empty");
        int len = ids[0] == null ? 0 : ids[0].length;
        for (int b = 0; b < ids.length; b++) {
            if (ids[b] == null || ids[b].length == 0 || ids[b].length != len) {
                throw new IllegalArgumentException("forward: ids[" + b + "] has " + (ids[b] == null ? "null" : ids[b].length + " tokens")
                        + "; expected " + len + " (every row the same length, at least 1)");
            }
        }
        int bsz = ids.length;
        int[] flat = new int[bsz * len], pos = new int[flat.length], cu = new int[bsz + 1];
        for (int b = 0; b < bsz; b++) {
            System.arraycopy(ids[b], 0, flat, b * len, len);
            for (int t = 0; t < len; t++) pos[b * len + t] = t;
            cu[b + 1] = (b + 1) * len;
        }
        try (Tensor lg = model.logits(flat, pos, null, (l, q, k, v) -> Attention.prefillVarlen(q, k, v, cu, cu, model.attentionOptions(l)))) {
            return lg.reshape(bsz, len, model.vocabSize());
        }
    }

    /**
     * Generates after each prompt (lengths may differ) with one {@link DecoderSession}: all prompts
     * prefilled together, then decoded together; sequence {@code b} samples from the stream seeded
     * {@code sampling.seed() + b·0x9E3779B97F4A7C15} (as {@link Sampling#newRandom(int)}), so its
     * tokens do not depend on its batch-mates. A sequence ends at a stop id (returned), after
     * {@code maxNewTokens} tokens, or at the end of the model's context.
     *
     * @return the new tokens of each prompt
     */
    public static int[][] generate(DecoderModel model, int[][] prompts, int maxNewTokens, Sampling sampling, double repetitionPenalty,
                                   int[] stopIds, TokenSink sink) {
        return generate(model, prompts, maxNewTokens, sampling, LogitsRules.repetitionPenalty(Sampling.checkPenalty("generate", repetitionPenalty)),
                stopIds, sink);
    }

    /** {@link #generate(DecoderModel, int[][], int, Sampling, double, int[], TokenSink)} with HF's sequence-aware logits rules. */
    public static int[][] generate(DecoderModel model, int[][] prompts, int maxNewTokens, Sampling sampling, LogitsRules rules,
                                   int[] stopIds, TokenSink sink) {
        if (model == null) throw new IllegalArgumentException("generate: model is null");
        if (prompts == null || prompts.length == 0) throw new IllegalArgumentException("generate: prompts is null or empty");
        if (maxNewTokens < 0) throw new IllegalArgumentException("generate: maxNewTokens is " + maxNewTokens + "; expected >= 0");
        if (sampling == null) throw new IllegalArgumentException("generate: sampling is null");
        for (int b = 0; b < prompts.length; b++) {
            if (prompts[b] == null || prompts[b].length == 0) throw new IllegalArgumentException("generate: prompts[" + b + "] is null or empty");
        }
        int[][] out = new int[prompts.length][];
        if (maxNewTokens == 0) {
            for (int b = 0; b < out.length; b++) out[b] = new int[0];
            return out;
        }
        long pages = 0;
        for (int[] p : prompts) pages += (Math.min((long) p.length + maxNewTokens - 1, model.maxPositions()) + PAGE_SIZE - 1) / PAGE_SIZE;
        if (pages * PAGE_SIZE > Integer.MAX_VALUE) throw new IllegalArgumentException("generate: the batch needs " + pages * PAGE_SIZE + " cached tokens");
        try (DecoderSession s = DecoderSession.create(model, (int) (pages * PAGE_SIZE), PAGE_SIZE)) {
            int[] ids = new int[prompts.length];
            for (int b = 0; b < prompts.length; b++) {
                int seq = b;
                Sampling sb = new Sampling(sampling.temperature(), sampling.topK(), sampling.topP(), sampling.seed() + b * 0x9E3779B97F4A7C15L);
                DecoderSession.TokenListener l = sink == null ? null : (id, tok, last) -> sink.accept(seq, tok);
                try {
                    ids[b] = s.add(new DecoderSession.Request(prompts[b], maxNewTokens, sb, rules, stopIds, l));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("generate: prompts[" + b + "]: " + e.getMessage(), e);
                }
            }
            s.runToCompletion();
            for (int b = 0; b < prompts.length; b++) out[b] = s.tokens(ids[b]);
        }
        return out;
    }

    /** Checks packed tokens for {@link DecoderModel#logits}; returns their count. */
    public static int checkTokens(String op, int[] ids, int[] positions, int[] logitRows, int vocab, int maxPos) {
        if (ids == null || ids.length == 0) throw new IllegalArgumentException(op + ": ids is null or empty");
        if (positions == null || positions.length != ids.length) {
            throw new IllegalArgumentException(op + ": positions has " + (positions == null ? "null" : positions.length + " entries")
                    + " but ids has " + ids.length);
        }
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= vocab) {
                throw new IllegalArgumentException(op + ": token id " + ids[t] + " at ids[" + t + "] is outside the vocabulary [0, " + vocab + ")");
            }
            if (positions[t] < 0 || positions[t] >= maxPos) {
                throw new IllegalArgumentException(op + ": position " + positions[t] + " at positions[" + t + "] is outside the context [0, "
                        + maxPos + ")");
            }
        }
        if (logitRows != null) {
            for (int r : logitRows) {
                if (r < 0 || r >= ids.length) throw new IllegalArgumentException(op + ": logitRows has " + r + ", outside [0, " + ids.length + ")");
            }
        }
        return ids.length;
    }

    /** Checks {@link DecoderModel#logits(int[], int[], int[], int[], LayerAttention)}'s {@code reach}: null, or one entry per token above its position. */
    public static void checkReach(int[] positions, int[] reach) {
        if (reach == null) return;
        if (positions == null || reach.length != positions.length) {
            throw new IllegalArgumentException("logits: reach has " + reach.length + " entries but positions has "
                    + (positions == null ? "null" : positions.length));
        }
        for (int t = 0; t < reach.length; t++) {
            if (reach[t] <= positions[t]) {
                throw new IllegalArgumentException("logits: reach[" + t + "] = " + reach[t] + " does not exceed the token's position " + positions[t]);
            }
        }
    }

    /** Rejects a head dim the fused attention lacks, naming the config file and the field. */
    public static void checkHeadDim(Path dir, String field, int d) {
        if (d != 32 && d != 64 && d != 72 && d != 80 && d != 96 && d != 128 && d != 256) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": head dim (" + field + ") is " + d
                    + "; the fused attention supports 32, 64, 72, 80, 96, 128 and 256");
        }
    }
}
