package dev.surpass.diffusion;

import java.util.Arrays;
import java.util.TreeSet;

/**
 * A discrete diffusion noise schedule in float64: betas {@code β_t}, {@code α_t = 1 − β_t},
 * {@code ᾱ_t = Π_{s≤t} α_s} for {@code t = 0 .. T−1}, and the timestep map of a respaced schedule
 * (the original training timestep of each index, what a model's timestep embedding takes).
 *
 * <p>Schedules ({@code kernels-and-checkpoints.md} §4.4):
 * <ul>
 *   <li>{@link #linear(int, double, double)}: diffusers {@code linear}, {@code β = linspace(b0, b1, T)}
 *       (diffusers builds it in fp32; this is float64, closer to the formula).
 *   <li>{@link #ditLinear(int)}: DiT / guided-diffusion {@code linear}, {@code β = linspace(s·1e-4, s·0.02, T)}, {@code s = 1000/T}.
 *   <li>{@link #scaledLinear(int, double, double)}: {@code β = linspace(√b0, √b1, T)²} (SD: 0.00085, 0.012).
 *   <li>{@link #cosine(int)}: {@code squaredcos_cap_v2}, {@code ᾱ(t) = cos²(((t+0.008)/1.008)·π/2)},
 *       {@code β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), 0.999)}.
 *   <li>{@link #rescaleZeroTerminalSnr()}: {@code √ᾱ ← (√ᾱ − √ᾱ_T)·√ᾱ_0/(√ᾱ_0 − √ᾱ_T)} (Lin et al.;
 *       the last ᾱ becomes 0, so only v- or x0-prediction can step from it).
 * </ul>
 * Timesteps for N sampling steps: {@link #timesteps(int, Spacing, int)} (diffusers' leading /
 * trailing / linspace); respacing as DiT does it: {@link #spaceTimesteps(int, String)} then
 * {@link #respace(int[])}. Sigma tables for Euler and DPM-Solver++: {@link #sigmas()},
 * {@link #sigmasAt(double[])}, {@link #karrasSigmas(int, double, double)}.
 *
 * <p>Immutable; thread-safe.
 */
public final class NoiseSchedule {
    /** Timestep spacing of diffusers' {@code set_timesteps}. */
    public enum Spacing { LEADING, TRAILING, LINSPACE }

    private final double[] betas;
    private final double[] alphasCumprod;
    private final int[] timestepMap;

    private NoiseSchedule(double[] betas, int[] timestepMap) {
        this.betas = betas;
        this.timestepMap = timestepMap;
        this.alphasCumprod = new double[betas.length];
        double p = 1.0;
        for (int i = 0; i < betas.length; i++) {
            p *= 1.0 - betas[i];
            alphasCumprod[i] = p;
        }
    }

    /** A schedule from explicit betas, each in [0, 1] (the last may be 1 after a zero-terminal-SNR rescale). */
    public static NoiseSchedule fromBetas(double... betas) {
        if (betas == null || betas.length == 0) throw new IllegalArgumentException("betas is null or empty");
        double[] b = betas.clone();
        for (int i = 0; i < b.length; i++) {
            if (!(b[i] >= 0 && b[i] <= 1)) throw new IllegalArgumentException("beta[" + i + "] = " + b[i] + " is outside [0, 1]");
        }
        int[] map = new int[b.length];
        for (int i = 0; i < map.length; i++) map[i] = i;
        return new NoiseSchedule(b, map);
    }

    /**
     * The most training timesteps a schedule may have (real ones have 1000): a larger count is
     * refused before its tables are allocated (2^31 doubles would be an OutOfMemoryError).
     */
    public static final int MAX_TRAIN_STEPS = 1 << 20;

    private static void checkSteps(String what, int t) {
        if (t < 1 || t > MAX_TRAIN_STEPS) {
            throw new IllegalArgumentException(what + ": the number of training timesteps must be >= 1 and <= " + MAX_TRAIN_STEPS
                    + ", got " + t);
        }
    }

    private static void checkBetaRange(String what, double b0, double b1) {
        if (!(b0 >= 0 && b0 < 1 && b1 >= 0 && b1 < 1)) {
            throw new IllegalArgumentException(what + ": beta start and end must lie in [0, 1), got " + b0 + " and " + b1);
        }
    }

    /** numpy's {@code linspace(a, b, n)} (endpoint included, last value exactly b). */
    static double[] linspace(double a, double b, int n) {
        double[] v = new double[n];
        if (n == 1) {
            v[0] = a;
            return v;
        }
        double step = (b - a) / (n - 1);
        for (int i = 0; i < n; i++) v[i] = a + i * step;
        v[n - 1] = b;
        return v;
    }

    /** diffusers {@code linear}: {@code β = linspace(betaStart, betaEnd, T)} (defaults 1e-4, 0.02). */
    public static NoiseSchedule linear(int trainSteps, double betaStart, double betaEnd) {
        checkSteps("linear", trainSteps);
        checkBetaRange("linear", betaStart, betaEnd);
        return fromBetas(linspace(betaStart, betaEnd, trainSteps));
    }

    /** DiT's linear schedule: {@code β = linspace(s·1e-4, s·0.02, T)} with {@code s = 1000/T} (T = 1000 in DiT). */
    public static NoiseSchedule ditLinear(int trainSteps) {
        checkSteps("ditLinear", trainSteps);
        double s = 1000.0 / trainSteps;
        if (s * 0.02 >= 1) throw new IllegalArgumentException("ditLinear: T = " + trainSteps + " makes beta_end = " + s * 0.02 + " >= 1; use T >= 21");
        return fromBetas(linspace(s * 0.0001, s * 0.02, trainSteps));
    }

    /** {@code scaled_linear}: {@code β = linspace(√b0, √b1, T)²}. */
    public static NoiseSchedule scaledLinear(int trainSteps, double betaStart, double betaEnd) {
        checkSteps("scaledLinear", trainSteps);
        checkBetaRange("scaledLinear", betaStart, betaEnd);
        double[] b = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), trainSteps);
        for (int i = 0; i < b.length; i++) b[i] *= b[i];
        return fromBetas(b);
    }

    /** {@code squaredcos_cap_v2} (Nichol and Dhariwal), betas capped at 0.999. */
    public static NoiseSchedule cosine(int trainSteps) {
        checkSteps("cosine", trainSteps);
        double[] b = new double[trainSteps];
        for (int i = 0; i < trainSteps; i++) {
            double t1 = (double) i / trainSteps, t2 = (double) (i + 1) / trainSteps;
            b[i] = Math.min(1 - cosAlphaBar(t2) / cosAlphaBar(t1), 0.999);
        }
        return fromBetas(b);
    }

    private static double cosAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /**
     * diffusers {@code rescale_zero_terminal_snr}: shifts and scales {@code √ᾱ} so the last
     * timestep has zero SNR and the first keeps its value; betas follow from the new ᾱ.
     */
    public NoiseSchedule rescaleZeroTerminalSnr() {
        int n = betas.length;
        if (n < 2) throw new IllegalArgumentException("rescaleZeroTerminalSnr needs at least 2 timesteps, got " + n);
        double a0 = Math.sqrt(alphasCumprod[0]), aT = Math.sqrt(alphasCumprod[n - 1]);
        if (!(a0 > aT)) throw new IllegalArgumentException("rescaleZeroTerminalSnr: alpha_cumprod does not decrease (first " + a0 + ", last " + aT + ")");
        double[] ab = new double[n];
        for (int i = 0; i < n; i++) {
            double s = (Math.sqrt(alphasCumprod[i]) - aT) * a0 / (a0 - aT);
            ab[i] = s * s;
        }
        double[] b = new double[n];
        b[0] = 1 - ab[0];
        for (int i = 1; i < n; i++) b[i] = 1 - ab[i] / ab[i - 1];
        return new NoiseSchedule(b, timestepMap.clone());
    }

    /**
     * The schedule with its last ᾱ set to {@code v} (the last beta adjusted to match): diffusers' Euler, Euler-ancestral,
     * DPM-Solver and UniPC schedulers set {@code alphas_cumprod[-1] = 2**-24} after a zero-terminal-SNR rescale so the
     * largest sigma stays finite.
     */
    public NoiseSchedule withFinalAlphaCumprod(double v) {
        int n = betas.length;
        if (n < 2) throw new IllegalArgumentException("withFinalAlphaCumprod needs at least 2 timesteps, got " + n);
        if (!(v > 0 && v < alphasCumprod[n - 2])) {
            throw new IllegalArgumentException("withFinalAlphaCumprod: " + v + " is not in (0, alpha_cumprod[T-2] = " + alphasCumprod[n - 2] + ")");
        }
        double[] b = betas.clone();
        b[n - 1] = 1 - v / alphasCumprod[n - 2];
        return new NoiseSchedule(b, timestepMap.clone());
    }

    /**
     * DiT's {@code space_timesteps(T, spec)}: {@code "ddimN"} takes every k-th timestep
     * {@code range(0, T, k)} with k such that there are exactly N; {@code "N"} or {@code "N1,N2,…"}
     * splits [0, T) into equal sections and takes {@code round(i·(size−1)/(N−1))} in each (Python's
     * round, half to even). Returns the sorted timesteps to keep, for {@link #respace(int[])}.
     */
    public static int[] spaceTimesteps(int trainSteps, String spec) {
        checkSteps("spaceTimesteps", trainSteps);
        if (spec == null || spec.isBlank()) throw new IllegalArgumentException("spaceTimesteps: spec is null or blank");
        if (spec.startsWith("ddim")) {
            int want = parseCount(spec.substring(4), spec);
            for (int stride = 1; stride < trainSteps; stride++) {
                if ((trainSteps + stride - 1) / stride == want) {
                    int[] r = new int[want];
                    for (int i = 0; i < want; i++) r[i] = i * stride;
                    return r;
                }
            }
            throw new IllegalArgumentException("spaceTimesteps: cannot create exactly " + want + " steps with an integer stride from " + trainSteps);
        }
        String[] parts = spec.split(",");
        int sections = parts.length;
        if (sections == 0) { // "," or ",,": split drops the empty strings, leaving no section at all
            throw new IllegalArgumentException("spaceTimesteps: '" + spec + "' is not \"N\", \"N1,N2,...\" or \"ddimN\"");
        }
        int sizePer = trainSteps / sections, extra = trainSteps % sections;
        TreeSet<Integer> all = new TreeSet<>();
        int start = 0;
        for (int s = 0; s < sections; s++) {
            int size = sizePer + (s < extra ? 1 : 0);
            int count = parseCount(parts[s], spec);
            if (count > size) throw new IllegalArgumentException("spaceTimesteps: cannot divide a section of " + size + " steps into " + count);
            double fracStride = count <= 1 ? 1 : (double) (size - 1) / (count - 1);
            double cur = 0;
            for (int i = 0; i < count; i++) {
                all.add(start + (int) Math.rint(cur));
                cur += fracStride;
            }
            start += size;
        }
        return all.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int parseCount(String s, String spec) {
        try {
            int n = Integer.parseInt(s.trim());
            if (n < 1) throw new IllegalArgumentException("spaceTimesteps: step count in '" + spec + "' must be >= 1, got " + n);
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("spaceTimesteps: '" + spec + "' is not \"N\", \"N1,N2,...\" or \"ddimN\"");
        }
    }

    /**
     * DiT's {@code SpacedDiffusion}: keeps the timesteps {@code use} (strictly increasing, within
     * [0, T)), with respaced betas {@code β'_i = 1 − ᾱ_{use_i}/ᾱ_{use_{i−1}}} (ᾱ before the first is 1),
     * so {@code ᾱ'_i = ᾱ_{use_i}}; the timestep map gives the original timestep of each new index.
     */
    public NoiseSchedule respace(int[] use) {
        if (use == null || use.length == 0) throw new IllegalArgumentException("respace: no timesteps to keep");
        double[] b = new double[use.length];
        int[] map = new int[use.length];
        double last = 1.0;
        for (int i = 0; i < use.length; i++) {
            int t = use[i];
            if (t < 0 || t >= betas.length) throw new IllegalArgumentException("respace: timestep " + t + " is outside [0, " + betas.length + ")");
            if (i > 0 && t <= use[i - 1]) throw new IllegalArgumentException("respace: timesteps must increase strictly; " + use[i - 1] + " then " + t);
            b[i] = 1 - alphasCumprod[t] / last;
            last = alphasCumprod[t];
            map[i] = timestepMap[t];
        }
        return new NoiseSchedule(b, map);
    }

    /**
     * diffusers' {@code set_timesteps(N)} for DDPM/DDIM-style schedulers: N timesteps, descending.
     * LEADING: {@code (arange(N)·(T div N))[::-1] + offset}; TRAILING: {@code round(arange(T, 0, −T/N)) − 1};
     * LINSPACE: {@code round(linspace(0, T−1, N))[::-1]} (rounding half to even, as numpy).
     */
    public int[] timesteps(int steps, Spacing spacing, int stepsOffset) {
        int t = betas.length;
        if (steps < 1 || steps > t) {
            throw new IllegalArgumentException("timesteps: " + steps + " sampling steps for a schedule of " + t + " timesteps; expected 1.." + t);
        }
        if (spacing == null) throw new IllegalArgumentException("timesteps: spacing is null");
        int[] r = new int[steps];
        switch (spacing) {
            case LEADING -> {
                int ratio = t / steps;
                for (int i = 0; i < steps; i++) r[i] = (steps - 1 - i) * ratio + stepsOffset;
            }
            case TRAILING -> {
                double ratio = (double) t / steps;
                for (int i = 0; i < steps; i++) r[i] = (int) Math.rint(t - i * ratio) - 1;
            }
            case LINSPACE -> {
                double[] v = linspace(0, t - 1, steps);
                for (int i = 0; i < steps; i++) r[i] = (int) Math.rint(v[steps - 1 - i]);
            }
        }
        for (int v : r) {
            if (v < 0 || v >= t) throw new IllegalArgumentException("timesteps: offset " + stepsOffset + " puts timestep " + v + " outside [0, " + t + ")");
        }
        return r;
    }

    /** Number of timesteps T. */
    public int size() {
        return betas.length;
    }

    public double beta(int t) {
        return betas[check(t)];
    }

    public double alphaCumprod(int t) {
        return alphasCumprod[check(t)];
    }

    /** ᾱ at {@code t}, or 1 for {@code t = −1} (before the first timestep: DiT's {@code alphas_cumprod_prev[0]}). */
    public double alphaCumprodOrOne(int t) {
        return t == -1 ? 1.0 : alphaCumprod(t);
    }

    /** The original training timestep of index {@code t} (identity unless respaced). */
    public int originalTimestep(int t) {
        return timestepMap[check(t)];
    }

    public double[] betas() {
        return betas.clone();
    }

    public double[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    /** VE sigmas {@code σ_t = √((1−ᾱ_t)/ᾱ_t)}, ascending in t. */
    public double[] sigmas() {
        double[] s = new double[betas.length];
        for (int i = 0; i < s.length; i++) s[i] = Math.sqrt((1 - alphasCumprod[i]) / alphasCumprod[i]);
        return s;
    }

    /**
     * Sigmas at (possibly fractional) timesteps by linear interpolation, numpy's
     * {@code interp(t, arange(T), sigmas)}, with a final 0 appended (Euler / DPM-Solver++ tables).
     */
    public double[] sigmasAt(double[] timesteps) {
        if (timesteps == null || timesteps.length == 0) throw new IllegalArgumentException("sigmasAt: no timesteps");
        double[] all = sigmas();
        double[] out = new double[timesteps.length + 1];
        for (int i = 0; i < timesteps.length; i++) {
            double t = timesteps[i];
            if (!(t >= 0 && t <= all.length - 1)) throw new IllegalArgumentException("sigmasAt: timestep " + t + " is outside [0, " + (all.length - 1) + "]");
            int lo = (int) Math.floor(t);
            int hi = Math.min(lo + 1, all.length - 1);
            double f = t - lo;
            out[i] = all[lo] + (all[hi] - all[lo]) * f;
        }
        out[timesteps.length] = 0;
        return out;
    }

    /** {@link #sigmasAt(double[])} of integer timesteps. */
    public double[] sigmasAt(int[] timesteps) {
        if (timesteps == null) throw new IllegalArgumentException("sigmasAt: no timesteps");
        return sigmasAt(Arrays.stream(timesteps).asDoubleStream().toArray());
    }

    /**
     * Karras et al. sigmas, {@code σ_i = (σ_max^{1/7} + i/(N−1)·(σ_min^{1/7} − σ_max^{1/7}))^7}, descending,
     * with a final 0 appended.
     */
    public static double[] karrasSigmas(int steps, double sigmaMin, double sigmaMax) {
        if (steps < 1) throw new IllegalArgumentException("karrasSigmas: steps must be >= 1, got " + steps);
        if (!(sigmaMin > 0 && sigmaMax >= sigmaMin && Double.isFinite(sigmaMax))) {
            throw new IllegalArgumentException("karrasSigmas: need 0 < sigmaMin <= sigmaMax < inf, got " + sigmaMin + ", " + sigmaMax);
        }
        double rho = 7, a = Math.pow(sigmaMax, 1 / rho), b = Math.pow(sigmaMin, 1 / rho);
        double[] ramp = linspace(0, 1, steps);
        double[] s = new double[steps + 1];
        for (int i = 0; i < steps; i++) s[i] = Math.pow(a + ramp[i] * (b - a), rho);
        s[steps] = 0;
        return s;
    }

    private int check(int t) {
        if (t < 0 || t >= betas.length) {
            throw new IllegalArgumentException("timestep " + t + " is out of range [0, " + betas.length + ") of this schedule");
        }
        return t;
    }

    @Override
    public String toString() {
        return "NoiseSchedule[T=" + betas.length + ", beta " + betas[0] + ".." + betas[betas.length - 1] + "]";
    }
}
