package dev.surpass.diffusion;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.model.decoder.ConfigJson;
import java.util.Locale;

/**
 * How {@code FlowMatchEulerDiscreteScheduler} shifts its sigmas toward the noisy end: a fixed shift
 * {@code s·σ / (1 + (s − 1)·σ)} (Stable Diffusion 3: s = 3; FLUX.1-schnell: 1), or, with
 * {@code use_dynamic_shifting}, a shift by the image's token count (FLUX.1-dev, SD3.5 with dynamic
 * shifting): the pipeline computes {@code μ = calculate_shift(image_seq_len)}, a line through
 * ({@code base_image_seq_len}, {@code base_shift}) and ({@code max_image_seq_len}, {@code max_shift}),
 * and the scheduler maps σ ↦ e^μ / (e^μ + (1/σ − 1)) ("exponential") or μ / (μ + (1/σ − 1))
 * ("linear"). {@code shift_terminal} then stretches the schedule so its last sigma is that value.
 *
 * @param shift           the fixed shift s (1 when absent)
 * @param dynamic         {@code use_dynamic_shifting}: μ from the image size replaces s
 * @param baseShift       μ at {@code baseImageSeqLen} tokens (0.5)
 * @param maxShift        μ at {@code maxImageSeqLen} tokens (1.15)
 * @param baseImageSeqLen 256
 * @param maxImageSeqLen  4096
 * @param linear          {@code time_shift_type} "linear" (else "exponential")
 * @param shiftTerminal   {@code shift_terminal}, or 0 for none
 */
public record FlowShift(double shift, boolean dynamic, double baseShift, double maxShift, int baseImageSeqLen, int maxImageSeqLen,
                        boolean linear, double shiftTerminal) {

    /** A fixed shift {@code s} and diffusers' defaults for the rest. */
    public static FlowShift of(double s) {
        return new FlowShift(s, false, 0.5, 1.15, 256, 4096, false, 0);
    }

    /** The flow-shift fields of a scheduler config (diffusers' defaults for those it leaves out). */
    static FlowShift read(ConfigJson c) {
        String w = c.where();
        double shift = c.has("shift") ? positive(c, "shift") : 1.0;
        boolean dynamic = c.bool("use_dynamic_shifting", false);
        double base = number(c, "base_shift", 0.5), max = number(c, "max_shift", 1.15);
        int baseLen = c.optPositive("base_image_seq_len", 256), maxLen = c.optPositive("max_image_seq_len", 4096);
        if (dynamic && baseLen == maxLen) {
            throw new IllegalArgumentException(w + ": base_image_seq_len and max_image_seq_len are both " + baseLen + "; calculate_shift divides by their difference");
        }
        String type = c.text("time_shift_type", "exponential").toLowerCase(Locale.ROOT);
        if (!type.equals("exponential") && !type.equals("linear")) {
            throw new IllegalArgumentException(w + ": time_shift_type \"" + type + "\" is not one of exponential, linear");
        }
        double terminal = 0;
        if (c.has("shift_terminal") && !c.node().get("shift_terminal").isNull()) {
            JsonNode n = c.node().get("shift_terminal");
            if (!n.isNumber() || !(n.asDouble() >= 0) || !(n.asDouble() < 1)) {
                throw new IllegalArgumentException(w + ": field \"shift_terminal\" is " + n + "; expected a number in [0, 1)");
            }
            terminal = n.asDouble();
        }
        return new FlowShift(shift, dynamic, base, max, baseLen, maxLen, type.equals("linear"), terminal);
    }

    private static double positive(ConfigJson c, String key) {
        JsonNode n = c.node().get(key);
        if (!n.isNumber() || !(n.asDouble() > 0) || Double.isInfinite(n.asDouble())) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + n + "; expected a positive number");
        }
        return n.asDouble();
    }

    private static double number(ConfigJson c, String key, double dflt) {
        if (!c.has(key) || c.node().get(key).isNull()) return dflt;
        JsonNode n = c.node().get(key);
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new IllegalArgumentException(c.where() + ": field \"" + key + "\" is " + n + "; expected a number");
        }
        return n.asDouble();
    }

    /**
     * The pipelines' {@code calculate_shift(image_seq_len, base_image_seq_len, max_image_seq_len, base_shift, max_shift)}
     * (FluxPipeline; StableDiffusion3Pipeline when the scheduler shifts dynamically), in float64 as Python computes it.
     */
    public double mu(int imageSeqLen) {
        if (imageSeqLen < 1) throw new IllegalArgumentException("calculate_shift: image_seq_len must be >= 1, got " + imageSeqLen);
        double m = (maxShift - baseShift) / (maxImageSeqLen - baseImageSeqLen);
        double b = baseShift - m * baseImageSeqLen;
        return imageSeqLen * m + b;
    }

    /**
     * Steps 2 and 3 of {@code set_timesteps} on the sigmas {@code sig[0, n)} in place: the fixed or the dynamic
     * (μ) shift, then the stretch to {@code shift_terminal}. {@code f32}: the sigmas are a float32 numpy array (the
     * pipeline passed its own), so every operation rounds to float32 with Python scalars cast to it first, as numpy
     * does; otherwise they are float64 (sigmas made from the linspace of timesteps).
     */
    void apply(double[] sig, int n, double mu, boolean f32) {
        for (int i = 0; i < n; i++) {
            double t = sig[i];
            double v;
            if (dynamic) {
                double e = r(linear ? mu : Math.exp(mu), f32);
                double inner = r(r(1 / t, f32) - 1, f32); // (1/t − 1) ** 1.0 is itself
                v = r(e / r(e + inner, f32), f32);
            } else {
                double num = r(r(shift, f32) * t, f32);
                double den = r(1 + r(r(shift - 1, f32) * t, f32), f32);
                v = r(num / den, f32);
            }
            sig[i] = v;
        }
        if (shiftTerminal != 0 && n > 0) {
            // stretch_shift_to_terminal: 1 − (1 − t) / ((1 − t_last) / (1 − shift_terminal))
            double scale = r(r(1 - sig[n - 1], f32) / r(1 - shiftTerminal, f32), f32);
            for (int i = 0; i < n; i++) sig[i] = r(1 - r(r(1 - sig[i], f32) / scale, f32), f32);
        }
    }

    private static double r(double v, boolean f32) {
        return f32 ? (float) v : v;
    }
}
