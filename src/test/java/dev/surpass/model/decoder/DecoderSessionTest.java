package dev.surpass.model.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.model.mamba.Sampling;
import java.util.BitSet;
import org.junit.jupiter.api.Test;

/** Model-free parts of {@link DecoderSession}: the penalty rule and request validation. */
class DecoderSessionTest {
    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeSeenLogits() {
        float[] l = {2f, -2f, 3f, -0.5f};
        BitSet seen = new BitSet();
        seen.set(0);
        seen.set(1);
        seen.set(3);
        Sampling.penalize(l, 0, 4, seen, 2.0);
        assertArrayEquals(new float[] {1f, -4f, 3f, -1f}, l);
        float[] same = {2f, -2f};
        Sampling.penalize(same, 0, 2, seen, 1.0);
        assertArrayEquals(new float[] {2f, -2f}, same);
        float[] row1 = {9f, 9f, 2f, -2f, 3f, -0.5f}; // a row at an offset; a seen id past the vocabulary is ignored
        seen.set(7);
        Sampling.penalize(row1, 2, 4, seen, 2.0);
        assertArrayEquals(new float[] {9f, 9f, 1f, -4f, 3f, -1f}, row1);
    }

    @Test
    void requestsValidateTheirArguments() {
        Sampling g = Sampling.greedy();
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new DecoderSession.Request(new int[0], 1, g, 1, null, null))
                .getMessage().contains("prompt"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new DecoderSession.Request(new int[] {1}, 0, g, 1, null, null))
                .getMessage().contains("maxNewTokens"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new DecoderSession.Request(new int[] {1}, 1, null, 1, null, null))
                .getMessage().contains("sampling"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new DecoderSession.Request(new int[] {1}, 1, g, 0, null, null))
                .getMessage().contains("repetitionPenalty"));
    }
}
