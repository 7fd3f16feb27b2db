package dev.surpass.model.dit;

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
 * Parity cases of the DiT ops ({@link DiTOps}) against {@link ReferenceDiTOps}: every op × F32/F16/BF16
 * × awkward shapes (a single token, D = 13 and 65, DiT-S/XL widths 384 and 1152, non-square and
 * p = 1, 4, 8 patch grids). Modulate's inputs sit on a large common offset (1000 ± 1 in F32) to catch
 * cancellation in the statistics, and read their shift and scale from chunks of a 6-way adaLN output;
 * patchify and unpatchify are copies and must be exact (tolerance 0).
 */
public final class DiTParity {
    private DiTParity() {}

    private static final DType[] DTYPES = {DType.F32, DType.F16, DType.BF16};
    /** [N, T, D] of modulate and gate_residual. */
    private static final int[][] TOKENS = {{1, 1, 13}, {2, 13, 65}, {3, 16, 384}, {2, 64, 1152}};
    /** [N, C, H, W, p] of patchify and unpatchify. */
    private static final int[][] IMAGES = {{1, 1, 3, 5, 1}, {2, 4, 8, 8, 2}, {3, 3, 12, 8, 4}, {2, 8, 16, 32, 8}, {1, 4, 32, 32, 2}};

    public static List<ParityCase> cases() {
        List<ParityCase> cases = new ArrayList<>();
        for (DType dt : DTYPES) {
            for (int[] s : TOKENS) {
                String sh = Shapes.toString(new long[] {s[0], s[1], s[2]});
                cases.add(ParityCases.of("dit_modulate", sh + " mod[N,6D] chunks 3,4", dt, (d, seed, t) -> modulate(d, seed, t, s)));
                cases.add(ParityCases.of("dit_gate_residual", sh + " mod[N,6D] chunk 5", dt, (d, seed, t) -> gateResidual(d, seed, t, s)));
            }
            for (int[] s : IMAGES) {
                String sh = Shapes.toString(new long[] {s[0], s[1], s[2], s[3]}) + " p" + s[4];
                cases.add(ParityCases.of("dit_patchify", sh, dt, (d, seed, t) -> patchify(d, seed, t, s)));
                cases.add(ParityCases.of("dit_unpatchify", sh, dt, (d, seed, t) -> unpatchify(d, seed, t, s)));
            }
        }
        return cases;
    }

    private static ParityResult modulate(Device d, long seed, DType t, int[] s) {
        int n = s[0], tk = s[1], dim = s[2];
        float off = t == DType.F32 ? 1000f : 10f;
        float[] x = ParityMath.random(seed, n * tk * dim, 1f, t);
        for (int i = 0; i < x.length; i++) x[i] = t.round(x[i] + off);
        float[] mod = ParityMath.random(seed + 1, n * 6 * dim, 1f, t);
        double[] ref = ReferenceDiTOps.modulate(x, mod, n, tk, dim, 6 * dim, 3, 4, 1e-6);
        try (Scope sc = Scope.open()) {
            Tensor xt = sc.track(d.upload(t, x, n, tk, dim)), mt = sc.track(d.upload(t, mod, n, 6L * dim));
            Tensor out = sc.track(DiTOps.modulate(xt, mt, 3, 4, 1e-6f));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static ParityResult gateResidual(Device d, long seed, DType t, int[] s) {
        int n = s[0], tk = s[1], dim = s[2];
        float[] x = ParityMath.random(seed, n * tk * dim, 2f, t);
        float[] y = ParityMath.random(seed + 1, n * tk * dim, 2f, t);
        float[] mod = ParityMath.random(seed + 2, n * 6 * dim, 1f, t);
        double[] ref = ReferenceDiTOps.gateResidual(x, y, mod, n, tk, dim, 6 * dim, 5);
        try (Scope sc = Scope.open()) {
            Tensor xt = sc.track(d.upload(t, x, n, tk, dim)), yt = sc.track(d.upload(t, y, n, tk, dim));
            Tensor mt = sc.track(d.upload(t, mod, n, 6L * dim));
            Tensor out = sc.track(DiTOps.gateResidual(xt, yt, mt, 5));
            return ParityMath.compare(out.toFloatArray(), ref, ParityMath.tolerance(t));
        }
    }

    private static ParityResult patchify(Device d, long seed, DType t, int[] s) {
        int n = s[0], c = s[1], h = s[2], w = s[3], p = s[4];
        float[] x = ParityMath.random(seed, n * c * h * w, 3f, t);
        double[] ref = ReferenceDiTOps.patchify(x, n, c, h, w, p);
        try (Scope sc = Scope.open()) {
            Tensor out = sc.track(DiTOps.patchify(sc.track(d.upload(t, x, n, c, h, w)), p));
            return ParityMath.compare(out.toFloatArray(), ref, 0);
        }
    }

    private static ParityResult unpatchify(Device d, long seed, DType t, int[] s) {
        int n = s[0], c = s[1], h = s[2], w = s[3], p = s[4];
        long tokens = (long) (h / p) * (w / p);
        float[] x = ParityMath.random(seed, (int) (n * tokens * p * p * c), 3f, t);
        double[] ref = ReferenceDiTOps.unpatchify(x, n, c, h, w, p);
        try (Scope sc = Scope.open()) {
            Tensor out = sc.track(DiTOps.unpatchify(sc.track(d.upload(t, x, n, tokens, (long) p * p * c)), p, c, h, w));
            return ParityMath.compare(out.toFloatArray(), ref, 0);
        }
    }
}
