package dev.surpass.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.surpass.Device;
import dev.surpass.cli.demo.HeldOutChecks;
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
        HeldOutSubset subset = HeldOutChecks.oneTokenPerCharacter(DIR, tok);
        assertEquals(subset.text(), tok.decode(subset.ids()));
        try (Device cpu = Device.cpu(); Llama model = Llama.load(cpu, DIR)) {
            assertEquals(subset.ctx(), model.maxPositions());
            double bpc = subset.bitsPerCharacter(model.vocabSize(), rows -> Decoding.forward(model, rows));
            HeldOutChecks.assertReproducesRecordedBpc(DIR, subset, bpc);
        }
    }
}
