package dev.surpass.layers;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Args;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.Arrays;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the layer ops on the CPU (matmul, linear plain and with a {@link LinearWeight}, LayerNorm, RMSNorm, GroupNorm, softmax, add, mul,
 * scale, GELU, SiLU): random ranks and sizes including 0, eps that is 0, negative or NaN, and at most one
 * argument broken ({@link Args}). Valid calls must match the float64 references; broken ones must be
 * refused naming the argument (for the op's first operand, which defines the others' sizes, any
 * documented refusal). The CUDA twin is {@link CudaLayersFuzzTest}.
 */
class LayersFuzzTest {
    static Device cpu;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        Fuzz.finish("layers.");
        cpu.close();
    }

    /** Which op a case runs. */
    enum Op { MATMUL, MATMUL_BATCHED, LINEAR, LINEAR_PREPARED, LAYER_NORM, RMS_NORM, GROUP_NORM, SOFTMAX, ADD, ADD_SUFFIX, MUL, SCALE, GELU_ERF, GELU_TANH, SILU }

    /**
     * One op on {@code dev}: operands of leading dims {@code lead}, rows {@code m}, columns {@code k}
     * (and {@code n} outputs for the GEMMs, or max(n, 1) groups for GroupNorm, which need not divide k);
     * {@code eps} for the norms.
     */
    static void opCase(Device dev, String prop, Op op, long[] lead, int m, int k, int n, boolean optional, float eps, Args.Break br,
                       int victim, int pick, long seed) {
        long[] x = concat(lead, m, k);
        int rows = (int) (Arrays.stream(lead).reduce(1, (a, b) -> a * b) * m);
        int groups = Math.max(1, n);
        try (Args a = new Args(dev)) {
            switch (op) {
                case MATMUL -> a.add("a", DType.F32, seed, 1, x).add("b", DType.F32, seed + 1, 1, k, n);
                case MATMUL_BATCHED -> a.add("a", DType.F32, seed, 1, x).add("b", DType.F32, seed + 1, 1, concat(lead, k, n));
                case LINEAR, LINEAR_PREPARED -> a.add("x", DType.F32, seed, 1, x).add("weight", DType.F32, seed + 1, 1, n, k)
                        .optional(optional, "bias", DType.F32, seed + 2, 1, n);
                case LAYER_NORM, GROUP_NORM -> a.add("x", DType.F32, seed, 1, x).optional(optional, "weight", DType.F32, seed + 1, 1, k)
                        .optional(optional, "bias", DType.F32, seed + 2, 1, k);
                case RMS_NORM -> a.add("x", DType.F32, seed, 1, x).optional(optional, "weight", DType.F32, seed + 1, 1, k);
                case ADD, MUL -> a.add("a", DType.F32, seed, 1, x).add("b", DType.F32, seed + 1, 1, x);
                case ADD_SUFFIX -> a.add("a", DType.F32, seed, 1, x).add("b", DType.F32, seed + 1, 1, k);
                default -> a.add("x", DType.F32, seed, 1, x);
            }
            a.breakOne(victim, br, pick);
            String in = op + " " + a.describe() + " eps " + eps + (op == Op.GROUP_NORM ? " groups " + groups : "");
            Callable<Tensor> call = switch (op) {
                case MATMUL, MATMUL_BATCHED -> () -> Gemm.matmul(a.t("a"), a.t("b"));
                case LINEAR -> () -> Gemm.linear(a.t("x"), a.t("weight"), a.t("bias"));
                case LINEAR_PREPARED -> () -> LinearWeight.of(a.t("weight")).linear(a.t("x"), a.t("bias"));
                case LAYER_NORM -> () -> LayerNorm.layerNorm(a.t("x"), a.t("weight"), a.t("bias"), eps);
                case GROUP_NORM -> () -> GroupNorm.groupNorm(a.t("x"), groups, a.t("weight"), a.t("bias"), eps);
                case RMS_NORM -> () -> RmsNorm.rmsNorm(a.t("x"), a.t("weight"), eps);
                case SOFTMAX -> () -> Softmax.softmax(a.t("x"));
                case ADD, ADD_SUFFIX -> () -> Elementwise.add(a.t("a"), a.t("b"));
                case MUL -> () -> Elementwise.mul(a.t("a"), a.t("b"));
                case SCALE -> () -> Elementwise.scale(a.t("x"), eps);
                case GELU_ERF -> () -> Activation.gelu(a.t("x"), Activation.Gelu.ERF);
                case GELU_TANH -> () -> Activation.gelu(a.t("x"), Activation.Gelu.TANH);
                case SILU -> () -> Activation.silu(a.t("x"));
            };
            boolean normOp = op == Op.LAYER_NORM || op == Op.RMS_NORM || op == Op.GROUP_NORM;
            boolean epsOk = !normOp || (eps > 0 && Float.isFinite(eps));
            boolean groupsOk = op != Op.GROUP_NORM || k % groups == 0;
            if (a.broken() != null) {
                // Breaking the first operand (its dims define the others') may make a companion the one
                // named, or leave a valid call (an element-wise op on another shape or dtype): either
                // outcome is allowed there, but a refusal must be documented.
                boolean first = a.broken().equals(a.names().get(0));
                Tensor out = Fuzz.call(prop, in, call, first || !epsOk || !groupsOk ? new String[0] : Args.naming(a.broken()));
                if (out != null) out.close();
                return;
            }
            if (!groupsOk) {
                Fuzz.reject(prop, in, call, "groups");
                return;
            }
            if (!epsOk) {
                Fuzz.reject(prop, in, call, "eps");
                return;
            }
            Tensor out = Fuzz.call(prop, in, call);
            if (out == null) throw new AssertionError(prop + ": a valid call was refused: " + in);
            try (out) {
                double[] ref = switch (op) {
                    case MATMUL -> ReferenceGemm.matmul(a.v("a"), a.v("b"), 1, rows, n, k, false);
                    case MATMUL_BATCHED -> ReferenceGemm.matmul(a.v("a"), a.v("b"), rows / Math.max(1, m), m, n, k, true);
                    case LINEAR, LINEAR_PREPARED -> ReferenceGemm.linear(a.v("x"), a.v("weight"), a.v("bias"), rows, n, k);
                    case LAYER_NORM -> ReferenceLayerNorm.layerNorm(a.v("x"), a.v("weight"), a.v("bias"), k, eps);
                    case GROUP_NORM -> {
                        int samples = (int) x[0];
                        int l = samples == 0 || k == 0 ? 0 : a.v("x").length / samples / k;
                        yield ReferenceGroupNorm.groupNorm(a.v("x"), a.v("weight"), a.v("bias"), samples, l, k, groups, eps);
                    }
                    case RMS_NORM -> ReferenceRmsNorm.rmsNorm(a.v("x"), a.v("weight"), k, eps);
                    case SOFTMAX -> ReferenceSoftmax.softmax(a.v("x"), k);
                    case ADD -> ReferenceElementwise.add(a.v("a"), a.v("b"));
                    case ADD_SUFFIX -> ReferenceElementwise.add(a.v("a"), tile(a.v("b"), rows));
                    case MUL -> ReferenceElementwise.mul(a.v("a"), a.v("b"));
                    case SCALE -> ReferenceElementwise.scale(a.v("x"), eps);
                    case GELU_ERF -> ReferenceActivation.geluErf(a.v("x"));
                    case GELU_TANH -> ReferenceActivation.geluTanh(a.v("x"));
                    case SILU -> ReferenceActivation.silu(a.v("x"));
                };
                ParityResult r = ParityMath.compare(out.toFloatArray(), ref, 1e-4);
                if (!r.passed()) throw new AssertionError(prop + ": mismatch relL2=" + r.relL2() + " nonFinite=" + r.nonFinite() + " for " + in);
            }
        }
    }

    static long[] concat(long[] lead, long... tail) {
        long[] s = Arrays.copyOf(lead, lead.length + tail.length);
        System.arraycopy(tail, 0, s, lead.length, tail.length);
        return s;
    }

    static float[] tile(float[] v, int times) {
        float[] r = new float[v.length * times];
        for (int i = 0; i < times; i++) System.arraycopy(v, 0, r, i * v.length, v.length);
        return r;
    }

    @Test
    void ops() {
        Fuzz.forAll("layers.ops", 400, g -> {
            Op op = g.pick(Op.class);
            long[] lead = g.longArray(0, 2, () -> g.between(0L, 3L));
            int m = g.between(0, 5), k = g.between(0, 9), n = g.between(0, 6);
            boolean optional = g.bool();
            float eps = g.weighted(6, 1) == 0 ? g.pickFloat(1e-5f, 1e-6f, 0.5f) : g.pickFloat(0f, -1e-5f, Float.NaN, Float.POSITIVE_INFINITY);
            Args.Break br = g.weighted(5, 5) == 0 ? Args.Break.NONE : g.pick(Args.Break.class);
            opCase(cpu, "layers." + op.name().toLowerCase(java.util.Locale.ROOT), op, lead, m, k, n, optional, eps, br, g.between(0, 2),
                    g.anyInt(), m * 31L + k * 7L + n);
        });
    }
}
