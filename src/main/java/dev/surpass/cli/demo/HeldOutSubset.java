package dev.surpass.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.HeldOut;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * A shipped language model's held-out subset as its training script ({@code tools/train}) left it
 * in the model folder: {@code heldout-subset.txt} and its tokens, the context length the script
 * scored with and the bits per character and scored characters it recorded in
 * {@code metrics.json}. Read once, scored on any device with {@link #bitsPerCharacter}.
 *
 * @param text          the subset's text
 * @param ids           its tokens (one per character for the character models)
 * @param ctx           {@code hyper_parameters.ctx}: the window the script scored with
 * @param recordedBpc   {@code heldout_subset.bpc}
 * @param recordedScored {@code heldout_subset.scored_chars}
 */
public record HeldOutSubset(String text, int[] ids, int ctx, double recordedBpc, int recordedScored) {
    /**
     * Reads {@code dir}'s {@code metrics.json} and {@code heldout-subset.txt}, tokenized by {@code tok}.
     *
     * @throws IllegalArgumentException when metrics.json has no positive {@code hyper_parameters.ctx}
     */
    public static HeldOutSubset load(Path dir, Tokenizer tok) throws IOException {
        JsonNode metrics = new ObjectMapper().readTree(dir.resolve("metrics.json").toFile());
        int ctx = metrics.path("hyper_parameters").path("ctx").asInt(0);
        if (ctx < 1) throw new IllegalArgumentException(dir.resolve("metrics.json") + ": no positive hyper_parameters.ctx");
        String text = Files.readString(dir.resolve("heldout-subset.txt"), StandardCharsets.UTF_8);
        return new HeldOutSubset(text, tok.encode(text, false), ctx, metrics.path("heldout_subset").path("bpc").asDouble(Double.NaN),
                metrics.path("heldout_subset").path("scored_chars").asInt(-1));
    }

    /** The characters scored: whole windows of {@link #ctx} after the first token. */
    public int scored() {
        return (ids.length - 1) / ctx * ctx;
    }

    /** {@link HeldOut#bitsPerToken} over this subset; {@code forward} maps {@code [windows][ctx]} ids to logits of {@code width}. */
    public double bitsPerCharacter(int width, Function<int[][], Tensor> forward) {
        return HeldOut.bitsPerToken(ids, ctx, width, forward);
    }
}
