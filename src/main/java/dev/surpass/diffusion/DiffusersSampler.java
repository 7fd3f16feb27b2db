package dev.surpass.diffusion;

import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Locale;

/**
 * One sampling run with a diffusers scheduler, set up from a {@link SchedulerConfig} as the
 * scheduler's {@code set_timesteps(N)} would, and stepped on the fused steps of this package:
 * <ul>
 *   <li>{@link Kind#PNDM}: {@code PNDMScheduler} with {@code skip_prk_steps} (the PLMS sampler every
 *       Stable Diffusion 1.x/2.x pipeline ships): N+1 model calls, the second at the first timestep
 *       again, the model outputs combined by the linear multistep rule (orders 1–4) and each update
 *       PNDM's formula (9) — which is the deterministic DDIM update, run as a {@link DdimStep};</li>
 *   <li>{@link Kind#DDIM}: {@code DDIMScheduler} (η, {@code clip_sample}, {@code set_alpha_to_one}),
 *       stepping from t to {@code t − T div N} as diffusers does for every spacing;</li>
 *   <li>{@link Kind#EULER}: {@code EulerDiscreteScheduler} (fractional timesteps under linspace
 *       spacing, optional Karras sigmas, the model input scaled by {@code 1/√(σ²+1)});</li>
 *   <li>{@link Kind#DPMPP_2M}: {@code DPMSolverMultistepScheduler} with its defaults (order 2,
 *       dpmsolver++, midpoint, final σ 0; optional Karras sigmas and {@code lambda_min_clipped}).</li>
 *   <li>{@link Kind#FLOW_EULER}: {@code FlowMatchEulerDiscreteScheduler} (Stable Diffusion 3 / 3.5):
 *       the model predicts a velocity v and each step is {@code x + (σ_{i+1} − σ_i)·v} over the
 *       shifted sigmas (optionally Karras), ending at 0; the model sees {@code t = 1000·σ_i}
 *       (fractional), input unscaled; no training noise schedule is involved. The shift is fixed
 *       or, with {@code use_dynamic_shifting} (FLUX.1-dev), set by μ from the image size
 *       ({@link FlowShift}, {@link #createFlow}); a pipeline may pass its own sigmas (Flux does).</li>
 *   <li>{@link Kind#EULER_ANCESTRAL}: {@code EulerAncestralDiscreteScheduler}: Euler's table and input scaling, each step
 *       to σ_down plus σ_up·z (z Philox-keyed by the seed and the evaluation), as a fused DDIM-form step;</li>
 *   <li>{@link Kind#UNIPC}: {@code UniPCMultistepScheduler} (bh2, orders 1–3, predict_x0, lower_order_final, optional
 *       Karras sigmas): the UniC corrector then the UniP predictor, weighted sums of kept x0s with float64 weights;</li>
 *   <li>{@link Kind#DDPM}: {@code DDPMScheduler} (fixed_small, the strided betas between the run's timesteps,
 *       {@code clip_sample} defaulting to true, Philox noise keyed by t) as the fused DDPM step;</li>
 *   <li>{@link Kind#HEUN}: {@code HeunDiscreteScheduler}: 2N − 1 evaluations over the repeated timesteps, an Euler half
 *       step then the trapezoidal correction (fused Euler / DPM-form steps); {@link #order()} 2.</li>
 * </ul>
 * DPM-Solver++ also runs {@code algorithm_type "sde-dpmsolver++"} (Philox noise keyed by the evaluation).
 * The caller runs the model: for evaluation {@code i} of {@link #evaluations()} it feeds the model
 * {@code x · inputScale(i)} at timestep {@link #timestep(i)} and hands the output to
 * {@link #step}. The initial latents are unit Gaussian noise times {@link #initNoiseSigma()}; for
 * image-to-image the run starts at {@link #begin} and the initial latents are {@link #addNoise} of
 * the encoded image at that evaluation.
 * Classifier-free guidance is in diffusers' batch order (uncond half first, {@link Guidance#diffusers}).
 *
 * <p>State (PNDM's previous outputs, DPM-Solver's previous x0) lives on the latents' device and is
 * freed by {@link #close}. One run, one thread; evaluations must be stepped in order.
 */
public final class DiffusersSampler implements AutoCloseable {
    /** The scheduler class. */
    public enum Kind {
        PNDM, DDIM, EULER, DPMPP_2M, FLOW_EULER, EULER_ANCESTRAL, UNIPC, DDPM, HEUN;

        /**
         * "pndm", "ddim", "euler", "dpmpp2m" (also "dpm++2m", "dpmsolver"), "flow-euler" (also "flowmatch"), "euler-a"
         * (also "euler_ancestral"), "unipc", "ddpm", "heun", or a diffusers class name.
         */
        public static Kind parse(String s) {
            String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT).replace("_", "").replace("-", "").replace("+", "p");
            return switch (v) {
                case "pndm", "plms", "pndmscheduler" -> PNDM;
                case "ddim", "ddimscheduler" -> DDIM;
                case "euler", "eulerdiscrete", "eulerdiscretescheduler" -> EULER;
                case "dpmpp2m", "dpmsolverpp2m", "dpmsolver", "dpmsolvermultistep", "dpmsolvermultistepscheduler" -> DPMPP_2M;
                case "floweuler", "flowmatch", "flowmatcheuler", "flowmatcheulerdiscrete", "flowmatcheulerdiscretescheduler" -> FLOW_EULER;
                case "eulera", "eulerancestral", "eulerancestraldiscrete", "eulerancestraldiscretescheduler" -> EULER_ANCESTRAL;
                case "unipc", "unipcmultistep", "unipcmultistepscheduler" -> UNIPC;
                case "ddpm", "ddpmscheduler" -> DDPM;
                case "heun", "heundiscrete", "heundiscretescheduler" -> HEUN;
                default -> throw new IllegalArgumentException("scheduler '" + s + "': expected pndm, ddim, euler, dpmpp2m, flow-euler, euler-a, "
                        + "unipc, ddpm or heun (or PNDMScheduler, DDIMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler, "
                        + "FlowMatchEulerDiscreteScheduler, EulerAncestralDiscreteScheduler, UniPCMultistepScheduler, DDPMScheduler, "
                        + "HeunDiscreteScheduler)");
            };
        }
    }

    private final Kind kind;
    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final StepOptions base;
    private final float[] modelTimesteps;
    private final double[] inputScales;
    private final double initNoiseSigma;
    // PNDM / DDIM
    private final int[] ts;          // the timesteps the model sees (PNDM: with the repeat)
    private final int ratio;         // T div N
    private final DdimStep ddim;
    // Euler / DPM-Solver
    private final EulerStep euler;
    private DpmSolverStep dpm;       // re-made from the begin index by begin(), so its first step is first order
    private final double[] sigmas;   // Euler / DPM-Solver / flow: the sigma table (for addNoise), else null
    private int start;               // the begin index (image-to-image), 0 otherwise
    // run state
    private final Deque<Tensor> ets = new ArrayDeque<>(); // PNDM: the last ≤ 4 guided model outputs, newest first
    private Tensor curSample;        // PNDM: x at the first timestep, for the repeated evaluation
    private Tensor prevX0;           // DPM-Solver: the previous x0
    // UniPC: the last ≤ solver_order converted outputs x0 (newest first), the sample the last predictor started from,
    // the order of the last predictor (the next corrector's), and how many steps this run has taken (lower_order_nums)
    private final Deque<Tensor> uniX0 = new ArrayDeque<>();
    private Tensor uniLast;
    private int uniOrder;
    private int uniSteps;
    // Heun: the sample and dt of the pending first-order half (null between whole steps)
    private Tensor heunSample;
    private double heunDt;
    private int next;
    private boolean closed;
    private boolean uniBh1;          // UniPC: solver_type bh1 (B(h) = h) rather than bh2 (B(h) = e^h − 1)

    private DiffusersSampler(Kind kind, SchedulerConfig config, int steps, double eta, long seed, double[] flowInput, double mu) {
        this.kind = kind;
        this.config = config;
        if (config.unsupported() != null) {
            throw new IllegalArgumentException("scheduler config sets " + config.unsupported() + ", which surpass's samplers do not implement");
        }
        this.schedule = floorZeroSnr(kind, config);
        int t = schedule.size();
        if (steps < 1 || steps > t) throw new IllegalArgumentException("sampler: steps must be in [1, " + t + "], got " + steps);
        if (!(eta >= 0) || Double.isInfinite(eta)) throw new IllegalArgumentException("sampler: eta must be >= 0 and finite, got " + eta);
        this.ratio = t / steps;
        Prediction p = config.prediction();
        StepOptions o = StepOptions.defaults().withPrediction(p).withSeed(seed);
        switch (kind) {
            case PNDM -> {
                if (!Boolean.TRUE.equals(config.skipPrkSteps())) {
                    throw new IllegalArgumentException("PNDM: skip_prk_steps is false (the Runge-Kutta warm-up steps are not implemented); "
                            + "Stable Diffusion configs set it true, or choose another scheduler");
                }
                if (p == Prediction.SAMPLE) throw new IllegalArgumentException("PNDM: prediction_type sample is not supported (diffusers refuses it too)");
                int[] base0 = schedule.timesteps(steps, spacing("leading"), config.stepsOffset()); // descending
                int n = steps;
                // diffusers: concatenate([_ts[:-1], _ts[-2:-1], _ts[-1:]])[::-1] of the ascending _ts
                int[] asc = new int[n];
                for (int i = 0; i < n; i++) asc[i] = base0[n - 1 - i];
                // (for N = 1 the repeated slice _ts[-2:-1] is empty: one evaluation)
                int[] plms = new int[n == 1 ? 1 : n + 1];
                int k = 0;
                for (int i = 0; i < n - 1; i++) plms[k++] = asc[i];
                if (n >= 2) plms[k++] = asc[n - 2];
                plms[k] = asc[n - 1];
                ts = reverse(plms);
                ddim = new DdimStep(schedule, 0);
                initNoiseSigma = 1;
                euler = null;
                dpm = null;
                sigmas = null;
                modelTimesteps = floats(ts);
                inputScales = ones(ts.length);
            }
            case DDIM -> {
                ts = schedule.timesteps(steps, spacing("leading"), config.stepsOffset());
                ddim = new DdimStep(schedule, eta);
                boolean clip = config.clipSample() == null || config.clipSample();
                if (clip) o = o.withClipSample(config.clipSampleRange());
                initNoiseSigma = 1;
                euler = null;
                dpm = null;
                sigmas = null;
                modelTimesteps = floats(ts);
                inputScales = ones(ts.length);
            }
            case EULER -> {
                if (p == Prediction.SAMPLE) throw new IllegalArgumentException("euler: prediction_type sample is not supported (diffusers refuses it too)");
                finalZero("euler");
                String sp = spacingName("linspace");
                double[] tsd = eulerTimesteps(steps, sp);
                double[] sig = schedule.sigmasAt(tsd);
                if (config.useKarrasSigmas()) {
                    double[] inner = Arrays.copyOf(sig, steps);
                    sig = NoiseSchedule.karrasSigmas(steps, inner[steps - 1], inner[0]);
                    tsd = sigmaToT(Arrays.copyOf(sig, steps));
                }
                euler = new EulerStep(sig);
                sigmas = sig.clone();
                dpm = null;
                ddim = null;
                ts = null;
                modelTimesteps = new float[steps];
                inputScales = new double[steps];
                for (int i = 0; i < steps; i++) {
                    modelTimesteps[i] = (float) tsd[i];
                    inputScales[i] = 1 / Math.sqrt(sig[i] * sig[i] + 1);
                }
                double max = sig[0];
                initNoiseSigma = sp.equals("leading") ? Math.sqrt(max * max + 1) : max;
            }
            case DPMPP_2M -> {
                finalZero("dpmpp2m");
                boolean sde = "sde-dpmsolver++".equals(config.algorithmType());
                if (config.solverOrder() != 2 || !(sde || "dpmsolver++".equals(config.algorithmType())) || !"midpoint".equals(config.solverType())) {
                    throw new IllegalArgumentException("dpmpp2m: the config asks for solver_order " + config.solverOrder() + ", algorithm_type "
                            + config.algorithmType() + ", solver_type " + config.solverType() + "; only 2 / dpmsolver++ or sde-dpmsolver++ / midpoint "
                            + "is implemented");
                }
                int[] its = dpmTimesteps(steps, spacingName("linspace"));
                double[] sig;
                if (config.useKarrasSigmas()) {
                    double[] all = schedule.sigmas();
                    sig = NoiseSchedule.karrasSigmas(steps, all[0], all[all.length - 1]);
                    double[] tt = sigmaToT(Arrays.copyOf(sig, steps));
                    its = new int[steps];
                    for (int i = 0; i < steps; i++) its[i] = (int) Math.rint(tt[i]);
                } else {
                    sig = schedule.sigmasAt(its);
                }
                dpm = new DpmSolverStep(sig, sde);
                sigmas = sig.clone();
                euler = null;
                ddim = null;
                ts = its;
                modelTimesteps = floats(its);
                inputScales = ones(its.length);
                initNoiseSigma = 1;
            }
            case EULER_ANCESTRAL -> {
                if (p == Prediction.SAMPLE) throw new IllegalArgumentException("euler-a: prediction_type sample is not supported (diffusers refuses it too)");
                if (config.useKarrasSigmas()) {
                    throw new IllegalArgumentException("euler-a: use_karras_sigmas is set, but EulerAncestralDiscreteScheduler has no Karras sigmas");
                }
                String sp = spacingName("linspace");
                double[] tsd = eulerTimesteps(steps, sp);
                double[] sig = schedule.sigmasAt(tsd);
                Steps.sigmaTable("euler-a", sig);
                sigmas = sig;
                euler = null;
                dpm = null;
                ddim = null;
                ts = null;
                modelTimesteps = new float[steps];
                inputScales = new double[steps];
                for (int i = 0; i < steps; i++) {
                    modelTimesteps[i] = (float) tsd[i];
                    inputScales[i] = 1 / Math.sqrt(sig[i] * sig[i] + 1);
                }
                initNoiseSigma = sp.equals("leading") ? Math.sqrt(sig[0] * sig[0] + 1) : sig[0];
            }
            case HEUN -> {
                if (Boolean.TRUE.equals(config.clipSample())) throw new IllegalArgumentException("heun: clip_sample = true is not supported (false)");
                noZeroSnr("heun");
                String sp = spacingName("linspace");
                double[] tsd = eulerTimesteps(steps, sp);
                double[] sig = schedule.sigmasAt(tsd);
                if (config.useKarrasSigmas()) { // Karras between the interpolated ends, timesteps by _sigma_to_t (not rounded)
                    sig = NoiseSchedule.karrasSigmas(steps, sig[steps - 1], sig[0]);
                    tsd = sigmaToT(Arrays.copyOf(sig, steps));
                }
                Steps.sigmaTable("heun", sig);
                // diffusers: sigmas = [σ0, σ1, σ1, …, σ_{N−1}, σ_{N−1}, 0], timesteps = [t0, t1, t1, …, t_{N−1}, t_{N−1}]
                int e = 2 * steps - 1;
                sigmas = new double[e + 1];
                modelTimesteps = new float[e];
                inputScales = new double[e];
                for (int j = 0; j < e; j++) {
                    int k = (j + 1) / 2;
                    sigmas[j] = sig[k];
                    modelTimesteps[j] = (float) tsd[k];
                    inputScales[j] = 1 / Math.sqrt(sig[k] * sig[k] + 1);
                }
                sigmas[e] = 0;
                euler = null;
                dpm = null;
                ddim = null;
                ts = null;
                initNoiseSigma = sp.equals("leading") ? Math.sqrt(sig[0] * sig[0] + 1) : sig[0];
            }
            case DDPM -> {
                ts = schedule.timesteps(steps, spacing("leading"), config.stepsOffset());
                boolean clip = config.clipSample() == null || config.clipSample(); // DDPMScheduler's clip_sample defaults to true
                if (clip) o = o.withClipSample(config.clipSampleRange());
                ddim = null;
                euler = null;
                dpm = null;
                sigmas = null;
                modelTimesteps = floats(ts);
                inputScales = ones(ts.length);
                initNoiseSigma = 1;
            }
            case UNIPC -> {
                finalZero("unipc");
                if (config.solverOrder() > 3) {
                    throw new IllegalArgumentException("unipc: solver_order " + config.solverOrder() + " is not supported (1, 2 or 3)");
                }
                uniBh1 = switch (config.solverType()) {
                    // diffusers' bh1 update multiplies B(h) = −h = −∞ by a zero residual on the final step to σ = 0: NaN latents
                    case "bh1" -> throw new IllegalArgumentException("unipc: solver_type \"bh1\" is not supported: diffusers' update is NaN on "
                            + "the final step to sigma 0 (B(h) = -inf times 0); use bh2");
                    case "bh2", "midpoint", "heun", "logrho" -> false; // diffusers maps DPM-Solver's solver types to bh2
                    default -> throw new IllegalArgumentException("unipc: solver_type \"" + config.solverType() + "\" is not one of bh1, bh2");
                };
                int[] its = dpmTimesteps(steps, spacingName("linspace"), schedule.size(), "unipc");
                double[] sig;
                if (config.useKarrasSigmas()) { // as DPM-Solver: Karras over all training sigmas, timesteps rounded
                    double[] all = schedule.sigmas();
                    sig = NoiseSchedule.karrasSigmas(steps, all[0], all[all.length - 1]);
                    double[] tt = sigmaToT(Arrays.copyOf(sig, steps));
                    its = new int[steps];
                    for (int i = 0; i < steps; i++) its[i] = (int) Math.rint(tt[i]);
                } else {
                    sig = schedule.sigmasAt(its);
                }
                sigmas = Steps.sigmaTable("unipc", sig);
                euler = null;
                dpm = null;
                ddim = null;
                ts = its;
                modelTimesteps = floats(its);
                inputScales = ones(its.length);
                initNoiseSigma = 1;
            }
            case FLOW_EULER -> {
                if (config.flow().dynamic() && !Double.isFinite(mu)) {
                    throw new IllegalArgumentException("flow-euler: the scheduler config sets use_dynamic_shifting, whose shift depends on the "
                            + "image size; make the sampler with DiffusersSampler.createFlow(config, steps, sigmas, FlowShift.mu(imageSeqLen), seed)");
                }
                double[] sig = flowSigmas(steps, flowInput, mu);
                euler = new EulerStep(sig);
                sigmas = sig;
                dpm = null;
                ddim = null;
                ts = null;
                modelTimesteps = new float[steps];
                for (int i = 0; i < steps; i++) modelTimesteps[i] = (float) sig[i] * (float) config.numTrainTimesteps();
                inputScales = ones(steps);
                initNoiseSigma = 1;
                o = o.withPrediction(Prediction.EPSILON); // x + (σ' − σ)·v is Euler's ε update with v in ε's place
            }
            default -> throw new IllegalStateException();
        }
        this.base = o;
    }

    /**
     * A run of {@code steps} steps of {@code kind} (null: the config's own {@code _class_name}) with
     * the config's schedule; {@code eta} is DDIM's η (ignored otherwise); {@code seed} keys the
     * step noise (DDIM with η &gt; 0).
     *
     * @throws IllegalArgumentException for a config field no sampler here implements, a class name
     *                                  not among {@link Kind}'s, or steps outside [1, T]
     */
    public static DiffusersSampler create(SchedulerConfig config, Kind kind, int steps, double eta, long seed) {
        if (config == null) throw new IllegalArgumentException("sampler: config is null");
        Kind k = kind;
        if (k == null) {
            if (config.className() == null) throw new IllegalArgumentException("sampler: the scheduler config names no _class_name; choose a scheduler");
            k = Kind.parse(config.className());
        }
        // A flow-matching model predicts a velocity, the others ε / v / x0 on a beta schedule: the two families do not mix.
        if (config.className() != null) {
            boolean flowConfig = config.isFlowMatching();
            if (flowConfig != (k == Kind.FLOW_EULER)) {
                throw new IllegalArgumentException("sampler: the scheduler config is a " + config.className() + " (" + (flowConfig
                        ? "a flow-matching model, which only flow-euler samples" : "a noise-prediction model, which flow-euler cannot sample")
                        + "); " + k + " does not fit it");
            }
        }
        return new DiffusersSampler(k, config, steps, eta, seed, null, Double.NaN);
    }

    /**
     * A flow-matching run as {@code FlowMatchEulerDiscreteScheduler.set_timesteps(num_inference_steps, sigmas=…, mu=…)}
     * makes it: {@code sigmas} null spaces {@code steps} timesteps between the training sigmas' ends (as
     * {@link #create}); otherwise they are the pipeline's own (FluxPipeline passes
     * {@code np.linspace(1, 1/N, N)}), read as float32 as diffusers does, and {@code steps} must equal their count.
     * {@code mu} is the dynamic shift ({@link FlowShift#mu} of the image's token count): required when the config sets
     * {@code use_dynamic_shifting}, ignored otherwise (NaN for none).
     *
     * @throws IllegalArgumentException for a config that is not a flow-matching one, a missing μ, or sigmas that are
     *                                  not finite values in (0, 1]
     */
    public static DiffusersSampler createFlow(SchedulerConfig config, int steps, double[] sigmas, double mu, long seed) {
        if (config == null) throw new IllegalArgumentException("sampler: config is null");
        if (config.className() != null && !config.isFlowMatching()) {
            throw new IllegalArgumentException("sampler: the scheduler config is a " + config.className() + ", not a flow-matching scheduler");
        }
        if (config.flow().dynamic() && !Double.isFinite(mu)) {
            throw new IllegalArgumentException("sampler: the scheduler config sets use_dynamic_shifting, which needs a finite mu (calculate_shift of the "
                    + "image's token count), got " + mu);
        }
        if (sigmas != null) {
            if (sigmas.length != steps) {
                throw new IllegalArgumentException("sampler: " + sigmas.length + " sigmas given for " + steps + " steps; they must match");
            }
            for (int i = 0; i < sigmas.length; i++) {
                if (!(sigmas[i] > 0) || !(sigmas[i] <= 1)) {
                    throw new IllegalArgumentException("sampler: sigmas[" + i + "] = " + sigmas[i] + "; expected a value in (0, 1]");
                }
            }
        }
        return new DiffusersSampler(Kind.FLOW_EULER, config, steps, 0, seed, sigmas == null ? null : sigmas.clone(), mu);
    }

    public Kind kind() {
        return kind;
    }

    /**
     * Starts the run at evaluation {@code index} instead of 0, as an image-to-image pipeline does
     * after {@code get_timesteps}: diffusers slices {@code scheduler.timesteps[t_start·order:]}
     * (order 1 for all four schedulers; for PNDM that slices its N+1-entry PLMS list, repeat
     * included, and its step counter still starts at 0) and calls {@code set_begin_index(t_start)}
     * (Euler and DPM-Solver then index their sigmas from there; DPM-Solver's first step is first
     * order again). Call before the first {@link #step}; the steps then run
     * {@code index … evaluations() − 1}. {@code begin(0)} changes nothing.
     *
     * @throws IllegalArgumentException for an index outside [0, evaluations())
     * @throws IllegalStateException    after a step
     */
    public void begin(int index) {
        if (closed) throw new IllegalStateException("sampler: closed");
        if (next != start) throw new IllegalStateException("sampler: begin(" + index + ") after evaluation " + (next - 1) + " was stepped");
        if (index < 0 || index >= modelTimesteps.length) {
            throw new IllegalArgumentException("sampler: begin index " + index + " is outside [0, " + modelTimesteps.length + ")");
        }
        if (kind == Kind.HEUN && index % 2 != 0) {
            throw new IllegalArgumentException("sampler: heun begins at an even evaluation (t_start · order 2), got " + index);
        }
        start = index;
        next = index;
        if (kind == Kind.DPMPP_2M) {
            // the multistep history restarts: a table from the begin index makes step 0 of it first order
            dpm = new DpmSolverStep(Arrays.copyOfRange(sigmas, index, sigmas.length), "sde-dpmsolver++".equals(config.algorithmType()));
        }
    }

    /**
     * The scheduler's {@code order}: model evaluations per step (2 for Heun, 1 otherwise). An image-to-image run that
     * starts at step {@code t_start} begins at evaluation {@code t_start · order()}, as diffusers' {@code get_timesteps} slices.
     */
    public int order() {
        return kind == Kind.HEUN ? 2 : 1;
    }

    /** The evaluation the run starts at ({@link #begin}; 0 by default). */
    public int start() {
        return start;
    }

    /**
     * The scheduler's {@code add_noise(x0, noise, t)} for the timestep of evaluation {@code i}, as
     * the image-to-image pipeline uses it at its first timestep: PNDM, DDIM and DDPM
     * {@code √ᾱ_t·x0 + √(1−ᾱ_t)·noise}; Euler, Euler-a and Heun {@code x0 + σ_i·noise} (Heun: σ of the repeated table);
     * DPM-Solver and UniPC
     * {@code α·x0 + σ·α·noise} with α = 1/√(σ_i²+1) (σ_i from the sigma table, Karras sigmas
     * included). A new tensor on x0's device; x0 and noise stay open.
     *
     * @throws IllegalArgumentException for an index out of range, or noise not of x0's shape, dtype and device
     */
    public Tensor addNoise(Tensor x0, Tensor noise, int i) {
        if (closed) throw new IllegalStateException("sampler: closed");
        checkIndex(i);
        if (x0 == null || noise == null || x0.isClosed() || noise.isClosed()) throw new IllegalArgumentException("sampler.addNoise: x0 or noise is null or closed");
        if (!Arrays.equals(x0.shape(), noise.shape()) || x0.dtype() != noise.dtype() || !x0.device().sameAs(noise.device())) {
            throw new IllegalArgumentException("sampler.addNoise: noise is " + noise.describe() + " but x0 is " + x0.describe() + " (same shape, dtype and device)");
        }
        double a, b;
        switch (kind) {
            case PNDM, DDIM -> {
                double ac = schedule.alphaCumprod(ts[i]);
                a = Math.sqrt(ac);
                b = Math.sqrt(1 - ac);
            }
            case EULER, EULER_ANCESTRAL, HEUN -> { // Heun: the repeated table, indexed by the evaluation
                a = 1;
                b = sigmas[i];
            }
            case DDPM -> {
                double ac = schedule.alphaCumprod(ts[i]);
                a = Math.sqrt(ac);
                b = Math.sqrt(1 - ac);
            }
            case FLOW_EULER -> { // scale_noise: σ·noise + (1 − σ)·x0
                a = 1 - sigmas[i];
                b = sigmas[i];
            }
            default -> { // DPM-Solver: _sigma_to_alpha_sigma_t
                double al = 1 / Math.sqrt(sigmas[i] * sigmas[i] + 1);
                a = al;
                b = sigmas[i] * al;
            }
        }
        try (Scope s = Scope.open()) {
            Tensor ax = a == 1 ? x0 : s.track(Elementwise.scale(x0, (float) a));
            return Elementwise.add(ax, s.track(Elementwise.scale(noise, (float) b)));
        }
    }

    /** Model evaluations in the run (N, N + 1 for PNDM, 2N − 1 for Heun). */
    public int evaluations() {
        return modelTimesteps.length;
    }

    /** The timestep the model sees at evaluation {@code i} (fractional for Euler under linspace spacing). */
    public float timestep(int i) {
        return modelTimesteps[checkIndex(i)];
    }

    /** What the model input is multiplied by at evaluation {@code i} (Euler's {@code 1/√(σ²+1)}; 1 otherwise). */
    public double inputScale(int i) {
        return inputScales[checkIndex(i)];
    }

    /** The initial noise's standard deviation (the scheduler's {@code init_noise_sigma}). */
    public double initNoiseSigma() {
        return initNoiseSigma;
    }

    /** The training noise schedule in use. */
    public NoiseSchedule schedule() {
        return schedule;
    }

    /**
     * Steps evaluation {@code i} (the next one in order): x's successor from x and the model output,
     * a new tensor on x's device (x is not closed). With {@code guidance} (scale &gt; 1) the model
     * output has twice x's batch, {@code [uncond; cond]}; null or scale ≤ 1: x's batch.
     */
    public Tensor step(Tensor x, Tensor modelOut, int i, double guidance) {
        if (closed) throw new IllegalStateException("sampler: closed");
        if (i != next) throw new IllegalArgumentException("sampler: evaluation " + i + " stepped out of order (expected " + next + ")");
        if (x == null || modelOut == null) throw new IllegalArgumentException("sampler: x or modelOut is null");
        if (!Double.isFinite(guidance)) throw new IllegalArgumentException("sampler: guidance must be finite, got " + guidance);
        boolean cfg = guidance > 1;
        StepOptions o = cfg ? base.withGuidance(Guidance.diffusers(guidance)) : base;
        Tensor out = switch (kind) {
            case DDIM -> {
                int t = ts[i], prev = t - ratio;
                yield ddimTo(x, modelOut, t, prev, o);
            }
            case EULER, FLOW_EULER -> euler.step(x, modelOut, i, o);
            case DPMPP_2M -> {
                if (prevX0 == null) prevX0 = x.device().allocate(x.dtype(), x.shape());
                Tensor y = dpm.step(x, modelOut, prevX0, i - start, o); // dpm's table starts at the begin index
                yield dpmNoise(y, i, dpm.noiseScale(i - start));
            }
            case PNDM -> pndm(x, modelOut, i, cfg ? guidance : 1, cfg);
            case EULER_ANCESTRAL -> eulerAncestral(x, modelOut, i, o);
            case DDPM -> ddpm(x, modelOut, i, o);
            case UNIPC -> unipc(x, modelOut, i, o);
            case HEUN -> heun(x, modelOut, i, o);
        };
        next++;
        return out;
    }

    /**
     * FlowMatchEulerDiscreteScheduler's {@code set_timesteps(N, sigmas, mu)}. Without the pipeline's sigmas: the
     * training sigmas of {@code __init__} (float32; shifted there unless the shift is dynamic, so σ_max = 1 and σ_min =
     * shift(1/T)), N timesteps spaced linearly between {@code T·σ_max} and {@code T·σ_min} (float64) and divided by T.
     * Then, in float64 (float32 for the pipeline's sigmas, which diffusers casts to float32 first), the fixed shift
     * (applied again — diffusers' own behaviour) or the dynamic one with μ, the stretch to {@code shift_terminal},
     * optionally Karras spacing between the ends, rounding to float32 (the scheduler's tensors), and a final 0.
     */
    private double[] flowSigmas(int steps, double[] given, double mu) {
        FlowShift f = config.flow();
        int t = config.numTrainTimesteps();
        double[] sig = new double[steps + 1];
        boolean f32 = given != null;
        if (given != null) {
            for (int i = 0; i < steps; i++) sig[i] = (float) given[i];
        } else {
            // __init__: float32 tensors, sigmas = linspace(1, T, T)[::-1] / T, shifted in float32 unless dynamic
            double sigmaMax = f.dynamic() ? 1f : shiftSigma32((float) f.shift(), (float) t / t);
            double sigmaMin = f.dynamic() ? 1f / t : shiftSigma32((float) f.shift(), 1f / t);
            double hi = sigmaMax * t, lo = sigmaMin * t;
            double step = steps == 1 ? 0 : (lo - hi) / (steps - 1); // np.linspace: i·step + start, the last one = stop
            for (int i = 0; i < steps; i++) {
                double ts = (steps > 1 && i == steps - 1) ? lo : i * step + hi;
                sig[i] = ts / t;
            }
        }
        f.apply(sig, steps, mu, f32);
        if (config.useKarrasSigmas()) {
            double[] k = NoiseSchedule.karrasSigmas(steps, sig[steps - 1], sig[0]);
            System.arraycopy(k, 0, sig, 0, steps);
        }
        for (int i = 0; i < steps; i++) sig[i] = (float) sig[i];
        sig[steps] = 0;
        return sig;
    }

    /** {@code shift·σ / (1 + (shift − 1)·σ)} in float32 operations, as torch computes it on the scheduler's tensors. */
    private static float shiftSigma32(float shift, float sigma) {
        float num = shift * sigma;
        float den = 1f + (shift - 1f) * sigma;
        return num / den;
    }

    /** A DDIM (η from construction) update from t to prev (diffusers: ᾱ_prev = final_alpha_cumprod when prev &lt; 0). */
    private Tensor ddimTo(Tensor x, Tensor modelOut, int t, int prev, StepOptions o) {
        int tPrev = prev;
        if (prev < 0) {
            boolean one = config.setAlphaToOne() == null ? kind == Kind.DDIM : config.setAlphaToOne();
            tPrev = one ? -1 : 0;
        }
        // ᾱ_prev = ᾱ_t (t = 0 stepping to a final ᾱ_0): the update gives x back
        return tPrev >= t ? copyOf(x) : ddim.step(x, modelOut, t, tPrev, o);
    }

    /** PNDM's step_plms with skip_prk_steps, the guidance applied first (the combination is of guided outputs). */
    private Tensor pndm(Tensor x, Tensor modelOut, int i, double guidance, boolean cfg) {
        Tensor e = cfg ? guide(modelOut, x, guidance) : copyOf(modelOut);
        int counter = i - start; // diffusers' self.counter counts this run's steps, whatever the timesteps slice
        int timestep = ts[i], prev = timestep - ratio;
        if (counter != 1) {
            while (ets.size() > 3) ets.removeLast().close();
            ets.addFirst(e);
        } else {
            prev = timestep;
            timestep = timestep + ratio;
        }
        Tensor[] h = ets.toArray(new Tensor[0]); // newest first
        try (Scope s = Scope.open()) {
            Tensor combined;
            Tensor sample = x;
            if (h.length == 1 && counter == 0) {
                combined = h[0];
                curSample = copyOf(x);
            } else if (h.length == 1 && counter == 1) {
                combined = s.track(Elementwise.scale(s.track(Elementwise.add(e, h[0])), 0.5f));
                sample = curSample;
            } else if (h.length == 2) {
                combined = s.track(lin(s, new double[] {1.5, -0.5}, h));
            } else if (h.length == 3) {
                combined = s.track(lin(s, new double[] {23 / 12.0, -16 / 12.0, 5 / 12.0}, h));
            } else {
                combined = s.track(lin(s, new double[] {55 / 24.0, -59 / 24.0, 37 / 24.0, -9 / 24.0}, h));
            }
            Tensor out = ddimTo(sample, combined, timestep, prev, base);
            if (counter == 1) {
                e.close(); // not kept in the history (diffusers appends it only when counter != 1)
                curSample.close();
                curSample = null;
            }
            return out;
        }
    }

    /**
     * EulerAncestralDiscreteScheduler's step: {@code σ_up = √(σ'²(σ² − σ'²)/σ²)}, {@code σ_down = √(σ'² − σ_up²)},
     * {@code x' = x + (x − x0)/σ·(σ_down − σ) + σ_up·z}, written as the fused DDIM-form step
     * {@code x0 + σ_down·d + σ_up·z} with {@code d = (x − x0)/σ} (ε for ε-prediction). z is
     * {@code Philox.normal(seed, i, element)}: the evaluation's index keys the stream.
     */
    private Tensor eulerAncestral(Tensor x, Tensor modelOut, int i, StepOptions o) {
        StepLayout l = Steps.layout("euler-a", x, modelOut, o);
        return Steps.run(eulerAncestralPlan(i, o), l, x, modelOut, null);
    }

    StepPlan eulerAncestralPlan(int i, StepOptions o) {
        double s = sigmas[i], sn = sigmas[i + 1];
        double up = Math.sqrt(sn * sn * (s * s - sn * sn) / (s * s));
        double down = Math.sqrt(sn * sn - up * up);
        double ax, am, ex, em;
        if (o.prediction() == Prediction.V) { // x0 = m·(−σ/√(σ²+1)) + x/(σ²+1); d = (x − x0)/σ
            ax = 1 / (s * s + 1);
            am = -s / Math.sqrt(s * s + 1);
            ex = (1 - ax) / s;
            em = -am / s;
        } else { // x0 = x − σ·m; d = m
            ax = 1;
            am = -s;
            ex = 0;
            em = 1;
        }
        return new StepPlan(StepPlan.Kind.DDIM, ax, am, ex, em, 0, 1, 1 / s, 1, down, up, 0, 0, false, up > 0, o.seed(), i);
    }

    /**
     * DDPMScheduler's step from t to the next timestep of the run t' (−1 after the last, ᾱ = 1 there), the betas the
     * strided ones ({@code β = 1 − ᾱ_t/ᾱ_t'}): {@code x' = [√ᾱ_t'·β/(1−ᾱ_t)]·x0 + [√(1−β)·(1−ᾱ_t')/(1−ᾱ_t)]·x + σ·z}
     * with σ² = {@code max(β·(1−ᾱ_t')/(1−ᾱ_t), 1e-20)} (fixed_small) and z = {@code Philox.normal(seed, t, element)}
     * when t &gt; 0; x0 clipped when {@code clip_sample}.
     */
    private Tensor ddpm(Tensor x, Tensor modelOut, int i, StepOptions o) {
        StepLayout l = Steps.layout("ddpm", x, modelOut, o);
        return Steps.run(ddpmPlan(i, o), l, x, modelOut, null);
    }

    StepPlan ddpmPlan(int i, StepOptions o) {
        int t = ts[i], prev = i + 1 < ts.length ? ts[i + 1] : -1;
        double abt = schedule.alphaCumprod(t), abp = prev >= 0 ? schedule.alphaCumprod(prev) : 1;
        double curAlpha = abt / abp, curBeta = 1 - curAlpha;
        double a = Math.sqrt(abt), b = Math.sqrt(1 - abt);
        if (!(1 - abt > 0)) throw new IllegalArgumentException("ddpm: alpha_cumprod at t = " + t + " is 1: the posterior is undefined there");
        DdimStep.checkConversion("ddpm", o, a, b, t);
        double c0 = Math.sqrt(abp) * curBeta / (1 - abt);
        double c1 = Math.sqrt(curAlpha) * (1 - abp) / (1 - abt);
        double sigma = Math.sqrt(Math.max((1 - abp) / (1 - abt) * curBeta, 1e-20));
        boolean noise = t > 0;
        double[] k = StepPlan.convert(o.prediction(), a, b);
        return new StepPlan(StepPlan.Kind.DDPM, k[0], k[1], k[2], k[3], o.clipSample(), a, 1 / b, c0, c1, noise ? sigma : 0, 0, 0, false,
                noise, o.seed(), t);
    }

    /**
     * HeunDiscreteScheduler's step at evaluation i of its 2N − 1. First order (no pending half): the Euler step
     * {@code x̂ = x + (x − x0)/σ·(σ' − σ)} (fused), x and dt = σ' − σ kept. Second order (the model saw x̂ at σ'):
     * {@code x' = x + dt·(d + d̂)/2} with {@code d̂ = (x̂ − x̂0)/σ'}; since {@code d·dt = x̂ − x} that is
     * {@code ½x + (½ + dt/2σ')·x̂ − (dt/2σ')·x̂0}, the fused DPM-form step with the kept x as its state.
     */
    private Tensor heun(Tensor x, Tensor modelOut, int i, StepOptions o) {
        StepLayout l = Steps.layout("heun", x, modelOut, o);
        if (heunSample == null) {
            double s = sigmas[i], sn = sigmas[i + 1];
            Tensor out = Steps.run(heunPlan(s, 0, (sn - s) / s, 0, o, StepPlan.Kind.EULER, i), l, x, modelOut, null);
            if (i + 1 < modelTimesteps.length) { // the last evaluation (to σ = 0) has no second half
                heunSample = copyOf(x);
                heunDt = sn - s;
            }
            return out;
        }
        double sn = sigmas[i], c = heunDt / (2 * sn);
        try {
            return Steps.run(heunPlan(sn, 0.5 + c, -c, 0.5, o, StepPlan.Kind.DPMPP_2M, i), l, x, modelOut, heunSample);
        } finally {
            heunSample.close(); // overwritten with x̂0 by the step: not needed again
            heunSample = null;
        }
    }

    /** The x0 conversion at σ (diffusers' Heun / Euler: ε, v or sample) and the step's scalars. */
    private static StepPlan heunPlan(double s, double p0, double p1, double p2, StepOptions o, StepPlan.Kind kind, int i) {
        double ax, am;
        switch (o.prediction()) {
            case EPSILON -> { ax = 1; am = -s; }
            case V -> { ax = 1 / (s * s + 1); am = -s / Math.sqrt(s * s + 1); }
            default -> { ax = 0; am = 1; }
        }
        return new StepPlan(kind, ax, am, 0, 0, 0, 1, 1 / s, p0, p1, p2, 0, 0, false, false, o.seed(), i);
    }

    /**
     * UniPCMultistepScheduler's step (predict_x0, bh1 / bh2, lower_order_final): x0 of this output (one fused pass),
     * the UniC corrector of the sample the last predictor started from (when there was one), then the UniP predictor
     * from the corrected sample. Both are linear in the samples and the kept x0s with host-computed float64
     * coefficients ({@link #uniCoefficients}).
     */
    private Tensor unipc(Tensor x, Tensor modelOut, int i, StepOptions o) {
        StepLayout l = Steps.layout("unipc", x, modelOut, o);
        double s = sigmas[i], al = 1 / Math.sqrt(s * s + 1);
        double[] k = StepPlan.convert(o.prediction(), al, s * al);
        Tensor x0 = Steps.run(new StepPlan(StepPlan.Kind.DDIM, k[0], k[1], k[2], k[3], 0, al, 1 / (s * al), 1, 0, 0, 0, 0, false, false,
                o.seed(), i), l, x, modelOut, null);
        Tensor sample = null;
        try {
            Tensor[] hist = uniX0.toArray(new Tensor[0]); // newest first: x0_{i−1}, x0_{i−2}, …
            if (uniLast != null) {
                // corrector: x_c = ratio·last − α·hφ1·m0 − α·B·(Σ ρ_k·D1_k + ρ_c·(x0_i − m0))
                double[] c = uniCoefficients(i - 1, i, uniOrder, true);
                Tensor[] terms = new Tensor[2 + uniOrder];
                double[] coef = new double[2 + uniOrder];
                terms[0] = uniLast;
                coef[0] = c[0];
                terms[1] = x0;
                coef[1] = c[c.length - 1];
                for (int j = 0; j < uniOrder; j++) {
                    terms[2 + j] = hist[j];
                    coef[2 + j] = c[1 + j];
                }
                sample = combo(coef, terms);
            } else {
                sample = copyOf(x);
            }
            uniX0.addFirst(x0);
            x0 = null;
            while (uniX0.size() > config.solverOrder()) uniX0.removeLast().close();
            int order = Math.min(config.solverOrder(), modelTimesteps.length - i); // lower_order_final
            order = Math.min(order, uniSteps + 1);                                // warm-up
            double[] c = uniCoefficients(i, i + 1, order, false);
            Tensor[] h = uniX0.toArray(new Tensor[0]);
            Tensor[] terms = new Tensor[1 + order];
            double[] coef = new double[1 + order];
            terms[0] = sample;
            coef[0] = c[0];
            for (int j = 0; j < order; j++) {
                terms[1 + j] = h[j];
                coef[1 + j] = c[1 + j];
            }
            Tensor out = combo(coef, terms);
            if (uniLast != null) uniLast.close();
            uniLast = sample;
            sample = null;
            uniOrder = order;
            uniSteps = Math.min(uniSteps + 1, config.solverOrder());
            return out;
        } finally {
            if (x0 != null) x0.close();
            if (sample != null) sample.close();
        }
    }

    /**
     * The UniP (predictor) or UniC (corrector) update from sigma index {@code s0} to {@code t} of the given order as
     * coefficients: {@code [c_sample, c_0, c_1, …, c_{order−1}(, c_this)]} on the sample (the corrector's last sample), the
     * kept x0s newest first (x0 at s0 = m0, then s0 − 1, …) and, for the corrector, this step's x0. diffusers'
     * {@code multistep_uni_p_bh_update} / {@code multistep_uni_c_bh_update} with predict_x0, in float64:
     * {@code r_k = (λ_{s0−k} − λ_{s0})/h}, {@code D1_k = (m_k − m0)/r_k}, hh = −h, {@code hφ1 = e^{hh} − 1},
     * B = hh (bh1) or hφ1 (bh2), {@code R[j][k] = r_k^j}, {@code b_j = hφ_{j+1}·(j+1)!/B};
     * ρ = ½ (predictor order 2, corrector order 1) or {@code solve(R, b)} (the predictor the leading block).
     */
    double[] uniCoefficients(int s0, int t, int order, boolean corrector) {
        double st = sigmas[t], ss = sigmas[s0];
        double at = 1 / Math.sqrt(st * st + 1), vt = st * at, as = 1 / Math.sqrt(ss * ss + 1), vs = ss * as;
        double lt = Math.log(at) - Math.log(vt), ls = Math.log(as) - Math.log(vs);
        double h = lt - ls;
        int nr = order - 1; // D1 terms from older outputs
        double[] rk = new double[order];
        for (int k = 1; k < order; k++) {
            double si = sigmas[s0 - k], ai = 1 / Math.sqrt(si * si + 1);
            rk[k - 1] = (Math.log(ai) - Math.log(si * ai) - ls) / h;
        }
        rk[order - 1] = 1;
        double hh = -h;
        double hphi1 = Math.expm1(hh);
        double bh = uniBh1 ? hh : hphi1;
        double[] rho;
        if (corrector) {
            if (order == 1) {
                rho = new double[] {0.5};
            } else {
                double[][] r = new double[order][order];
                double[] b = phiVector(hh, hphi1, bh, order);
                for (int j = 0; j < order; j++) for (int k = 0; k < order; k++) r[j][k] = Math.pow(rk[k], j);
                rho = solve(r, b);
            }
        } else if (order == 1) {
            rho = new double[0];
        } else if (order == 2) {
            rho = new double[] {0.5};
        } else {
            double[][] r = new double[nr][nr];
            double[] b = Arrays.copyOf(phiVector(hh, hphi1, bh, order), nr);
            for (int j = 0; j < nr; j++) for (int k = 0; k < nr; k++) r[j][k] = Math.pow(rk[k], j);
            rho = solve(r, b);
        }
        double[] c = new double[corrector ? order + 2 : order + 1];
        c[0] = vt / vs;
        double m0 = -at * hphi1;
        for (int k = 0; k < nr; k++) { // α·B·ρ_k·(m_k − m0)/r_k
            double w = at * bh * rho[k] / rk[k];
            c[2 + k] = -w;
            m0 += w;
        }
        if (corrector) { // α·B·ρ_c·(x0_this − m0)
            double w = at * bh * rho[order - 1];
            c[c.length - 1] = -w;
            m0 += w;
        }
        c[1] = m0;
        return c;
    }

    /** {@code b_j = hφ_{j+1}(hh)·(j+1)!/B} for j &lt; order, from diffusers' recurrence {@code hφ_{k+1} = hφ_k/hh − 1/(k+1)!}. */
    private static double[] phiVector(double hh, double hphi1, double bh, int order) {
        double[] b = new double[order];
        double hphik = hphi1 / hh - 1;
        double fact = 1;
        for (int j = 1; j <= order; j++) {
            b[j - 1] = hphik * fact / bh;
            fact *= j + 1;
            hphik = hphik / hh - 1 / fact;
        }
        return b;
    }

    /** Solves the small system {@code r·x = b} by Gaussian elimination with partial pivoting (torch.linalg.solve). */
    static double[] solve(double[][] r, double[] b) {
        int n = b.length;
        double[][] a = new double[n][];
        for (int i = 0; i < n; i++) {
            a[i] = Arrays.copyOf(r[i], n + 1);
            a[i][n] = b[i];
        }
        for (int c = 0; c < n; c++) {
            int p = c;
            for (int i = c + 1; i < n; i++) if (Math.abs(a[i][c]) > Math.abs(a[p][c])) p = i;
            double[] tmp = a[c];
            a[c] = a[p];
            a[p] = tmp;
            for (int i = c + 1; i < n; i++) {
                double f = a[i][c] / a[c][c];
                for (int j = c; j <= n; j++) a[i][j] -= f * a[c][j];
            }
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double v = a[i][n];
            for (int j = i + 1; j < n; j++) v -= a[i][j] * x[j];
            x[i] = v / a[i][i];
        }
        return x;
    }

    /** Σ c_k · h_k over the non-zero coefficients, a new tensor (a copy of 0·h_0 when all are 0). */
    private static Tensor combo(double[] c, Tensor[] h) {
        int n = 0;
        for (double v : c) if (v != 0) n++;
        double[] cc = new double[Math.max(n, 1)];
        Tensor[] hh = new Tensor[cc.length];
        int j = 0;
        for (int k = 0; k < c.length; k++) {
            if (c[k] != 0) {
                cc[j] = c[k];
                hh[j++] = h[k];
            }
        }
        if (n == 0) hh[0] = h[0];
        if (cc.length == 1) return Elementwise.scale(hh[0], (float) cc[0]);
        try (Scope s = Scope.open()) {
            return lin(s, cc, hh);
        }
    }

    /**
     * sde-dpmsolver++: {@code y + scale·z} with z = {@code Philox.normal(seed, i, element)} (the evaluation's index keys the
     * stream), taking y over; y itself when scale is 0 (the ODE solver, the final step).
     */
    private Tensor dpmNoise(Tensor y, int i, double scale) {
        if (scale == 0) return y;
        try (Tensor z = Noise.gaussian(y.device(), y.dtype(), base.seed(), i, y.shape()); Tensor zs = Elementwise.scale(z, (float) scale)) {
            return Elementwise.add(y, zs);
        } finally {
            y.close();
        }
    }

    /** Σ c_k · h_k (at least two terms), a new tensor; the scope holds the partial sums. */
    private static Tensor lin(Scope s, double[] c, Tensor[] h) {
        Tensor acc = s.track(Elementwise.scale(h[0], (float) c[0]));
        for (int k = 1; k < c.length - 1; k++) acc = s.track(Elementwise.add(acc, s.track(Elementwise.scale(h[k], (float) c[k]))));
        return Elementwise.add(acc, s.track(Elementwise.scale(h[c.length - 1], (float) c[c.length - 1])));
    }

    /** diffusers' guidance {@code u + g·(c − u)} on the halves of {@code modelOut [2B, …]} ({@code [uncond; cond]}). */
    private static Tensor guide(Tensor modelOut, Tensor x, double g) {
        long half = modelOut.numel() / 2;
        if (modelOut.dim(0) != 2 * x.dim(0)) {
            throw new IllegalArgumentException("sampler: with guidance the model output's batch must be twice x's (" + 2 * x.dim(0)
                    + "), got " + modelOut.dim(0));
        }
        try (Scope s = Scope.open()) {
            Tensor u = s.track(modelOut.view(0, x.shape()));
            Tensor c = s.track(modelOut.view(half, x.shape()));
            Tensor d = s.track(Elementwise.add(c, s.track(Elementwise.scale(u, -1f))));
            return Elementwise.add(u, s.track(Elementwise.scale(d, (float) g)));
        }
    }

    private static Tensor copyOf(Tensor t) {
        return t.to(t.device()); // a copy on the same device
    }

    private NoiseSchedule.Spacing spacing(String dflt) {
        return switch (spacingName(dflt)) {
            case "linspace" -> NoiseSchedule.Spacing.LINSPACE;
            case "trailing" -> NoiseSchedule.Spacing.TRAILING;
            default -> NoiseSchedule.Spacing.LEADING;
        };
    }

    private String spacingName(String dflt) {
        return config.timestepSpacing() == null ? dflt : config.timestepSpacing();
    }

    /** Euler's timesteps: fractional under linspace (numpy float32 linspace), integral otherwise. */
    private double[] eulerTimesteps(int n, String sp) {
        int t = schedule.size();
        double[] r = new double[n];
        switch (sp) {
            case "linspace" -> {
                for (int i = 0; i < n; i++) {
                    int k = n - 1 - i;
                    double v = n == 1 ? 0 : (k == n - 1 ? t - 1 : (float) (k * ((t - 1) / (double) (n - 1))));
                    r[i] = (float) v;
                }
            }
            case "leading" -> {
                int step = t / n;
                for (int i = 0; i < n; i++) r[i] = (n - 1 - i) * step + config.stepsOffset();
            }
            default -> { // trailing
                double step = (double) t / n;
                for (int i = 0; i < n; i++) r[i] = Math.rint(t - i * step) - 1;
            }
        }
        for (double v : r) {
            if (!(v >= 0 && v <= t - 1)) throw new IllegalArgumentException("euler: steps_offset " + config.stepsOffset() + " puts timestep " + v + " outside [0, " + (t - 1) + "]");
        }
        return r;
    }

    /** DPM-Solver's timesteps, with {@code lambda_min_clipped} shortening the range as diffusers does. */
    private int[] dpmTimesteps(int n, String sp) {
        return dpmTimesteps(n, sp, schedule.size() - clippedIndex(), "dpmpp2m");
    }

    /** DPM-Solver's (and UniPC's) timesteps over {@code [0, last)}: N of N + 1 spaced points, the smallest dropped. */
    private int[] dpmTimesteps(int n, String sp, int last, String op) {
        int t = schedule.size();
        int[] r = new int[n];
        switch (sp) {
            case "linspace" -> {
                double step = (last - 1) / (double) n;
                for (int i = 0; i < n; i++) {
                    int k = n - i;
                    r[i] = (int) Math.rint(k == n ? last - 1 : k * step);
                }
            }
            case "leading" -> {
                int step = last / (n + 1);
                for (int i = 0; i < n; i++) r[i] = (n - i) * step + config.stepsOffset();
            }
            default -> { // trailing: arange(last, 0, −T/N).round() − 1
                double step = (double) t / n;
                for (int i = 0; i < n; i++) r[i] = (int) Math.rint(last - i * step) - 1;
            }
        }
        for (int v : r) {
            if (v < 0 || v >= t) throw new IllegalArgumentException(op + ": steps_offset " + config.stepsOffset() + " puts timestep " + v + " outside [0, " + t + ")");
        }
        return r;
    }

    /** {@code searchsorted(flip(λ_t), lambda_min_clipped)}: how many of the noisiest timesteps λ clipping drops. */
    private int clippedIndex() {
        double lmin = config.lambdaMinClipped();
        if (lmin == Double.NEGATIVE_INFINITY) return 0;
        int t = schedule.size(), count = 0;
        for (int k = t - 1; k >= 0; k--) { // flip: ascending λ
            double ac = schedule.alphaCumprod(k);
            double lambda = 0.5 * Math.log(ac) - 0.5 * Math.log(1 - ac);
            if (lambda < lmin) count++;
            else break;
        }
        return count;
    }

    /** diffusers' {@code _sigma_to_t}: the timestep of each sigma by linear interpolation in log σ. */
    double[] sigmaToT(double[] sigmas) {
        double[] all = schedule.sigmas();
        double[] logs = new double[all.length];
        for (int k = 0; k < all.length; k++) logs[k] = Math.log(all[k]);
        double[] r = new double[sigmas.length];
        for (int i = 0; i < sigmas.length; i++) {
            double ls = Math.log(Math.max(sigmas[i], 1e-10));
            // cumsum(dists >= 0).argmax(): the first index where the running count reaches its maximum
            int count = 0, best = 0, bestVal = Integer.MIN_VALUE;
            for (int k = 0; k < logs.length; k++) {
                if (ls - logs[k] >= 0) count++;
                if (count > bestVal) {
                    bestVal = count;
                    best = k;
                }
            }
            int lo = Math.min(best, logs.length - 2);
            double low = logs[lo], high = logs[lo + 1];
            double w = Math.max(0, Math.min(1, (low - ls) / (low - high)));
            r[i] = (1 - w) * lo + w * (lo + 1);
        }
        return r;
    }

    /**
     * The config's training schedule; after a zero-terminal-SNR rescale, Euler, Euler-ancestral, DPM-Solver and UniPC set
     * the last ᾱ to 2^-24 as diffusers' {@code __init__} does (σ_max = √((1 − 2^-24)/2^-24) ≈ 4096, finite).
     */
    private static NoiseSchedule floorZeroSnr(Kind kind, SchedulerConfig config) {
        NoiseSchedule s = config.noiseSchedule();
        boolean floored = kind == Kind.EULER || kind == Kind.EULER_ANCESTRAL || kind == Kind.DPMPP_2M || kind == Kind.UNIPC;
        return floored && config.rescaleBetasZeroSnr() ? s.withFinalAlphaCumprod(0x1p-24) : s;
    }

    private void noZeroSnr(String op) {
        if (config.rescaleBetasZeroSnr()) throw new IllegalArgumentException(op + ": rescale_betas_zero_snr is not supported with this scheduler (use ddim)");
    }

    private void finalZero(String op) {
        if (!"zero".equals(config.finalSigmasType())) {
            throw new IllegalArgumentException(op + ": final_sigmas_type \"" + config.finalSigmasType() + "\" is not supported (zero)");
        }
    }

    private int checkIndex(int i) {
        if (i >= 0 && i < modelTimesteps.length) return i;
        throw new IllegalArgumentException("sampler: evaluation " + i + " is outside [0, " + modelTimesteps.length + ")");
    }

    private static int[] reverse(int[] a) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) r[i] = a[a.length - 1 - i];
        return r;
    }

    private static float[] floats(int[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = a[i];
        return r;
    }

    private static double[] ones(int n) {
        double[] r = new double[n];
        Arrays.fill(r, 1);
        return r;
    }

    /** Frees the run's state (PNDM's history, DPM-Solver's previous x0, UniPC's x0s and last sample, Heun's kept sample). Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        while (!ets.isEmpty()) ets.removeFirst().close();
        if (curSample != null) curSample.close();
        if (prevX0 != null) prevX0.close();
        curSample = null;
        prevX0 = null;
        while (!uniX0.isEmpty()) uniX0.removeFirst().close();
        if (uniLast != null) uniLast.close();
        if (heunSample != null) heunSample.close();
        uniLast = null;
        heunSample = null;
    }
}
