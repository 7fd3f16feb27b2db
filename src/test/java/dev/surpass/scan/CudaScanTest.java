package dev.surpass.scan;

import static dev.surpass.scan.ScanFixture.SEED;
import static dev.surpass.scan.ScanFixture.assertClose;
import static dev.surpass.scan.ScanFixture.assertNoNaN;
import static dev.surpass.scan.ScanFixture.column;
import static dev.surpass.scan.ScanFixture.poisoned;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import dev.surpass.scan.ScanParity.ConvSpec;
import dev.surpass.scan.ScanParity.ScanInputs;
import dev.surpass.scan.ScanParity.ScanSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * The mamba CUDA kernels against the float64 references, outputs poisoned with NaN before each
 * launch: the scan over one and several 1024-token chunks, lengths that are and are not multiples of
 * the 16-byte packs, N up to 256, grouped B/C, varlen with empty sequences, initial states; the
 * decode step (in place, and token by token against the GPU scan); the conv and its update. Each
 * case is its own dynamic test and skips visibly without a GPU. Replay with -Dsurpass.seed=N;
 * -Dsurpass.cuda.sync=true (on by default with -ea) reports a kernel fault at its launch.
 */
@Tag("gpu")
class CudaScanTest {
    private static final DType[] DTYPES = {DType.F32, DType.F16, DType.BF16};

    private static void assumeGpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
    }

    private static List<ScanSpec> scans() {
        List<ScanSpec> s = new ArrayList<>(ScanParity.scans());
        s.add(ScanSpec.dense(1, 2, 16, 0, 1024, "Dzsbi"));      // exactly one chunk
        s.add(ScanSpec.dense(1, 2, 16, 0, 1025, "Dzsbi"));      // one token into the second chunk
        s.add(ScanSpec.dense(2, 3, 16, 0, 4097, "Dsbi"));       // five chunks, unaligned rows
        s.add(ScanSpec.dense(2, 8, 16, 2, 2048, "Dzsb"));       // aligned rows: the 16-byte path
        s.add(ScanSpec.dense(1, 2, 256, 0, 70, "Dzsi"));        // the largest N
        s.add(ScanSpec.dense(1, 4, 17, 4, 1000, "zs"));          // odd N, one group per channel
        s.add(ScanSpec.dense(1, 3, 16, 0, 0, "Dzsbi"));          // no tokens: last = initial
        s.add(ScanSpec.varlen(4, 16, 2, new int[] {0, 0, 1030, 1031, 3000, 3000}, "Dzsbi"));
        return s;
    }

    @TestFactory
    Stream<DynamicTest> selectiveScan() {
        List<DynamicTest> tests = new ArrayList<>();
        List<ScanSpec> specs = scans();
        for (DType t : DTYPES) {
            for (int i = 0; i < specs.size(); i++) {
                ScanSpec p = specs.get(i);
                long seed = SEED + 800 + i;
                tests.add(DynamicTest.dynamicTest(p.label() + " " + t, () -> {
                    assumeGpu();
                    ScanInputs in = ScanInputs.of(p, t, seed);
                    ReferenceSelectiveScan.Result ref = in.reference();
                    try (Device dev = Device.cuda(0); Scope sc = Scope.open()) {
                        Tensor[] x = in.upload(dev, sc);
                        Tensor y = sc.track(poisoned(dev, t, p.bt(), p.dm(), p.length()));
                        Tensor last = sc.track(poisoned(dev, DType.F32, p.sequences(), p.dm(), p.n()));
                        ScanDims dims = new ScanDims(p.bt(), p.dm(), p.n(), p.g(), p.length(), p.cu());
                        CudaSelectiveScan.scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], p.softplus(), x[8], y, last, dims);
                        float[] yg = y.toFloatArray(), lg = last.toFloatArray();
                        assertNoNaN(yg, p.label() + " " + t + " y", seed);
                        assertNoNaN(lg, p.label() + " " + t + " lastState", seed);
                        assertClose(yg, ref.y(), ParityMath.tolerance(t), p.label() + " " + t + " y", seed);
                        assertClose(lg, ref.lastState(), ScanParity.STATE_TOLERANCE, p.label() + " " + t + " lastState", seed);
                        // The entry on the GPU equals the CPU twin within the dtype tolerance too.
                        try (Device cpu = Device.cpu(); Scope cs = Scope.open()) {
                            ScanOutput c = cs.track(ScanInputs.run(p, in.upload(cpu, cs)));
                            assertClose(yg, c.y().toFloatArray(), ParityMath.tolerance(t), p.label() + " " + t + " GPU vs CPU", seed);
                        }
                    }
                }));
            }
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> stateUpdateTokenByTokenEqualsScan() {
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : DTYPES) {
            for (ScanSpec p : List.of(ScanSpec.dense(3, 8, 16, 2, 29, "Dzsbi"), ScanSpec.dense(2, 5, 1, 0, 7, "si"),
                    ScanSpec.dense(1, 70, 64, 0, 5, "Dz"), ScanSpec.dense(2, 4, 256, 4, 3, "Dzsbi"))) {
                long seed = SEED + 900 + p.n();
                tests.add(DynamicTest.dynamicTest(p.label() + " " + t, () -> {
                    assumeGpu();
                    tokenByToken(p, t, seed);
                }));
            }
        }
        return tests.stream();
    }

    private static void tokenByToken(ScanSpec p, DType t, long seed) {
        ScanInputs in = ScanInputs.of(p, t, seed);
        ReferenceSelectiveScan.Result ref = in.reference();
        int rows = p.bt() * p.dm(), bcRows = p.bt() * p.g() * p.n(), len = p.length();
        try (Device dev = Device.cuda(0); Scope sc = Scope.open()) {
            ScanOutput full = sc.track(ScanInputs.run(p, in.upload(dev, sc)));
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
                    Tensor out = st.track(poisoned(dev, t, p.bt(), p.dm()));
                    CudaSelectiveScan.stateUpdate(state, x, dt, a, b, c, d, z, bias, p.softplus(), out,
                            new ScanDims(p.bt(), p.dm(), p.n(), p.g(), 1, null));
                    float[] y = out.toFloatArray();
                    assertNoNaN(y, p.label() + " token " + tok, seed);
                    for (int r = 0; r < rows; r++) ySteps[r * len + tok] = y[r];
                }
            }
            assertClose(ySteps, ref.y(), ParityMath.tolerance(t), p.label() + " " + t + " steps vs reference", seed);
            assertClose(ySteps, full.y().toFloatArray(), ParityMath.tolerance(t), p.label() + " " + t + " steps vs scan", seed);
            assertClose(state.toFloatArray(), full.lastState().toFloatArray(), ScanParity.STATE_TOLERANCE,
                    p.label() + " " + t + " state vs scan", seed);
        }
    }

    @TestFactory
    Stream<DynamicTest> causalConv1d() {
        List<DynamicTest> tests = new ArrayList<>();
        List<ConvSpec> specs = new ArrayList<>(ScanParity.convs());
        specs.add(new ConvSpec(4, 33, 2049, 4, true, true, true));
        specs.add(new ConvSpec(1, 3, 0, 4, true, true, true));
        for (DType t : DTYPES) {
            for (int i = 0; i < specs.size(); i++) {
                ConvSpec c = specs.get(i);
                long seed = SEED + 1000 + i;
                tests.add(DynamicTest.dynamicTest(c.label() + " " + t, () -> {
                    assumeGpu();
                    float[][] in = ScanParity.convInputs(c, t, seed);
                    int rows = c.bt() * c.dm(), p = c.width() - 1;
                    ReferenceCausalConv1d.Result ref = ReferenceCausalConv1d.conv(in[0], in[1], in[2], c.silu(), in[3], rows, c.dm(),
                            c.length(), c.width());
                    try (Device dev = Device.cuda(0); Scope sc = Scope.open()) {
                        Tensor x = sc.track(dev.upload(t, in[0], c.bt(), c.dm(), c.length()));
                        Tensor w = sc.track(dev.upload(t, in[1], c.dm(), c.width()));
                        Tensor b = in[2] == null ? null : sc.track(dev.upload(t, in[2], c.dm()));
                        Tensor s = in[3] == null ? null : sc.track(dev.upload(DType.F32, in[3], c.bt(), c.dm(), p));
                        Tensor out = sc.track(poisoned(dev, t, c.bt(), c.dm(), c.length()));
                        Tensor fin = sc.track(poisoned(dev, DType.F32, c.bt(), c.dm(), p));
                        CudaCausalConv1d.conv(x, w, b, c.silu(), s, out, fin, rows, c.dm(), c.length(), c.width());
                        assertNoNaN(out.toFloatArray(), c.label() + " out", seed);
                        assertNoNaN(fin.toFloatArray(), c.label() + " final state", seed);
                        assertClose(out.toFloatArray(), ref.out(), ParityMath.tolerance(t), c.label() + " " + t, seed);
                        assertClose(fin.toFloatArray(), ref.finalState(), 0, c.label() + " " + t + " final state", seed);
                        // Decoding 3 more tokens from the final state equals the reference conv over the longer input.
                        Tensor state = fin;
                        for (int k = 0; k < 3; k++) {
                            float[] xk = ParityMath.random(seed + 50 + k, rows, 1f, t);
                            ReferenceCausalConv1d.Result step = ReferenceCausalConv1d.update(state.toFloatArray(), xk, in[1], in[2],
                                    c.silu(), rows, c.dm(), c.width());
                            Tensor o = sc.track(poisoned(dev, t, c.bt(), c.dm()));
                            CudaCausalConv1d.update(state, sc.track(dev.upload(t, xk, c.bt(), c.dm())), w, b, c.silu(), o, rows, c.dm(),
                                    c.width());
                            assertClose(o.toFloatArray(), step.out(), ParityMath.tolerance(t), c.label() + " update " + k, seed);
                            assertClose(state.toFloatArray(), step.finalState(), 0, c.label() + " update state " + k, seed);
                        }
                        assertEquals(c.bt() * c.dm() * p, state.numel());
                    }
                }));
            }
        }
        return tests.stream();
    }
}
