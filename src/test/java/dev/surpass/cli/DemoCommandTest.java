package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.cli.demo.DiTSamplesStep;
import dev.surpass.cli.demo.LanguageModelsStep;
import dev.surpass.cli.demo.ScalingStep;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code surpass demo}: steps chosen by name, checks and files in the summary (scaling at a tiny size). */
class DemoCommandTest {
    @TempDir
    Path dir;

    @Test
    void scalingStepAloneEndsWithItsFilesInTheSummary() {
        DemoCommand cmd = new DemoCommand();
        cmd.scalingConfig = d -> new ScalingStep.Config(new int[] {16, 32}, 2, 64, 32, 4, DType.F32, 8, 0, 0, 1, 1);
        Path out = dir.resolve("demo-out");
        CliRun r = CliRun.run(CliRun.with(DemoCommand.class, cmd), "demo", "--device", "cpu", "--steps", "scaling", "--out", out.toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("1. attention vs Mamba"), r.toString());
        assertTrue(r.out().contains("summary"), r.toString());
        assertTrue(r.out().contains(out.resolve("scaling.png").toString()), r.toString());
        assertTrue(r.lastLine().startsWith("all checks passed in"), r.toString());
        assertTrue(Files.isRegularFile(out.resolve("scaling.png")));
    }

    @Test
    void modelStepsListTheirFilesInTheSummary() {
        DemoCommand cmd = new DemoCommand();
        cmd.lmConfig = new LanguageModelsStep.Config("It is", 4, Sampling.greedy(), 2.5);
        cmd.ditConfig = new DiTSamplesStep.Config(2, 2.0, 1, 1);
        Path out = dir.resolve("demo-out");
        CliRun r = CliRun.run(CliRun.with(DemoCommand.class, cmd), "demo", "--device", "cpu", "--steps", "lm,dit", "--out", out.toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("1. language models"), r.toString());
        assertTrue(r.out().contains("2. DiT samples"), r.toString());
        assertTrue(r.out().contains(out.resolve("dit-samples.png").toString()), r.toString());
        assertTrue(r.lastLine().startsWith("all checks passed in"), r.toString());
    }

    /** With a CPU twin forced (as a GPU run opens one), the summary ends with the speed-ups table. */
    @Test
    void aTwinAddsTheSpeedupsToTheSummary() {
        DemoCommand cmd = new DemoCommand();
        cmd.lmConfig = new LanguageModelsStep.Config("It is", 3, Sampling.greedy(), 2.5);
        cmd.twinFor = d -> dev.surpass.Device.cpu();
        Path out = dir.resolve("demo-out");
        CliRun r = CliRun.run(CliRun.with(DemoCommand.class, cmd), "demo", "--device", "cpu", "--steps", "lm", "--out", out.toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("each step also runs a share of its work on the CPU"), r.toString());
        assertTrue(r.out().contains("speed-ups of cpu over the CPU"), r.toString());
        assertTrue(r.out().contains("GPT: 3 new tokens, batch 1"), r.toString());
        assertTrue(r.out().contains("Mamba held-out bpc: cpu agrees with the CPU"), r.toString());
        assertTrue(r.lastLine().startsWith("all checks passed in"), r.toString());
    }

    @Test
    void unknownStepIsAUsageError() {
        CliRun r = CliRun.run("demo", "--steps", "nope");
        assertTrue(r.code() != 0, r.toString());
        assertTrue(r.err().contains("unknown step 'nope'"), r.toString());
    }
}
