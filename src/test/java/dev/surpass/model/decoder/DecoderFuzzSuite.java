package dev.surpass.model.decoder;

import dev.surpass.Device;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.fuzz.Mutate;
import java.nio.file.Path;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The fuzz properties every decoder model (GPT-2, Llama) runs on its tiny random checkpoint
 * ({@link DecoderFuzzCases}): forward against the model's float64 reference, generate and sessions
 * with bad ids, lengths, sizes and options, and config.json mutated. A subclass says how to write
 * the checkpoint, load it and compute the reference; the properties are named
 * {@code family.forward} etc. (their names seed the tries).
 */
public abstract class DecoderFuzzSuite extends TinyDecoderTest<DecoderModel> {
    private final int vocab, maxLen;
    private final Function<int[], double[][]> reference;

    /**
     * {@code vocab}: the checkpoint's vocabulary; {@code maxLen}: the longest row drawn (past the
     * context, to be refused); {@code reference}: the float64 logits {@code [L][V]} of one sequence.
     */
    protected DecoderFuzzSuite(String family, int vocab, int maxLen, CheckpointWriter writer, BiFunction<Device, Path, DecoderModel> loader,
            Function<int[], double[][]> reference) {
        super(family, writer, loader);
        this.vocab = vocab;
        this.maxLen = maxLen;
        this.reference = reference;
    }

    /** Before the fixture closes (a superclass's @AfterAll runs last). */
    @AfterAll
    protected void finish() {
        Fuzz.finishModel(family());
    }

    private int[][] batches(Gen g) {
        return DecoderFuzzCases.batches(g, vocab, maxLen);
    }

    @Test
    protected void forward() {
        String p = family() + ".forward";
        Fuzz.forAll(p, 60, g -> DecoderFuzzCases.forward(p, model, batches(g), reference));
    }

    @Test
    protected void generate() {
        String p = family() + ".generate";
        Fuzz.forAll(p, 15, g -> DecoderFuzzCases.generate(p, model, batches(g), g.pickInt(-1, 0, 1, 3, 5, Integer.MAX_VALUE),
                DecoderFuzzCases.sampling(g), g.pickDouble(1.0, 1.3, 0.0, -1.0, Double.NaN, Double.POSITIVE_INFINITY),
                DecoderFuzzCases.stops(g, vocab, 2)));
    }

    @Test
    protected void session() {
        String p = family() + ".session";
        Fuzz.forAll(p, 25, g -> DecoderFuzzCases.session(p, model, DecoderFuzzCases.sessionSize(g), DecoderFuzzCases.sessionSize(g),
                batches(g), g.between(-1, 6)));
    }

    /** config.json mutated (wrong types, ranges, missing keys, deep nesting, truncation) then loaded with the real weights. */
    @Test
    protected void configFile() {
        String p = "files." + family() + ".config";
        Fuzz.forAll(p, 30, g -> Mutate.configCase(p, dir, tmp.resolve("cfg"), g.anyLong(), d -> load(cpu, d)));
    }
}
