package dev.surpass.model.sd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.Noise;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.layers.Elementwise;
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
import java.util.Arrays;
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
 *       Euler / DPM-Solver++(2M) set up from its config as diffusers' {@code from_config} does): the
 *       {@link UNet2DConditionModel} on {@code [x; x]·scale} with {@code [negative; prompt]} embeddings
 *       when guidance &gt; 1 ("" when no negative prompt is given), diffusers' guidance
 *       {@code u + g·(c − u)}, the scheduler step;</li>
 *   <li>{@link AutoencoderKL#decodeScaled} and {@link AutoencoderKL#toImages}.</li>
 * </ol>
 * Not included: the safety checker (its folder is ignored), {@code guidance_rescale}, image-to-image
 * and inpainting (no VAE encoder), SDXL (refused by name: {@link StableDiffusionXL} runs it).
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
     */
    public record Options(int width, int height, int steps, double guidance, DiffusersSampler.Kind scheduler, long seed, double eta,
                          int clipSkip, Tensor latents) {
        public static Options defaults() {
            return new Options(0, 0, 50, 7.5, null, 0, 0, 0, null);
        }

        public Options withSize(int w, int h) {
            return new Options(w, h, steps, guidance, scheduler, seed, eta, clipSkip, latents);
        }

        public Options withSteps(int n) {
            return new Options(width, height, n, guidance, scheduler, seed, eta, clipSkip, latents);
        }

        public Options withGuidance(double g) {
            return new Options(width, height, steps, g, scheduler, seed, eta, clipSkip, latents);
        }

        public Options withScheduler(DiffusersSampler.Kind k) {
            return new Options(width, height, steps, guidance, k, seed, eta, clipSkip, latents);
        }

        public Options withSeed(long s) {
            return new Options(width, height, steps, guidance, scheduler, s, eta, clipSkip, latents);
        }

        public Options withEta(double e) {
            return new Options(width, height, steps, guidance, scheduler, seed, e, clipSkip, latents);
        }

        public Options withClipSkip(int k) {
            return new Options(width, height, steps, guidance, scheduler, seed, eta, k, latents);
        }

        public Options withLatents(Tensor l) {
            return new Options(width, height, steps, guidance, scheduler, seed, eta, clipSkip, l);
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
            ClipTextModel te = track(opened, ClipTextModel.load(device, dir.resolve("text_encoder")));
            UNet2DConditionModel un = track(opened, UNet2DConditionModel.load(device, dir.resolve("unet")));
            AutoencoderKL va = track(opened, AutoencoderKL.load(device, dir.resolve("vae")));
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
            closeAll(opened);
            throw e;
        }
    }

    private static <T extends AutoCloseable> T track(List<AutoCloseable> opened, T t) {
        opened.add(t);
        return t;
    }

    private static void closeAll(List<AutoCloseable> opened) {
        for (AutoCloseable c : opened) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing after a failed load: the first error is the one to report
            }
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
        int w = o.width() == 0 ? defaultSize() : o.width(), h = o.height() == 0 ? (o.width() == 0 ? defaultSize() : w) : o.height();
        int down = unet.config().downscale();
        int multiple = f * down;
        if (w <= 0 || h <= 0 || w % multiple != 0 || h % multiple != 0 || (long) w * h > (1L << 26)) {
            throw new IllegalArgumentException("sample: image size " + w + "×" + h + " must be positive multiples of " + multiple
                    + " (the VAE's ×" + f + " and the UNet's ×" + down + ") and at most 2^26 pixels");
        }
        long[] shape = {b, unet.config().inChannels(), h / f, w / f};
        if (o.latents() != null) {
            Tensor l = o.latents();
            if (l.isClosed() || !Arrays.equals(l.shape(), shape) || l.dtype() != DType.F32 || !l.device().sameAs(device)) {
                throw new IllegalArgumentException("sample: latents are " + (l.isClosed() ? "closed" : l.describe()) + "; expected F32 "
                        + Shapes.toString(shape) + " on " + device.name());
            }
        }
        boolean cfg = o.guidance() > 1;
        try (DiffusersSampler s = DiffusersSampler.create(scheduler, o.scheduler(), o.steps(), o.eta(), o.seed());
             Scope scope = Scope.open()) {
            // [negative; prompt] as the pipeline concatenates them (negative without clip skip, as diffusers)
            Tensor cond = scope.track(encodePrompts(prompts, o.clipSkip()));
            Tensor text = cond;
            if (cfg) {
                List<String> neg = new ArrayList<>();
                for (int i = 0; i < b; i++) neg.add(negativePrompts == null ? "" : negativePrompts.get(i));
                Tensor unc = scope.track(encodePrompts(neg, 0));
                text = scope.track(concat(unc, cond));
            }
            Tensor x = o.latents() != null ? copy(o.latents()) : initialLatents(shape, o.seed(), s.initNoiseSigma());
            try {
                int n = s.evaluations();
                for (int i = 0; i < n; i++) {
                    Tensor next;
                    try (Scope step = Scope.open()) {
                        double sc = s.inputScale(i);
                        Tensor in = sc == 1 ? x : step.track(Elementwise.scale(x, (float) sc));
                        if (cfg) in = step.track(concat(in, in));
                        float[] t = new float[(int) in.dim(0)];
                        Arrays.fill(t, s.timestep(i));
                        Tensor eps = step.track(unet.forward(in, t, text));
                        next = s.step(x, eps, i, cfg ? o.guidance() : 1);
                    }
                    x.close();
                    x = next;
                    if (progress != null) progress.step(i + 1, n);
                }
                return x;
            } catch (RuntimeException | Error e) {
                x.close();
                throw e;
            }
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

    private Tensor initialLatents(long[] shape, long seed, double sigma) {
        try (Tensor z = Noise.gaussian(device, DType.F32, seed, INIT_STREAM, shape)) {
            return Elementwise.scale(z, (float) sigma);
        }
    }

    private static Tensor concat(Tensor a, Tensor b) {
        long[] shape = a.shape();
        shape[0] = a.dim(0) + b.dim(0);
        Tensor out = a.device().allocate(a.dtype(), shape);
        a.device().backend().copy(a.storage(), a.byteOffset(), out.storage(), out.byteOffset(), a.byteSize());
        a.device().backend().copy(b.storage(), b.byteOffset(), out.storage(), out.byteOffset() + a.byteSize(), b.byteSize());
        return out;
    }

    private static Tensor copy(Tensor t) {
        Tensor c = t.device().allocate(t.dtype(), t.shape());
        t.device().backend().copy(t.storage(), t.byteOffset(), c.storage(), c.byteOffset(), t.byteSize());
        return c;
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("StableDiffusion: closed");
    }

    /** Frees the text encoder, UNet and VAE. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        closeAll(List.of(textEncoder, unet, vae));
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
