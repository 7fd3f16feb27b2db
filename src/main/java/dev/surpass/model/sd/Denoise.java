package dev.surpass.model.sd;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.Noise;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.layers.Elementwise;
import dev.surpass.model.decoder.ConfigJson;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The pieces shared by the pipelines of this package (loading their components, and the latent-diffusion loop): the
 * image size from {@link StableDiffusion.Options}, the initial latents (Philox noise on stream
 * {@link StableDiffusion#INIT_STREAM} times init_noise_sigma, or the given ones, checked) and the
 * scheduler loop with classifier-free guidance on {@code [x; x]} batches — the same steps as
 * {@link StableDiffusion#sample}. What the model is called with (text states, added conditions) is
 * the caller's {@link Model}.
 */
final class Denoise {
    private Denoise() {}

    /** One model evaluation: the prediction for {@code in} (B or 2B samples) at timesteps {@code t}; a new tensor. */
    @FunctionalInterface
    interface Model {
        Tensor predict(Tensor in, float[] t);
    }

    /**
     * {@code {width, height}} in pixels: the options' own, or {@code defaultSize} for a zero width
     * (a zero height takes the width).
     *
     * @throws IllegalArgumentException naming {@code where} when either is not a positive multiple of
     *                                  {@code vaeFactor · unetDown} or the image is over 2^26 pixels
     */
    static int[] size(String where, StableDiffusion.Options o, int defaultSize, int vaeFactor, int unetDown) {
        return size(where, o, defaultSize, vaeFactor, unetDown, "UNet's ×" + unetDown);
    }

    /** {@link #size(String, StableDiffusion.Options, int, int, int)} with the denoiser's factor named by {@code what} ("transformer's patch 2"). */
    static int[] size(String where, StableDiffusion.Options o, int defaultSize, int vaeFactor, int unetDown, String what) {
        int w = o.width() == 0 ? defaultSize : o.width(), h = o.height() == 0 ? (o.width() == 0 ? defaultSize : w) : o.height();
        int multiple = vaeFactor * unetDown;
        if (w <= 0 || h <= 0 || w % multiple != 0 || h % multiple != 0 || (long) w * h > (1L << 26)) {
            throw new IllegalArgumentException(where + ": image size " + w + "×" + h + " must be positive multiples of " + multiple
                    + " (the VAE's ×" + vaeFactor + " and the " + what + ") and at most 2^26 pixels");
        }
        return new int[] {w, h};
    }

    /**
     * Checks image-to-image pictures {@code [N, 3, H, W]} for {@code b} prompts (N divides b) on {@code device}, H and W
     * positive multiples of {@code vaeFactor · down} (the {@code what}'s factor) and at most 2^26 pixels; returns their shape.
     */
    static long[] checkImages(String where, Tensor initImages, int b, Device device, int vaeFactor, int down, String what) {
        if (initImages == null || initImages.isClosed()) throw new IllegalArgumentException(where + ": initImages are null or closed");
        long[] is = initImages.shape();
        int multiple = vaeFactor * down;
        if (is.length != 4 || is[1] != 3 || !initImages.dtype().isFloating()) {
            throw new IllegalArgumentException(where + ": initImages are " + initImages.describe() + "; expected floating [N, 3, H, W] in [-1, 1]");
        }
        if (!initImages.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": initImages are on " + initImages.device().name() + " but the pipeline is on " + device.name());
        }
        if (is[0] < 1 || b % is[0] != 0) {
            throw new IllegalArgumentException(where + ": " + is[0] + " images for " + b + " prompts (give one per prompt, or a divisor of the prompts' count)");
        }
        if (is[2] < multiple || is[3] < multiple || is[2] % multiple != 0 || is[3] % multiple != 0 || is[2] * is[3] > (1L << 26)) {
            throw new IllegalArgumentException(where + ": image size " + is[3] + "×" + is[2] + " must be positive multiples of " + multiple
                    + " (the VAE's ×" + vaeFactor + " and the " + what + "'s ×" + down + ") and at most 2^26 pixels");
        }
        return is;
    }

    /** Checks given latents (null: none) against the shape the loop needs. */
    static void checkLatents(String where, Tensor l, long[] shape, Device device) {
        if (l == null) return;
        if (l.isClosed() || !Arrays.equals(l.shape(), shape) || l.dtype() != DType.F32 || !l.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": latents are " + (l.isClosed() ? "closed" : l.describe()) + "; expected F32 "
                    + Shapes.toString(shape) + " on " + device.name());
        }
    }

    /**
     * The run's sampler. A flow-matching config with {@code use_dynamic_shifting} gets μ = {@code calculate_shift}
     * of the model's token count, as StableDiffusion3Pipeline computes it when the scheduler shifts dynamically.
     */
    static DiffusersSampler sampler(SchedulerConfig c, DiffusersSampler.Kind kind, int steps, double eta, long seed, int imageSeqLen) {
        boolean flow = kind == DiffusersSampler.Kind.FLOW_EULER || (kind == null && c.isFlowMatching());
        if (flow && c.flow().dynamic()) return DiffusersSampler.createFlow(c, steps, null, c.flow().mu(imageSeqLen), seed);
        return DiffusersSampler.create(c, kind, steps, eta, seed);
    }

    /**
     * The scheduler loop from fresh latents: Philox noise times init_noise_sigma, or the options'
     * given latents. See {@link #run}.
     */
    static Tensor loop(Device device, SchedulerConfig scheduler, StableDiffusion.Options o, long[] shape, boolean cfg,
                       StableDiffusion.Progress progress, Model model) {
        return loop(device, scheduler, o, shape, Math.toIntExact(shape[2] * shape[3]), cfg, progress, model);
    }

    /** {@link #loop} for a model that sees {@code imageSeqLen} tokens of the latents (a dynamically shifted flow schedule's μ). */
    static Tensor loop(Device device, SchedulerConfig scheduler, StableDiffusion.Options o, long[] shape, int imageSeqLen, boolean cfg,
                       StableDiffusion.Progress progress, Model model) {
        try (DiffusersSampler s = sampler(scheduler, o.scheduler(), o.steps(), o.eta(), o.seed(), imageSeqLen)) {
            Tensor x = o.latents() != null ? copy(o.latents()) : initialLatents(device, shape, o.seed(), s.initNoiseSigma());
            return run(s, x, cfg, o.guidance(), o.guidanceRescale(), progress, model);
        }
    }

    /**
     * The scheduler loop from {@code x} (taken over: closed here) at the sampler's start
     * ({@link DiffusersSampler#start}): per evaluation the model on the scaled latents
     * ({@code [x; x]} when {@code cfg}: the model's batch order is [uncond; cond]) and the scheduler
     * step with {@code guidance} when {@code cfg} (else 1) — fused into the step, or, with
     * {@code rescale} φ &gt; 0, applied here and rescaled as diffusers' {@code rescale_noise_cfg}
     * before a plain step. Returns the final latents, owned by the caller; {@code progress} counts
     * the evaluations run.
     */
    static Tensor run(DiffusersSampler s, Tensor x, boolean cfg, double guidance, double rescale, StableDiffusion.Progress progress,
                      Model model) {
        try {
            int begin = s.start(), n = s.evaluations();
            for (int i = begin; i < n; i++) {
                Tensor next;
                try (Scope step = Scope.open()) {
                    double sc = s.inputScale(i);
                    Tensor in = sc == 1 ? x : step.track(Elementwise.scale(x, (float) sc));
                    if (cfg) in = step.track(concat(in, in));
                    float[] t = new float[(int) in.dim(0)];
                    Arrays.fill(t, s.timestep(i));
                    Tensor eps = step.track(model.predict(in, t));
                    if (cfg && rescale > 0) next = s.step(x, step.track(rescaled(eps, guidance, rescale)), i, 1);
                    else next = s.step(x, eps, i, cfg ? guidance : 1);
                }
                x.close();
                x = next;
                if (progress != null) progress.step(i - begin + 1, n - begin);
            }
            return x;
        } catch (RuntimeException | Error e) {
            x.close();
            throw e;
        }
    }

    /**
     * diffusers' guidance then {@code rescale_noise_cfg} on {@code eps [2B, …]} ({@code [uncond; cond]}):
     * {@code g = u + w·(c − u)}, then per sample {@code φ·g·std(c)/std(g) + (1 − φ)·g} with torch's
     * unbiased std over all but the batch axis. Computed on the host in float64 (the latents are
     * small beside the UNet); a new {@code [B, …]} F32 tensor on eps's device.
     */
    static Tensor rescaled(Tensor eps, double w, double phi) {
        long[] shape = eps.shape();
        float[] v = eps.toFloatArray();
        int half = v.length / 2, b = (int) (shape[0] / 2), per = half / b;
        float[] out = new float[half];
        double[] g = new double[per];
        for (int k = 0; k < b; k++) {
            double sc = 0, sc2 = 0, sg = 0, sg2 = 0;
            for (int j = 0; j < per; j++) {
                double u = v[k * per + j], c = v[half + k * per + j];
                g[j] = u + w * (c - u);
                sc += c;
                sc2 += c * c;
                sg += g[j];
                sg2 += g[j] * g[j];
            }
            double stdC = Math.sqrt(Math.max(0, (sc2 - sc * sc / per) / (per - 1)));
            double stdG = Math.sqrt(Math.max(0, (sg2 - sg * sg / per) / (per - 1)));
            double f = phi * stdC / stdG + (1 - phi);
            for (int j = 0; j < per; j++) out[k * per + j] = (float) (g[j] * f);
        }
        shape[0] = b;
        return eps.device().upload(dev.surpass.DType.F32, out, shape);
    }

    static Tensor initialLatents(Device device, long[] shape, long seed, double sigma) {
        try (Tensor z = Noise.gaussian(device, DType.F32, seed, StableDiffusion.INIT_STREAM, shape)) {
            return Elementwise.scale(z, (float) sigma);
        }
    }

    /** {@code [a; b]} along the first axis (same dtype, device and trailing shape), a new tensor; freed again if a copy fails. */
    static Tensor concat(Tensor a, Tensor b) {
        long[] shape = a.shape();
        shape[0] = a.dim(0) + b.dim(0);
        Tensor out = a.device().allocate(a.dtype(), shape);
        try {
            a.device().backend().copy(a.storage(), a.byteOffset(), out.storage(), out.byteOffset(), a.byteSize());
            a.device().backend().copy(b.storage(), b.byteOffset(), out.storage(), out.byteOffset() + a.byteSize(), b.byteSize());
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** model_index.json's {@code _class_name} in {@code dir}, or "" when there is none or it cannot be read (the pipelines' {@code accepts}). */
    static String pipelineClass(Path dir) {
        if (dir == null || !Files.isRegularFile(dir.resolve("model_index.json"))) return "";
        try {
            return ConfigJson.load(dir.resolve("model_index.json"), "diffusers pipeline").node().path("_class_name").asText("");
        } catch (RuntimeException e) {
            return "";
        }
    }

    /**
     * What every pipeline load checks first: an open device, a folder, its model_index.json (returned); {@code what}
     * names the pipeline class(es) for the messages.
     */
    static JsonNode pipelineIndex(String who, Device device, Path dir, String what) {
        if (device == null) throw new IllegalArgumentException(who + ": device is null");
        if (device.isClosed()) throw new IllegalArgumentException(who + ": device " + device.name() + " is closed");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException(who + ": " + dir + " is not a folder");
        Path index = dir.resolve("model_index.json");
        if (!Files.isRegularFile(index)) throw new IllegalArgumentException(dir + ": no model_index.json (a diffusers " + what + " folder)");
        return ConfigJson.load(index, "diffusers pipeline").node();
    }

    /** Refuses a pipeline folder without one of the component sub-folders {@code parts}. */
    static void requireParts(Path dir, String cls, String... parts) {
        for (String part : parts) {
            if (!Files.isDirectory(dir.resolve(part))) throw new IllegalArgumentException(dir + ": no " + part + "/ folder (a " + cls + " folder has one)");
        }
    }

    /** A T5 tokenizer folder's tokenizer.json (T5TokenizerFast), else its spiece.model (the slow T5Tokenizer's file). */
    static Path t5TokenizerFile(Path folder) {
        Path json = folder.resolve("tokenizer.json"), spm = folder.resolve("spiece.model");
        if (Files.isRegularFile(json)) return json;
        if (Files.isRegularFile(spm)) return spm;
        throw new IllegalArgumentException(folder + ": neither tokenizer.json nor spiece.model (a T5 tokenizer)");
    }

    /**
     * The T5 ids of {@code prompts} as the pipelines tokenize them ({@code padding="max_length", truncation=True}):
     * each text's ids cut to {@code length} with {@code </s>} kept, then {@code <pad>} up to it.
     */
    static int[][] t5Ids(dev.surpass.text.Tokenizer tokenizer, dev.surpass.model.t5.T5Encoder encoder, List<String> prompts, int length) {
        int[][] ids = new int[prompts.size()][];
        for (int i = 0; i < ids.length; i++) {
            int[] t = tokenizer.encode(prompts.get(i), true, length);
            ids[i] = Arrays.copyOf(t, length);
            Arrays.fill(ids[i], t.length, length, encoder.config().padTokenId());
        }
        return ids;
    }

    /** Adds a component a pipeline loader opened to {@code opened} (closed again by {@link #closeAll} if the load fails). */
    static <T extends AutoCloseable> T track(List<AutoCloseable> opened, T t) {
        opened.add(t);
        return t;
    }

    /** Closes each of a pipeline's components, keeping on past a failing close (after a failed load, the load's error is the one to report). */
    static void closeAll(List<AutoCloseable> opened) {
        for (AutoCloseable c : opened) {
            try {
                c.close();
            } catch (Exception ignored) {
                // the first error is the one to report
            }
        }
    }

    /** A copy of {@code t} on its device, owned by the caller. */
    static Tensor copy(Tensor t) {
        return t.to(t.device());
    }
}
