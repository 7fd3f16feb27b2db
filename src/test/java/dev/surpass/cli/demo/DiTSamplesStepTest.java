package dev.surpass.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's DiT step with the shipped Fashion-MNIST model at a few steps on the CPU: checks and the PNG; its skip without the model. */
class DiTSamplesStepTest {
    @TempDir
    Path dir;

    @Test
    void fewStepsPassTheChecksAndWriteTheGrid() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        try (Device cpu = Device.cpu()) {
            StepResult r = new DiTSamplesStep(new DiTSamplesStep.Config(4, 2.0, 3, 2), Path.of("models", "fashion-dit"))
                    .run(new DemoContext(cpu, new PrintWriter(out, true), new PrintWriter(err, true), dir, false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertEquals(6, r.checks().size(), r.checks().toString());
            assertEquals(java.util.List.of(dir.resolve("dit-samples.png")), r.files());
        }
        BufferedImage img = ImageIO.read(dir.resolve("dit-samples.png").toFile());
        assertTrue(img.getWidth() > 10 * 56 && img.getHeight() > 2 * 56, img.getWidth() + "x" + img.getHeight());
    }

    /** A GPU run's comparison, with a second CPU handle as the twin: identical images, one speed-up. */
    @Test
    void withATwinTheImagesAgreeAndTheSpeedupIsRecorded() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        try (Device cpu = Device.cpu(); Device twin = Device.cpu()) {
            StepResult r = new DiTSamplesStep(new DiTSamplesStep.Config(2, 2.0, 3, 1), Path.of("models", "fashion-dit"))
                    .run(new DemoContext(cpu, twin, new PrintWriter(out, true), new PrintWriter(err, true), dir, false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertEquals(7, r.checks().size(), r.checks().toString());
            assertTrue(r.checks().get(5).detail().startsWith("mean |difference| 0.0 "), r.checks().toString());
            assertEquals(1, r.speedups().size(), r.speedups().toString());
        }
    }

    @Test
    void withoutTheModelItSkips() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        try (Device cpu = Device.cpu()) {
            StepResult r = new DiTSamplesStep(DiTSamplesStep.Config.defaults(), null)
                    .run(new DemoContext(cpu, new PrintWriter(out, true), new PrintWriter(err, true), dir, false));
            assertTrue(r.passed());
            assertTrue(r.checks().isEmpty());
            assertTrue(out.toString().contains("skipped: models/ not found"), out.toString());
        }
    }
}
