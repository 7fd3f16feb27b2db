package dev.surpass.cli;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.attention.AttentionOutput;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code surpass attention-map}: the attention probabilities of one head as a heatmap PNG.
 *
 * <p>Runs {@link Attention#prefillWithLse} (the fused kernel never builds the N×N matrix), then
 * recomputes the softmax rows from the saved LSE with {@link Attention#attentionProbabilities} and
 * paints them: row i (query) top to bottom, column j (key) left to right, each cell
 * {@link #cellSize} pixels, colour by a viridis-like map of {@code p / max p} (dark = 0, yellow =
 * the largest probability). Axis ticks are drawn with a built-in 3×5 pixel font, so no system fonts
 * are needed (headless servers, jlinked runtimes).
 *
 * <p>Inputs: random q, k ({@code --seq}, {@code --heads}, {@code --dim}, {@code --seed}) or
 * {@code --inputs} a safetensors file with tensors {@code q} and {@code k}, each {@code [N, H, D]}
 * or {@code [1, N, H, D]} (fp32, fp16 or bf16; k may have fewer heads, GQA).
 */
@Command(name = "attention-map", mixinStandardHelpOptions = true,
        description = "Renders one head's attention probabilities (recomputed from prefill's LSE) as a heatmap PNG.")
public final class AttentionMapCommand implements Callable<Integer> {
    /** Left margin (query-axis ticks and label), pixels. */
    static final int LEFT = 40;
    /** Top margin (key-axis ticks and label), pixels. */
    static final int TOP = 28;
    /** Right and bottom margins, pixels. */
    static final int RIGHT = 8, BOTTOM = 8;
    /** Largest heatmap side drawn by default. */
    static final int TARGET = 512;

    @Option(names = "--seq", defaultValue = "64", description = "Sequence length of the random input (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--heads", defaultValue = "4", description = "Heads of the random input (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--dim", defaultValue = "64", description = "Head dim of the random input (default: ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--causal", description = "Causal mask (keys after the query are hidden).")
    boolean causal;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the random input (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--inputs", paramLabel = "FILE.safetensors", description = "Take q and k ([N,H,D] or [1,N,H,D]) from this file instead of random ones.")
    Path inputs;

    @Option(names = "--head", defaultValue = "0", description = "Query head to draw (default: ${DEFAULT-VALUE}).")
    int head;

    @Option(names = "--cell", description = "Pixels per cell (default: fit the map into about " + TARGET + " pixels).")
    Integer cell;

    @Option(names = "--device", defaultValue = "cpu", description = "Device: " + Devices.HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--out", required = true, paramLabel = "map.png", description = "Output PNG.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter o = spec.commandLine().getOut();
        if (cell != null && (cell < 1 || cell > 64)) throw new UsageException("--cell must be 1..64, got " + cell);
        if (inputs == null) {
            if (seq < 1 || seq > 8192) throw new UsageException("--seq must be 1..8192, got " + seq);
            if (heads < 1) throw new UsageException("--heads must be positive, got " + heads);
            if (dim < 1) throw new UsageException("--dim must be positive, got " + dim);
        }
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        String devSpec = "all".equals(device) ? "cpu" : device;
        try (Devices devices = Devices.open(devSpec, spec.commandLine().getErr()); Scope sc = Scope.open()) {
            Device d = devices.first();
            Tensor q, k;
            if (inputs != null) {
                if (!Files.isRegularFile(inputs)) throw new UsageException("--inputs: no such file: " + inputs);
                try (SafeTensorsFile f = SafeTensors.open(inputs); Device host = Device.cpu()) {
                    q = sc.track(batched(f, "q", d, host));
                    k = sc.track(batched(f, "k", d, host));
                }
            } else {
                q = sc.track(d.upload(DType.F32, random(seed, (long) seq * heads * dim), 1, seq, heads, dim));
                k = sc.track(d.upload(DType.F32, random(seed + 1, (long) seq * heads * dim), 1, seq, heads, dim));
            }
            int nq = (int) q.dim(1), hq = (int) q.dim(2), nk = (int) k.dim(1);
            if (nq > 8192 || nk > 8192) throw new UsageException("attention-map draws at most 8192 queries and keys, got " + nq + "×" + nk);
            if (head < 0 || head >= hq) throw new UsageException("--head must be 0.." + (hq - 1) + ", got " + head);
            AttentionOptions opts = causal ? AttentionOptions.causal() : AttentionOptions.defaults();
            // v only shapes the output; the probabilities depend on q, k and the options alone.
            AttentionOutput fwd = sc.track(Attention.prefillWithLse(q, k, k, opts));
            int[] rows = new int[nq];
            for (int i = 0; i < nq; i++) rows[i] = i;
            Tensor p = sc.track(Attention.attentionProbabilities(q, k, fwd.lse(), new int[] {head}, rows, opts));
            float[] probs = p.toFloatArray(); // [1, 1, nq, nk]
            int c = cell != null ? cell : Math.max(1, TARGET / Math.max(nq, nk));
            BufferedImage img = render(probs, nq, nk, c);
            try {
                Path parent = out.toAbsolutePath().getParent();
                if (parent != null) Files.createDirectories(parent);
                if (!ImageIO.write(img, "png", out.toFile())) throw new IllegalStateException("no PNG writer in this Java runtime");
            } catch (IOException e) {
                throw new UncheckedIOException("writing " + out + ": " + e.getMessage(), e);
            }
            float max = 0;
            for (float x : probs) max = Math.max(max, x);
            o.printf(Locale.ROOT, "attention map: head %d of %d, %d queries x %d keys%s on %s; max p %.4g%n", head, hq, nq, nk,
                    causal ? " (causal)" : "", d.name(), max);
            o.printf(Locale.ROOT, "wrote %s (%dx%d px, %d px per cell)%n", out, img.getWidth(), img.getHeight(), c);
            return 0;
        }
    }

    /** Tensor {@code name} of the file copied to {@code d} as [1, N, H, D] (so it outlives the file). */
    private static Tensor batched(SafeTensorsFile f, String name, Device d, Device host) {
        if (!f.contains(name)) throw new UsageException("--inputs: " + f.path() + " has no tensor '" + name + "' (has " + f.names() + ")");
        try (Tensor t = f.tensor(name, host)) {
            int r = t.rank();
            if (r != 3 && !(r == 4 && t.dim(0) == 1)) {
                throw new UsageException("--inputs: '" + name + "' must be [N, H, D] or [1, N, H, D], got " + java.util.Arrays.toString(t.shape()));
            }
            return d.upload(t.dtype(), t.toFloatArray(), 1, t.dim(r - 3), t.dim(r - 2), t.dim(r - 1));
        }
    }

    private static float[] random(long seed, long n) {
        if (n > Integer.MAX_VALUE - 8) throw new UsageException("random input of " + n + " elements is too large");
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[(int) n];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 2 - 1) * 2f;
        return x;
    }

    // ---- rendering -------------------------------------------------------------------------------

    /** Image size for an nq × nk map with {@code cell}-pixel cells. */
    static int width(int nk, int cell) {
        return LEFT + nk * cell + RIGHT;
    }

    static int height(int nq, int cell) {
        return TOP + nq * cell + BOTTOM;
    }

    /** The heatmap of {@code p} [nq][nk] (row-major) with axis ticks. */
    static BufferedImage render(float[] p, int nq, int nk, int cell) {
        BufferedImage img = new BufferedImage(width(nk, cell), height(nq, cell), BufferedImage.TYPE_INT_RGB);
        int w = img.getWidth(), h = img.getHeight();
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, 0xFFFFFF);
        float max = 0;
        for (float v : p) if (v > max) max = v;
        float inv = max > 0 ? 1f / max : 0f;
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                int rgb = viridis(p[i * nk + j] * inv);
                for (int dy = 0; dy < cell; dy++) {
                    for (int dx = 0; dx < cell; dx++) img.setRGB(LEFT + j * cell + dx, TOP + i * cell + dy, rgb);
                }
            }
        }
        // axes: ticks at 0, the middle and the last index; "key" above, "query" on the left
        int ink = 0x202020;
        for (int j : ticks(nk)) {
            int x = LEFT + j * cell + cell / 2;
            for (int t = 1; t <= 3; t++) img.setRGB(x, TOP - t, ink);
            String s = Integer.toString(j);
            Glyphs.draw(img, s, Math.max(0, Math.min(w - Glyphs.width(s), x - Glyphs.width(s) / 2)), TOP - 3 - 1 - Glyphs.HEIGHT, ink);
        }
        Glyphs.draw(img, "key", LEFT, 2, ink);
        for (int i : ticks(nq)) {
            int y = TOP + i * cell + cell / 2;
            for (int t = 1; t <= 3; t++) img.setRGB(LEFT - t, y, ink);
            String s = Integer.toString(i);
            Glyphs.draw(img, s, Math.max(0, LEFT - 5 - Glyphs.width(s)), Math.max(0, Math.min(h - Glyphs.HEIGHT, y - Glyphs.HEIGHT / 2)), ink);
        }
        Glyphs.draw(img, "query", 2, 2, ink);
        return img;
    }

    private static int[] ticks(int n) {
        return n == 1 ? new int[] {0} : n == 2 ? new int[] {0, 1} : new int[] {0, n / 2, n - 1};
    }

    /** Control points of a viridis-like map (dark purple → blue → teal → green → yellow), luminance increasing. */
    private static final int[][] MAP = {
        {68, 1, 84}, {71, 44, 122}, {59, 82, 139}, {44, 114, 142}, {33, 145, 140}, {40, 174, 128}, {94, 201, 98},
        {173, 220, 48}, {253, 231, 37}
    };

    /** RGB of {@code t} in [0, 1] (clamped), linear between the control points. */
    static int viridis(float t) {
        float u = Float.isNaN(t) ? 0f : Math.max(0f, Math.min(1f, t)) * (MAP.length - 1);
        int i = Math.min(MAP.length - 2, (int) u);
        float f = u - i;
        int r = Math.round(MAP[i][0] + f * (MAP[i + 1][0] - MAP[i][0]));
        int g = Math.round(MAP[i][1] + f * (MAP[i + 1][1] - MAP[i][1]));
        int b = Math.round(MAP[i][2] + f * (MAP[i + 1][2] - MAP[i][2]));
        return r << 16 | g << 8 | b;
    }

    /** A 3×5 pixel font for digits and the few letters the axes need, drawn at 1 pixel per dot. */
    static final class Glyphs {
        static final int HEIGHT = 5;
        private static final String CHARS = "0123456789keyqur";
        // each glyph: 5 rows of 3 bits, top row first, leftmost pixel the high bit
        private static final int[][] BITS = {
            {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
            {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 2, 2}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
            {4, 5, 6, 5, 5}, {0, 7, 7, 4, 7}, {0, 5, 5, 2, 4}, {0, 7, 5, 7, 1}, {0, 5, 5, 5, 7}, {0, 3, 4, 4, 4}
        };

        private Glyphs() {}

        static int width(String s) {
            return s.isEmpty() ? 0 : 4 * s.length() - 1;
        }

        static void draw(BufferedImage img, String s, int x0, int y0, int rgb) {
            for (int n = 0; n < s.length(); n++) {
                int g = CHARS.indexOf(s.charAt(n));
                if (g < 0) continue;
                for (int row = 0; row < 5; row++) {
                    for (int col = 0; col < 3; col++) {
                        if ((BITS[g][row] >> (2 - col) & 1) == 0) continue;
                        int x = x0 + 4 * n + col, y = y0 + row;
                        if (x >= 0 && y >= 0 && x < img.getWidth() && y < img.getHeight()) img.setRGB(x, y, rgb);
                    }
                }
            }
        }
    }
}
