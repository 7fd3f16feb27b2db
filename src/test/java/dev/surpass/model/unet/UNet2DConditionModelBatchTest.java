package dev.surpass.model.unet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * UNet2DConditionModel runs a batch together, layer by layer: each sample of a batch of 3 (its
 * own timestep, text states and, for text_time, pooled text and time ids; latents whose lowest
 * level is odd) equals that sample run alone up to fp32 reassociation (the CPU product picks its
 * kernel by row count, and the kernels sum in different orders), and the batch matches the float64
 * reference; the same with im2col blocks that cut through sample boundaries; no device memory is
 * left after close and a second forward allocates nothing that stays. On CUDA (tag gpu) the same
 * against CUDA alone and against the CPU.
 */
class UNet2DConditionModelBatchTest {
    static final long SEED = Long.getLong("surpass.seed", 0xBA7C4L);
    /** A sample in a batch against the sample alone: relative L2 (measured 0.8–3e-6 on the CPU, the size of each one's own fp32 error against float64). */
    static final double BATCH_TOL = 1e-5;

    @TempDir
    static Path tmp;

    static UNetFixture sd1, sdxl;
    static Path sd1Dir, sdxlDir;
    static Device cpu;

    @BeforeAll
    static void write() {
        sd1 = UNetFixture.sd1(SEED);
        sd1Dir = sd1.write(tmp.resolve("sd1"), DType.F32);
        sdxl = UNetFixture.sdxl(SEED + 1);
        sdxlDir = sdxl.write(tmp.resolve("sdxl"), DType.F32);
        cpu = Device.cpu();
    }

    @AfterAll
    static void closeDevice() {
        cpu.close();
    }

    /** The model's output for {@code n} samples; text and ids null unless text_time. */
    private static float[] run(UNet2DConditionModel m, float[] x, float[] ts, float[] ctx, float[] text, float[] ids, int n, int h, int w, int s) {
        Device d = m.device();
        int dc = m.config().crossAttentionDim();
        try (Tensor xt = d.upload(DType.F32, x, n, 4, h, w); Tensor et = d.upload(DType.F32, ctx, n, s, dc);
             Tensor tt = text == null ? null : d.upload(DType.F32, text, n, text.length / n);
             Tensor y = text == null ? m.forward(xt, ts, et) : m.forward(xt, ts, et, tt, ids)) {
            return y.toFloatArray();
        }
    }

    private static float[] part(float[] v, int i, int n) {
        int per = v.length / n;
        return Arrays.copyOfRange(v, i * per, (i + 1) * per);
    }

    /** Each sample of the batch against that sample alone (same model), then the whole batch against {@code want}. */
    private static void checkBatch(UNet2DConditionModel m, float[] x, float[] ts, float[] ctx, float[] text, float[] ids, int n, int h, int w, int s,
                                   double[] want, String what) {
        float[] batch = run(m, x, ts, ctx, text, ids, n, h, w, s);
        for (int i = 0; i < n; i++) {
            float[] alone = run(m, part(x, i, n), new float[] {ts[i]}, part(ctx, i, n), text == null ? null : part(text, i, n),
                    ids == null ? null : part(ids, i, n), 1, h, w, s);
            ParityResult r = ParityMath.compare(part(batch, i, n), UNet2DConditionModelTest.toDouble(alone), BATCH_TOL);
            assertTrue(r.passed(), what + ": sample " + i + " of " + n + " against itself alone: " + r + " seed=" + SEED);
        }
        ParityResult ref = ParityMath.compare(batch, want, UNet2DConditionModelTest.TOL);
        assertTrue(ref.passed(), what + ": the batch against float64: " + ref + " seed=" + SEED);
    }

    private static void sd1Batch(Device d, String what) {
        int n = 3, h = 6, w = 14, s = 5; // lowest level 3 × 7
        float[] x = UNetFixture.noise(SEED + 2, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 3, n * s * 24);
        float[] ts = {999f, 500.5f, 3f};
        double[] want = sd1.forward(x, n, h, w, ts, ctx, s);
        try (UNet2DConditionModel m = UNet2DConditionModel.load(d, sd1Dir)) {
            checkBatch(m, x, ts, ctx, null, null, n, h, w, s, want, what);
            long saved = ConvOps.blockFloats;
            ConvOps.blockFloats = 5000; // im2col blocks of a few output rows, some spanning two samples
            try {
                checkBatch(m, x, ts, ctx, null, null, n, h, w, s, want, what + ", small im2col blocks");
            } finally {
                ConvOps.blockFloats = saved;
            }
        }
    }

    private static void sdxlBatch(Device d, String what) {
        int n = 3, h = 4, w = 12, s = 7; // lowest level 1 × 3
        float[] x = UNetFixture.noise(SEED + 4, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 5, n * s * sdxl.cross);
        float[] text = UNetFixture.noise(SEED + 6, n * sdxl.textDim());
        float[] ids = {32, 96, 0, 0, 32, 96, 1024, 768, 17, 5, 896, 640, 512, 512, 64, 0, 768, 768};
        float[] ts = {21f, 999f, 421.5f};
        double[] want = sdxl.forward(x, n, h, w, ts, ctx, s, text, ids, EnumSet.noneOf(UNetFixture.Variant.class));
        try (UNet2DConditionModel m = UNet2DConditionModel.load(d, sdxlDir)) {
            checkBatch(m, x, ts, ctx, text, ids, n, h, w, s, want, what);
        }
    }

    @Test
    void eachSampleOfABatchEqualsItselfAlone() {
        sd1Batch(cpu, "SD1-like");
    }

    @Test
    void textTimeBatchEqualsEachSampleAlone() {
        sdxlBatch(cpu, "SDXL-like");
    }

    /**
     * The index tables are made once per size (for the largest batch so far) and freed with the
     * model; nothing else a forward allocates stays.
     */
    @Test
    void noDeviceMemoryIsLeftBehind() {
        int n = 2, h = 6, w = 10, s = 3;
        float[] x = UNetFixture.noise(SEED + 7, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 8, n * s * 24), ts = {5f, 600f};
        try (Device d = Device.cpu()) {
            assertEquals(0, d.liveBytes());
            try (UNet2DConditionModel m = UNet2DConditionModel.load(d, sd1Dir)) {
                long weights = d.liveBytes();
                float[] first = run(m, x, ts, ctx, null, null, n, h, w, s);
                long withTables = d.liveBytes();
                assertTrue(withTables > weights, "the first forward keeps its index tables");
                float[] second = run(m, x, ts, ctx, null, null, n, h, w, s);
                assertEquals(withTables, d.liveBytes(), "a second forward of the same size allocates nothing that stays");
                assertTrue(Arrays.equals(first, second), "the cached tables give the same result");
                run(m, part(x, 0, n), new float[] {5f}, part(ctx, 0, n), null, null, 1, h, w, s);
                assertEquals(withTables, d.liveBytes(), "a smaller batch reads the start of the tables");
                float[] x3 = UNetFixture.noise(SEED + 9, 3 * 4 * h * w), ctx3 = UNetFixture.noise(SEED + 10, 3 * s * 24);
                run(m, x3, new float[] {1f, 2f, 3f}, ctx3, null, null, 3, h, w, s);
                assertTrue(d.liveBytes() > withTables, "a larger batch makes larger tables");
            }
            assertEquals(0, d.liveBytes(), "close frees the weights and the tables");
            assertEquals(0, d.liveAllocations());
        }
    }

    @Tag("gpu")
    @Test
    void cudaBatchEqualsEachSampleAloneAndTheCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0)) {
            sd1Batch(g, "CUDA SD1-like");
            sdxlBatch(g, "CUDA SDXL-like");
            int n = 3, h = 6, w = 14, s = 5;
            float[] x = UNetFixture.noise(SEED + 9, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 10, n * s * 24), ts = {1f, 250f, 980.5f};
            float[] onGpu, onCpu;
            try (UNet2DConditionModel m = UNet2DConditionModel.load(g, sd1Dir)) {
                onGpu = run(m, x, ts, ctx, null, null, n, h, w, s);
            }
            try (UNet2DConditionModel m = UNet2DConditionModel.load(cpu, sd1Dir)) {
                onCpu = run(m, x, ts, ctx, null, null, n, h, w, s);
            }
            ParityResult r = ParityMath.compare(onGpu, UNet2DConditionModelTest.toDouble(onCpu), UNet2DConditionModelTest.TOL);
            assertTrue(r.passed(), "CUDA batch vs CPU batch: " + r);
            long live = g.liveBytes();
            try (UNet2DConditionModel m = UNet2DConditionModel.load(g, sd1Dir)) {
                run(m, x, ts, ctx, null, null, n, h, w, s);
            }
            assertEquals(live, g.liveBytes(), "CUDA: close frees the weights and the tables");
        }
    }
}
