package dev.surpass.cli;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.model.pixart.PixArtImageProcessor;
import dev.surpass.model.sd.FluxPipeline;
import dev.surpass.model.sd.PixArtPipeline;
import dev.surpass.model.sd.StableDiffusion;
import dev.surpass.model.sd.StableDiffusion3;
import dev.surpass.model.sd.StableDiffusionXL;
import dev.surpass.model.vae.AutoencoderKL;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code surpass txt2img}: text-to-image with a diffusers Stable Diffusion 1.x / 2.x folder
 * ({@link StableDiffusion}) or, when model_index.json names a StableDiffusionXLPipeline, an SDXL base
 * folder ({@link StableDiffusionXL}), or a StableDiffusion3Pipeline, an SD3 / 3.5 folder ({@link StableDiffusion3}), or a PixArt-α / Σ
 * folder ({@link PixArtPipeline}). Writes {@code OUT/image-K.png} per prompt, {@code OUT/grid.png} and
 * {@code OUT/latents.safetensors} (the final latents, with the settings in the metadata). With
 * {@code --init-image} it is image-to-image ({@link StableDiffusion#sampleFromImage}, diffusers'
 * {@code StableDiffusionImg2ImgPipeline}) at {@code --strength} (SD 1.x / 2.x only).
 */
@Command(name = "txt2img", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Text-to-image with a diffusers Stable Diffusion 1.x / 2.x folder (model_index.json, text_encoder/,",
            "tokenizer/, unet/, vae/, scheduler/), as StableDiffusionPipeline runs it: CLIP text encoder,",
            "UNet2DConditionModel with classifier-free guidance, the folder's scheduler (or --scheduler), the VAE;",
            "or an SDXL base folder (StableDiffusionXLPipeline: two text encoders, added conditions), or an SD3 / SD3.5 folder",
            "(StableDiffusion3Pipeline: two CLIP encoders and T5, the MMDiT transformer, flow matching), or a PixArt-α / PixArt-Σ",
            "folder (PixArtAlphaPipeline / PixArtSigmaPipeline: T5 text encoder, DiT transformer), or a FLUX.1 dev / schnell folder",
            "(FluxPipeline: CLIP pooled + T5, the Flux transformer, flow matching), as their pipelines run them.",
            "Writes OUT/image-K.png per prompt, OUT/grid.png and OUT/latents.safetensors.",
            "With --init-image it is image-to-image (StableDiffusionImg2ImgPipeline, SD 1.x / 2.x; StableDiffusionXLImg2ImgPipeline;",
            "StableDiffusion3Img2ImgPipeline; FluxImg2ImgPipeline) at --strength."
        })
final class Txt2ImgCommand extends CliCommand {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A diffusers StableDiffusionPipeline, StableDiffusionXLPipeline, StableDiffusion3Pipeline, PixArt or FluxPipeline folder.")
    Path model;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "A prompt (repeat for several images).")
    List<String> prompts;

    @Option(names = "--negative-prompt", paramLabel = "TEXT", description = "A negative prompt: one for all prompts, or one per prompt (repeat).")
    List<String> negative;

    @Option(names = "--steps", paramLabel = "N",
            description = "Inference steps (default: 30 for SD 1.x / 2.x and SDXL; the pipeline's own: 28 for SD3 and Flux, 20 for PixArt).")
    Integer stepsOption;

    @Option(names = {"--guidance", "--cfg"}, paramLabel = "S",
            description = "Classifier-free guidance scale; > 1 turns guidance on (default: 7.5; 7.0 for SD3, 4.5 for PixArt, as their pipelines). "
                    + "Flux: the distilled guidance_scale its transformer embeds (default 3.5; schnell ignores it); see --true-cfg-scale.")
    Double guidanceOption;

    private int steps;
    private double guidance;

    @Option(names = "--scheduler", paramLabel = "NAME",
            description = "pndm, ddim, euler, euler-a, dpmpp2m, unipc, ddpm or heun (flow-euler for SD3), set up from the folder's scheduler config "
                    + "(default: the folder's own scheduler).")
    String scheduler;

    @Option(names = "--no-resolution-binning",
            description = "PixArt: sample at exactly --width × --height instead of the closest trained aspect-ratio bin resized back (use_resolution_binning=False).")
    boolean noResolutionBinning;

    @Option(names = "--max-sequence-length", paramLabel = "N",
            description = "SD3 / Flux: the T5 prompt tokens (diffusers' max_sequence_length; default: 256 for SD3, after its 77 CLIP ones; 512 for Flux).")
    Integer maxSequenceLengthOption;

    @Option(names = "--true-cfg-scale", defaultValue = "1", paramLabel = "S",
            description = "Flux: real classifier-free guidance with the negative prompt when > 1 (diffusers' true_cfg_scale; default: ${DEFAULT-VALUE}, off).")
    double trueCfgScale;

    @Option(names = "--skip-guidance-layers", split = ",", paramLabel = "L",
            description = "SD3.5: skip-layer guidance leaving out these transformer blocks (e.g. 7,8,9; diffusers' skip_guidance_layers).")
    int[] skipGuidanceLayers;

    @Option(names = "--skip-layer-guidance-scale", defaultValue = "2.8", paramLabel = "S",
            description = "SD3.5: the skip-layer guidance scale (default: ${DEFAULT-VALUE}; it runs on steps N·0.01 < i < N·0.2).")
    double skipLayerScale;

    @Option(names = "--width", defaultValue = "0", paramLabel = "PX", description = "Image width, a multiple of the VAE's factor (8) × the UNet's downsampling or the transformer's patch (default: the model's).")
    int width;

    @Option(names = "--height", defaultValue = "0", paramLabel = "PX", description = "Image height, the same multiple (default: the width, or the model's).")
    int height;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Philox seed of the initial latents (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--eta", defaultValue = "0", paramLabel = "ETA", description = "DDIM's eta (default: ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--guidance-rescale", defaultValue = "0", paramLabel = "PHI",
            description = "diffusers' guidance_rescale in [0, 1] (for zero-terminal-SNR models; default: 0, off).")
    double guidanceRescale;

    @Option(names = "--clip-skip", defaultValue = "0", paramLabel = "K", description = "Text-encoder layers to skip at the end (diffusers' clip_skip; default: 0).")
    int clipSkip;

    @Option(names = "--latents", paramLabel = "FILE",
            description = "Start from these latents (safetensors; tensor 'latents' or its only tensor, [B, 4, H/8, W/8], already scaled by init_noise_sigma).")
    Path latents;

    @Option(names = "--init-image", paramLabel = "PNG",
            description = "Image-to-image from this picture (one for all prompts, or one per prompt: repeat); the size is the picture's.")
    List<Path> initImages;

    @Option(names = "--strength", defaultValue = "0.8", paramLabel = "S",
            description = "With --init-image: how much noise in (0, 1]; the last int(steps·S) steps run (default: ${DEFAULT-VALUE}).")
    double strength;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder (created if missing).")
    Path out;

    @Mixin
    OneDevice device;

    @Override
    int execute(PrintWriter o, PrintWriter err) {
        if (model == null || !Files.isDirectory(model)) throw new UsageException("--model " + model + ": not a folder (a diffusers Stable Diffusion pipeline)");
        if (!Files.isRegularFile(model.resolve("model_index.json"))) {
            throw new UsageException("--model " + model + ": no model_index.json (a diffusers StableDiffusionPipeline folder)");
        }
        DiffusersSampler.Kind kind = null;
        if (scheduler != null) {
            try {
                kind = DiffusersSampler.Kind.parse(scheduler);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--scheduler " + scheduler + ": expected pndm, ddim, euler, euler-a, dpmpp2m, unipc, ddpm, heun or flow-euler");
            }
        }
        List<String> neg = null;
        if (negative != null && !negative.isEmpty()) {
            if (negative.size() == 1) neg = java.util.Collections.nCopies(prompts.size(), negative.getFirst());
            else if (negative.size() == prompts.size()) neg = negative;
            else throw new UsageException("--negative-prompt: give one for all prompts or one per prompt (" + prompts.size() + "), got " + negative.size());
        }
        if (stepsOption != null && stepsOption < 1) throw new UsageException("--steps " + stepsOption + ": must be >= 1");
        if (maxSequenceLengthOption != null && maxSequenceLengthOption < 1) {
            throw new UsageException("--max-sequence-length " + maxSequenceLengthOption + ": must be >= 1");
        }
        if (!Double.isFinite(trueCfgScale)) throw new UsageException("--true-cfg-scale " + trueCfgScale + ": must be finite");
        if (trueCfgScale != 1 && !FluxPipeline.accepts(model)) throw new UsageException("--true-cfg-scale: only for Flux folders (FluxPipeline)");
        StableDiffusion3.SkipLayerGuidance slg = null;
        if (skipGuidanceLayers != null && skipGuidanceLayers.length > 0) {
            if (!Double.isFinite(skipLayerScale)) throw new UsageException("--skip-layer-guidance-scale " + skipLayerScale + ": must be finite");
            slg = new StableDiffusion3.SkipLayerGuidance(skipGuidanceLayers, skipLayerScale, 0.01, 0.2);
            if (!StableDiffusion3.accepts(model)) throw new UsageException("--skip-guidance-layers: only for SD3 / SD3.5 folders (StableDiffusion3Pipeline)");
        }
        if (!(guidanceRescale >= 0 && guidanceRescale <= 1)) throw new UsageException("--guidance-rescale " + guidanceRescale + ": must be in [0, 1]");
        // (the multiple each pipeline needs — the VAE's factor × the UNet's or transformer's — is checked by the pipeline)
        if (width < 0 || height < 0) throw new UsageException("--width/--height " + width + "×" + height + ": must be >= 0 (0 = the model's)");
        boolean img2img = initImages != null && !initImages.isEmpty();
        if (img2img) {
            if (latents != null) throw new UsageException("--latents: not with --init-image (image-to-image makes its latents from the picture)");
            if (initImages.size() != 1 && initImages.size() != prompts.size()) {
                throw new UsageException("--init-image: give one for all prompts or one per prompt (" + prompts.size() + "), got " + initImages.size());
            }
            if (!(strength > 0 && strength <= 1)) throw new UsageException("--strength " + strength + ": must be in (0, 1]");
        }
        BufferedImage[] pictures = img2img ? readPictures() : null;
        device.validate("txt2img");
        OptionFiles.createFolder("--out", out);
        try (Devices devices = device.open(err)) {
            Device dev = devices.first();
            long l0 = System.nanoTime();
            Pipeline sd;
            try {
                sd = open(dev, model, maxSequenceLengthOption, slg, !noResolutionBinning, trueCfgScale);
            } catch (IllegalArgumentException | UncheckedIOException e) {
                throw OptionFiles.failed("--model", model, e);
            }
            try (Pipeline p = sd) {
                steps = stepsOption != null ? stepsOption : p.defaults().steps();
                guidance = guidanceOption != null ? guidanceOption : p.defaults().guidance();
                int w = width == 0 ? (height == 0 ? p.defaultSize() : height) : width, h = height == 0 ? w : height;
                if (img2img) { // the picture's size
                    w = pictures[0].getWidth();
                    h = pictures[0].getHeight();
                }
                int[] at = {w, h}; // the size sampled and decoded: PixArt's aspect-ratio bin unless binning is off
                if (!img2img) {
                    try {
                        at = p.sampleSize(w, h);
                    } catch (IllegalArgumentException e) {
                        throw new UsageException("txt2img: " + e.getMessage() + " (--no-resolution-binning)");
                    }
                    if (at[0] != w || at[1] != h) err.printf(Locale.ROOT, "surpass txt2img: resolution binning: sampling at %d×%d, resized back to %d×%d%n", at[0], at[1], w, h);
                }
                String schedName = kind == null ? p.schedulerConfig().className() : kind.name().toLowerCase(Locale.ROOT);
                err.printf(Locale.ROOT, "surpass txt2img: loaded in %.1f s on %s; %d×%d, %s, %d steps, guidance %s, seed %d%n",
                        (System.nanoTime() - l0) / 1e9, dev.name(), w, h, schedName, steps, guidance, seed);
                try (Tensor start = latents == null ? null : readLatents(dev)) {
                    StableDiffusion.Options opts = StableDiffusion.Options.defaults().withSize(at[0], at[1]).withSteps(steps).withGuidance(guidance)
                            .withScheduler(kind).withSeed(seed).withEta(eta).withClipSkip(clipSkip).withLatents(start).withGuidanceRescale(guidanceRescale);
                    long t0 = System.nanoTime();
                    Tensor lat;
                    try {
                        if (img2img) {
                            try (Tensor init = AutoencoderKL.fromImages(dev, pictures)) {
                                lat = p.sampleFromImage(prompts, neg, init, strength, opts,
                                        (done, total) -> SampleCommand.progressBar(err, "denoising", done, total));
                            }
                        } else {
                            lat = p.sample(prompts, neg, opts, (done, total) -> SampleCommand.progressBar(err, "denoising", done, total));
                        }
                    } catch (IllegalArgumentException | IllegalStateException e) {
                        throw new UsageException("txt2img: " + e.getMessage());
                    }
                    double secs = (System.nanoTime() - t0) / 1e9;
                    try (Tensor l = lat) {
                        Map<String, String> meta = new LinkedHashMap<>();
                        meta.put("producer", "surpass txt2img");
                        meta.put("model", model.toString());
                        meta.put("prompts", String.join(" | ", prompts));
                        meta.put("scheduler", String.valueOf(schedName));
                        meta.put("steps", Integer.toString(steps));
                        meta.put("guidance", Double.toString(guidance));
                        meta.put("seed", Long.toString(seed));
                        if (img2img) {
                            meta.put("init_image", initImages.toString());
                            meta.put("strength", Double.toString(strength));
                        }
                        meta.put("device", dev.name());
                        Path lf = out.resolve("latents.safetensors");
                        OptionFiles.writeSafeTensors("--out", out, lf, Map.of("latents", l), meta);
                        long d0 = System.nanoTime();
                        BufferedImage[] images;
                        try (Tensor decoded = p.decode(l)) {
                            if (at[0] == w && at[1] == h) {
                                images = AutoencoderKL.toImages(decoded);
                            } else {
                                try (Tensor back = PixArtImageProcessor.resizeAndCrop(decoded, w, h)) { // diffusers' resize_and_crop_tensor
                                    images = AutoencoderKL.toImages(back);
                                }
                            }
                        }
                        for (int k = 0; k < images.length; k++) SampleCommand.writePng(images[k], out.resolve("image-" + k + ".png"));
                        SampleCommand.writePng(SampleCommand.tile(images), out.resolve("grid.png"));
                        o.printf(Locale.ROOT, "sampled %d in %.2f s, decoded in %.2f s (%d×%d); wrote %s, image-*.png, grid.png%n", images.length, secs,
                                (System.nanoTime() - d0) / 1e9, images[0].getWidth(), images[0].getHeight(), lf);
                    }
                }
            }
        }
        return 0;
    }

    /** What txt2img needs of a pipeline: SD 1.x / 2.x ({@link StableDiffusion}), SDXL ({@link StableDiffusionXL}) and SD3 ({@link StableDiffusion3}) alike. */
    private interface Pipeline extends AutoCloseable {
        int defaultSize();

        /** The steps and guidance txt2img uses when none are given. */
        default StableDiffusion.Options defaults() {
            return StableDiffusion.Options.defaults().withSteps(30);
        }

        SchedulerConfig schedulerConfig();

        /** The {@code {width, height}} to sample at for a picture of width × height: PixArt's resolution bin, else the same. */
        default int[] sampleSize(int width, int height) {
            return new int[] {width, height};
        }

        Tensor sample(List<String> prompts, List<String> negative, StableDiffusion.Options o, StableDiffusion.Progress progress);

        /** Image-to-image; SDXL refuses it (IllegalArgumentException, reported as a usage error). */
        Tensor sampleFromImage(List<String> prompts, List<String> negative, Tensor init, double strength, StableDiffusion.Options o,
                               StableDiffusion.Progress progress);

        Tensor decode(Tensor latents);

        @Override
        void close();
    }

    /**
     * The pipeline model_index.json's _class_name names: StableDiffusionXLPipeline, StableDiffusion3Pipeline, PixArtAlphaPipeline /
     * PixArtSigmaPipeline, else Stable Diffusion 1.x / 2.x (which refuses others by name).
     */
    private static Pipeline open(Device dev, Path model, Integer maxSequenceLengthOption, StableDiffusion3.SkipLayerGuidance slg,
                                 boolean resolutionBinning, double trueCfgScale) {
        if (PixArtPipeline.accepts(model)) return pixArt(PixArtPipeline.load(dev, model), resolutionBinning);
        if (FluxPipeline.accepts(model)) {
            FluxPipeline x = FluxPipeline.load(dev, model);
            FluxPipeline.FluxOptions fo;
            try {
                fo = FluxPipeline.FluxOptions.defaults().withTrueCfgScale(trueCfgScale)
                        .withMaxSequenceLength(maxSequenceLengthOption != null ? maxSequenceLengthOption : FluxPipeline.MAX_SEQUENCE_LENGTH);
            } catch (IllegalArgumentException e) {
                x.close();
                throw e;
            }
            return new Pipeline() {
                public int defaultSize() { return x.defaultSize(); }
                public StableDiffusion.Options defaults() { return FluxPipeline.defaults(); }
                public SchedulerConfig schedulerConfig() { return x.schedulerConfig(); }
                public Tensor sample(List<String> p, List<String> n, StableDiffusion.Options o, StableDiffusion.Progress g) {
                    return x.sample(p, n, o, fo, g);
                }
                public Tensor sampleFromImage(List<String> p, List<String> n, Tensor i, double s, StableDiffusion.Options o, StableDiffusion.Progress g) {
                    return x.sampleFromImage(p, n, i, s, o, fo, g); // FluxImg2ImgPipeline on the same folder
                }
                public Tensor decode(Tensor l) { return x.decode(l); }
                public void close() { x.close(); }
            };
        }
        int maxSequenceLength = maxSequenceLengthOption != null ? maxSequenceLengthOption : StableDiffusion3.MAX_SEQUENCE_LENGTH;
        if (StableDiffusion3.accepts(model)) {
            StableDiffusion3 x = StableDiffusion3.load(dev, model);
            return new Pipeline() {
                public int defaultSize() { return x.defaultSize(); }
                public StableDiffusion.Options defaults() { return StableDiffusion3.defaults(); }
                public SchedulerConfig schedulerConfig() { return x.schedulerConfig(); }
                public Tensor sample(List<String> p, List<String> n, StableDiffusion.Options o, StableDiffusion.Progress g) {
                    return x.sample(p, n, o, maxSequenceLength, slg, g);
                }
                public Tensor sampleFromImage(List<String> p, List<String> n, Tensor i, double s, StableDiffusion.Options o, StableDiffusion.Progress g) {
                    if (slg != null) throw new IllegalArgumentException("--skip-guidance-layers: StableDiffusion3Img2ImgPipeline has no skip-layer guidance");
                    return x.sampleFromImage(p, n, i, s, o, maxSequenceLength, g);
                }
                public Tensor decode(Tensor l) { return x.decode(l); }
                public void close() { x.close(); }
            };
        }
        if (StableDiffusionXL.accepts(model)) {
            StableDiffusionXL x = StableDiffusionXL.load(dev, model);
            return new Pipeline() {
                public int defaultSize() { return x.defaultSize(); }
                public SchedulerConfig schedulerConfig() { return x.schedulerConfig(); }
                public Tensor sample(List<String> p, List<String> n, StableDiffusion.Options o, StableDiffusion.Progress g) { return x.sample(p, n, o, g); }
                public Tensor sampleFromImage(List<String> p, List<String> n, Tensor i, double s, StableDiffusion.Options o, StableDiffusion.Progress g) {
                    return x.sampleFromImage(p, n, i, s, o, g); // StableDiffusionXLImg2ImgPipeline on the base folder
                }
                public Tensor decode(Tensor l) { return x.decode(l); }
                public void close() { x.close(); }
            };
        }
        StableDiffusion x = StableDiffusion.load(dev, model);
        return new Pipeline() {
            public int defaultSize() { return x.defaultSize(); }
            public SchedulerConfig schedulerConfig() { return x.schedulerConfig(); }
            public Tensor sample(List<String> p, List<String> n, StableDiffusion.Options o, StableDiffusion.Progress g) { return x.sample(p, n, o, g); }
            public Tensor sampleFromImage(List<String> p, List<String> n, Tensor i, double s, StableDiffusion.Options o, StableDiffusion.Progress g) {
                return x.sampleFromImage(p, n, i, s, o, g);
            }
            public Tensor decode(Tensor l) { return x.decode(l); }
            public void close() { x.close(); }
        };
    }

    /** A PixArt-α / Σ folder (model_index.json naming PixArtAlphaPipeline / PixArtSigmaPipeline): text-to-image only. */
    private static Pipeline pixArt(PixArtPipeline x, boolean resolutionBinning) {
        return new Pipeline() {
            public int defaultSize() { return x.defaultSize(); }
            public int[] sampleSize(int w, int h) { return resolutionBinning ? x.binnedSize(w, h) : new int[] {w, h}; }
            public StableDiffusion.Options defaults() { return PixArtPipeline.defaults(); }
            public SchedulerConfig schedulerConfig() { return x.schedulerConfig(); }
            public Tensor sample(List<String> p, List<String> n, StableDiffusion.Options o, StableDiffusion.Progress g) { return x.sample(p, n, o, g); }
            public Tensor sampleFromImage(List<String> p, List<String> n, Tensor i, double s, StableDiffusion.Options o, StableDiffusion.Progress g) {
                throw new IllegalArgumentException("--init-image: image-to-image is not implemented for PixArt folders");
            }
            public Tensor decode(Tensor l) { return x.decode(l); }
            public void close() { x.close(); }
        };
    }

    /** The --init-image pictures, all of one size (checked by fromImages later too, named here by file). */
    private BufferedImage[] readPictures() {
        BufferedImage[] r = new BufferedImage[initImages.size()];
        for (int i = 0; i < r.length; i++) {
            Path f = initImages.get(i);
            try {
                r[i] = f == null || !Files.isRegularFile(f) ? null : javax.imageio.ImageIO.read(f.toFile());
            } catch (java.io.IOException e) {
                throw new UsageException("--init-image " + f + ": cannot read it (" + e.getMessage() + ")");
            }
            if (r[i] == null) throw new UsageException("--init-image " + f + ": not a readable picture (PNG, JPEG, BMP or GIF)");
            if (r[i].getWidth() != r[0].getWidth() || r[i].getHeight() != r[0].getHeight()) {
                throw new UsageException("--init-image " + f + ": " + r[i].getWidth() + "×" + r[i].getHeight() + " but " + initImages.getFirst() + " is "
                        + r[0].getWidth() + "×" + r[0].getHeight() + " (one size for all)");
            }
        }
        return r;
    }

    private Tensor readLatents(Device dev) {
        try (SafeTensorsFile f = SafeTensors.open(latents)) {
            String name = f.contains("latents") ? "latents" : f.size() == 1 ? f.names().getFirst() : null;
            if (name == null) throw new UsageException("--latents " + latents + ": no tensor 'latents' and not exactly one tensor");
            try (Tensor t = f.tensor(name, dev)) {
                return t.dtype() == DType.F32 ? t.to(dev) : t.to(DType.F32);
            }
        } catch (UncheckedIOException e) {
            throw OptionFiles.failed("--latents", latents, e);
        }
    }

}
