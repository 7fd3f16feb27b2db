package dev.surpass.diffusion;

/**
 * The per-step scalars of one fused sampler step, computed on the host in float64 from the
 * schedule (as DiT does) and handed to the CPU loop and the CUDA kernel as fp32. Per element, with
 * {@code m} the guided model output:
 * <pre>
 *   x0  = ax·x + am·m,  ε = ex·x + em·m              (prediction conversion)
 *   if clip > 0: x0 = clamp(x0, ±clip), ε = (x − a·x0)·bInv
 *   DDIM:  out = p0·x0 + p1·ε + p2·z
 *   DDPM:  out = p0·x0 + p1·x + σ·z,  σ = p2, or exp(½(f·maxLog + (1−f)·minLog)), f = (v+1)/2 when learnedRange
 *   EULER: x̂ = x + p0·z;  x0 = ax·x̂ + am·m;  out = x̂ + (x̂ − x0)·p1
 *   DPM:   out = p0·x + p1·x0 + p2·prevX0;  prevX0 ← x0
 * </pre>
 * {@code z} is the Philox normal of the element at {@code (seed, stream)}, used only when {@code noise}.
 */
record StepPlan(Kind kind, double ax, double am, double ex, double em, double clip, double a, double bInv,
                double p0, double p1, double p2, double minLog, double maxLog, boolean learnedRange,
                boolean noise, long seed, long stream) {
    enum Kind {
        DDPM("ddpm"), DDIM("ddim"), EULER("euler"), DPMPP_2M("dpmpp2m");

        final String op;

        Kind(String op) {
            this.op = op;
        }
    }

    /** Conversion coefficients for {@code x_t = a·x0 + b·ε}. */
    static double[] convert(Prediction p, double a, double b) {
        return switch (p) {
            case EPSILON -> new double[] {1 / a, -b / a, 0, 1};
            case V -> new double[] {a, -b, b, a};
            case SAMPLE -> new double[] {0, 1, 1 / b, -a / b};
        };
    }
}
