package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityCases;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.List;

/**
 * Parity cases for the elementwise, activation, softmax and norm ops: every op × F32/F16/BF16 ×
 * awkward shapes (1, 3, 13×65, 63×64, 127×1000, 2×3×1031, and bias-like broadcasts for add/mul;
 * GroupNorm on channels-last images of 1–3 samples, 1–35 positions and 3–96 channels).
 * Each case draws seeded inputs already rounded to the dtype, runs the public entry on the given
 * device, downloads the result and compares it with the float64 {@code Reference*} op at
 * {@link ParityMath#tolerance(DType)}.
 *
 * <p>Input ranges are chosen to exercise the numerics: softmax logits up to ±20, LayerNorm inputs
 * on a large common offset (1000 ± 1 in F32) to catch cancellation in the mean/variance, GELU and
 * SiLU inputs reaching into their saturated tails (±6).
 */
public final class LayersParity {
    private LayersParity() {}

    private static final DType[] DTYPES = {DType.F32, DType.F16, DType.BF16};
    private static final long[][] SHAPES = {{1}, {3}, {13, 65}, {63, 64}, {127, 1000}, {2, 3, 1031}};
    /** a's shape and a suffix b broadcast over it. */
    private static final long[][][] BROADCASTS = {
        {{13, 65}, {65}}, {{127, 1000}, {1000}}, {{2, 3, 1031}, {3, 1031}}, {{2, 3, 1031}, {1031}}, {{63, 64}, {64}},
    };

    /** GroupNorm cases: {N, positions, C, groups} (channels-last). */
    private static final long[][] GROUP_SHAPES = {{1, 1, 3, 1}, {2, 35, 96, 32}, {3, 13, 12, 4}, {1, 1000, 64, 8}, {2, 7, 65, 5}};

    public static List<ParityCase> cases() {
        List<ParityCase> cases = new ArrayList<>();
        for (DType dt : DTYPES) {
            for (long[] s : SHAPES) {
                String sh = Shapes.toString(s);
                cases.add(ParityCases.of("add", sh + "+" + sh, dt, (d, seed, t) -> binary(d, seed, t, true, s, s)));
                cases.add(ParityCases.of("mul", sh + "*" + sh, dt, (d, seed, t) -> binary(d, seed, t, false, s, s)));
                cases.add(ParityCases.of("scale", sh, dt, (d, seed, t) -> scale(d, seed, t, s)));
                cases.add(ParityCases.of("gelu_erf", sh, dt, (d, seed, t) -> activation(d, seed, t, "gelu_erf", s)));
                cases.add(ParityCases.of("gelu_tanh", sh, dt, (d, seed, t) -> activation(d, seed, t, "gelu_tanh", s)));
                cases.add(ParityCases.of("silu", sh, dt, (d, seed, t) -> activation(d, seed, t, "silu", s)));
                cases.add(ParityCases.of("softcap", sh, dt, (d, seed, t) -> activation(d, seed, t, "softcap", s)));
                cases.add(ParityCases.of("softmax", sh, dt, (d, seed, t) -> softmax(d, seed, t, s)));
                cases.add(ParityCases.of("layer_norm", sh, dt, (d, seed, t) -> layerNorm(d, seed, t, s, true)));
                cases.add(ParityCases.of("layer_norm", sh + " no affine", dt, (d, seed, t) -> layerNorm(d, seed, t, s, false)));
                cases.add(ParityCases.of("rms_norm", sh, dt, (d, seed, t) -> rmsNorm(d, seed, t, s, true)));
                cases.add(ParityCases.of("rms_norm", sh + " no weight", dt, (d, seed, t) -> rmsNorm(d, seed, t, s, false)));
            }
            for (long[] g : GROUP_SHAPES) {
                long[] s = {g[0], g[1], g[2]};
                int groups = (int) g[3];
                String sh = Shapes.toString(s) + " " + groups + " groups";
                cases.add(ParityCases.of("group_norm", sh, dt, (d, seed, t) -> groupNorm(d, seed, t, s, groups, true)));
                cases.add(ParityCases.of("group_norm", sh + " no affine", dt, (d, seed, t) -> groupNorm(d, seed, t, s, groups, false)));
            }
            for (long[][] ab : BROADCASTS) {
                String sh = Shapes.toString(ab[0]) + "+" + Shapes.toString(ab[1]);
                cases.add(ParityCases.of("add", sh, dt, (d, seed, t) -> binary(d, seed, t, true, ab[0], ab[1])));
                cases.add(ParityCases.of("mul", sh.replace('+', '*'), dt, (d, seed, t) -> binary(d, seed, t, false, ab[0], ab[1])));
            }
        }
        return cases;
    }

    // ---- case bodies ---------------------------------------------------------------------------

    private static ParityResult binary(Device d, long seed, DType t, boolean add, long[] as, long[] bs) {
        float[] a = ParityMath.random(seed, (int) Shapes.numel(as), 2f, t);
        float[] b = ParityMath.random(seed + 1, (int) Shapes.numel(bs), 2f, t);
        double[] ref = add ? ReferenceElementwise.add(a, b) : ReferenceElementwise.mul(a, b);
        try (Scope sc = Scope.open()) {
            Tensor ta = sc.track(d.upload(t, a, as)), tb = sc.track(d.upload(t, b, bs));
            Tensor out = sc.track(add ? Elementwise.add(ta, tb) : Elementwise.mul(ta, tb));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static ParityResult scale(Device d, long seed, DType t, long[] s) {
        float[] a = ParityMath.random(seed, (int) Shapes.numel(s), 3f, t);
        float k = -1.37f;
        double[] ref = ReferenceElementwise.scale(a, k);
        try (Scope sc = Scope.open()) {
            Tensor out = sc.track(Elementwise.scale(sc.track(d.upload(t, a, s)), k));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static final float SOFTCAP = 5f;

    private static ParityResult activation(Device d, long seed, DType t, String op, long[] s) {
        // ±6 reaches GELU's and SiLU's saturated tails (Φ(-6) ≈ 1e-9) while a single small output
        // keeps enough fp32 precision for the relative-L2 check of the [1] and [3] cases.
        float[] x = ParityMath.random(seed, (int) Shapes.numel(s), 6f, t);
        double[] ref = switch (op) {
            case "gelu_erf" -> ReferenceActivation.geluErf(x);
            case "gelu_tanh" -> ReferenceActivation.geluTanh(x);
            case "softcap" -> ReferenceActivation.softcap(x, SOFTCAP); // ±6 against cap 5: the curve's bend and its flat part
            default -> ReferenceActivation.silu(x);
        };
        try (Scope sc = Scope.open()) {
            Tensor tx = sc.track(d.upload(t, x, s));
            Tensor out = sc.track(switch (op) {
                case "gelu_erf" -> Activation.gelu(tx, Activation.Gelu.ERF);
                case "gelu_tanh" -> Activation.gelu(tx, Activation.Gelu.TANH);
                case "softcap" -> Activation.softcap(tx, SOFTCAP);
                default -> Activation.silu(tx);
            });
            // GELU's negative tail reaches fp16's subnormals (gelu_tanh(-6) ≈ 2e-8), where one rounding step is
            // a large relative error: such outputs count against fp16's smallest normal
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t), ParityMath.smallestNormal(t));
        }
    }

    private static ParityResult softmax(Device d, long seed, DType t, long[] s) {
        float[] x = ParityMath.random(seed, (int) Shapes.numel(s), 20f, t);
        double[] ref = ReferenceSoftmax.softmax(x, (int) s[s.length - 1]);
        try (Scope sc = Scope.open()) {
            Tensor out = sc.track(Softmax.softmax(sc.track(d.upload(t, x, s))));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static ParityResult layerNorm(Device d, long seed, DType t, long[] s, boolean affine) {
        int cols = (int) s[s.length - 1];
        // A large common offset: a naive fp32 E[x²] - E[x]² or an fp32-rounded mean fails here.
        float offset = t == DType.F32 ? 1000f : 100f;
        float[] x = offset(ParityMath.random(seed, (int) Shapes.numel(s), 1f, t), offset, t);
        float[] w = affine ? offset(ParityMath.random(seed + 1, cols, 0.5f, t), 1f, t) : null;
        float[] b = affine ? ParityMath.random(seed + 2, cols, 0.5f, t) : null;
        float eps = 1e-5f;
        double[] ref = ReferenceLayerNorm.layerNorm(x, w, b, cols, eps);
        try (Scope sc = Scope.open()) {
            Tensor tx = sc.track(d.upload(t, x, s));
            Tensor tw = affine ? sc.track(d.upload(t, w, cols)) : null;
            Tensor tb = affine ? sc.track(d.upload(t, b, cols)) : null;
            Tensor out = sc.track(LayerNorm.layerNorm(tx, tw, tb, eps));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static ParityResult rmsNorm(Device d, long seed, DType t, long[] s, boolean weighted) {
        int cols = (int) s[s.length - 1];
        float[] x = ParityMath.random(seed, (int) Shapes.numel(s), 3f, t);
        float[] w = weighted ? offset(ParityMath.random(seed + 1, cols, 0.5f, t), 1f, t) : null;
        float eps = 1e-6f;
        double[] ref = ReferenceRmsNorm.rmsNorm(x, w, cols, eps);
        try (Scope sc = Scope.open()) {
            Tensor tx = sc.track(d.upload(t, x, s));
            Tensor tw = weighted ? sc.track(d.upload(t, w, cols)) : null;
            Tensor out = sc.track(RmsNorm.rmsNorm(tx, tw, eps));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static ParityResult groupNorm(Device d, long seed, DType t, long[] s, int groups, boolean affine) {
        int n = (int) s[0], l = (int) s[1], c = (int) s[2];
        // A common offset as for LayerNorm: the group statistics must not cancel.
        float offset = t == DType.F32 ? 1000f : 100f;
        float[] x = offset(ParityMath.random(seed, n * l * c, 1f, t), offset, t);
        float[] w = affine ? offset(ParityMath.random(seed + 1, c, 0.5f, t), 1f, t) : null;
        float[] b = affine ? ParityMath.random(seed + 2, c, 0.5f, t) : null;
        float eps = 1e-6f;
        double[] ref = ReferenceGroupNorm.groupNorm(x, w, b, n, l, c, groups, eps);
        try (Scope sc = Scope.open()) {
            Tensor tx = sc.track(d.upload(t, x, s));
            Tensor tw = affine ? sc.track(d.upload(t, w, c)) : null;
            Tensor tb = affine ? sc.track(d.upload(t, b, c)) : null;
            Tensor out = sc.track(GroupNorm.groupNorm(tx, groups, tw, tb, eps));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    /** x + offset, rounded to the dtype so the reference sees what the device sees. */
    private static float[] offset(float[] x, float offset, DType t) {
        for (int i = 0; i < x.length; i++) x[i] = t.round(x[i] + offset);
        return x;
    }
}
