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
import dev.surpass.model.conv.ConvOps;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.unet.UNet2DConditionConfig;
import dev.surpass.model.unet.UNet2DConditionModel;
import dev.surpass.model.vae.AutoencoderKL;
import dev.surpass.text.ClipTokenizer;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Stable Diffusion XL (base) text-to-image, as diffusers' {@code StableDiffusionXLPipeline} runs it,
 * loaded from a diffusers pipeline folder ({@code model_index.json} with {@code tokenizer/},
 * {@code tokenizer_2/}, {@code text_encoder/} (CLIPTextModel), {@code text_encoder_2/}
 * (CLIPTextModelWithProjection), {@code unet/} (a text_time UNet), {@code vae/}, {@code scheduler/})
 * onto one {@link Device}:
 * <ol>
 *   <li>{@code encode_prompt}: each prompt through both tokenizers (padded and truncated to each's
 *       model_max_length) and both encoders; each encoder's {@code hidden_states[-2]} (no final
 *       LayerNorm; clip skip k takes {@code hidden_states[-(k+2)]}, for the prompts only),
 *       concatenated on the feature axis (768 + 1280 = 2048 for SDXL); the pooled embedding is
 *       text_encoder_2's projected {@code text_embeds};</li>
 *   <li>negative conditioning with guidance &gt; 1: zeros (states and pooled) when the folder's
 *       {@code force_zeros_for_empty_prompt} is true (its default) and no negative prompt is given,
 *       else the negative prompts ("" when none) encoded the same way without clip skip;</li>
 *   <li>{@code add_time_ids} = (original size, crop top-left, target size) = (H, W, 0, 0, H, W) for
 *       every sample, negative ones included;</li>
 *   <li>the scheduler loop of {@link StableDiffusion} ([uncond; cond] batches, guidance
 *       {@code u + g·(c − u)}), the UNet called with its added conditions;</li>
 *   <li>{@link AutoencoderKL#decodeScaled} (SDXL's VAE: scaling_factor 0.13025; fp32 here, so
 *       force_upcast is moot).</li>
 * </ol>
 * Image-to-image ({@link #sampleFromImage}) is {@code StableDiffusionXLImg2ImgPipeline} on the same (base) folder; a folder
 * saved by that class loads too.
 * Not included: the refiner (one text encoder, aesthetic-score time ids), {@code prompt_2} /
 * {@code negative_prompt_2} other than the prompts themselves (both encoders get the same text, the
 * pipeline's default), {@code guidance_rescale}, {@code denoising_end}, the invisible watermark.
 * Everything computes in fp32.
 *
 * <p>Threads: a loaded pipeline is read-only; {@link #sample} may run from several threads.
 * {@link #close} frees the five models.
 */
public final class StableDiffusionXL implements AutoCloseable {
    private final Device device;
    private final ClipTokenizer tokenizer, tokenizer2;
    private final ClipTextModel textEncoder, textEncoder2;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final SchedulerConfig scheduler;
    private final ClipPair clip;
    private final boolean forceZerosForEmptyPrompt;
    private volatile boolean closed;

    private StableDiffusionXL(Device device, ClipTokenizer tokenizer, ClipTokenizer tokenizer2, ClipTextModel textEncoder, ClipTextModel textEncoder2,
                              UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfig scheduler, ClipPair clip,
                              boolean forceZeros) {
        this.device = device;
        this.tokenizer = tokenizer;
        this.tokenizer2 = tokenizer2;
        this.textEncoder = textEncoder;
        this.textEncoder2 = textEncoder2;
        this.unet = unet;
        this.vae = vae;
        this.scheduler = scheduler;
        this.clip = clip;
        this.forceZerosForEmptyPrompt = forceZeros;
    }

    /** The conditioning of a batch: text states {@code [B, L, D1 + D2]} and pooled text embeds {@code [B, P]}, both F32, owned together. */
    public record Embeddings(Tensor states, Tensor pooled) implements AutoCloseable {
        @Override
        public void close() {
            states.close();
            pooled.close();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /** Whether {@code dir} holds a model_index.json naming a StableDiffusionXLPipeline. */
    public static boolean accepts(Path dir) {
        String cls = Denoise.pipelineClass(dir);
        return cls.equals("StableDiffusionXLPipeline") || cls.equals("StableDiffusionXLImg2ImgPipeline");
    }

    /**
     * Loads a diffusers StableDiffusionXLPipeline folder onto {@code device}.
     *
     * @throws IllegalArgumentException naming the folder, file or field when it is not an SDXL base
     *                                  pipeline, a component is missing, or the components do not fit
     *                                  together (text widths vs cross_attention_dim, the two token lengths, the pooled width and
     *                                  time ids vs the UNet's add_embedding, a second encoder without a
     *                                  projection, UNet vs VAE latent channels)
     */
    public static StableDiffusionXL load(Device device, Path dir) {
        JsonNode idx = Denoise.pipelineIndex("StableDiffusionXL.load", device, dir, "StableDiffusionXLPipeline");
        Path index = dir.resolve("model_index.json");
        String cls = idx.path("_class_name").asText("");
        boolean img2imgClass = cls.equals("StableDiffusionXLImg2ImgPipeline");
        if (!cls.equals("StableDiffusionXLPipeline") && !img2imgClass) {
            throw new IllegalArgumentException(index + ": _class_name \"" + cls + "\" is not supported (StableDiffusionXLPipeline: SDXL base"
                    + (cls.contains("Inpaint") ? "; SDXL inpainting is not implemented" : "") + ")");
        }
        JsonNode te1 = idx.get("text_encoder");
        JsonNode aes = idx.get("requires_aesthetics_score");
        if ((te1 != null && te1.isArray() && te1.size() > 0 && te1.get(0).isNull()) || (aes != null && aes.asBoolean(false))) {
            throw new IllegalArgumentException(index + ": an SDXL refiner (no text_encoder, requires_aesthetics_score: its time ids carry an aesthetic "
                    + "score) is not implemented; a base folder runs text-to-image and image-to-image");
        }
        JsonNode fz = idx.get("force_zeros_for_empty_prompt");
        if (fz != null && !fz.isNull() && !fz.isBoolean()) {
            throw new IllegalArgumentException(index + ": field \"force_zeros_for_empty_prompt\" is " + fz + "; expected true or false");
        }
        boolean forceZeros = fz == null || fz.isNull() || fz.asBoolean(); // the pipeline's default is true
        Denoise.requireParts(dir, "StableDiffusionXLPipeline text-to-image", "tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "unet", "vae",
                "scheduler");
        SchedulerConfig sched = SchedulerConfig.load(dir.resolve("scheduler"));
        ClipTokenizer tok = ClipTokenizer.load(dir.resolve("tokenizer")), tok2 = ClipTokenizer.load(dir.resolve("tokenizer_2"));
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            ClipTextModel te = Denoise.track(opened, ClipTextModel.load(device, dir.resolve("text_encoder")));
            ClipTextModel te2 = Denoise.track(opened, ClipTextModel.load(device, dir.resolve("text_encoder_2")));
            UNet2DConditionModel un = Denoise.track(opened, UNet2DConditionModel.load(device, dir.resolve("unet")));
            AutoencoderKL va = Denoise.track(opened, AutoencoderKL.load(device, dir.resolve("vae")));
            UNet2DConditionConfig uc = un.config();
            if (!te2.hasProjection()) {
                throw new IllegalArgumentException(dir.resolve("text_encoder_2") + ": no text_projection.weight; SDXL's second text encoder is a "
                        + "CLIPTextModelWithProjection (its text_embeds are the pooled conditioning)");
            }
            if (!uc.textTime()) {
                throw new IllegalArgumentException(dir.resolve("unet") + ": addition_embed_type is not \"text_time\"; an SDXL UNet takes the pooled "
                        + "text embeds and time ids");
            }
            int width = te.config().hiddenSize() + te2.config().hiddenSize();
            if (width != uc.crossAttentionDim()) {
                throw new IllegalArgumentException(dir + ": the text encoders' hidden sizes " + te.config().hiddenSize() + " + "
                        + te2.config().hiddenSize() + " = " + width + " are not the UNet's cross_attention_dim " + uc.crossAttentionDim());
            }
            if (te2.config().projectionDim() != uc.textEmbedsDim()) {
                throw new IllegalArgumentException(dir + ": text_encoder_2's projection_dim " + te2.config().projectionDim() + " + 6 · addition_time_embed_dim "
                        + uc.additionTimeEmbedDim() + " is not the UNet's projection_class_embeddings_input_dim " + uc.projectionClassEmbeddingsInputDim());
            }
            if (uc.inChannels() != va.config().latentChannels() || uc.outChannels() != va.config().latentChannels()) {
                throw new IllegalArgumentException(dir + ": the UNet takes " + uc.inChannels() + " and gives " + uc.outChannels()
                        + " channels but the VAE's latents have " + va.config().latentChannels());
            }
            return new StableDiffusionXL(device, tok, tok2, te, te2, un, va, sched, ClipPair.of(dir, tok, tok2, te, te2), forceZeros);
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

    public ClipTokenizer tokenizer2() {
        return tokenizer2;
    }

    public ClipTextModel textEncoder() {
        return textEncoder;
    }

    public ClipTextModel textEncoder2() {
        return textEncoder2;
    }

    public UNet2DConditionModel unet() {
        return unet;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    public SchedulerConfig schedulerConfig() {
        return scheduler;
    }

    /** model_index.json's {@code force_zeros_for_empty_prompt} (true when absent, as the pipeline's default). */
    public boolean forceZerosForEmptyPrompt() {
        return forceZerosForEmptyPrompt;
    }

    /** The default image side in pixels: the UNet's sample_size × the VAE's scale factor (1024 for SDXL base). */
    public int defaultSize() {
        return unet.config().sampleSize() * vae.config().upscale();
    }

    // ---------------------------------------------------------------------------------------------
    // Generation

    /**
     * {@code encode_prompt} for one encoder pair and both together: the states {@code [B, L, D1 + D2]}
     * (each encoder's {@code hidden_states[-(clipSkip + 2)]}, no final LayerNorm, concatenated on the
     * features) and text_encoder_2's {@code text_embeds} {@code [B, P]}.
     *
     * @throws IllegalArgumentException for no prompts, a null prompt, or a clipSkip that leaves no layer in either encoder
     */
    public Embeddings encodePrompts(List<String> prompts, int clipSkip) {
        ensureOpen();
        int[][][] ids = clip.tokenize("encodePrompts", prompts);
        clip.checkClipSkip("encodePrompts", clipSkip);
        int b = prompts.size();
        try (ClipPair.Encoded e = clip.encode(ids, clipSkip)) {
            // the pooled conditioning is text_encoder_2's projected text_embeds; detach it from the outputs before they close
            Tensor pooled = Denoise.copy(e.out2().textEmbeds());
            try {
                return new Embeddings(e.states().reshape(b, clip.length(), clip.width()), pooled);
            } catch (RuntimeException | Error ex) {
                pooled.close();
                throw ex;
            }
        }
    }

    /** {@code add_time_ids} of one sample: (original h, w, crop top, left, target h, w) = (h, w, 0, 0, h, w). */
    public static float[] defaultTimeIds(int width, int height) {
        return new float[] {height, width, 0, 0, height, width};
    }

    /**
     * The final latents {@code [B, 4, H/8, W/8]} F32 for {@code prompts}, as {@link StableDiffusion#sample}
     * with SDXL's conditioning (see the class comment). {@code Options.clipSkip} k takes
     * {@code hidden_states[-(k+2)]} of each encoder.
     *
     * @param negativePrompts null (zeros with force_zeros_for_empty_prompt, else "" for each), or one per prompt; used only with guidance &gt; 1
     * @throws IllegalArgumentException for no prompts, a negative-prompt count that is not the
     *                                  prompts', a size not a multiple of the VAE's and UNet's factors, or settings out of range
     */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        ensureOpen();
        StableDiffusion.Options o = checkOptions("sample", prompts, negativePrompts, options);
        int b = prompts.size();
        int f = vae.config().upscale();
        int[] wh = Denoise.size("sample", o, defaultSize(), f, unet.config().downscale());
        int w = wh[0], h = wh[1];
        long[] shape = {b, unet.config().inChannels(), h / f, w / f};
        Denoise.checkLatents("sample", o.latents(), shape, device);
        boolean cfg = o.guidance() > 1;
        try (Scope scope = Scope.open()) {
            return Denoise.loop(device, scheduler, o, shape, cfg, progress, denoiser(scope, prompts, negativePrompts, o, cfg, w, h));
        }
    }

    /**
     * Image-to-image, as diffusers' {@code StableDiffusionXLImg2ImgPipeline} runs it on a base folder
     * ({@code requires_aesthetics_score} false): the scheduler started at
     * {@link StableDiffusion#imageToImageStart} (the last ⌊steps·strength⌋ steps), the initial latents
     * {@code scheduler.add_noise(scaling_factor · vae.encode(images).sample, noise, timesteps[t_start])} (the VAE's sample
     * keyed by the seed, {@link AutoencoderKL#SAMPLE_STREAM}; the noise Philox on {@link StableDiffusion#INIT_STREAM}),
     * the time ids of the pictures' size (original = target = H × W, crop 0), then the guided loop of {@link #sample}.
     *
     * @param initImages {@code [N, 3, H, W]} floating in [-1, 1] on the pipeline's device ({@link AutoencoderKL#fromImages}),
     *                   N dividing the prompts' count, H and W multiples of the VAE's × UNet's factor
     * @param strength   in (0, 1], at least one step's worth
     * @throws IllegalArgumentException as {@link #sample}, for given latents, pictures that do not fit or a bad strength
     * @throws IllegalStateException    when the VAE checkpoint has no encoder
     */
    public Tensor sampleFromImage(List<String> prompts, List<String> negativePrompts, Tensor initImages, double strength,
                                  StableDiffusion.Options options, StableDiffusion.Progress progress) {
        ensureOpen();
        StableDiffusion.Options o = checkOptions("sampleFromImage", prompts, negativePrompts, options);
        if (o.latents() != null) throw new IllegalArgumentException("sampleFromImage: options give latents; image-to-image makes them from the images");
        int b = prompts.size();
        long[] is = Denoise.checkImages("sampleFromImage", initImages, b, device, vae.config().upscale(), unet.config().downscale(), "UNet");
        int begin = StableDiffusion.imageToImageStart(o.steps(), strength);
        boolean cfg = o.guidance() > 1;
        try (DiffusersSampler s = DiffusersSampler.create(scheduler, o.scheduler(), o.steps(), o.eta(), o.seed()); Scope scope = Scope.open()) {
            s.begin(begin);
            Denoise.Model model = denoiser(scope, prompts, negativePrompts, o, cfg, (int) is[3], (int) is[2]);
            Tensor enc = scope.track(vae.encodeScaled(initImages, o.seed()));
            Tensor init = enc;
            for (long k = is[0]; k < b; k += is[0]) init = scope.track(Denoise.concat(init, enc)); // torch.cat([init_latents] * (B / N))
            Tensor noise = scope.track(Noise.gaussian(device, DType.F32, o.seed(), StableDiffusion.INIT_STREAM, init.shape()));
            return Denoise.run(s, s.addNoise(init, noise, begin), cfg, o.guidance(), o.guidanceRescale(), progress, model);
        }
    }

    /** The options (null: the shared defaults) after the checks every entry makes of them and of the prompts. */
    private static StableDiffusion.Options checkOptions(String where, List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options) {
        StableDiffusion.Options o = options == null ? StableDiffusion.Options.defaults() : options;
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException(where + ": no prompts");
        int b = prompts.size();
        if (negativePrompts != null && negativePrompts.size() != b) {
            throw new IllegalArgumentException(where + ": " + negativePrompts.size() + " negative prompts for " + b + " prompts (give one each, or none)");
        }
        if (!Double.isFinite(o.guidance())) throw new IllegalArgumentException(where + ": guidance must be finite, got " + o.guidance());
        return o;
    }

    /**
     * The model of the loop: the conditioning ({@code [negative; prompt]} with guidance, the negative side zeros under
     * force_zeros_for_empty_prompt when no negative prompts are given) owned by {@code scope}, the time ids of a
     * {@code w × h} picture, and the UNet on them.
     */
    private Denoise.Model denoiser(Scope scope, List<String> prompts, List<String> negativePrompts, StableDiffusion.Options o, boolean cfg, int w, int h) {
        int b = prompts.size();
        Embeddings cond = encodePrompts(prompts, o.clipSkip());
        scope.track(cond.states());
        scope.track(cond.pooled());
        Tensor states = cond.states(), pooled = cond.pooled();
        if (cfg) {
            Tensor us, up;
            if (negativePrompts == null && forceZerosForEmptyPrompt) {
                us = scope.track(device.zeros(DType.F32, states.shape()));
                up = scope.track(device.zeros(DType.F32, pooled.shape()));
            } else {
                List<String> neg = new ArrayList<>();
                for (int i = 0; i < b; i++) neg.add(negativePrompts == null ? "" : negativePrompts.get(i));
                Embeddings unc = encodePrompts(neg, 0); // diffusers encodes the negative prompts without clip skip
                us = scope.track(unc.states());
                up = scope.track(unc.pooled());
            }
            states = scope.track(Denoise.concat(us, states));
            pooled = scope.track(Denoise.concat(up, pooled));
        }
        int rows = (int) states.dim(0);
        float[] one = defaultTimeIds(w, h), ids = new float[rows * one.length];
        for (int i = 0; i < rows; i++) System.arraycopy(one, 0, ids, i * one.length, one.length);
        Tensor ctx = states, text = pooled;
        return (in, t) -> unet.forward(in, t, ctx, text, ids);
    }

    /** {@link #sample} then {@link #decode}: one picture per prompt. */
    public BufferedImage[] generate(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        try (Tensor latents = sample(prompts, negativePrompts, options, progress); Tensor images = decode(latents)) {
            return AutoencoderKL.toImages(images);
        }
    }

    /** Images {@code [B, 3, H, W]} in [-1, 1] from final latents: the VAE's {@code decode(latents / scaling_factor)}. */
    public Tensor decode(Tensor latents) {
        ensureOpen();
        return vae.decodeScaled(latents);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("StableDiffusionXL: closed");
    }

    /** Frees both text encoders, the UNet and the VAE. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Denoise.closeAll(List.of(textEncoder, textEncoder2, unet, vae));
    }
}
