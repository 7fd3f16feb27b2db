package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.CliRuns;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DiT in diffusers' layout ({@code DiTTransformer2DModel}: a DiTPipeline's {@code transformer/}
 * folder): loaded from config.json and diffusers' tensor names, and computed as diffusers' module
 * does — timestep frequencies over 127, {@code norm_eps} before the MLP, each block conditioned on
 * its own embedder copy — against the float64 reference of {@link DiTFixture} with those numerics;
 * each of the three shown to matter.
 */
class DiffusersDiTTest {
    static final long SEED = DiTTest.SEED + 31;
    static final float[] T = {999f, 0f, 417.5f};
    static final int[] Y = {3, 10, 0};

    @TempDir
    static Path tmp;
    static Device cpu;

    @BeforeAll
    static void setUp() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    /** A fixture whose blocks each have their own embedders (a randomly initialised diffusers model). */
    static DiTFixture ownEmbedders() {
        DiTFixture f = new DiTFixture(DiTFixture.tiny(), SEED);
        f.addBlockEmbedders(SEED + 1);
        f.diffusers = true;
        f.mlpEps = 1e-5;
        return f;
    }

    /** relL2 of the model's forward against the fixture's float64 reference as it stands. */
    static double err(DiTFixture f, float[] got, int n) {
        DiTConfig c = f.cfg;
        float[] x = DiTFixture.randomLatents(DiTTest.SEED + 1, n * c.inChannels() * c.inputSize() * c.inputSize());
        return DiTFixture.relL2(got, f.forward(x, n, T, Y));
    }

    static float[] run(DiT m, int n) {
        DiTConfig c = m.config();
        float[] x = DiTFixture.randomLatents(DiTTest.SEED + 1, n * c.inChannels() * c.inputSize() * c.inputSize());
        try (Tensor xt = m.device().upload(m.dtype(), x, n, c.inChannels(), c.inputSize(), c.inputSize()); Tensor out = m.forward(xt, T, Y)) {
            return out.toFloatArray();
        }
    }

    @Test
    void forwardMatchesFloat64ReferenceWithDiffusersNumerics() throws IOException {
        DiTFixture f = ownEmbedders();
        Path dir = f.writeDiffusers(tmp.resolve("own/transformer"), DType.F32, null);
        float[] got;
        try (DiT m = DiT.load(cpu, dir)) {
            assertTrue(m.diffusersLayout());
            assertFalse(m.posEmbedFromCheckpoint());
            assertEquals(f.cfg, m.config());
            got = run(m, 3);
        }
        double e = err(f, got, 3);
        assertTrue(e < DiTTest.TOL_F32, "relL2 " + e);
        // each diffusers difference matters: the official frequencies, and block 0's embedders everywhere
        f.diffusers = false;
        double official = err(f, got, 3);
        assertTrue(official > 100 * DiTTest.TOL_F32, "frequencies over 128 instead of 127 moved it by only " + official);
        f.diffusers = true;
        DiTFixture shared = new DiTFixture(f.cfg, SEED);
        shared.diffusers = true;
        shared.mlpEps = 1e-5;
        double blk0 = err(shared, got, 3);
        assertTrue(blk0 > 100 * DiTTest.TOL_F32, "block 0's embedders in every block moved it by only " + blk0);
    }

    @Test
    void normEpsIsHonoured() throws IOException {
        DiTFixture f = ownEmbedders();
        f.mlpEps = 0.25;
        Path dir = f.writeDiffusers(tmp.resolve("eps"), DType.F32, "\"norm_eps\": 0.25");
        float[] got;
        try (DiT m = DiT.load(cpu, dir)) {
            got = run(m, 3);
        }
        assertTrue(err(f, got, 3) < DiTTest.TOL_F32);
        f.mlpEps = 1e-6;
        assertTrue(err(f, got, 3) > 100 * DiTTest.TOL_F32, "norm_eps 0.25 vs 1e-6 should differ");
    }

    @Test
    void convertedOfficialCheckpointSharesItsEmbeddersAndLoadsFromThePipelineRoot() throws IOException {
        DiTFixture f = new DiTFixture(DiTFixture.tiny(), SEED + 5);
        Path root = tmp.resolve("pipeline");
        f.writeDiffusers(root.resolve("transformer"), DType.BF16, null);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"DiTPipeline\", \"transformer\": [\"diffusers\", \"DiTTransformer2DModel\"]}");
        f.roundTo(DType.BF16);
        f.w.put("pos_embed", DiTFixture.posEmbed64(f.cfg.hiddenSize(), f.cfg.gridSize())); // recomputed in fp32, not a bf16 tensor
        f.diffusers = true;
        f.mlpEps = 1e-5;
        float[] got;
        try (DiT m = DiT.load(cpu, root)) {
            // every block's copy equals block 0's, so they are shared: the model holds the official set of weights
            try (DiT official = DiT.load(cpu, f.write(tmp.resolve("official.safetensors")))) {
                assertEquals(official.weightTensors().stream().filter(t -> t != null).count(), m.weightTensors().stream().filter(t -> t != null).count());
            }
            got = run(m, 3);
        }
        assertTrue(err(f, got, 3) < DiTTest.TOL_F32);
        assertTrue(new DiTForward().accepts(root));
        assertTrue(new DiTForward().accepts(root.resolve("transformer")));
        assertFalse(new DiTForward().accepts(tmp));
    }

    @Test
    void surpassForwardRunsTheFolder() throws IOException {
        DiTFixture f = ownEmbedders();
        Path dir = f.writeDiffusers(tmp.resolve("cli"), DType.F32, null);
        DiTConfig c = f.cfg;
        float[] x = DiTFixture.randomLatents(DiTTest.SEED + 1, 3 * c.inChannels() * c.inputSize() * c.inputSize());
        Path in = tmp.resolve("cli-in.safetensors"), out = tmp.resolve("cli-out.safetensors");
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try {
            ts.put("x", cpu.upload(DType.F32, x, 3, c.inChannels(), c.inputSize(), c.inputSize()));
            ts.put("t", cpu.upload(DType.F32, T, 3));
            ts.put("y", cpu.upload(Y, 3));
            SafeTensors.write(in, ts, Map.of());
        } finally {
            for (Tensor t : ts.values()) t.close();
        }
        String[] r = CliRuns.run("forward", "--model", dir.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[2]);
        try (SafeTensorsFile o = SafeTensors.open(out); Tensor t = o.tensor("output", cpu)) {
            assertTrue(err(f, t.toFloatArray(), 3) < DiTTest.TOL_F32);
        }
        // surpass sample takes the folder too
        Path samples = tmp.resolve("cli-samples");
        r = CliRuns.run("sample", "--model", dir.toString(), "--labels", "1,4", "--steps", "2", "--out", samples.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[2]);
        assertTrue(Files.isRegularFile(samples.resolve("latents.safetensors")), r[1]);
    }

    /** A DiTPipeline folder (model_index.json, transformer/, vae/) samples and decodes with its own VAE when --vae is not given. */
    @Test
    void pipelineFolderSamplesThroughItsOwnVae() throws IOException {
        Path root = tmp.resolve("pipe-vae");
        new DiTFixture(DiTFixture.tiny(), SEED + 21).writeDiffusers(root.resolve("transformer"), DType.F32, null);
        dev.surpass.model.vae.VaeFixture.tiny(4).write(root.resolve("vae"), DType.F32, false);
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"DiTPipeline\", \"transformer\": [\"diffusers\", "
                + "\"DiTTransformer2DModel\"], \"vae\": [\"diffusers\", \"AutoencoderKL\"]}");
        Path out = tmp.resolve("pipe-vae-out");
        String[] r = CliRuns.run("sample", "--model", root.toString(), "--labels", "2,7", "--steps", "2", "--out", out.toString(), "--device", "cpu");
        assertEquals("0", r[0], r[2]);
        assertTrue(Files.isRegularFile(out.resolve("grid.png")), r[1] + r[2]);
        assertTrue(Files.isRegularFile(out.resolve("latents.safetensors")));
    }

    @Test
    void badFoldersAreRefusedByName() throws IOException {
        DiTFixture f = new DiTFixture(DiTFixture.tiny(), SEED + 9);
        Path good = f.writeDiffusers(tmp.resolve("bad/base"), DType.F32, null);
        String cfg = Files.readString(good.resolve("config.json"));
        String[][] cases = {
            {"\"norm_type\": \"ada_norm_zero\"", "\"norm_type\": \"ada_norm_single\"", "norm_type"},
            {"\"activation_fn\": \"gelu-approximate\"", "\"activation_fn\": \"geglu\"", "activation_fn"},
            {"\"norm_elementwise_affine\": false", "\"norm_elementwise_affine\": true", "norm_elementwise_affine"},
            {"\"num_layers\": 2", "\"num_layers\": 3", "transformer_blocks.2"},
            {"\"num_layers\": 2", "\"num_layers\": 1", "more than num_layers"},
            {"\"num_attention_heads\": 2", "\"num_attention_heads\": 4", "pos_embed.proj.weight"},
            {"\"patch_size\": 2", "\"patch_size\": null", "patch_size"},
            {"\"upcast_attention\": false", "\"upcast_attention\": false, \"cross_attention_dim\": 64", "cross_attention_dim"},
            {"\"num_embeds_ada_norm\": 10", "\"num_embeds_ada_norm\": -1", "num_embeds_ada_norm"},
        };
        int i = 0;
        for (String[] k : cases) {
            Path d = tmp.resolve("bad/" + i++);
            Files.createDirectories(d);
            assertTrue(cfg.contains(k[0]), k[0]);
            Files.writeString(d.resolve("config.json"), cfg.replace(k[0], k[1]));
            Files.copy(good.resolve("diffusion_pytorch_model.safetensors"), d.resolve("diffusion_pytorch_model.safetensors"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, d).close(), k[1]);
            assertTrue(e.getMessage().contains(k[2]), k[1] + " -> " + e.getMessage());
        }
        Path noWeights = tmp.resolve("bad/noweights");
        Files.createDirectories(noWeights);
        Files.writeString(noWeights.resolve("config.json"), cfg);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, noWeights).close());
        assertTrue(e.getMessage().contains("diffusion_pytorch_model.safetensors"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DiT.load(cpu, tmp.resolve("bad")).close());
        assertTrue(e.getMessage().contains("not a diffusers DiT folder"), e.getMessage());
    }
}
