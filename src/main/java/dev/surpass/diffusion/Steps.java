package dev.surpass.diffusion;

import static dev.surpass.backend.ArgChecks.companion;
import static dev.surpass.backend.ArgChecks.floating;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;

/**
 * Validation and dispatch shared by the sampler steps. Every failure is an
 * {@link IllegalArgumentException} whose message starts with the step's name and says what to fix.
 */
final class Steps {
    private Steps() {}

    /** Checks x and the model output against each other and the options; returns the layout. */
    static StepLayout layout(String op, Tensor x, Tensor modelOut, StepOptions o) {
        if (o == null) throw new IllegalArgumentException(op + ": options are null; use StepOptions.defaults()");
        floating(op, "x", x);
        companion(op, "modelOut", modelOut, x);
        if (x.rank() < 1) throw new IllegalArgumentException(op + ": x must have rank >= 1 ([B, C, ...]), got a scalar");
        long[] xs = x.shape(), ms = modelOut.shape();
        String both = " (x " + Shapes.toString(xs) + ", modelOut " + Shapes.toString(ms) + ")";
        if (ms.length != xs.length) {
            throw new IllegalArgumentException(op + ": modelOut has rank " + ms.length + " but x has rank " + xs.length + both);
        }
        Guidance g = o.guidance();
        long b = xs[0];
        int groups = g == null ? 1 : 2;
        if (g != null && ms[0] % 2 != 0) {
            throw new IllegalArgumentException(op + ": with guidance modelOut's batch must be even (a cond and an uncond half), got "
                    + ms[0] + both);
        }
        if (ms[0] != b * groups) {
            throw new IllegalArgumentException(op + ": modelOut's batch is " + ms[0] + " but expected " + b * groups
                    + (g == null ? " (x's batch; no guidance)" : " (2 × x's batch " + b + ": " + (g.order() == Guidance.Order.COND_FIRST
                    ? "[cond; uncond]" : "[uncond; cond]") + ")") + both);
        }
        long c = xs.length >= 2 ? xs[1] : 1;
        if (o.learnedSigma()) {
            if (xs.length < 2) throw new IllegalArgumentException(op + ": learnedSigma needs a channel dim: x must be [B, C, ...]" + both);
            if (ms[1] != 2 * c) {
                throw new IllegalArgumentException(op + ": with learnedSigma modelOut's dim 1 must be 2 × x's channels = " + 2 * c
                        + " (prediction then variance values), got " + ms[1] + both);
            }
        } else if (xs.length >= 2 && ms[1] != c) {
            throw new IllegalArgumentException(op + ": modelOut's dim 1 is " + ms[1] + " but x has " + c + " channels"
                    + (ms[1] == 2 * c ? "; the model predicts its variance too: set StepOptions.withLearnedSigma(true)" : "") + both);
        }
        for (int i = 2; i < xs.length; i++) {
            if (ms[i] != xs[i]) throw new IllegalArgumentException(op + ": modelOut's dim " + i + " is " + ms[i] + " but x's is " + xs[i] + both);
        }
        if (c > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": x has " + c + " channels; at most " + Integer.MAX_VALUE);
        long s = xs.length >= 2 ? Shapes.product(xs, 2, xs.length) : 1;
        int guided = 0;
        int cfg = 0;
        float scale = 1;
        if (g != null) {
            cfg = g.order() == Guidance.Order.COND_FIRST ? 1 : 2;
            scale = (float) g.scale();
            guided = g.channels() == Guidance.ALL ? (int) c : g.channels();
            if (guided > c) {
                throw new IllegalArgumentException(op + ": guidance covers " + guided + " channels but x has " + c
                        + "; use Guidance.ALL (DiT's [:3] quirk needs at least 3 channels)");
            }
        }
        return new StepLayout(b, (int) c, s, cfg, guided, scale, o.learnedSigma());
    }

    /** Runs the planned step: a new output like x on x's device. */
    static Tensor run(StepPlan plan, StepLayout l, Tensor x, Tensor modelOut, Tensor state) {
        return ArgChecks.withOutput(x, x.dtype(), x.shape(), out -> {
            if (x.device().isCpu()) VectorSamplers.step(plan, l, x, modelOut, state, out, true);
            else CudaSamplers.step(plan, l, x, modelOut, state, out);
        });
    }

    static void finite(String op, String what, double v) {
        if (!Double.isFinite(v)) throw new IllegalArgumentException(op + ": " + what + " is not finite (" + v + ")");
    }

    static DType[] dtypes() {
        return new DType[] {DType.F32, DType.F16, DType.BF16};
    }

    /** Checks a sigma table: descending, positive, the last entry ≥ 0 (0 for the usual final step). */
    static double[] sigmaTable(String op, double[] sigmas) {
        if (sigmas == null || sigmas.length < 2) {
            throw new IllegalArgumentException(op + ": sigmas needs at least 2 entries (N steps + the final sigma), got "
                    + (sigmas == null ? "null" : sigmas.length));
        }
        double[] s = sigmas.clone();
        for (int i = 0; i < s.length; i++) {
            boolean last = i == s.length - 1;
            if (!Double.isFinite(s[i]) || (last ? s[i] < 0 : s[i] <= 0)) {
                throw new IllegalArgumentException(op + ": sigma[" + i + "] = " + s[i] + "; sigmas must be finite and positive (the last may be 0)");
            }
            if (i > 0 && s[i] >= s[i - 1]) {
                throw new IllegalArgumentException(op + ": sigmas must decrease, but sigma[" + i + "] = " + s[i] + " >= sigma[" + (i - 1) + "] = " + s[i - 1]);
            }
        }
        return s;
    }
}
