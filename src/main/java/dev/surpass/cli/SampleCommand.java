package dev.surpass.cli;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.model.dit.DiT;
import dev.surpass.model.dit.DiTConfig;
import dev.surpass.model.dit.DiTSampler;
import dev.surpass.model.vae.AutoencoderKL;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code surpass sample}: class-conditional sampling with a DiT checkpoint
 * ({@link DiTSampler}). Writes {@code OUT/latents.safetensors} (tensor {@code latents [N, C, H, W]}
 * F32, with the run's settings in the metadata) and {@code OUT/grid.png}: for a pixel-space model
 * (1 or 3 channels) the samples themselves; for a latent-space model (DiT's SD-VAE latents, 4
 * channels) the images that {@code --vae DIR} (a diffusers AutoencoderKL folder such as
 * {@code stabilityai/sd-vae-ft-mse}) decodes from them as {@code DiTPipeline} does
 * ({@link AutoencoderKL#decodeScaled}, then {@link AutoencoderKL#toImages}). Without {@code --vae}
 * only a latent model's latents are written.
 */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Samples images (or latents) from a DiT checkpoint (official facebookresearch/DiT key names,",
            "safetensors) with DDIM, DDPM (learned range) or DPM-Solver++(2M) and classifier-free guidance.",
            "Writes OUT/latents.safetensors, and OUT/grid.png for a pixel-space (1- or 3-channel) model,",
            "or for a latent model decoded by --vae DIR (a diffusers AutoencoderKL folder, e.g. sd-vae-ft-mse)."
        })
final class SampleCommand extends CliCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "DiT checkpoint (.safetensors, the official .pt, or a diffusers DiTPipeline / transformer folder).")
    Path model;

    @Option(names = "--labels", required = true, split = ",", paramLabel = "L,L,...", description = "Class labels, one sample each (e.g. 207,360).")
    int[] labels;

    @Option(names = "--steps", defaultValue = "50", paramLabel = "N", description = "Sampling steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = {"--cfg", "--guidance"}, defaultValue = "4.0", paramLabel = "S",
            description = "Classifier-free guidance scale; > 1 turns guidance on (default: ${DEFAULT-VALUE}).")
    double cfg;

    @Option(names = "--sampler", defaultValue = "ddim", paramLabel = "NAME", description = "ddim, ddpm or dpmpp2m (default: ${DEFAULT-VALUE}).")
    String sampler;

    @Option(names = "--eta", defaultValue = "0", paramLabel = "ETA", description = "DDIM's eta (default: ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Philox seed of all the noise (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--noise", paramLabel = "FILE",
            description = "Start from these latents (a safetensors file; tensor 'latents', 'noise' or its only tensor) instead of Philox noise.")
    Path noise;

    @Option(names = "--dtype", defaultValue = "f32", paramLabel = "T", description = "Compute dtype: f32, bf16 or f16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder (created if missing).")
    Path out;

    @Option(names = "--out-latents", paramLabel = "FILE", description = "Also write the final latents to this safetensors file (to compare trajectories).")
    Path outLatents;

    @Option(names = "--vae", paramLabel = "DIR",
            description = "Decode a latent model's samples to OUT/grid.png with this diffusers AutoencoderKL folder "
                    + "(config.json + diffusion_pytorch_model.safetensors, e.g. stabilityai/sd-vae-ft-mse, or a pipeline with vae/); "
                    + "a DiTPipeline --model folder's own vae/ when not given.")
    Path vae;

    @Mixin
    OneDevice device;

    @Override
    int execute(PrintWriter o, PrintWriter err) {
        if (model == null || !java.nio.file.Files.isDirectory(model)) OptionFiles.requireFile("--model", model); // a folder: diffusers' layout
        if (labels == null || labels.length == 0) throw new UsageException("--labels: give at least one class label");
        DiTSampler.Sampler s;
        try {
            s = DiTSampler.Sampler.parse(sampler);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--sampler " + sampler + ": expected ddim, ddpm or dpmpp2m");
        }
        DType dt = switch (dtype.trim().toLowerCase(Locale.ROOT)) {
            case "f32", "fp32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "fp16", "float16" -> DType.F16;
            default -> throw new UsageException("--dtype " + dtype + ": expected f32, bf16 or f16");
        };
        device.validate("sample");
        if (vae != null && !Files.isDirectory(vae)) throw new UsageException("--vae " + vae + ": not a folder (a diffusers AutoencoderKL)");
        if (vae == null && Files.isDirectory(model) && Files.isRegularFile(model.resolve("model_index.json"))
                && Files.isRegularFile(model.resolve("vae/config.json"))) {
            vae = model.resolve("vae"); // a DiTPipeline folder brings its own VAE
        }
        OptionFiles.createFolder("--out", out);
        try (Devices devices = device.open(err)) {
            Device dev = devices.first();
            try (DiT dit = DiT.load(dev, model, dt); AutoencoderKL decoder = vae == null ? null : loadVae(dev)) {
                DiTConfig c = dit.config();
                if (decoder != null && (c.inChannels() == 1 || c.inChannels() == 3 || c.inChannels() != decoder.config().latentChannels())) {
                    throw new UsageException("--vae " + vae + ": the VAE takes " + decoder.config().latentChannels()
                            + "-channel latents but the model samples " + c.inChannels() + " channels"
                            + (c.inChannels() == 1 || c.inChannels() == 3 ? " (a pixel-space model: its grid needs no VAE)" : ""));
                }
                err.println("surpass sample: DiT depth " + c.depth() + ", hidden " + c.hiddenSize() + ", " + c.numHeads() + " heads, patch "
                        + c.patchSize() + ", input " + c.inChannels() + "×" + c.inputSize() + "×" + c.inputSize() + " on " + dev.name()
                        + "; " + s.name().toLowerCase(Locale.ROOT) + ", " + steps + " steps, guidance " + cfg + ", seed " + seed);
                Tensor latents;
                long t0 = System.nanoTime();
                try (Tensor start = noise == null ? null : readNoise(dev, dt, c)) {
                    latents = DiTSampler.sample(dit, labels, steps, cfg, s, seed, eta, start, (done, total) -> progress(err, done, total));
                }
                double secs = (System.nanoTime() - t0) / 1e9;
                try (Tensor l = latents; Tensor f32 = l.dtype() == DType.F32 ? null : l.to(DType.F32)) {
                    Tensor w = f32 == null ? l : f32;
                    Map<String, String> meta = new LinkedHashMap<>();
                    meta.put("producer", "surpass sample");
                    meta.put("model", model.toString());
                    meta.put("labels", Arrays.toString(labels));
                    meta.put("sampler", s.name().toLowerCase(Locale.ROOT));
                    meta.put("steps", Integer.toString(steps));
                    meta.put("guidance", Double.toString(cfg));
                    meta.put("seed", Long.toString(seed));
                    meta.put("device", dev.name());
                    Path lf = out.resolve("latents.safetensors");
                    OptionFiles.writeSafeTensors("--out", out, lf, Map.of("latents", w), meta);
                    o.printf(Locale.ROOT, "sampled %d in %.2f s; wrote %s (%s)%n", labels.length, secs, lf, w.describe());
                    if (outLatents != null) {
                        OptionFiles.writeSafeTensors("--out-latents", outLatents, outLatents, Map.of("latents", w), meta);
                        o.println("wrote " + outLatents);
                    }
                    if (c.inChannels() == 1 || c.inChannels() == 3) {
                        Path png = out.resolve("grid.png");
                        writeGrid(w.toFloatArray(), labels.length, c.inChannels(), c.inputSize(), png);
                        o.println("wrote " + png);
                    } else if (decoder != null) {
                        long d0 = System.nanoTime();
                        BufferedImage[] images;
                        try (Tensor decoded = decoder.decodeScaled(w)) {
                            images = AutoencoderKL.toImages(decoded);
                        }
                        Path png = out.resolve("grid.png");
                        writePng(tile(images), png);
                        o.printf(Locale.ROOT, "decoded %d in %.2f s (%d×%d); wrote %s%n", images.length, (System.nanoTime() - d0) / 1e9,
                                images[0].getWidth(), images[0].getHeight(), png);
                    } else {
                        o.println("note: a latent-space model (" + c.inChannels() + " channels): pass --vae DIR (the SD VAE: a diffusers AutoencoderKL "
                                + "folder such as stabilityai/sd-vae-ft-mse) to decode the samples to grid.png; only the latents were written");
                    }
                }
            }
        }
        return 0;
    }

    private Tensor readNoise(Device dev, DType dt, DiTConfig c) {
        try (SafeTensorsFile f = SafeTensors.open(noise)) {
            String name = f.contains("latents") ? "latents" : f.contains("noise") ? "noise" : f.size() == 1 ? f.names().getFirst() : null;
            if (name == null) throw new UsageException("--noise " + noise + ": no tensor 'latents' or 'noise' and not exactly one tensor");
            long[] want = {labels.length, c.inChannels(), c.inputSize(), c.inputSize()};
            if (!Arrays.equals(f.info(name).shape(), want)) {
                throw new UsageException("--noise " + noise + ": tensor '" + name + "' has shape " + Arrays.toString(f.info(name).shape())
                        + "; expected " + Arrays.toString(want));
            }
            try (Tensor t = f.tensor(name, dev)) {
                return t.dtype() == dt ? t.to(dev) : t.to(dt);
            }
        } catch (UncheckedIOException e) {
            throw OptionFiles.failed("--noise", noise, e);
        }
    }

    private static void progress(PrintWriter err, int done, int total) {
        progressBar(err, "sampling", done, total);
    }

    /** A one-line progress bar on err, redrawn in place; a newline when done. */
    static void progressBar(PrintWriter err, String label, int done, int total) {
        int width = 30, filled = (int) ((long) done * width / total);
        err.print("\r" + label + " [" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + done + "/" + total);
        if (done == total) err.println();
        err.flush();
    }

    private AutoencoderKL loadVae(Device dev) {
        try {
            return AutoencoderKL.load(dev, vae);
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw OptionFiles.failed("--vae", vae, e);
        }
    }

    /** [-1, 1] pixels → 8-bit, images tiled in ceil(√n) columns with a 2-pixel gap. */
    static void writeGrid(float[] x, int n, int c, int size, Path png) {
        BufferedImage[] images = new BufferedImage[n];
        for (int k = 0; k < n; k++) {
            images[k] = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
            for (int yy = 0; yy < size; yy++) {
                for (int xx = 0; xx < size; xx++) {
                    int[] rgb = new int[3];
                    for (int ch = 0; ch < 3; ch++) {
                        float v = x[((k * c + (c == 1 ? 0 : ch)) * size + yy) * size + xx];
                        rgb[ch] = Math.clamp(Math.round((v + 1) * 127.5f), 0, 255);
                    }
                    images[k].setRGB(xx, yy, (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]);
                }
            }
        }
        writePng(tile(images), png);
    }

    /** Images of one size tiled in ceil(√n) columns with a 2-pixel black gap. */
    static BufferedImage tile(BufferedImage[] images) {
        int n = images.length, w = images[0].getWidth(), h = images[0].getHeight();
        int cols = (int) Math.ceil(Math.sqrt(n)), rows = (n + cols - 1) / cols, gap = 2;
        BufferedImage img = new BufferedImage(cols * (w + gap) - gap, rows * (h + gap) - gap, BufferedImage.TYPE_INT_RGB);
        for (int k = 0; k < n; k++) img.getRaster().setRect((k % cols) * (w + gap), (k / cols) * (h + gap), images[k].getRaster());
        return img;
    }

    static void writePng(BufferedImage img, Path png) {
        try {
            ImageIO.write(img, "png", png.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + png + ": " + e.getMessage(), e);
        }
    }
}
