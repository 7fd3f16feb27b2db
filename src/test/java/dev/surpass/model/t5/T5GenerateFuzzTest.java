package dev.surpass.model.t5;

import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static dev.surpass.model.t5.T5EncoderTest.V;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.model.mamba.LogitsRules;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes {@link T5ForConditionalGeneration#generate} and {@link T5ForConditionalGeneration#forward} on the tiny
 * checkpoint of {@link T5ForConditionalGenerationTest}: ragged, empty, null or out-of-vocabulary input rows; options with
 * any maxNewTokens, stop ids, sampling, beams, length penalties, early stopping and logits rules (repetition penalty,
 * no-repeat n-grams, min new tokens). Every call returns rows of at most maxNewTokens ids in the vocabulary, or is refused
 * with IllegalArgumentException; options refuse bad fields where they are made.
 */
class T5GenerateFuzzTest {
    @TempDir
    static Path tmp;
    static Device cpu;
    static T5ForConditionalGeneration model;

    @BeforeAll
    static void open() throws Exception {
        cpu = Device.cpu();
        writeCheckpoint(tmp.resolve("t5"), T5ForConditionalGenerationTest.config("gated-gelu", false),
                T5EncoderTest.entries(T5ForConditionalGenerationTest.weights(new Random(91), true, false)), DType.F32, 1);
        model = T5ForConditionalGeneration.load(cpu, tmp.resolve("t5"));
    }

    @AfterAll
    static void close() {
        model.close();
        cpu.close();
        Fuzz.finishModel("t5gen");
    }

    static int[][] inputs(Gen g) {
        if (g.weighted(12, 1) == 1) return g.bool() ? null : new int[0][];
        int b = g.between(1, 3);
        int[][] ids = new int[b][];
        for (int i = 0; i < b; i++) {
            ids[i] = switch (g.weighted(10, 1, 1, 1)) {
                case 0 -> g.intArray(1, 9, () -> g.between(2, V - 1));
                case 1 -> new int[0];
                case 2 -> null;
                default -> new int[] {g.pickInt(-1, V, Integer.MAX_VALUE, Integer.MIN_VALUE)};
            };
        }
        return ids;
    }

    @Test
    void generate() {
        Fuzz.forAll("t5gen.generate", 60, g -> {
            int[][] ids = inputs(g);
            int max = g.weighted(8, 1) == 0 ? g.between(0, 6) : g.pickInt(-1, Integer.MAX_VALUE, 1 << 20);
            int[] stops = g.weighted(3, 1, 1) == 0 ? null : g.weighted(3, 1) == 0 ? g.intArray(0, 3, () -> g.between(0, V - 1))
                    : new int[] {g.pickInt(-5, V + 3)};
            Sampling s = g.weighted(2, 1) == 0 ? null : new Sampling(g.pickDouble(0, 0.7, 1.5), g.pickInt(0, 3), g.pickDouble(1, 0.9), g.anyLong());
            int beams = g.weighted(3, 2, 1) == 0 ? 1 : g.weighted(4, 1) == 0 ? g.between(2, 4) : g.pickInt(0, 65, -2);
            double lp = g.weighted(5, 1) == 0 ? g.pickDouble(1, 0.6, 2) : Double.NaN;
            GenerationOptions.EarlyStopping early = g.pick(GenerationOptions.EarlyStopping.class);
            double pen = g.weighted(3, 1, 1) == 0 ? 1 : g.weighted(3, 1) == 0 ? g.pickDouble(1.3, 0.7) : g.pickDouble(0, -1, Double.NaN);
            int ngram = g.weighted(3, 1, 1) == 0 ? 0 : g.weighted(3, 1) == 0 ? g.between(1, 3) : -1;
            int minNew = g.weighted(3, 1, 1) == 0 ? 0 : g.weighted(3, 1) == 0 ? g.between(1, 8) : -2;
            String in = "ids " + Arrays.deepToString(ids) + " max " + max + " stops " + Arrays.toString(stops) + " sampling " + s + " beams " + beams
                    + " lp " + lp + " early " + early + " rules " + pen + "/" + ngram + "/" + minNew;
            GenerationOptions o = Fuzz.call("t5gen.options", in, () -> new GenerationOptions(max, stops, s, beams, lp, early,
                    new LogitsRules(pen, ngram, minNew)));
            if (o == null) return;
            int[][] out = Fuzz.call("t5gen.generate", in, () -> model.generate(ids, o));
            if (out == null) return;
            if (out.length != ids.length) throw new AssertionError("t5gen: " + out.length + " rows for " + ids.length + ": " + in);
            for (int[] row : out) {
                if (row.length > max) throw new AssertionError("t5gen: " + row.length + " tokens past maxNewTokens " + max + ": " + in);
                for (int t : row) if (t < 0 || t >= V) throw new AssertionError("t5gen: token " + t + " outside the vocabulary: " + in);
            }
        });
    }

    @Test
    void teacherForced() {
        Fuzz.forAll("t5gen.forward", 40, g -> {
            int[][] ids = inputs(g), dec = inputs(g);
            String in = "ids " + Arrays.deepToString(ids) + " decoder " + Arrays.deepToString(dec);
            try (var t = Fuzz.call("t5gen.forward", in, () -> model.forward(ids, dec))) {
                if (t != null && t.dim(t.rank() - 1) != model.config().vocabSize()) throw new AssertionError("t5gen.forward: " + t.describe() + ": " + in);
            }
        });
    }
}
