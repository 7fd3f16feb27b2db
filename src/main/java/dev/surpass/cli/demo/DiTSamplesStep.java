package dev.surpass.cli.demo;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.plot.TextFace;
import dev.surpass.model.dit.DiT;
import dev.surpass.model.dit.DiTSampler;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * The pixel-space DiT shipped in {@code models/fashion-dit} (Fashion-MNIST, 28×28×1, learned
 * sigma, 10 classes) samples one image per class with DDIM and with DPM-Solver++(2M) from the same
 * seed, x0 clipped to [−1, 1] at every step ({@link DiTSampler}'s {@code clipDenoised}), with
 * classifier-free guidance; the images go to {@code dit-samples.png} (rows: sampler, columns: class).
 * Checks: every output finite and within [−1, 1]; the same seed gives the same images (DDIM run
 * twice); the classes differ from each other, and each DDIM image is on average closer to the
 * DPM-Solver++ image of its own class than to the other classes' (both solve the same ODE from the
 * same noise). On a GPU run the CPU twin samples DDIM too: the images must agree (mean |difference|
 * ≤ 1e-3; the noise is Philox, the same on every device) and the times give the speed-up. Without
 * {@code models/} the step says it skipped.
 */
public final class DiTSamplesStep implements DemoStep {
    /** Fashion-MNIST's labels 0..9. */
    public static final List<String> CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
            "Sneaker", "Bag", "Ankle boot");

    /** Sampling steps per sampler, guidance scale, seed, and the pixel zoom of the PNG. */
    public record Config(int steps, double guidance, long seed, int zoom) {
        public Config {
            if (steps < 1 || zoom < 1) throw new IllegalArgumentException("DiTSamplesStep: steps and zoom must be >= 1");
        }

        /** 25 steps, guidance 2, seed 0, 3× zoom. */
        public static Config defaults() {
            return new Config(25, 2.0, 0, 3);
        }
    }

    private final Config config;
    private final Path dir;

    /** With the model found by {@link ModelFiles#find}. */
    public DiTSamplesStep(Config config) {
        this(config, ModelFiles.find("fashion-dit"));
    }

    /** With an explicit model folder; null makes the step skip. */
    public DiTSamplesStep(Config config, Path dir) {
        this.config = config;
        this.dir = dir;
    }

    @Override
    public String title() {
        return "DiT samples: a pixel-space DiT trained on Fashion-MNIST, one image per class, DDIM and DPM-Solver++";
    }

    @Override
    public StepResult run(DemoContext ctx) throws IOException {
        Device dev = ctx.device();
        PrintWriter out = ctx.out();
        StepResult.Builder res = new StepResult.Builder("DiT samples", dev.name());
        if (dir == null) {
            out.println("  skipped: models/ not found (models/fashion-dit is in the repository, not in the bundle; run ./surpass demo from a checkout)");
            return res.build("skipped: models/ not found");
        }
        Config c = config;
        int n = CLASSES.size();
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = i;
        Device twin = ctx.twin();
        float[] ddim, dpm, again, cpuDdim = null;
        double ddimS, dpmS, cpuDdimS = 0;
        int pixels;
        try (DiT model = DiT.load(dev, dir.resolve("model.safetensors"));
             Progress p = ctx.progress("DiT sampling", (twin == null ? 3 : 4) * c.steps())) {
            if (model.config().numClasses() != n || model.config().inChannels() != 1) {
                throw new IllegalStateException(dir + ": expected a 1-channel model with " + n + " classes, got " + model.config());
            }
            int s = model.config().inputSize();
            pixels = s * s;
            long t0 = System.nanoTime();
            ddim = sample(model, labels, DiTSampler.Sampler.DDIM, p, "DDIM");
            ddimS = (System.nanoTime() - t0) / 1e9;
            t0 = System.nanoTime();
            dpm = sample(model, labels, DiTSampler.Sampler.DPMPP_2M, p, "DPM-Solver++");
            dpmS = (System.nanoTime() - t0) / 1e9;
            again = sample(model, labels, DiTSampler.Sampler.DDIM, p, "DDIM again (determinism)");
            if (twin != null) {
                try (DiT cpuModel = DiT.load(twin, dir.resolve("model.safetensors"))) {
                    t0 = System.nanoTime();
                    cpuDdim = sample(cpuModel, labels, DiTSampler.Sampler.DDIM, p, "DDIM on the CPU");
                    cpuDdimS = (System.nanoTime() - t0) / 1e9;
                }
            }
        }
        out.printf(Locale.ROOT, "  %d classes × 2 samplers, %d steps each, guidance %.1f, seed %d, x0 clipped to [-1, 1]%n", n, c.steps(),
                c.guidance(), c.seed());
        out.printf(Locale.ROOT, "  DDIM: %.2f s (%.1f images/s); DPM-Solver++(2M): %.2f s (%.1f images/s)%n", ddimS, n / ddimS, dpmS, n / dpmS);

        res.check("samples finite", finite(ddim) && finite(dpm), (ddim.length + dpm.length) + " values");
        res.check("samples within [-1, 1] (x0 clipped)", within(ddim) && within(dpm),
                String.format(Locale.ROOT, "DDIM [%.4f, %.4f], DPM-Solver++ [%.4f, %.4f]", min(ddim), max(ddim), min(dpm), max(dpm)));
        res.check("same seed, same images", java.util.Arrays.equals(ddim, again), "DDIM sampled twice with seed " + c.seed());
        double ddimApart = meanPairDistance(ddim, ddim, n, pixels, false), dpmApart = meanPairDistance(dpm, dpm, n, pixels, false);
        res.check("classes differ from each other", ddimApart > 0.05 && dpmApart > 0.05,
                String.format(Locale.ROOT, "mean |difference| between classes: DDIM %.3f, DPM-Solver++ %.3f", ddimApart, dpmApart));
        double same = meanPairDistance(ddim, dpm, n, pixels, true), other = meanPairDistance(ddim, dpm, n, pixels, false);
        res.check("DDIM and DPM-Solver++ agree per class", same < other,
                String.format(Locale.ROOT, "mean |DDIM − DPM-Solver++|: same class %.3f, other classes %.3f", same, other));

        if (cpuDdim != null) {
            double sum = 0, worst = 0;
            for (int i = 0; i < ddim.length; i++) {
                double d = Math.abs(ddim[i] - cpuDdim[i]);
                sum += d;
                worst = Math.max(worst, d);
            }
            double mean = sum / ddim.length;
            out.printf(Locale.ROOT, "  DDIM on the CPU: %.2f s (%.1f images/s)%n", cpuDdimS, n / cpuDdimS);
            res.check("DDIM images: " + dev.name() + " agrees with the CPU", mean <= 1e-3,
                    String.format(Locale.ROOT, "mean |difference| %.2g (bound 1e-3), max %.2g, over %d pixels", mean, worst, ddim.length));
            res.speedup("DiT: " + n + " images, DDIM " + c.steps() + " steps", cpuDdimS, ddimS);
        }

        Path png = ctx.outDir().resolve("dit-samples.png");
        BufferedImage img = render(new float[][] {ddim, dpm},
                new String[] {"DDIM " + c.steps(), "DPM-Solver++ " + c.steps()}, (int) Math.round(Math.sqrt(pixels)),
                String.format(Locale.ROOT, "models/fashion-dit (1.3 M parameters, pixel space) on %s: %d steps, guidance %.1f, seed %d",
                        dev.name(), c.steps(), c.guidance(), c.seed()));
        Files.createDirectories(png.toAbsolutePath().getParent());
        ImageIO.write(img, "png", png.toFile());
        res.check("dit-samples.png written", Files.size(png) > 0, png + " " + img.getWidth() + "×" + img.getHeight());
        res.file(png);
        return res.build(String.format(Locale.ROOT, "10 classes in %.1f s (DDIM) and %.1f s (DPM-Solver++), %d steps each", ddimS, dpmS,
                c.steps()));
    }

    private float[] sample(DiT model, int[] labels, DiTSampler.Sampler sampler, Progress p, String what) {
        try (Tensor x = DiTSampler.sample(model, labels, config.steps(), config.guidance(), sampler, config.seed(), 0, null, 1.0,
                (done, total) -> p.step(what + " " + done + "/" + total))) {
            return x.toFloatArray();
        }
    }

    static boolean finite(float[] a) {
        for (float v : a) if (!Float.isFinite(v)) return false;
        return true;
    }

    static boolean within(float[] a) {
        for (float v : a) if (!(v >= -1 - 1e-5f && v <= 1 + 1e-5f)) return false;
        return true;
    }

    private static float min(float[] a) {
        float m = Float.POSITIVE_INFINITY;
        for (float v : a) m = Math.min(m, v);
        return m;
    }

    private static float max(float[] a) {
        float m = Float.NEGATIVE_INFINITY;
        for (float v : a) m = Math.max(m, v);
        return m;
    }

    /** Mean absolute pixel difference between image i of a and image j of b, over i == j or over i != j. */
    static double meanPairDistance(float[] a, float[] b, int n, int pixels, boolean sameClass) {
        double sum = 0;
        int pairs = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                if ((i == j) != sameClass) continue;
                double d = 0;
                for (int k = 0; k < pixels; k++) d += Math.abs(a[i * pixels + k] - b[j * pixels + k]);
                sum += d / pixels;
                pairs++;
            }
        }
        return sum / pairs;
    }

    /** The labelled grid: a header row of class names, one row of images per sampler, a caption. */
    BufferedImage render(float[][] rows, String[] rowNames, int side, String caption) {
        TextFace rowFont = TextFace.sans(Font.BOLD, 12), headFont = TextFace.sans(Font.PLAIN, 12), captionFont = TextFace.sans(Font.PLAIN, 11);
        int labelW = 0;
        for (String r : rowNames) labelW = Math.max(labelW, rowFont.width(r));
        int n = CLASSES.size(), cell = side * config.zoom(), gap = 8, left = labelW + 16, top = 28, bottom = 26;
        int w = left + n * (cell + gap) + gap, h = top + rows.length * (cell + gap) + bottom;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.BLACK);
            for (int c = 0; c < n; c++) {
                String name = CLASSES.get(c);
                int x = left + gap + c * (cell + gap) + (cell - headFont.width(name)) / 2;
                headFont.draw(g, name, x, top - 10);
            }
            for (int r = 0; r < rows.length; r++) {
                int y0 = top + r * (cell + gap);
                g.setColor(Color.BLACK);
                rowFont.draw(g, rowNames[r], 8, y0 + cell / 2 + rowFont.ascent() / 2);
                for (int c = 0; c < n; c++) {
                    int x0 = left + gap + c * (cell + gap);
                    for (int py = 0; py < side; py++) {
                        for (int px = 0; px < side; px++) {
                            float v = Math.max(-1f, Math.min(1f, rows[r][c * side * side + py * side + px]));
                            int gray = Math.round((v + 1) * 127.5f);
                            g.setColor(new Color(gray, gray, gray));
                            g.fillRect(x0 + px * config.zoom(), y0 + py * config.zoom(), config.zoom(), config.zoom());
                        }
                    }
                }
            }
            g.setColor(Color.DARK_GRAY);
            captionFont.draw(g, caption, 8, h - 9);
        } finally {
            g.dispose();
        }
        return img;
    }
}
