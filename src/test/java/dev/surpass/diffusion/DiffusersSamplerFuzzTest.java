package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes {@link SchedulerConfig#load} and {@link DiffusersSampler} with mutated diffusers
 * {@code scheduler_config.json} files (fields of the wrong type, out of range, unknown class names and
 * values, NaN and infinities), every scheduler kind and step counts at and past the schedule's ends,
 * then a whole run with a toy model: each either runs to finite latents or is refused with an
 * {@link IllegalArgumentException}; nothing else escapes.
 */
class DiffusersSamplerFuzzTest {
    static Device cpu;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        Fuzz.finish("diffusers.");
        cpu.close();
    }

    static Object value(Gen g) {
        return switch (g.between(0, 9)) {
            case 0 -> g.pickInt(0, -1, 1, 7, 1000, Integer.MAX_VALUE);
            case 1 -> g.pickDouble(Double.NaN, -0.5, 0.0, 1e-4, 0.012, 0.999, 1.0, 2.0, Double.POSITIVE_INFINITY);
            case 2 -> g.pick("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid", "epsilon", "v_prediction", "sample",
                    "leading", "trailing", "linspace", "", "zero", "sigma_min", "dpmsolver++", "sde-dpmsolver++", "heun");
            case 3 -> g.bool();
            case 4 -> null;
            default -> g.pickInt(2, 3, 1);
        };
    }

    static final String[] FIELDS = {"_class_name", "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
        "prediction_type", "timestep_spacing", "steps_offset", "set_alpha_to_one", "clip_sample", "clip_sample_range", "skip_prk_steps",
        "rescale_betas_zero_snr", "use_karras_sigmas", "solver_order", "algorithm_type", "solver_type", "final_sigmas_type",
        "lambda_min_clipped", "thresholding", "interpolation_type", "timestep_type"};

    @Test
    void mutatedConfigsAndRuns(@TempDir Path dir) {
        Fuzz.forAll("diffusers.configs", 300, g -> {
            ObjectNode c = JSON.createObjectNode();
            c.put("_class_name", g.pick("PNDMScheduler", "DDIMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler"));
            c.put("beta_schedule", "scaled_linear");
            c.put("beta_start", 0.00085);
            c.put("beta_end", 0.012);
            c.put("num_train_timesteps", g.pickInt(1000, 50, 3));
            c.put("skip_prk_steps", true);
            c.put("steps_offset", 1);
            int edits = g.between(0, 2);
            for (int k = 0; k < edits; k++) {
                String f = g.pick(FIELDS);
                Object v = f.equals("trained_betas") && g.bool() ? new double[] {0.1, 0.2, g.between(-0.5, 1.5)} : value(g);
                c.set(f, JSON.valueToTree(v));
            }
            Path file = dir.resolve("scheduler_config.json");
            try {
                Files.writeString(file, c.toString());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            Fuzz.count("diffusers.configs");
            SchedulerConfig cfg = Fuzz.call("diffusers.load", c.toString(), () -> SchedulerConfig.load(file));
            if (cfg == null) return;
            DiffusersSampler.Kind kind = g.chance(0.3) ? null : g.pick(DiffusersSampler.Kind.class);
            int steps = g.chance(0.8) ? g.pickInt(1, 2, 3, 5) : g.pickInt(0, -3, 1001, 20);
            double eta = g.chance(0.9) ? g.pickDouble(0, 0.5) : g.pickDouble(-1, Double.NaN);
            DiffusersSampler s = Fuzz.call("diffusers.create", c + " kind " + kind + " steps " + steps + " eta " + eta,
                    () -> DiffusersSampler.create(cfg, kind, steps, eta, 3));
            if (s == null) return;
            try (s) {
                double guidance = g.pickDouble(1, 3);
                float[] out = Fuzz.call("diffusers.run", c + " kind " + s.kind() + " steps " + steps, () -> run(s, guidance));
                if (out != null) for (float v : out) assertTrue(Float.isFinite(v), c + ": a non-finite latent " + v);
            }
        });
    }

    /** A whole run with ε = 0.2·x (guided between 0.1·x and 0.2·x). */
    static float[] run(DiffusersSampler s, double g) {
        long[] shape = {1, 2, 3, 3};
        try (Tensor z = Noise.gaussian(cpu, DType.F32, 1, 9, shape)) {
            Tensor x = dev.surpass.layers.Elementwise.scale(z, (float) s.initNoiseSigma());
            try {
                for (int i = 0; i < s.evaluations(); i++) {
                    float sc = (float) s.inputScale(i);
                    float[] in = x.toFloatArray();
                    boolean cfg = g > 1;
                    float[] mo = new float[in.length * (cfg ? 2 : 1)];
                    for (int k = 0; k < in.length; k++) {
                        mo[k] = (cfg ? 0.1f : 0.2f) * sc * in[k];
                        if (cfg) mo[in.length + k] = 0.2f * sc * in[k];
                    }
                    long[] ms = shape.clone();
                    if (cfg) ms[0] = 2;
                    Tensor next;
                    try (Tensor m = cpu.upload(DType.F32, mo, ms)) {
                        next = s.step(x, m, i, g);
                    }
                    x.close();
                    x = next;
                }
                return x.toFloatArray();
            } finally {
                x.close();
            }
        }
    }
}
