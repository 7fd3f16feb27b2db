package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The shipped character-level Mamba ({@code models/austen-mamba}, HF MambaForCausalLM naming,
 * trained by {@code tools/train/train_charlm.py --arch mamba}) loads through {@link MambaLM#load}
 * and reproduces the held-out bits per character the training script recorded for
 * {@code heldout-subset.txt} to within 1%; generation through the constant-memory decode path
 * gives the same next-token choice as the prefill.
 */
class TrainedAustenMambaTest {
    static final Path DIR = Path.of("models", "austen-mamba");

    @Test
    void reproducesHeldOutBitsPerCharacter() throws IOException {
        JsonNode metrics = new ObjectMapper().readTree(DIR.resolve("metrics.json").toFile());
        double recorded = metrics.path("heldout_subset").path("bpc").asDouble(Double.NaN);
        int ctx = metrics.path("hyper_parameters").path("ctx").asInt();
        String text = Files.readString(DIR.resolve("heldout-subset.txt"), StandardCharsets.UTF_8);
        Tokenizer tok = Tokenizer.load(DIR.resolve("tokenizer.json"));
        int[] ids = tok.encode(text, false);
        assertEquals(text.codePointCount(0, text.length()), ids.length, "one token per character");
        try (Device cpu = Device.cpu(); MambaLM model = MambaLM.load(cpu, DIR)) {
            assertEquals(MambaLM.Naming.HF, model.naming());
            assertTrue(model.tiedHead());
            int width = model.logitsWidth();
            assertEquals(tok.vocabSize(), width);
            int windows = (ids.length - 1) / ctx;
            double bpc = dev.surpass.model.decoder.HeldOut.bitsPerToken(ids, ctx, width, model::forward);
            assertEquals(metrics.path("heldout_subset").path("scored_chars").asInt(), windows * ctx);
            System.out.printf("%s: held-out subset bpc %.6f (Java) vs %.6f (training script)%n", DIR, bpc, recorded);
            assertTrue(Math.abs(bpc - recorded) <= 0.01 * recorded, "Java bpc " + bpc + " vs recorded " + recorded);
            assertTrue(Math.abs(bpc - recorded) < 1e-3, "Java bpc " + bpc + " vs recorded " + recorded + " (fp32 rounding only)");
        }
    }
}
