package dev.surpass.model.dit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityTests;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The DiT ops on the CPU: every {@link DiTParity} case against the float64 reference, the
 * patchify/unpatchify round trip through the two feature orders, a modulate with zero shift and
 * scale being plain LayerNorm, and argument checks.
 */
class DiTOpsTest {
    static final long SEED = ParityTests.SEED + 0xD1;

    @TestFactory
    Stream<DynamicTest> parityCpu() {
        return ParityTests.dynamicTests(DiTParity.cases(), SEED, Device::cpu);
    }

    @Test
    void patchifyUnpatchifyRoundTrip() {
        int n = 2, c = 3, h = 12, w = 8, p = 4;
        float[] x = DiTFixture.randomLatents(5, n * c * h * w);
        try (Device cpu = Device.cpu(); Tensor xt = cpu.upload(DType.F32, x, n, c, h, w); Tensor pt = DiTOps.patchify(xt, p)) {
            assertArrayEquals(new long[] {n, (h / p) * (w / p), c * p * p}, pt.shape());
            // (C, ph, pw) → (ph, pw, C): what the final layer's feature order is.
            float[] v = pt.toFloatArray(), perm = new float[v.length];
            int tokens = (h / p) * (w / p), f = c * p * p;
            for (int r = 0; r < n * tokens; r++)
                for (int ch = 0; ch < c; ch++)
                    for (int q = 0; q < p * p; q++) perm[r * f + q * c + ch] = v[r * f + ch * p * p + q];
            try (Tensor pp = cpu.upload(DType.F32, perm, n, tokens, f); Tensor back = DiTOps.unpatchify(pp, p, c, h, w)) {
                assertArrayEquals(x, back.toFloatArray());
            }
            // One channel: both orders agree, so unpatchify inverts patchify directly.
            try (Tensor x1 = cpu.upload(DType.BF16, x, n * c, 1, h, w); Tensor p1 = DiTOps.patchify(x1, 2);
                 Tensor b1 = DiTOps.unpatchify(p1, 2, 1, h, w)) {
                assertArrayEquals(x1.toFloatArray(), b1.toFloatArray());
            }
        }
    }

    @Test
    void modulateWithZeroModulationIsLayerNorm() {
        int d = 65;
        float[] x = DiTFixture.randomLatents(7, 3 * d);
        try (Device cpu = Device.cpu(); Tensor xt = cpu.upload(DType.F32, x, 1, 3, d); Tensor mod = cpu.zeros(DType.F32, 1, 2L * d);
             Tensor out = DiTOps.modulate(xt, mod, 0, 1, 1e-6f)) {
            float[] o = out.toFloatArray();
            for (int r = 0; r < 3; r++) {
                double mean = 0, var = 0;
                for (int c = 0; c < d; c++) mean += x[r * d + c];
                mean /= d;
                for (int c = 0; c < d; c++) var += (x[r * d + c] - mean) * (x[r * d + c] - mean);
                var /= d;
                for (int c = 0; c < d; c++) assertEquals((x[r * d + c] - mean) / Math.sqrt(var + 1e-6), o[r * d + c], 2e-6);
            }
        }
    }

    @Test
    void argumentsAreChecked() {
        try (Device cpu = Device.cpu();
             Tensor x = cpu.upload(DType.F32, DiTFixture.randomLatents(1, 2 * 3 * 8), 2, 3, 8);
             Tensor mod = cpu.upload(DType.F32, DiTFixture.randomLatents(2, 2 * 48), 2, 48);
             Tensor mod16 = cpu.upload(DType.F16, DiTFixture.randomLatents(2, 2 * 48), 2, 48);
             Tensor bad = cpu.upload(DType.F32, DiTFixture.randomLatents(2, 2 * 20), 2, 20);
             Tensor img = cpu.upload(DType.F32, DiTFixture.randomLatents(3, 4 * 6 * 6), 1, 4, 6, 6)) {
            assertMessage("shiftChunk = 6", () -> DiTOps.modulate(x, mod, 6, 1, 1e-6f));
            assertMessage("mod has shape [2, 20]", () -> DiTOps.modulate(x, bad, 0, 1, 1e-6f));
            assertMessage("mod has dtype F16", () -> DiTOps.gateResidual(x, x, mod16, 2));
            assertMessage("eps", () -> DiTOps.modulate(x, mod, 0, 1, 0f));
            assertMessage("multiples of the patch size 4", () -> DiTOps.patchify(img, 4));
            assertMessage("needs 9", () -> DiTOps.unpatchify(x, 2, 2, 6, 6));
            assertMessage("x has shape", () -> DiTOps.patchify(x, 2));
            assertMessage("x is null", () -> DiTOps.gateResidual(null, x, mod, 2));
        }
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable e) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        assertTrue(ex.getMessage().contains(part), "message '" + ex.getMessage() + "' lacks '" + part + "'");
    }
}
