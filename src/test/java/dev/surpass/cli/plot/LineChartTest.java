package dev.surpass.cli.plot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chart renderer: ticks, labels, and a PNG that has the requested size and shows the series. */
class LineChartTest {
    @TempDir
    Path dir;

    @Test
    void logTicksArePowersOfTwoOrOneTwoFive() {
        double lo = Math.log10(256), hi = Math.log10(16384);
        assertArrayEquals(new double[] {256, 512, 1024, 2048, 4096, 8192, 16384}, LineChart.logTicks(lo, hi, true));
        assertArrayEquals(new double[] {1, 10, 100, 1000}, LineChart.logTicks(0, 3, false));
        assertArrayEquals(new double[] {2, 5, 10, 20}, LineChart.logTicks(Math.log10(1.5), Math.log10(30), false));
        for (double t : LineChart.linearTicks(-0.3, 7.2)) assertTrue(t >= -0.3 && t <= 7.2, "tick " + t);
        assertEquals(0, LineChart.linearTicks(-0.3, 7.2)[0]);
    }

    @Test
    void labelsAreShort() {
        assertEquals("16k", LineChart.formatBinary(16384));
        assertEquals("512", LineChart.formatBinary(512));
        assertEquals("1M", LineChart.formatBinary(1 << 20));
        assertEquals("1.5k", LineChart.format(1500));
        assertEquals("20k", LineChart.format(20000));
        assertEquals("2M", LineChart.format(2e6));
        assertEquals("0.25", LineChart.format(0.25));
        assertEquals("0", LineChart.format(0));
        assertEquals("3e-05", LineChart.format(3e-5));
    }

    @Test
    void pngHasTheGridSizeAndShowsEverySeries() throws Exception {
        double[] x = {256, 512, 1024, 2048, 4096};
        Color a = new Color(0x1f77b4), b = new Color(0xd62728);
        LineChart log = new LineChart("log-log").xAxis("L", true).powersOfTwoX(true).yAxis("tokens / s", true)
                .add("attention", x, new double[] {5e4, 4e4, 2.5e4, 1.2e4, 6e3}, a, false)
                .add("Mamba", x, new double[] {3e4, 3.1e4, 3e4, 2.9e4, 3e4}, b, true);
        // a zero and a NaN cannot be drawn on a log axis: skipped, not fatal
        LineChart lin = new LineChart("linear").xAxis("x", false).yAxis("y", true)
                .add("with gaps", new double[] {1, 2, 3, 4}, new double[] {1, 0, Double.NaN, 4}, a, false);
        Path png = dir.resolve("sub/fig.png");
        BufferedImage img = Figure.writePng(png, List.of(log, lin), 2, 400, 300, "caption");
        assertTrue(Files.size(png) > 1000);
        BufferedImage back = ImageIO.read(png.toFile());
        assertEquals(800, back.getWidth());
        assertEquals(300 + 30, back.getHeight());
        assertEquals(img.getRGB(10, 10), back.getRGB(10, 10));
        long nonWhite = 0, blue = 0, red = 0;
        for (int yy = 0; yy < back.getHeight(); yy++) {
            for (int xx = 0; xx < back.getWidth(); xx++) {
                int rgb = back.getRGB(xx, yy) & 0xffffff;
                if (rgb != 0xffffff) nonWhite++;
                if (close(rgb, a.getRGB())) blue++;
                if (close(rgb, b.getRGB())) red++;
            }
        }
        long total = (long) back.getWidth() * back.getHeight();
        assertTrue(nonWhite > total / 100, "blank image: " + nonWhite + " non-white pixels");
        assertTrue(nonWhite < total / 2, "mostly ink: " + nonWhite);
        assertTrue(blue > 200, "attention series not drawn: " + blue);
        assertTrue(red > 100, "Mamba series not drawn: " + red);
        assertFalse(log.textFailed());
    }

    @Test
    void badInputsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new LineChart("t").add("s", new double[2], new double[3], Color.BLACK, false));
        assertThrows(IllegalArgumentException.class, () -> Figure.render(List.of(), 1, 100, 100, null));
    }

    private static boolean close(int rgb, int want) {
        int d = 0;
        for (int s = 0; s < 24; s += 8) d += Math.abs((rgb >> s & 255) - (want >> s & 255));
        return d < 24;
    }
}
