package dev.surpass.cli.plot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;

/** {@link Fonts}: the shipped DejaVu Sans draws text, plain and bold, at the asked size (where the JDK can load fonts at all). */
class FontsTest {
    @Test
    void shippedFaceDrawsTextAtTheAskedSize() {
        Font plain, bold;
        try {
            plain = Fonts.sans(Font.PLAIN, 14);
            bold = Fonts.sans(Font.BOLD, 14);
        } catch (java.io.UncheckedIOException e) {
            // a host without fontconfig (the GPU server): the JDK loads no font at all; TextFace draws from the glyph atlas there
            org.junit.jupiter.api.Assumptions.abort("this JDK cannot load fonts here: " + e.getCause());
            return;
        }
        assertEquals("DejaVu Sans", plain.getFamily());
        assertEquals(14f, plain.getSize2D());
        assertTrue(bold.isBold() && !plain.isBold());
        BufferedImage img = new BufferedImage(200, 40, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            int wPlain = g.getFontMetrics(plain).stringWidth("tokens / s"), wBold = g.getFontMetrics(bold).stringWidth("tokens / s");
            assertTrue(wPlain > 40 && wPlain < 120, "width " + wPlain);
            assertTrue(wBold >= wPlain, wBold + " < " + wPlain);
            g.setColor(java.awt.Color.WHITE);
            g.setFont(plain);
            g.drawString("tokens / s", 5, 25);
        } finally {
            g.dispose();
        }
        int lit = 0;
        for (int y = 0; y < img.getHeight(); y++) for (int x = 0; x < img.getWidth(); x++) if ((img.getRGB(x, y) & 0xffffff) != 0) lit++;
        assertTrue(lit > 50, lit + " pixels drawn");
    }
}
