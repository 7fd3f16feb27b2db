package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityCases;
import dev.surpass.parity.ParityMath;
import dev.surpass.parity.ParityResult;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Parity cases for the scan family: the selective scan over odd lengths (1, 2, 63, 64, 65, 2049),
 * N ∈ {1, 16, 64}, grouped and ungrouped B/C, with and without D / z / softplus / delta bias /
 * initial state, a varlen batch with an empty sequence; the decode step; the causal conv1d (W 1..4,
 * with and without bias, silu, initial state) and its decode step. Each case runs the public entry
 * on the device on seeded inputs rounded to the dtype and compares the output (dtype tolerance) and
 * the state (fp32 tolerance) with the float64 references. Sized to take well under a second per
 * dtype on a CPU.
 */
public final class ScanParity {
    private ScanParity() {}

    private static final DType[] DTYPES = {DType.F32, DType.F16, DType.BF16};
    /** Relative-L2 tolerance of the fp32 states (long recurrences in fp32, exp2 on the GPU). */
    static final double STATE_TOLERANCE = 2e-5;

    /** One scan problem; {@code groups} 0 means ungrouped B/C {@code [Bt, N, L]}; {@code cu} non-null = varlen. */
    record ScanSpec(int bt, int dm, int n, int groups, int length, boolean d, boolean z, boolean softplus, boolean bias,
                    boolean init, int[] cu) {
        static ScanSpec dense(int bt, int dm, int n, int groups, int length, String flags) {
            return new ScanSpec(bt, dm, n, groups, length, flags.contains("D"), flags.contains("z"), flags.contains("s"),
                    flags.contains("b"), flags.contains("i"), null);
        }

        static ScanSpec varlen(int dm, int n, int groups, int[] cu, String flags) {
            return new ScanSpec(1, dm, n, groups, cu[cu.length - 1], flags.contains("D"), flags.contains("z"),
                    flags.contains("s"), flags.contains("b"), flags.contains("i"), cu);
        }

        int g() {
            return Math.max(1, groups);
        }

        int sequences() {
            return cu == null ? bt : cu.length - 1;
        }

        String label() {
            String s = (cu == null ? "Bt" + bt + " L" + length : "cu" + Arrays.toString(cu)) + " Dm" + dm + " N" + n
                    + (groups > 0 ? " G" + groups : "");
            return s + (d ? " D" : "") + (z ? " z" : "") + (softplus ? " softplus" : "") + (bias ? " bias" : "")
                    + (init ? " init" : "");
        }
    }

    /** Seeded inputs of a scan (already rounded to the dtype; A, D, bias, init fp32). */
    record ScanInputs(ScanSpec spec, DType dtype, float[] u, float[] delta, float[] a, float[] b, float[] c, float[] dSkip,
                      float[] z, float[] bias, float[] init) {
        static ScanInputs of(ScanSpec p, DType t, long seed) {
            int rows = p.bt * p.dm, tok = rows * p.length, bc = p.bt * p.g() * p.n * p.length;
            SplittableRandom r = new SplittableRandom(seed);
            float[] a = new float[p.dm * p.n];
            // A = −exp(A_log), A_log uniform in [−3, 1.5]: decays from slow (0.05) to fast (4.5) per unit Δ.
            for (int i = 0; i < a.length; i++) a[i] = (float) -Math.exp(-3 + 4.5 * r.nextDouble());
            float[] delta = ParityMath.random(seed + 1, tok, 1f, t);
            if (!p.softplus) {
                // Without softplus Δ is used as given: keep it positive so the recurrence decays.
                for (int i = 0; i < tok; i++) delta[i] = t.round(0.05f + 0.5f * Math.abs(delta[i]));
            }
            return new ScanInputs(p, t,
                    ParityMath.random(seed + 2, tok, 1f, t), delta, a,
                    ParityMath.random(seed + 3, bc, 1f, t), ParityMath.random(seed + 4, bc, 1f, t),
                    p.d ? ParityMath.random(seed + 5, p.dm, 1f, DType.F32) : null,
                    p.z ? ParityMath.random(seed + 6, tok, 2f, t) : null,
                    p.bias ? ParityMath.random(seed + 7, p.dm, 0.5f, DType.F32) : null,
                    p.init ? ParityMath.random(seed + 8, p.sequences() * p.dm * p.n, 1f, DType.F32) : null);
        }

        ReferenceSelectiveScan.Result reference() {
            ScanSpec p = spec;
            return ReferenceSelectiveScan.scan(u, delta, a, b, c, dSkip, z, bias, p.softplus, init, p.bt, p.dm, p.n, p.g(),
                    p.length, p.cu);
        }

        /** The tensors on {@code dev}, tracked by {@code sc}: u, delta, A, B, C, D, z, bias, init (nulls where absent). */
        Tensor[] upload(Device dev, Scope sc) {
            ScanSpec p = spec;
            long[] bcShape = p.groups > 0 ? new long[] {p.bt, p.groups, p.n, p.length} : new long[] {p.bt, p.n, p.length};
            return new Tensor[] {
                sc.track(dev.upload(dtype, u, p.bt, p.dm, p.length)),
                sc.track(dev.upload(dtype, delta, p.bt, p.dm, p.length)),
                sc.track(dev.upload(DType.F32, a, p.dm, p.n)),
                sc.track(dev.upload(dtype, b, bcShape)),
                sc.track(dev.upload(dtype, c, bcShape)),
                dSkip == null ? null : sc.track(dev.upload(DType.F32, dSkip, p.dm)),
                z == null ? null : sc.track(dev.upload(dtype, z, p.bt, p.dm, p.length)),
                bias == null ? null : sc.track(dev.upload(DType.F32, bias, p.dm)),
                init == null ? null : sc.track(dev.upload(DType.F32, init, p.sequences(), p.dm, p.n)),
            };
        }

        /** Runs the public entry on uploaded tensors. */
        static ScanOutput run(ScanSpec p, Tensor[] x) {
            return p.cu == null
                    ? SelectiveScan.selectiveScan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], p.softplus, x[8])
                    : SelectiveScan.selectiveScanVarlen(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], p.softplus, x[8], p.cu);
        }
    }

    static List<ScanSpec> scans() {
        return List.of(
                ScanSpec.dense(2, 4, 16, 0, 1, "Dzsb"),
                ScanSpec.dense(1, 3, 1, 0, 2, ""),
                ScanSpec.dense(2, 8, 16, 2, 63, "Dsi"),
                ScanSpec.dense(1, 4, 64, 0, 64, "z"),
                ScanSpec.dense(2, 6, 16, 3, 65, "Dzsbi"),
                ScanSpec.dense(1, 4, 1, 0, 65, "Dsb"),
                ScanSpec.dense(1, 4, 16, 2, 2049, "Dzsbi"),
                ScanSpec.dense(1, 48, 16, 3, 600, "Dzsbi"),  // full 16-channel blocks per group (the CPU's lane transposes)
                ScanSpec.varlen(4, 16, 2, new int[] {0, 5, 5, 70, 71, 200}, "Dzsbi"),
                ScanSpec.varlen(3, 64, 0, new int[] {0, 64, 129}, "sb"));
    }

    /** A conv problem: rows Bt·Dm of length L, width W. */
    record ConvSpec(int bt, int dm, int length, int width, boolean bias, boolean silu, boolean init) {
        String label() {
            return "Bt" + bt + " Dm" + dm + " L" + length + " W" + width + (bias ? " bias" : "") + (silu ? " silu" : "")
                    + (init ? " init" : "");
        }
    }

    static List<ConvSpec> convs() {
        return List.of(
                new ConvSpec(2, 5, 65, 4, true, true, true),
                new ConvSpec(1, 3, 2, 3, false, false, true),
                new ConvSpec(2, 4, 63, 1, true, false, false),
                new ConvSpec(1, 6, 1, 4, true, true, false),
                new ConvSpec(1, 4, 64, 2, false, true, true));
    }

    public static List<ParityCase> cases() {
        List<ParityCase> cases = new ArrayList<>();
        for (DType dt : DTYPES) {
            for (ScanSpec p : scans()) {
                cases.add(ParityCases.of(p.cu == null ? "selective_scan" : "selective_scan_varlen", p.label(), dt,
                        (d, seed, t) -> scan(d, seed, t, p)));
            }
            cases.add(ParityCases.of("selective_state_update", "Bt3 Dm8 N16 G2 D z softplus bias", dt,
                    (d, seed, t) -> stateUpdate(d, seed, t, ScanSpec.dense(3, 8, 16, 2, 1, "Dzsbi"))));
            cases.add(ParityCases.of("selective_state_update", "Bt2 Dm5 N1", dt,
                    (d, seed, t) -> stateUpdate(d, seed, t, ScanSpec.dense(2, 5, 1, 0, 1, "i"))));
            for (ConvSpec c : convs()) {
                cases.add(ParityCases.of("causal_conv1d", c.label(), dt, (d, seed, t) -> conv(d, seed, t, c)));
            }
            cases.add(ParityCases.of("causal_conv1d_update", "Bt3 Dm7 W4 bias silu", dt,
                    (d, seed, t) -> convUpdate(d, seed, t, new ConvSpec(3, 7, 1, 4, true, true, true))));
            cases.add(ParityCases.of("causal_conv1d_update", "Bt2 Dm3 W1", dt,
                    (d, seed, t) -> convUpdate(d, seed, t, new ConvSpec(2, 3, 1, 1, false, false, true))));
        }
        return cases;
    }

    /** The worse of two results (relative to its own tolerance). */
    static ParityResult worst(ParityResult a, ParityResult b) {
        if (a.nonFinite()) return a;
        if (b.nonFinite()) return b;
        return a.relL2() / a.tolerance() >= b.relL2() / b.tolerance() ? a : b;
    }

    private static ParityResult scan(Device dev, long seed, DType t, ScanSpec p) {
        ScanInputs in = ScanInputs.of(p, t, seed);
        ReferenceSelectiveScan.Result ref = in.reference();
        try (Scope sc = Scope.open()) {
            ScanOutput out = sc.track(ScanInputs.run(p, in.upload(dev, sc)));
            return worst(ParityMath.compare(out.y().toFloatArray(), ref.y(), ParityMath.tolerance(t)),
                    ParityMath.compare(out.lastState().toFloatArray(), ref.lastState(), STATE_TOLERANCE));
        }
    }

    private static ParityResult stateUpdate(Device dev, long seed, DType t, ScanSpec p) {
        ScanInputs in = ScanInputs.of(p, t, seed);
        ReferenceSelectiveScan.Result ref = in.reference();
        try (Scope sc = Scope.open()) {
            Tensor[] x = in.upload(dev, sc);
            long[] bc = p.groups > 0 ? new long[] {p.bt, p.groups, p.n} : new long[] {p.bt, p.n};
            Tensor b = sc.track(x[3].reshape(bc)), c = sc.track(x[4].reshape(bc));
            Tensor z = x[6] == null ? null : sc.track(x[6].reshape(p.bt, p.dm));
            Tensor state = x[8];
            Tensor y = sc.track(SelectiveScan.selectiveStateUpdate(state, sc.track(x[0].reshape(p.bt, p.dm)),
                    sc.track(x[1].reshape(p.bt, p.dm)), x[2], b, c, x[5], z, x[7], p.softplus));
            return worst(ParityMath.compare(y.toFloatArray(), ref.y(), ParityMath.tolerance(t)),
                    ParityMath.compare(state.toFloatArray(), ref.lastState(), STATE_TOLERANCE));
        }
    }

    /** Seeded conv inputs: x, w, bias (or null), state (or null). */
    static float[][] convInputs(ConvSpec c, DType t, long seed) {
        int rows = c.bt * c.dm;
        return new float[][] {
            ParityMath.random(seed, rows * c.length, 1f, t),
            ParityMath.random(seed + 1, c.dm * c.width, 0.7f, t),
            c.bias ? ParityMath.random(seed + 2, c.dm, 0.5f, t) : null,
            c.init ? ParityMath.random(seed + 3, rows * (c.width - 1), 1f, DType.F32) : null,
        };
    }

    private static ParityResult conv(Device dev, long seed, DType t, ConvSpec c) {
        float[][] in = convInputs(c, t, seed);
        int rows = c.bt * c.dm;
        ReferenceCausalConv1d.Result ref = ReferenceCausalConv1d.conv(in[0], in[1], in[2], c.silu, in[3], rows, c.dm, c.length, c.width);
        try (Scope sc = Scope.open()) {
            Tensor x = sc.track(dev.upload(t, in[0], c.bt, c.dm, c.length));
            Tensor w = sc.track(dev.upload(t, in[1], c.dm, c.width));
            Tensor b = in[2] == null ? null : sc.track(dev.upload(t, in[2], c.dm));
            Tensor s = in[3] == null ? null : sc.track(dev.upload(DType.F32, in[3], c.bt, c.dm, c.width - 1));
            ConvOutput out = sc.track(CausalConv1d.causalConv1d(x, w, b, c.silu, s));
            return worst(ParityMath.compare(out.out().toFloatArray(), ref.out(), ParityMath.tolerance(t)),
                    ParityMath.compare(out.finalState().toFloatArray(), ref.finalState(), STATE_TOLERANCE));
        }
    }

    private static ParityResult convUpdate(Device dev, long seed, DType t, ConvSpec c) {
        float[][] in = convInputs(c, t, seed);
        int rows = c.bt * c.dm;
        ReferenceCausalConv1d.Result ref = ReferenceCausalConv1d.update(in[3], in[0], in[1], in[2], c.silu, rows, c.dm, c.width);
        try (Scope sc = Scope.open()) {
            Tensor x = sc.track(dev.upload(t, in[0], c.bt, c.dm));
            Tensor w = sc.track(dev.upload(t, in[1], c.dm, c.width));
            Tensor b = in[2] == null ? null : sc.track(dev.upload(t, in[2], c.dm));
            Tensor s = sc.track(dev.upload(DType.F32, in[3], c.bt, c.dm, c.width - 1));
            Tensor out = sc.track(CausalConv1d.update(s, x, w, b, c.silu));
            return worst(ParityMath.compare(out.toFloatArray(), ref.out(), ParityMath.tolerance(t)),
                    ParityMath.compare(s.toFloatArray(), ref.finalState(), STATE_TOLERANCE));
        }
    }
}
