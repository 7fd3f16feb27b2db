package dev.surpass.model.llama;

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
 * Fuzzes Llama's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link LlamaTest}
 * (vocab 80, context 64, GQA 4:2): forward against the float64 reference, generate and sessions with bad ids,
 * lengths, sizes and options.
 */
class LlamaFuzzTest {
    static Device cpu;
    static Path tmp;
    static Map<String, float[]> w;
    static Llama model;

    @BeforeAll
    static void open() throws IOException {
        cpu = Device.cpu();
        tmp = Files.createTempDirectory("gpt2fuzz");
        w = LlamaTest.weights(new Random(777L));
        RefMath.writeCheckpoint(tmp, LlamaTest.config("null", false), LlamaTest.entries(w, true), DType.F32, 1);
        model = Llama.load(cpu, tmp);
    }

    @AfterAll
    static void close() throws IOException {
        Fuzz.printSummary("llama.");
        Fuzz.printSummary("files.llama.");
        Fuzz.assertBothOutcomes("llama.");
        model.close();
        cpu.close();
        try (var s = Files.walk(tmp)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    void forward() {
        Fuzz.forAll("llama.forward", 60, g -> DecoderFuzzCases.forward("llama.forward", model, batches(g), seq -> LlamaTest.reference(w, seq, false, false)));
    }

    static int[][] batches(Gen g) {
        return DecoderFuzzCases.batches(g, LlamaTest.V, 68);
    }

    @Test
    void generate() {
        Fuzz.forAll("llama.generate", 15, g -> DecoderFuzzCases.generate("llama.generate", model, batches(g),
                g.pickInt(-1, 0, 1, 3, 5, Integer.MAX_VALUE), DecoderFuzzCases.sampling(g),
                g.pickDouble(1.0, 1.3, 0.0, -1.0, Double.NaN, Double.POSITIVE_INFINITY), DecoderFuzzCases.stops(g, LlamaTest.V, 2)));
    }

    @Test
    void session() {
        Fuzz.forAll("llama.session", 25, g -> DecoderFuzzCases.session("llama.session", model, DecoderFuzzCases.sessionSize(g),
                DecoderFuzzCases.sessionSize(g), batches(g), g.between(-1, 6)));
    }

    /** config.json mutated (wrong types, ranges, missing keys, deep nesting, truncation) then loaded with the real weights. */
    @Test
    void configFile() {
        Fuzz.forAll("files.llama.config", 30, g -> dev.surpass.fuzz.Mutate.configCase("files.llama.config", tmp, tmp.resolve("cfg"),
                g.anyLong(), d -> Llama.load(cpu, d)));
    }
}
