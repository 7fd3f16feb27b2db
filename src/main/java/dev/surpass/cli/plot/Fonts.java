package dev.surpass.cli.plot;

import java.awt.Font;
import java.awt.FontFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The typeface of the demo's pictures: DejaVu Sans, shipped in the jar (its licence beside it). A
 * headless GPU server often has no fonts at all, and the JDK then throws "No physical fonts found"
 * at the first {@code drawString}; a font read from the jar renders anywhere, and the pictures look
 * the same on every machine. Bold is the JDK's algorithmic emboldening of the regular face.
 */
public final class Fonts {
    private static final String FILE = "DejaVuSans.ttf";
    private static volatile Font base;

    private Fonts() {}

    /** DejaVu Sans at {@code size} points in {@code style} ({@link Font#PLAIN} or {@link Font#BOLD}). */
    public static Font sans(int style, float size) {
        return regular().deriveFont(style, size);
    }

    private static Font regular() {
        Font f = base;
        if (f != null) return f;
        synchronized (Fonts.class) {
            if (base == null) {
                try (InputStream in = Fonts.class.getResourceAsStream(FILE)) {
                    if (in == null) throw new IllegalStateException("the jar has no " + FILE + " beside " + Fonts.class.getName());
                    base = Font.createFont(Font.TRUETYPE_FONT, in);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + FILE + " from the jar", e);
                } catch (FontFormatException e) {
                    throw new IllegalStateException(FILE + " in the jar is not a TrueType font: " + e.getMessage(), e);
                }
            }
            return base;
        }
    }
}
