package dev.surpass.diffusion;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A diffusers {@code scheduler_config.json} (the {@code scheduler/} folder of a pipeline), the fields
 * that shape sampling read as diffusers reads them. A field the file leaves out is null here where
 * its default depends on the scheduler class that ends up using the config (diffusers lets any
 * scheduler be made {@code from_config} of another's: {@code timestep_spacing} defaults to
 * "leading" for PNDM and DDIM but "linspace" for Euler and DPM-Solver; {@code set_alpha_to_one} to
 * false for PNDM but true for DDIM; {@code clip_sample} to true for DDIM): {@link DiffusersSampler}
 * fills those in for the class it runs.
 *
 * @param className          {@code _class_name} ("PNDMScheduler", …), or null when absent
 * @param numTrainTimesteps  T (1000)
 * @param betaStart          first beta (1e-4)
 * @param betaEnd            last beta (0.02)
 * @param betaSchedule       "linear", "scaled_linear" or "squaredcos_cap_v2"
 * @param trainedBetas       explicit betas, or null
 * @param predictionType     "epsilon", "v_prediction" or "sample"
 * @param timestepSpacing    "leading", "linspace", "trailing", or null (the class's default)
 * @param stepsOffset        added to leading timesteps (SD 1.x: 1)
 * @param setAlphaToOne      ᾱ after the last step is 1 (true) or ᾱ_0 (false), or null (the class's default)
 * @param clipSample         clip the predicted x0 (DDIM), or null (the class's default)
 * @param clipSampleRange    the clip bound (1)
 * @param skipPrkSteps       PNDM's PLMS-only mode (what Stable Diffusion configs set), or null (false)
 * @param rescaleBetasZeroSnr rescale to zero terminal SNR (Lin et al.)
 * @param useKarrasSigmas    Karras sigmas (Euler, DPM-Solver)
 * @param solverOrder        DPM-Solver order (2)
 * @param algorithmType      DPM-Solver algorithm ("dpmsolver++")
 * @param solverType         DPM-Solver second-order form ("midpoint")
 * @param finalSigmasType    "zero" or "sigma_min"
 * @param lambdaMinClipped   DPM-Solver's clip of λ(t) (−∞: none)
 * @param unsupported        the first field set to something no sampler here implements (thresholding,
 *                           exponential/beta/Lu/flow sigmas, log-linear interpolation, continuous
 *                           timesteps, inverted or stochastic flow
 *                           sampling…) as "field = value", or null; a sampler refuses to run with it
 * @param flow               {@code FlowMatchEulerDiscreteScheduler}'s sigma shift: fixed (s·σ / (1 + (s − 1)·σ); Stable
 *                           Diffusion 3 / 3.5: s = 3, 1 when absent) or dynamic by the image size (FLUX.1-dev), and
 *                           {@code shift_terminal}
 */
public record SchedulerConfig(String className, int numTrainTimesteps, double betaStart, double betaEnd, String betaSchedule,
                              double[] trainedBetas, String predictionType, String timestepSpacing, int stepsOffset,
                              Boolean setAlphaToOne, Boolean clipSample, double clipSampleRange, Boolean skipPrkSteps,
                              boolean rescaleBetasZeroSnr, boolean useKarrasSigmas, int solverOrder, String algorithmType,
                              String solverType, String finalSigmasType, double lambdaMinClipped, String unsupported, FlowShift flow) {

    public SchedulerConfig {
        if (flow == null) throw new IllegalArgumentException("SchedulerConfig: flow is null (FlowShift.of(1) for none)");
    }

    /** A config with a fixed flow-matching shift {@code shift} and diffusers' defaults for the other flow fields. */
    public SchedulerConfig(String className, int numTrainTimesteps, double betaStart, double betaEnd, String betaSchedule,
                           double[] trainedBetas, String predictionType, String timestepSpacing, int stepsOffset,
                           Boolean setAlphaToOne, Boolean clipSample, double clipSampleRange, Boolean skipPrkSteps,
                           boolean rescaleBetasZeroSnr, boolean useKarrasSigmas, int solverOrder, String algorithmType,
                           String solverType, String finalSigmasType, double lambdaMinClipped, String unsupported, double shift) {
        this(className, numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, predictionType, timestepSpacing, stepsOffset,
                setAlphaToOne, clipSample, clipSampleRange, skipPrkSteps, rescaleBetasZeroSnr, useKarrasSigmas, solverOrder, algorithmType,
                solverType, finalSigmasType, lambdaMinClipped, unsupported, FlowShift.of(shift));
    }

    /** The fixed flow-matching shift s ({@link FlowShift#shift()}). */
    public double shift() {
        return flow.shift();
    }

    /** A config without a flow-matching shift (shift 1). */
    public SchedulerConfig(String className, int numTrainTimesteps, double betaStart, double betaEnd, String betaSchedule,
                           double[] trainedBetas, String predictionType, String timestepSpacing, int stepsOffset,
                           Boolean setAlphaToOne, Boolean clipSample, double clipSampleRange, Boolean skipPrkSteps,
                           boolean rescaleBetasZeroSnr, boolean useKarrasSigmas, int solverOrder, String algorithmType,
                           String solverType, String finalSigmasType, double lambdaMinClipped, String unsupported) {
        this(className, numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, predictionType, timestepSpacing, stepsOffset,
                setAlphaToOne, clipSample, clipSampleRange, skipPrkSteps, rescaleBetasZeroSnr, useKarrasSigmas, solverOrder, algorithmType,
                solverType, finalSigmasType, lambdaMinClipped, unsupported, 1.0);
    }

    /** diffusers' defaults for every field (a config file with nothing in it). */
    public static SchedulerConfig defaults() {
        return new SchedulerConfig(null, 1000, 1e-4, 0.02, "linear", null, "epsilon", null, 0, null, null, 1.0, null,
                false, false, 2, "dpmsolver++", "midpoint", "zero", Double.NEGATIVE_INFINITY, null);
    }

    /**
     * Reads {@code scheduler_config.json}: {@code path} is the file, a folder holding it, or a pipeline
     * folder holding {@code scheduler/scheduler_config.json}.
     *
     * @throws IllegalArgumentException naming the file and field for a missing file, bad JSON or a
     *                                  field of the wrong type or out of range
     */
    public static SchedulerConfig load(Path path) {
        if (path == null) throw new IllegalArgumentException("SchedulerConfig.load: path is null");
        Path f = path;
        if (Files.isDirectory(f)) {
            Path own = f.resolve("scheduler_config.json");
            f = Files.isRegularFile(own) ? own : f.resolve("scheduler").resolve("scheduler_config.json");
        }
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(path + ": no scheduler_config.json (a diffusers scheduler)");
        ConfigJson c = ConfigJson.load(f, "diffusers scheduler");
        String w = c.where();
        int t = c.optPositive("num_train_timesteps", 1000);
        double b0 = number(c, "beta_start", 1e-4), b1 = number(c, "beta_end", 0.02);
        String schedule = c.text("beta_schedule", "linear");
        double[] trained = null;
        if (c.has("trained_betas")) {
            JsonNode n = c.node().get("trained_betas");
            if (!n.isArray() || n.isEmpty()) throw new IllegalArgumentException(w + ": field \"trained_betas\" is " + n + "; expected a list of betas");
            trained = new double[n.size()];
            for (int i = 0; i < trained.length; i++) {
                if (!n.get(i).isNumber()) throw new IllegalArgumentException(w + ": trained_betas[" + i + "] is " + n.get(i) + "; expected a number");
                trained[i] = n.get(i).asDouble();
            }
        }
        if (trained == null && !schedule.equals("linear") && !schedule.equals("scaled_linear") && !schedule.equals("squaredcos_cap_v2")) {
            throw new IllegalArgumentException(w + ": beta_schedule \"" + schedule + "\" is not supported (linear, scaled_linear, squaredcos_cap_v2)");
        }
        String pred = c.text("prediction_type", "epsilon");
        if (!pred.equals("epsilon") && !pred.equals("v_prediction") && !pred.equals("sample")) {
            throw new IllegalArgumentException(w + ": prediction_type \"" + pred + "\" is not one of epsilon, v_prediction, sample");
        }
        String spacing = c.has("timestep_spacing") ? c.text("timestep_spacing", null) : null;
        if (spacing != null && !spacing.equals("leading") && !spacing.equals("linspace") && !spacing.equals("trailing")) {
            throw new IllegalArgumentException(w + ": timestep_spacing \"" + spacing + "\" is not one of leading, linspace, trailing");
        }
        int offset = c.optPositiveOrZero("steps_offset", 0);
        Boolean alphaOne = c.has("set_alpha_to_one") ? c.bool("set_alpha_to_one", true) : null;
        Boolean clip = c.has("clip_sample") ? c.bool("clip_sample", true) : null;
        double clipRange = c.optPositiveNumber("clip_sample_range", 1.0);
        Boolean skipPrk = c.has("skip_prk_steps") ? c.bool("skip_prk_steps", false) : null;
        boolean zeroSnr = c.bool("rescale_betas_zero_snr", false);
        boolean karras = c.bool("use_karras_sigmas", false);
        int order = c.optPositive("solver_order", 2);
        String algorithm = c.text("algorithm_type", "dpmsolver++");
        String solver = c.text("solver_type", "midpoint");
        String finalSigmas = c.text("final_sigmas_type", "zero");
        double lambdaMin = Double.NEGATIVE_INFINITY;
        if (c.has("lambda_min_clipped")) {
            JsonNode n = c.node().get("lambda_min_clipped");
            if (!n.isNumber()) throw new IllegalArgumentException(w + ": field \"lambda_min_clipped\" is " + n + "; expected a number");
            lambdaMin = n.asDouble();
        }
        String unsupported = null;
        for (String flag : new String[] {"thresholding", "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas",
                "invert_sigmas", "stochastic_sampling"}) {
            if (unsupported == null && c.bool(flag, false)) unsupported = flag + " = true";
        }
        unsupported = unsupported != null ? unsupported : refusedSolverField(c);
        FlowShift flow = FlowShift.read(c);
        String interp = c.text("interpolation_type", "linear");
        if (unsupported == null && !interp.equals("linear")) unsupported = "interpolation_type = " + interp;
        String tsType = c.text("timestep_type", "discrete");
        if (unsupported == null && !tsType.equals("discrete")) unsupported = "timestep_type = " + tsType;
        if (unsupported == null && c.has("variance_type") && !c.text("variance_type", "").equals("fixed_small")) {
            // DDPM-only values (DiT's learned_range) and DPM-Solver's "learned_range" change the model's output channels
            unsupported = "variance_type = " + c.text("variance_type", "");
        }
        return new SchedulerConfig(c.text("_class_name", null), t, b0, b1, schedule, trained, pred, spacing, offset, alphaOne, clip,
                clipRange, skipPrk, zeroSnr, karras, order, algorithm, solver, finalSigmas, lambdaMin, unsupported, flow);
    }

    /**
     * The multistep solvers' fields (UniPC, DPM-Solver) whose non-default values no sampler here implements, as
     * "field = value", or null: {@code predict_x0 = false}, a non-empty {@code disable_corrector}, a {@code solver_p},
     * UniPC's {@code lower_order_final = false}, and a {@code sigma_min} / {@code sigma_max} bounding Karras sigmas.
     */
    private static String refusedSolverField(ConfigJson c) {
        if (!c.bool("predict_x0", true)) return "predict_x0 = false";
        // UniPC's last steps keep their order without it; DPM-Solver's final step to σ = 0 is first order either way
        if ("UniPCMultistepScheduler".equals(c.text("_class_name", null)) && !c.bool("lower_order_final", true)) return "lower_order_final = false";
        JsonNode dc = c.node().get("disable_corrector");
        if (dc != null && !dc.isNull() && !(dc.isArray() && dc.isEmpty())) return "disable_corrector = " + dc;
        JsonNode sp = c.node().get("solver_p");
        if (sp != null && !sp.isNull()) return "solver_p = " + sp;
        if (c.bool("use_karras_sigmas", false)) { // Euler's and UniPC's Karras ends: the training sigmas' unless set
            for (String f : new String[] {"sigma_min", "sigma_max"}) {
                JsonNode n = c.node().get(f);
                if (n != null && !n.isNull()) return f + " = " + n;
            }
        }
        return null;
    }

    private static double number(ConfigJson c, String key, double dflt) {
        if (!c.has(key)) return dflt;
        JsonNode n = c.node().get(key);
        if (!n.isNumber() || !(n.asDouble() >= 0) || !(n.asDouble() < 1)) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + n + "; expected a number in [0, 1)");
        }
        return n.asDouble();
    }

    /** The training noise schedule this config describes (the zero-terminal-SNR rescale applied when set). */
    public NoiseSchedule noiseSchedule() {
        NoiseSchedule s;
        if (trainedBetas != null) {
            s = NoiseSchedule.fromBetas(trainedBetas);
        } else {
            s = switch (betaSchedule) {
                case "scaled_linear" -> NoiseSchedule.scaledLinear(numTrainTimesteps, betaStart, betaEnd);
                case "squaredcos_cap_v2" -> NoiseSchedule.cosine(numTrainTimesteps);
                default -> NoiseSchedule.linear(numTrainTimesteps, betaStart, betaEnd);
            };
        }
        return rescaleBetasZeroSnr ? s.rescaleZeroTerminalSnr() : s;
    }

    /**
     * Whether {@code _class_name} names a flow-matching scheduler (FlowMatch…, for velocity models such as SD3); false for
     * the noise-prediction classes and for a config without a class. The two families cannot drive each other's models.
     */
    public boolean isFlowMatching() {
        return className != null && className.startsWith("FlowMatch");
    }

    /** {@link #predictionType} as a {@link Prediction}. */
    public Prediction prediction() {
        return switch (predictionType) {
            case "v_prediction" -> Prediction.V;
            case "sample" -> Prediction.SAMPLE;
            default -> Prediction.EPSILON;
        };
    }

    /** A copy with {@code prediction_type} replaced (e.g. an SD 2.x v-model whose config predates the field). */
    public SchedulerConfig withPredictionType(String p) {
        if (!"epsilon".equals(p) && !"v_prediction".equals(p) && !"sample".equals(p)) {
            throw new IllegalArgumentException("prediction_type \"" + p + "\" is not one of epsilon, v_prediction, sample");
        }
        return new SchedulerConfig(className, numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, p, timestepSpacing,
                stepsOffset, setAlphaToOne, clipSample, clipSampleRange, skipPrkSteps, rescaleBetasZeroSnr, useKarrasSigmas, solverOrder,
                algorithmType, solverType, finalSigmasType, lambdaMinClipped, unsupported, flow);
    }
}
