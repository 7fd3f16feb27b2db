package dev.surpass.diffusion;

import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;

/**
 * One step of DPM-Solver++(2M) (Lu et al.; diffusers' {@code DPMSolverMultistepScheduler} with
 * {@code solver_order=2}, {@code algorithm_type="dpmsolver++"}, {@code solver_type="midpoint"},
 * {@code lower_order_final=True}, {@code final_sigmas_type="zero"}) as one fused pass over a
 * descending sigma table ending in 0 (the latents unscaled, VP form {@code x = α·x0 + σ_vp·ε}):
 * <pre>
 *   α = 1/√(σ²+1), σ_vp = σ·α, λ = ln α − ln σ_vp, h = λ_{i+1} − λ_i
 *   x0 = (x − σ_vp,i·ε)/α_i  |  α_i·x − σ_vp,i·v  |  m
 *   first order (i = 0, and the last step): x' = (σ_vp,i+1/σ_vp,i)·x − α_{i+1}(e^{−h}−1)·x0
 *   second order: r0 = (λ_i − λ_{i−1})/h, D1 = (x0 − x0_prev)/r0,
 *                 x' = (σ_vp,i+1/σ_vp,i)·x − α_{i+1}(e^{−h}−1)·x0 − ½α_{i+1}(e^{−h}−1)·D1
 *   final σ = 0: x' = x0
 * </pre>
 * {@code prevX0} (x's shape, dtype and device) carries the previous x0 between steps: it is read
 * on second-order steps and overwritten with this step's x0 every step (so it needs no
 * initialisation before step 0). Deterministic: no noise. Immutable; thread-safe.
 *
 * <p>With {@code sde} (diffusers' {@code algorithm_type="sde-dpmsolver++"}, midpoint) the update is the SDE one,
 * {@code x' = (σ_vp,i+1/σ_vp,i)·e^{−h}·x + α_{i+1}(1 − e^{−2h})·(x0 [+ ½·D1])} and the caller adds
 * {@link #noiseScale}{@code (i)·z}, {@code σ_vp,i+1·√(1 − e^{−2h})} times a standard normal z.
 */
public final class DpmSolverStep {
    private final double[] sigmas;
    private final boolean sde;

    public DpmSolverStep(double[] sigmas) {
        this(sigmas, false);
    }

    /** The ODE solver (sde false, dpmsolver++) or the SDE one (sde-dpmsolver++), over the same sigma table. */
    public DpmSolverStep(double[] sigmas, boolean sde) {
        this.sigmas = Steps.sigmaTable("dpmpp2m", sigmas);
        this.sde = sde;
    }

    /** SDE: the standard deviation of the noise step i adds ({@code σ_vp,i+1·√(1 − e^{−2h})}); 0 for the ODE solver and at a final σ of 0. */
    public double noiseScale(int i) {
        if (!sde || sigmas[i + 1] == 0) return 0;
        double st = sigmas[i + 1], vt = st * alpha(st);
        double h = lambda(st) - lambda(sigmas[i]);
        return vt * Math.sqrt(-Math.expm1(-2 * h));
    }

    public double[] sigmas() {
        return sigmas.clone();
    }

    public int steps() {
        return sigmas.length - 1;
    }

    /** True when step i uses the first-order update (the first step, and the last). */
    public boolean firstOrder(int i) {
        int n = steps();
        return i == 0 || (i == n - 1 && (sigmas[n] == 0 || n < 15));
    }

    /** x_{i+1} from x_i and the model output; updates {@code prevX0}; a new tensor on x's device. */
    public Tensor step(Tensor x, Tensor modelOut, Tensor prevX0, int i, StepOptions options) {
        StepLayout l = Steps.layout("dpmpp2m", x, modelOut, options);
        ArgChecks.companion("dpmpp2m", "prevX0", prevX0, x);
        if (!java.util.Arrays.equals(prevX0.shape(), x.shape())) {
            throw new IllegalArgumentException("dpmpp2m: prevX0 has shape " + dev.surpass.Shapes.toString(prevX0.shape())
                    + " but x has " + dev.surpass.Shapes.toString(x.shape()) + "; it holds the previous x0, like x");
        }
        return Steps.run(plan(i, options), l, x, modelOut, prevX0);
    }

    static double alpha(double s) {
        return 1 / Math.sqrt(s * s + 1);
    }

    static double lambda(double s) {
        double a = alpha(s);
        return Math.log(a) - Math.log(s * a);
    }

    StepPlan plan(int i, StepOptions o) {
        int n = steps();
        if (i < 0 || i >= n) {
            throw new IllegalArgumentException("dpmpp2m: step i = " + i + " is out of range [0, " + n + ") of the sigma table ("
                    + sigmas.length + " entries)");
        }
        if (o.clipSample() > 0) throw new IllegalArgumentException("dpmpp2m: clipSample is not part of DPM-Solver++; set it to 0");
        double ss = sigmas[i], st = sigmas[i + 1];
        double as = alpha(ss), vs = ss * as;
        double[] k = StepPlan.convert(o.prediction(), as, vs);
        double p0, p1, p2;
        if (st == 0) {
            p0 = 0; p1 = 1; p2 = 0;
        } else {
            double at = alpha(st), vt = st * at;
            double h = lambda(st) - lambda(ss);
            double em1 = Math.expm1(-h); // e^{-h} − 1
            p0 = vt / vs;
            if (sde) { // (σ_t/σ_s·e^{−h})·x + α_t(1 − e^{−2h})·D0 + ½α_t(1 − e^{−2h})·D1, D1 = (x0 − x0_prev)/r0
                double k2 = -at * Math.expm1(-2 * h);
                p0 = vt / vs * Math.exp(-h);
                if (firstOrder(i)) {
                    p1 = k2;
                    p2 = 0;
                } else {
                    double r0 = (lambda(ss) - lambda(sigmas[i - 1])) / h;
                    p1 = k2 * (1 + 0.5 / r0);
                    p2 = -k2 * 0.5 / r0;
                }
            } else if (firstOrder(i)) {
                p1 = -at * em1;
                p2 = 0;
            } else {
                double r0 = (lambda(ss) - lambda(sigmas[i - 1])) / h;
                p1 = -at * em1 * (1 + 0.5 / r0);
                p2 = at * em1 * 0.5 / r0;
            }
        }
        return new StepPlan(StepPlan.Kind.DPMPP_2M, k[0], k[1], k[2], k[3], 0, as, 1 / vs, p0, p1, p2, 0, 0, false, false, o.seed(), i);
    }
}
