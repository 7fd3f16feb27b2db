package dev.surpass.model.sd3;

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
import java.util.EnumSet;
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
 * SD3Transformer2DModel on tiny random MMDiTs against the float64 forward of {@link SD3Fixture}
 * (written from diffusers' source): SD3-medium-like (plain joint attention), SD3.5-large-like
 * (qk RMSNorm) and SD3.5-medium-like (dual attention, out_channels ≠ in_channels), each with a
 * non-square latent whose crop of the position table is off-centre by a half patch; the conventions
 * that matter (token order, norm_out's chunk order, the centre crop, GELU-tanh, attn2's input),
 * the stored and the recomputed position table, 16-bit weights and inputs, pipeline and sharded
 * folders, named refusals, no leaks, and on CUDA (tag gpu) against the CPU.
 */
class SD3Transformer2DModelTest {
    static final long SEED = Long.getLong("surpass.seed", 0x5D3L);
    /** fp32 against float64 through ~40 GEMMs, 6 attentions and 20 LayerNorms: relative L2. */
    static final double TOL = 2e-5;
    static final int S = 7, J = 24, P = 20;

    @TempDir
    static Path tmp;

    static SD3Fixture sd3, large, medium;
    static Path sd3Dir, largeDir, mediumDir;
    static Device cpu;

    @BeforeAll
    static void write() {
        sd3 = SD3Fixture.sd3(SEED);
        large = SD3Fixture.sd35Large(SEED + 1);
        medium = SD3Fixture.sd35Medium(SEED + 2);
        sd3Dir = sd3.write(tmp.resolve("sd3"), DType.F32, true);
        largeDir = large.write(tmp.resolve("large"), DType.F32, true);
        mediumDir = medium.write(tmp.resolve("medium"), DType.F32, true);
        cpu = Device.cpu();
    }

    @AfterAll
    static void closeDevice() {
        cpu.close();
    }

    /** Inputs of one test: latents [n, in, h, w], timesteps, text states [n, S, J], pooled [n, P]. */
    record In(float[] x, float[] ts, float[] ctx, float[] pooled, int n, int c, int h, int w) {
        static In random(long seed, int n, int c, int h, int w, float... ts) {
            return new In(SD3Fixture.noise(seed, n * c * h * w), ts, SD3Fixture.noise(seed + 100, n * S * J), SD3Fixture.noise(seed + 200, n * P), n, c, h, w);
        }

        double[] ref(SD3Fixture f, EnumSet<SD3Fixture.Variant> v) {
            return f.forward(x, n, h, w, ts, ctx, S, pooled, v);
        }

        double[] ref(SD3Fixture f) {
            return ref(f, EnumSet.noneOf(SD3Fixture.Variant.class));
        }
    }

    static float[] run(Device d, Path dir, DType dtype, In in) {
        try (SD3Transformer2DModel m = SD3Transformer2DModel.load(d, dir); Tensor x = d.upload(dtype, in.x(), in.n(), in.c(), in.h(), in.w());
             Tensor ctx = d.upload(dtype, in.ctx(), in.n(), S, J); Tensor pooled = d.upload(dtype, in.pooled(), in.n(), P);
             Tensor y = m.forward(x, in.ts(), ctx, pooled)) {
            assertEquals(DType.F32, y.dtype());
            assertArrayEquals(new long[] {in.n(), m.config().outChannels(), in.h(), in.w()}, y.shape());
            return y.toFloatArray();
        }
    }

    /**
     * The output matches the float64 forward, and each listed departure from diffusers moves it
     * beyond the tolerance (GELU-erf for tanh by ~2×, the others by orders of magnitude).
     */
    static void assertMatches(SD3Fixture f, float[] got, In in, SD3Fixture.Variant... sensitive) {
        ParityResult r = ParityMath.compare(got, in.ref(f), TOL);
        assertTrue(r.passed(), r + " seed=" + SEED);
        for (SD3Fixture.Variant v : sensitive) {
            ParityResult off = ParityMath.compare(got, in.ref(f, EnumSet.of(v)), TOL);
            assertTrue(off.relL2() > (v == SD3Fixture.Variant.GELU_ERF ? 1.5 : 100) * TOL, "with " + v + ": " + off);
        }
    }

    @Test
    void sd3LikeMatchesFloat64Reference() {
        In in = In.random(SEED + 10, 2, 4, 6, 10, 981.3f, 123.25f); // a 3×5 patch grid: crop offsets 4 and 3 of 12
        float[] got = run(cpu, sd3Dir, DType.F32, in);
        assertMatches(sd3, got, in, SD3Fixture.Variant.SEPARATE_STREAMS, SD3Fixture.Variant.NORM_OUT_SHIFT_SCALE, SD3Fixture.Variant.CROP_TOP_LEFT,
                SD3Fixture.Variant.GELU_ERF);
        // the joint sequence's order is not observable (keys are a set to softmax attention); only the split back is
        assertTrue(ParityMath.compare(got, in.ref(sd3, EnumSet.of(SD3Fixture.Variant.TEXT_FIRST)), TOL).passed());
        // a fractional timestep is not rounded
        In rounded = new In(in.x(), new float[] {981f, 123.25f}, in.ctx(), in.pooled(), 2, 4, 6, 10);
        assertTrue(ParityMath.compare(run(cpu, sd3Dir, DType.F32, rounded), toDouble(got), 1e-4).relL2() > 1e-5);
    }

    @Test
    void sd35LargeLikeWithQkNormMatchesFloat64ReferenceWithOneTimestepForTheBatch() {
        In in = In.random(SEED + 11, 2, 4, 8, 4, 500f);
        float[] got = run(cpu, largeDir, DType.F32, in);
        assertMatches(large, got, in, SD3Fixture.Variant.SEPARATE_STREAMS, SD3Fixture.Variant.NORM_OUT_SHIFT_SCALE,
                SD3Fixture.Variant.SHARED_QK_NORMS);
        // the qk norms matter: the same model with them off is far away
        Path noQk = tmp.resolve("large-noqk");
        ObjectNode c = large.config();
        c.putNull("qk_norm");
        large.write(noQk, DType.F32, true, c);
        assertTrue(ParityMath.compare(run(cpu, noQk, DType.F32, in), in.ref(large), TOL).relL2() > 100 * TOL);
        // the second sample alone gives its half of the batch (to the GEMMs' blocking)
        int half = 4 * 8 * 4;
        In second = new In(java.util.Arrays.copyOfRange(in.x(), half, 2 * half), in.ts(), java.util.Arrays.copyOfRange(in.ctx(), S * J, 2 * S * J),
                java.util.Arrays.copyOfRange(in.pooled(), P, 2 * P), 1, 4, 8, 4);
        ParityResult r = ParityMath.compare(run(cpu, largeDir, DType.F32, second), toDouble(java.util.Arrays.copyOfRange(got, 4 * 32, 8 * 32)), 1e-6);
        assertTrue(r.passed(), r.toString());
    }

    @Test
    void sd35MediumLikeWithDualAttentionMatchesFloat64Reference() {
        In in = In.random(SEED + 12, 2, 4, 24, 2, 999f, 0.5f); // the largest height (12 patches, the whole table), one patch wide
        float[] got = run(cpu, mediumDir, DType.F32, in);
        assertEquals(2 * 8 * 24 * 2, got.length);
        assertMatches(medium, got, in, SD3Fixture.Variant.SEPARATE_STREAMS, SD3Fixture.Variant.SHARED_QK_NORMS,
                SD3Fixture.Variant.NORM_OUT_SHIFT_SCALE, SD3Fixture.Variant.CROP_TOP_LEFT,
                SD3Fixture.Variant.DUAL_AFTER_ATTN);
    }

    /** diffusers' skip_layers (SD3.5's skip-layer guidance): the listed blocks are left out, the last (context_pre_only) one included. */
    @Test
    void skipLayersLeaveOutThoseBlocks() {
        In in = In.random(SEED + 14, 2, 4, 4, 6, 600f, 30f);
        try (SD3Transformer2DModel m = SD3Transformer2DModel.load(cpu, mediumDir); Tensor x = cpu.upload(DType.F32, in.x(), 2, 4, 4, 6);
             Tensor ctx = cpu.upload(DType.F32, in.ctx(), 2, S, J); Tensor pooled = cpu.upload(DType.F32, in.pooled(), 2, P)) {
            for (int[] skip : new int[][] {{1}, {2}, {0, 2}}) {
                java.util.Set<Integer> set = new java.util.HashSet<>();
                for (int i : skip) set.add(i);
                try (Tensor y = m.forward(x, in.ts(), ctx, pooled, skip)) {
                    double[] want = medium.forward(in.x(), 2, 4, 6, in.ts(), in.ctx(), S, in.pooled(), EnumSet.noneOf(SD3Fixture.Variant.class), set);
                    ParityResult r = ParityMath.compare(y.toFloatArray(), want, TOL);
                    assertTrue(r.passed(), java.util.Arrays.toString(skip) + ": " + r);
                    assertTrue(ParityMath.compare(y.toFloatArray(), in.ref(medium), TOL).relL2() > 100 * TOL);
                }
            }
            try (Tensor none = m.forward(x, in.ts(), ctx, pooled, new int[0]); Tensor plain = m.forward(x, in.ts(), ctx, pooled)) {
                assertArrayEquals(plain.toFloatArray(), none.toFloatArray());
            }
            assertRefusal(() -> m.forward(x, in.ts(), ctx, pooled, new int[] {3}), "skipLayers lists block 3", "0..2");
            assertRefusal(() -> m.forward(x, in.ts(), ctx, pooled, new int[] {1, 1}), "twice");
            assertRefusal(() -> m.forward(x, in.ts(), ctx, pooled, null), "skipLayers is null");
        }
    }

    @Test
    void positionTableIsRecomputedWhenTheFileLacksIt() {
        float[] table = SD3Transformer2DModel.positionTable(sd3.d, sd3.g, sd3.sample / sd3.p);
        ParityResult r = ParityMath.compare(table, toDouble(sd3.pos), 1e-6);
        assertTrue(r.passed(), r.toString());
        Path noPos = sd3.write(tmp.resolve("sd3-nopos"), DType.F32, false);
        In in = In.random(SEED + 13, 1, 4, 4, 6, 250f);
        float[] with = run(cpu, sd3Dir, DType.F32, in), without = run(cpu, noPos, DType.F32, in);
        assertTrue(ParityMath.compare(without, toDouble(with), 1e-6).passed());
        assertTrue(ParityMath.compare(without, in.ref(sd3), TOL).passed());
    }

    @Test
    void sixteenBitWeightsAndInputsAreWidened() {
        SD3Fixture f = SD3Fixture.sd35Medium(SEED + 20);
        f.roundTo(DType.BF16);
        Path b16 = f.write(tmp.resolve("bf16"), DType.BF16, true), f32 = f.write(tmp.resolve("f32r"), DType.F32, true);
        In in = In.random(SEED + 21, 1, 4, 4, 4, 300f);
        float[] got = run(cpu, b16, DType.F32, in);
        assertArrayEquals(run(cpu, f32, DType.F32, in), got);
        assertTrue(ParityMath.compare(got, in.ref(f), TOL).passed());
        // F16 inputs are computed in fp32: the same as the F32 inputs they round to
        In rounded = new In(round(in.x()), in.ts(), round(in.ctx()), round(in.pooled()), 1, 4, 4, 4);
        assertArrayEquals(run(cpu, f32, DType.F32, rounded), run(cpu, f32, DType.F16, in));
    }

    @Test
    void pipelineRootAndShardedWeightsLoad() throws Exception {
        Path root = tmp.resolve("pipeline");
        sd3.write(root.resolve("transformer"), DType.F32, true);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusion3Pipeline\"}");
        // the same weights in two shards with diffusers' index
        Path sharded = tmp.resolve("sharded");
        Files.createDirectories(sharded);
        Files.copy(sd3Dir.resolve("config.json"), sharded.resolve("config.json"));
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (SafeTensorsFile all = SafeTensors.open(sd3Dir.resolve("diffusion_pytorch_model.safetensors"))) {
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
        In in = In.random(SEED + 30, 1, 4, 2, 4, 17f);
        float[] want = run(cpu, sd3Dir, DType.F32, in);
        assertArrayEquals(want, run(cpu, root, DType.F32, in));
        assertArrayEquals(want, run(cpu, sharded, DType.F32, in));
        // .fp16 variant shards of another model beside them (sorted after the plain ones) are not read: the index names the shards
        Path other = SD3Fixture.sd3(SEED + 32).write(tmp.resolve("other"), DType.F16, true);
        Files.copy(other.resolve("diffusion_pytorch_model.safetensors"), sharded.resolve("diffusion_pytorch_model.fp16-00001-of-00002.safetensors"));
        assertArrayEquals(want, run(cpu, sharded, DType.F32, in));
        // and a shard the index names but the folder lacks is refused by name
        Files.delete(sharded.resolve("diffusion_pytorch_model-00002-of-00002.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SD3Transformer2DModel.load(cpu, sharded));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model-00002-of-00002.safetensors"), e.getMessage());
    }

    /** {@code surpass forward}'s family "sd3": the folder is accepted, integer timesteps read, missing inputs named. */
    @Test
    void forwardFamilyRunsTheFolder() {
        SD3Forward fam = new SD3Forward();
        assertTrue(fam.accepts(sd3Dir));
        assertFalse(fam.accepts(tmp.resolve("nowhere")) || fam.accepts(null));
        In in = In.random(SEED + 31, 2, 4, 2, 2, 7f, 801f);
        float[] want = run(cpu, sd3Dir, DType.F32, in);
        try (Tensor x = cpu.upload(DType.F32, in.x(), 2, 4, 2, 2); Tensor ctx = cpu.upload(DType.F32, in.ctx(), 2, S, J);
             Tensor pooled = cpu.upload(DType.F32, in.pooled(), 2, P); Tensor t = cpu.upload(new long[] {7, 801}, 2)) {
            var out = fam.forward(cpu, sd3Dir, Map.of("hidden_states", x, "timestep", t, "encoder_hidden_states", ctx, "pooled_projections", pooled));
            try (Tensor y = out.get("sample")) {
                assertArrayEquals(want, y.toFloatArray());
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> fam.forward(cpu, sd3Dir, Map.of("hidden_states", x, "timestep", t, "encoder_hidden_states", ctx)));
            assertTrue(e.getMessage().contains("'pooled_projections'"), e.getMessage());
        }
    }

    @Test
    void loadForwardAndCloseLeaveNoAllocations() {
        In in = In.random(SEED + 40, 2, 4, 4, 4, 3f, 5f);
        int before = cpu.liveAllocations();
        run(cpu, mediumDir, DType.BF16, in);
        run(cpu, sd3Dir, DType.F32, in);
        assertEquals(before, cpu.liveAllocations(), "live allocations after load, forward and close");
        // a refused forward frees what it made too
        try (SD3Transformer2DModel m = SD3Transformer2DModel.load(cpu, sd3Dir); Tensor x = cpu.upload(DType.F32, in.x(), 2, 4, 4, 4);
             Tensor ctx = cpu.upload(DType.F32, in.ctx(), 2, S, J); Tensor pooled = cpu.upload(DType.F32, in.pooled(), 2, P)) {
            int loaded = cpu.liveAllocations();
            assertThrows(IllegalArgumentException.class, () -> m.forward(x, new float[] {1, Float.POSITIVE_INFINITY}, ctx, pooled));
            assertEquals(loaded, cpu.liveAllocations());
            m.close();
            assertTrue(cpu.liveAllocations() < loaded, "close freed the weights");
        }
        assertEquals(before, cpu.liveAllocations());
    }

    // ---- refusals -------------------------------------------------------------------------------

    private static void assertRefused(Consumer<ObjectNode> edit, String... fragments) {
        ObjectNode c = sd3.config();
        edit.accept(c);
        Path dir = sd3.write(tmp.resolve("bad-" + Integer.toHexString(c.toString().hashCode())), DType.F32, true, c);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SD3Transformer2DModel.load(cpu, dir));
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "missing '" + f + "' in: " + e.getMessage());
    }

    @Test
    void badConfigsAreRefusedByName() {
        assertRefused(c -> c.put("_class_name", "FluxTransformer2DModel"), "\"_class_name\"");
        assertRefused(c -> c.put("qk_norm", "layer_norm"), "\"qk_norm\"", "layer_norm");
        assertRefused(c -> c.put("caption_projection_dim", 32), "\"caption_projection_dim\"", "64");
        assertRefused(c -> c.remove("pos_embed_max_size"), "\"pos_embed_max_size\"", "missing");
        assertRefused(c -> c.putNull("pos_embed_max_size"), "\"pos_embed_max_size\"", "null");
        assertRefused(c -> c.putArray("dual_attention_layers").add(3), "\"dual_attention_layers\"", "[0, 3)");
        assertRefused(c -> c.putArray("dual_attention_layers").add(1).add(1), "\"dual_attention_layers\"", "twice");
        assertRefused(c -> c.put("dual_attention_layers", 1), "\"dual_attention_layers\"", "list");
        assertRefused(c -> c.put("attention_head_dim", 48).put("caption_projection_dim", 96), "\"attention_head_dim\"", "48");
        assertRefused(c -> c.put("sample_size", 7), "\"sample_size\"", "patch_size 2");
        assertRefused(c -> c.put("num_layers", 0), "\"num_layers\"");
        // a weight the config needs is looked for by its diffusers name and shape
        assertRefused(c -> c.put("qk_norm", "rms_norm"), "transformer_blocks.0.attn.norm_q.weight", "missing");
        assertRefused(c -> c.put("joint_attention_dim", 30), "context_embedder.weight", "[64, 30]");
        assertRefused(c -> c.putArray("dual_attention_layers").add(0), "transformer_blocks.0.norm1.linear.weight", "[576, 64]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SD3Transformer2DModel.load(cpu, tmp.resolve("nowhere")));
        assertTrue(e.getMessage().contains("not a folder"), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SD3Transformer2DModel.load(null, sd3Dir)).getMessage().contains("device is null"));
    }

    @Test
    void badInputsAreRefused() {
        try (SD3Transformer2DModel m = SD3Transformer2DModel.load(cpu, sd3Dir);
             Tensor ok = cpu.upload(DType.F32, SD3Fixture.noise(1, 2 * 4 * 4 * 4), 2, 4, 4, 4);
             Tensor odd = cpu.upload(DType.F32, SD3Fixture.noise(2, 2 * 4 * 3 * 4), 2, 4, 3, 4);
             Tensor tall = cpu.upload(DType.F32, SD3Fixture.noise(3, 2 * 4 * 26 * 2), 2, 4, 26, 2);
             Tensor chans = cpu.upload(DType.F32, SD3Fixture.noise(4, 2 * 3 * 4 * 4), 2, 3, 4, 4);
             Tensor ints = cpu.upload(new int[2 * 4 * 4 * 4], 2, 4, 4, 4);
             Tensor ctx = cpu.upload(DType.F32, SD3Fixture.noise(5, 2 * S * J), 2, S, J);
             Tensor ctx1 = cpu.upload(DType.F32, SD3Fixture.noise(6, S * J), 1, S, J);
             Tensor wide = cpu.upload(DType.F32, SD3Fixture.noise(7, 2 * S * 30), 2, S, 30);
             Tensor pooled = cpu.upload(DType.F32, SD3Fixture.noise(8, 2 * P), 2, P);
             Tensor pooledBad = cpu.upload(DType.F32, SD3Fixture.noise(9, 2 * 21), 2, 21)) {
            float[] t2 = {1, 2};
            assertRefusal(() -> m.forward(null, t2, ctx, pooled), "hiddenStates is null");
            assertRefusal(() -> m.forward(odd, t2, ctx, pooled), "multiples of patch_size 2");
            assertRefusal(() -> m.forward(tall, t2, ctx, pooled), "at most pos_embed_max_size · patch_size = 24");
            assertRefusal(() -> m.forward(chans, t2, ctx, pooled), "[B, 4, H, W]");
            assertRefusal(() -> m.forward(ints, t2, ctx, pooled), "F32, F16 or BF16");
            assertRefusal(() -> m.forward(ok, null, ctx, pooled), "timesteps is null");
            assertRefusal(() -> m.forward(ok, new float[] {1, 2, 3}, ctx, pooled), "timesteps has 3");
            assertRefusal(() -> m.forward(ok, new float[] {Float.NaN}, ctx, pooled), "timesteps[0]");
            assertRefusal(() -> m.forward(ok, t2, null, pooled), "encoderHiddenStates is null");
            assertRefusal(() -> m.forward(ok, t2, ctx1, pooled), "[2, S, 24]");
            assertRefusal(() -> m.forward(ok, t2, wide, pooled), "joint_attention_dim");
            assertRefusal(() -> m.forward(ok, t2, ctx, pooledBad), "pooledProjections", "[2, 20]");
            assertRefusal(() -> m.forward(ok, t2, ctx, null), "pooledProjections is null");
            Tensor closed = cpu.upload(DType.F32, new float[2 * P], 2, P);
            closed.close();
            assertRefusal(() -> m.forward(ok, t2, ctx, closed), "pooledProjections", "closed");
            m.close();
            assertThrows(IllegalStateException.class, () -> m.forward(ok, t2, ctx, pooled));
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
            In in = In.random(SEED + 50, 2, 4, 6, 10, 981.3f, 123.25f);
            for (SD3Fixture f : new SD3Fixture[] {sd3, large, medium}) {
                Path dir = f == sd3 ? sd3Dir : f == large ? largeDir : mediumDir;
                float[] onGpu = run(g, dir, DType.F32, in);
                ParityResult vsCpu = ParityMath.compare(onGpu, toDouble(run(cpu, dir, DType.F32, in)), TOL);
                assertTrue(vsCpu.passed(), dir.getFileName() + ": CUDA vs CPU: " + vsCpu);
                ParityResult vsRef = ParityMath.compare(onGpu, in.ref(f), TOL);
                assertTrue(vsRef.passed(), dir.getFileName() + ": CUDA vs float64: " + vsRef);
            }
            ParityResult bf = ParityMath.compare(run(g, mediumDir, DType.BF16, in), toDouble(run(cpu, mediumDir, DType.BF16, in)), TOL);
            assertTrue(bf.passed(), "CUDA vs CPU, BF16 inputs: " + bf);
            // inputs on another device than the model are refused by name
            try (SD3Transformer2DModel m = SD3Transformer2DModel.load(g, sd3Dir); Tensor x = cpu.upload(DType.F32, in.x(), 2, 4, 6, 10);
                 Tensor ctx = g.upload(DType.F32, in.ctx(), 2, S, J); Tensor pooled = g.upload(DType.F32, in.pooled(), 2, P)) {
                assertRefusal(() -> m.forward(x, in.ts(), ctx, pooled), "hiddenStates is on");
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
