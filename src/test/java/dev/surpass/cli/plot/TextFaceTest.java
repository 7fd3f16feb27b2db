package dev.surpass.cli.plot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;

/**
 * The glyph atlas a host without a font system draws with: the same advances as the JDK's rendering of the face, and the
 * same pixels (the atlas is that rendering, cut per glyph) where the JDK's fonts work here.
 */
class TextFaceTest {
    static BufferedImage render(TextFace f, String s) {
        BufferedImage img = new BufferedImage(200, 30, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, 200, 30);
        g.setRenderingHint(java.awt.RenderingHints.KEY_TEXT_ANTIALIASING, java.awt.RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        f.draw(g, s, 5, 20);
        g.dispose();
        return img;
    }

    @Test
    void atlasMatchesTheJdksRendering() {
        String s = "L ×64: 2·L·H·D µs";
        for (int[] face : new int[][] {{Font.PLAIN, 13}, {Font.BOLD, 18}, {Font.PLAIN, 11}}) {
            TextFace atlas = TextFace.atlasFace(face[0], face[1]);
            TextFace jdk = TextFace.sans(face[0], face[1]);
            // the atlas sums whole-pixel advances per glyph; the JDK's string width is fractional (bold: 165 vs 171 px at 18)
            assertTrue(Math.abs(jdk.width(s) - atlas.width(s)) <= 0.05 * jdk.width(s), "advances of " + face[1] + ": " + jdk.width(s) + " vs "
                    + atlas.width(s));
            assertEquals(jdk.ascent(), atlas.ascent());
            if (face[0] == Font.BOLD) continue;
            BufferedImage a = render(atlas, s), b = render(jdk, s);
            long dark = 0, diff = 0;
            for (int y = 0; y < 30; y++) {
                for (int x = 0; x < 200; x++) {
                    int pa = a.getRGB(x, y) & 0xFF, pb = b.getRGB(x, y) & 0xFF;
                    if (pa < 128) dark++;
                    diff += Math.abs(pa - pb);
                }
            }
            assertTrue(dark > 40, "the atlas drew the text: " + dark + " dark pixels");
            assertTrue(diff < 0.02 * 255 * dark, "atlas vs JDK pixels differ by " + diff + " over " + dark + " dark pixels");
        }
        TextFace f = TextFace.atlasFace(Font.PLAIN, 12);
        assertEquals(f.width("?"), f.width("\u4e2d"), "a glyph the atlas lacks is drawn as '?'");
        assertEquals(TextFace.atlasFace(Font.PLAIN, 13).width("x"), TextFace.atlasFace(Font.PLAIN, 13).width("x"));
        assertTrue(TextFace.atlasFace(Font.BOLD, 20).width("W") > 0, "another size takes the closest face");
    }
}
