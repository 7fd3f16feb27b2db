package dev.surpass.cli.plot;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * One image of charts on a grid (row-major), with an optional caption line at the bottom, written
 * as PNG through {@link ImageIO}.
 */
public final class Figure {
    private Figure() {}

    /** Renders {@code charts} on a grid of {@code columns}, each cell {@code cellW × cellH} pixels. */
    public static BufferedImage render(List<LineChart> charts, int columns, int cellW, int cellH, String caption) {
        if (charts.isEmpty()) throw new IllegalArgumentException("Figure.render: no charts");
        if (columns < 1 || cellW < 50 || cellH < 50) throw new IllegalArgumentException("Figure.render: bad grid " + columns + " × " + cellW + "×" + cellH);
        int rows = (charts.size() + columns - 1) / columns;
        int cols = Math.min(columns, charts.size());
        int captionH = caption == null || caption.isEmpty() ? 0 : 30;
        BufferedImage img = new BufferedImage(cols * cellW, rows * cellH + captionH, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, img.getWidth(), img.getHeight());
            for (int i = 0; i < charts.size(); i++) {
                charts.get(i).draw(g, (i % cols) * cellW, (i / cols) * cellH, cellW, cellH);
            }
            if (captionH > 0) {
                try {
                    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                    g.setColor(Color.DARK_GRAY);
                    TextFace.sans(Font.PLAIN, 13).draw(g, caption, 12, rows * cellH + 20);
                } catch (Throwable e) {
                    // no fonts: the caption is left out (the charts say so through textFailed)
                }
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    /** {@link #render} and writes the PNG (parent folders created); returns the image. */
    public static BufferedImage writePng(Path file, List<LineChart> charts, int columns, int cellW, int cellH, String caption)
            throws IOException {
        BufferedImage img = render(charts, columns, cellW, cellH, caption);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer in this JVM");
        return img;
    }
}
