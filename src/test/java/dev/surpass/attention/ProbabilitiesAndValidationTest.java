package dev.surpass.attention;

import static dev.surpass.attention.AttnFixture.SEED;
import static dev.surpass.attention.AttnFixture.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.parity.ParityMath;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Attention maps from the saved LSE, and the argument checks of every public entry. */
class ProbabilitiesAndValidationTest {
    Device dev;

    @BeforeEach
    void open() {
        dev = Device.cpu();
    }

    @AfterEach
    void close() {
        assertEquals(0, dev.liveAllocations(), "leaked tensors");
        dev.close();
    }

    @Test
    void probabilitiesFromLseSumToOneAndMatchReference() {
        int b = 2, nq = 70, nk = 66, hq = 4, hkv = 1, d = 32;
        int[] heads = {3, 0, 3}, rows = {0, 3, 4, 69, 35};
        for (AttentionOptions o : new AttentionOptions[] {AttentionOptions.causal(), AttentionOptions.defaults().window(2, 7).softcap(3f),
                AttentionOptions.causal().alibi(Alibi.slopes(hq)), AttentionOptions.defaults().softcap(3f).alibi(new float[] {0.9f, 0.01f, 0.3f, 2f})}) {
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                float[][] x = AttentionParity.qkv(SEED + 70, t, b * nq * hq * d, b * nk * hkv * d);
                try (Scope sc = Scope.open()) {
                    Tensor q = sc.track(dev.upload(t, x[0], b, nq, hq, d));
                    Tensor k = sc.track(dev.upload(t, x[1], b, nk, hkv, d));
                    Tensor v = sc.track(dev.upload(t, x[2], b, nk, hkv, d));
                    AttentionOutput fwd = sc.track(Attention.prefillWithLse(q, k, v, o));
                    float[] p = sc.track(Attention.attentionProbabilities(q, k, fwd.lse(), heads, rows, o)).toFloatArray();
                    double[] ref = ReferenceAttention.probabilities(x[0], x[1], b, nq, nk, hq, hkv, d, heads, rows, o);
                    assertClose(p, ref, 1e-5, t + " " + o + " probabilities");
                    for (int r = 0; r < b * heads.length * rows.length; r++) {
                        int i = rows[r % rows.length];
                        double sum = 0;
                        for (int j = 0; j < nk; j++) {
                            float pj = p[r * nk + j];
                            if (!ReferenceAttention.visible(i, j, nq, nk, o)) assertEquals(0f, pj, "masked entry " + j + " of row " + i);
                            sum += pj;
                        }
                        boolean empty = o.keyLo(i, nq, nk) > o.keyHi(i, nq, nk);
                        assertEquals(empty ? 0 : 1, sum, 1e-5, t + " " + o + " row " + i + " sums to " + sum);
                    }
                }
            }
        }
    }

    // ---- validation -------------------------------------------------------------------------------

    private static void bad(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, fragment);
        assertTrue(e.getMessage().contains(fragment), () -> "message \"" + e.getMessage() + "\" lacks \"" + fragment + "\"");
    }

    private Tensor t(Scope sc, DType dt, long... shape) {
        int n = 1;
        for (long s : shape) n *= (int) s;
        return sc.track(dev.upload(dt, ParityMath.random(SEED, Math.max(n, 0), 1f, dt), shape));
    }

    @Test
    void prefillRejectsBadInputs() {
        AttentionOptions o = AttentionOptions.defaults();
        DType f = DType.F32;
        try (Scope sc = Scope.open()) {
            Tensor q = t(sc, f, 2, 5, 4, 64), k = t(sc, f, 2, 6, 2, 64), v = t(sc, f, 2, 6, 2, 64);
            bad("prefill: q is null", () -> Attention.prefill(null, k, v, o));
            bad("q must have rank 4", () -> Attention.prefill(t(sc, f, 5, 4, 64), k, v, o));
            bad("unsupported head dim 100: supported 32, 64, 72, 80, 96, 128, 256",
                    () -> Attention.prefill(t(sc, f, 1, 2, 2, 100), t(sc, f, 1, 2, 2, 100), t(sc, f, 1, 2, 2, 100), o));
            bad("k's head dim (dim 3) is 32", () -> Attention.prefill(q, t(sc, f, 2, 6, 2, 32), t(sc, f, 2, 6, 2, 32), o));
            bad("v has shape [2, 7, 2, 64] but k has [2, 6, 2, 64]", () -> Attention.prefill(q, k, t(sc, f, 2, 7, 2, 64), o));
            bad("k's batch (dim 0) is 1", () -> Attention.prefill(q, t(sc, f, 1, 6, 2, 64), t(sc, f, 1, 6, 2, 64), o));
            bad("q's heads (q's dim 2) = 4 is not a multiple of k's heads (k's dim 2) = 3",
                    () -> Attention.prefill(q, t(sc, f, 2, 6, 3, 64), t(sc, f, 2, 6, 3, 64), o));
            bad("k has dtype BF16 but q has F32", () -> Attention.prefill(q, t(sc, DType.BF16, 2, 6, 2, 64), v, o));
            bad("prefill: opts has 2 alibi slopes but q has 4 heads (q's dim 2)",
                    () -> Attention.prefill(q, k, v, o.alibi(new float[] {1f, 2f})));
            bad("prefillVarlen: opts has 3 alibi slopes but q has 4 heads (q's dim 1)", () -> Attention.prefillVarlen(t(sc, f, 5, 4, 64),
                    t(sc, f, 6, 2, 64), t(sc, f, 6, 2, 64), new int[] {0, 5}, new int[] {0, 6}, o.alibi(new float[] {1f, 2f, 3f})));
            bad("attentionProbabilities: opts has 1 alibi slopes but q has 4 heads", () -> Attention.attentionProbabilities(q, k,
                    t(sc, f, 2, 4, 5), new int[] {0}, new int[] {0}, o.alibi(new float[] {1f})));
        }
        try (Scope sc = Scope.open()) {
            Tensor q = t(sc, f, 2, 5, 4, 64), k = t(sc, f, 2, 6, 2, 64), v = t(sc, f, 2, 6, 2, 64);
            bad("opts is null", () -> Attention.prefill(q, k, v, null));
            bad("has dtype I32", () -> Attention.prefill(sc.track(dev.upload(new int[] {1}, 1, 1, 1, 1)), k, v, o));
            Tensor closed = t(sc, f, 2, 5, 4, 64);
            closed.close();
            bad("is closed", () -> Attention.prefill(closed, k, v, o));
        }
    }

    @Test
    void optionsRejectBadValues() {
        bad("window left must be >= -1", () -> AttentionOptions.defaults().window(-2, 0));
        bad("window right must be >= -1", () -> AttentionOptions.defaults().window(0, -5));
        bad("scale must be finite and positive", () -> AttentionOptions.defaults().scale(0f));
        bad("scale must be finite and positive", () -> AttentionOptions.defaults().scale(Float.NaN));
        bad("scale must be finite and positive", () -> AttentionOptions.defaults().scale(Float.POSITIVE_INFINITY));
        bad("softcap must be finite and >= 0", () -> AttentionOptions.defaults().softcap(-1f));
        bad("alibi slope 1 must be finite", () -> AttentionOptions.defaults().alibi(new float[] {1f, Float.NaN}));
        bad("alibi slopes are empty", () -> AttentionOptions.defaults().alibi(new float[0]));
        float[] slopes = {0.5f, 0.25f};
        AttentionOptions a = AttentionOptions.causal().alibi(slopes);
        slopes[0] = 9f; // copied: the caller's array does not change the options
        assertEquals(0.5f, a.alibiSlopes()[0]);
        assertEquals(a, AttentionOptions.causal().alibi(new float[] {0.5f, 0.25f}));
        assertTrue(!a.equals(AttentionOptions.causal()) && !a.alibi(null).hasAlibi());
        assertEquals(0.125f, AttentionOptions.defaults().scaleFor(64));
        assertEquals(AttentionOptions.causal(), AttentionOptions.defaults().causal(true));
    }

    @Test
    void varlenRejectsBadOffsets() {
        AttentionOptions o = AttentionOptions.causal();
        DType f = DType.F16;
        try (Scope sc = Scope.open()) {
            Tensor q = t(sc, f, 10, 2, 32), k = t(sc, f, 12, 1, 32), v = t(sc, f, 12, 1, 32);
            bad("cuSeqlensQ is null", () -> Attention.prefillVarlen(q, k, v, null, new int[] {0, 12}, o));
            bad("cuSeqlensQ[0] is 1", () -> Attention.prefillVarlen(q, k, v, new int[] {1, 10}, new int[] {0, 12}, o));
            bad("cuSeqlensQ[2] = 3 is less than cuSeqlensQ[1] = 5",
                    () -> Attention.prefillVarlen(q, k, v, new int[] {0, 5, 3, 10}, new int[] {0, 1, 2, 12}, o));
            bad("cuSeqlensK[1] = 11 but totalK (k's dim 0) is 12", () -> Attention.prefillVarlen(q, k, v, new int[] {0, 10}, new int[] {0, 11}, o));
            bad("cuSeqlensQ has 3 offsets but cuSeqlensK has 2",
                    () -> Attention.prefillVarlen(q, k, v, new int[] {0, 4, 10}, new int[] {0, 12}, o));
            bad("q must have rank 3", () -> Attention.prefillVarlen(t(sc, f, 1, 10, 2, 32), k, v, new int[] {0, 10}, new int[] {0, 12}, o));
            bad("q's heads (q's dim 1) = 2 is not a multiple of k's heads (k's dim 1) = 3",
                    () -> Attention.prefillVarlen(q, t(sc, f, 12, 3, 32), t(sc, f, 12, 3, 32), new int[] {0, 10}, new int[] {0, 12}, o));
        }
    }

    @Test
    void decodeAndCacheRejectBadInputs() {
        AttentionOptions o = AttentionOptions.defaults();
        DType f = DType.BF16;
        bad("unsupported head dim 100", () -> PagedKvCache.create(dev, f, 4, 4, 2, 100));
        bad("pageSize must be >= 1", () -> PagedKvCache.create(dev, f, 4, 0, 2, 64));
        bad("numPages must be >= 1", () -> PagedKvCache.create(dev, f, 0, 4, 2, 64));
        bad("dtype must be F32, F16 or BF16", () -> PagedKvCache.create(dev, DType.I32, 4, 4, 2, 64));
        try (Scope sc = Scope.open()) {
            PagedKvCache c = sc.track(PagedKvCache.create(dev, f, 8, 4, 2, 64));
            int a = c.newSequence(), b = c.newSequence();
            Tensor q = t(sc, f, 2, 4, 64);
            bad("seqIds has 1 ids but q's batch (dim 0) is 2", () -> Attention.decode(q, c, new int[] {a}, o));
            bad("seqIds[1] = 0 is repeated", () -> Attention.decode(q, c, new int[] {a, a}, o));
            bad("seqIds[1] = 77 is not a sequence of this cache", () -> Attention.decode(q, c, new int[] {a, 77}, o));
            bad("q has dtype F32 but the cache holds BF16", () -> Attention.decode(t(sc, DType.F32, 2, 4, 64), c, new int[] {a, b}, o));
            bad("q's head dim (dim 2) is 32 but the cache's is 64", () -> Attention.decode(t(sc, f, 2, 4, 32), c, new int[] {a, b}, o));
            bad("q's heads (q's dim 1) = 3 is not a multiple of k's heads (the cache's numKvHeads) = 2",
                    () -> Attention.decode(t(sc, f, 2, 3, 64), c, new int[] {a, b}, o));
            bad("cache is null", () -> Attention.decode(q, null, new int[] {a, b}, o));
            bad("decode: opts has 2 alibi slopes but q has 4 heads (q's dim 1)",
                    () -> Attention.decode(q, c, new int[] {a, b}, o.alibi(new float[] {1f, 2f})));
            bad("k has shape [2, 2, 32] but expected [2, 2, 64]", () -> c.append(new int[] {a, b}, t(sc, f, 2, 2, 32), t(sc, f, 2, 2, 32)));
            bad("k has dtype F16 but the cache holds BF16", () -> c.append(new int[] {a, b}, t(sc, DType.F16, 2, 2, 64), t(sc, f, 2, 2, 64)));
            bad("seqIds[1] = 0 is repeated", () -> c.append(new int[] {a, a}, t(sc, f, 2, 2, 64), t(sc, f, 2, 2, 64)));
            bad("unknown sequence id 9", () -> c.appendPrompt(9, t(sc, f, 1, 2, 64), t(sc, f, 1, 2, 64)));
            float[] empty = sc.track(Attention.decode(q, c, new int[] {a, b}, o)).toFloatArray(); // empty sequences: zeros
            for (float x : empty) assertEquals(0f, x);
        }
    }

    @Test
    void probabilitiesRejectBadIndices() {
        AttentionOptions o = AttentionOptions.defaults();
        try (Scope sc = Scope.open()) {
            Tensor q = t(sc, DType.F32, 1, 5, 2, 32), k = t(sc, DType.F32, 1, 6, 2, 32);
            Tensor lse = t(sc, DType.F32, 1, 2, 5);
            bad("heads[1] = 2 is out of range [0, 2)", () -> Attention.attentionProbabilities(q, k, lse, new int[] {0, 2}, new int[] {0}, o));
            bad("rows[0] = -1 is out of range [0, 5)", () -> Attention.attentionProbabilities(q, k, lse, new int[] {0}, new int[] {-1}, o));
            bad("lse has shape [1, 5, 2] but expected [1, 2, 5]",
                    () -> Attention.attentionProbabilities(q, k, t(sc, DType.F32, 1, 5, 2), new int[] {0}, new int[] {0}, o));
            bad("lse has dtype BF16; expected F32",
                    () -> Attention.attentionProbabilities(q, k, t(sc, DType.BF16, 1, 2, 5), new int[] {0}, new int[] {0}, o));
            bad("heads is null", () -> Attention.attentionProbabilities(q, k, lse, null, new int[] {0}, o));
        }
    }
}
