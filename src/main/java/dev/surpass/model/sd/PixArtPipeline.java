package dev.surpass.model.sd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.pixart.PixArtImageProcessor;
import dev.surpass.model.pixart.PixArtTransformer2DConfig;
import dev.surpass.model.pixart.PixArtTransformer2DModel;
import dev.surpass.model.t5.T5Encoder;
import dev.surpass.model.vae.AutoencoderKL;
import dev.surpass.text.Tokenizer;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * PixArt-α / PixArt-Σ text-to-image, as diffusers' {@code PixArtAlphaPipeline} /
 * {@code PixArtSigmaPipeline} run it, from a diffusers pipeline folder ({@code model_index.json},
 * {@code tokenizer/}, {@code text_encoder/}, {@code transformer/}, {@code vae/}, {@code scheduler/})
 * on one {@link Device}:
 * <ol>
 *   <li>each prompt lower-cased and stripped ({@code _text_preprocessing} with {@code clean_caption=False};
 *       the bs4/ftfy caption cleaning that {@code clean_caption=True} asks for is not done), T5-tokenized
 *       (the {@code tokenizer.json}, else {@code spiece.model}), truncated to {@code max_sequence_length − 1}
 *       tokens, {@code </s>} appended, padded with the pad id to {@code max_sequence_length} (120 for α,
 *       300 for Σ) with the attention mask marking the real tokens;</li>
 *   <li>the {@link T5Encoder} states of those ids under that mask;</li>
 *   <li>latents {@code [B, C, H/8, W/8]}: Philox noise times init_noise_sigma, or given;</li>
 *   <li>per scheduler step ({@code Denoise}, the loop the Stable Diffusion pipelines share): the
 *       {@link PixArtTransformer2DModel} on {@code [x; x]} with {@code [negative; prompt]} states and
 *       masks when guidance &gt; 1 (negative "" when none is given), the resolution and aspect-ratio
 *       conditions {@code (H, W), H/W} in pixels when the α pipeline's transformer has sample_size 128,
 *       the learned-sigma half dropped (ε only), guidance {@code u + g·(c − u)} and the step;</li>
 *   <li>{@link AutoencoderKL#decodeScaled}.</li>
 * </ol>
 * {@link #generate} does resolution binning by default, as the pipelines' {@code use_resolution_binning=True}:
 * the size is snapped to the closest aspect-ratio bin of the table for the transformer's sample_size
 * ({@link #binnedSize}), sampled and decoded there, and the pictures resized back to the size asked for
 * ({@link PixArtImageProcessor#resizeAndCrop}); {@link #sample} and {@link #decode} run at exactly the size
 * given. Not included: the caption cleaning, {@code num_images_per_prompt}, clip skip and guidance rescale (refused).
 *
 * <p>Threads: a loaded pipeline is read-only; {@link #sample} may run from several threads.
 * {@link #close} frees the three models.
 */
public final class PixArtPipeline implements AutoCloseable {
    /** The pipeline classes this runs: α and Σ. */
    public enum Kind {
        ALPHA("PixArtAlphaPipeline", 120), SIGMA("PixArtSigmaPipeline", 300);

        final String className;
        final int maxSequenceLength;

        Kind(String className, int maxSequenceLength) {
            this.className = className;
            this.maxSequenceLength = maxSequenceLength;
        }

        /** The pipeline's default {@code max_sequence_length}. */
        public int maxSequenceLength() {
            return maxSequenceLength;
        }
    }

    private final Device device;
    private final Kind kind;
    private final Tokenizer tokenizer;
    private final int eosId, padId;
    private final T5Encoder textEncoder;
    private final PixArtTransformer2DModel transformer;
    private final AutoencoderKL vae;
    private final SchedulerConfig scheduler;
    private volatile boolean closed;

    private PixArtPipeline(Device device, Kind kind, Tokenizer tokenizer, int eosId, int padId, T5Encoder textEncoder,
                           PixArtTransformer2DModel transformer, AutoencoderKL vae, SchedulerConfig scheduler) {
        this.device = device;
        this.kind = kind;
        this.tokenizer = tokenizer;
        this.eosId = eosId;
        this.padId = padId;
        this.textEncoder = textEncoder;
        this.transformer = transformer;
        this.vae = vae;
        this.scheduler = scheduler;
    }

    /** The pipelines' own defaults: the transformer's size, 20 steps, guidance 4.5, the folder's scheduler, seed 0. */
    public static StableDiffusion.Options defaults() {
        return StableDiffusion.Options.defaults().withSteps(20).withGuidance(4.5);
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers PixArt-α or PixArt-Σ folder onto {@code device}.
     *
     * @throws IllegalArgumentException naming the folder, file or field when model_index.json names
     *                                  another pipeline, a component is missing, or the components do
     *                                  not fit together (T5 width vs caption_channels, latent channels)
     */
    public static PixArtPipeline load(Device device, Path dir) {
        JsonNode idx = Denoise.pipelineIndex("PixArtPipeline.load", device, dir, "PixArtAlphaPipeline / PixArtSigmaPipeline");
        Path index = dir.resolve("model_index.json");
        String cls = idx.path("_class_name").asText("");
        Kind kind = Arrays.stream(Kind.values()).filter(k -> k.className.equals(cls)).findFirst().orElseThrow(() ->
                new IllegalArgumentException(index + ": _class_name \"" + cls + "\" is not PixArtAlphaPipeline or PixArtSigmaPipeline"));
        Denoise.requireParts(dir, cls, "text_encoder", "tokenizer", "transformer", "vae", "scheduler");
        SchedulerConfig sched = SchedulerConfig.load(dir.resolve("scheduler"));
        Path tokDir = dir.resolve("tokenizer");
        Path tokFile = Denoise.t5TokenizerFile(tokDir);
        Tokenizer tok = Tokenizer.load(tokFile);
        int eos = tok.tokenToId("</s>");
        if (eos < 0) throw new IllegalArgumentException(tokFile + ": no </s> token (T5's end of sequence, appended to every prompt)");
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            T5Encoder te = Denoise.track(opened, T5Encoder.load(device, dir.resolve("text_encoder")));
            PixArtTransformer2DModel tr = Denoise.track(opened, PixArtTransformer2DModel.load(device, dir.resolve("transformer")));
            AutoencoderKL va = Denoise.track(opened, AutoencoderKL.load(device, dir.resolve("vae")));
            PixArtTransformer2DConfig tc = tr.config();
            if (te.hiddenSize() != tc.textDim()) {
                throw new IllegalArgumentException(dir + ": the text encoder's d_model " + te.hiddenSize() + " is not the transformer's "
                        + (tc.captionChannels() > 0 ? "caption_channels " : "cross_attention_dim ") + tc.textDim());
            }
            if (tc.inChannels() != va.config().latentChannels()) {
                throw new IllegalArgumentException(dir + ": the transformer takes " + tc.inChannels() + " channels but the VAE's latents have "
                        + va.config().latentChannels());
            }
            if (kind == Kind.SIGMA && tc.useAdditionalConditions()) {
                throw new IllegalArgumentException(dir.resolve("transformer") + ": use_additional_conditions is true but PixArtSigmaPipeline passes no "
                        + "resolution / aspect ratio (diffusers fails on this folder too)");
            }
            if (kind == Kind.ALPHA && tc.useAdditionalConditions() != (tc.sampleSize() == 128)) {
                throw new IllegalArgumentException(dir.resolve("transformer") + ": use_additional_conditions is " + tc.useAdditionalConditions()
                        + " but PixArtAlphaPipeline passes the resolution conditions exactly when sample_size is 128 (it is " + tc.sampleSize() + ")");
            }
            if (eos >= te.config().vocabSize()) {
                throw new IllegalArgumentException(tokFile + ": </s> is id " + eos + ", outside the text encoder's vocab_size " + te.config().vocabSize());
            }
            return new PixArtPipeline(device, kind, tok, eos, te.config().padTokenId(), te, tr, va, sched);
        } catch (RuntimeException | Error e) {
            Denoise.closeAll(opened);
            throw e;
        }
    }

    /** Whether {@code dir} holds a model_index.json naming PixArtAlphaPipeline or PixArtSigmaPipeline. */
    public static boolean accepts(Path dir) {
        String cls = Denoise.pipelineClass(dir);
        return cls.equals(Kind.ALPHA.className) || cls.equals(Kind.SIGMA.className);
    }

    public Device device() {
        return device;
    }

    public Kind kind() {
        return kind;
    }

    public T5Encoder textEncoder() {
        return textEncoder;
    }

    public PixArtTransformer2DModel transformer() {
        return transformer;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    /** The folder's scheduler config. */
    public SchedulerConfig schedulerConfig() {
        return scheduler;
    }

    /** The default image side in pixels: the transformer's sample_size × the VAE's factor (1024 for the 1024 models). */
    public int defaultSize() {
        return transformer.config().sampleSize() * vae.config().upscale();
    }

    /**
     * The {@code {width, height}} resolution binning samples at for a request of {@code width × height}
     * (0 = {@link #defaultSize}, a lone side used for both): diffusers' {@code classify_height_width_bin} on
     * the table of the transformer's sample_size ({@link PixArtImageProcessor.Bins#forSampleSize}).
     *
     * @throws IllegalArgumentException for a negative side, or a sample_size without a table (as diffusers'
     *                                  "Invalid sample size"; binning must then be turned off)
     */
    public int[] binnedSize(int width, int height) {
        ensureOpen();
        if (width < 0 || height < 0) throw new IllegalArgumentException("binnedSize: size " + width + "×" + height + " must be >= 0 (0 = the default)");
        int[] wh = requested(width, height);
        PixArtImageProcessor.Bins bins = PixArtImageProcessor.Bins.forSampleSize(transformer.config().sampleSize(), kind == Kind.SIGMA);
        int[] hw = PixArtImageProcessor.classifyHeightWidthBin(wh[1], wh[0], bins);
        return new int[] {hw[1], hw[0]};
    }

    /** The size an Options' width / height ask for: 0 = the default, a lone side used for both (as {@code Denoise.size}). */
    private int[] requested(int width, int height) {
        int d = defaultSize();
        int w = width == 0 ? (height == 0 ? d : height) : width;
        return new int[] {w, height == 0 ? w : height};
    }

    // ---------------------------------------------------------------------------------------------
    // Text

    /** The T5 ids and mask of prompts, each {@code [B][max_sequence_length]}. */
    public record Tokens(int[][] ids, int[][] mask) {}

    /**
     * {@code encode_prompt}'s tokenization: lower-cased and stripped, the tokenizer's pieces truncated to
     * {@code maxLength − 1}, {@code </s>}, then the pad id to {@code maxLength}; mask 1 on the real tokens.
     */
    public Tokens tokenize(List<String> prompts, int maxLength) {
        ensureOpen();
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("tokenize: no prompts");
        if (maxLength < 1 || maxLength > textEncoder.maxTokens()) {
            throw new IllegalArgumentException("tokenize: maxLength " + maxLength + " is outside [1, " + textEncoder.maxTokens() + "]");
        }
        int[][] ids = new int[prompts.size()][maxLength], mask = new int[prompts.size()][maxLength];
        for (int i = 0; i < ids.length; i++) {
            String p = prompts.get(i);
            if (p == null) throw new IllegalArgumentException("tokenize: prompt " + i + " is null");
            int[] pieces = tokenizer.encode(p.toLowerCase(Locale.ROOT).strip(), false);
            int n = Math.min(pieces.length, maxLength - 1);
            Arrays.fill(ids[i], padId);
            System.arraycopy(pieces, 0, ids[i], 0, n);
            ids[i][n] = eosId;
            Arrays.fill(mask[i], 0, n + 1, 1);
        }
        return new Tokens(ids, mask);
    }

    /** The T5 states {@code [B, L, d_model]} F32 of tokens (under their mask), owned by the caller. */
    public Tensor encode(Tokens tokens) {
        ensureOpen();
        return textEncoder.forward(tokens.ids(), tokens.mask());
    }

    // ---------------------------------------------------------------------------------------------
    // Generation

    /**
     * The final latents {@code [B, C, H/8, W/8]} F32 for {@code prompts} (B of them), with the
     * pipeline's {@code max_sequence_length} (120 α, 300 Σ), at exactly the options' size (no resolution
     * binning: to sample as the binned pipeline does, pass {@link #binnedSize} as the size).
     *
     * @param negativePrompts null ("" for each), or one per prompt; used only with guidance &gt; 1
     * @throws IllegalArgumentException for no prompts, a negative-prompt count that is not the
     *                                  prompts', a size that is not a multiple of 8 × patch_size,
     *                                  clip skip or guidance rescale set, or settings out of range
     */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        return sample(prompts, negativePrompts, kind.maxSequenceLength, options, progress);
    }

    /** {@link #sample(List, List, StableDiffusion.Options, StableDiffusion.Progress)} with another {@code max_sequence_length}. */
    public Tensor sample(List<String> prompts, List<String> negativePrompts, int maxSequenceLength, StableDiffusion.Options options,
                         StableDiffusion.Progress progress) {
        ensureOpen();
        StableDiffusion.Options o = options == null ? defaults() : options;
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("sample: no prompts");
        int b = prompts.size();
        if (negativePrompts != null && negativePrompts.size() != b) {
            throw new IllegalArgumentException("sample: " + negativePrompts.size() + " negative prompts for " + b + " prompts (give one each, or none)");
        }
        if (!Double.isFinite(o.guidance())) throw new IllegalArgumentException("sample: guidance must be finite, got " + o.guidance());
        if (o.clipSkip() != 0) throw new IllegalArgumentException("sample: clip skip " + o.clipSkip() + " does not apply to PixArt's T5 encoder (use 0)");
        if (o.guidanceRescale() != 0) throw new IllegalArgumentException("sample: guidance rescale is not part of the PixArt pipelines (use 0)");
        PixArtTransformer2DConfig tc = transformer.config();
        int f = vae.config().upscale();
        int[] wh = Denoise.size("sample", o, defaultSize(), f, tc.patchSize(), "transformer's patch " + tc.patchSize());
        int c = tc.inChannels();
        long[] shape = {b, c, wh[1] / f, wh[0] / f};
        Denoise.checkLatents("sample", o.latents(), shape, device);
        boolean cfg = o.guidance() > 1;
        int rows = cfg ? 2 * b : b;
        float[][] res = null;
        float[] aspect = null;
        if (tc.useAdditionalConditions()) { // α 1024: (height, width) and height / width in pixels, the same for every sample
            res = new float[rows][];
            aspect = new float[rows];
            for (int i = 0; i < rows; i++) {
                res[i] = new float[] {wh[1], wh[0]};
                aspect[i] = (float) ((double) wh[1] / wh[0]);
            }
        }
        float[][] resolution = res;
        float[] aspectRatio = aspect;
        try (Scope scope = Scope.open()) {
            Tokens cond = tokenize(prompts, maxSequenceLength);
            Tokens all = cond;
            if (cfg) { // [negative; prompt], as the pipeline concatenates them
                List<String> neg = new ArrayList<>();
                for (int i = 0; i < b; i++) neg.add(negativePrompts == null ? "" : negativePrompts.get(i));
                Tokens unc = tokenize(neg, maxSequenceLength);
                all = new Tokens(concat(unc.ids(), cond.ids()), concat(unc.mask(), cond.mask()));
            }
            Tensor text = scope.track(encode(all));
            int[][] mask = all.mask();
            return Denoise.loop(device, scheduler, o, shape, cfg, progress, (in, t) -> {
                Tensor out = transformer.forward(in, t, text, mask, resolution, aspectRatio);
                if (!tc.learnedSigma()) return out;
                try (out) {
                    return firstChannels(out, c); // noise_pred.chunk(2, dim=1)[0]
                }
            });
        }
    }

    /** {@link #generate(List, List, StableDiffusion.Options, StableDiffusion.Progress, boolean)} with resolution binning, the pipelines' default. */
    public BufferedImage[] generate(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress) {
        return generate(prompts, negativePrompts, options, progress, true);
    }

    /**
     * One picture per prompt of the options' size. With {@code resolutionBinning} ({@code use_resolution_binning}):
     * {@link #sample} at {@link #binnedSize}, {@link #decode}, {@link PixArtImageProcessor#resizeAndCrop} back to
     * the size asked for; without: {@link #sample} at that size and {@link #decode}.
     *
     * @throws IllegalArgumentException as {@link #sample}, or with binning for a transformer sample_size without an
     *                                  aspect-ratio table, or latents given in the options that are not the bin's size
     */
    public BufferedImage[] generate(List<String> prompts, List<String> negativePrompts, StableDiffusion.Options options, StableDiffusion.Progress progress,
                                    boolean resolutionBinning) {
        StableDiffusion.Options o = options == null ? defaults() : options;
        if (!resolutionBinning) {
            try (Tensor latents = sample(prompts, negativePrompts, o, progress); Tensor images = decode(latents)) {
                return AutoencoderKL.toImages(images);
            }
        }
        int[] bin = binnedSize(o.width(), o.height()), wanted = requested(o.width(), o.height());
        try (Tensor latents = sample(prompts, negativePrompts, o.withSize(bin[0], bin[1]), progress); Tensor images = decode(latents);
             Tensor back = PixArtImageProcessor.resizeAndCrop(images, wanted[0], wanted[1])) {
            return AutoencoderKL.toImages(back);
        }
    }

    /** Images {@code [B, 3, H, W]} in [-1, 1] from final latents: the VAE's {@code decode(latents / scaling_factor)}. */
    public Tensor decode(Tensor latents) {
        ensureOpen();
        return vae.decodeScaled(latents);
    }

    /** Channels {@code [0, c)} of {@code x [N, C', H, W]}, a new tensor. */
    static Tensor firstChannels(Tensor x, int c) {
        long n = x.dim(0), plane = x.dim(2) * x.dim(3), es = x.dtype().byteSize(), item = x.dim(1) * plane;
        Tensor out = x.device().allocate(x.dtype(), n, c, x.dim(2), x.dim(3));
        try {
            for (long i = 0; i < n; i++) {
                x.device().backend().copy(x.storage(), x.byteOffset() + i * item * es, out.storage(), out.byteOffset() + i * c * plane * es, c * plane * es);
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    private static int[][] concat(int[][] a, int[][] b) {
        int[][] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("PixArtPipeline: closed");
    }

    /** Frees the text encoder, transformer and VAE. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Denoise.closeAll(List.of(textEncoder, transformer, vae));
    }
}
