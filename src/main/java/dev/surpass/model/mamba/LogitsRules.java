package dev.surpass.model.mamba;

import java.util.Arrays;
import java.util.BitSet;

/**
 * The logits processors of HF's {@code generate} that look at the sequence so far, applied on the host before a token is
 * picked ({@link Sampling#pick}) or a beam is scored, in HF's order:
 * <ol>
 *   <li>{@code repetition_penalty} ({@code RepetitionPenaltyLogitsProcessor}): the logit of every token the sequence holds
 *       divided by the penalty when positive, multiplied when negative ({@link Sampling#penalize});</li>
 *   <li>{@code no_repeat_ngram_size} n ({@code NoRepeatNGramLogitsProcessor}): −∞ for every token that would complete an
 *       n-gram the sequence already holds (its last n − 1 tokens followed by that token);</li>
 *   <li>{@code min_new_tokens} m ({@code MinNewTokensLengthLogitsProcessor}): −∞ for the stop ids while fewer than m new
 *       tokens have been generated.</li>
 * </ol>
 * "The sequence" is HF's {@code input_ids}: for a decoder-only model the prompt and the new tokens, for an
 * encoder-decoder model (T5) the decoder's tokens, its start token included. In beam search HF applies these to the
 * log-probabilities, each beam over its own tokens.
 *
 * @param repetitionPenalty 1 for off, else a positive finite number
 * @param noRepeatNgramSize 0 for off, else the n-gram length n &gt;= 1
 * @param minNewTokens      0 for off, else the new tokens before a stop id may be picked
 */
public record LogitsRules(double repetitionPenalty, int noRepeatNgramSize, int minNewTokens) {
    /** No rule: the logits as the model gives them. */
    public static final LogitsRules NONE = new LogitsRules(1.0, 0, 0);

    public LogitsRules {
        Sampling.checkPenalty("LogitsRules", repetitionPenalty);
        if (noRepeatNgramSize < 0) throw new IllegalArgumentException("LogitsRules: noRepeatNgramSize is " + noRepeatNgramSize + "; expected 0 (off) or an n-gram length");
        if (minNewTokens < 0) throw new IllegalArgumentException("LogitsRules: minNewTokens is " + minNewTokens + "; expected >= 0");
    }

    /** Only a repetition penalty. */
    public static LogitsRules repetitionPenalty(double penalty) {
        return new LogitsRules(penalty, 0, 0);
    }

    /** Whether no rule is on (the logits are left alone, so greedy picks may run on the device). */
    public boolean isNone() {
        return repetitionPenalty == 1.0 && noRepeatNgramSize == 0 && minNewTokens == 0;
    }

    /**
     * The rules in place on {@code logits[off, off + vocab)}.
     *
     * @param tokens    the sequence so far in {@code tokens[0, len)} (HF's input_ids, see the class comment)
     * @param generated how many tokens have been generated (for min_new_tokens)
     * @param stopIds   the ids that end a sequence (for min_new_tokens), possibly empty
     */
    public void apply(float[] logits, int off, int vocab, int[] tokens, int len, int generated, int[] stopIds) {
        if (repetitionPenalty != 1.0) {
            BitSet seen = new BitSet();
            for (int i = 0; i < len; i++) seen.set(tokens[i]);
            Sampling.penalize(logits, off, vocab, seen, repetitionPenalty);
        }
        int n = noRepeatNgramSize;
        if (n > 0 && len + 1 >= n) {
            // _calc_banned_ngram_tokens: every earlier n-gram whose first n − 1 tokens are the last n − 1 bans its last token
            int start = len + 1 - n;
            for (int i = 0; i + n <= len; i++) {
                boolean match = true;
                for (int j = 0; j < n - 1 && match; j++) match = tokens[i + j] == tokens[start + j];
                int t = tokens[i + n - 1];
                if (match && t >= 0 && t < vocab) logits[off + t] = Float.NEGATIVE_INFINITY;
            }
        }
        if (generated < minNewTokens && stopIds != null) {
            for (int id : stopIds) if (id >= 0 && id < vocab) logits[off + id] = Float.NEGATIVE_INFINITY;
        }
    }

    /** {@link #apply} on a sequence made of {@code prefix} and then {@code generated[0, count)}. */
    public void apply(float[] logits, int off, int vocab, int[] prefix, int[] generated, int count, int[] stopIds) {
        if (isNone()) return;
        int[] all = Arrays.copyOf(prefix, prefix.length + count);
        System.arraycopy(generated, 0, all, prefix.length, count);
        apply(logits, off, vocab, all, all.length, count, stopIds);
    }
}
