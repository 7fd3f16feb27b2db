package dev.surpass.model.unet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * UNet2DConditionModel on tiny random UNets against the float64 forward of {@link UNetFixture}
 * (written from diffusers' source): SD 1.x-like (conv projections, attention_head_dim as an int:
 * one supported and one zero-padded head dim) and SD 2.x-like (linear projections, per-level head
 * counts, 2 transformer layers, 3 levels), the conventions that matter (skip concat order, the
 * head-count quirk, flip_sin_to_cos), fractional and broadcast timesteps, 16-bit weights and
 * inputs, pipeline folders, named refusals, and on CUDA (tag gpu) against the CPU.
 */
class UNet2DConditionModelTest {
    static final long SEED = Long.getLong("surpass.seed", 0x0E7L);
    /** fp32 against float64 through ~30 convs, GEMMs and attentions: relative L2. */
    static final double TOL = 2e-5;

    @TempDir
    static Path tmp;

    static UNetFixture sd1, sd2, sdxl;
    static Path sd1Dir, sd2Dir, sdxlDir;
    static Device cpu;

    @BeforeAll
    static void write() {
        sd1 = UNetFixture.sd1(SEED);
        sd2 = UNetFixture.sd2(SEED + 1);
        sd1Dir = sd1.write(tmp.resolve("sd1"), DType.F32);
        sd2Dir = sd2.write(tmp.resolve("sd2"), DType.F32);
        sdxl = UNetFixture.sdxl(SEED + 4);
        sdxlDir = sdxl.write(tmp.resolve("sdxl"), DType.F32);
        cpu = Device.cpu();
    }

    @AfterAll
    static void closeDevice() {
        cpu.close();
    }

    private static float[] run(Device d, Path dir, DType dtype, float[] x, float[] ts, float[] ctx, int n, int c, int h, int w, int s, int dc) {
        try (UNet2DConditionModel m = UNet2DConditionModel.load(d, dir); Tensor xt = d.upload(dtype, x, n, c, h, w);
             Tensor et = d.upload(dtype, ctx, n, s, dc); Tensor y = m.forward(xt, ts, et)) {
            assertEquals(DType.F32, y.dtype());
            assertArrayEquals(new long[] {n, m.config().outChannels(), h, w}, y.shape());
            return y.toFloatArray();
        }
    }

    @Test
    void sd1LikeMatchesFloat64ReferenceWithFractionalTimesteps() {
        int n = 2, h = 6, w = 10, s = 5; // non-square, a 3×5 bottom level (odd after the stride-2 conv)
        float[] x = UNetFixture.noise(SEED + 2, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 3, n * s * 24);
        float[] ts = {500.5f, 37.25f};
        float[] got = run(cpu, sd1Dir, DType.F32, x, ts, ctx, n, 4, h, w, s, 24);
        ParityResult r = ParityMath.compare(got, sd1.forward(x, n, h, w, ts, ctx, s), TOL);
        assertTrue(r.passed(), r + " seed=" + SEED);
        // each convention moves the output far beyond the tolerance: the reference checks all of them
        for (UNetFixture.Variant v : UNetFixture.Variant.values()) {
            ParityResult off = ParityMath.compare(got, sd1.forward(x, n, h, w, ts, ctx, s, EnumSet.of(v)), TOL);
            assertTrue(off.relL2() > 100 * TOL, "with " + v + ": " + off);
        }
        // a fractional timestep is not rounded: 500.5 and 500 differ
        float[] rounded = run(cpu, sd1Dir, DType.F32, x, new float[] {500f, 37.25f}, ctx, n, 4, h, w, s, 24);
        assertTrue(ParityMath.compare(rounded, toDouble(got), 1e-4).relL2() > 1e-4);
    }

    @Test
    void sd2LikeMatchesFloat64ReferenceWithOneTimestepForTheBatch() {
        int n = 2, h = 4, w = 8, s = 3;
        float[] x = UNetFixture.noise(SEED + 4, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 5, n * s * 20);
        float[] ts = {999f};
        float[] got = run(cpu, sd2Dir, DType.F32, x, ts, ctx, n, 4, h, w, s, 20);
        ParityResult r = ParityMath.compare(got, sd2.forward(x, n, h, w, ts, ctx, s), TOL);
        assertTrue(r.passed(), r + " seed=" + SEED);
        assertTrue(ParityMath.compare(got, sd2.forward(x, n, h, w, ts, ctx, s, EnumSet.of(UNetFixture.Variant.SKIP_FIRST)), TOL).relL2() > 100 * TOL);
        // the second sample alone gives its half of the batch
        float[] second = run(cpu, sd2Dir, DType.F32, java.util.Arrays.copyOfRange(x, 4 * h * w, 8 * h * w), ts,
                java.util.Arrays.copyOfRange(ctx, s * 20, 2 * s * 20), 1, 4, h, w, s, 20);
        assertArrayEquals(java.util.Arrays.copyOfRange(got, 4 * h * w, 8 * h * w), second);
    }

    private static UNet2DConditionConfig parse(String json) throws Exception {
        return UNet2DConditionConfig.of(new ConfigJson(new ObjectMapper().readTree(json), "test/config.json"));
    }

    /** diffusers' quirk: attention_head_dim is the head count (num_attention_heads = num_attention_heads or attention_head_dim). */
    @Test
    void attentionHeadDimCountsHeadsAsDiffusersReadsIt() throws Exception {
        UNet2DConditionConfig sd15 = parse("{\"_class_name\": \"UNet2DConditionModel\", \"attention_head_dim\": 8, \"cross_attention_dim\": 768,"
                + " \"block_out_channels\": [320, 640, 1280, 1280]}");
        assertArrayEquals(new int[] {8, 8, 8, 8}, sd15.heads());
        assertEquals(40, sd15.headDim(0));
        assertEquals(80, sd15.headDim(1));
        assertEquals(160, sd15.headDim(2));
        UNet2DConditionConfig sd21 = parse("{\"attention_head_dim\": [5, 10, 20, 20], \"use_linear_projection\": true, \"cross_attention_dim\": 1024}");
        assertArrayEquals(new int[] {5, 10, 20, 20}, sd21.heads());
        for (int i = 0; i < 4; i++) assertEquals(64, sd21.headDim(i));
        assertTrue(sd21.useLinearProjection());
        assertEquals(1280, sd21.timeEmbedDim());
        // the head dims the fused attention lacks are padded to the next it runs
        assertEquals(64, UNet2DConditionModel.paddedHeadDim(40));
        assertEquals(80, UNet2DConditionModel.paddedHeadDim(80));
        assertEquals(256, UNet2DConditionModel.paddedHeadDim(160));
        assertEquals(64, UNet2DConditionModel.paddedHeadDim(64));
        assertEquals(32, UNet2DConditionModel.paddedHeadDim(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse("{\"num_attention_heads\": 8}"));
        assertTrue(e.getMessage().contains("\"num_attention_heads\""), e.getMessage());
        // and the tiny UNets load with it: heads 1 (head dims 32 and 48) and [1, 2, 2]
        try (UNet2DConditionModel m = UNet2DConditionModel.load(cpu, sd1Dir)) {
            assertArrayEquals(new int[] {1, 1}, m.config().heads());
            assertEquals(48, m.config().headDim(1));
        }
    }

    @Test
    void sixteenBitWeightsAndInputsAreWidened() {
        UNetFixture f = UNetFixture.sd1(SEED + 6);
        f.roundTo(DType.BF16);
        Path b16 = f.write(tmp.resolve("bf16"), DType.BF16), f32 = f.write(tmp.resolve("f32r"), DType.F32);
        int h = 4, w = 4, s = 2;
        float[] x = UNetFixture.noise(SEED + 7, 4 * h * w), ctx = UNetFixture.noise(SEED + 8, s * 24);
        float[] ts = {250f};
        float[] got = run(cpu, b16, DType.F32, x, ts, ctx, 1, 4, h, w, s, 24);
        assertArrayEquals(run(cpu, f32, DType.F32, x, ts, ctx, 1, 4, h, w, s, 24), got);
        assertTrue(ParityMath.compare(got, f.forward(x, 1, h, w, ts, ctx, s), TOL).passed());
        // F16 inputs are computed in fp32: the same as the F32 inputs they round to
        float[] xr = x.clone(), cr = ctx.clone();
        for (int i = 0; i < xr.length; i++) xr[i] = DType.F16.round(xr[i]);
        for (int i = 0; i < cr.length; i++) cr[i] = DType.F16.round(cr[i]);
        assertArrayEquals(run(cpu, f32, DType.F32, xr, ts, cr, 1, 4, h, w, s, 24), run(cpu, f32, DType.F16, x, ts, ctx, 1, 4, h, w, s, 24));
    }

    @Test
    void pipelineFolderLoadsItsUnetAndThePlainFileWinsOverAVariant() throws Exception {
        Path root = tmp.resolve("pipeline");
        sd1.write(root.resolve("unet"), DType.F32);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        Path other = UNetFixture.sd1(SEED + 9).write(tmp.resolve("other"), DType.F16);
        Files.copy(other.resolve("diffusion_pytorch_model.safetensors"), root.resolve("unet").resolve("diffusion_pytorch_model.fp16.safetensors"));
        int h = 2, w = 4, s = 3;
        float[] x = UNetFixture.noise(SEED + 10, 4 * h * w), ctx = UNetFixture.noise(SEED + 11, s * 24);
        assertArrayEquals(run(cpu, sd1Dir, DType.F32, x, new float[] {10f}, ctx, 1, 4, h, w, s, 24),
                run(cpu, root, DType.F32, x, new float[] {10f}, ctx, 1, 4, h, w, s, 24));
    }

    /** {@code surpass forward}'s family "unet": a unet/ folder is accepted (a pipeline root is left to "vae"), integer timesteps read. */
    @Test
    void forwardFamilyRunsTheFolder() {
        UNetForward fam = new UNetForward();
        assertTrue(fam.accepts(sd1Dir));
        assertTrue(!fam.accepts(tmp.resolve("nowhere")) && !fam.accepts(null));
        int h = 2, w = 2, s = 4;
        float[] x = UNetFixture.noise(SEED + 30, 2 * 4 * h * w), ctx = UNetFixture.noise(SEED + 31, 2 * s * 24);
        float[] want = run(cpu, sd1Dir, DType.F32, x, new float[] {7f, 801f}, ctx, 2, 4, h, w, s, 24);
        try (Tensor xt = cpu.upload(DType.F32, x, 2, 4, h, w); Tensor ct = cpu.upload(DType.F32, ctx, 2, s, 24);
             Tensor tt = cpu.upload(new long[] {7, 801}, 2)) {
            var out = fam.forward(cpu, sd1Dir, java.util.Map.of("sample", xt, "timestep", tt, "encoder_hidden_states", ct));
            try (Tensor y = out.get("sample")) {
                assertArrayEquals(want, y.toFloatArray());
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> fam.forward(cpu, sd1Dir, java.util.Map.of("sample", xt, "encoder_hidden_states", ct)));
            assertTrue(e.getMessage().contains("'timestep'"), e.getMessage());
        }
    }

    // ---- SDXL (text_time) ------------------------------------------------------------------------

    private static float[] runXl(Device d, DType dtype, float[] x, float[] ts, float[] ctx, float[] text, float[] ids, int n, int h, int w, int s) {
        try (UNet2DConditionModel m = UNet2DConditionModel.load(d, sdxlDir); Tensor xt = d.upload(dtype, x, n, 4, h, w);
             Tensor et = d.upload(dtype, ctx, n, s, sdxl.cross); Tensor tt = d.upload(dtype, text, n, sdxl.textDim());
             Tensor y = m.forward(xt, ts, et, tt, ids)) {
            assertArrayEquals(new long[] {n, 4, h, w}, y.shape());
            return y.toFloatArray();
        }
    }

    @Test
    void sdxlLikeTextTimeMatchesFloat64Reference() {
        int n = 2, h = 4, w = 12, s = 7;
        float[] x = UNetFixture.noise(SEED + 30, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 31, n * s * sdxl.cross);
        float[] text = UNetFixture.noise(SEED + 32, n * sdxl.textDim());
        float[] ids = {32, 96, 0, 0, 32, 96, 1024, 768, 17, 5, 896, 640}; // per sample: original (h, w), crop (top, left), target (h, w)
        float[] ts = {999f, 421.5f};
        float[] got = runXl(cpu, DType.F32, x, ts, ctx, text, ids, n, h, w, s);
        ParityResult r = ParityMath.compare(got, sdxl.forward(x, n, h, w, ts, ctx, s, text, ids, EnumSet.noneOf(UNetFixture.Variant.class)), TOL);
        assertTrue(r.passed(), r + " seed=" + SEED);
        // the added conditions matter: without them (or with the other sample's ids) the output moves far beyond the tolerance
        ParityResult noAug = ParityMath.compare(got, sdxl.forward(x, n, h, w, ts, ctx, s, EnumSet.noneOf(UNetFixture.Variant.class)), TOL);
        assertTrue(!noAug.passed() && noAug.relL2() > 1e-2, "text_time conditions are not used: " + noAug);
        float[] swapped = ids.clone();
        System.arraycopy(ids, 6, swapped, 0, 6);
        System.arraycopy(ids, 0, swapped, 6, 6);
        ParityResult sw = ParityMath.compare(got, sdxl.forward(x, n, h, w, ts, ctx, s, text, swapped, EnumSet.noneOf(UNetFixture.Variant.class)), TOL);
        assertTrue(sw.relL2() > 1e-2, "time ids are not per sample: " + sw);
        assertTrue(!sw.passed(), "time ids are not per sample: " + sw);
        // six ids for the whole batch broadcast as twelve equal ones
        float[] six = java.util.Arrays.copyOf(ids, 6), twelve = new float[12];
        System.arraycopy(six, 0, twelve, 0, 6);
        System.arraycopy(six, 0, twelve, 6, 6);
        assertArrayEquals(runXl(cpu, DType.F32, x, ts, ctx, text, twelve, n, h, w, s), runXl(cpu, DType.F32, x, ts, ctx, text, six, n, h, w, s));
    }

    @Test
    void forwardFamilyTakesTextEmbedsAndTimeIds() {
        UNetForward fam = new UNetForward();
        assertTrue(fam.accepts(sdxlDir));
        int n = 2, h = 4, w = 4, s = 3;
        float[] x = UNetFixture.noise(SEED + 40, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 41, n * s * sdxl.cross);
        float[] text = UNetFixture.noise(SEED + 42, n * sdxl.textDim()), ids = {16, 16, 0, 0, 16, 16, 32, 24, 4, 0, 32, 24};
        float[] want = runXl(cpu, DType.F32, x, new float[] {7f, 801f}, ctx, text, ids, n, h, w, s);
        try (Tensor xt = cpu.upload(DType.F32, x, n, 4, h, w); Tensor ct = cpu.upload(DType.F32, ctx, n, s, sdxl.cross);
             Tensor tt = cpu.upload(new long[] {7, 801}, 2); Tensor te = cpu.upload(DType.F32, text, n, sdxl.textDim());
             Tensor it = cpu.upload(DType.F32, ids, n, 6)) {
            var out = fam.forward(cpu, sdxlDir, java.util.Map.of("sample", xt, "timestep", tt, "encoder_hidden_states", ct, "text_embeds", te,
                    "time_ids", it));
            try (Tensor y = out.get("sample")) {
                assertArrayEquals(want, y.toFloatArray());
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> fam.forward(cpu, sdxlDir, java.util.Map.of("sample", xt, "timestep", tt, "encoder_hidden_states", ct, "text_embeds", te)));
            assertTrue(e.getMessage().contains("'time_ids'"), e.getMessage());
        }
    }

    @Test
    void sdxlConfigReadsPerLevelLayersAndAddedConditions() {
        UNet2DConditionConfig c = UNet2DConditionConfig.load(sdxlDir);
        assertTrue(c.textTime());
        assertArrayEquals(new int[] {1, 2, 3}, c.transformerLayersPerBlock());
        assertArrayEquals(new int[] {1, 2, 3}, c.heads());
        assertEquals(8, c.additionTimeEmbedDim());
        assertEquals(62, c.projectionClassEmbeddingsInputDim());
        assertEquals(14, c.textEmbedsDim());
        assertTrue(c.useLinearProjection());
        assertTrue(!UNet2DConditionConfig.load(sd1Dir).textTime());
        assertEquals(0, UNet2DConditionConfig.load(sd1Dir).textEmbedsDim());
    }

    @Test
    void textTimeInputsAreRefused() {
        try (UNet2DConditionModel xl = UNet2DConditionModel.load(cpu, sdxlDir); UNet2DConditionModel m1 = UNet2DConditionModel.load(cpu, sd1Dir);
             Tensor x = cpu.upload(DType.F32, UNetFixture.noise(1, 4 * 4 * 4), 1, 4, 4, 4);
             Tensor ctx = cpu.upload(DType.F32, UNetFixture.noise(2, 3 * 40), 1, 3, 40);
             Tensor ctx1 = cpu.upload(DType.F32, UNetFixture.noise(2, 3 * 24), 1, 3, 24);
             Tensor text = cpu.upload(DType.F32, UNetFixture.noise(3, 14), 1, 14);
             Tensor text2 = cpu.upload(DType.F32, UNetFixture.noise(3, 28), 2, 14);
             Tensor narrow = cpu.upload(DType.F32, UNetFixture.noise(3, 13), 1, 13)) {
            float[] t = {5}, ids = {4, 4, 0, 0, 4, 4};
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx)).getMessage().contains("text_time"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m1.forward(x, t, ctx1, text, ids)).getMessage().contains("no addition_embed_type"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx, null, ids)).getMessage().contains("textEmbeds is null"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx, narrow, ids)).getMessage().contains("[1, 14]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx, text2, ids)).getMessage().contains("[1, 14]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx, text, null)).getMessage().contains("timeIds is null"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx, text, new float[5])).getMessage().contains("timeIds has 5"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> xl.forward(x, t, ctx, text, new float[] {0, 0, 0, Float.NaN, 0, 0}))
                    .getMessage().contains("timeIds[3]"));
        }
    }

    // ---- refusals -------------------------------------------------------------------------------

    private static void assertRefused(Consumer<ObjectNode> edit, String... parts) {
        ObjectNode c = sd1.config();
        edit.accept(c);
        Path dir = tmp.resolve("bad-" + Integer.toHexString(c.toString().hashCode()));
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), c.toPrettyString());
            if (!Files.exists(dir.resolve("diffusion_pytorch_model.safetensors"))) {
                Files.copy(sd1Dir.resolve("diffusion_pytorch_model.safetensors"), dir.resolve("diffusion_pytorch_model.safetensors"));
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UNet2DConditionModel.load(cpu, dir).close());
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "\"" + e.getMessage() + "\" lacks \"" + p + "\"");
    }

    @Test
    void unsupportedConfigsAreRefusedNamingTheField() {
        assertRefused(c -> c.put("addition_embed_type", "text"), "\"addition_embed_type\"", "text_time");
        assertRefused(c -> c.put("addition_embed_type", "text_time"), "\"addition_time_embed_dim\"", "missing");
        assertRefused(c -> c.put("addition_embed_type", "text_time").put("addition_time_embed_dim", 8), "\"projection_class_embeddings_input_dim\"");
        assertRefused(c -> c.put("addition_embed_type", "text_time").put("addition_time_embed_dim", 8).put("projection_class_embeddings_input_dim", 48),
                "\"projection_class_embeddings_input_dim\"", "exceed 6");
        assertRefused(c -> c.put("projection_class_embeddings_input_dim", 60), "\"projection_class_embeddings_input_dim\"", "addition_embed_type is null");
        assertRefused(c -> c.put("addition_embed_type", "text_time").put("addition_time_embed_dim", 8).put("projection_class_embeddings_input_dim", 60),
                "add_embedding.linear_1.weight"); // the sd1 file has no add_embedding
        assertRefused(c -> c.put("class_embed_type", "timestep"), "\"class_embed_type\"");
        assertRefused(c -> c.put("num_class_embeds", 10), "\"num_class_embeds\"");
        assertRefused(c -> c.put("encoder_hid_dim", 32), "\"encoder_hid_dim\"");
        assertRefused(c -> c.put("time_cond_proj_dim", 256), "\"time_cond_proj_dim\"");
        assertRefused(c -> c.put("resnet_time_scale_shift", "scale_shift"), "\"resnet_time_scale_shift\"", "scale_shift");
        assertRefused(c -> c.put("only_cross_attention", true), "\"only_cross_attention\"");
        assertRefused(c -> c.putArray("only_cross_attention").add(false).add(true), "\"only_cross_attention\"");
        assertRefused(c -> c.put("dual_cross_attention", true), "\"dual_cross_attention\"");
        assertRefused(c -> c.put("mid_block_type", "UNetMidBlock2DSimpleCrossAttn"), "\"mid_block_type\"", "UNetMidBlock2DSimpleCrossAttn");
        assertRefused(c -> c.putArray("down_block_types").add("AttnDownBlock2D").add("DownBlock2D"), "\"down_block_types\"", "AttnDownBlock2D");
        assertRefused(c -> c.putArray("up_block_types").add("UpBlock2D").add("SimpleCrossAttnUpBlock2D"), "\"up_block_types\"");
        assertRefused(c -> c.put("attention_type", "gated"), "\"attention_type\"", "gated");
        assertRefused(c -> c.put("cross_attention_norm", "group_norm"), "\"cross_attention_norm\"");
        assertRefused(c -> c.put("act_fn", "gelu"), "\"act_fn\"", "gelu");
        assertRefused(c -> c.put("conv_in_kernel", 1), "\"conv_in_kernel\"");
        assertRefused(c -> c.put("conv_out_kernel", 5), "\"conv_out_kernel\"");
        assertRefused(c -> c.put("time_embedding_type", "fourier"), "\"time_embedding_type\"");
        assertRefused(c -> c.put("num_attention_heads", 1), "\"num_attention_heads\"");
        assertRefused(c -> c.put("_class_name", "UNet2DModel"), "\"_class_name\"");
        assertRefused(c -> c.put("norm_num_groups", 7), "\"norm_num_groups\"");
        assertRefused(c -> c.put("attention_head_dim", 64), "\"attention_head_dim\"", "64 heads");
        assertRefused(c -> c.putArray("attention_head_dim").add(1), "\"attention_head_dim\"", "one entry per level");
        assertRefused(c -> c.put("cross_attention_dim", 32), "attn2.to_k.weight", "[32, 24]", "[32, 32]");
    }

    @Test
    void badInputsAreRefused() {
        try (UNet2DConditionModel m = UNet2DConditionModel.load(cpu, sd1Dir); Tensor odd = cpu.upload(DType.F32, UNetFixture.noise(1, 4 * 3 * 4), 1, 4, 3, 4);
             Tensor ok = cpu.upload(DType.F32, UNetFixture.noise(2, 2 * 4 * 2 * 2), 2, 4, 2, 2);
             Tensor ctx = cpu.upload(DType.F32, UNetFixture.noise(3, 2 * 3 * 24), 2, 3, 24);
             Tensor ctx1 = cpu.upload(DType.F32, UNetFixture.noise(3, 3 * 24), 1, 3, 24);
             Tensor wide = cpu.upload(DType.F32, UNetFixture.noise(3, 2 * 3 * 20), 2, 3, 20);
             Tensor ints = cpu.upload(new int[16], 1, 4, 2, 2)) {
            float[] t2 = {1, 2};
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(odd, new float[] {1}, ctx1)).getMessage().contains("multiples of 2"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(ok, new float[] {1, 2, 3}, ctx)).getMessage().contains("timesteps has 3"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(ok, new float[] {Float.NaN}, ctx)).getMessage().contains("timesteps[0]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(ok, t2, ctx1)).getMessage().contains("encoderHiddenStates"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(ok, t2, wide)).getMessage().contains("[2, S, 24]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(ints, new float[] {1}, ctx1)).getMessage().contains("F32, F16 or BF16"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(null, t2, ctx)).getMessage().contains("sample is null"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(ok, null, ctx)).getMessage().contains("timesteps is null"));
            m.close();
            assertThrows(IllegalStateException.class, () -> m.forward(ok, t2, ctx));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UNet2DConditionModel.load(cpu, tmp.resolve("nowhere")));
        assertTrue(e.getMessage().contains("not a folder"), e.getMessage());
    }

    // ---- CUDA -----------------------------------------------------------------------------------

    @Tag("gpu")
    @Test
    void cudaMatchesCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        int n = 2, h = 6, w = 10, s = 77;
        float[] x = UNetFixture.noise(SEED + 20, n * 4 * h * w), ctx = UNetFixture.noise(SEED + 21, n * s * 24);
        float[] ts = {981.5f, 1f};
        try (Device g = Device.cuda(0)) {
            float[] onCpu = run(cpu, sd1Dir, DType.F32, x, ts, ctx, n, 4, h, w, s, 24);
            float[] onGpu = run(g, sd1Dir, DType.F32, x, ts, ctx, n, 4, h, w, s, 24);
            ParityResult vsCpu = ParityMath.compare(onGpu, toDouble(onCpu), TOL);
            assertTrue(vsCpu.passed(), "CUDA vs CPU: " + vsCpu);
            ParityResult vsRef = ParityMath.compare(onGpu, sd1.forward(x, n, h, w, ts, ctx, s), TOL);
            assertTrue(vsRef.passed(), "CUDA vs float64: " + vsRef);
            float[] x2 = UNetFixture.noise(SEED + 22, 4 * 4 * 8), c2 = UNetFixture.noise(SEED + 23, 5 * 20);
            ParityResult sd2Gpu = ParityMath.compare(run(g, sd2Dir, DType.BF16, x2, new float[] {3f}, c2, 1, 4, 4, 8, 5, 20),
                    toDouble(run(cpu, sd2Dir, DType.BF16, x2, new float[] {3f}, c2, 1, 4, 4, 8, 5, 20)), TOL);
            assertTrue(sd2Gpu.passed(), "CUDA vs CPU, SD2-like, BF16 inputs: " + sd2Gpu);
            float[] x3 = UNetFixture.noise(SEED + 24, 2 * 4 * 8 * 8), c3 = UNetFixture.noise(SEED + 25, 2 * 9 * 40), p3 = UNetFixture.noise(SEED + 26, 2 * 14);
            float[] ids = {64, 64, 0, 0, 64, 64, 1024, 1024, 8, 16, 1024, 1024}, t3 = {700f, 12f};
            ParityResult xlGpu = ParityMath.compare(runXl(g, DType.F32, x3, t3, c3, p3, ids, 2, 8, 8, 9),
                    sdxl.forward(x3, 2, 8, 8, t3, c3, 9, p3, ids, EnumSet.noneOf(UNetFixture.Variant.class)), TOL);
            assertTrue(xlGpu.passed(), "CUDA vs float64, SDXL-like text_time: " + xlGpu);
        }
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }
}
