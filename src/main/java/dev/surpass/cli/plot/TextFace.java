package dev.surpass.cli.plot;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * How the plots draw text: DejaVu Sans through the JDK's font system ({@link Fonts}) where it works, else the same face
 * pre-rendered into a glyph atlas shipped in the jar ({@code glyphs.png} + {@code glyphs.tsv}, made by
 * {@code tools/plot/GlyphAtlas.java}). A GPU server without fontconfig cannot load any font — {@code Font.createFont}
 * fails with "Problem reading font data" — and the atlas draws the same antialiased glyphs there by plain image
 * compositing. {@code -Dsurpass.plot.glyphAtlas=true} forces the atlas (tests use it on machines whose fonts work).
 */
public abstract class TextFace {
    private static final Logger LOG = Logger.getLogger(TextFace.class.getName());
    private static volatile Boolean awt;
    private static volatile Atlas atlas;

    TextFace() {}

    /** Text width in pixels. */
    public abstract int width(String s);

    /** Pixels above the baseline. */
    public abstract int ascent();

    /** Draws {@code s} in {@code g}'s colour with its baseline at {@code y}, starting at {@code x}. */
    public abstract void draw(Graphics2D g, String s, float x, float y);

    /**
     * DejaVu Sans at {@code size} points in {@code style} ({@link Font#PLAIN} or {@link Font#BOLD}): the JDK's rendering, or
     * the atlas's face of that style closest in size when the JDK has no usable font system.
     */
    public static TextFace sans(int style, int size) {
        if (awtWorks()) return new AwtFace(Fonts.sans(style, size));
        return atlas().face(style, size);
    }

    /** The atlas's face (whatever the JDK can do), for tests. */
    static TextFace atlasFace(int style, int size) {
        return atlas().face(style, size);
    }

    private static boolean awtWorks() {
        Boolean a = awt;
        if (a != null) return a;
        synchronized (TextFace.class) {
            if (awt == null) {
                if (Boolean.getBoolean("surpass.plot.glyphAtlas")) {
                    awt = false;
                } else {
                    try {
                        Font f = Fonts.sans(Font.PLAIN, 12);
                        BufferedImage probe = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
                        Graphics2D g = probe.createGraphics();
                        g.getFontMetrics(f).stringWidth("x");
                        g.dispose();
                        awt = true;
                    } catch (RuntimeException | Error e) {
                        LOG.info("surpass: the JDK cannot load fonts here (" + e + (e.getCause() != null ? "; " + e.getCause() : "")
                                + "); the plots draw their text from the jar's glyph atlas");
                        awt = false;
                    }
                }
            }
            return awt;
        }
    }

    private static Atlas atlas() {
        Atlas a = atlas;
        if (a != null) return a;
        synchronized (TextFace.class) {
            if (atlas == null) atlas = Atlas.load();
            return atlas;
        }
    }

    /** The JDK's font. */
    private static final class AwtFace extends TextFace {
        private final Font font;
        private final FontMetrics fm;

        AwtFace(Font font) {
            this.font = font;
            BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = probe.createGraphics();
            this.fm = g.getFontMetrics(font);
            g.dispose();
        }

        @Override
        public int width(String s) {
            return fm.stringWidth(s);
        }

        @Override
        public int ascent() {
            return fm.getAscent();
        }

        @Override
        public void draw(Graphics2D g, String s, float x, float y) {
            g.setFont(font);
            g.drawString(s, x, y);
        }
    }

    /** The glyph atlas: every face's cells, the coverage of each glyph in the red channel. */
    private static final class Atlas {
        final BufferedImage image;
        final Map<Long, AtlasFace> faces = new HashMap<>();

        Atlas(BufferedImage image) {
            this.image = image;
        }

        static Atlas load() {
            try (InputStream png = TextFace.class.getResourceAsStream("glyphs.png"); InputStream tsv = TextFace.class.getResourceAsStream("glyphs.tsv")) {
                if (png == null || tsv == null) throw new IllegalStateException("the jar has no glyph atlas (glyphs.png, glyphs.tsv) beside " + TextFace.class.getName());
                Atlas a = new Atlas(javax.imageio.ImageIO.read(png));
                Map<Integer, AtlasFace> byIndex = new HashMap<>();
                int index = 0;
                for (String line : new String(tsv.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                    if (line.isBlank() || line.startsWith("#")) continue;
                    String[] f = line.split("\t");
                    if (f[0].equals("face")) {
                        AtlasFace face = new AtlasFace(a, Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[5]),
                                Integer.parseInt(f[6]));
                        byIndex.put(index++, face);
                        a.faces.put(key(face.style, face.size), face);
                    } else if (f[0].equals("glyph")) {
                        byIndex.get(Integer.parseInt(f[1])).glyphs.put(Integer.parseInt(f[2]), new int[] {Integer.parseInt(f[3]), Integer.parseInt(f[4])});
                    }
                }
                return a;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the jar's glyph atlas", e);
            }
        }

        static long key(int style, int size) {
            return ((long) style << 32) | size;
        }

        /** The face of {@code style} closest in size (bold falls back to plain when the atlas has no bold face). */
        AtlasFace face(int style, int size) {
            AtlasFace best = null;
            for (AtlasFace f : faces.values()) {
                boolean styleOk = f.style == style;
                boolean bestStyleOk = best != null && best.style == style;
                if (best == null || (styleOk && !bestStyleOk) || (styleOk == bestStyleOk && Math.abs(f.size - size) < Math.abs(best.size - size))) best = f;
            }
            return best;
        }
    }

    private static final class AtlasFace extends TextFace {
        final Atlas atlas;
        final int style, size, ascent, rowY, cellH;
        final Map<Integer, int[]> glyphs = new HashMap<>();   // code point → {x, advance}
        private final Map<Long, BufferedImage> tinted = new ConcurrentHashMap<>();

        AtlasFace(Atlas atlas, int style, int size, int ascent, int rowY, int cellH) {
            this.atlas = atlas;
            this.style = style;
            this.size = size;
            this.ascent = ascent;
            this.rowY = rowY;
            this.cellH = cellH;
        }

        private int[] glyph(int cp) {
            int[] g = glyphs.get(cp);
            return g != null ? g : glyphs.get((int) '?');
        }

        @Override
        public int width(String s) {
            int w = 0;
            for (int i = 0; i < s.length(); i = s.offsetByCodePoints(i, 1)) w += glyph(s.codePointAt(i))[1];
            return w;
        }

        @Override
        public int ascent() {
            return ascent;
        }

        @Override
        public void draw(Graphics2D g, String s, float x, float y) {
            Color c = g.getColor();
            float pen = x;
            for (int i = 0; i < s.length(); i = s.offsetByCodePoints(i, 1)) {
                int cp = s.codePointAt(i);
                int[] gl = glyph(cp);
                BufferedImage img = tinted.computeIfAbsent(((long) c.getRGB() << 32) | cp, k -> tint(gl, c));
                g.drawImage(img, Math.round(pen) - 1, Math.round(y) - ascent - 1, null);
                pen += gl[1];
            }
        }

        /** The glyph's cell in colour {@code c}, its coverage as alpha. */
        private BufferedImage tint(int[] gl, Color c) {
            int w = gl[1] + 2;
            BufferedImage out = new BufferedImage(w, cellH, BufferedImage.TYPE_INT_ARGB);
            int rgb = c.getRGB() & 0xFFFFFF, alpha = c.getAlpha();
            for (int yy = 0; yy < cellH; yy++) {
                for (int xx = 0; xx < w; xx++) {
                    int cov = (atlas.image.getRGB(gl[0] + xx, rowY + yy) >> 16) & 0xFF;
                    out.setRGB(xx, yy, ((cov * alpha / 255) << 24) | rgb);
                }
            }
            return out;
        }
    }
}
