package dev.surpass.cli.plot;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.Stroke;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A small line chart drawn with Java2D: series of (x, y) points joined by lines with markers,
 * linear or logarithmic axes with "nice" ticks and grid lines, a title, axis labels and a legend.
 * Points whose coordinates cannot be drawn (NaN, infinite, or ≤ 0 on a log axis) are skipped and
 * break the line. Render it into a {@link Figure} (one PNG of one or more charts).
 *
 * <p>Text needs a font; where the JVM has none (a bare container) the chart is drawn without
 * text rather than failing, and {@link #textFailed()} says so.
 */
public final class LineChart {
    /** One line of the chart. */
    public record Series(String name, double[] x, double[] y, Color color, boolean dashed) {
        public Series {
            if (x.length != y.length) throw new IllegalArgumentException("series " + name + ": " + x.length + " x values but " + y.length + " y values");
            x = x.clone();
            y = y.clone();
        }
    }

    /** A palette that stays distinguishable in grey scale and for the common colour blindnesses. */
    public static final Color[] PALETTE = {
        new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
        new Color(0x9467bd), new Color(0x8c564b),
    };

    private final String title;
    private String xLabel = "", yLabel = "";
    private boolean logX, logY, powersOfTwoX;
    private final List<Series> series = new ArrayList<>();
    private boolean textFailed;

    public LineChart(String title) {
        this.title = title == null ? "" : title;
    }

    public LineChart xAxis(String label, boolean log) {
        this.xLabel = label == null ? "" : label;
        this.logX = log;
        return this;
    }

    public LineChart yAxis(String label, boolean log) {
        this.yLabel = label == null ? "" : label;
        this.logY = log;
        return this;
    }

    /** Ticks at powers of two on a log x axis (e.g. sequence lengths 256, 512, … 16k). */
    public LineChart powersOfTwoX(boolean on) {
        this.powersOfTwoX = on;
        return this;
    }

    public LineChart add(String name, double[] x, double[] y, Color color, boolean dashed) {
        series.add(new Series(name, x, y, color, dashed));
        return this;
    }

    public List<Series> series() {
        return List.copyOf(series);
    }

    public boolean textFailed() {
        return textFailed;
    }

    // ---- axes -------------------------------------------------------------------------------------

    /** An axis: the data range (in log10 space when log) and its ticks. */
    record Axis(boolean log, double lo, double hi, double[] ticks) {
        double frac(double v) {
            double t = log ? Math.log10(v) : v;
            return (t - lo) / (hi - lo);
        }

        boolean drawable(double v) {
            return Double.isFinite(v) && (!log || v > 0);
        }
    }

    static Axis axis(List<Double> values, boolean log, boolean powersOfTwo) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (double v : values) {
            if (!Double.isFinite(v) || (log && v <= 0)) continue;
            double t = log ? Math.log10(v) : v;
            lo = Math.min(lo, t);
            hi = Math.max(hi, t);
        }
        if (lo > hi) { // nothing to draw
            lo = 0;
            hi = 1;
        }
        if (hi - lo < 1e-9) {
            double pad = log ? 0.5 : Math.max(Math.abs(lo) * 0.1, 1);
            lo -= pad;
            hi += pad;
        }
        double pad = (hi - lo) * 0.06;
        lo -= pad;
        hi += pad;
        if (!log && lo < 0 && lo + pad >= 0) lo = 0; // a non-negative series starts at 0, not below
        double[] ticks = log ? logTicks(lo, hi, powersOfTwo) : linearTicks(lo, hi);
        return new Axis(log, lo, hi, ticks);
    }

    /** Tick values (not logs) within [10^lo, 10^hi]: powers of 2, 10, or 1-2-5 / 1…9 per decade. */
    static double[] logTicks(double lo, double hi, boolean powersOfTwo) {
        List<double[]> candidates = new ArrayList<>();
        if (powersOfTwo) {
            List<Double> t = new ArrayList<>();
            for (int e = (int) Math.floor(lo / Math.log10(2)); e <= Math.ceil(hi / Math.log10(2)); e++) {
                double v = Math.pow(2, e), l = Math.log10(v);
                if (l >= lo && l <= hi) t.add(v);
            }
            double[] a = t.stream().mapToDouble(Double::doubleValue).toArray();
            if (a.length >= 2 && a.length <= 12) return a;
        }
        for (double[] mantissas : new double[][] {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
            List<Double> t = new ArrayList<>();
            for (int e = (int) Math.floor(lo) - 1; e <= Math.ceil(hi); e++) {
                for (double m : mantissas) {
                    double v = m * Math.pow(10, e), l = Math.log10(v);
                    if (l >= lo - 1e-12 && l <= hi + 1e-12) t.add(v);
                }
            }
            candidates.add(t.stream().mapToDouble(Double::doubleValue).toArray());
        }
        for (double[] c : candidates) {
            if (c.length >= 3 && c.length <= 12) return c;
        }
        if (candidates.get(0).length > 12) { // many decades: every other one
            double[] c = candidates.get(0);
            List<Double> t = new ArrayList<>();
            int step = (c.length + 9) / 10;
            for (int i = 0; i < c.length; i += step) t.add(c[i]);
            return t.stream().mapToDouble(Double::doubleValue).toArray();
        }
        return candidates.get(candidates.size() - 1);
    }

    static double[] linearTicks(double lo, double hi) {
        double raw = (hi - lo) / 6, mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = mag;
        for (double m : new double[] {1, 2, 2.5, 5, 10}) {
            if (m * mag >= raw) {
                step = m * mag;
                break;
            }
        }
        List<Double> t = new ArrayList<>();
        for (double v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.add(Math.abs(v) < step * 1e-9 ? 0 : v);
        return t.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Labels for powers of two: 512, 1k, 16k, 1M (binary k = 1024); other values as {@link #format}. */
    public static String formatBinary(double v) {
        if (v >= 1024 && v == Math.rint(v)) {
            long l = (long) v;
            if (l % (1L << 20) == 0) return (l >> 20) + "M";
            if (l % 1024 == 0) return (l >> 10) + "k";
        }
        return format(v);
    }

    /** Short labels: 1.5k, 16k, 2M, 0.25, 3e-05. */
    public static String format(double v) {
        double a = Math.abs(v);
        if (a == 0) return "0";
        String[] suffix = {"", "k", "M", "G", "T"};
        int i = 0;
        while (a >= 1000 && i < suffix.length - 1) {
            a /= 1000;
            v /= 1000;
            i++;
        }
        if (a >= 1e-3 || i > 0) {
            String s = a >= 100 ? String.format(Locale.ROOT, "%.0f", v)
                    : a >= 10 ? String.format(Locale.ROOT, "%.1f", v) : String.format(Locale.ROOT, "%.2f", v);
            if (s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
            return s + suffix[i];
        }
        return String.format(Locale.ROOT, "%.0e", v);
    }

    // ---- drawing ----------------------------------------------------------------------------------

    /** Draws the chart into the rectangle (x, y, w, h) of {@code g}. */
    public void draw(Graphics2D g0, int x0, int y0, int w, int h) {
        Graphics2D g = (Graphics2D) g0.create();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setColor(Color.WHITE);
            g.fillRect(x0, y0, w, h);
            List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
            for (Series s : series) {
                for (int i = 0; i < s.x().length; i++) {
                    xs.add(s.x()[i]);
                    ys.add(s.y()[i]);
                }
            }
            Axis ax = axis(xs, logX, powersOfTwoX), ay = axis(ys, logY, false);
            TextFace titleFont = TextFace.sans(Font.BOLD, 18), labelFont = TextFace.sans(Font.PLAIN, 15),
                    tickFont = TextFace.sans(Font.PLAIN, 13), legendFont = TextFace.sans(Font.PLAIN, 14);
            int tickW = 0;
            for (double t : ay.ticks()) tickW = Math.max(tickW, textWidth(g, tickFont, format(t)));
            int left = x0 + 26 + tickW + 12, right = x0 + w - 18, top = y0 + 40, bottom = y0 + h - 56;
            int pw = right - left, ph = bottom - top;
            if (pw < 20 || ph < 20) return;
            // title
            text(g, titleFont, Color.BLACK, title, x0 + w / 2.0, y0 + 26, 0.5, false);
            // grid and ticks
            g.setStroke(new BasicStroke(1f));
            for (double t : ax.ticks()) {
                double px = left + ax.frac(t) * pw;
                g.setColor(new Color(0xe4e4e4));
                g.draw(new Line2D.Double(px, top, px, bottom));
                g.setColor(Color.DARK_GRAY);
                g.draw(new Line2D.Double(px, bottom, px, bottom + 5));
                text(g, tickFont, Color.DARK_GRAY, powersOfTwoX ? formatBinary(t) : format(t), px, bottom + 20, 0.5, false);
            }
            for (double t : ay.ticks()) {
                double py = bottom - ay.frac(t) * ph;
                g.setColor(new Color(0xe4e4e4));
                g.draw(new Line2D.Double(left, py, right, py));
                g.setColor(Color.DARK_GRAY);
                g.draw(new Line2D.Double(left - 5, py, left, py));
                text(g, tickFont, Color.DARK_GRAY, format(t), left - 8, py + 5, 1.0, false);
            }
            g.setColor(Color.BLACK);
            g.draw(new Rectangle2D.Double(left, top, pw, ph));
            text(g, labelFont, Color.BLACK, xLabel, left + pw / 2.0, y0 + h - 14, 0.5, false);
            text(g, labelFont, Color.BLACK, yLabel, x0 + 18, top + ph / 2.0, 0.5, true);
            // series
            List<double[]> drawn = new ArrayList<>(); // sample points along the lines, for the legend's place
            java.awt.Shape clip = g.getClip();
            g.clip(new Rectangle2D.Double(left - 6, top - 6, pw + 12, ph + 12));
            for (Series s : series) {
                Stroke stroke = s.dashed()
                        ? new BasicStroke(2.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {9f, 6f}, 0f)
                        : new BasicStroke(2.5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
                Path2D.Double path = new Path2D.Double();
                boolean open = false;
                List<double[]> marks = new ArrayList<>();
                for (int i = 0; i < s.x().length; i++) {
                    double vx = s.x()[i], vy = s.y()[i];
                    if (!ax.drawable(vx) || !ay.drawable(vy)) {
                        open = false;
                        continue;
                    }
                    double px = left + ax.frac(vx) * pw, py = bottom - ay.frac(vy) * ph;
                    if (open) {
                        double[] prev = marks.get(marks.size() - 1);
                        for (int k = 1; k <= 24; k++) drawn.add(new double[] {prev[0] + (px - prev[0]) * k / 24, prev[1] + (py - prev[1]) * k / 24});
                    }
                    drawn.add(new double[] {px, py});
                    if (open) path.lineTo(px, py);
                    else path.moveTo(px, py);
                    open = true;
                    marks.add(new double[] {px, py});
                }
                g.setColor(s.color());
                g.setStroke(stroke);
                g.draw(path);
                for (double[] m : marks) marker(g, s, m[0], m[1]);
            }
            g.setClip(clip);
            legend(g, legendFont, left, top, pw, ph, drawn);
        } finally {
            g.dispose();
        }
    }

    private void marker(Graphics2D g, Series s, double px, double py) {
        g.setStroke(new BasicStroke(1.5f));
        Shape m = s.dashed() ? new Rectangle2D.Double(px - 4, py - 4, 8, 8) : new Ellipse2D.Double(px - 4.5, py - 4.5, 9, 9);
        g.setColor(s.color());
        g.fill(m);
    }

    /** The legend box, in the corner of the plot area that covers the fewest drawn points. */
    private void legend(Graphics2D g, TextFace font, int left, int top, int pw, int ph, List<double[]> drawn) {
        if (series.isEmpty() || textFailed) return;
        int lineH = 22, wMax = 0;
        for (Series s : series) wMax = Math.max(wMax, textWidth(g, font, s.name()));
        if (textFailed) return;
        int boxW = 46 + wMax + 12, boxH = series.size() * lineH + 10, m = 10;
        int[][] corners = {{left + m, top + m}, {left + pw - m - boxW, top + m}, {left + m, top + ph - m - boxH},
            {left + pw - m - boxW, top + ph - m - boxH}};
        int x = corners[0][0], y = corners[0][1], best = Integer.MAX_VALUE;
        for (int[] c : corners) {
            int hits = 0;
            for (double[] p : drawn) {
                if (p[0] >= c[0] - 6 && p[0] <= c[0] + boxW + 6 && p[1] >= c[1] - 6 && p[1] <= c[1] + boxH + 6) hits++;
            }
            if (hits < best) {
                best = hits;
                x = c[0];
                y = c[1];
            }
        }
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(x, y, boxW, boxH);
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(x, y, boxW, boxH);
        int ly = y + 5 + lineH / 2;
        for (Series s : series) {
            g.setColor(s.color());
            g.setStroke(s.dashed()
                    ? new BasicStroke(2.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {7f, 4f}, 0f)
                    : new BasicStroke(2.5f));
            g.draw(new Line2D.Double(x + 8, ly, x + 38, ly));
            marker(g, s, x + 23, ly);
            text(g, font, Color.BLACK, s.name(), x + 46, ly + 5, 0, false);
            ly += lineH;
        }
    }

    private int textWidth(Graphics2D g, TextFace font, String s) {
        if (textFailed || s.isEmpty()) return 0;
        try {
            return font.width(s);
        } catch (Throwable e) { // no fonts in this JVM: draw without text
            textFailed = true;
            return 0;
        }
    }

    /** Draws {@code s} anchored at (x, baseline y): {@code align} 0 left, 0.5 centre, 1 right. */
    private void text(Graphics2D g, TextFace font, Color color, String s, double x, double y, double align, boolean vertical) {
        if (textFailed || s.isEmpty()) return;
        try {
            g.setColor(color);
            int tw = font.width(s);
            if (vertical) {
                AffineTransform saved = g.getTransform();
                g.rotate(-Math.PI / 2, x, y);
                font.draw(g, s, (float) (x - tw * align), (float) (y + font.ascent() / 2.0 - 2));
                g.setTransform(saved);
            } else {
                font.draw(g, s, (float) (x - tw * align), (float) y);
            }
        } catch (Throwable e) {
            textFailed = true;
        }
    }
}
