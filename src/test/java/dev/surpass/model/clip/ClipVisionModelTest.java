package dev.surpass.model.clip;

import static dev.surpass.model.clip.ClipTextModelTest.assertClose;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.clip.ClipTextModelTest.Fixture;
import dev.surpass.model.decoder.RefMath.Entry;
import dev.surpass.parity.ParityMath;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLIP vision tower, the full CLIPModel's logits and the image processor on tiny random
 * checkpoints written here, against a float64 forward written from transformers'
 * CLIPVisionTransformer (a direct stride-p convolution loop for the patches, class token,
 * pre_layrnorm, the encoder without a mask, post_layernorm on the class token, visual_projection):
 * unfused (head dim 12) and fused (head dim 32) attention, refusals, and on CUDA (tag gpu) against
 * the reference.
 */
class ClipVisionModelTest {
    static final long SEED = Long.getLong("surpass.seed", 0xC11B5L);
    static final int CH = 3;

    @TempDir
    static Path tmp;
    static Device cpu;

    /** A vision tower: encoder weights of a {@link Fixture} plus the patch, class, position, pre/post norms and projection. */
    record Vision(Fixture fx, int image, int patch, int proj) {
        int grid() {
            return image / patch;
        }

        int tokens() {
            return grid() * grid() + 1;
        }

        static Vision make(int d, int heads, int f, int layers, int image, int patch, int proj, long seed) {
            Fixture fx = new Fixture(d, heads, f, layers, "quick_gelu", 0, 0, seed);
            fx.w.remove("embeddings.token_embedding.weight");
            fx.w.remove("final_layer_norm.weight");
            fx.w.remove("final_layer_norm.bias");
            Random r = new Random(seed + 99);
            int g = image / patch;
            fx.put(r, "embeddings.patch_embedding.weight", 1 / Math.sqrt(CH * patch * patch), d, CH, patch, patch);
            fx.put(r, "embeddings.class_embedding", 1, d);
            fx.put(r, "embeddings.position_embedding.weight", 0.5, g * g + 1, d);
            fx.norm(r, "pre_layrnorm");
            fx.norm(r, "post_layernorm");
            fx.put(r, "visual_projection.weight", 1 / Math.sqrt(d), proj, d);
            return new Vision(fx, image, patch, proj);
        }

        String visionConfig() {
            return "{\"hidden_size\": " + fx.d + ", \"intermediate_size\": " + fx.f + ", \"num_hidden_layers\": " + fx.layers
                    + ", \"num_attention_heads\": " + fx.heads + ", \"image_size\": " + image + ", \"patch_size\": " + patch + "}";
        }

        Path write(Path dir) throws Exception {
            String cfg = visionConfig().replace("{", "{\"model_type\": \"clip_vision_model\", \"projection_dim\": " + proj + ", ");
            writeCheckpoint(dir, cfg, fx.entries("vision_model.", "visual_projection"), DType.F32, 1);
            return dir;
        }

        /** {last [B·L·D], pooled [B·D], embeds [B·P]} of {@code px [B, 3, S, S]}. */
        double[][] forward(float[] px, int b) {
            int d = fx.d, g = grid(), p = patch, s = image, l = tokens();
            double[] w = fx.g("embeddings.patch_embedding.weight"), cls = fx.g("embeddings.class_embedding"), pos = fx.g("embeddings.position_embedding.weight");
            double[] last = new double[b * l * d], pooled = new double[b * d], emb = new double[b * proj];
            for (int i = 0; i < b; i++) {
                double[][] x = new double[l][d];
                for (int j = 0; j < d; j++) x[0][j] = cls[j] + pos[j];
                for (int gy = 0; gy < g; gy++) {
                    for (int gx = 0; gx < g; gx++) {
                        int t = 1 + gy * g + gx;
                        for (int j = 0; j < d; j++) {
                            double acc = 0;
                            for (int c = 0; c < CH; c++) {
                                for (int ky = 0; ky < p; ky++) {
                                    for (int kx = 0; kx < p; kx++) {
                                        acc += w[((j * CH + c) * p + ky) * p + kx] * px[((i * CH + c) * s + gy * p + ky) * s + gx * p + kx];
                                    }
                                }
                            }
                            x[t][j] = acc + pos[t * d + j];
                        }
                    }
                }
                x = fx.layers(fx.ln(x, "pre_layrnorm"), fx.layers, false);
                for (int t = 0; t < l; t++) System.arraycopy(x[t], 0, last, (i * l + t) * d, d);
                double[] pr = fx.ln(new double[][] {x[0]}, "post_layernorm")[0];
                System.arraycopy(pr, 0, pooled, i * d, d);
                System.arraycopy(fx.lin(new double[][] {pr}, "visual_projection")[0], 0, emb, i * proj, proj);
            }
            return new double[][] {last, pooled, emb};
        }
    }

    static Vision unfused, fused;
    static Path unfusedDir, fusedDir;

    @BeforeAll
    static void write() throws Exception {
        cpu = Device.cpu();
        unfused = Vision.make(48, 4, 80, 2, 12, 4, 20, SEED);     // head dim 12, 3×3 patches
        fused = Vision.make(64, 2, 100, 2, 10, 5, 24, SEED + 1);  // head dim 32, 2×2 patches
        unfusedDir = unfused.write(tmp.resolve("unfused"));
        fusedDir = fused.write(tmp.resolve("fused"));
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    static float[] pixels(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void visionForwardMatchesFloat64Reference() {
        for (Vision v : new Vision[] {unfused, fused}) {
            Path dir = v == unfused ? unfusedDir : fusedDir;
            int b = 3, s = v.image();
            float[] px = pixels(SEED + s, b * CH * s * s);
            double[][] ref = v.forward(px, b);
            try (ClipVisionModel m = ClipVisionModel.load(cpu, dir); Tensor in = cpu.upload(DType.F32, px, b, CH, s, s);
                 ClipVisionOutput o = m.forward(in)) {
                assertArrayEquals(new long[] {b, v.tokens(), v.fx().d}, o.lastHiddenState().shape());
                assertArrayEquals(new long[] {b, v.proj()}, o.imageEmbeds().shape());
                assertClose(o.lastHiddenState(), ref[0], dir + " last_hidden_state");
                assertClose(o.pooled(), ref[1], dir + " pooled");
                assertClose(o.imageEmbeds(), ref[2], dir + " image_embeds");
            }
        }
    }

    /** A forward frees all it allocates (unfused and fused attention): on a GPU a leak is device memory lost per call. */
    @Test
    void forwardLeavesNothingAllocated() {
        for (Path dir : new Path[] {unfusedDir, fusedDir}) {
            Vision v = dir == unfusedDir ? unfused : fused;
            int b = 2, s = v.image();
            try (Device d = Device.cpu(); ClipVisionModel m = ClipVisionModel.load(d, dir); Tensor in = d.upload(DType.F32, pixels(SEED, b * CH * s * s), b, CH, s, s)) {
                int base = d.liveAllocations();
                for (int i = 0; i < 2; i++) {
                    try (ClipVisionOutput o = m.forward(in)) {
                        assertTrue(o.pooled().numel() > 0);
                    }
                    assertEquals(base, d.liveAllocations(), dir + " call " + i);
                }
            }
        }
    }

    @Test
    void clipModelLogitsAndProcessor() throws Exception {
        Fixture text = new Fixture(32, 1, 40, 1, "quick_gelu", 20, ClipTextModelTest.VOCAB - 1, SEED + 5); // projection 20 like the vision tower
        Path dir = tmp.resolve("clip");
        Map<String, Entry> e = text.entries(true);
        e.putAll(unfused.fx().entries("vision_model.", "visual_projection"));
        e.put("logit_scale", new Entry(new float[] {2.5f}));
        writeCheckpoint(dir, "{\"model_type\": \"clip\", \"projection_dim\": 20, \"text_config\": {\"hidden_size\": 32, \"intermediate_size\": 40,"
                + " \"num_hidden_layers\": 1, \"num_attention_heads\": 1, \"vocab_size\": " + ClipTextModelTest.VOCAB + ", \"max_position_embeddings\": "
                + ClipTextModelTest.MAX_POS + ", \"eos_token_id\": " + (ClipTextModelTest.VOCAB - 1) + "}, \"vision_config\": " + unfused.visionConfig() + "}",
                e, DType.F32, 1);
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"crop_size\": {\"height\": 12, \"width\": 12}, \"size\": {\"shortest_edge\": 12}, \"do_normalize\": true,"
                + " \"do_rescale\": true, \"image_mean\": [0.5, 0.4, 0.3], \"image_std\": [0.2, 0.25, 0.3], \"rescale_factor\": 0.00392156862745098}");
        BufferedImage[] images = new BufferedImage[2];
        Random r = new Random(SEED + 6);
        for (int i = 0; i < 2; i++) {
            images[i] = new BufferedImage(12, 12, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 12; y++) for (int x = 0; x < 12; x++) images[i].setRGB(x, y, r.nextInt(1 << 24));
        }
        int[][] ids = ClipTextModelTest.prompts(new Random(SEED + 7), ClipTextModelTest.VOCAB - 1, ClipTextModelTest.VOCAB - 1, 9, 9, 5, 3);
        try (ClipModel m = ClipModel.load(cpu, dir); Tensor px = m.processor().pixelValues(cpu, images)) {
            // the processor: byte/255 then (x − mean)/std per channel, channels first
            float[] got = px.toFloatArray();
            double[] mean = {0.5, 0.4, 0.3}, std = {0.2, 0.25, 0.3};
            for (int i = 0; i < 2; i++) {
                for (int c = 0; c < 3; c++) {
                    for (int y = 0; y < 12; y++) {
                        for (int x = 0; x < 12; x++) {
                            int byteValue = (images[i].getRGB(x, y) >> (16 - 8 * c)) & 0xFF;
                            assertEquals((byteValue / 255.0 - mean[c]) / std[c], got[((i * 3 + c) * 12 + y) * 12 + x], 1e-5);
                        }
                    }
                }
            }
            double[] te = text.forward(ids, 0)[2], ie = unfused.forward(got, 2)[2];
            ClipModel.Logits l = m.logits(ids, px);
            assertEquals(3, l.perText().length);
            assertEquals(2, l.perImage().length);
            for (int a = 0; a < 3; a++) {
                for (int b = 0; b < 2; b++) {
                    double dot = 0, na = 0, nb = 0;
                    for (int j = 0; j < 20; j++) {
                        dot += te[a * 20 + j] * ie[b * 20 + j];
                        na += te[a * 20 + j] * te[a * 20 + j];
                        nb += ie[b * 20 + j] * ie[b * 20 + j];
                    }
                    double want = Math.exp(2.5) * dot / Math.sqrt(na * nb);
                    assertEquals(want, l.perText()[a][b], 1e-4 * Math.exp(2.5), "text " + a + " image " + b);
                    assertEquals(l.perText()[a][b], l.perImage()[b][a], 0f);
                }
            }
            // a 12×11 image is resized (shortest edge 12) and center-cropped to 12×12; without those steps sizes must agree
            try (Tensor mixed = m.processor().pixelValues(cpu, images[0], new BufferedImage(12, 11, BufferedImage.TYPE_INT_RGB))) {
                assertArrayEquals(new long[] {2, 3, 12, 12}, mixed.shape());
            }
            ClipImageProcessor raw = new ClipImageProcessor(mean, std, 1 / 255.0, true, true, 12, 12);
            String msg = assertThrows(IllegalArgumentException.class, () -> raw.pixelValues(cpu, images[0], new BufferedImage(12, 11,
                    BufferedImage.TYPE_INT_RGB))).getMessage();
            assertTrue(msg.contains("images[1] comes out 12×11") && msg.contains("one size"), msg);
        }
        // the forward family: both towers and the logits
        long[] flat = new long[27];
        for (int a = 0; a < 3; a++) for (int t = 0; t < 9; t++) flat[a * 9 + t] = ids[a][t];
        try (Tensor in = cpu.upload(flat, 3, 9); ClipModel m = ClipModel.load(cpu, dir); Tensor px = m.processor().pixelValues(cpu, images)) {
            Map<String, Tensor> out = new ClipForward().forward(cpu, dir, Map.of("input_ids", in, "pixel_values", px));
            try {
                assertEquals(java.util.Set.of("last_hidden_state", "pooler_output", "text_embeds", "vision_last_hidden_state", "vision_pooler_output",
                        "image_embeds", "logits_per_image", "logits_per_text"), out.keySet());
                assertArrayEquals(new long[] {2, 3}, out.get("logits_per_image").shape());
            } finally {
                for (Tensor t : out.values()) t.close();
            }
        }
        assertTrue(new ClipForward().accepts(unfusedDir));
        // no logit_scale: refused by name
        e.remove("logit_scale");
        Path noScale = tmp.resolve("noscale");
        writeCheckpoint(noScale, Files.readString(dir.resolve("config.json")), e, DType.F32, 1);
        String msg = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(cpu, noScale)).getMessage();
        assertTrue(msg.contains("logit_scale"), msg);
    }

    @Test
    void badInputsAreRefusedByName() throws Exception {
        try (ClipVisionModel m = ClipVisionModel.load(cpu, unfusedDir); Tensor wrong = cpu.upload(DType.F32, new float[3 * 11 * 12], 1, 3, 11, 12)) {
            String msg = assertThrows(IllegalArgumentException.class, () -> m.forward(wrong)).getMessage();
            assertTrue(msg.contains("pixelValues") && msg.contains("[B, 3, 12, 12]"), msg);
            assertThrows(IllegalArgumentException.class, () -> m.forward(null));
        }
        Path bad = tmp.resolve("bad");
        Files.createDirectories(bad);
        Files.writeString(bad.resolve("config.json"), "{\"model_type\": \"clip_vision_model\", \"image_size\": 12, \"patch_size\": 5}");
        String msg = assertThrows(IllegalArgumentException.class, () -> ClipVisionModel.load(cpu, bad)).getMessage();
        assertTrue(msg.contains("image_size") && msg.contains("patch_size 5"), msg);
        Files.writeString(bad.resolve("config.json"), "{\"model_type\": \"clip_text_model\"}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipVisionModel.load(cpu, bad)).getMessage();
        assertTrue(msg.contains("model_type") && msg.contains("clip_text_model"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(cpu, unfusedDir)).getMessage();
        assertTrue(msg.contains("model_type") && msg.contains("clip_vision_model"), msg);
        Files.writeString(bad.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5, 0.5]}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipImageProcessor.load(bad)).getMessage();
        assertTrue(msg.contains("image_mean"), msg);
        assertEquals(224, ClipImageProcessor.load(tmp.resolve("nowhere")).cropHeight());
    }

    @Test
    @Tag("gpu")
    void cudaMatchesTheReference() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0)) {
            for (Vision v : new Vision[] {unfused, fused}) {
                Path dir = v == unfused ? unfusedDir : fusedDir;
                int b = 2, s = v.image();
                float[] px = pixels(SEED + 11, b * CH * s * s);
                double[][] ref = v.forward(px, b);
                try (ClipVisionModel m = ClipVisionModel.load(g, dir); Tensor in = g.upload(DType.F32, px, b, CH, s, s); ClipVisionOutput o = m.forward(in)) {
                    assertClose(o.lastHiddenState(), ref[0], dir + " cuda last_hidden_state");
                    assertClose(o.imageEmbeds(), ref[2], dir + " cuda image_embeds");
                    assertTrue(ParityMath.compare(o.pooled().toFloatArray(), ref[1], ClipTextModelTest.TOL).passed(), dir + " cuda pooled");
                }
            }
        }
    }
}
