package dev.surpass.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.cli.demo.HeldOutSubset;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The shipped character-level GPT ({@code models/austen-gpt}, trained by
 * {@code tools/train/train_charlm.py --arch gpt}) loads through {@link Llama#load} and its
 * tokenizer.json through {@link Tokenizer#load}, and reproduces the held-out bits per character the
 * training script recorded for {@code heldout-subset.txt} to within 1% (in practice ~1e-6).
 */
class TrainedAustenGptTest {
    static final Path DIR = Path.of("models", "austen-gpt");

    @Test
    void reproducesHeldOutBitsPerCharacter() throws IOException {
        Tokenizer tok = Tokenizer.load(DIR.resolve("tokenizer.json"));
        HeldOutSubset subset = HeldOutSubset.load(DIR, tok);
        String text = subset.text();
        double recorded = subset.recordedBpc();
        assertEquals(text.codePointCount(0, text.length()), subset.ids().length, "one token per character");
        assertEquals(text, tok.decode(subset.ids()));
        try (Device cpu = Device.cpu(); Llama model = Llama.load(cpu, DIR)) {
            assertEquals(subset.ctx(), model.maxPositions());
            double bpc = subset.bitsPerCharacter(model.vocabSize(), rows -> Decoding.forward(model, rows));
            assertEquals(subset.recordedScored(), subset.scored());
            System.out.printf("%s: held-out subset bpc %.6f (Java) vs %.6f (training script)%n", DIR, bpc, recorded);
            assertTrue(Math.abs(bpc - recorded) <= 0.01 * recorded, "Java bpc " + bpc + " vs recorded " + recorded);
            assertTrue(Math.abs(bpc - recorded) < 1e-3, "Java bpc " + bpc + " vs recorded " + recorded + " (fp32 rounding only)");
        }
    }
}
