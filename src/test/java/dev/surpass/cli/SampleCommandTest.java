package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.model.dit.DiT;
import dev.surpass.model.dit.DiTConfig;
import dev.surpass.model.dit.DiTFixture;
import dev.surpass.model.dit.DiTSampler;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code surpass sample} and {@code surpass forward} on tiny random DiTs, on the CPU. */
class SampleCommandTest {
    @TempDir
    Path tmp;

    @Test
    void latentModelWritesLatentsEqualToTheApi() throws Exception {
        Path model = new DiTFixture(DiTFixture.tiny(), 3).write(tmp.resolve("tiny.safetensors"));
        Path out = tmp.resolve("out");
        CliRun r = CliRun.run("sample", "--model", model.toString(), "--labels", "1,7", "--steps", "3", "--cfg", "4",
                "--sampler", "ddim", "--seed", "5", "--out", out.toString(), "--device", "cpu",
                "--out-latents", tmp.resolve("final.safetensors").toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("VAE"), r.toString());
        assertTrue(r.err().contains("3/3"), "progress bar: " + r.err());
        assertFalse(Files.exists(out.resolve("grid.png")));
        assertTrue(Files.isRegularFile(tmp.resolve("final.safetensors")));
        try (Device cpu = Device.cpu(); SafeTensorsFile f = SafeTensors.open(out.resolve("latents.safetensors"));
             Tensor got = f.tensor("latents", cpu); DiT m = DiT.load(cpu, model);
             Tensor want = DiTSampler.sample(m, new int[] {1, 7}, 3, 4, DiTSampler.Sampler.DDIM, 5)) {
            assertArrayEquals(new long[] {2, 4, 8, 8}, got.shape());
            assertArrayEquals(want.toFloatArray(), got.toFloatArray());
            assertEquals("ddim", f.metadata().get("sampler"));
        }
    }

    @Test
    void pixelModelWritesAGrid() throws Exception {
        DiTConfig c = new DiTConfig(8, 4, 3, 64, 1, 2, 128, 5, 6, true);
        Path model = new DiTFixture(c, 4).write(tmp.resolve("pix.safetensors"));
        Path out = tmp.resolve("pix");
        CliRun r = CliRun.run("sample", "--model", model.toString(), "--labels", "0,1,2", "--steps", "2", "--guidance", "2",
                "--sampler", "dpmpp2m", "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.toString());
        BufferedImage img = ImageIO.read(out.resolve("grid.png").toFile());
        assertEquals(2 * 8 + 2, img.getWidth());   // 3 images in 2 columns, 2-pixel gap
        assertEquals(2 * 8 + 2, img.getHeight());
    }

    @Test
    void latentModelWithVaeWritesTheDecodedGrid() throws Exception {
        Path model = new DiTFixture(DiTFixture.tiny(), 3).write(tmp.resolve("tiny.safetensors"));
        Path vae = dev.surpass.model.vae.VaeFixture.tiny(11).write(tmp.resolve("vae"), DType.F32, true); // legacy names, as sd-vae-ft-mse
        Path out = tmp.resolve("decoded");
        CliRun r = CliRun.run("sample", "--model", model.toString(), "--labels", "1,7,3", "--steps", "2", "--cfg", "3",
                "--seed", "9", "--vae", vae.toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("decoded 3"), r.toString());
        BufferedImage grid = ImageIO.read(out.resolve("grid.png").toFile());
        assertEquals(2 * 16 + 2, grid.getWidth());  // 3 images of 16×16 (8×8 latents, ×2) in 2 columns, 2-pixel gap
        assertEquals(2 * 16 + 2, grid.getHeight());
        try (Device cpu = Device.cpu(); SafeTensorsFile f = SafeTensors.open(out.resolve("latents.safetensors"));
             Tensor latents = f.tensor("latents", cpu); dev.surpass.model.vae.AutoencoderKL m = dev.surpass.model.vae.AutoencoderKL.load(cpu, vae);
             Tensor images = m.decodeScaled(latents)) {
            BufferedImage[] want = dev.surpass.model.vae.AutoencoderKL.toImages(images);
            for (int k = 0; k < 3; k++) {
                int ox = (k % 2) * 18, oy = (k / 2) * 18;
                for (int y = 0; y < 16; y++) {
                    for (int x = 0; x < 16; x++) {
                        assertEquals(want[k].getRGB(x, y), grid.getRGB(ox + x, oy + y), "image " + k + " at " + x + "," + y);
                    }
                }
            }
        }
        r = CliRun.run("sample", "--model", model.toString(), "--labels", "1", "--steps", "2", "--vae", tmp.resolve("none").toString(),
                "--out", out.toString(), "--device", "cpu");
        assertEquals(Main.USAGE, r.code(), r.toString());
        assertTrue(r.err().contains("--vae"), r.err());
        Path pix = new DiTFixture(new DiTConfig(8, 4, 3, 64, 1, 2, 128, 5, 6, true), 4).write(tmp.resolve("pix.safetensors"));
        r = CliRun.run("sample", "--model", pix.toString(), "--labels", "1", "--steps", "2", "--vae", vae.toString(),
                "--out", out.toString(), "--device", "cpu");
        assertEquals(Main.USAGE, r.code(), r.toString());
        assertTrue(r.err().contains("pixel-space"), r.err());
    }

    @Test
    void badInputExitsWithUsage() {
        Path model = new DiTFixture(DiTFixture.tiny(), 3).write(tmp.resolve("tiny.safetensors"));
        CliRun r = CliRun.run("sample", "--model", model.toString(), "--labels", "10", "--steps", "2", "--out", tmp.resolve("o").toString(), "--device", "cpu");
        assertEquals(Main.USAGE, r.code(), r.toString());
        assertTrue(r.err().contains("label 10"), r.err());
        r = CliRun.run("sample", "--model", model.toString(), "--labels", "1", "--sampler", "euler", "--out", tmp.resolve("o").toString(), "--device", "cpu");
        assertEquals(Main.USAGE, r.code(), r.toString());
        r = CliRun.run("sample", "--model", tmp.resolve("none.safetensors").toString(), "--labels", "1", "--out", tmp.resolve("o").toString());
        assertEquals(Main.USAGE, r.code(), r.toString());
    }

    @Test
    void forwardRunsDiT() throws Exception {
        DiTFixture fx = new DiTFixture(DiTFixture.tiny(), 8);
        Path model = fx.write(tmp.resolve("fwd.safetensors"));
        Path in = tmp.resolve("in.safetensors"), out = tmp.resolve("out.safetensors");
        float[] x = DiTFixture.randomLatents(2, 2 * 4 * 64);
        try (Device cpu = Device.cpu();
             Tensor xt = cpu.upload(DType.F32, x, 2, 4, 8, 8); Tensor t = cpu.upload(new int[] {10, 900}, 2);
             Tensor y = cpu.upload(new long[] {3, 10}, 2); Tensor s = cpu.upload(DType.F32, new float[] {1.5f}, 1)) {
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("x", xt);
            m.put("t", t);
            m.put("y", y);
            SafeTensors.write(in, m);
            CliRun r = CliRun.run("forward", "--model", model.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "cpu");
            assertEquals(0, r.code(), r.toString());
            double[] ref = fx.forward(x, 2, new float[] {10, 900}, new int[] {3, 10});
            try (SafeTensorsFile f = SafeTensors.open(out); Tensor o = f.tensor("output", cpu)) {
                assertTrue(DiTFixture.relL2(o.toFloatArray(), ref) < 1e-4);
            }
            m.put("cfg_scale", s);
            SafeTensors.write(in, m);
            r = CliRun.run("forward", "--model", model.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "cpu");
            assertEquals(0, r.code(), r.toString());
        }
    }

    @Test
    void forwardRunsVae() throws Exception {
        dev.surpass.model.vae.VaeFixture fx = dev.surpass.model.vae.VaeFixture.tiny(12);
        Path vae = fx.write(tmp.resolve("fwd-vae"), DType.F32, true);
        Path in = tmp.resolve("vin.safetensors"), out = tmp.resolve("vout.safetensors");
        float[] z = dev.surpass.model.vae.VaeFixture.latents(3, 4 * 3 * 5);
        try (Device cpu = Device.cpu(); Tensor zt = cpu.upload(DType.F32, z, 1, 4, 3, 5)) {
            SafeTensors.write(in, Map.of("latents", zt));
            CliRun r = CliRun.run("forward", "--model", vae.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "cpu");
            assertEquals(0, r.code(), r.toString());
            try (SafeTensorsFile f = SafeTensors.open(out); Tensor o = f.tensor("sample", cpu)) {
                assertArrayEquals(new long[] {1, 3, 6, 10}, o.shape());
                assertTrue(dev.surpass.parity.ParityMath.compare(o.toFloatArray(), fx.decode(z, 1, 3, 5), 2e-5).passed());
            }
        }
    }
}
