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
import dev.surpass.model.clip.ClipTextModel;
import dev.surpass.model.clip.ClipTextOutput;
import dev.surpass.model.flux.FluxTransformer2DModel;
import dev.surpass.model.flux.FluxTransformerConfig;
import dev.surpass.model.t5.T5Encoder;
import dev.surpass.model.vae.AutoencoderKL;
import dev.surpass.text.ClipTokenizer;
import dev.surpass.text.Tokenizer;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * FLUX.1 text-to-image (dev, schnell), as diffusers' {@code FluxPipeline} runs it, loaded from a diffusers pipeline
 * folder ({@code model_index.json} with {@code tokenizer/} + {@code text_encoder/} (a CLIPTextModel),
 * {@code tokenizer_2/} + {@code text_encoder_2/} (a T5EncoderModel), {@code transformer/} (a
 * {@link FluxTransformer2DModel}), {@code vae/} (16 latent channels, with shift_factor), {@code scheduler/}
 * (FlowMatchEulerDiscreteScheduler)) onto one {@link Device}:
 * <ol>
 *   <li>{@code encode_prompt}: the CLIP encoder's {@code pooler_output} of the prompt padded / truncated to 77
 *       (the pooled conditioning), and the T5 encoder's last hidden state of the prompt padded / truncated to
 *       {@code max_sequence_length} (512; {@code </s>} kept, no attention mask, as diffusers calls it); the text
 *       tokens' ids are zeros;</li>
 *   <li>latents {@code [B, 16, H/8, W/8]} of Philox Gaussian noise (or given), packed into 2×2 patches
 *       {@code [B, (H/16)·(W/16), 64]} as {@code _pack_latents} does, each patch's id {@code (0, row, column)};</li>
 *   <li>the schedule {@code set_timesteps(sigmas = linspace(1, 1/N, N), mu = calculate_shift(tokens))}
 *       ({@link DiffusersSampler#createFlow}: FLUX.1-dev's scheduler shifts by the image's token count,
 *       schnell's uses its fixed shift 1); per step the transformer at {@code t/1000} with the distilled guidance
 *       ({@code guidance_scale}, only for a transformer with {@code guidance_embeds}) and {@code x + (σ' − σ)·v};
 *       true classifier-free guidance ({@code true_cfg_scale} &gt; 1 with negative prompts given) runs
 *       {@code [negative; prompt]} and guides {@code u + s·(c − u)};</li>
 *   <li>{@code _unpack_latents}, then {@link AutoencoderKL#decodeScaled}: {@code decode(latents / scaling_factor + shift_factor)}.</li>
 * </ol>
 * Image-to-image ({@link #sampleFromImage}) follows {@code FluxImg2ImgPipeline} on the same folder.
 * Not included: {@code prompt_2} other than the prompt itself (the pipeline's default), inpainting, Kontext, Fill,
 * ControlNet, IP adapters, LoRA. Everything computes in fp32.
 *
 * <p>Threads: a loaded pipeline is read-only; {@link #sample} may run from several threads. {@link #close} frees the models.
 */
public final class FluxPipeline implements AutoCloseable {
    /** diffusers' {@code max_sequence_length} default (and its maximum): the T5 tokens. */
    public static final int MAX_SEQUENCE_LENGTH = 512;
    /** diffusers' {@code default_sample_size}: 128 latent pixels, × the VAE's factor (1024 pixels). */
    public static final int DEFAULT_SAMPLE_SIZE = 128;

    private final Device device;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final Tokenizer tokenizer2;
    private final T5Encoder textEncoder2;
    private final FluxTransformer2DModel transformer;
    private final AutoencoderKL vae;
    private final SchedulerConfig scheduler;
    private final int clipLength;
    private volatile boolean closed;

    private FluxPipeline(Device device, ClipTokenizer tokenizer, ClipTextModel textEncoder, Tokenizer tokenizer2, T5Encoder textEncoder2,
                         FluxTransformer2DModel transformer, AutoencoderKL vae, SchedulerConfig scheduler) {
        this.device = device;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.tokenizer2 = tokenizer2;
        this.textEncoder2 = textEncoder2;
        this.transformer = transformer;
        this.vae = vae;
        this.scheduler = scheduler;
        this.clipLength = Math.min(tokenizer.maxLength(), textEncoder.config().maxPositions());
    }

    /** The conditioning of a batch: T5 states {@code [B, maxSequenceLength, joint_attention_dim]} and pooled {@code [B, pooled_projection_dim]}, F32, owned together. */
    public record Embeddings(Tensor states, Tensor pooled) implements AutoCloseable {
        @Override
        public void close() {
            states.close();
            pooled.close();
        }
    }

    /**
     * What {@link #sample} takes beyond the shared {@link StableDiffusion.Options} (whose {@code guidance} is Flux's
     * distilled {@code guidance_scale}).
     *
     * @param trueCfgScale      {@code true_cfg_scale}: real classifier-free guidance with the negative prompts when &gt; 1 (1: off)
     * @param maxSequenceLength the T5 tokens, in [1, 512]
     * @param sigmas            the schedule's sigmas (null: diffusers' {@code linspace(1, 1/N, N)}), N = the options' steps
     */
    public record FluxOptions(double trueCfgScale, int maxSequenceLength, double[] sigmas) {
        public FluxOptions {
            if (!Double.isFinite(trueCfgScale)) throw new IllegalArgumentException("FluxOptions: trueCfgScale must be finite, got " + trueCfgScale);
            if (maxSequenceLength < 1 || maxSequenceLength > MAX_SEQUENCE_LENGTH) {
                throw new IllegalArgumentException("FluxOptions: maxSequenceLength " + maxSequenceLength + " is outside [1, " + MAX_SEQUENCE_LENGTH + "]");
            }
            sigmas = sigmas == null ? null : sigmas.clone();
        }

        /** diffusers' defaults: true_cfg_scale 1, max_sequence_length 512, its own sigmas. */
        public static FluxOptions defaults() {
            return new FluxOptions(1.0, MAX_SEQUENCE_LENGTH, null);
        }

        public FluxOptions withTrueCfgScale(double s) {
            return new FluxOptions(s, maxSequenceLength, sigmas);
        }

        public FluxOptions withMaxSequenceLength(int n) {
            return new FluxOptions(trueCfgScale, n, sigmas);
        }

        public FluxOptions withSigmas(double[] s) {
            return new FluxOptions(trueCfgScale, maxSequenceLength, s);
        }

        @Override
        public double[] sigmas() {
            return sigmas == null ? null : sigmas.clone();
        }
    }

    /** diffusers' {@code FluxPipeline.__call__} defaults: 28 steps, guidance_scale 3.5 (FLUX.1-schnell is run with 4 steps and guidance 0). */
    public static StableDiffusion.Options defaults() {
        return StableDiffusion.Options.defaults().withSteps(28).withGuidance(3.5);
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /** Whether {@code dir} holds a model_index.json naming a FluxPipeline. */
    public static boolean accepts(Path dir) {
        return Denoise.pipelineClass(dir).equals("FluxPipeline");
    }

    /**
     * Loads a diffusers FluxPipeline folder onto {@code device}.
     *
     * @throws IllegalArgumentException naming the folder, file or field when it is not a Flux pipeline, a component is
     *                                  missing, or the components do not fit together (CLIP's width vs
     *                                  pooled_projection_dim, T5's d_model vs joint_attention_dim, the transformer's
     *                                  channels vs 4 × the VAE's latent channels, a scheduler that is not flow matching)
     */
    public static FluxPipeline load(Device device, Path dir) {
        JsonNode idx = Denoise.pipelineIndex("FluxPipeline.load", device, dir, "FluxPipeline");
        String cls = idx.path("_class_name").asText("");
        if (!cls.equals("FluxPipeline")) {
            throw new IllegalArgumentException(dir.resolve("model_index.json") + ": _class_name \"" + cls + "\" is not supported (FluxPipeline: FLUX.1 "
                    + "text-to-image" + (cls.startsWith("Flux") ? "; the other Flux pipelines (image-to-image, fill, Kontext, ControlNet) are not implemented" : "")
                    + ")");
        }
        Denoise.requireParts(dir, cls, "tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "transformer", "vae", "scheduler");
        SchedulerConfig sched = SchedulerConfig.load(dir.resolve("scheduler"));
        if (sched.className() != null && !sched.isFlowMatching()) {
            throw new IllegalArgumentException(dir.resolve("scheduler") + ": _class_name " + sched.className()
                    + " is not a flow-matching scheduler (Flux ships FlowMatchEulerDiscreteScheduler)");
        }
        ClipTokenizer tok = ClipTokenizer.load(dir.resolve("tokenizer"));
        Tokenizer tok2 = Tokenizer.load(Denoise.t5TokenizerFile(dir.resolve("tokenizer_2")));
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            ClipTextModel te = Denoise.track(opened, ClipTextModel.load(device, dir.resolve("text_encoder")));
            T5Encoder te2 = Denoise.track(opened, T5Encoder.load(device, dir.resolve("text_encoder_2")));
            FluxTransformer2DModel tr = Denoise.track(opened, FluxTransformer2DModel.load(device, dir.resolve("transformer")));
            AutoencoderKL va = Denoise.track(opened, AutoencoderKL.load(device, dir.resolve("vae")));
            FluxTransformerConfig tc = tr.config();
            if (te.config().hiddenSize() != tc.pooledProjectionDim()) {
                throw new IllegalArgumentException(dir + ": text_encoder's hidden size " + te.config().hiddenSize() + " (its pooler_output) is not the "
                        + "transformer's pooled_projection_dim " + tc.pooledProjectionDim());
            }
            if (te2.hiddenSize() != tc.jointAttentionDim()) {
                throw new IllegalArgumentException(dir + ": text_encoder_2's d_model " + te2.hiddenSize() + " is not the transformer's joint_attention_dim "
                        + tc.jointAttentionDim());
            }
            int lat = va.config().latentChannels();
            if (tc.inChannels() != 4 * lat || tc.outChannels() != 4 * lat) {
                throw new IllegalArgumentException(dir + ": the transformer takes " + tc.inChannels() + " and gives " + tc.outChannels()
                        + " channels but FluxPipeline packs the VAE's " + lat + " latent channels in 2×2 patches (" + 4 * lat + ")");
            }
            return new FluxPipeline(device, tok, te, tok2, te2, tr, va, sched);
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

    public Tokenizer tokenizer2() {
        return tokenizer2;
    }

    public T5Encoder textEncoder2() {
        return textEncoder2;
    }

    public FluxTransformer2DModel transformer() {
        return transformer;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    public SchedulerConfig schedulerConfig() {
        return scheduler;
    }

    /** The default image side in pixels: 128 × the VAE's scale factor (1024 for FLUX.1). */
    public int defaultSize() {
        return DEFAULT_SAMPLE_SIZE * vae.config().upscale();
    }

    // ---------------------------------------------------------------------------------------------
    // Generation

    /**
     * {@code encode_prompt}: T5 states {@code [B, maxSequenceLength, joint_attention_dim]} and CLIP's pooled output
     * {@code [B, hidden]} (see the class comment).
     *
     * @throws IllegalArgumentException for no prompts, a null prompt or a maxSequenceLength outside [1, 512]
     */
    public Embeddings encodePrompts(List<String> prompts, int maxSequenceLength) {
        ensureOpen();
        String where = "encodePrompts";
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException(where + ": no prompts");
        for (int i = 0; i < prompts.size(); i++) if (prompts.get(i) == null) throw new IllegalArgumentException(where + ": prompt " + i + " is null");
        if (maxSequenceLength < 1 || maxSequenceLength > MAX_SEQUENCE_LENGTH) {
            throw new IllegalArgumentException(where + ": maxSequenceLength " + maxSequenceLength + " is outside [1, " + MAX_SEQUENCE_LENGTH + "]");
        }
        int b = prompts.size();
        int[][] ids = new int[b][];
        for (int i = 0; i < b; i++) ids[i] = tokenizer.encodePadded(prompts.get(i), clipLength);
        int[][] ids2 = Denoise.t5Ids(tokenizer2, textEncoder2, prompts, maxSequenceLength);
        Tensor states = textEncoder2.forward(ids2, null);
        try (ClipTextOutput o = textEncoder.forward(ids)) {
            return new Embeddings(states, Denoise.copy(o.pooled()));
        } catch (RuntimeException | Error e) {
            states.close();
            throw e;
        }
    }

    /** {@link #sample(List, List, StableDiffusion.Options, FluxOptions, StableDiffusion.Progress)} with {@link FluxOptions#defaults()}. */
    public Tensor sample(List<String> prompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        return sample(prompts, null, options, FluxOptions.defaults(), progress);
    }

    /**
     * The final latents {@code [B, 16, H/8, W/8]} F32 (unpacked: what the VAE decodes) for {@code prompts} (see the
     * class comment). {@code options} null: {@link #defaults()}; its {@code guidance} is the distilled guidance scale
     * (ignored by a transformer without guidance embeddings, as in diffusers), its {@code latents} may be given packed
     * {@code [B, (H/16)·(W/16), 64]} as diffusers takes them or unpacked {@code [B, 16, H/8, W/8]}; {@code eta},
     * {@code clipSkip} and {@code guidanceRescale} must be left at their defaults.
     *
     * @param negativePrompts null, or one per prompt: used only with {@code trueCfgScale > 1}
     * @throws IllegalArgumentException for no prompts, a negative-prompt count that is not the prompts', a size not a
     *                                  multiple of 16 (the VAE's ×8 and the 2×2 packing), a scheduler other than
     *                                  flow-euler, sigmas not matching the steps, or given latents of another shape
     */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, FluxOptions flux,
                         StableDiffusion.Progress progress) {
        ensureOpen();
        String where = "sample";
        StableDiffusion.Options o = checkOptions(where, prompts, negativePrompts, options);
        FluxOptions fo = flux == null ? FluxOptions.defaults() : flux;
        int f = vae.config().upscale();
        int[] wh = Denoise.size(where, o, defaultSize(), f, 2, "2×2 packing");
        int h = wh[1] / f, w = wh[0] / f, tokens = (h / 2) * (w / 2);
        long[] shape = {prompts.size(), vae.config().latentChannels(), h, w};
        try (DiffusersSampler s = sampler(where, o, fo, tokens)) {
            Tensor x0;
            if (o.latents() != null) {
                x0 = givenLatents(where, o.latents(), shape, tokens);
            } else {
                try (Tensor z = Noise.gaussian(device, DType.F32, o.seed(), StableDiffusion.INIT_STREAM, shape)) {
                    x0 = pack(z);
                }
            }
            return denoise(s, x0, prompts, negativePrompts, o, fo, h, w, progress);
        }
    }

    /**
     * Image-to-image as diffusers' {@code FluxImg2ImgPipeline} runs it on the same folder: the pictures encoded
     * ({@code (sample − shift_factor)·scaling_factor}, the posterior sampled with Philox keyed by the seed), repeated over
     * the prompts, {@code scale_noise} to the first kept sigma ({@code σ·noise + (1 − σ)·x0}, noise on stream
     * {@link StableDiffusion#INIT_STREAM}), packed, and the loop of {@link #sample} from
     * {@code t_start = int(max(N − min(N·strength, N), 0))} of the same shifted schedule (μ from the pictures' token count).
     * Returns the final latents, unpacked, at the pictures' size.
     *
     * @param initImages {@code [N, 3, H, W]} in [-1, 1] ({@link AutoencoderKL#fromImages}), N dividing the prompts' count,
     *                   H and W multiples of the VAE's factor × 2
     * @param strength   in (0, 1]; at least one step must be left to run (diffusers' default is 0.6)
     * @throws IllegalArgumentException as {@link #sample}, for given latents in the options, pictures that do not fit, or a
     *                                  strength outside (0, 1] or too small for one step
     * @throws IllegalStateException    when the VAE checkpoint has no encoder
     */
    public Tensor sampleFromImage(List<String> prompts, List<String> negativePrompts, Tensor initImages, double strength,
                                  StableDiffusion.Options options, FluxOptions flux, StableDiffusion.Progress progress) {
        ensureOpen();
        String where = "sampleFromImage";
        StableDiffusion.Options o = checkOptions(where, prompts, negativePrompts, options);
        FluxOptions fo = flux == null ? FluxOptions.defaults() : flux;
        if (o.latents() != null) throw new IllegalArgumentException(where + ": options give latents; image-to-image makes them from the images");
        int b = prompts.size(), f = vae.config().upscale();
        long[] is = Denoise.checkImages(where, initImages, b, device, f, 2, "2×2 packing");
        if (!(strength > 0 && strength <= 1)) throw new IllegalArgumentException(where + ": strength must be in (0, 1], got " + strength);
        int n = o.steps();
        int begin = (int) Math.max(n - Math.min(n * strength, n), 0);
        if (begin >= n) {
            throw new IllegalArgumentException(where + ": strength " + strength + " × " + n + " steps leaves no step to run; raise the strength or the steps");
        }
        int h = (int) is[2] / f, w = (int) is[3] / f;
        try (DiffusersSampler s = sampler(where, o, fo, (h / 2) * (w / 2)); Scope scope = Scope.open()) {
            s.begin(begin);
            Tensor enc = scope.track(vae.encodeScaled(initImages, o.seed()));
            Tensor init = enc;
            for (long k = is[0]; k < b; k += is[0]) init = scope.track(Denoise.concat(init, enc)); // torch.cat([image_latents] * (B / N))
            Tensor noise = scope.track(Noise.gaussian(device, DType.F32, o.seed(), StableDiffusion.INIT_STREAM, init.shape()));
            Tensor x0 = pack(scope.track(s.addNoise(init, noise, begin)));
            return denoise(s, x0, prompts, negativePrompts, o, fo, h, w, progress);
        }
    }

    /** The options (null: {@link #defaults()}) after the checks every entry makes of them and of the prompts. */
    private StableDiffusion.Options checkOptions(String where, List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options) {
        StableDiffusion.Options o = options == null ? defaults() : options;
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException(where + ": no prompts");
        int b = prompts.size();
        if (negativePrompts != null && negativePrompts.size() != b) {
            throw new IllegalArgumentException(where + ": " + negativePrompts.size() + " negative prompts for " + b + " prompts (give one each, or none)");
        }
        if (!Double.isFinite(o.guidance())) throw new IllegalArgumentException(where + ": guidance must be finite, got " + o.guidance());
        if (o.guidanceRescale() != 0) throw new IllegalArgumentException(where + ": guidanceRescale " + o.guidanceRescale() + " — FluxPipeline has none");
        if (o.clipSkip() != 0) throw new IllegalArgumentException(where + ": clipSkip " + o.clipSkip() + " — FluxPipeline uses CLIP's pooled output only");
        if (o.scheduler() != null && o.scheduler() != DiffusersSampler.Kind.FLOW_EULER) {
            throw new IllegalArgumentException(where + ": scheduler " + o.scheduler() + " — Flux is a flow-matching model: only flow-euler "
                    + "(FlowMatchEulerDiscreteScheduler) samples it");
        }
        return o;
    }

    /** {@code set_timesteps(sigmas, mu = calculate_shift(tokens))}: the options' sigmas or diffusers' {@code linspace(1, 1/N, N)}. */
    private DiffusersSampler sampler(String where, StableDiffusion.Options o, FluxOptions fo, int tokens) {
        int n = o.steps();
        int t = scheduler.numTrainTimesteps();
        if (n < 1 || n > t) throw new IllegalArgumentException(where + ": steps must be in [1, " + t + "] (num_train_timesteps), got " + n);
        double[] sigmas = fo.sigmas() != null ? fo.sigmas() : linspaceSigmas(n);
        if (sigmas.length != n) throw new IllegalArgumentException(where + ": " + sigmas.length + " sigmas for " + n + " steps");
        return DiffusersSampler.createFlow(scheduler, n, sigmas, scheduler.flow().mu(tokens), o.seed());
    }

    /**
     * The loop from packed latents {@code x0} (taken over) at the sampler's start: the prompts (and, for true CFG, the
     * negative prompts) encoded, the transformer per step, the final latents unpacked to {@code [B, C, h, w]}.
     */
    private Tensor denoise(DiffusersSampler s, Tensor x0, List<String> prompts, List<String> negativePrompts, StableDiffusion.Options o,
                           FluxOptions fo, int h, int w, StableDiffusion.Progress progress) {
        boolean trueCfg = fo.trueCfgScale() > 1 && negativePrompts != null;
        float[] imgIds = imageIds(h / 2, w / 2), txtIds = new float[fo.maxSequenceLength() * 3];
        boolean embedsGuidance = transformer.config().guidanceEmbeds();
        try (Scope scope = Scope.open()) {
            Tensor states, pooled;
            try {
                Embeddings cond = encodePrompts(prompts, fo.maxSequenceLength());
                scope.track(cond.states());
                scope.track(cond.pooled());
                states = cond.states();
                pooled = cond.pooled();
                if (trueCfg) {
                    Embeddings unc = encodePrompts(negativePrompts, fo.maxSequenceLength());
                    scope.track(unc.states());
                    scope.track(unc.pooled());
                    states = scope.track(Denoise.concat(unc.states(), states));
                    pooled = scope.track(Denoise.concat(unc.pooled(), pooled));
                }
            } catch (RuntimeException | Error e) {
                x0.close();
                throw e;
            }
            Tensor ctx = states, text = pooled;
            Denoise.Model model = (in, t) -> {
                int rows = (int) in.dim(0);
                float[] ts = new float[rows], g = embedsGuidance ? new float[rows] : null;
                for (int k = 0; k < rows; k++) {
                    ts[k] = t[k] / 1000f; // the pipeline passes timestep / 1000 (float32); the transformer scales it back
                    if (g != null) g[k] = (float) o.guidance();
                }
                return transformer.forward(in, ctx, text, ts, imgIds, txtIds, g);
            };
            try (Tensor packed = Denoise.run(s, x0, trueCfg, fo.trueCfgScale(), 0, progress, model)) {
                return unpack(packed, h, w);
            }
        }
    }

    /** {@link #sample} then {@link #decode}: one picture per prompt. */
    public BufferedImage[] generate(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, FluxOptions flux,
                                    StableDiffusion.Progress progress) {
        try (Tensor latents = sample(prompts, negativePrompts, options, flux, progress); Tensor images = decode(latents)) {
            return AutoencoderKL.toImages(images);
        }
    }

    /** Images {@code [B, 3, H, W]} in [-1, 1] from final (unpacked) latents: the VAE's {@code decode(latents / scaling_factor + shift_factor)}. */
    public Tensor decode(Tensor latents) {
        ensureOpen();
        return vae.decodeScaled(latents);
    }

    /** FluxPipeline's default sigmas, {@code np.linspace(1.0, 1 / N, N)} (float64). */
    static double[] linspaceSigmas(int n) {
        if (n < 1) throw new IllegalArgumentException("sample: steps must be >= 1, got " + n);
        double[] s = new double[n];
        double lo = 1.0 / n, step = n == 1 ? 0 : (lo - 1.0) / (n - 1);
        for (int i = 0; i < n; i++) s[i] = (n > 1 && i == n - 1) ? lo : 1.0 + i * step;
        return s;
    }

    /** {@code _prepare_latent_image_ids}: {@code [rows·cols, 3]} row-major with (0, row, column) per packed token. */
    static float[] imageIds(int rows, int cols) {
        float[] ids = new float[rows * cols * 3];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int k = (r * cols + c) * 3;
                ids[k + 1] = r;
                ids[k + 2] = c;
            }
        }
        return ids;
    }

    /**
     * {@code _pack_latents}: {@code [B, C, h, w]} → view {@code [B, C, h/2, 2, w/2, 2]}, permute (0, 2, 4, 1, 3, 5) →
     * {@code [B, (h/2)·(w/2), C·4]}; on the host (the latents are small beside the transformer), a new tensor.
     */
    static Tensor pack(Tensor x) {
        int b = (int) x.dim(0), c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        float[] v = x.toFloatArray(), out = new float[v.length];
        int hh = h / 2, ww = w / 2;
        for (int n = 0; n < b; n++) {
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int xx = 0; xx < w; xx++) {
                        int token = (y / 2) * ww + xx / 2, feature = ch * 4 + (y % 2) * 2 + xx % 2;
                        out[(n * hh * ww + token) * c * 4 + feature] = v[((n * c + ch) * h + y) * w + xx];
                    }
                }
            }
        }
        return x.device().upload(DType.F32, out, b, (long) hh * ww, c * 4L);
    }

    /** {@code _unpack_latents}: the inverse of {@link #pack}, {@code [B, (h/2)·(w/2), C·4]} → {@code [B, C, h, w]}; a new tensor. */
    static Tensor unpack(Tensor p, int h, int w) {
        int b = (int) p.dim(0), c = (int) (p.dim(2) / 4), hh = h / 2, ww = w / 2;
        float[] v = p.toFloatArray(), out = new float[v.length];
        for (int n = 0; n < b; n++) {
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int xx = 0; xx < w; xx++) {
                        int token = (y / 2) * ww + xx / 2, feature = ch * 4 + (y % 2) * 2 + xx % 2;
                        out[((n * c + ch) * h + y) * w + xx] = v[(n * hh * ww + token) * c * 4 + feature];
                    }
                }
            }
        }
        return p.device().upload(DType.F32, out, b, c, h, w);
    }

    /** Given latents, packed {@code [B, tokens, 4C]} (a copy) or unpacked {@code [B, C, h, w]} (packed), F32 on the pipeline's device. */
    private Tensor givenLatents(String where, Tensor l, long[] shape, int tokens) {
        long[] packed = {shape[0], tokens, shape[1] * 4};
        if (!l.isClosed() && l.dtype() == DType.F32 && l.device().sameAs(device)) {
            if (Arrays.equals(l.shape(), packed)) return Denoise.copy(l);
            if (Arrays.equals(l.shape(), shape)) return pack(l);
        }
        throw new IllegalArgumentException(where + ": latents are " + (l.isClosed() ? "closed" : l.describe()) + "; expected F32 "
                + Shapes.toString(packed) + " (packed, as diffusers takes them) or " + Shapes.toString(shape) + " on " + device.name());
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("FluxPipeline: closed");
    }

    /** Frees the text encoders, the transformer and the VAE. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Denoise.closeAll(List.of(textEncoder, textEncoder2, transformer, vae));
    }
}
