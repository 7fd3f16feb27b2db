package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.fuzz.Args;
import dev.surpass.fuzz.Fuzz;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import dev.surpass.fuzz.Gen;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the Mamba entries on the CPU: selective scan (dense and varlen), the one-token state update,
 * causal conv1d and its update. Each property builds a valid call of random size (Bt and L may be 0,
 * grouped or plain B/C, optional D, z, deltaBias, initial states), then breaks at most one argument
 * ({@link Args}: a dim, the rank, the dtype, closed, null) or the {@code cuSeqlens}. Unbroken calls
 * must match the float64 references; broken ones must be refused naming the argument. The CUDA twin
 * is {@link CudaScanFuzzTest}.
 */
class ScanFuzzTest {
    static Device cpu;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        Fuzz.finish("scan.");
        cpu.close();
    }

    static Args.Break breaks(Gen g) {
        return g.weighted(5, 5) == 0 ? Args.Break.NONE : g.pick(Args.Break.class);
    }

    static void assertMatches(String prop, String in, float[] got, double[] ref) {
        ParityResult r = ParityMath.compare(got, ref, 1e-4);
        if (!r.passed()) throw new AssertionError(prop + ": mismatch relL2=" + r.relL2() + " nonFinite=" + r.nonFinite() + " for " + in);
    }

    /** One selective scan (varlen when {@code cu} is given) on {@code dev}; shared with the CUDA twin. */
    static void scanCase(Device dev, String prop, int bt, int dm, int n, int groupsPick, int len, boolean grouped, int optional,
                         boolean softplus, int[] cu, Args.Break br, int victim, int pick, long seed) {
        int g = divisor(dm, groupsPick);
        if (cu != null) bt = 1;
        int nseq = cu == null ? bt : Math.max(0, cu.length - 1);
        try (Args a = new Args(dev)) {
            a.add("u", DType.F32, seed, 1, bt, dm, len).add("delta", DType.F32, seed + 1, 1, bt, dm, len)
                    .add("A", DType.F32, seed + 2, 1, dm, n);
            if (grouped) a.add("B", DType.F32, seed + 3, 1, bt, g, n, len).add("C", DType.F32, seed + 4, 1, bt, g, n, len);
            else a.add("B", DType.F32, seed + 3, 1, bt, n, len).add("C", DType.F32, seed + 4, 1, bt, n, len);
            a.optional((optional & 1) != 0, "D", DType.F32, seed + 5, 1, dm);
            a.optional((optional & 2) != 0, "z", DType.F32, seed + 6, 1, bt, dm, len);
            a.optional((optional & 4) != 0, "deltaBias", DType.F32, seed + 7, 1, dm);
            a.optional((optional & 8) != 0, "initialState", DType.F32, seed + 8, 1, nseq, dm, n);
            a.breakOne(victim, br, pick);
            boolean cuValid = cu == null || validCu(cu, len);
            String in = a.describe() + (cu == null ? "" : " cuSeqlens " + Arrays.toString(cu)) + " softplus " + softplus;
            java.util.concurrent.Callable<ScanOutput> call = () -> cu == null
                    ? SelectiveScan.selectiveScan(a.t("u"), a.t("delta"), a.t("A"), a.t("B"), a.t("C"), a.t("D"), a.t("z"),
                            a.t("deltaBias"), softplus, a.t("initialState"))
                    : SelectiveScan.selectiveScanVarlen(a.t("u"), a.t("delta"), a.t("A"), a.t("B"), a.t("C"), a.t("D"), a.t("z"),
                            a.t("deltaBias"), softplus, a.t("initialState"), cu);
            if (a.broken() != null) {
                Fuzz.reject(prop, in, call, defining(a.broken(), "u", "A"));
                return;
            }
            if (!cuValid) {
                Fuzz.reject(prop, in, call, "cuSeqlens");
                return;
            }
            ScanOutput out = Fuzz.call(prop, in, call);
            if (out == null) throw new AssertionError(prop + ": a valid call was refused: " + in);
            try (out) {
                ReferenceSelectiveScan.Result ref = ReferenceSelectiveScan.scan(a.v("u"), a.v("delta"), a.v("A"), a.v("B"), a.v("C"),
                        a.v("D"), a.v("z"), a.v("deltaBias"), softplus, a.v("initialState"), bt, dm, n, grouped ? g : 1, len, cu);
                assertMatches(prop, in, out.y().toFloatArray(), ref.y());
                assertMatches(prop, in + " (last state)", out.lastState().toFloatArray(), ref.lastState());
            }
        }
    }

    /**
     * The names a refusal must mention: the broken argument's, or any for an argument that defines
     * the others' sizes (breaking u's L, A's N or w's width makes a companion the one that disagrees).
     */
    static String[] defining(String broken, String... definers) {
        for (String d : definers) if (d.equals(broken)) return new String[0];
        return Args.naming(broken);
    }

    static int divisor(int dm, int pick) {
        int[] ds = java.util.stream.IntStream.rangeClosed(1, dm).filter(d -> dm % d == 0).toArray();
        return ds[Math.floorMod(pick, ds.length)];
    }

    static boolean validCu(int[] cu, int len) {
        if (cu.length < 2 || cu[0] != 0 || cu[cu.length - 1] != len) return false;
        for (int i = 1; i < cu.length; i++) if (cu[i] < cu[i - 1]) return false;
        return true;
    }

    @Test
    void selectiveScan() {
        Fuzz.forAll("scan.selectiveScan", 200, g -> {
            int bt = g.between(0, 2), dm = g.between(1, 6), n = g.between(1, 4), groupsPick = g.anyInt(), len = g.between(0, 7);
            scanCase(cpu, "scan.selectiveScan", bt, dm, n, groupsPick, len, g.bool(), g.between(0, 15), g.bool(), null, breaks(g),
                    g.between(0, 9), g.anyInt(), bt * 31L + len);
        });
    }

    @Test
    void selectiveScanVarlen() {
        Fuzz.forAll("scan.selectiveScanVarlen", 150, g -> {
            int[] cu = cuSeqlens(g);
            int dm = g.between(1, 4), n = g.between(1, 4), optional = g.between(0, 15);
            boolean softplus = g.bool(), lieAboutLength = g.bool();
            int len = cu.length == 0 ? 0 : Math.min(12, Math.max(0, cu[cu.length - 1])); // u stays small whatever cu claims
            if (lieAboutLength) len = Math.min(len + 1, 12);
            scanCase(cpu, "scan.selectiveScanVarlen", 1, dm, n, 0, len, false, optional, softplus, cu, Args.Break.NONE, 0, 0, len);
        });
    }

    static int[] cuSeqlens(Gen g) {
        if (g.weighted(2, 1) == 0) {
            int[] l = g.intArray(1, 4, () -> g.between(0, 4));
            int[] cu = new int[l.length + 1];
            for (int i = 0; i < l.length; i++) cu[i + 1] = cu[i] + l[i];
            return cu;
        }
        return g.intArray(0, 5, () -> g.bool() ? g.between(-2, 10) : g.pickInt(Integer.MIN_VALUE, Integer.MAX_VALUE));
    }

    /** The one-token state update; the state is updated in place, the reference returns the new one. */
    static void stateUpdateCase(Device dev, String prop, int bt, int dm, int n, int groupsPick, boolean grouped, int optional,
                                boolean softplus, Args.Break br, int victim, int pick, long seed) {
        int g = divisor(dm, groupsPick);
        try (Args a = new Args(dev)) {
            a.add("state", DType.F32, seed, 1, bt, dm, n).add("x", DType.F32, seed + 1, 1, bt, dm)
                    .add("dt", DType.F32, seed + 2, 1, bt, dm).add("A", DType.F32, seed + 3, 1, dm, n);
            if (grouped) a.add("B", DType.F32, seed + 4, 1, bt, g, n).add("C", DType.F32, seed + 5, 1, bt, g, n);
            else a.add("B", DType.F32, seed + 4, 1, bt, n).add("C", DType.F32, seed + 5, 1, bt, n);
            a.optional((optional & 1) != 0, "D", DType.F32, seed + 6, 1, dm);
            a.optional((optional & 2) != 0, "z", DType.F32, seed + 7, 1, bt, dm);
            a.optional((optional & 4) != 0, "deltaBias", DType.F32, seed + 8, 1, dm);
            a.breakOne(victim, br, pick);
            String in = a.describe() + " softplus " + softplus;
            java.util.concurrent.Callable<Tensor> call = () -> SelectiveScan.selectiveStateUpdate(a.t("state"), a.t("x"), a.t("dt"),
                    a.t("A"), a.t("B"), a.t("C"), a.t("D"), a.t("z"), a.t("deltaBias"), softplus);
            if (a.broken() != null) {
                Fuzz.reject(prop, in, call, defining(a.broken(), "x", "A"));
                return;
            }
            Tensor y = Fuzz.call(prop, in, call);
            if (y == null) throw new AssertionError(prop + ": a valid call was refused: " + in);
            try (y) {
                ReferenceSelectiveScan.Result ref = ReferenceSelectiveScan.stateUpdate(a.v("state"), a.v("x"), a.v("dt"), a.v("A"),
                        a.v("B"), a.v("C"), a.v("D"), a.v("z"), a.v("deltaBias"), softplus, bt, dm, n, grouped ? g : 1);
                assertMatches(prop, in, y.toFloatArray(), ref.y());
                assertMatches(prop, in + " (state)", a.t("state").toFloatArray(), ref.lastState());
            }
        }
    }

    @Test
    void selectiveStateUpdate() {
        Fuzz.forAll("scan.selectiveStateUpdate", 150, g -> {
            int bt = g.between(0, 3), dm = g.between(1, 6), n = g.between(1, 4);
            stateUpdateCase(cpu, "scan.selectiveStateUpdate", bt, dm, n, g.anyInt(), g.bool(), g.between(0, 7), g.bool(), breaks(g),
                    g.between(0, 8), g.anyInt(), dm * 7L + n);
        });
    }

    /** Causal conv1d (and, when {@code update}, its one-token update) with width 0..5. */
    static void convCase(Device dev, String prop, boolean update, int bt, int dm, int len, int width, boolean bias, boolean state,
                         boolean silu, Args.Break br, int victim, int pick, long seed) {
        int p = Math.max(0, width - 1);
        try (Args a = new Args(dev)) {
            if (update) {
                a.add("convState", DType.F32, seed, 1, bt, dm, p).add("x", DType.F32, seed + 1, 1, bt, dm);
            } else {
                a.add("x", DType.F32, seed + 1, 1, bt, dm, len);
            }
            a.add("w", DType.F32, seed + 2, 1, dm, width);
            a.optional(bias, "bias", DType.F32, seed + 3, 1, dm);
            if (!update) {
                a.optional(state, "initialConvState", DType.F32, seed + 4, 1, bt, dm, p);
            }
            a.breakOne(victim, br, pick);
            String in = a.describe() + " width " + width + " silu " + silu;
            java.util.concurrent.Callable<Object> call = update
                    ? () -> CausalConv1d.update(a.t("convState"), a.t("x"), a.t("w"), a.t("bias"), silu)
                    : () -> CausalConv1d.causalConv1d(a.t("x"), a.t("w"), a.t("bias"), silu, a.t("initialConvState"));
            boolean widthOk = width >= 1 && width <= 4;
            boolean noState = a.t("initialConvState") == null;
            boolean sizeOnly = !update && a.how() == Args.Break.DIM && switch (String.valueOf(a.broken())) {
                case "x" -> Math.floorMod(pick, 3) == 2 || (Math.floorMod(pick, 3) == 0 && noState);
                case "w" -> Math.floorMod(pick, 2) == 1 && noState;
                default -> false;
            };
            if (widthOk && sizeOnly) {
                // x's length is its own (no other argument has an L), and so are its batch and w's width when no
                // initial state is given: one more is a valid call of another size (w's width then up to 5), which
                // may run; a refusal must still be documented
                Object r = Fuzz.call(prop, in, call);
                if (r != null) ((ConvOutput) r).close();
                return;
            }
            if (a.broken() != null || !widthOk) {
                String[] names = a.broken() == null ? new String[] {"width"} : defining(a.broken(), "x", "w");
                // a broken w of bad width may be refused for its width first
                if (!widthOk && a.broken() != null) names = new String[0];
                Fuzz.reject(prop, in, call, names);
                return;
            }
            Object r = Fuzz.call(prop, in, call);
            if (r == null) throw new AssertionError(prop + ": a valid call was refused: " + in);
            if (update) {
                try (Tensor out = (Tensor) r) {
                    ReferenceCausalConv1d.Result ref = ReferenceCausalConv1d.update(a.v("convState"), a.v("x"), a.v("w"), a.v("bias"),
                            silu, bt * dm, dm, width);
                    assertMatches(prop, in, out.toFloatArray(), ref.out());
                    assertMatches(prop, in + " (state)", a.t("convState").toFloatArray(), ref.finalState());
                }
            } else {
                try (ConvOutput out = (ConvOutput) r) {
                    ReferenceCausalConv1d.Result ref = ReferenceCausalConv1d.conv(a.v("x"), a.v("w"), a.v("bias"), silu,
                            a.v("initialConvState"), bt * dm, dm, len, width);
                    assertMatches(prop, in, out.out().toFloatArray(), ref.out());
                    assertMatches(prop, in + " (final state)", out.finalState().toFloatArray(), ref.finalState());
                }
            }
        }
    }

    @Test
    void causalConv1d() {
        Fuzz.forAll("scan.causalConv1d", 200, g -> {
            boolean update = g.bool();
            int bt = g.between(0, 2), dm = g.between(1, 5), len = g.between(0, 7);
            int width = g.weighted(8, 1) == 0 ? g.between(1, 4) : g.pickInt(0, 5);
            convCase(cpu, update ? "scan.causalConv1dUpdate" : "scan.causalConv1d", update, bt, dm, len, width, g.bool(), g.bool(), g.bool(),
                    breaks(g), g.between(0, 4), g.anyInt(), dm * 13L + len);
        });
    }

    /** Regression-style edges: softplus at its threshold and very large inputs stay finite. */
    @Test
    void softplusThresholdAndLargeInputs() {
        for (float dt : new float[] {19.99f, 20f, 20.01f, -80f, 1e30f}) {
            try (Tensor u = cpu.upload(DType.F32, new float[] {1, 1}, 1, 1, 2); Tensor d = cpu.upload(DType.F32, new float[] {dt, dt}, 1, 1, 2);
                 Tensor a = cpu.upload(DType.F32, new float[] {-1}, 1, 1); Tensor b = cpu.upload(DType.F32, new float[] {1, 1}, 1, 1, 2);
                 ScanOutput o = Fuzz.call("scan.edges", "dt " + dt, () -> SelectiveScan.selectiveScan(u, d, a, b, b, null, null, null, true, null))) {
                ReferenceSelectiveScan.Result ref = ReferenceSelectiveScan.scan(new float[] {1, 1}, new float[] {dt, dt}, new float[] {-1},
                        new float[] {1, 1}, new float[] {1, 1}, null, null, null, true, null, 1, 1, 1, 1, 2, null);
                assertMatches("scan.edges", "dt " + dt, o.y().toFloatArray(), ref.y());
            }
        }
    }
}
