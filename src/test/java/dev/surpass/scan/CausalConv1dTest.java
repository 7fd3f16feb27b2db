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
import dev.surpass.scan.ScanParity.ConvSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The CPU causal conv1d beyond the parity cases: decoding token by token with {@link
 * CausalConv1d#update} equals the full conv (outputs and final state), a prompt split in two with
 * the state carried equals the whole, every element is written (poisoned outputs, slices longer than
 * one scratch), and the validation messages. Replay with -Dsurpass.seed=N.
 */
class CausalConv1dTest {
    @TestFactory
    Stream<DynamicTest> updateEqualsFullConv() {
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (int w = 1; w <= 4; w++) {
                ConvSpec c = new ConvSpec(2, 5, 23, w, w % 2 == 0, w != 3, w > 1);
                long seed = SEED + 500 + w;
                tests.add(DynamicTest.dynamicTest(c.label() + " " + t, () -> decode(c, t, seed)));
            }
        }
        return tests.stream();
    }

    private static void decode(ConvSpec c, DType t, long seed) {
        float[][] in = ScanParity.convInputs(c, t, seed);
        int rows = c.bt() * c.dm(), len = c.length(), p = c.width() - 1;
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            Tensor w = sc.track(dev.upload(t, in[1], c.dm(), c.width()));
            Tensor b = in[2] == null ? null : sc.track(dev.upload(t, in[2], c.dm()));
            Tensor init = in[3] == null ? null : sc.track(dev.upload(DType.F32, in[3], c.bt(), c.dm(), p));
            ConvOutput full = sc.track(CausalConv1d.causalConv1d(sc.track(dev.upload(t, in[0], c.bt(), c.dm(), len)), w, b,
                    c.silu(), init));
            // Prefill the first 5 tokens, then decode the rest one at a time from the carried state.
            int k = 5;
            ConvOutput head = sc.track(CausalConv1d.causalConv1d(sc.track(dev.upload(t, columns(in[0], rows, len, 0, k),
                    c.bt(), c.dm(), k)), w, b, c.silu(), init));
            Tensor state = head.finalState();
            float[] got = new float[rows * len];
            float[] h = head.out().toFloatArray();
            for (int r = 0; r < rows; r++) System.arraycopy(h, r * k, got, r * len, k);
            for (int tok = k; tok < len; tok++) {
                try (Scope st = Scope.open()) {
                    Tensor x = st.track(dev.upload(t, column(in[0], rows, len, tok), c.bt(), c.dm()));
                    float[] y = st.track(CausalConv1d.update(state, x, w, b, c.silu())).toFloatArray();
                    for (int r = 0; r < rows; r++) got[r * len + tok] = y[r];
                }
            }
            assertClose(got, full.out().toFloatArray(), t == DType.F32 ? 1e-6 : ParityMath.tolerance(t), c.label() + " " + t, seed);
            assertArrayEquals(full.finalState().toFloatArray(), state.toFloatArray(), c.label() + " final state");
        }
    }

    @Test
    void poisonedOutputsAreFullyWrittenAcrossSlices() {
        ConvSpec c = new ConvSpec(1, 3, VectorCausalConv1d.SLICE * 2 + 17, 4, true, true, true);
        long seed = SEED + 600;
        float[][] in = ScanParity.convInputs(c, DType.BF16, seed);
        int rows = c.bt() * c.dm();
        ReferenceCausalConv1d.Result ref = ReferenceCausalConv1d.conv(in[0], in[1], in[2], true, in[3], rows, c.dm(), c.length(), 4);
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            Tensor x = sc.track(dev.upload(DType.BF16, in[0], c.bt(), c.dm(), c.length()));
            Tensor w = sc.track(dev.upload(DType.BF16, in[1], c.dm(), 4));
            Tensor b = sc.track(dev.upload(DType.BF16, in[2], c.dm()));
            Tensor s = sc.track(dev.upload(DType.F32, in[3], c.bt(), c.dm(), 3));
            Tensor out = sc.track(poisoned(dev, DType.BF16, c.bt(), c.dm(), c.length()));
            Tensor fin = sc.track(poisoned(dev, DType.F32, c.bt(), c.dm(), 3));
            VectorCausalConv1d.conv(x, w, b, true, s, out, fin, rows, c.dm(), c.length(), 4);
            assertNoNaN(out.toFloatArray(), "out", seed);
            assertClose(out.toFloatArray(), ref.out(), ParityMath.tolerance(DType.BF16), "out", seed);
            assertClose(fin.toFloatArray(), ref.finalState(), 0, "final state", seed);
        }
    }

    @Test
    void splitPromptEqualsWhole() {
        ConvSpec c = new ConvSpec(2, 3, 40, 4, true, false, true);
        float[][] in = ScanParity.convInputs(c, DType.F32, SEED + 700);
        int rows = 6;
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            Tensor w = sc.track(dev.upload(DType.F32, in[1], 3, 4));
            Tensor b = sc.track(dev.upload(DType.F32, in[2], 3));
            Tensor s = sc.track(dev.upload(DType.F32, in[3], 2, 3, 3));
            ConvOutput whole = sc.track(CausalConv1d.causalConv1d(sc.track(dev.upload(DType.F32, in[0], 2, 3, 40)), w, b, false, s));
            // A first part shorter than W-1 keeps part of the initial state in its final state.
            for (int k : new int[] {0, 2, 17}) {
                ConvOutput a = sc.track(CausalConv1d.causalConv1d(sc.track(dev.upload(DType.F32, columns(in[0], rows, 40, 0, k), 2, 3, k)),
                        w, b, false, s));
                ConvOutput z = sc.track(CausalConv1d.causalConv1d(sc.track(dev.upload(DType.F32, columns(in[0], rows, 40, k, 40), 2, 3,
                        40 - k)), w, b, false, a.finalState()));
                float[] wo = whole.out().toFloatArray();
                assertArrayEquals(columns(wo, rows, 40, k, 40), z.out().toFloatArray(), "split at " + k);
                assertArrayEquals(whole.finalState().toFloatArray(), z.finalState().toFloatArray(), "final state, split at " + k);
            }
        }
    }

    @Test
    void validationNamesTheArgument() {
        try (Device dev = Device.cpu(); Scope sc = Scope.open()) {
            Tensor x = sc.track(dev.zeros(DType.F32, 2, 4, 9));
            Tensor w = sc.track(dev.zeros(DType.F32, 4, 4));
            Tensor w5 = sc.track(dev.zeros(DType.F32, 4, 5));
            Tensor w0 = sc.track(dev.zeros(DType.F32, 4, 0));
            Tensor x2 = sc.track(dev.zeros(DType.F32, 2, 4));
            check("causalConv1d: w's width W (dim 1) is 5; W must be in [1, 4]", () -> CausalConv1d.causalConv1d(x, w5, null, true, null));
            check("causalConv1d: w's width W (dim 1) is 0", () -> CausalConv1d.causalConv1d(x, w0, null, true, null));
            check("w's Dm (dim 0) is 2 but x's Dm (dim 1) is 4", () -> CausalConv1d.causalConv1d(x, sc.track(dev.zeros(DType.F32, 2, 4)), null, true, null));
            check("w has dtype BF16 but x has F32", () -> CausalConv1d.causalConv1d(x, sc.track(w.to(DType.BF16)), null, true, null));
            check("bias has shape [3]", () -> CausalConv1d.causalConv1d(x, w, sc.track(dev.zeros(DType.F32, 3)), true, null));
            check("initialConvState has shape [2, 4, 4] but must be [Bt, Dm, W-1] = [2, 4, 3]",
                    () -> CausalConv1d.causalConv1d(x, w, null, true, sc.track(dev.zeros(DType.F32, 2, 4, 4))));
            check("causalConv1dUpdate: convState has shape [2, 4, 4] but must be [Bt, Dm, W-1] = [2, 4, 3]",
                    () -> CausalConv1d.update(sc.track(dev.zeros(DType.F32, 2, 4, 4)), x2, w, null, true));
            check("causalConv1dUpdate: convState is null", () -> CausalConv1d.update(null, x2, w, null, true));
            check("convState has dtype BF16; it must be F32",
                    () -> CausalConv1d.update(sc.track(dev.zeros(DType.BF16, 2, 4, 3)), x2, w, null, true));
            check("causalConv1dUpdate: x must have rank 2 [Bt, Dm], got shape [2, 4, 9]",
                    () -> CausalConv1d.update(sc.track(dev.zeros(DType.F32, 2, 4, 3)), x, w, null, true));
            assertEquals(0, sc.track(CausalConv1d.causalConv1d(sc.track(dev.zeros(DType.F32, 2, 4, 0)), w, null, true, null)).out().numel());
        }
    }

    private interface Call {
        void run() throws Throwable;
    }

    private static void check(String fragment, Call call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains(fragment), () -> "message '" + e.getMessage() + "' lacks '" + fragment + "'");
    }
}
