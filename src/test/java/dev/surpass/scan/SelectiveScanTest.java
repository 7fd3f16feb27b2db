package dev.surpass.scan;

import static dev.surpass.scan.ScanFixture.SEED;
import static dev.surpass.scan.ScanFixture.assertClose;
import static dev.surpass.scan.ScanFixture.assertNoNaN;
import static dev.surpass.scan.ScanFixture.column;
import static dev.surpass.scan.ScanFixture.columns;
import static dev.surpass.scan.ScanFixture.poisoned;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.scan.ScanParity.ScanInputs;
import dev.surpass.scan.ScanParity.ScanSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The CPU selective scan beyond the parity cases: the chunked (parallel-in-time) driver equals the
 * sequential one, every output element is written (outputs poisoned with NaN), token-by-token
 * decode equals the scan, varlen equals separate scans, empty sequences, and the validation
 * messages. Replay with -Dsurpass.seed=N.
 */
class SelectiveScanTest {
    private static final List<ScanSpec> CHUNK_SPECS = List.of(
            ScanSpec.dense(1, 3, 16, 0, 2049, "Dzsbi"),
            ScanSpec.dense(2, 4, 20, 2, 300, "Dsi"),     // N 20: a masked vector tail
            ScanSpec.dense(1, 2, 1, 0, 129, "zb"),
            ScanSpec.dense(1, 2, 64, 0, 1, "Dsi"),
            ScanSpec.varlen(4, 16, 2, new int[] {0, 0, 130, 131, 400, 400}, "Dzsbi"),
            // Full 16-channel blocks (the lane transposes) beside a partial one, over two 512-token
            // read spans and a tail that is not a multiple of 16; grouped; varlen sequences starting
            // and ending inside spans.
            ScanSpec.dense(2, 37, 16, 0, 1100, "Dzsbi"),
            ScanSpec.dense(1, 64, 8, 2, 530, "Dsbi"),
            ScanSpec.varlen(33, 16, 0, new int[] {0, 17, 17, 600, 613}, "Dzsbi"));

    /** Runs the Vector scan directly with poisoned outputs; returns {y, last}. */
    private static float[][] vectorScan(Device dev, ScanInputs in, int chunk) {
        ScanSpec p = in.spec();
        try (Scope sc = Scope.open()) {
            Tensor[] x = in.upload(dev, sc);
            Tensor y = sc.track(poisoned(dev, in.dtype(), p.bt(), p.dm(), p.length()));
            Tensor last = sc.track(poisoned(dev, DType.F32, p.sequences(), p.dm(), p.n()));
            ScanDims dims = new ScanDims(p.bt(), p.dm(), p.n(), p.g(), p.length(), p.cu());
            VectorSelectiveScan.scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], p.softplus(), x[8], y, last, dims, chunk);
            return new float[][] {y.toFloatArray(), last.toFloatArray()};
        }
    }

    @TestFactory
    Stream<DynamicTest> chunkedEqualsSequentialAndReference() {
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            for (int i = 0; i < CHUNK_SPECS.size(); i++) {
                ScanSpec p = CHUNK_SPECS.get(i);
                long seed = SEED + 100 + i;
                tests.add(DynamicTest.dynamicTest(p.label() + " " + t, () -> {
                    ScanInputs in = ScanInputs.of(p, t, seed);
                    ReferenceSelectiveScan.Result ref = in.reference();
                    try (Device dev = Device.cpu()) {
                        float[][] seq = vectorScan(dev, in, 0);
                        for (int chunk : new int[] {1, 64, 256}) {
                            float[][] ch = vectorScan(dev, in, chunk);
                            String what = p.label() + " " + t + " chunk " + chunk;
                            assertNoNaN(ch[0], what + " y", seed);
                            assertNoNaN(ch[1], what + " lastState", seed);
                            // Same inputs, fp32 both ways: they differ only by the rounding of the carried prefix.
                            assertClose(ch[0], seq[0], t == DType.F32 ? 2e-6 : 4e-3, what + " y vs sequential", seed);
                            assertClose(ch[1], seq[1], 2e-6, what + " lastState vs sequential", seed);
                        }
                        assertNoNaN(seq[0], p.label() + " y", seed);
                        assertClose(seq[0], ref.y(), ParityMath.tolerance(t), p.label() + " " + t + " y vs reference", seed);
                        assertClose(seq[1], ref.lastState(), ScanParity.STATE_TOLERANCE, p.label() + " " + t + " lastState", seed);
                        assertEquals(0, dev.liveAllocations());
                    }
                }));
            }
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> tokenByTokenEqualsScan() {
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (ScanSpec p : List.of(ScanSpec.dense(2, 6, 16, 3, 37, "Dzsbi"), ScanSpec.dense(1, 4, 1, 0, 9, "s"),
                    ScanSpec.dense(3, 2, 64, 0, 20, "Dzi"), ScanSpec.dense(1, 32, 16, 2, 40, "Dzsbi"))) {
                long seed = SEED + 200 + p.n();
                tests.add(DynamicTest.dynamicTest(p.label() + " " + t, () -> tokenByToken(p, t, seed)));
            }
        }
        return tests.stream();
    }

    private static void tokenByToken(ScanSpec p, DType t, long seed) {
        ScanInputs in = ScanInputs.of(p, t, seed);
        int rows = p.bt() * p.dm(), bcRows = p.bt() * p.g() * p.n(), len = p.length();
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            ScanOutput full = sc.track(ScanInputs.run(p, in.upload(dev, sc)));
            float[] yFull = full.y().toFloatArray();
            Tensor state = sc.track(in.init() == null ? dev.zeros(DType.F32, p.bt(), p.dm(), p.n())
                    : dev.upload(DType.F32, in.init(), p.bt(), p.dm(), p.n()));
            long[] bcShape = p.groups() > 0 ? new long[] {p.bt(), p.groups(), p.n()} : new long[] {p.bt(), p.n()};
            Tensor a = sc.track(dev.upload(DType.F32, in.a(), p.dm(), p.n()));
            Tensor d = in.dSkip() == null ? null : sc.track(dev.upload(DType.F32, in.dSkip(), p.dm()));
            Tensor bias = in.bias() == null ? null : sc.track(dev.upload(DType.F32, in.bias(), p.dm()));
            float[] ySteps = new float[rows * len];
            for (int tok = 0; tok < len; tok++) {
                try (Scope st = Scope.open()) {
                    Tensor x = st.track(dev.upload(t, column(in.u(), rows, len, tok), p.bt(), p.dm()));
                    Tensor dt = st.track(dev.upload(t, column(in.delta(), rows, len, tok), p.bt(), p.dm()));
                    Tensor b = st.track(dev.upload(t, column(in.b(), bcRows, len, tok), bcShape));
                    Tensor c = st.track(dev.upload(t, column(in.c(), bcRows, len, tok), bcShape));
                    Tensor z = in.z() == null ? null : st.track(dev.upload(t, column(in.z(), rows, len, tok), p.bt(), p.dm()));
                    float[] y = st.track(SelectiveScan.selectiveStateUpdate(state, x, dt, a, b, c, d, z, bias, p.softplus()))
                            .toFloatArray();
                    for (int r = 0; r < rows; r++) ySteps[r * len + tok] = y[r];
                }
            }
            // Both run the same fp32 recurrence token after token: equal up to the rounding of y.
            assertClose(ySteps, yFull, t == DType.F32 ? 1e-6 : ParityMath.tolerance(t), p.label() + " " + t + " y", seed);
            assertClose(state.toFloatArray(), full.lastState().toFloatArray(), 1e-6, p.label() + " " + t + " state", seed);
        }
    }

    @Test
    void varlenEqualsSeparateScans() {
        int[] cu = {0, 7, 7, 70, 200};
        ScanSpec p = ScanSpec.varlen(4, 16, 2, cu, "Dzsbi");
        ScanInputs in = ScanInputs.of(p, DType.F32, SEED + 300);
        int dm = p.dm(), n = p.n(), bcRows = p.g() * n;
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            ScanOutput all = sc.track(ScanInputs.run(p, in.upload(dev, sc)));
            float[] y = all.y().toFloatArray(), last = all.lastState().toFloatArray();
            for (int s = 0; s + 1 < cu.length; s++) {
                int t0 = cu[s], t1 = cu[s + 1], l = t1 - t0;
                float[] init = new float[dm * n];
                System.arraycopy(in.init(), s * dm * n, init, 0, dm * n);
                ScanSpec one = ScanSpec.dense(1, dm, n, p.groups(), l, "Dzsbi");
                ScanInputs part = new ScanInputs(one, DType.F32, columns(in.u(), dm, p.length(), t0, t1),
                        columns(in.delta(), dm, p.length(), t0, t1), in.a(), columns(in.b(), bcRows, p.length(), t0, t1),
                        columns(in.c(), bcRows, p.length(), t0, t1), in.dSkip(), columns(in.z(), dm, p.length(), t0, t1),
                        in.bias(), init);
                try (Scope ss = Scope.open()) {
                    ScanOutput o = ss.track(ScanInputs.run(one, part.upload(dev, ss)));
                    assertArrayEquals(o.y().toFloatArray(), columns(y, dm, p.length(), t0, t1), "sequence " + s + " y");
                    float[] lastS = new float[dm * n];
                    System.arraycopy(last, s * dm * n, lastS, 0, dm * n);
                    assertArrayEquals(o.lastState().toFloatArray(), lastS, "sequence " + s + " lastState");
                }
            }
        }
    }

    @Test
    void emptyLengthKeepsTheInitialState() {
        ScanSpec p = ScanSpec.dense(2, 3, 16, 0, 0, "Dzsbi");
        ScanInputs in = ScanInputs.of(p, DType.F32, SEED + 400);
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            ScanOutput o = sc.track(ScanInputs.run(p, in.upload(dev, sc)));
            assertEquals(0, o.y().numel());
            assertArrayEquals(in.init(), o.lastState().toFloatArray());
            ScanSpec q = ScanSpec.dense(2, 3, 16, 0, 0, "D");
            ScanOutput z = sc.track(ScanInputs.run(q, ScanInputs.of(q, DType.F32, SEED).upload(dev, sc)));
            assertArrayEquals(new float[2 * 3 * 16], z.lastState().toFloatArray());
        }
    }

    // ---- validation ----------------------------------------------------------------------------------

    private static void assertRejects(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::execute);
        assertTrue(e.getMessage().contains(fragment), () -> "message '" + e.getMessage() + "' lacks '" + fragment + "'");
    }

    @FunctionalInterface
    private interface Executable {
        void execute() throws Throwable;
    }

    @Test
    void validationNamesTheArgument() {
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            Tensor u = sc.track(dev.upload(DType.F32, ParityMath.random(1, 2 * 4 * 5, 1f, DType.F32), 2, 4, 5));
            Tensor a = sc.track(dev.upload(DType.F32, ParityMath.random(2, 4 * 8, 1f, DType.F32), 4, 8));
            Tensor b = sc.track(dev.upload(DType.F32, ParityMath.random(3, 2 * 8 * 5, 1f, DType.F32), 2, 8, 5));
            Tensor d = sc.track(dev.upload(DType.F32, ParityMath.random(4, 4, 1f, DType.F32), 4));
            Tensor uBf = sc.track(u.to(DType.BF16));
            Tensor big = sc.track(dev.zeros(DType.F32, 4, 300));
            Tensor b3 = sc.track(dev.zeros(DType.F32, 2, 3, 8, 5));
            Tensor b4 = sc.track(dev.zeros(DType.F32, 2, 2, 8, 5));
            Tensor badInit = sc.track(dev.zeros(DType.F32, 2, 4, 7));
            Tensor short4 = sc.track(dev.zeros(DType.F32, 2, 4, 4));
            assertRejects("selectiveScan: u is null", () -> SelectiveScan.selectiveScan(null, u, a, b, b, null, null, null, true, null));
            assertRejects("delta has shape [2, 4, 4]", () -> SelectiveScan.selectiveScan(u, short4, a, b, b, null, null, null, true, null));
            assertRejects("delta has dtype BF16 but u has F32", () -> SelectiveScan.selectiveScan(u, uBf, a, b, b, null, null, null, true, null));
            assertRejects("A's N (dim 1) is 300; N must be in [1, 256]", () -> SelectiveScan.selectiveScan(u, u, big, b, b, null, null, null, true, null));
            assertRejects("A has dtype BF16; it must be F32", () -> SelectiveScan.selectiveScan(u, u, sc.track(a.to(DType.BF16)), b, b, null, null, null, true, null));
            assertRejects("B's groups G (dim 1) is 3; it must divide Dm = 4", () -> SelectiveScan.selectiveScan(u, u, a, b3, b3, null, null, null, true, null));
            assertRejects("C has shape [2, 2, 8, 5] but B has [2, 8, 5]", () -> SelectiveScan.selectiveScan(u, u, a, b, b4, null, null, null, true, null));
            assertRejects("initialState has shape [2, 4, 7]", () -> SelectiveScan.selectiveScan(u, u, a, b, b, null, null, null, true, badInit));
            assertRejects("D must have rank 1 [Dm], got shape [2, 4, 7]", () -> SelectiveScan.selectiveScan(u, u, a, b, b, badInit, null, null, true, null));
            assertRejects("deltaBias has dtype BF16", () -> SelectiveScan.selectiveScan(u, u, a, b, b, null, null, sc.track(d.to(DType.BF16)), true, null));
            assertRejects("z has shape [2, 4, 4]", () -> SelectiveScan.selectiveScan(u, u, a, b, b, d, short4, null, true, null));
            assertRejects("packed along L with Bt = 1, but u's Bt (dim 0) is 2",
                    () -> SelectiveScan.selectiveScanVarlen(u, u, a, b, b, null, null, null, true, null, new int[] {0, 5}));
            Tensor u1 = sc.track(u.reshape(1, 4, 10));
            Tensor b1 = sc.track(dev.zeros(DType.F32, 1, 8, 10));
            assertRejects("sum to cuSeqlens[2] = 9 but u's L (dim 2) is 10",
                    () -> SelectiveScan.selectiveScanVarlen(u1, u1, a, b1, b1, null, null, null, true, null, new int[] {0, 4, 9}));
            assertRejects("cuSeqlens must be non-decreasing",
                    () -> SelectiveScan.selectiveScanVarlen(u1, u1, a, b1, b1, null, null, null, true, null, new int[] {0, 6, 4, 10}));
            assertRejects("cuSeqlens[0] must be 0",
                    () -> SelectiveScan.selectiveScanVarlen(u1, u1, a, b1, b1, null, null, null, true, null, new int[] {1, 10}));
            assertRejects("initialState has shape [2, 4, 8] but must be [nseq, Dm, N] = [3, 4, 8]",
                    () -> SelectiveScan.selectiveScanVarlen(u1, u1, a, b1, b1, null, null, null, true,
                            sc.track(dev.zeros(DType.F32, 2, 4, 8)), new int[] {0, 4, 9, 10}));
            // the decode step
            Tensor x = sc.track(dev.zeros(DType.F32, 2, 4));
            Tensor bt = sc.track(dev.zeros(DType.F32, 2, 8));
            Tensor state = sc.track(dev.zeros(DType.F32, 2, 4, 8));
            assertRejects("selectiveStateUpdate: state has shape [2, 4, 7] but must be [Bt, Dm, N] = [2, 4, 8]",
                    () -> SelectiveScan.selectiveStateUpdate(badInit, x, x, a, bt, bt, null, null, null, true));
            assertRejects("state has dtype BF16; it must be F32",
                    () -> SelectiveScan.selectiveStateUpdate(sc.track(state.to(DType.BF16)), x, x, a, bt, bt, null, null, null, true));
            assertRejects("B must be [Bt, N] or grouped [Bt, G, N]",
                    () -> SelectiveScan.selectiveStateUpdate(state, x, x, a, b3, bt, null, null, null, true));
            assertRejects("dt has shape [2, 8]",
                    () -> SelectiveScan.selectiveStateUpdate(state, x, bt, a, bt, bt, null, null, null, true));
            Tensor closed = dev.zeros(DType.F32, 2, 4);
            closed.close();
            assertRejects("x (F32[2, 4]@cpu) is closed",
                    () -> SelectiveScan.selectiveStateUpdate(state, closed, x, a, bt, bt, null, null, null, true));
        }
    }
}
