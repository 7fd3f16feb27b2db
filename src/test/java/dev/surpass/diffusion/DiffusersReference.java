package dev.surpass.diffusion;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * float64 transcriptions of diffusers' scheduler loops, written from diffusers' Python
 * ({@code PNDMScheduler.step_plms} with skip_prk_steps, {@code DDIMScheduler.step},
 * {@code EulerDiscreteScheduler.step}, {@code DPMSolverMultistepScheduler} order 2), independent of
 * {@link DiffusersSampler}: Stable Diffusion 1.x's settings (leading spacing with steps_offset 1 and
 * set_alpha_to_one false for PNDM; DDIM's own set_alpha_to_one true; linspace for Euler and DPM-Solver).
 * The model is any function of the scaled input and the timestep (guidance applied inside it).
 */
public final class DiffusersReference {
    private DiffusersReference() {}

    /** The (guided) model output at the model's input and timestep. */
    @FunctionalInterface
    public interface Model {
        double[] apply(double[] input, double t);
    }

    /** {@code scaled_linear} ᾱ for betas 0.00085 .. 0.012 over 1000 steps (Stable Diffusion's). */
    public static double[] sdAlphasCumprod() {
        double[] ac = new double[1000];
        double p = 1, a = Math.sqrt(0.00085), b = Math.sqrt(0.012);
        for (int i = 0; i < 1000; i++) {
            double beta = a + (b - a) * i / 999.0;
            p *= 1 - beta * beta;
            ac[i] = p;
        }
        return ac;
    }

    /** The initial noise's scale for Euler at linspace spacing: the largest sigma of the interpolated table. */
    public static double eulerInitSigma(double[] ac) {
        return Math.sqrt((1 - ac[ac.length - 1]) / ac[ac.length - 1]);
    }

    public static double[] pndm(double[] start, double[] ac, int steps, boolean v, Model model) {
        return pndm(start, ac, steps, v, model, 0);
    }

    /** PLMS over {@code timesteps[begin:]} of its N+1-entry list (image-to-image), the counter starting at 0 there. */
    public static double[] pndm(double[] start, double[] ac, int steps, boolean v, Model model, int begin) {
        int ratio = ac.length / steps;
        List<Integer> asc = new ArrayList<>();
        for (int i = 0; i < steps; i++) asc.add(i * ratio + 1); // leading, steps_offset 1
        List<Integer> plms = new ArrayList<>(asc.subList(0, steps - 1));
        if (steps >= 2) plms.add(asc.get(steps - 2));
        plms.add(asc.get(steps - 1));
        java.util.Collections.reverse(plms);
        plms = new ArrayList<>(plms.subList(begin, plms.size()));
        double[] x = start.clone();
        int n = x.length;
        List<double[]> ets = new ArrayList<>();
        double[] cur = null;
        for (int counter = 0; counter < plms.size(); counter++) {
            int timestep = plms.get(counter);
            double[] mo = model.apply(x, timestep);
            int prev = timestep - ratio;
            if (counter != 1) {
                if (ets.size() > 3) ets = new ArrayList<>(ets.subList(ets.size() - 3, ets.size()));
                ets.add(mo);
            } else {
                prev = timestep;
                timestep = timestep + ratio;
            }
            double[] m = new double[n];
            double[] sample = x;
            int k = ets.size();
            for (int i = 0; i < n; i++) {
                if (k == 1 && counter == 0) m[i] = mo[i];
                else if (k == 1 && counter == 1) m[i] = (mo[i] + ets.get(k - 1)[i]) / 2;
                else if (k == 2) m[i] = (3 * ets.get(k - 1)[i] - ets.get(k - 2)[i]) / 2;
                else if (k == 3) m[i] = (23 * ets.get(k - 1)[i] - 16 * ets.get(k - 2)[i] + 5 * ets.get(k - 3)[i]) / 12;
                else m[i] = (55 * ets.get(k - 1)[i] - 59 * ets.get(k - 2)[i] + 37 * ets.get(k - 3)[i] - 9 * ets.get(k - 4)[i]) / 24;
            }
            if (k == 1 && counter == 0) cur = x;
            else if (k == 1 && counter == 1) sample = cur;
            double a = ac[timestep], ap = prev >= 0 ? ac[prev] : ac[0];
            double bt = 1 - a, bp = 1 - ap;
            double[] nx = new double[n];
            for (int i = 0; i < n; i++) {
                double mm = v ? Math.sqrt(a) * m[i] + Math.sqrt(bt) * sample[i] : m[i];
                double coef = Math.sqrt(ap / a), denom = a * Math.sqrt(bp) + Math.sqrt(a * bt * ap);
                nx[i] = coef * sample[i] - (ap - a) * mm / denom;
            }
            x = nx;
        }
        return x;
    }

    public static double[] ddim(double[] start, double[] ac, int steps, String spacing, Model model) {
        return ddim(start, ac, steps, spacing, model, 0);
    }

    /** DDIM (η 0, set_alpha_to_one) over {@code timesteps[begin:]}. */
    public static double[] ddim(double[] start, double[] ac, int steps, String spacing, Model model, int begin) {
        int ratio = ac.length / steps;
        int[] ts = new int[steps];
        for (int i = 0; i < steps; i++) {
            ts[i] = switch (spacing) {
                case "linspace" -> (int) Math.rint(999.0 * (steps - 1 - i) / Math.max(1, steps - 1));
                case "trailing" -> (int) Math.rint(1000 - i * (1000.0 / steps)) - 1;
                default -> (steps - 1 - i) * ratio + 1;
            };
        }
        double[] x = start.clone();
        int n = x.length;
        for (int t : Arrays.copyOfRange(ts, begin, ts.length)) {
            double[] e = model.apply(x, t);
            int prev = t - ratio;
            double a = ac[t], ap = prev >= 0 ? ac[prev] : 1.0; // DDIM's default set_alpha_to_one
            double[] nx = new double[n];
            for (int i = 0; i < n; i++) {
                double x0 = (x[i] - Math.sqrt(1 - a) * e[i]) / Math.sqrt(a);
                nx[i] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * e[i];
            }
            x = nx;
        }
        return x;
    }

    static double[] sigmas(double[] ac, double[] ts) {
        double[] s = new double[ts.length + 1];
        for (int i = 0; i < ts.length; i++) {
            int lo = (int) Math.floor(ts[i]);
            int hi = Math.min(ac.length - 1, lo + 1);
            double sl = Math.sqrt((1 - ac[lo]) / ac[lo]), sh = Math.sqrt((1 - ac[hi]) / ac[hi]);
            s[i] = sl + (sh - sl) * (ts[i] - lo);
        }
        return s;
    }

    public static double[] euler(double[] start, double[] ac, int steps, boolean v, Model model) {
        double[] x = start.clone();
        double s0 = eulerSigmas(ac, steps)[0];
        for (int i = 0; i < x.length; i++) x[i] *= s0;
        return euler(x, ac, steps, v, model, 0);
    }

    /** Euler's sigma table at linspace spacing (N + 1 entries, the last 0). */
    public static double[] eulerSigmas(double[] ac, int steps) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = (float) (999.0 * (steps - 1 - i) / (steps - 1));
        return sigmas(ac, ts);
    }

    /** Euler from already noised latents {@code x} (not scaled here) at step {@code begin} (step_index = begin_index). */
    public static double[] euler(double[] xStart, double[] ac, int steps, boolean v, Model model, int begin) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = (float) (999.0 * (steps - 1 - i) / (steps - 1));
        double[] sg = sigmas(ac, ts);
        double[] x = xStart.clone();
        int n = x.length;
        for (int s = begin; s < steps; s++) {
            double sig = sg[s];
            double[] xin = new double[n];
            for (int i = 0; i < n; i++) xin[i] = x[i] / Math.sqrt(sig * sig + 1);
            double[] m = model.apply(xin, (float) ts[s]);
            for (int i = 0; i < n; i++) {
                double x0 = v ? m[i] * (-sig / Math.sqrt(sig * sig + 1)) + x[i] / (sig * sig + 1) : x[i] - sig * m[i];
                double d = (x[i] - x0) / sig;
                x[i] = x[i] + d * (sg[s + 1] - sig);
            }
        }
        return x;
    }

    public static double[] dpm(double[] start, double[] ac, int steps, Model model) {
        return dpm(start, ac, steps, model, 0);
    }

    /** DPM-Solver's sigma table at linspace spacing (N + 1 entries, the last 0). */
    public static double[] dpmSigmas(double[] ac, int steps) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = Math.rint(999.0 * (steps - i) / steps);
        return sigmas(ac, ts);
    }

    /** DPM-Solver++(2M) from step {@code begin} (step_index = begin_index; the multistep history starts empty: first order there). */
    public static double[] dpm(double[] start, double[] ac, int steps, Model model, int begin) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = Math.rint(999.0 * (steps - i) / steps);
        double[] sg = sigmas(ac, ts);
        double[] x = start.clone();
        int n = x.length;
        double[] prevX0 = null;
        for (int s = begin; s < steps; s++) {
            double[] m = model.apply(x, ts[s]);
            double sig = sg[s], sn = sg[s + 1];
            double a = 1 / Math.sqrt(sig * sig + 1), sv = sig * a;
            double[] x0 = new double[n];
            for (int i = 0; i < n; i++) x0[i] = (x[i] - sv * m[i]) / a;
            boolean first = s == begin || s == steps - 1;
            double[] nx = new double[n];
            if (sn == 0) {
                nx = x0.clone();
            } else {
                double an = 1 / Math.sqrt(sn * sn + 1), svn = sn * an;
                double lam = Math.log(a) - Math.log(sv), lamN = Math.log(an) - Math.log(svn), h = lamN - lam;
                for (int i = 0; i < n; i++) {
                    double d0 = x0[i];
                    double upd = (svn / sv) * x[i] - an * (Math.exp(-h) - 1) * d0;
                    if (!first) {
                        double sp = sg[s - 1], ap = 1 / Math.sqrt(sp * sp + 1), svp = sp * ap;
                        double lamP = Math.log(ap) - Math.log(svp);
                        double r0 = (lam - lamP) / h;
                        double d1 = (x0[i] - prevX0[i]) / r0;
                        upd -= 0.5 * an * (Math.exp(-h) - 1) * d1;
                    }
                    nx[i] = upd;
                }
            }
            prevX0 = x0;
            x = nx;
        }
        return x;
    }

    /**
     * FlowMatchEulerDiscreteScheduler's sigmas for N steps (N + 1 entries, the last 0), written from
     * its {@code __init__} and {@code set_timesteps}: the training sigmas {@code (T..1)/T} shifted in
     * float32 give σ_max and σ_min; N timesteps linearly from T·σ_max to T·σ_min, over T, shifted again
     * in float64, optionally Karras between the ends, then float32.
     */
    public static double[] flowSigmas(int steps, double shift, int t, boolean karras) {
        float s32 = (float) shift;
        float lo32 = 1f / t;
        float max = (s32 * 1f) / (1f + (s32 - 1f) * 1f);
        float min = (s32 * lo32) / (1f + (s32 - 1f) * lo32);
        double[] sg = new double[steps + 1];
        for (int i = 0; i < steps; i++) {
            double ts = steps == 1 ? (double) max * t : (double) max * t + i * (((double) min * t - (double) max * t) / (steps - 1));
            if (steps > 1 && i == steps - 1) ts = (double) min * t;
            double x = ts / t;
            sg[i] = shift * x / (1 + (shift - 1) * x);
        }
        if (karras) {
            double a = Math.pow(sg[0], 1 / 7.0), b = Math.pow(sg[steps - 1], 1 / 7.0);
            double[] k = new double[steps];
            for (int i = 0; i < steps; i++) {
                double ramp = steps == 1 ? 0 : (double) i / (steps - 1);
                k[i] = Math.pow(a + ramp * (b - a), 7);
            }
            System.arraycopy(k, 0, sg, 0, steps);
        }
        for (int i = 0; i < steps; i++) sg[i] = (float) sg[i];
        return sg;
    }

    /**
     * FlowMatchEulerDiscreteScheduler's loop from {@code x} (already noised; the pipeline starts from
     * unscaled unit noise) at step {@code begin}: the model sees x unscaled at {@code t = float32(σ)·T}
     * and each step is {@code x + (σ_{i+1} − σ_i)·v}.
     */
    public static double[] flowEuler(double[] xStart, double[] sigmas, int t, Model model, int begin) {
        double[] x = xStart.clone();
        for (int s = begin; s < sigmas.length - 1; s++) {
            double[] v = model.apply(x.clone(), (float) sigmas[s] * (float) t);
            double dt = sigmas[s + 1] - sigmas[s];
            for (int i = 0; i < x.length; i++) x[i] += dt * v[i];
        }
        return x;
    }

    /** Euler's (and Euler-ancestral's, Heun's) linspace timesteps: float32 {@code linspace(0, 999, N)} reversed. */
    static double[] linspaceTimesteps(int steps) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = steps == 1 ? 0 : (float) (999.0 * (steps - 1 - i) / (steps - 1));
        return ts;
    }

    /**
     * EulerAncestralDiscreteScheduler (linspace) from unit noise {@code start} (scaled here by σ_max): per step
     * x0, σ_up, σ_down, {@code x + (x − x0)/σ·(σ_down − σ) + z·σ_up}, z the Philox normal at (seed, step, element).
     */
    public static double[] eulerAncestral(double[] start, double[] ac, int steps, boolean v, Model model, long seed) {
        double[] ts = linspaceTimesteps(steps);
        double[] sg = sigmas(ac, ts);
        double[] x = start.clone();
        int n = x.length;
        for (int i = 0; i < n; i++) x[i] *= sg[0];
        for (int s = 0; s < steps; s++) {
            double sig = sg[s];
            double[] xin = new double[n];
            for (int i = 0; i < n; i++) xin[i] = x[i] / Math.sqrt(sig * sig + 1);
            double[] m = model.apply(xin, (float) ts[s]);
            double from = sg[s], to = sg[s + 1];
            double up = Math.sqrt(to * to * (from * from - to * to) / (from * from));
            double down = Math.sqrt(to * to - up * up);
            for (int i = 0; i < n; i++) {
                double x0 = v ? m[i] * (-sig / Math.sqrt(sig * sig + 1)) + x[i] / (sig * sig + 1) : x[i] - sig * m[i];
                double d = (x[i] - x0) / sig;
                double prev = x[i] + d * (down - sig);
                x[i] = prev + Philox.normal(seed, s, i) * up;
            }
        }
        return x;
    }

    /**
     * DDPMScheduler (leading spacing, steps_offset 1, fixed_small) from {@code start}: prev_t the next timestep of the
     * run (−1 at the end, ᾱ = 1), the strided β, x0 clipped to ±{@code clip} when clip &gt; 0, noise
     * {@code Philox.normal(seed, t, element)} when t &gt; 0.
     */
    public static double[] ddpm(double[] start, double[] ac, int steps, boolean v, double clip, Model model, long seed) {
        int ratio = ac.length / steps;
        int[] ts = new int[steps];
        for (int i = 0; i < steps; i++) ts[i] = (steps - 1 - i) * ratio + 1;
        double[] x = start.clone();
        int n = x.length;
        for (int s = 0; s < steps; s++) {
            int t = ts[s], prev = s + 1 < steps ? ts[s + 1] : -1;
            double[] m = model.apply(x, t);
            double a = ac[t], ap = prev >= 0 ? ac[prev] : 1.0;
            double bt = 1 - a, bp = 1 - ap, curA = a / ap, curB = 1 - curA;
            double var = Math.max(bp / bt * curB, 1e-20);
            double[] nx = new double[n];
            for (int i = 0; i < n; i++) {
                double x0 = v ? Math.sqrt(a) * x[i] - Math.sqrt(bt) * m[i] : (x[i] - Math.sqrt(bt) * m[i]) / Math.sqrt(a);
                if (clip > 0) x0 = Math.max(-clip, Math.min(clip, x0));
                double mean = Math.sqrt(ap) * curB / bt * x0 + Math.sqrt(curA) * bp / bt * x[i];
                nx[i] = mean + (t > 0 ? Math.sqrt(var) * Philox.normal(seed, t, i) : 0);
            }
            x = nx;
        }
        return x;
    }

    /**
     * HeunDiscreteScheduler (linspace) from unit noise (scaled here by σ_max), written as diffusers runs it: the
     * repeated timesteps and sigmas, 2N − 1 model calls, state_in_first_order by dt.
     */
    public static double[] heun(double[] start, double[] ac, int steps, boolean v, Model model) {
        double[] x = start.clone();
        double s0 = sigmas(ac, linspaceTimesteps(steps))[0];
        for (int i = 0; i < x.length; i++) x[i] *= s0;
        return heun(x, ac, steps, v, model, 0);
    }

    /** Heun from already noised latents at step {@code begin}: evaluations {@code timesteps[2·begin:]} (get_timesteps' t_start·order). */
    public static double[] heun(double[] xStart, double[] ac, int steps, boolean v, Model model, int begin) {
        double[] t0 = linspaceTimesteps(steps);
        double[] s0 = sigmas(ac, t0);
        int e = 2 * steps - 1;
        double[] sg = new double[e + 1], ts = new double[e];
        for (int j = 0; j < e; j++) {
            sg[j] = s0[(j + 1) / 2];
            ts[j] = t0[(j + 1) / 2];
        }
        double[] x = xStart.clone();
        int n = x.length;
        double[] prevD = null, saved = null;
        double dt = Double.NaN;
        for (int k = 2 * begin; k < e; k++) {
            double[] xin = new double[n];
            for (int i = 0; i < n; i++) xin[i] = x[i] / Math.sqrt(sg[k] * sg[k] + 1);
            double[] m = model.apply(xin, (float) ts[k]);
            boolean first = prevD == null;
            double sigma = first ? sg[k] : sg[k - 1], next = first ? sg[k + 1] : sg[k];
            double sin = first ? sigma : next;
            double[] d = new double[n];
            for (int i = 0; i < n; i++) {
                double x0 = v ? m[i] * (-sin / Math.sqrt(sin * sin + 1)) + x[i] / (sin * sin + 1) : x[i] - sin * m[i];
                d[i] = (x[i] - x0) / sin;
            }
            double[] nx = new double[n];
            if (first) {
                dt = next - sigma;
                for (int i = 0; i < n; i++) nx[i] = x[i] + d[i] * dt;
                prevD = d;
                saved = x;
            } else {
                for (int i = 0; i < n; i++) nx[i] = saved[i] + (prevD[i] + d[i]) / 2 * dt;
                prevD = null;
                saved = null;
            }
            x = nx;
        }
        return x;
    }

    /**
     * UniPCMultistepScheduler (linspace, predict_x0, lower_order_final, no disabled corrector) from {@code start},
     * written as diffusers' {@code step}: convert_model_output, the UniC corrector of last_sample, the model_outputs
     * list shifted, this_order, the UniP predictor; the R·ρ = b systems solved by Cramer's rule (orders ≤ 3).
     */
    public static double[] unipc(double[] start, double[] ac, int steps, int solverOrder, boolean bh1, boolean v, Model model) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = Math.rint(999.0 * (steps - i) / steps);
        double[] sg = sigmas(ac, ts);
        double[] x = start.clone();
        int n = x.length;
        double[][] outs = new double[solverOrder][];
        double[] last = null;
        int lowerOrderNums = 0, thisOrder = 0;
        for (int s = 0; s < steps; s++) {
            double[] m = model.apply(x, ts[s]);
            double a = 1 / Math.sqrt(sg[s] * sg[s] + 1), sv = sg[s] * a;
            double[] conv = new double[n];
            for (int i = 0; i < n; i++) conv[i] = v ? a * x[i] - sv * m[i] : (x[i] - sv * m[i]) / a;
            double[] sample = x;
            if (s > 0 && last != null) sample = uniUpdate(sg, s - 1, s, outs, last, conv, thisOrder, bh1, n);
            for (int i = 0; i < solverOrder - 1; i++) outs[i] = outs[i + 1];
            outs[solverOrder - 1] = conv;
            thisOrder = Math.min(Math.min(solverOrder, steps - s), lowerOrderNums + 1);
            last = sample;
            x = uniUpdate(sg, s, s + 1, outs, sample, null, thisOrder, bh1, n);
            if (lowerOrderNums < solverOrder) lowerOrderNums++;
        }
        return x;
    }

    /** One UniP (this == null) or UniC update from sigma index s0 to t; outs is model_outputs (newest last). */
    private static double[] uniUpdate(double[] sg, int s0, int t, double[][] outs, double[] x, double[] thisOut, int order, boolean bh1, int n) {
        double[] m0 = outs[outs.length - 1];
        double at = 1 / Math.sqrt(sg[t] * sg[t] + 1), st = sg[t] * at, as = 1 / Math.sqrt(sg[s0] * sg[s0] + 1), ss = sg[s0] * as;
        double lt = Math.log(at) - Math.log(st), ls = Math.log(as) - Math.log(ss), h = lt - ls;
        boolean corr = thisOut != null;
        double[] rks = new double[order];
        List<double[]> d1s = new ArrayList<>();
        for (int i = 1; i < order; i++) {
            int si = corr ? t - (i + 1) : t - 1 - i;
            double ai = 1 / Math.sqrt(sg[si] * sg[si] + 1);
            double rk = (Math.log(ai) - Math.log(sg[si] * ai) - ls) / h;
            rks[i - 1] = rk;
            double[] mi = outs[outs.length - 1 - i], d = new double[n];
            for (int k = 0; k < n; k++) d[k] = (mi[k] - m0[k]) / rk;
            d1s.add(d);
        }
        rks[order - 1] = 1;
        double hh = -h, hphi1 = Math.expm1(hh), hphik = hphi1 / hh - 1, fact = 1;
        double bh = bh1 ? hh : Math.expm1(hh);
        double[][] r = new double[order][order];
        double[] b = new double[order];
        for (int i = 1; i <= order; i++) {
            for (int k = 0; k < order; k++) r[i - 1][k] = Math.pow(rks[k], i - 1);
            b[i - 1] = hphik * fact / bh;
            fact *= i + 1;
            hphik = hphik / hh - 1 / fact;
        }
        double[] rhos;
        if (corr) rhos = order == 1 ? new double[] {0.5} : cramer(r, b, order);
        else rhos = order == 1 ? new double[0] : order == 2 ? new double[] {0.5} : cramer(r, b, order - 1);
        double[] out = new double[n];
        for (int k = 0; k < n; k++) {
            double xt = st / ss * x[k] - at * hphi1 * m0[k];
            double res = 0;
            for (int j = 0; j < d1s.size(); j++) res += rhos[j] * d1s.get(j)[k];
            if (corr) res += rhos[order - 1] * (thisOut[k] - m0[k]);
            out[k] = xt - at * bh * res;
        }
        return out;
    }

    /** Cramer's rule on the leading m×m block of r against b (m ≤ 3). */
    private static double[] cramer(double[][] r, double[] b, int m) {
        double det = det(r, m);
        double[] x = new double[m];
        for (int c = 0; c < m; c++) {
            double[][] q = new double[m][m];
            for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) q[i][j] = j == c ? b[i] : r[i][j];
            x[c] = det(q, m) / det;
        }
        return x;
    }

    private static double det(double[][] a, int m) {
        if (m == 1) return a[0][0];
        if (m == 2) return a[0][0] * a[1][1] - a[0][1] * a[1][0];
        return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    }

    /**
     * DPMSolverMultistepScheduler with {@code algorithm_type="sde-dpmsolver++"} (order 2, midpoint, linspace, final σ 0):
     * first order {@code (σ_t/σ_s·e^{−h})·x + α_t(1 − e^{−2h})·x0 + σ_t·√(1 − e^{−2h})·z}, second order with
     * {@code + ½α_t(1 − e^{−2h})·D1}, D1 = (x0 − x0_prev)/r0; z = Philox.normal(seed, step, element).
     */
    public static double[] dpmSde(double[] start, double[] ac, int steps, Model model, long seed) {
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) ts[i] = Math.rint(999.0 * (steps - i) / steps);
        double[] sg = sigmas(ac, ts);
        double[] x = start.clone();
        int n = x.length;
        double[] prevX0 = null;
        for (int s = 0; s < steps; s++) {
            double[] m = model.apply(x, ts[s]);
            double sig = sg[s], sn = sg[s + 1];
            double a = 1 / Math.sqrt(sig * sig + 1), sv = sig * a;
            double[] x0 = new double[n];
            for (int i = 0; i < n; i++) x0[i] = (x[i] - sv * m[i]) / a;
            double[] nx = new double[n];
            if (sn == 0) {
                nx = x0.clone();
            } else {
                double an = 1 / Math.sqrt(sn * sn + 1), svn = sn * an;
                double lam = Math.log(a) - Math.log(sv), lamN = Math.log(an) - Math.log(svn), h = lamN - lam;
                boolean first = s == 0 || s == steps - 1;
                for (int i = 0; i < n; i++) {
                    double upd = (svn / sv * Math.exp(-h)) * x[i] + an * (1 - Math.exp(-2 * h)) * x0[i];
                    if (!first) {
                        double sp = sg[s - 1], ap = 1 / Math.sqrt(sp * sp + 1);
                        double r0 = (lam - (Math.log(ap) - Math.log(sp * ap))) / h;
                        upd += 0.5 * an * (1 - Math.exp(-2 * h)) * (x0[i] - prevX0[i]) / r0;
                    }
                    nx[i] = upd + svn * Math.sqrt(1 - Math.exp(-2 * h)) * Philox.normal(seed, s, i);
                }
            }
            prevX0 = x0;
            x = nx;
        }
        return x;
    }
}
