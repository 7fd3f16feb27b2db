package dev.surpass.model.sd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.layers.Elementwise;
import dev.surpass.model.clip.ClipTextModel;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.sd3.SD3Transformer2DModel;
import dev.surpass.model.sd3.SD3TransformerConfig;
import dev.surpass.model.t5.T5Encoder;
import dev.surpass.model.vae.AutoencoderKL;
import dev.surpass.text.ClipTokenizer;
import dev.surpass.text.Tokenizer;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Stable Diffusion 3 / 3.5 text-to-image, as diffusers' {@code StableDiffusion3Pipeline} runs it,
 * loaded from a diffusers pipeline folder ({@code model_index.json} with {@code tokenizer/},
 * {@code tokenizer_2/}, {@code text_encoder/} and {@code text_encoder_2/} (two
 * CLIPTextModelWithProjection: CLIP-L and CLIP-G), optionally {@code tokenizer_3/} +
 * {@code text_encoder_3/} (a T5EncoderModel), {@code transformer/} (an {@link SD3Transformer2DModel}),
 * {@code vae/} (16 latent channels, with shift_factor), {@code scheduler/}
 * (FlowMatchEulerDiscreteScheduler)) onto one {@link Device}:
 * <ol>
 *   <li>{@code encode_prompt}: each prompt through both CLIP tokenizers (padded / truncated to 77) and
 *       encoders, each encoder's {@code hidden_states[-2]} (clip skip k: {@code -(k+2)}, for the
 *       prompts only) concatenated on the features and zero-padded to the transformer's
 *       {@code joint_attention_dim}; then, along the tokens, the T5 encoder's last hidden state of the
 *       prompt tokenized to {@code max_sequence_length} (256; padded with {@code <pad>}, truncated with
 *       {@code </s>} kept, no attention mask — as diffusers calls it) or, without a T5 in the folder,
 *       zeros of that length; the pooled conditioning is the two encoders' projected
 *       {@code text_embeds} side by side;</li>
 *   <li>with guidance &gt; 1 the negative prompts ("" when none) encoded the same way without clip skip,
 *       batched {@code [negative; prompt]};</li>
 *   <li>latents {@code [B, 16, H/8, W/8]}: Philox Gaussian noise (unscaled: the flow scheduler's
 *       initial σ is 1) or given; per step of {@link DiffusersSampler.Kind#FLOW_EULER} the transformer
 *       at {@code t = 1000·σ} on {@code [x; x]}, guidance {@code u + g·(c − u)}, {@code x + (σ' − σ)·v};</li>
 *   <li>{@link AutoencoderKL#decodeScaled}: {@code decode(latents / scaling_factor + shift_factor)}.</li>
 * </ol>
 * Skip-layer guidance (SD3.5's optional {@code skip_guidance_layers}, {@link SkipLayerGuidance}) adds
 * {@code s·(c − c_skip)} to the guided prediction on the steps i with {@code N·start < i < N·stop},
 * {@code c_skip} being the transformer on the latents and the prompts' conditioning with those blocks left out.
 * Image-to-image ({@link #sampleFromImage}) follows {@code StableDiffusion3Img2ImgPipeline} on the same folder.
 * Not included: {@code prompt_2} / {@code prompt_3} other than the prompt itself (every encoder gets the same text,
 * the pipeline's default), inpainting, IP adapters, LoRA. Everything computes in fp32.
 *
 * <p>Threads: a loaded pipeline is read-only; {@link #sample} may run from several threads.
 * {@link #close} frees the models.
 */
public final class StableDiffusion3 implements AutoCloseable {
    /** diffusers' {@code max_sequence_length} default: the T5 tokens after the 77 CLIP ones. */
    public static final int MAX_SEQUENCE_LENGTH = 256;

    private final Device device;
    private final ClipTokenizer tokenizer, tokenizer2;
    private final ClipTextModel textEncoder, textEncoder2;
    private final Tokenizer tokenizer3;       // null without a T5
    private final T5Encoder textEncoder3;     // null without a T5
    private final SD3Transformer2DModel transformer;
    private final AutoencoderKL vae;
    private final SchedulerConfig scheduler;
    private final ClipPair clip;
    private volatile boolean closed;

    private StableDiffusion3(Device device, ClipTokenizer tokenizer, ClipTokenizer tokenizer2, ClipTextModel textEncoder, ClipTextModel textEncoder2,
                             Tokenizer tokenizer3, T5Encoder textEncoder3, SD3Transformer2DModel transformer, AutoencoderKL vae,
                             SchedulerConfig scheduler, ClipPair clip) {
        this.device = device;
        this.tokenizer = tokenizer;
        this.tokenizer2 = tokenizer2;
        this.textEncoder = textEncoder;
        this.textEncoder2 = textEncoder2;
        this.tokenizer3 = tokenizer3;
        this.textEncoder3 = textEncoder3;
        this.transformer = transformer;
        this.vae = vae;
        this.scheduler = scheduler;
        this.clip = clip;
    }

    /** The conditioning of a batch: states {@code [B, 77 + T5 tokens, joint_attention_dim]} and pooled {@code [B, P1 + P2]}, F32, owned together. */
    public record Embeddings(Tensor states, Tensor pooled) implements AutoCloseable {
        @Override
        public void close() {
            states.close();
            pooled.close();
        }
    }

    /**
     * diffusers' skip-layer guidance ({@code skip_guidance_layers}, {@code skip_layer_guidance_scale},
     * {@code skip_layer_guidance_start}, {@code skip_layer_guidance_stop}); only with guidance &gt; 1, as there.
     *
     * @param layers transformer blocks left out of the extra prediction (SD3.5 Medium: 7, 8, 9), not empty
     * @param scale  s, finite
     * @param start  the steps i with {@code N·start < i < N·stop} get it; 0 ≤ start ≤ stop ≤ 1
     * @param stop   see start
     */
    public record SkipLayerGuidance(int[] layers, double scale, double start, double stop) {
        public SkipLayerGuidance {
            if (layers == null || layers.length == 0) throw new IllegalArgumentException("SkipLayerGuidance: no layers");
            layers = layers.clone();
            if (!Double.isFinite(scale)) throw new IllegalArgumentException("SkipLayerGuidance: scale must be finite, got " + scale);
            if (!(start >= 0 && start <= stop && stop <= 1)) {
                throw new IllegalArgumentException("SkipLayerGuidance: need 0 <= start <= stop <= 1, got " + start + ", " + stop);
            }
        }

        /** diffusers' defaults for the given layers: scale 2.8, start 0.01, stop 0.2. */
        public static SkipLayerGuidance of(int... layers) {
            return new SkipLayerGuidance(layers, 2.8, 0.01, 0.2);
        }

        @Override
        public int[] layers() {
            return layers.clone();
        }
    }

    /** diffusers' {@code StableDiffusion3Pipeline.__call__} defaults: 28 steps, guidance 7.0, the folder's scheduler, the model's size. */
    public static StableDiffusion.Options defaults() {
        return StableDiffusion.Options.defaults().withSteps(28).withGuidance(7.0);
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /** Whether {@code dir} holds a model_index.json naming a StableDiffusion3Pipeline. */
    public static boolean accepts(Path dir) {
        return Denoise.pipelineClass(dir).equals("StableDiffusion3Pipeline");
    }

    /**
     * Loads a diffusers StableDiffusion3Pipeline folder onto {@code device}. A folder without
     * {@code text_encoder_3/} (model_index.json's entry null, as diffusers saves a pipeline loaded
     * with {@code text_encoder_3=None}) runs with zeros in place of the T5 states.
     *
     * @throws IllegalArgumentException naming the folder, file or field when it is not an SD3
     *                                  pipeline, a component is missing, or the components do not fit
     *                                  together (CLIP widths over joint_attention_dim, T5's d_model vs
     *                                  joint_attention_dim, the pooled widths vs pooled_projection_dim,
     *                                  an encoder without a projection, transformer vs VAE latent channels,
     *                                  a scheduler that is not flow matching)
     */
    public static StableDiffusion3 load(Device device, Path dir) {
        JsonNode idx = Denoise.pipelineIndex("StableDiffusion3.load", device, dir, "StableDiffusion3Pipeline");
        String cls = idx.path("_class_name").asText("");
        if (!cls.equals("StableDiffusion3Pipeline")) {
            throw new IllegalArgumentException(dir.resolve("model_index.json") + ": _class_name \"" + cls + "\" is not supported (StableDiffusion3Pipeline: "
                    + "SD3 / SD3.5 text-to-image" + (cls.startsWith("StableDiffusion3") ? "; its image-to-image, inpainting and ControlNet pipelines are not "
                    + "implemented as classes of their own: sampleFromImage runs image-to-image on a StableDiffusion3Pipeline folder" : "") + ")");
        }
        Denoise.requireParts(dir, cls, "tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "transformer", "vae", "scheduler");
        JsonNode t5Entry = idx.get("text_encoder_3");
        boolean t5Listed = t5Entry != null && t5Entry.isArray() && t5Entry.size() == 2 && !t5Entry.get(0).isNull() && !t5Entry.get(1).isNull();
        boolean withT5 = t5Listed || (t5Entry == null && Files.isDirectory(dir.resolve("text_encoder_3")));
        if (withT5) Denoise.requireParts(dir, cls + " with a T5 (model_index.json lists one)", "tokenizer_3", "text_encoder_3");
        SchedulerConfig sched = SchedulerConfig.load(dir.resolve("scheduler"));
        if (sched.className() != null && !sched.isFlowMatching()) {
            throw new IllegalArgumentException(dir.resolve("scheduler") + ": _class_name " + sched.className()
                    + " is not a flow-matching scheduler (SD3 ships FlowMatchEulerDiscreteScheduler)");
        }
        ClipTokenizer tok = ClipTokenizer.load(dir.resolve("tokenizer")), tok2 = ClipTokenizer.load(dir.resolve("tokenizer_2"));
        Tokenizer tok3 = withT5 ? Tokenizer.load(Denoise.t5TokenizerFile(dir.resolve("tokenizer_3"))) : null;
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            ClipTextModel te = Denoise.track(opened, ClipTextModel.load(device, dir.resolve("text_encoder")));
            ClipTextModel te2 = Denoise.track(opened, ClipTextModel.load(device, dir.resolve("text_encoder_2")));
            T5Encoder te3 = withT5 ? Denoise.track(opened, T5Encoder.load(device, dir.resolve("text_encoder_3"))) : null;
            SD3Transformer2DModel tr = Denoise.track(opened, SD3Transformer2DModel.load(device, dir.resolve("transformer")));
            AutoencoderKL va = Denoise.track(opened, AutoencoderKL.load(device, dir.resolve("vae")));
            SD3TransformerConfig tc = tr.config();
            for (ClipTextModel m : new ClipTextModel[] {te, te2}) {
                if (!m.hasProjection()) {
                    throw new IllegalArgumentException(dir.resolve(m == te ? "text_encoder" : "text_encoder_2") + ": no text_projection.weight; SD3's "
                            + "CLIP encoders are CLIPTextModelWithProjection (their text_embeds are the pooled conditioning)");
                }
            }
            int clipWidth = te.config().hiddenSize() + te2.config().hiddenSize();
            if (clipWidth > tc.jointAttentionDim()) {
                throw new IllegalArgumentException(dir + ": the CLIP encoders' hidden sizes " + te.config().hiddenSize() + " + " + te2.config().hiddenSize()
                        + " = " + clipWidth + " exceed the transformer's joint_attention_dim " + tc.jointAttentionDim()
                        + " (the pipeline zero-pads them up to it)");
            }
            if (te3 != null && te3.hiddenSize() != tc.jointAttentionDim()) {
                throw new IllegalArgumentException(dir + ": text_encoder_3's d_model " + te3.hiddenSize() + " is not the transformer's joint_attention_dim "
                        + tc.jointAttentionDim());
            }
            int pooled = te.config().projectionDim() + te2.config().projectionDim();
            if (pooled != tc.pooledProjectionDim()) {
                throw new IllegalArgumentException(dir + ": the CLIP projections " + te.config().projectionDim() + " + " + te2.config().projectionDim()
                        + " = " + pooled + " are not the transformer's pooled_projection_dim " + tc.pooledProjectionDim());
            }
            int lat = va.config().latentChannels();
            if (tc.inChannels() != lat || tc.outChannels() != lat) {
                throw new IllegalArgumentException(dir + ": the transformer takes " + tc.inChannels() + " and gives " + tc.outChannels()
                        + " channels but the VAE's latents have " + lat);
            }
            return new StableDiffusion3(device, tok, tok2, te, te2, tok3, te3, tr, va, sched, ClipPair.of(dir, tok, tok2, te, te2));
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

    /** The T5 tokenizer, or null when the folder has no T5. */
    public Tokenizer tokenizer3() {
        return tokenizer3;
    }

    public ClipTextModel textEncoder() {
        return textEncoder;
    }

    public ClipTextModel textEncoder2() {
        return textEncoder2;
    }

    /** The T5 encoder, or null when the folder has none (zeros stand for its states). */
    public T5Encoder textEncoder3() {
        return textEncoder3;
    }

    public SD3Transformer2DModel transformer() {
        return transformer;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    public SchedulerConfig schedulerConfig() {
        return scheduler;
    }

    /** The default image side in pixels: the transformer's sample_size × the VAE's scale factor (1024 for SD3 / 3.5). */
    public int defaultSize() {
        return transformer.config().sampleSize() * vae.config().upscale();
    }

    // ---------------------------------------------------------------------------------------------
    // Generation

    /**
     * {@code encode_prompt} for one side: states {@code [B, 77 + maxSequenceLength, joint_attention_dim]}
     * and pooled {@code [B, P1 + P2]} (see the class comment).
     *
     * @throws IllegalArgumentException for no prompts, a null prompt, a clipSkip that leaves no layer in
     *                                  either CLIP encoder, or a maxSequenceLength outside [1, the T5's maximum]
     */
    public Embeddings encodePrompts(List<String> prompts, int clipSkip, int maxSequenceLength) {
        ensureOpen();
        String where = "encodePrompts";
        int[][][] ids = clip.tokenize(where, prompts);
        clip.checkClipSkip(where, clipSkip);
        int cap = textEncoder3 != null ? textEncoder3.maxTokens() : 1 << 16;
        if (maxSequenceLength < 1 || maxSequenceLength > cap) {
            throw new IllegalArgumentException(where + ": maxSequenceLength " + maxSequenceLength + " is outside [1, " + cap + "]");
        }
        int b = prompts.size(), maxLength = clip.length();
        int[][] ids3 = textEncoder3 == null ? null : Denoise.t5Ids(tokenizer3, textEncoder3, prompts, maxSequenceLength);
        int dc = clip.width(), dj = transformer.config().jointAttentionDim();
        try (Scope s = Scope.open()) {
            long rows = (long) b * maxLength;
            ClipPair.Encoded enc = s.track(clip.encode(ids, clipSkip));
            Tensor joined = enc.states();
            if (dj > dc) joined = s.track(ConvOps.concatChannels(joined, s.track(device.zeros(DType.F32, rows, dj - dc))));
            Tensor t5 = textEncoder3 != null
                    ? s.track(textEncoder3.forward(ids3, null))
                    : s.track(device.zeros(DType.F32, b, maxSequenceLength, dj));
            Tensor states = concatTokens(s.track(joined.reshape(b, maxLength, dj)), t5);
            try {
                return new Embeddings(states, ConvOps.concatChannels(enc.out1().textEmbeds(), enc.out2().textEmbeds()));
            } catch (RuntimeException | Error e) {
                states.close();
                throw e;
            }
        }
    }

    /** {@code cat([a, b], dim=1)} of {@code [B, La, D]} and {@code [B, Lb, D]} F32 tensors: a new {@code [B, La + Lb, D]}. */
    private static Tensor concatTokens(Tensor a, Tensor b) {
        long bs = a.dim(0), la = a.dim(1), lb = b.dim(1), d = a.dim(2);
        Tensor out = a.device().allocate(DType.F32, bs, la + lb, d);
        try {
            long ra = la * d * 4, rb = lb * d * 4;
            for (long i = 0; i < bs; i++) {
                a.device().backend().copy(a.storage(), a.byteOffset() + i * ra, out.storage(), out.byteOffset() + i * (ra + rb), ra);
                a.device().backend().copy(b.storage(), b.byteOffset() + i * rb, out.storage(), out.byteOffset() + i * (ra + rb) + ra, rb);
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** {@link #sample(List, List, StableDiffusion.Options, int, SkipLayerGuidance, StableDiffusion.Progress)} with diffusers' max_sequence_length 256, no skip-layer guidance. */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        return sample(prompts, negativePrompts, options, MAX_SEQUENCE_LENGTH, null, progress);
    }

    /** {@link #sample(List, List, StableDiffusion.Options, int, SkipLayerGuidance, StableDiffusion.Progress)} without skip-layer guidance. */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, int maxSequenceLength,
                         StableDiffusion.Progress progress) {
        return sample(prompts, negativePrompts, options, maxSequenceLength, null, progress);
    }

    /**
     * The final latents {@code [B, 16, H/8, W/8]} F32 for {@code prompts} (see the class comment).
     * {@code options} null: {@link #defaults()}. Its {@code eta} is unused; {@code guidanceRescale}
     * must be 0 (the SD3 pipeline has none).
     *
     * @param negativePrompts null ("" for each), or one per prompt; used only with guidance &gt; 1
     * @param slg             skip-layer guidance, or null (ignored without guidance, as in diffusers)
     * @throws IllegalArgumentException for no prompts, a negative-prompt count that is not the prompts',
     *                                  a size not a multiple of the VAE's factor × patch_size or beyond
     *                                  the transformer's position table, a scheduler other than
     *                                  flow-euler, skip layers outside the transformer, or settings out of range
     */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, int maxSequenceLength,
                         SkipLayerGuidance slg, StableDiffusion.Progress progress) {
        ensureOpen();
        StableDiffusion.Options o = checkOptions("sample", prompts, negativePrompts, options);
        int b = prompts.size();
        int f = vae.config().upscale();
        int[] wh = Denoise.size("sample", o, defaultSize(), f, transformer.config().patchSize(), "transformer's patch " + transformer.config().patchSize());
        int w = wh[0], h = wh[1];
        long[] shape = {b, transformer.config().inChannels(), h / f, w / f};
        Denoise.checkLatents("sample", o.latents(), shape, device);
        boolean cfg = o.guidance() > 1;
        checkSkipLayers("sample", slg);
        StableDiffusion.Options run = o.scheduler() == null ? o.withScheduler(DiffusersSampler.Kind.FLOW_EULER) : o;
        try (Scope scope = Scope.open()) {
            Denoise.Model model = denoiser(scope, prompts, negativePrompts, o, maxSequenceLength, slg);
            int p = transformer.config().patchSize();
            return Denoise.loop(device, scheduler, run, shape, (h / f / p) * (w / f / p), cfg, progress, model);
        }
    }

    /**
     * Image-to-image, as diffusers' {@code StableDiffusion3Img2ImgPipeline} on the same folder: the
     * pictures encoded ({@code (sample − shift_factor)·scaling_factor}, the posterior sampled with Philox
     * keyed by the seed), repeated over the prompts, {@code scale_noise} to the first kept sigma
     * ({@code σ·noise + (1 − σ)·x0}, noise on stream {@link StableDiffusion#INIT_STREAM}) and the flow loop
     * from {@code t_start = int(max(N − min(N·strength, N), 0))} — SD3's {@code get_timesteps}, which
     * (unlike SD 1.x's) does not round N·strength down first.
     *
     * @param initImages {@code [N, 3, H, W]} in [-1, 1] (see {@link AutoencoderKL#fromImages}), N dividing the prompts' count,
     *                   H and W multiples of the VAE's factor × patch_size; the output has their size
     * @param strength   in (0, 1]; at least one step must be left to run
     * @throws IllegalArgumentException as {@link #sample}, for given latents in the options, pictures that do not fit, or a
     *                                  strength outside (0, 1] or too small for one step
     * @throws IllegalStateException    when the VAE checkpoint has no encoder
     */
    public Tensor sampleFromImage(List<String> prompts, List<String> negativePrompts, Tensor initImages, double strength,
                                  StableDiffusion.Options options, int maxSequenceLength, StableDiffusion.Progress progress) {
        ensureOpen();
        String where = "sampleFromImage";
        StableDiffusion.Options o = checkOptions(where, prompts, negativePrompts, options);
        if (o.latents() != null) throw new IllegalArgumentException(where + ": options give latents; image-to-image makes them from the images");
        int b = prompts.size();
        long[] is = Denoise.checkImages(where, initImages, b, device, vae.config().upscale(), transformer.config().patchSize(), "transformer");
        if (!(strength > 0 && strength <= 1)) throw new IllegalArgumentException(where + ": strength must be in (0, 1], got " + strength);
        int n = o.steps();
        int begin = (int) Math.max(n - Math.min(n * strength, n), 0);
        if (begin >= n) {
            throw new IllegalArgumentException(where + ": strength " + strength + " × " + n + " steps leaves no step to run; raise the strength or the steps");
        }
        boolean cfg = o.guidance() > 1;
        StableDiffusion.Options run = o.scheduler() == null ? o.withScheduler(DiffusersSampler.Kind.FLOW_EULER) : o;
        int p = transformer.config().patchSize();
        try (DiffusersSampler s = Denoise.sampler(scheduler, run.scheduler(), n, 0, o.seed(), (int) ((is[2] / vae.config().upscale() / p)
                * (is[3] / vae.config().upscale() / p))); Scope scope = Scope.open()) {
            s.begin(begin);
            Denoise.Model model = denoiser(scope, prompts, negativePrompts, o, maxSequenceLength, null); // (the img2img pipeline has no skip-layer guidance)
            Tensor enc = scope.track(vae.encodeScaled(initImages, o.seed()));
            Tensor init = enc;
            for (long k = is[0]; k < b; k += is[0]) init = scope.track(Denoise.concat(init, enc)); // torch.cat([init_latents] * (B / N))
            Tensor noise = scope.track(dev.surpass.diffusion.Noise.gaussian(device, DType.F32, o.seed(), StableDiffusion.INIT_STREAM, init.shape()));
            return Denoise.run(s, s.addNoise(init, noise, begin), cfg, o.guidance(), 0, progress, model);
        }
    }

    /** {@link #sampleFromImage} then {@link #decode}: one picture per prompt. */
    public BufferedImage[] generateFromImage(List<String> prompts, List<String> negativePrompts, Tensor initImages, double strength,
                                             StableDiffusion.Options options, StableDiffusion.Progress progress) {
        try (Tensor latents = sampleFromImage(prompts, negativePrompts, initImages, strength, options, MAX_SEQUENCE_LENGTH, progress);
             Tensor images = decode(latents)) {
            return AutoencoderKL.toImages(images);
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
        if (o.guidanceRescale() != 0) {
            throw new IllegalArgumentException(where + ": guidanceRescale " + o.guidanceRescale() + " — StableDiffusion3Pipeline has no guidance_rescale");
        }
        if (o.scheduler() != null && o.scheduler() != DiffusersSampler.Kind.FLOW_EULER) {
            throw new IllegalArgumentException(where + ": scheduler " + o.scheduler() + " — SD3 is a flow-matching model: only flow-euler "
                    + "(FlowMatchEulerDiscreteScheduler) samples it");
        }
        return o;
    }

    private void checkSkipLayers(String where, SkipLayerGuidance slg) {
        if (slg == null) return;
        for (int l : slg.layers()) {
            if (l < 0 || l >= transformer.config().numLayers()) {
                throw new IllegalArgumentException(where + ": skip-layer guidance layer " + l + " is outside [0, " + transformer.config().numLayers() + ")");
            }
        }
    }

    /**
     * The model of the loop: the conditioning ({@code [negative; prompt]} with guidance &gt; 1), owned by {@code scope}, and
     * the transformer on it — with skip-layer guidance on the evaluations {@code N·start < i < N·stop} counted from the
     * loop's first call.
     */
    private Denoise.Model denoiser(Scope scope, List<String> prompts, List<String> negativePrompts, StableDiffusion.Options o, int maxSequenceLength,
                                   SkipLayerGuidance slg) {
        boolean cfg = o.guidance() > 1;
        int b = prompts.size();
        Embeddings cond = encodePrompts(prompts, o.clipSkip(), maxSequenceLength);
        scope.track(cond.states());
        scope.track(cond.pooled());
        Tensor states = cond.states(), pooled = cond.pooled();
        if (cfg) {
            List<String> neg = new ArrayList<>();
            for (int i = 0; i < b; i++) neg.add(negativePrompts == null ? "" : negativePrompts.get(i));
            Embeddings unc = encodePrompts(neg, 0, maxSequenceLength); // diffusers encodes the negative prompts without clip skip
            scope.track(unc.states());
            scope.track(unc.pooled());
            states = scope.track(Denoise.concat(unc.states(), states));
            pooled = scope.track(Denoise.concat(unc.pooled(), pooled));
        }
        Tensor ctx = states, text = pooled;
        if (!cfg || slg == null) return (in, t) -> transformer.forward(in, t, ctx, text);
        Tensor condStates = cond.states(), condPooled = cond.pooled();
        int[] evaluation = {0};
        double lo = o.steps() * slg.start(), hi = o.steps() * slg.stop(), k = slg.scale() / o.guidance();
        int[] layers = slg.layers();
        return (in, t) -> {
            int i = evaluation[0]++;
            Tensor eps = transformer.forward(in, t, ctx, text);
            if (!(i > lo && i < hi)) return eps;
            // The loop guides u + g·(c − u) in its fused step; diffusers then adds s·(c − c_skip). Folding that into
            // the cond half as c' = c + (s/g)·(c − c_skip) gives u + g·(c' − u) = u + g·(c − u) + s·(c − c_skip).
            try (Scope sc = Scope.open()) {
                sc.track(eps);
                long half = eps.numel() / 2;
                long[] one = eps.shape();
                one[0] /= 2;
                Tensor x = sc.track(in.view(0, one)); // [x; x]: the latents once
                Tensor skip = sc.track(transformer.forward(x, java.util.Arrays.copyOf(t, (int) one[0]), condStates, condPooled, layers));
                Tensor u = sc.track(eps.view(0, one)), c = sc.track(eps.view(half, one));
                Tensor diff = sc.track(Elementwise.add(c, sc.track(Elementwise.scale(skip, -1f))));
                Tensor c2 = sc.track(Elementwise.add(c, sc.track(Elementwise.scale(diff, (float) k))));
                return Denoise.concat(u, c2);
            }
        };
    }

    /** {@link #sample} then {@link #decode}: one picture per prompt. */
    public BufferedImage[] generate(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        try (Tensor latents = sample(prompts, negativePrompts, options, progress); Tensor images = decode(latents)) {
            return AutoencoderKL.toImages(images);
        }
    }

    /** Images {@code [B, 3, H, W]} in [-1, 1] from final latents: the VAE's {@code decode(latents / scaling_factor + shift_factor)}. */
    public Tensor decode(Tensor latents) {
        ensureOpen();
        return vae.decodeScaled(latents);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("StableDiffusion3: closed");
    }

    /** Frees the text encoders, the transformer and the VAE. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        List<AutoCloseable> all = new ArrayList<>(List.of(textEncoder, textEncoder2, transformer, vae));
        if (textEncoder3 != null) all.add(textEncoder3);
        Denoise.closeAll(all);
    }
}
