package dev.surpass.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's attention-vs-Mamba scaling step at a tiny size on the CPU: checks, table, files. */
class ScalingStepTest {
    @TempDir
    Path dir;

    static ScalingStep.Config tiny() {
        return new ScalingStep.Config(new int[] {16, 40, 64}, 2, 64, 32, 4, DType.F32, 8, 0, 0, 1, 2);
    }

    @Test
    void tinyRunPassesItsChecksAndWritesThePlot() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        try (Device cpu = Device.cpu()) {
            ScalingStep step = new ScalingStep(tiny());
            StepResult r = step.run(new DemoContext(cpu, new PrintWriter(out, true), new PrintWriter(err, true), dir, false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertTrue(r.checks().size() >= 10, r.checks().toString());
            assertEquals(3, step.rows().size());
            ScalingStep.Row first = step.rows().get(0), last = step.rows().get(2);
            assertEquals(2L * 16 * 2 * 64 * 4, first.kvBytes());
            assertEquals(2L * 64 * 2 * 64 * 4, last.kvBytes());
            assertEquals(2L * 24 * 2 * 64 * 4, first.kvAllocated()); // 17 tokens → 3 pages of 8
            assertEquals(32L * 4 * 4, first.stateAllocated());
            assertEquals(first.stateAllocated(), last.stateAllocated());
            for (ScalingStep.Row row : step.rows()) {
                assertTrue(row.attnPrefillS() > 0 && row.scanS() > 0 && row.attnDecodeS() > 0 && row.stateUpdateS() > 0, row.toString());
            }
            assertTrue(out.toString().contains("KV cache"), out.toString());
            assertTrue(err.toString().contains("scaling: 20/20 done"), err.toString());
        }
        Path png = dir.resolve("scaling.png");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(3 * 560, img.getWidth());
        assertTrue(Files.readAllLines(dir.resolve("scaling.csv")).size() == 4);
    }

    @Test
    void cpuComparisonAddsItsChecksAndSpeedups() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        ScalingStep.Config cmp = new ScalingStep.Config(new int[] {16, 64}, 2, 64, 32, 4, DType.F32, 8, 0, 0, 1, 1);
        try (Device cpu = Device.cpu()) {
            StepResult r = new ScalingStep(tiny(), cmp)
                    .run(new DemoContext(cpu, new PrintWriter(out, true), new PrintWriter(err, true), dir, false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertTrue(r.checks().stream().anyMatch(ch -> ch.name().startsWith("cpu: attention prefill L=16")), r.checks().toString());
            assertTrue(out.toString().contains("cpu vs cpu at L=64: prefill attention ×"), out.toString());
        }
        assertThrows(IllegalArgumentException.class, () -> new ScalingStep(tiny(),
                new ScalingStep.Config(new int[] {16, 33}, 2, 64, 32, 4, DType.F32, 8, 0, 0, 1, 1)));
    }

    @Test
    void aFailingCheckIsReported() {
        StepResult.Builder b = new StepResult.Builder("t", "cpu");
        b.check("holds", true, "");
        b.check("breaks", false, "1 > 0");
        StepResult r = b.build("s");
        assertEquals(1, r.failures());
        assertTrue(!r.passed() && r.checks().get(1).toString().startsWith("FAIL breaks: 1 > 0"));
        assertTrue(!StepResult.crashed("t", "cpu", new IllegalStateException("boom")).passed());
    }
}
