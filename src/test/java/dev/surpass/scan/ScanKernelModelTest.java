package dev.surpass.scan;

import static dev.surpass.scan.ScanFixture.SEED;
import static dev.surpass.scan.ScanFixture.assertClose;

import dev.surpass.DType;
import dev.surpass.parity.ParityMath;
import dev.surpass.scan.ScanParity.ScanInputs;
import dev.surpass.scan.ScanParity.ScanSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A lock-step Java model of {@code kernels/mamba/selective_scan.cu}'s block algorithm — 128 threads
 * of 8 tokens per 1024-token chunk, thread aggregates, the Hillis–Steele warp scan with
 * {@code shfl_up}, warp totals, the exclusive prefix, identity padding and the state carried by the
 * last thread — checked against the float64 reference on this machine, so that the scan's
 * composition order and chunk hand-over are verified before a GPU runs the real kernel. It mirrors
 * the kernel statement by statement (fp32, exp2 with A·log2 e).
 */
class ScanKernelModelTest {
    private static final int THREADS = 128, ITEMS = 8, CHUNK = THREADS * ITEMS, WARPS = THREADS / 32;
    private static final float LOG2E = 1.4426950408889634f;

    /** One block: sequence s, channel d; writes y and last like the kernel. */
    private static void block(ScanInputs in, int s, int d, float[] y, float[] last) {
        ScanSpec p = in.spec();
        ScanDims dims = new ScanDims(p.bt(), p.dm(), p.n(), p.g(), p.length(), p.cu());
        int n = p.n(), L = p.length(), bb = dims.batchOf(s), tBegin = dims.start(s), tEnd = dims.end(s);
        int g = dims.groupOf(d);
        long row = ((long) bb * p.dm() + d) * L, bcRow = ((long) bb * p.g() + g) * n, st = ((long) s * p.dm() + d) * n;
        float[][] hbuf = new float[2][n];
        for (int k = 0; k < n; k++) hbuf[0][k] = in.init() == null ? 0f : in.init()[(int) (st + k)];
        float bias = in.bias() == null ? 0f : in.bias()[d], dskip = in.dSkip() == null ? 0f : in.dSkip()[d];
        int cur = 0;
        for (int c0 = tBegin; c0 < tEnd; c0 += CHUNK) {
            float[][] uv = new float[THREADS][ITEMS], dt = new float[THREADS][ITEMS], yv = new float[THREADS][ITEMS];
            int[] valid = new int[THREADS];
            for (int th = 0; th < THREADS; th++) {
                int t0 = c0 + th * ITEMS;
                valid[th] = Math.max(0, Math.min(ITEMS, tEnd - t0));
                for (int i = 0; i < ITEMS; i++) {
                    uv[th][i] = i < valid[th] ? in.u()[(int) (row + t0 + i)] : 0f;
                    float v = (i < valid[th] ? in.delta()[(int) (row + t0 + i)] : 0f) + bias;
                    if (p.softplus() && v <= 20f) v = (float) Math.log1p(Math.exp(v));
                    dt[th][i] = v;
                }
            }
            for (int k = 0; k < n; k++) {
                float a2 = in.a()[d * n + k] * LOG2E;
                float[][] pa = new float[THREADS][ITEMS], pb = new float[THREADS][ITEMS], cv = new float[THREADS][ITEMS];
                float[] incA = new float[THREADS], incB = new float[THREADS];
                for (int th = 0; th < THREADS; th++) {
                    int t0 = c0 + th * ITEMS;
                    for (int i = 0; i < ITEMS; i++) {
                        boolean ok = i < valid[th];
                        float bv = ok ? in.b()[(int) ((bcRow + k) * L + t0 + i)] : 0f;
                        cv[th][i] = ok ? in.c()[(int) ((bcRow + k) * L + t0 + i)] : 0f;
                        pa[th][i] = ok ? (float) Math.pow(2, dt[th][i] * a2) : 1f;
                        pb[th][i] = ok ? dt[th][i] * uv[th][i] * bv : 0f;
                    }
                    float ia = pa[th][0], ib = pb[th][0];
                    for (int i = 1; i < ITEMS; i++) { // compose(inc, p[i])
                        ib = Math.fma(pa[th][i], ib, pb[th][i]);
                        ia = pa[th][i] * ia;
                    }
                    incA[th] = ia;
                    incB[th] = ib;
                }
                // Warp scan: every lane reads its neighbour's value from before this step (shfl_up).
                for (int off = 1; off < 32; off <<= 1) {
                    float[] oa = incA.clone(), ob = incB.clone();
                    for (int th = 0; th < THREADS; th++) {
                        int lane = th & 31;
                        if (lane >= off) { // compose(prev, inc)
                            incA[th] = oa[th] * oa[th - off];
                            incB[th] = Math.fma(oa[th], ob[th - off], ob[th]);
                        }
                    }
                }
                float[] wa = new float[WARPS], wb = new float[WARPS];
                for (int w = 0; w < WARPS; w++) {
                    wa[w] = incA[w * 32 + 31];
                    wb[w] = incB[w * 32 + 31];
                }
                for (int th = 0; th < THREADS; th++) {
                    int lane = th & 31, warp = th >> 5;
                    float ea = lane == 0 ? 1f : incA[th - 1], eb = lane == 0 ? 0f : incB[th - 1];
                    float h = hbuf[cur][k];
                    for (int w = 0; w < warp; w++) h = Math.fma(wa[w], h, wb[w]);
                    h = Math.fma(ea, h, eb);
                    for (int i = 0; i < ITEMS; i++) {
                        h = Math.fma(pa[th][i], h, pb[th][i]);
                        yv[th][i] = Math.fma(h, cv[th][i], yv[th][i]);
                    }
                    if (th == THREADS - 1) hbuf[cur ^ 1][k] = h;
                }
            }
            for (int th = 0; th < THREADS; th++) {
                int t0 = c0 + th * ITEMS;
                for (int i = 0; i < valid[th]; i++) {
                    float v = Math.fma(dskip, uv[th][i], yv[th][i]);
                    if (in.z() != null) {
                        float zv = in.z()[(int) (row + t0 + i)];
                        v *= zv / (1f + (float) Math.exp(-zv));
                    }
                    y[(int) (row + t0 + i)] = v;
                }
            }
            cur ^= 1;
        }
        for (int k = 0; k < n; k++) last[(int) (st + k)] = hbuf[cur][k];
    }

    @Test
    void blockScanModelMatchesReference() {
        List<ScanSpec> specs = List.of(
                ScanSpec.dense(1, 2, 4, 0, 1, "Dzsbi"),
                ScanSpec.dense(1, 2, 3, 0, 65, "Dzsbi"),
                ScanSpec.dense(2, 2, 2, 2, 1024, "Dsi"),
                ScanSpec.dense(1, 1, 3, 0, 2049, "zsbi"),
                ScanSpec.varlen(2, 2, 0, new int[] {0, 0, 1030, 1031, 1100}, "Dzsbi"));
        for (int i = 0; i < specs.size(); i++) {
            ScanSpec p = specs.get(i);
            long seed = SEED + 1200 + i;
            ScanInputs in = ScanInputs.of(p, DType.F32, seed);
            ReferenceSelectiveScan.Result ref = in.reference();
            float[] y = new float[p.bt() * p.dm() * p.length()], last = new float[p.sequences() * p.dm() * p.n()];
            java.util.Arrays.fill(y, Float.NaN);
            for (int s = 0; s < p.sequences(); s++) {
                for (int d = 0; d < p.dm(); d++) block(in, s, d, y, last);
            }
            ScanFixture.assertNoNaN(y, p.label(), seed);
            assertClose(y, ref.y(), ParityMath.tolerance(DType.F32), p.label() + " y", seed);
            assertClose(last, ref.lastState(), ScanParity.STATE_TOLERANCE, p.label() + " lastState", seed);
        }
    }
}
