package dev.surpass.model.sd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.Noise;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.model.clip.ClipTextModel;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.unet.UNet2DConditionModel;
import dev.surpass.model.vae.AutoencoderKL;
import dev.surpass.text.ClipTokenizer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Stable Diffusion 1.x / 2.x text-to-image pipeline, as diffusers' {@code StableDiffusionPipeline}
 * runs it, loaded from a diffusers pipeline folder ({@code model_index.json} with
 * {@code text_encoder/}, {@code tokenizer/}, {@code unet/}, {@code vae/}, {@code scheduler/}) onto one
 * {@link Device}:
 * <ol>
 *   <li>prompts → {@link ClipTokenizer} (padded and truncated to the tokenizer's
 *       {@code model_max_length}, 77) → {@link ClipTextModel}'s last hidden state (or, with clip skip
 *       k, hidden state −(k+1) through the final LayerNorm — for the prompts only: diffusers encodes
 *       the negative prompts without clip skip, and so does this);</li>
 *   <li>latents {@code [B, 4, H/8, W/8]}: Philox Gaussian noise (seed, stream {@link #INIT_STREAM})
 *       times the scheduler's {@code init_noise_sigma}, or given;</li>
 *   <li>per evaluation of the {@link DiffusersSampler} (the folder's scheduler, or PNDM / DDIM /
 *       Euler / Euler-ancestral / DPM-Solver++(2M) / UniPC / DDPM / Heun set up from its config as diffusers'
 *       {@code from_config} does): the
 *       {@link UNet2DConditionModel} on {@code [x; x]·scale} with {@code [negative; prompt]} embeddings
 *       when guidance &gt; 1 ("" when no negative prompt is given), diffusers' guidance
 *       {@code u + g·(c − u)}, the scheduler step;</li>
 *   <li>{@link AutoencoderKL#decodeScaled} and {@link AutoencoderKL#toImages}.</li>
 * </ol>
 * Image-to-image ({@link #sampleFromImage}) follows {@code StableDiffusionImg2ImgPipeline}.
 * Not included: the safety checker (its folder is ignored), {@code guidance_rescale},
 * inpainting, SDXL (refused by name: {@link StableDiffusionXL} runs it).
 * Everything computes in fp32; 16-bit weights are widened on load by each model.
 *
 * <p>Threads: a loaded pipeline is read-only; {@link #generate} may run from several threads.
 * {@link #close} frees all four models.
 */
public final class StableDiffusion implements AutoCloseable {
    /** Philox stream of the initial latents (the step noise uses the step's timestep as stream). */
    public static final long INIT_STREAM = 1L << 40;

    private final Device device;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final SchedulerConfig scheduler;
    private final int maxLength;
    private volatile boolean closed;

    private StableDiffusion(Device device, ClipTokenizer tokenizer, ClipTextModel textEncoder, UNet2DConditionModel unet, AutoencoderKL vae,
                            SchedulerConfig scheduler, int maxLength) {
        this.device = device;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.scheduler = scheduler;
        this.maxLength = maxLength;
    }

    /** Called after each model evaluation with the evaluations done and the total. */
    @FunctionalInterface
    public interface Progress {
        void step(int done, int total);
    }

    /**
     * The settings of one generation. {@link #defaults()} gives diffusers' pipeline defaults: the
     * model's own size (0 × 0 here), 50 steps, guidance 7.5, the folder's scheduler, seed 0, η 0,
     * no clip skip.
     *
     * @param width     image width in pixels, a multiple of 8 (0: the UNet's sample_size × 8)
     * @param height    image height in pixels, a multiple of 8 (0: as width)
     * @param steps     inference steps (PNDM evaluates the UNet once more)
     * @param guidance  classifier-free guidance scale; &gt; 1 turns it on
     * @param scheduler the sampler, or null for the folder's {@code scheduler/} class
     * @param seed      Philox seed of the initial latents (and of DDIM's noise when η &gt; 0)
     * @param eta       DDIM's η (ignored by the others)
     * @param clipSkip  text-encoder layers to skip at the end (diffusers' {@code clip_skip}; 0 = none)
     * @param latents   initial latents {@code [B, C, H/8, W/8]} F32 on the pipeline's device (used as
     *                  they are: already scaled by init_noise_sigma), or null for Philox noise
     * @param guidanceRescale diffusers' {@code guidance_rescale} φ in [0, 1] (Lin et al. 2023, for
     *                  zero-terminal-SNR models): each guided prediction is rescaled to the standard
     *                  deviation of its cond half, {@code φ·g·(std(c)/std(g)) + (1 − φ)·g} (unbiased
     *                  std per sample, as torch's); 0 = off (the default)
     */
    public record Options(int width, int height, int steps, double guidance, DiffusersSampler.Kind scheduler, long seed, double eta,
                          int clipSkip, Tensor latents, double guidanceRescale) {
        public Options {
            if (!(guidanceRescale >= 0 && guidanceRescale <= 1)) {
                throw new IllegalArgumentException("guidanceRescale must be in [0, 1], got " + guidanceRescale);
            }
        }

        public static Options defaults() {
            return new Options(0, 0, 50, 7.5, null, 0, 0, 0, null, 0);
        }

        public Options withGuidanceRescale(double phi) {
            return new Options(width, height, steps, guidance, scheduler, seed, eta, clipSkip, latents, phi);
        }

        public Options withSize(int w, int h) {
            return new Options(w, h, steps, guidance, scheduler, seed, eta, clipSkip, latents, guidanceRescale);
        }

        public Options withSteps(int n) {
            return new Options(width, height, n, guidance, scheduler, seed, eta, clipSkip, latents, guidanceRescale);
        }

        public Options withGuidance(double g) {
            return new Options(width, height, steps, g, scheduler, seed, eta, clipSkip, latents, guidanceRescale);
        }

        public Options withScheduler(DiffusersSampler.Kind k) {
            return new Options(width, height, steps, guidance, k, seed, eta, clipSkip, latents, guidanceRescale);
        }

        public Options withSeed(long s) {
            return new Options(width, height, steps, guidance, scheduler, s, eta, clipSkip, latents, guidanceRescale);
        }

        public Options withEta(double e) {
            return new Options(width, height, steps, guidance, scheduler, seed, e, clipSkip, latents, guidanceRescale);
        }

        public Options withClipSkip(int k) {
            return new Options(width, height, steps, guidance, scheduler, seed, eta, k, latents, guidanceRescale);
        }

        public Options withLatents(Tensor l) {
            return new Options(width, height, steps, guidance, scheduler, seed, eta, clipSkip, l, guidanceRescale);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers Stable Diffusion folder onto {@code device}.
     *
     * @throws IllegalArgumentException naming the folder, file or field when it is not a Stable
     *                                  Diffusion 1.x/2.x pipeline (SDXL and others refused by name),
     *                                  a component is missing, or the components do not fit together
     *                                  (text width vs the UNet's cross_attention_dim, UNet vs VAE latent channels)
     */
    public static StableDiffusion load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("StableDiffusion.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("StableDiffusion.load: device " + device.name() + " is closed");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException("StableDiffusion.load: " + dir + " is not a folder");
        Path index = dir.resolve("model_index.json");
        if (!Files.isRegularFile(index)) {
            throw new IllegalArgumentException(dir + ": no model_index.json (a diffusers StableDiffusionPipeline folder)");
        }
        JsonNode idx = ConfigJson.load(index, "Stable Diffusion pipeline").node();
        String cls = idx.path("_class_name").asText("");
        if (!cls.equals("StableDiffusionPipeline") && !cls.equals("StableDiffusionImg2ImgPipeline") && !cls.isEmpty()) {
            throw new IllegalArgumentException(index + ": _class_name \"" + cls + "\" is not supported (StableDiffusionPipeline: SD 1.x / 2.x"
                    + (cls.contains("XL") ? "; SDXL folders run in StableDiffusionXL" : "") + ")");
        }
        for (String part : new String[] {"text_encoder", "tokenizer", "unet", "vae", "scheduler"}) {
            if (!Files.isDirectory(dir.resolve(part))) throw new IllegalArgumentException(dir + ": no " + part + "/ folder (a StableDiffusionPipeline has one)");
        }
        SchedulerConfig sched = SchedulerConfig.load(dir.resolve("scheduler"));
        ClipTokenizer tok = ClipTokenizer.load(dir.resolve("tokenizer"));
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            ClipTextModel te = Denoise.track(opened, ClipTextModel.load(device, dir.resolve("text_encoder")));
            UNet2DConditionModel un = Denoise.track(opened, UNet2DConditionModel.load(device, dir.resolve("unet")));
            AutoencoderKL va = Denoise.track(opened, AutoencoderKL.load(device, dir.resolve("vae")));
            if (te.config().hiddenSize() != un.config().crossAttentionDim()) {
                throw new IllegalArgumentException(dir + ": the text encoder's hidden_size " + te.config().hiddenSize()
                        + " is not the UNet's cross_attention_dim " + un.config().crossAttentionDim());
            }
            if (un.config().inChannels() != va.config().latentChannels() || un.config().outChannels() != va.config().latentChannels()) {
                throw new IllegalArgumentException(dir + ": the UNet takes " + un.config().inChannels() + " and gives " + un.config().outChannels()
                        + " channels but the VAE's latents have " + va.config().latentChannels()
                        + (un.config().inChannels() == 9 ? " (an inpainting UNet: not supported)" : ""));
            }
            // the tokenizer's model_max_length (77), bounded by the text encoder's position table
            int maxLen = Math.min(tok.maxLength(), te.config().maxPositions());
            return new StableDiffusion(device, tok, te, un, va, sched, maxLen);
        } catch (RuntimeException | Error e) {
            Denoise.closeAll(opened);
            throw e;
        }
    }

    public Device device() {
        return device;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    public ClipTextModel textEncoder() {
        return textEncoder;
    }

    public UNet2DConditionModel unet() {
        return unet;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    /** The folder's scheduler config (what {@link Options#scheduler} null runs, and what the others are set up from). */
    public SchedulerConfig schedulerConfig() {
        return scheduler;
    }

    /** The default image side in pixels: the UNet's sample_size × the VAE's scale factor (512 for SD 1.5, 768 for SD 2.x 768-v). */
    public int defaultSize() {
        return unet.config().sampleSize() * vae.config().upscale();
    }

    // ---------------------------------------------------------------------------------------------
    // Generation

    /**
     * The text embeddings {@code [B, L, D]} F32 of {@code prompts} (L = the tokenizer's
     * model_max_length), as {@code encode_prompt}: padded with the pad token to L, truncated past it,
     * no attention mask; {@code clipSkip} k &gt; 0 takes hidden state −(k+1) through the final LayerNorm.
     */
    public Tensor encodePrompts(List<String> prompts, int clipSkip) {
        ensureOpen();
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("encodePrompts: no prompts");
        int layers = textEncoder.config().numLayers();
        if (clipSkip < 0 || clipSkip >= layers) {
            throw new IllegalArgumentException("encodePrompts: clipSkip " + clipSkip + " is outside [0, " + layers + ") (the text encoder has " + layers + " layers)");
        }
        int[][] ids = new int[prompts.size()][];
        for (int i = 0; i < ids.length; i++) {
            String p = prompts.get(i);
            if (p == null) throw new IllegalArgumentException("encodePrompts: prompt " + i + " is null");
            ids[i] = tokenizer.encodePadded(p, maxLength);
        }
        return textEncoder.hiddenStates(ids, clipSkip);
    }

    /**
     * The final latents {@code [B, C, H/8, W/8]} F32 for {@code prompts} (B of them).
     *
     * @param negativePrompts null (the empty prompt for each), or one per prompt; used only with guidance &gt; 1
     * @throws IllegalArgumentException for no prompts, a negative-prompt count that is not the
     *                                  prompts', a size not a multiple of 8 or settings out of range
     */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, Options options, Progress progress) {
        ensureOpen();
        Options o = options == null ? Options.defaults() : options;
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("sample: no prompts");
        int b = prompts.size();
        if (negativePrompts != null && negativePrompts.size() != b) {
            throw new IllegalArgumentException("sample: " + negativePrompts.size() + " negative prompts for " + b + " prompts (give one each, or none)");
        }
        if (!Double.isFinite(o.guidance())) throw new IllegalArgumentException("sample: guidance must be finite, got " + o.guidance());
        int f = vae.config().upscale();
        int[] wh = Denoise.size("sample", o, defaultSize(), f, unet.config().downscale());
        long[] shape = {b, unet.config().inChannels(), wh[1] / f, wh[0] / f};
        Denoise.checkLatents("sample", o.latents(), shape, device);
        boolean cfg = o.guidance() > 1;
        try (Scope scope = Scope.open()) {
            Tensor text = scope.track(textStates(prompts, negativePrompts, o.clipSkip(), cfg));
            return Denoise.loop(device, scheduler, o, shape, cfg, progress, (in, t) -> unet.forward(in, t, text));
        }
    }

    /** The UNet's text states: the prompts' (with clip skip), after the negatives' ("" when none; no clip skip, as diffusers) when {@code cfg}. */
    private Tensor textStates(List<String> prompts, List<String> negativePrompts, int clipSkip, boolean cfg) {
        if (!cfg) return encodePrompts(prompts, clipSkip);
        List<String> neg = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) neg.add(negativePrompts == null ? "" : negativePrompts.get(i));
        try (Tensor unc = encodePrompts(neg, 0); Tensor cond = encodePrompts(prompts, clipSkip)) {
            return Denoise.concat(unc, cond); // [negative; prompt] as the pipeline concatenates them
        }
    }

    /** {@link #sample} then {@link #decode}: one picture per prompt. */
    public BufferedImage[] generate(List<String> prompts, List<String> negativePrompts, Options options, Progress progress) {
        try (Tensor latents = sample(prompts, negativePrompts, options, progress); Tensor images = decode(latents)) {
            return AutoencoderKL.toImages(images);
        }
    }

    /** One prompt, the pipeline's defaults otherwise (50 steps, guidance 7.5, seed 0). */
    public BufferedImage generate(String prompt) {
        return generate(List.of(prompt), null, Options.defaults(), null)[0];
    }

    /** Images {@code [B, 3, H, W]} in [-1, 1] from final latents: the VAE's {@code decode(latents / scaling_factor)}. */
    public Tensor decode(Tensor latents) {
        ensureOpen();
        return vae.decodeScaled(latents);
    }

    // ---------------------------------------------------------------------------------------------
    // Image to image (diffusers' StableDiffusionImg2ImgPipeline)

    /**
     * diffusers' {@code get_timesteps}: the evaluation an image-to-image run of {@code steps} steps
     * at {@code strength} starts at, {@code t_start = steps − min(⌊steps·strength⌋, steps)} (times
     * the scheduler's order, 1 for all four).
     *
     * @throws IllegalArgumentException for strength outside (0, 1] or ⌊steps·strength⌋ = 0 (no step would run)
     */
    public static int imageToImageStart(int steps, double strength) {
        if (!(strength > 0 && strength <= 1)) throw new IllegalArgumentException("strength must be in (0, 1], got " + strength);
        if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        int init = Math.min((int) (steps * strength), steps);
        if (init == 0) {
            throw new IllegalArgumentException("strength " + strength + " × " + steps + " steps is below one step (int(steps·strength) = 0); "
                    + "raise the strength or the steps");
        }
        return Math.max(steps - init, 0);
    }

    /**
     * Image-to-image latents, as {@code StableDiffusionImg2ImgPipeline}: the scheduler set up for
     * {@code options.steps()}, started at {@link #imageToImageStart} (the last ⌊steps·strength⌋
     * steps run; PNDM, whose list has the repeated entry, runs one more; Heun starts at evaluation 2·t_start of its
     * 2N − 1, as diffusers slices {@code timesteps[t_start·order:]}); the initial latents are
     * {@code scheduler.add_noise(encodeScaled(initImages), noise, timesteps[t_start])} with the VAE's
     * sample keyed by {@code options.seed()} ({@link AutoencoderKL#SAMPLE_STREAM}) and the noise
     * Philox ({@code options.seed()}, {@link #INIT_STREAM}); then the same guided loop as
     * {@link #sample}. The picture size is the images' ({@code options.width/height} are not used).
     * Progress counts this run's evaluations.
     *
     * @param initImages {@code [N, 3, H, W]} floating in [-1, 1] on the pipeline's device (see
     *                   {@link AutoencoderKL#fromImages}); N = the prompts' count, or a divisor of
     *                   it (the encoded latents are repeated, as diffusers does)
     * @param strength   in (0, 1]: how much noise is added (1: all steps, starting from noise at the
     *                   first timestep over the encoded image)
     * @throws IllegalArgumentException for a strength outside (0, 1] or too small for one step,
     *                                  images of the wrong shape / channel count / device, a size not
     *                                  a multiple of the VAE's × UNet's factor, given latents, or what
     *                                  {@link #sample} refuses
     * @throws IllegalStateException    when the VAE checkpoint has no encoder
     */
    public Tensor sampleFromImage(List<String> prompts, List<String> negativePrompts, Tensor initImages, double strength, Options options,
                                  Progress progress) {
        ensureOpen();
        Options o = options == null ? Options.defaults() : options;
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("sampleFromImage: no prompts");
        int b = prompts.size();
        if (negativePrompts != null && negativePrompts.size() != b) {
            throw new IllegalArgumentException("sampleFromImage: " + negativePrompts.size() + " negative prompts for " + b + " prompts (give one each, or none)");
        }
        if (!Double.isFinite(o.guidance())) throw new IllegalArgumentException("sampleFromImage: guidance must be finite, got " + o.guidance());
        if (o.latents() != null) throw new IllegalArgumentException("sampleFromImage: options give latents; image-to-image makes them from the images");
        long[] is = Denoise.checkImages("sampleFromImage", initImages, b, device, vae.config().upscale(), unet.config().downscale(), "UNet");
        int begin = imageToImageStart(o.steps(), strength);
        boolean cfg = o.guidance() > 1;
        try (DiffusersSampler s = DiffusersSampler.create(scheduler, o.scheduler(), o.steps(), o.eta(), o.seed());
             Scope scope = Scope.open()) {
            begin *= s.order(); // diffusers slices timesteps[t_start · order:] (Heun: two evaluations a step)
            s.begin(begin);
            Tensor text = scope.track(textStates(prompts, negativePrompts, o.clipSkip(), cfg));
            Tensor enc = scope.track(vae.encodeScaled(initImages, o.seed()));
            Tensor init = enc;
            for (long k = is[0]; k < b; k += is[0]) init = scope.track(Denoise.concat(init, enc)); // torch.cat([init_latents] * (B / N))
            Tensor noise = scope.track(Noise.gaussian(device, DType.F32, o.seed(), INIT_STREAM, init.shape()));
            return Denoise.run(s, s.addNoise(init, noise, begin), cfg, o.guidance(), o.guidanceRescale(), progress, (in, t) -> unet.forward(in, t, text));
        }
    }

    /** {@link #sampleFromImage} then {@link #decode}: one picture per prompt. */
    public BufferedImage[] generateFromImage(List<String> prompts, List<String> negativePrompts, Tensor initImages, double strength, Options options,
                                             Progress progress) {
        try (Tensor latents = sampleFromImage(prompts, negativePrompts, initImages, strength, options, progress); Tensor images = decode(latents)) {
            return AutoencoderKL.toImages(images);
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("StableDiffusion: closed");
    }

    /** Frees the text encoder, UNet and VAE. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Denoise.closeAll(List.of(textEncoder, unet, vae));
    }

    /** Whether {@code dir} looks like a diffusers Stable Diffusion folder (model_index.json naming a StableDiffusionPipeline). */
    public static boolean accepts(Path dir) {
        if (dir == null || !Files.isRegularFile(dir.resolve("model_index.json"))) return false;
        try {
            return Files.readString(dir.resolve("model_index.json")).contains("StableDiffusion");
        } catch (IOException e) {
            return false;
        }
    }
}
