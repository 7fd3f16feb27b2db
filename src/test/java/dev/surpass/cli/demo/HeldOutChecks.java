package dev.surpass.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * What the tests of the shipped character-level models ({@code models/austen-*}) check of their
 * {@link HeldOutSubset}: one token per character, and that the Java bits per character reproduce
 * the ones the training script recorded.
 */
public final class HeldOutChecks {
    private HeldOutChecks() {}

    /** {@code dir}'s held-out subset tokenized by {@code tok}, checked to hold one token per character. */
    public static HeldOutSubset oneTokenPerCharacter(Path dir, Tokenizer tok) throws IOException {
        HeldOutSubset subset = HeldOutSubset.load(dir, tok);
        String text = subset.text();
        assertEquals(text.codePointCount(0, text.length()), subset.ids().length, "one token per character");
        return subset;
    }

    /**
     * Asserts that {@code bpc}, computed in Java over {@code subset} of {@code dir}, scored the
     * characters the script scored and matches its recorded bits per character within 1% and, since
     * only fp32 rounding differs, within 1e-3; prints both.
     */
    public static void assertReproducesRecordedBpc(Path dir, HeldOutSubset subset, double bpc) {
        double recorded = subset.recordedBpc();
        assertEquals(subset.recordedScored(), subset.scored());
        System.out.printf("%s: held-out subset bpc %.6f (Java) vs %.6f (training script)%n", dir, bpc, recorded);
        assertTrue(Math.abs(bpc - recorded) <= 0.01 * recorded, "Java bpc " + bpc + " vs recorded " + recorded);
        assertTrue(Math.abs(bpc - recorded) < 1e-3, "Java bpc " + bpc + " vs recorded " + recorded + " (fp32 rounding only)");
    }
}
