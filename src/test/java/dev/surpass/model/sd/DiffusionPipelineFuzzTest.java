package dev.surpass.model.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.diffusion.DiffusersSampler;
import dev.surpass.diffusion.SchedulerConfig;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.fuzz.Mutate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the diffusion pipelines' public entries on tiny random folders ({@link Sd3Fixture}, {@link FluxFixture},
 * {@link SdFixture}, {@link SdxlFixture}):
 * prompts (null, empty, null entries, long), negative prompts of other counts, sizes (default, odd, negative, huge),
 * steps (0, negative, past num_train_timesteps, Integer.MAX_VALUE), guidance (NaN, ±∞), schedulers, clip skips, seeds,
 * T5 lengths, given latents of any shape and dtype, true-CFG scales and sigmas (Flux), skip-layer guidance (SD3),
 * image-to-image pictures and strengths; and mutated scheduler_config.json files read by {@link SchedulerConfig} and run
 * by {@link DiffusersSampler#createFlow}. Every call returns (its latents shaped as asked) or is refused with
 * IllegalArgumentException / IllegalStateException, and once the pipelines are closed nothing stays allocated.
 */
class DiffusionPipelineFuzzTest {
    @TempDir
    static Path tmp;
    static Device cpu;
    static StableDiffusion3 sd3;
    static FluxPipeline flux;
    static StableDiffusion sd1;
    static StableDiffusionXL sdxl;
    static final int SEQ = 7;

    static int base;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
        base = cpu.liveAllocations();
        sd3 = StableDiffusion3.load(cpu, Sd3Fixture.write(tmp.resolve("sd3"), 71, true, true));
        flux = FluxPipeline.load(cpu, FluxFixture.write(tmp.resolve("flux"), 72, true));
        sd1 = StableDiffusion.load(cpu, SdFixture.write(tmp.resolve("sd1"), 73));
        sdxl = StableDiffusionXL.load(cpu, SdxlFixture.write(tmp.resolve("sdxl"), 74, null));
    }

    @AfterAll
    static void close() {
        sd3.close();
        flux.close();
        sd1.close();
        sdxl.close();
        // the models' caches (per shape) and the lazily loaded VAE encoders are theirs: closed with them, nothing is left
        int left = cpu.liveAllocations() - base;
        cpu.close();
        if (left != 0) throw new AssertionError("the fuzzed pipelines left " + left + " allocations after close");
        Fuzz.finishModel("pipelines");
    }

    /** The {@code [B, C, H/2, W/2]} latents a sample of {@code o} gives (the fixtures' VAEs are ×2; width 0 is the default side). */
    static long[] latentShape(int b, int c, StableDiffusion.Options o, int defaultSide) {
        int w = o.width() == 0 ? defaultSide : o.width(), h = o.height() == 0 ? w : o.height();
        return new long[] {b, c, h / 2, w / 2};
    }

    static List<String> prompts(Gen g, int n) {
        return switch (g.weighted(8, 1, 1, 1)) {
            case 0 -> {
                List<String> p = new ArrayList<>();
                for (int i = 0; i < n; i++) p.add(g.pick("a red cat", "photo of a blue dog", "", "blurry blurry blurry " + "cat ".repeat(g.between(0, 40))));
                yield p;
            }
            case 1 -> null;
            case 2 -> List.of();
            default -> Arrays.asList("a cat", null);
        };
    }

    static StableDiffusion.Options options(Gen g, StableDiffusion.Options base) {
        int w = g.weighted(6, 1, 1) == 0 ? g.pickInt(16, 24) : g.pickInt(0, 14, -8, Integer.MAX_VALUE);
        int h = g.weighted(6, 1) == 0 ? g.pickInt(12, 16) : g.pickInt(18, -4);
        int steps = g.weighted(8, 1) == 0 ? g.between(1, 2) : g.pickInt(0, -1, 1001, Integer.MAX_VALUE);
        double guidance = g.weighted(6, 1) == 0 ? g.pickDouble(1, 2.5, 0) : g.pickDouble(Double.NaN, Double.POSITIVE_INFINITY, -1e300);
        DiffusersSampler.Kind kind = g.weighted(6, 1) == 0 ? null : g.pick(DiffusersSampler.Kind.class);
        int clipSkip = g.weighted(8, 1) == 0 ? 0 : g.pickInt(1, -1, 9);
        return base.withSize(w, h).withSteps(steps).withGuidance(guidance).withScheduler(kind).withSeed(g.anyLong()).withClipSkip(clipSkip);
    }

    /** Latents of a random shape and dtype (the right one now and then), or null. */
    static Tensor latents(Gen g, long[] right) {
        if (g.weighted(3, 1) == 0) return null;
        long[] shape = g.bool() ? right.clone() : g.shape(1, 4, 6);
        long n = 1;
        for (long s : shape) n *= s;
        if (n <= 0 || n > (1 << 20) || !Gen.safeToAllocate(DType.F32, shape)) return null;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = g.between(-2f, 2f);
        return cpu.upload(g.weighted(4, 1) == 0 ? DType.F32 : DType.BF16, v, shape);
    }

    @Test
    void sd3Sample() {
        Fuzz.forAll("pipelines.sd3.sample", 30, g -> {
            int b = g.between(1, 2);
            List<String> p = prompts(g, b);
            List<String> neg = g.weighted(3, 1) == 0 ? null : prompts(g, g.between(1, 3));
            StableDiffusion.Options o = options(g, StableDiffusion3.defaults());
            int seq = g.weighted(6, 1) == 0 ? SEQ : g.pickInt(0, -3, 1 << 20);
            StableDiffusion3.SkipLayerGuidance slg = g.weighted(4, 1) == 0 ? null
                    : new StableDiffusion3.SkipLayerGuidance(new int[] {g.pickInt(0, 1, 2, -1)}, 2.8, 0.0, 1.0);
            try (Tensor l = latents(g, new long[] {b, Sd3Fixture.LAT, 8, 6})) {
                StableDiffusion.Options oo = l == null ? o : o.withLatents(l);
                String in = "prompts " + p + " neg " + neg + " " + oo + " seq " + seq + " slg " + (slg == null ? null : Arrays.toString(slg.layers()));
                try (Tensor r = Fuzz.call("pipelines.sd3.sample", in, () -> sd3.sample(p, neg, oo, seq, slg, null))) {
                    if (r != null) assertArrayEquals(latentShape(p.size(), Sd3Fixture.LAT, oo, sd3.defaultSize()), r.shape(), in);
                }
            }
        });
    }

    @Test
    void fluxSample() {
        Fuzz.forAll("pipelines.flux.sample", 30, g -> {
            int b = g.between(1, 2);
            List<String> p = prompts(g, b);
            List<String> neg = g.weighted(2, 1) == 0 ? null : prompts(g, g.between(1, 3));
            StableDiffusion.Options o = options(g, FluxPipeline.defaults());
            if (o.width() == 0) o = o.withSize(24, o.height()); // (the default side is 256: slow for a fuzz try)
            double[] sigmas = switch (g.weighted(6, 1, 1)) {
                case 0 -> null;
                case 1 -> g.doubleArray(0, 3, () -> g.between(0.01, 1.0));
                default -> g.doubleArray(1, 3, () -> g.pickDouble(0, -1, 2, Double.NaN, 0.5));
            };
            int seq = g.weighted(6, 1) == 0 ? SEQ : g.pickInt(0, 513, -1);
            double cfg = g.weighted(3, 1, 1) == 0 ? 1 : g.weighted(3, 1) == 0 ? 2.5 : g.pickDouble(Double.NaN, Double.NEGATIVE_INFINITY);
            StableDiffusion.Options oo0 = o;
            FluxPipeline.FluxOptions fo;
            try {
                fo = new FluxPipeline.FluxOptions(cfg, seq, sigmas);
            } catch (IllegalArgumentException e) {
                return; // refused where it is made, naming the field (FluxOptions' own checks)
            }
            try (Tensor l = latents(g, new long[] {b, (oo0.height() / 4) * (oo0.width() / 4), FluxFixture.IN})) {
                StableDiffusion.Options oo = l == null ? oo0 : oo0.withLatents(l);
                String in = "prompts " + p + " neg " + neg + " " + oo + " " + fo + " sigmas " + Arrays.toString(sigmas);
                try (Tensor r = Fuzz.call("pipelines.flux.sample", in, () -> flux.sample(p, neg, oo, fo, null))) {
                    if (r != null) assertArrayEquals(latentShape(p.size(), FluxFixture.LAT, oo, flux.defaultSize()), r.shape(), in);
                }
            }
        });
    }

    @Test
    void imageToImage() {
        Fuzz.forAll("pipelines.img2img", 24, g -> {
            int b = g.between(1, 2);
            List<String> p = prompts(g, b);
            long[] shape = g.weighted(4, 1) == 0 ? new long[] {g.pickInt(1, 2, 3), 3, g.pickInt(12, 16, 7), g.pickInt(16, 24, 10)} : g.shape(1, 5, 8);
            double strength = g.weighted(5, 1) == 0 ? g.between(0.05, 1.0) : g.pickDouble(0, -0.5, 1.5, Double.NaN);
            StableDiffusion.Options o = options(g, FluxPipeline.defaults()).withSize(0, 0);
            long n = 1;
            for (long s : shape) n *= s;
            if (shape.length != 4 || n <= 0 || n > (1 << 20) || !Gen.safeToAllocate(DType.F32, shape)) return; // (a bad tensor is the uploads' fuzz)
            float[] px = new float[(int) n];
            for (int i = 0; i < px.length; i++) px[i] = g.between(-1f, 1f);
            boolean useFlux = g.bool();
            try (Tensor img = cpu.upload(DType.F32, px, shape)) {
                String in = (useFlux ? "flux " : "sd3 ") + "prompts " + p + " images " + Arrays.toString(shape) + " strength " + strength + " " + o;
                try (Tensor r = Fuzz.call("pipelines.img2img", in, () -> useFlux
                        ? flux.sampleFromImage(p, null, img, strength, o, new FluxPipeline.FluxOptions(1, SEQ, null), null)
                        : sd3.sampleFromImage(p, null, img, strength, o.withGuidance(1), SEQ, null))) {
                    if (r != null) assertArrayEquals(new long[] {p.size(), useFlux ? FluxFixture.LAT : Sd3Fixture.LAT, shape[2] / 2, shape[3] / 2}, r.shape(), in);
                }
            }
        });
    }

    /** SD 1.x and SDXL (UNet pipelines): sample and sampleFromImage with every scheduler kind (flow-euler refused), eta, guidance rescale. */
    @Test
    void unetPipelines() {
        Fuzz.forAll("pipelines.unet", 30, g -> {
            boolean xl = g.bool();
            int b = g.between(1, 2);
            List<String> p = prompts(g, b);
            List<String> neg = g.weighted(3, 1) == 0 ? null : prompts(g, g.between(1, 3));
            StableDiffusion.Options o = options(g, StableDiffusion.Options.defaults()).withEta(g.weighted(5, 1) == 0 ? 0 : g.pickDouble(0.5, -1, Double.NaN));
            if (g.weighted(5, 1) == 1) o = o.withGuidanceRescale(g.between(0.0, 1.0));
            if (o.width() == 0) o = o.withSize(16, o.height());
            StableDiffusion.Options oo = o;
            int defaultSide = xl ? sdxl.defaultSize() : sd1.defaultSize();
            if (g.bool()) {
                String in = (xl ? "sdxl " : "sd1 ") + "prompts " + p + " neg " + neg + " " + oo;
                try (Tensor r = Fuzz.call("pipelines.unet", in, () -> xl ? sdxl.sample(p, neg, oo, null) : sd1.sample(p, neg, oo, null))) {
                    if (r != null) assertArrayEquals(latentShape(p.size(), 4, oo, defaultSide), r.shape(), in);
                }
                return;
            }
            long[] shape = {g.pickInt(1, 2, 3), 3, g.pickInt(16, 8, 12), g.pickInt(16, 24)};
            double strength = g.weighted(5, 1) == 0 ? g.between(0.3, 1.0) : g.pickDouble(0, 1.5, 0.01);
            float[] px = new float[(int) (shape[0] * shape[1] * shape[2] * shape[3])];
            for (int i = 0; i < px.length; i++) px[i] = g.between(-1f, 1f);
            try (Tensor img = cpu.upload(DType.F32, px, shape)) {
                String in = (xl ? "sdxl " : "sd1 ") + "img2img prompts " + p + " images " + Arrays.toString(shape) + " strength " + strength + " " + oo;
                try (Tensor r = Fuzz.call("pipelines.unet", in, () -> xl ? sdxl.sampleFromImage(p, neg, img, strength, oo.withLatents(null), null)
                        : sd1.sampleFromImage(p, neg, img, strength, oo.withLatents(null), null))) {
                    if (r != null) assertArrayEquals(new long[] {p.size(), 4, shape[2] / 2, shape[3] / 2}, r.shape(), in);
                }
            }
        });
    }

    @Test
    void schedulerConfigFiles() throws Exception {
        Path src = tmp.resolve("flux").resolve("scheduler");
        Fuzz.forAll("files.pipelines.scheduler", 40, g -> {
            Path work = Files.createDirectories(tmp.resolve("sched-" + g.between(0, 3)));
            String m = Mutate.json(Files.readString(src.resolve("scheduler_config.json")), new java.util.Random(g.anyLong()));
            Mutate.write(work.resolve("scheduler_config.json"), m);
            Fuzz.count("files.pipelines.scheduler");
            SchedulerConfig c = Fuzz.call("files.pipelines.scheduler", Mutate.abbreviate(m), () -> SchedulerConfig.load(work));
            if (c == null) return;
            int steps = g.between(1, 6);
            double mu = g.weighted(3, 1) == 0 ? c.flow().mu(g.between(1, 5000)) : Double.NaN;
            try (DiffusersSampler s = Fuzz.call("pipelines.scheduler.createFlow", Mutate.abbreviate(m),
                    () -> DiffusersSampler.createFlow(c, steps, g.bool() ? null : FluxPipeline.linspaceSigmas(steps), mu, 0))) {
                if (s != null) {
                    for (int i = 0; i < s.evaluations(); i++) {
                        float t = s.timestep(i);
                        if (!(t >= 0 && t <= c.numTrainTimesteps())) throw new AssertionError("timestep " + t + " from " + Mutate.abbreviate(m));
                    }
                }
            }
        });
    }
}
