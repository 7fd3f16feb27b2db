package dev.surpass.model.gpt2;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.RefMath;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes GPT-2's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link Gpt2Test}
 * (vocab 96, context 40): forward against the float64 reference, generate and sessions with bad ids,
 * lengths, sizes and options.
 */
class Gpt2FuzzTest {
    static Device cpu;
    static Path tmp;
    static Map<String, float[]> w;
    static Gpt2 model;

    @BeforeAll
    static void open() throws IOException {
        cpu = Device.cpu();
        tmp = Files.createTempDirectory("gpt2fuzz");
        w = Gpt2Test.weights(new Random(20261127L));
        RefMath.writeCheckpoint(tmp, Gpt2Test.CONFIG, Gpt2Test.entries(w, "transformer."), DType.F32, 1);
        model = Gpt2.load(cpu, tmp);
    }

    @AfterAll
    static void close() throws IOException {
        Fuzz.printSummary("gpt2.");
        Fuzz.printSummary("files.gpt2.");
        Fuzz.assertBothOutcomes("gpt2.");
        model.close();
        cpu.close();
        try (var s = Files.walk(tmp)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    void forward() {
        Fuzz.forAll("gpt2.forward", 60, g -> DecoderFuzzCases.forward("gpt2.forward", model, batches(g), seq -> Gpt2Test.reference(w, seq)));
    }

    static int[][] batches(Gen g) {
        return DecoderFuzzCases.batches(g, Gpt2Test.V, 44);
    }

    @Test
    void generate() {
        Fuzz.forAll("gpt2.generate", 15, g -> DecoderFuzzCases.generate("gpt2.generate", model, batches(g),
                g.pickInt(-1, 0, 1, 3, 5, Integer.MAX_VALUE), DecoderFuzzCases.sampling(g),
                g.pickDouble(1.0, 1.3, 0.0, -1.0, Double.NaN, Double.POSITIVE_INFINITY), DecoderFuzzCases.stops(g, Gpt2Test.V, 2)));
    }

    @Test
    void session() {
        Fuzz.forAll("gpt2.session", 25, g -> DecoderFuzzCases.session("gpt2.session", model, DecoderFuzzCases.sessionSize(g),
                DecoderFuzzCases.sessionSize(g), batches(g), g.between(-1, 6)));
    }

    /** config.json mutated (wrong types, ranges, missing keys, deep nesting, truncation) then loaded with the real weights. */
    @Test
    void configFile() {
        Fuzz.forAll("files.gpt2.config", 30, g -> dev.surpass.fuzz.Mutate.configCase("files.gpt2.config", tmp, tmp.resolve("cfg"),
                g.anyLong(), d -> Gpt2.load(cpu, d)));
    }
}
