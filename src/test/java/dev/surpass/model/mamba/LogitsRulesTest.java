package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@link LogitsRules} on hand-made sequences, each rule as HF's logits processor computes it. */
class LogitsRulesTest {
    static final float NI = Float.NEGATIVE_INFINITY;

    static float[] ones(int n) {
        float[] f = new float[n];
        java.util.Arrays.fill(f, 1f);
        return f;
    }

    @Test
    void noRepeatNgramsBanWhatWouldCompleteAnEarlierOne() {
        int[] seq = {1, 2, 3, 1, 2}; // bigrams seen: 1→2, 2→3, 3→1; the last token 2 was followed by 3 before
        float[] l = ones(6);
        new LogitsRules(1, 2, 0).apply(l, 0, 6, seq, seq.length, 0, null);
        assertArrayEquals(new float[] {1, 1, 1, NI, 1, 1}, l);
        l = ones(6); // trigrams: the last two (1, 2) were followed by 3
        new LogitsRules(1, 3, 0).apply(l, 0, 6, seq, seq.length, 0, null);
        assertArrayEquals(new float[] {1, 1, 1, NI, 1, 1}, l);
        l = ones(6); // n = 1: every token already in the sequence
        new LogitsRules(1, 1, 0).apply(l, 0, 6, seq, seq.length, 0, null);
        assertArrayEquals(new float[] {1, NI, NI, NI, 1, 1}, l);
        l = ones(6); // n longer than the sequence + 1: nothing yet (HF: cur_len + 1 < n)
        new LogitsRules(1, 7, 0).apply(l, 0, 6, seq, seq.length, 0, null);
        assertArrayEquals(ones(6), l);
        l = ones(6); // 4-grams: the last three (3, 1, 2) never occurred before
        new LogitsRules(1, 4, 0).apply(l, 0, 6, seq, seq.length, 0, null);
        assertArrayEquals(ones(6), l);
    }

    @Test
    void minNewTokensBansTheStopIdsUntilEnoughAreOut() {
        float[] l = ones(5);
        new LogitsRules(1, 0, 3).apply(l, 0, 5, new int[] {4}, 1, 2, new int[] {0, 3, 9});
        assertArrayEquals(new float[] {NI, 1, 1, NI, 1}, l); // an id past the vocabulary is ignored
        l = ones(5);
        new LogitsRules(1, 0, 3).apply(l, 0, 5, new int[] {4}, 1, 3, new int[] {0, 3});
        assertArrayEquals(ones(5), l);
    }

    @Test
    void penaltyThenBansOnARowAtAnOffset() {
        float[] l = {7, 7, 2f, -2f, 4f, 1f};
        new LogitsRules(2, 1, 0).apply(l, 2, 4, new int[] {0}, 1, 0, null); // token 0 is seen: penalised, then banned
        assertArrayEquals(new float[] {7, 7, NI, -2f, 4f, 1f}, l);
        l = new float[] {7, 7, 2f, -2f, 4f, 1f};
        LogitsRules.repetitionPenalty(2).apply(l, 2, 4, new int[] {1, 2}, 2, 0, null);
        assertArrayEquals(new float[] {7, 7, 2f, -4f, 2f, 1f}, l);
        assertTrue(LogitsRules.NONE.isNone());
        assertThrows(IllegalArgumentException.class, () -> new LogitsRules(0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new LogitsRules(1, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new LogitsRules(1, 0, -2));
    }
}
