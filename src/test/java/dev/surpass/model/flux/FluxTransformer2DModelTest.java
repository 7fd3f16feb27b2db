package dev.surpass.model.flux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FluxTransformer2DModel on tiny random Flux transformers (2 double + 2 single blocks, 2 heads of
 * 64, rope axes [8, 28, 28]) against the float64 forward of {@link FluxFixture} (written from
 * diffusers' source): FLUX.1-dev-like (guidance embedder, out_channels ≠ in_channels) and
 * FLUX.1-schnell-like, with 7 text and 15 image tokens (a 3 × 5 grid) and non-zero text ids; the
 * conventions that matter (text-first ids, interleaved rotary pairs, norm_out's chunk order, the
 * single block's cat[attn, mlp], the text stream's own qk norms, guidance × 1000), 16-bit weights
 * and inputs, pipeline and sharded folders, the forward family, named refusals, no leaks, and on
 * CUDA (tag gpu) against the CPU.
 */
class FluxTransformer2DModelTest {
    static final long SEED = Long.getLong("surpass.seed", 0xF1A7L);
    /** fp32 against float64 through ~50 GEMMs, 4 attentions and 14 LayerNorms: relative L2. */
    static final double TOL = 2e-5;
    static final int S = 7, GH = 3, GW = 5, T = GH * GW, J = 24, P = 20;

    @TempDir
    static Path tmp;

    static FluxFixture dev, schnell;
    static Path devDir, schnellDir;
    static Device cpu;

    @BeforeAll
    static void write() {
        dev = FluxFixture.dev(SEED);
        schnell = FluxFixture.schnell(SEED + 1);
        devDir = dev.write(tmp.resolve("dev"), DType.F32);
        schnellDir = schnell.write(tmp.resolve("schnell"), DType.F32);
        cpu = Device.cpu();
    }

    @AfterAll
    static void closeDevice() {
        cpu.close();
    }

    /** Inputs of one test: packed latents [n, t, c], text states [n, S, J], pooled [n, P], timesteps, ids, guidance. */
    record In(float[] x, float[] ctx, float[] pooled, float[] ts, float[] img, float[] txt, float[] g, int n, int t, int c) {
        static In random(long seed, FluxFixture f, int n, float[] ts, float[] g) {
            return new In(FluxFixture.noise(seed, n * T * f.in), FluxFixture.noise(seed + 100, n * S * J), FluxFixture.noise(seed + 200, n * P), ts,
                    FluxFixture.imageIds(GH, GW), FluxFixture.textIds(S), g, n, T, f.in);
        }

        double[] ref(FluxFixture f, EnumSet<FluxFixture.Variant> v) {
            return f.forward(x, n, t, ctx, S, pooled, ts, img, txt, g, v);
        }

        double[] ref(FluxFixture f) {
            return ref(f, EnumSet.noneOf(FluxFixture.Variant.class));
        }
    }

    static float[] run(Device d, Path dir, DType dtype, In in) {
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(d, dir); Tensor x = d.upload(dtype, in.x(), in.n(), in.t(), in.c());
             Tensor ctx = d.upload(dtype, in.ctx(), in.n(), S, J); Tensor pooled = d.upload(dtype, in.pooled(), in.n(), P);
             Tensor y = m.forward(x, ctx, pooled, in.ts(), in.img(), in.txt(), in.g())) {
            assertEquals(DType.F32, y.dtype());
            assertArrayEquals(new long[] {in.n(), in.t(), m.config().outChannels()}, y.shape());
            return y.toFloatArray();
        }
    }

    /** The output matches the float64 forward, and each listed departure from diffusers moves it far beyond the tolerance. */
    static void assertMatches(FluxFixture f, float[] got, In in, FluxFixture.Variant... sensitive) {
        ParityResult r = ParityMath.compare(got, in.ref(f), TOL);
        assertTrue(r.passed(), r + " seed=" + SEED);
        for (FluxFixture.Variant v : sensitive) {
            ParityResult off = ParityMath.compare(got, in.ref(f, EnumSet.of(v)), TOL);
            assertTrue(off.relL2() > 100 * TOL, "with " + v + ": " + off);
        }
    }

    @Test
    void devLikeWithGuidanceMatchesFloat64Reference() {
        In in = In.random(SEED + 10, dev, 2, new float[] {0.9813f, 0.12325f}, new float[] {3.5f, 1.25f});
        float[] got = run(cpu, devDir, DType.F32, in);
        assertEquals(2 * T * 8, got.length);
        assertMatches(dev, got, in, FluxFixture.Variant.values());
        // the second sample alone gives its half of the batch (to the GEMMs' blocking)
        In second = new In(Arrays.copyOfRange(in.x(), T * 12, 2 * T * 12), Arrays.copyOfRange(in.ctx(), S * J, 2 * S * J),
                Arrays.copyOfRange(in.pooled(), P, 2 * P), new float[] {in.ts()[1]}, in.img(), in.txt(), new float[] {in.g()[1]}, 1, T, 12);
        ParityResult r = ParityMath.compare(run(cpu, devDir, DType.F32, second), toDouble(Arrays.copyOfRange(got, T * 8, 2 * T * 8)), 1e-6);
        assertTrue(r.passed(), r.toString());
        // the guidance matters, and one value serves the whole batch
        In g1 = new In(in.x(), in.ctx(), in.pooled(), in.ts(), in.img(), in.txt(), new float[] {3.5f}, 2, T, 12);
        assertTrue(ParityMath.compare(run(cpu, devDir, DType.F32, g1), in.ref(dev), TOL).relL2() > 100 * TOL);
        assertTrue(ParityMath.compare(run(cpu, devDir, DType.F32, g1), g1.ref(dev), TOL).passed());
    }

    @Test
    void schnellLikeWithoutGuidanceMatchesFloat64ReferenceWithOneTimestepForTheBatch() {
        In in = In.random(SEED + 11, schnell, 2, new float[] {0.5f}, null);
        float[] got = run(cpu, schnellDir, DType.F32, in);
        assertMatches(schnell, got, in, FluxFixture.Variant.IDS_IMAGE_FIRST, FluxFixture.Variant.ROTATE_HALF, FluxFixture.Variant.NORM_OUT_SHIFT_SCALE,
                FluxFixture.Variant.SINGLE_MLP_FIRST);
        // FluxPipeline's own ids (text all zero, image (0, row, col)) and a single text token
        float[] ctx1 = Arrays.copyOf(in.ctx(), 2 * J);
        float[] one;
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(cpu, schnellDir); Tensor x = cpu.upload(DType.F32, in.x(), 2, T, 12);
             Tensor ctx = cpu.upload(DType.F32, ctx1, 2, 1, J); Tensor pooled = cpu.upload(DType.F32, in.pooled(), 2, P);
             Tensor y = m.forward(x, ctx, pooled, in.ts(), in.img(), new float[3], null)) {
            one = y.toFloatArray();
        }
        ParityResult r = ParityMath.compare(one, schnell.forward(in.x(), 2, T, ctx1, 1, in.pooled(), in.ts(), in.img(), new float[3], null,
                FluxFixture.none()), TOL);
        assertTrue(r.passed(), r.toString());
    }

    @Test
    void sixteenBitWeightsAndInputsAreWidened() {
        FluxFixture f = FluxFixture.dev(SEED + 20);
        f.roundTo(DType.BF16);
        Path b16 = f.write(tmp.resolve("bf16"), DType.BF16), f32 = f.write(tmp.resolve("f32r"), DType.F32);
        In in = In.random(SEED + 21, f, 1, new float[] {0.3f}, new float[] {4f});
        float[] got = run(cpu, b16, DType.F32, in);
        assertArrayEquals(run(cpu, f32, DType.F32, in), got);
        assertTrue(ParityMath.compare(got, in.ref(f), TOL).passed());
        // kept 16-bit on the CPU (-Dsurpass.cpu.weights16, the single blocks' column-split proj_out too): the same values, another summation order
        String old = System.setProperty("surpass.cpu.weights16", "true");
        try {
            int before = cpu.liveAllocations();
            float[] kept = run(cpu, b16, DType.F32, in);
            assertTrue(ParityMath.compare(kept, in.ref(f), TOL).passed());
            assertTrue(ParityMath.compare(kept, toDouble(got), 1e-6).passed());
            assertEquals(before, cpu.liveAllocations());
        } finally {
            if (old == null) System.clearProperty("surpass.cpu.weights16");
            else System.setProperty("surpass.cpu.weights16", old);
        }
        // F16 inputs are computed in fp32: the same as the F32 inputs they round to
        In rounded = new In(round(in.x()), round(in.ctx()), round(in.pooled()), in.ts(), in.img(), in.txt(), in.g(), 1, T, 12);
        assertArrayEquals(run(cpu, f32, DType.F32, rounded), run(cpu, f32, DType.F16, in));
    }

    @Test
    void pipelineRootAndShardedWeightsLoad() throws Exception {
        Path root = tmp.resolve("pipeline");
        dev.write(root.resolve("transformer"), DType.F32);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"FluxPipeline\"}");
        Path sharded = tmp.resolve("sharded");
        Files.createDirectories(sharded);
        Files.copy(devDir.resolve("config.json"), sharded.resolve("config.json"));
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (SafeTensorsFile all = SafeTensors.open(devDir.resolve("diffusion_pytorch_model.safetensors"))) {
            Map<String, Tensor> a = new LinkedHashMap<>(), b = new LinkedHashMap<>();
            int i = 0;
            for (String name : all.names()) {
                (i++ % 2 == 0 ? a : b).put(name, all.tensor(name, cpu));
                index.append(i == 1 ? "" : ", ").append('"').append(name).append("\": \"diffusion_pytorch_model-0000").append(i % 2 == 1 ? 1 : 2)
                        .append("-of-00002.safetensors\"");
            }
            SafeTensors.write(sharded.resolve("diffusion_pytorch_model-00001-of-00002.safetensors"), a, Map.of("format", "pt"));
            SafeTensors.write(sharded.resolve("diffusion_pytorch_model-00002-of-00002.safetensors"), b, Map.of("format", "pt"));
            for (Tensor t : a.values()) t.close();
            for (Tensor t : b.values()) t.close();
        }
        Files.writeString(sharded.resolve("diffusion_pytorch_model.safetensors.index.json"), index.append("}}").toString());
        In in = In.random(SEED + 30, dev, 1, new float[] {0.7f}, new float[] {3.5f});
        float[] want = run(cpu, devDir, DType.F32, in);
        assertArrayEquals(want, run(cpu, root, DType.F32, in));
        assertArrayEquals(want, run(cpu, sharded, DType.F32, in));
        Files.delete(sharded.resolve("diffusion_pytorch_model-00002-of-00002.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FluxTransformer2DModel.load(cpu, sharded));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model-00002-of-00002.safetensors"), e.getMessage());
    }

    /**
     * Black Forest Labs' original single file (fused qkv / linear1, norm_out rows in (shift, scale) order; also with
     * ComfyUI's prefix): the config is inferred and the output is the diffusers folder's, bit for bit.
     */
    @Test
    void originalSingleFileLoadsAsTheDiffusersFolder() {
        // BFL's files are FLUX.1's head dim 128 with axes [16, 56, 56] (what the inferred config assumes): one head of 128
        FluxFixture f = new FluxFixture(SEED + 34, 1, 128, 2, 2, 12, 8, 24, 20, true, new int[] {16, 56, 56});
        Path dir = f.write(tmp.resolve("dev128"), DType.F32);
        In in = In.random(SEED + 35, f, 2, new float[] {0.6f, 0.2f}, new float[] {3.5f, 2f});
        float[] want = run(cpu, dir, DType.F32, in);
        assertTrue(ParityMath.compare(want, in.ref(f), TOL).passed());
        Path file = f.writeOriginal(tmp.resolve("bfl").resolve("flux1-dev.safetensors"), DType.F32, "");
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(cpu, file)) {
            assertEquals(FluxTransformerConfig.read(dir), m.config(), "the inferred config");
        }
        assertArrayEquals(want, run(cpu, file, DType.F32, in));
        Path comfy = f.writeOriginal(tmp.resolve("comfy").resolve("flux1-dev-comfy.safetensors"), DType.F32, "model.diffusion_model.");
        assertArrayEquals(want, run(cpu, comfy, DType.F32, in));
        assertTrue(new FluxForward().accepts(file) && new FluxForward().accepts(comfy));
        // schnell: no guidance_in, so no guidance embedder; out_channels = in_channels; BF16 as BFL ships it
        FluxFixture s = new FluxFixture(SEED + 36, 1, 128, 1, 2, 12, 12, 24, 20, false, new int[] {16, 56, 56});
        s.roundTo(DType.BF16);
        In sin = In.random(SEED + 37, s, 1, new float[] {0.75f}, null);
        Path sfile = s.writeOriginal(tmp.resolve("bfl").resolve("flux1-schnell.safetensors"), DType.BF16, "");
        assertArrayEquals(run(cpu, s.write(tmp.resolve("schnell128"), DType.F32), DType.F32, sin), run(cpu, sfile, DType.F32, sin));
        // a head dim other than FLUX.1's 128 cannot say its rope axes: refused by name
        Path hd64 = dev.writeOriginal(tmp.resolve("bfl64").resolve("flux-64.safetensors"), DType.F32, "");
        assertRefusal(() -> FluxTransformer2DModel.load(cpu, hd64), "axes_dims_rope", "attention_head_dim 64");
        // another safetensors file is refused by name
        Path other = tmp.resolve("other.safetensors");
        try (Tensor t = cpu.upload(DType.F32, new float[4], 4)) {
            SafeTensors.write(other, Map.of("x_embedder.proj.weight", t), Map.of());
        }
        assertFalse(new FluxForward().accepts(other));
        assertRefusal(() -> FluxTransformer2DModel.load(cpu, other), "img_in.weight", "Black Forest Labs");
        int before = cpu.liveAllocations();
        run(cpu, file, DType.F32, in);
        assertEquals(before, cpu.liveAllocations(), "no fused block is left behind");
    }

    /** {@code surpass forward}'s family "flux": the folder is accepted, integer ids (also batched [1, N, 3]) read, missing inputs named. */
    @Test
    void forwardFamilyRunsTheFolder() {
        FluxForward fam = new FluxForward();
        assertTrue(fam.accepts(devDir));
        assertFalse(fam.accepts(tmp.resolve("nowhere")) || fam.accepts(null));
        In in = In.random(SEED + 31, dev, 2, new float[] {0.25f, 1f}, new float[] {3.5f, 3.5f});
        float[] want = run(cpu, devDir, DType.F32, in);
        long[] img = new long[T * 3], txt = new long[S * 3];
        for (int i = 0; i < img.length; i++) img[i] = (long) in.img()[i];
        for (int i = 0; i < txt.length; i++) txt[i] = (long) in.txt()[i];
        try (Tensor x = cpu.upload(DType.F32, in.x(), 2, T, 12); Tensor ctx = cpu.upload(DType.F32, in.ctx(), 2, S, J);
             Tensor pooled = cpu.upload(DType.F32, in.pooled(), 2, P); Tensor t = cpu.upload(DType.F32, in.ts(), 2);
             Tensor g = cpu.upload(DType.F32, in.g(), 2); Tensor imgIds = cpu.upload(img, T, 3); Tensor txtIds = cpu.upload(txt, 1, S, 3)) {
            Map<String, Tensor> inputs = new HashMap<>(Map.of("hidden_states", x, "encoder_hidden_states", ctx, "pooled_projections", pooled,
                    "timestep", t, "img_ids", imgIds, "txt_ids", txtIds, "guidance", g));
            try (Tensor y = fam.forward(cpu, devDir, inputs).get("sample")) {
                assertArrayEquals(want, y.toFloatArray());
            }
            inputs.remove("guidance");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fam.forward(cpu, devDir, inputs));
            assertTrue(e.getMessage().contains("guidance is null"), e.getMessage());
            inputs.remove("txt_ids");
            e = assertThrows(IllegalArgumentException.class, () -> fam.forward(cpu, devDir, inputs));
            assertTrue(e.getMessage().contains("'txt_ids'"), e.getMessage());
        }
    }

    @Test
    void loadForwardAndCloseLeaveNoAllocations() {
        In in = In.random(SEED + 40, dev, 2, new float[] {0.1f, 0.9f}, new float[] {2f, 5f});
        int before = cpu.liveAllocations();
        run(cpu, devDir, DType.BF16, in);
        run(cpu, schnellDir, DType.F32, new In(in.x(), in.ctx(), in.pooled(), in.ts(), in.img(), in.txt(), null, 2, T, 12));
        assertEquals(before, cpu.liveAllocations(), "live allocations after load, forward and close");
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(cpu, devDir); Tensor x = cpu.upload(DType.F32, in.x(), 2, T, 12);
             Tensor ctx = cpu.upload(DType.F32, in.ctx(), 2, S, J); Tensor pooled = cpu.upload(DType.F32, in.pooled(), 2, P)) {
            int loaded = cpu.liveAllocations();
            assertThrows(IllegalArgumentException.class, () -> m.forward(x, ctx, pooled, new float[] {1, Float.POSITIVE_INFINITY}, in.img(), in.txt(), in.g()));
            assertEquals(loaded, cpu.liveAllocations());
            m.close();
            assertTrue(cpu.liveAllocations() < loaded, "close freed the weights");
        }
        assertEquals(before, cpu.liveAllocations());
    }

    // ---- refusals -------------------------------------------------------------------------------

    private static void assertRefused(FluxFixture f, Consumer<ObjectNode> edit, String... fragments) {
        ObjectNode c = f.config();
        edit.accept(c);
        Path dir = f.write(tmp.resolve("bad-" + Integer.toHexString(c.toString().hashCode())), DType.F32, c);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FluxTransformer2DModel.load(cpu, dir));
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "missing '" + s + "' in: " + e.getMessage());
    }

    @Test
    void badConfigsAreRefusedByName() {
        assertRefused(schnell, c -> c.put("_class_name", "SD3Transformer2DModel"), "\"_class_name\"");
        assertRefused(schnell, c -> c.put("patch_size", 2), "\"patch_size\"", "2");
        assertRefused(schnell, c -> c.put("attention_head_dim", 48), "\"attention_head_dim\"", "48");
        assertRefused(schnell, c -> c.putArray("axes_dims_rope").add(8).add(28).add(30), "\"axes_dims_rope\"", "66", "64");
        assertRefused(schnell, c -> c.putArray("axes_dims_rope").add(9).add(27).add(28), "\"axes_dims_rope\"", "9");
        assertRefused(schnell, c -> c.put("axes_dims_rope", 64), "\"axes_dims_rope\"", "list");
        assertRefused(schnell, c -> c.put("guidance_embeds", "yes"), "\"guidance_embeds\"");
        assertRefused(schnell, c -> c.put("num_attention_heads", 0), "\"num_attention_heads\"");
        // a weight the config needs is looked for by its diffusers name and shape
        assertRefused(schnell, c -> c.put("guidance_embeds", true), "time_text_embed.guidance_embedder.linear_1.weight", "missing");
        assertRefused(dev, c -> c.put("guidance_embeds", false), "guidance_embedder", "\"guidance_embeds\" is false");
        assertRefused(schnell, c -> c.put("joint_attention_dim", 30), "context_embedder.weight", "[128, 30]");
        assertRefused(schnell, c -> c.put("num_single_layers", 3), "single_transformer_blocks.2.", "missing");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FluxTransformer2DModel.load(cpu, tmp.resolve("nowhere")));
        assertTrue(e.getMessage().contains("not a folder"), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> FluxTransformer2DModel.load(null, devDir)).getMessage().contains("device is null"));
        // zero double blocks is a model diffusers builds: it loads and runs the blocks it has
        ObjectNode c = schnell.config();
        c.put("num_layers", 0).put("num_single_layers", 1);
        Path few = schnell.write(tmp.resolve("few"), DType.F32, c);
        In in = In.random(SEED + 60, schnell, 1, new float[] {0.5f}, null);
        float[] got = run(cpu, few, DType.F32, in);
        assertTrue(ParityMath.compare(got, in.ref(schnell.truncated(0, 1)), TOL).passed());
        assertTrue(ParityMath.compare(got, in.ref(schnell), TOL).relL2() > 100 * TOL);
    }

    @Test
    void badInputsAreRefused() {
        float[] t2 = {0.5f, 0.25f}, g2 = {3.5f, 3.5f}, img = FluxFixture.imageIds(GH, GW), txt = FluxFixture.textIds(S);
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(cpu, devDir);
             Tensor ok = cpu.upload(DType.F32, FluxFixture.noise(1, 2 * T * 12), 2, T, 12);
             Tensor chans = cpu.upload(DType.F32, FluxFixture.noise(2, 2 * T * 11), 2, T, 11);
             Tensor rank4 = cpu.upload(DType.F32, FluxFixture.noise(3, 2 * T * 12), 2, 12, GH, GW);
             Tensor ints = cpu.upload(new int[2 * T * 12], 2, T, 12);
             Tensor ctx = cpu.upload(DType.F32, FluxFixture.noise(5, 2 * S * J), 2, S, J);
             Tensor ctx1 = cpu.upload(DType.F32, FluxFixture.noise(6, S * J), 1, S, J);
             Tensor wide = cpu.upload(DType.F32, FluxFixture.noise(7, 2 * S * 30), 2, S, 30);
             Tensor pooled = cpu.upload(DType.F32, FluxFixture.noise(8, 2 * P), 2, P);
             Tensor pooledBad = cpu.upload(DType.F32, FluxFixture.noise(9, 2 * 21), 2, 21)) {
            assertRefusal(() -> m.forward(null, ctx, pooled, t2, img, txt, g2), "hiddenStates is null");
            assertRefusal(() -> m.forward(chans, ctx, pooled, t2, img, txt, g2), "hiddenStates", "[B, T, 12]");
            assertRefusal(() -> m.forward(rank4, ctx, pooled, t2, img, txt, g2), "hiddenStates", "packed latents");
            assertRefusal(() -> m.forward(ints, ctx, pooled, t2, img, txt, g2), "F32, F16 or BF16");
            assertRefusal(() -> m.forward(ok, null, pooled, t2, img, txt, g2), "encoderHiddenStates is null");
            assertRefusal(() -> m.forward(ok, ctx1, pooled, t2, img, txt, g2), "[2, S, 24]");
            assertRefusal(() -> m.forward(ok, wide, pooled, t2, img, txt, g2), "joint_attention_dim");
            assertRefusal(() -> m.forward(ok, ctx, pooledBad, t2, img, txt, g2), "pooledProjections", "[2, 20]");
            assertRefusal(() -> m.forward(ok, ctx, null, t2, img, txt, g2), "pooledProjections is null");
            assertRefusal(() -> m.forward(ok, ctx, pooled, null, img, txt, g2), "timesteps is null");
            assertRefusal(() -> m.forward(ok, ctx, pooled, new float[] {1, 2, 3}, img, txt, g2), "timesteps has 3");
            assertRefusal(() -> m.forward(ok, ctx, pooled, new float[] {Float.NaN}, img, txt, g2), "timesteps[0]");
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, null, txt, g2), "imgIds is null");
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, Arrays.copyOf(img, 3 * (T - 1)), txt, g2), "imgIds has 42", "15 × 3");
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, img, Arrays.copyOf(txt, 2 * S), g2), "txtIds has 14", "7 × 3");
            float[] nanIds = txt.clone();
            nanIds[4] = Float.NaN;
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, img, nanIds, g2), "txtIds[4]");
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, img, txt, null), "guidance is null", "guidance_embeds");
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, img, txt, new float[] {1, 2, 3}), "guidance has 3");
            assertRefusal(() -> m.forward(ok, ctx, pooled, t2, img, txt, new float[] {Float.POSITIVE_INFINITY}), "guidance[0]");
            Tensor closed = cpu.upload(DType.F32, new float[2 * P], 2, P);
            closed.close();
            assertRefusal(() -> m.forward(ok, ctx, closed, t2, img, txt, g2), "pooledProjections", "closed");
            m.close();
            assertThrows(IllegalStateException.class, () -> m.forward(ok, ctx, pooled, t2, img, txt, g2));
        }
        try (FluxTransformer2DModel m = FluxTransformer2DModel.load(cpu, schnellDir);
             Tensor ok = cpu.upload(DType.F32, FluxFixture.noise(1, T * 12), 1, T, 12);
             Tensor ctx = cpu.upload(DType.F32, FluxFixture.noise(5, S * J), 1, S, J);
             Tensor pooled = cpu.upload(DType.F32, FluxFixture.noise(8, P), 1, P)) {
            assertRefusal(() -> m.forward(ok, ctx, pooled, new float[] {0.5f}, img, txt, new float[] {3.5f}), "guidance is given", "guidance_embeds false");
        }
    }

    private static void assertRefusal(org.junit.jupiter.api.function.Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "missing '" + f + "' in: " + e.getMessage());
    }

    // ---- CUDA -----------------------------------------------------------------------------------

    @Tag("gpu")
    @Test
    void cudaMatchesCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0)) {
            In in = In.random(SEED + 50, dev, 2, new float[] {0.9813f, 0.12325f}, new float[] {3.5f, 1.25f});
            float[] onGpu = run(g, devDir, DType.F32, in);
            ParityResult vsCpu = ParityMath.compare(onGpu, toDouble(run(cpu, devDir, DType.F32, in)), TOL);
            assertTrue(vsCpu.passed(), "dev: CUDA vs CPU: " + vsCpu);
            ParityResult vsRef = ParityMath.compare(onGpu, in.ref(dev), TOL);
            assertTrue(vsRef.passed(), "dev: CUDA vs float64: " + vsRef);
            In sin = new In(In.random(SEED + 51, schnell, 2, new float[] {0.5f}, null).x(), in.ctx(), in.pooled(), new float[] {0.5f}, in.img(),
                    in.txt(), null, 2, T, 12);
            ParityResult sv = ParityMath.compare(run(g, schnellDir, DType.F32, sin), sin.ref(schnell), TOL);
            assertTrue(sv.passed(), "schnell: CUDA vs float64: " + sv);
            ParityResult bf = ParityMath.compare(run(g, devDir, DType.BF16, in), toDouble(run(cpu, devDir, DType.BF16, in)), TOL);
            assertTrue(bf.passed(), "CUDA vs CPU, BF16 inputs: " + bf);
            try (FluxTransformer2DModel m = FluxTransformer2DModel.load(g, devDir); Tensor x = cpu.upload(DType.F32, in.x(), 2, T, 12);
                 Tensor ctx = g.upload(DType.F32, in.ctx(), 2, S, J); Tensor pooled = g.upload(DType.F32, in.pooled(), 2, P)) {
                assertRefusal(() -> m.forward(x, ctx, pooled, in.ts(), in.img(), in.txt(), in.g()), "hiddenStates is on");
            }
        }
    }

    static float[] round(float[] v) {
        float[] r = v.clone();
        for (int i = 0; i < r.length; i++) r[i] = DType.F16.round(r[i]);
        return r;
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }
}
