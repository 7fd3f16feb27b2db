package dev.surpass.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
        JsonNode metrics = new ObjectMapper().readTree(DIR.resolve("metrics.json").toFile());
        double recorded = metrics.path("heldout_subset").path("bpc").asDouble(Double.NaN);
        int ctx = metrics.path("hyper_parameters").path("ctx").asInt();
        String text = Files.readString(DIR.resolve("heldout-subset.txt"), StandardCharsets.UTF_8);
        Tokenizer tok = Tokenizer.load(DIR.resolve("tokenizer.json"));
        int[] ids = tok.encode(text, false);
        assertEquals(text.codePointCount(0, text.length()), ids.length, "one token per character");
        assertEquals(text, tok.decode(ids));
        try (Device cpu = Device.cpu(); Llama model = Llama.load(cpu, DIR)) {
            assertEquals(ctx, model.maxPositions());
            double bpc = dev.surpass.model.decoder.HeldOut.bitsPerToken(ids, ctx, model.vocabSize(), rows -> Decoding.forward(model, rows));
            assertEquals(metrics.path("heldout_subset").path("scored_chars").asInt(), ((ids.length - 1) / ctx) * ctx);
            System.out.printf("%s: held-out subset bpc %.6f (Java) vs %.6f (training script)%n", DIR, bpc, recorded);
            assertTrue(Math.abs(bpc - recorded) <= 0.01 * recorded, "Java bpc " + bpc + " vs recorded " + recorded);
            assertTrue(Math.abs(bpc - recorded) < 1e-3, "Java bpc " + bpc + " vs recorded " + recorded + " (fp32 rounding only)");
        }
    }
}
