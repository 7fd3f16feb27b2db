package dev.surpass.diffusion;

/**
 * The float64 oracle of the sampler steps, transcribed from the formulas of
 * {@code kernels-and-checkpoints.md} §4.4 (diffusers and DiT code) one element at a time, without
 * the precomputed {@link StepPlan}: guidance, prediction conversion, clip, update, noise. The noise
 * is the same Philox normal the devices use ({@link Philox#normal}). Inputs are fp32 values (already
 * rounded to the tensors' dtype); x is {@code [B, C, S…]} with {@code shape}, the model output
 * {@code [B·g, C·k, S…]} as {@link StepLayout} describes.
 */
public final class ReferenceSamplers {
    private ReferenceSamplers() {}

    /** The guided model output at latent element (b, c, s), and (when learned) the variance value. */
    private record Io(long b, long c, long s, long bn, long cn, long sn, float[] mo, StepOptions o) {
        private long at(long batch, long ch) {
            long cout = o.learnedSigma() ? 2 * cn : cn;
            return (batch * cout + ch) * sn + s;
        }

        private long condBatch() {
            Guidance g = o.guidance();
            return g != null && g.order() == Guidance.Order.UNCOND_FIRST ? b + bn : b;
        }

        double m() {
            Guidance g = o.guidance();
            double cond = mo[(int) at(condBatch(), c)];
            if (g == null || (g.channels() != Guidance.ALL && c >= g.channels())) return cond;
            long ub = g.order() == Guidance.Order.COND_FIRST ? b + bn : b;
            double uncond = mo[(int) at(ub, c)];
            return uncond + g.scale() * (cond - uncond);
        }

        double v() {
            return mo[(int) at(condBatch(), cn + c)];
        }
    }

    @FunctionalInterface
    private interface Element {
        double apply(int i, double x, Io io);
    }

    private static double[] each(float[] x, long[] shape, float[] mo, StepOptions o, Element e) {
        long bn = shape[0], cn = shape.length >= 2 ? shape[1] : 1, sn = 1;
        for (int i = 2; i < shape.length; i++) sn *= shape[i];
        double[] out = new double[x.length];
        int i = 0;
        for (long b = 0; b < bn; b++) {
            for (long c = 0; c < cn; c++) {
                for (long s = 0; s < sn; s++, i++) out[i] = e.apply(i, x[i], new Io(b, c, s, bn, cn, sn, mo, o));
            }
        }
        return out;
    }

    /** x0 and ε from the model output m at x with ᾱ = abar (diffusers' conversions), then the optional clip. */
    private static double[] x0eps(StepOptions o, double abar, double x, double m) {
        double a = Math.sqrt(abar), b = Math.sqrt(1 - abar);
        double x0, eps;
        switch (o.prediction()) {
            case EPSILON -> { eps = m; x0 = (x - b * m) / a; }
            case V -> { x0 = a * x - b * m; eps = a * m + b * x; }
            default -> { x0 = m; eps = (x - a * m) / b; }
        }
        if (o.clipSample() > 0) {
            x0 = Math.max(-o.clipSample(), Math.min(o.clipSample(), x0));
            eps = (x - a * x0) / b;
        }
        return new double[] {x0, eps};
    }

    public static double[] ddim(float[] x, long[] shape, float[] mo, DdimStep st, int t, int tPrev, StepOptions o) {
        st.checkTimesteps(t, tPrev);
        NoiseSchedule sch = st.schedule();
        double abt = sch.alphaCumprod(t), abp = tPrev < 0 ? 1.0 : sch.alphaCumprod(tPrev);
        double sigma = st.eta() * Math.sqrt((1 - abp) / (1 - abt)) * Math.sqrt(1 - abt / abp);
        return each(x, shape, mo, o, (i, xi, io) -> {
            double[] r = x0eps(o, abt, xi, io.m());
            double out = Math.sqrt(abp) * r[0] + Math.sqrt(Math.max(0, 1 - abp - sigma * sigma)) * r[1];
            if (sigma > 0) out += sigma * Philox.normal(o.seed(), t, i);
            return out;
        });
    }

    public static double[] ddpm(float[] x, long[] shape, float[] mo, DdpmStep st, int t, StepOptions o) {
        st.plan(t, o); // validates t and the variance / options pairing
        NoiseSchedule sch = st.schedule();
        double abt = sch.alphaCumprod(t), abp = t > 0 ? sch.alphaCumprod(t - 1) : 1.0;
        double beta = sch.beta(t), alpha = 1 - beta;
        double post = beta * (1 - abp) / (1 - abt);
        return each(x, shape, mo, o, (i, xi, io) -> {
            double[] r = x0eps(o, abt, xi, io.m());
            double mean = beta * Math.sqrt(abp) / (1 - abt) * r[0] + (1 - abp) * Math.sqrt(alpha) / (1 - abt) * xi;
            if (t == 0) return mean;
            double logVar = switch (st.variance()) {
                case FIXED_SMALL -> Math.log(Math.max(post, 1e-20));
                case FIXED_LARGE -> Math.log(beta);
                case LEARNED_RANGE -> {
                    double frac = (io.v() + 1) / 2;
                    yield frac * Math.log(beta) + (1 - frac) * Math.log(Math.max(post, 1e-20));
                }
            };
            return mean + Math.exp(0.5 * logVar) * Philox.normal(o.seed(), t, i);
        });
    }

    public static double[] euler(float[] x, long[] shape, float[] mo, EulerStep st, int i, StepOptions o) {
        st.plan(i, o); // validates i
        double[] sig = st.sigmas();
        double s = sig[i], g = st.gamma(i), sh = s * (g + 1), dt = sig[i + 1] - sh;
        return each(x, shape, mo, o, (k, xi, io) -> {
            double xh = xi;
            if (g > 0) xh += Philox.normal(o.seed(), i, k) * st.sNoise() * Math.sqrt(sh * sh - s * s);
            double m = io.m();
            double x0 = switch (o.prediction()) {
                case EPSILON -> xh - sh * m;
                case V -> m * (-s / Math.sqrt(s * s + 1)) + xh / (s * s + 1);
                default -> m;
            };
            double d = (xh - x0) / sh;
            return xh + d * dt;
        });
    }

    /**
     * DPM-Solver++(2M); {@code prevX0} is the previous step's x0 (ignored on first-order steps);
     * this step's x0 is written to {@code x0Out}.
     */
    public static double[] dpmSolver(float[] x, long[] shape, float[] mo, float[] prevX0, double[] x0Out,
                                     DpmSolverStep st, int i, StepOptions o) {
        st.plan(i, o); // validates i
        double[] sig = st.sigmas();
        double ss = sig[i], st1 = sig[i + 1];
        double as = 1 / Math.sqrt(ss * ss + 1), vs = ss * as;
        boolean first = st.firstOrder(i);
        return each(x, shape, mo, o, (k, xi, io) -> {
            double m = io.m();
            double x0 = switch (o.prediction()) {
                case EPSILON -> (xi - vs * m) / as;
                case V -> as * xi - vs * m;
                default -> m;
            };
            x0Out[k] = x0;
            if (st1 == 0) return x0;
            double at = 1 / Math.sqrt(st1 * st1 + 1), vt = st1 * at;
            double lt = Math.log(at) - Math.log(vt), ls = Math.log(as) - Math.log(vs);
            double h = lt - ls;
            if (first) return (vt / vs) * xi - at * (Math.exp(-h) - 1) * x0;
            double s1 = sig[i - 1], a1 = 1 / Math.sqrt(s1 * s1 + 1);
            double l1 = Math.log(a1) - Math.log(s1 * a1);
            double r0 = (ls - l1) / h;
            double d0 = x0, d1 = (x0 - prevX0[k]) / r0;
            return (vt / vs) * xi - at * (Math.exp(-h) - 1) * d0 - 0.5 * at * (Math.exp(-h) - 1) * d1;
        });
    }
}
