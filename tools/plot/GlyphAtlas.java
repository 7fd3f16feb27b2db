// Renders the demo plots' typeface (DejaVu Sans from the jar, through dev.surpass.cli.plot.Fonts) into a glyph atlas for
// hosts where the JDK cannot load fonts at all (no fontconfig: Font.createFont fails with "Problem reading font data"):
// src/main/resources/dev/surpass/cli/plot/glyphs.png (each glyph's antialiased coverage in the red channel, one row of
// cells per face) and glyphs.tsv (per face: style, size, ascent, descent, row y, cell height; per glyph: face, code
// point, x, advance). Rerun after changing the faces or the character set:
//   java --class-path target/classes tools/plot/GlyphAtlas.java src/main/resources/dev/surpass/cli/plot
import dev.surpass.cli.plot.Fonts;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public class GlyphAtlas {
    // the (style, size) faces the plots use
    static final int[][] FACES = {{Font.PLAIN, 11}, {Font.PLAIN, 12}, {Font.PLAIN, 13}, {Font.PLAIN, 14}, {Font.PLAIN, 15},
        {Font.BOLD, 12}, {Font.BOLD, 18}};

    static String charset() {
        StringBuilder b = new StringBuilder();
        for (char c = 32; c < 127; c++) b.append(c);
        for (char c = 160; c < 256; c++) b.append(c);
        b.append("−–—…·•≈≤≥→←↔∞√αβγδεθλμπστφωΔΣΩ‰′″");
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : ".");
        String cs = charset();
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D pg = probe.createGraphics();
        int width = 0, height = 0;
        List<int[]> rows = new ArrayList<>();
        for (int[] f : FACES) {
            FontMetrics fm = pg.getFontMetrics(Fonts.sans(f[0], f[1]));
            int w = 0;
            for (int i = 0; i < cs.length(); i++) w += fm.charWidth(cs.charAt(i)) + 2;
            width = Math.max(width, w);
            rows.add(new int[] {height, fm.getAscent() + fm.getDescent() + 2});
            height += fm.getAscent() + fm.getDescent() + 2;
        }
        BufferedImage atlas = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = atlas.createGraphics();
        g.setColor(Color.BLACK);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.WHITE);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        StringBuilder tsv = new StringBuilder("# face\tstyle\tsize\tascent\tdescent\trowY\tcellH\n# glyph\tface\tcodepoint\tx\tadvance\n");
        for (int fi = 0; fi < FACES.length; fi++) {
            Font font = Fonts.sans(FACES[fi][0], FACES[fi][1]);
            g.setFont(font);
            FontMetrics fm = g.getFontMetrics();
            int y0 = rows.get(fi)[0];
            tsv.append("face\t").append(FACES[fi][0]).append('\t').append(FACES[fi][1]).append('\t').append(fm.getAscent()).append('\t')
                    .append(fm.getDescent()).append('\t').append(y0).append('\t').append(rows.get(fi)[1]).append('\n');
            int x = 0;
            for (int i = 0; i < cs.length(); i++) {
                char c = cs.charAt(i);
                int adv = fm.charWidth(c);
                g.setClip(x, y0, adv + 2, rows.get(fi)[1]);
                g.drawString(String.valueOf(c), x + 1, y0 + 1 + fm.getAscent());
                tsv.append("glyph\t").append(fi).append('\t').append((int) c).append('\t').append(x).append('\t').append(adv).append('\n');
                x += adv + 2;
            }
            g.setClip(null);
        }
        g.dispose();
        javax.imageio.ImageIO.write(atlas, "png", out.resolve("glyphs.png").toFile());
        Files.writeString(out.resolve("glyphs.tsv"), tsv);
        System.out.println("glyph atlas " + width + "×" + height + ", " + cs.length() + " glyphs × " + FACES.length + " faces → " + out);
    }
}
