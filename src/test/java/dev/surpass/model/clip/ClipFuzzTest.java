package dev.surpass.model.clip;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Mutate;
import dev.surpass.model.decoder.DecoderFuzzCases;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the CLIP entries on the tiny checkpoints of {@link ClipTextModelTest} and
 * {@link ClipVisionModelTest}: text forward / hiddenStates with ids outside the vocabulary,
 * ragged, empty, null or too long rows and any clip skip (valid calls match the float64 reference);
 * vision forward with pixel tensors of other shapes and dtypes; mutated config.json files of both
 * towers, each loaded or refused naming the folder.
 */
class ClipFuzzTest {
    @TempDir
    static Path tmp;
    static Device cpu;
    static ClipTextModelTest.Fixture fx;
    static ClipVisionModelTest.Vision vision;
    static Path textDir, visionDir;
    static ClipTextModel text;
    static ClipVisionModel visionModel;

    @BeforeAll
    static void open() throws Exception {
        cpu = Device.cpu();
        fx = new ClipTextModelTest.Fixture(48, 4, 72, 2, "quick_gelu", 16, ClipTextModelTest.VOCAB - 1, 20261128L); // unfused head dim 12
        textDir = fx.write(tmp.resolve("text"), true);
        vision = ClipVisionModelTest.Vision.make(32, 1, 40, 1, 8, 4, 12, 20261129L);
        visionDir = vision.write(tmp.resolve("vision"));
        text = ClipTextModel.load(cpu, textDir);
        visionModel = ClipVisionModel.load(cpu, visionDir);
    }

    @AfterAll
    static void close() {
        text.close();
        visionModel.close();
        cpu.close();
        Fuzz.finishModel("clip");
    }

    @Test
    void textForward() {
        Fuzz.forAll("clip.text", 60, g -> textCase(DecoderFuzzCases.batches(g, ClipTextModelTest.VOCAB, ClipTextModelTest.MAX_POS + 3),
                g.bool() ? 0 : g.pickInt(-1, 0, 1, 2, 3, Integer.MAX_VALUE)));
    }

    private static void textCase(int[][] ids, int skip) {
        String in = "ids " + Arrays.deepToString(ids) + " clipSkip " + skip;
        boolean valid = ids != null && ids.length > 0 && ids[0] != null && ids[0].length > 0 && ids[0].length <= ClipTextModelTest.MAX_POS;
        for (int b = 0; valid && b < ids.length; b++) {
            valid = ids[b] != null && ids[b].length == ids[0].length && Arrays.stream(ids[b]).allMatch(v -> v >= 0 && v < ClipTextModelTest.VOCAB);
        }
        boolean skipValid = skip >= 0 && skip <= fx.layers;
        if (!valid || !skipValid) {
            Fuzz.reject("clip.text.hiddenStates", in, () -> text.hiddenStates(ids, skip), "ids", "clipSkip");
            if (!valid) Fuzz.reject("clip.text.forward", in, () -> text.forward(ids), "ids");
            return;
        }
        try (ClipTextOutput o = Fuzz.call("clip.text.forward", in, () -> text.forward(ids));
             Tensor h = Fuzz.call("clip.text.hiddenStates", in, () -> text.hiddenStates(ids, skip))) {
            if (o == null || h == null) throw new AssertionError("clip.text: a valid call was refused: " + in);
            double[][] ref = fx.forward(ids, 0);
            assertTrue(dev.surpass.parity.ParityMath.compare(o.lastHiddenState().toFloatArray(), ref[0], 1e-4).passed(), in);
            assertTrue(dev.surpass.parity.ParityMath.compare(o.textEmbeds().toFloatArray(), ref[2], 1e-4).passed(), in);
            assertTrue(dev.surpass.parity.ParityMath.compare(h.toFloatArray(), fx.forward(ids, skip)[0], 1e-4).passed(), in);
        }
    }

    @Test
    void visionForward() {
        Fuzz.forAll("clip.vision", 40, g -> {
            int b = g.between(1, 2);
            long[] shape = switch (g.between(0, 4)) {
                case 0, 1 -> new long[] {b, 3, 8, 8};
                case 2 -> new long[] {b, g.pickInt(1, 4), 8, 8};
                case 3 -> new long[] {b, 3, g.pickInt(4, 7, 9, 16), 8};
                default -> new long[] {b, 3, 64};
            };
            DType dt = g.weighted(5, 1) == 0 ? DType.F32 : DType.BF16;
            long n = 1;
            for (long s : shape) n *= s;
            float[] px = ClipVisionModelTest.pixels(g.anyLong(), (int) n);
            String in = dt + " " + Arrays.toString(shape);
            try (Tensor t = cpu.upload(dt, px, shape)) {
                boolean valid = dt == DType.F32 && shape.length == 4 && shape[1] == 3 && shape[2] == 8 && shape[3] == 8;
                if (!valid) {
                    Fuzz.reject("clip.vision.forward", in, () -> visionModel.forward(t), "pixelValues");
                    return;
                }
                try (ClipVisionOutput o = Fuzz.call("clip.vision.forward", in, () -> visionModel.forward(t))) {
                    if (o == null) throw new AssertionError("clip.vision: a valid call was refused: " + in);
                    double[][] ref = vision.forward(px, b);
                    assertTrue(dev.surpass.parity.ParityMath.compare(o.imageEmbeds().toFloatArray(), ref[2], 1e-4).passed(), in);
                }
            }
        });
    }

    @Test
    void configFiles() {
        Fuzz.forAll("files.clip.text.config", 25, g -> Mutate.configCase("files.clip.text.config", textDir, tmp.resolve("tcfg"), g.anyLong(),
                d -> ClipTextModel.load(cpu, d)));
        Fuzz.forAll("files.clip.vision.config", 25, g -> Mutate.configCase("files.clip.vision.config", visionDir, tmp.resolve("vcfg"), g.anyLong(),
                d -> ClipVisionModel.load(cpu, d)));
    }
}
