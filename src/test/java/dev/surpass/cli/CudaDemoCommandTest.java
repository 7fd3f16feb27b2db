package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.cli.demo.DiTSamplesStep;
import dev.surpass.cli.demo.LanguageModelsStep;
import dev.surpass.cli.demo.ScalingStep;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code surpass demo --device cuda} with short model steps and a small scaling step: the GPU run's
 * CPU twin opens by itself, every step's CPU ↔ GPU check passes, and the summary lists the
 * speed-ups. (Parity and bench have their own CUDA tests; the demo's time is not asserted here.)
 */
@Tag("gpu")
class CudaDemoCommandTest {
    @TempDir
    Path dir;

    @Test
    void gpuRunChecksAgainstTheCpuAndPrintsTheSpeedups() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        DemoCommand cmd = new DemoCommand();
        cmd.lmConfig = new LanguageModelsStep.Config("It is a truth", 16, new Sampling(0.7, 0, 1, 42), 2.5);
        cmd.ditConfig = new DiTSamplesStep.Config(5, 2.0, 0, 1);
        ScalingStep.Config small = new ScalingStep.Config(new int[] {256, 1024}, 12, 64, 1536, 16, DType.BF16, 16, 0.05, 0.02, 5, 4);
        cmd.scalingConfig = d -> small;
        Path out = dir.resolve("demo-out");
        CliRun r = CliRun.run(CliRun.with(DemoCommand.class, cmd), "demo", "--device", "cuda", "--steps", "lm,dit,search,scaling",
                "--out", out.toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("each step also runs a share of its work on the CPU"), r.toString());
        assertTrue(r.out().contains("GPT held-out bpc: cuda:0"), r.toString());
        assertTrue(r.out().contains("DDIM images: cuda:0"), r.toString());
        assertTrue(r.out().contains("speed-ups of cuda:0"), r.toString());
        assertTrue(r.out().contains("Mamba scan, L=1024"), r.toString());
        assertTrue(r.lastLine().startsWith("all checks passed in"), r.toString());
        assertTrue(Files.isRegularFile(out.resolve("scaling.png")) && Files.isRegularFile(out.resolve("dit-samples.png")));
    }
}
