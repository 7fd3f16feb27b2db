package dev.surpass.scan;

import dev.surpass.DType;
import dev.surpass.Tensor;

/**
 * Mamba-1's selective scan and its one-token decode step (mamba_ssm {@code selective_scan_fn} and
 * {@code selective_state_update}), run where the inputs live. Per channel d and token t:
 * <pre>
 * Δ   = delta[t] + deltaBias[d];   Δ = Δ ≤ 20 ? log1p(exp(Δ)) : Δ      (when softplus)
 * h_t = exp(Δ·A[d,n]) · h_{t-1} + Δ · B[g,n,t] · u[t]                    (h_{-1} = initialState or 0)
 * y_t = Σ_n h_t[n] · C[g,n,t] + D[d] · u[t];   y_t *= z_t · sigmoid(z_t)  (when z is given)
 * </pre>
 * with group {@code g = d / (Dm / G)}. A is the real {@code −exp(A_log)}, given as A. Inputs u,
 * delta, B, C, z share one dtype (F32, F16 or BF16); A, D, deltaBias and the states are F32; all
 * arithmetic is fp32 and y is rounded to the input dtype.
 *
 * <p>Errors: {@link IllegalArgumentException} naming the argument and dimension for a null or
 * closed tensor, a dtype or device mismatch, a shape that does not match (u's {@code [Bt, Dm, L]}
 * sets Bt, Dm, L and A's {@code [Dm, N]} sets N), N outside [1, 256], groups that do not divide Dm,
 * a state of the wrong shape, or cuSeqlens that are not offsets summing to L.
 *
 * <p>Thread rules: stateless; the outputs are new tensors owned by the caller, except the state
 * that {@link #selectiveStateUpdate} updates in place (one writer at a time).
 */
public final class SelectiveScan {
    private SelectiveScan() {}

    /**
     * The scan over {@code [Bt, Dm, L]}.
     *
     * @param u input {@code [Bt, Dm, L]}
     * @param delta step sizes {@code [Bt, Dm, L]} (before bias and softplus)
     * @param A {@code [Dm, N]} F32
     * @param B {@code [Bt, N, L]} or grouped {@code [Bt, G, N, L]}
     * @param C like B
     * @param D skip {@code [Dm]} F32, or null
     * @param z gate {@code [Bt, Dm, L]}, or null
     * @param deltaBias {@code [Dm]} F32, or null
     * @param softplus apply softplus to {@code delta + deltaBias}
     * @param initialState {@code [Bt, Dm, N]} F32, or null for zeros
     * @return y {@code [Bt, Dm, L]} and lastState {@code [Bt, Dm, N]} F32
     */
    public static ScanOutput selectiveScan(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor D, Tensor z,
                                           Tensor deltaBias, boolean softplus, Tensor initialState) {
        return run("selectiveScan", u, delta, A, B, C, D, z, deltaBias, softplus, initialState, null);
    }

    /**
     * The scan over variable-length sequences packed along L (Bt = 1): sequence s is tokens
     * {@code [cuSeqlens[s], cuSeqlens[s+1])}; the state restarts at each boundary from
     * {@code initialState[s]} (or zero). Empty sequences are allowed (their last state is their
     * initial state).
     *
     * @param cuSeqlens nseq + 1 offsets: 0, non-decreasing, ending at L
     * @param initialState {@code [nseq, Dm, N]} F32, or null
     * @return y {@code [1, Dm, L]} and lastState {@code [nseq, Dm, N]} F32
     */
    public static ScanOutput selectiveScanVarlen(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor D, Tensor z,
                                                 Tensor deltaBias, boolean softplus, Tensor initialState, int[] cuSeqlens) {
        String op = "selectiveScanVarlen";
        if (cuSeqlens == null) throw new IllegalArgumentException(op + ": cuSeqlens is null");
        return run(op, u, delta, A, B, C, D, z, deltaBias, softplus, initialState, cuSeqlens.clone());
    }

    private static ScanOutput run(String op, Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor D, Tensor z,
                                  Tensor deltaBias, boolean softplus, Tensor initialState, int[] cu) {
        ScanChecks.tensor(op, "u", u, 3, "[Bt, Dm, L]");
        long bt = u.dim(0), dm = u.dim(1), len = u.dim(2);
        ScanChecks.shaped(op, "delta", delta, "u", u, null, "[Bt, Dm, L]", bt, dm, len);
        ScanChecks.tensor(op, "A", A, 2, "[Dm, N]");
        ScanChecks.companion(op, "A", A, "u", u, DType.F32);
        if (A.dim(0) != dm) {
            throw new IllegalArgumentException(op + ": A's Dm (dim 0) is " + A.dim(0) + " but u's Dm (dim 1) is " + dm);
        }
        long n = A.dim(1);
        ScanChecks.stateSize(op, "A", n);
        int g = ScanChecks.bc(op, "B", B, u, bt, dm, n, len);
        int gc = ScanChecks.bc(op, "C", C, u, bt, dm, n, len);
        if (gc != g || C.rank() != B.rank()) {
            throw new IllegalArgumentException(op + ": C has shape " + dev.surpass.Shapes.toString(C.shape()) + " but B has "
                    + dev.surpass.Shapes.toString(B.shape()) + "; B and C must have the same layout and groups");
        }
        if (D != null) ScanChecks.shaped(op, "D", D, "u", u, DType.F32, "[Dm]", dm);
        if (z != null) ScanChecks.shaped(op, "z", z, "u", u, null, "[Bt, Dm, L]", bt, dm, len);
        if (deltaBias != null) ScanChecks.shaped(op, "deltaBias", deltaBias, "u", u, DType.F32, "[Dm]", dm);
        long nseq = bt;
        if (cu != null) {
            if (bt != 1) {
                throw new IllegalArgumentException(op + ": varlen sequences are packed along L with Bt = 1, but u's Bt (dim 0) is " + bt);
            }
            ScanChecks.cuSeqlens(op, cu, len);
            nseq = cu.length - 1;
        }
        String stateLayout = cu == null ? "[Bt, Dm, N]" : "[nseq, Dm, N]";
        if (initialState != null) ScanChecks.shaped(op, "initialState", initialState, "u", u, DType.F32, stateLayout, nseq, dm, n);
        ScanChecks.cudaGrid(op, u, nseq * dm);
        ScanDims dims = new ScanDims((int) bt, (int) dm, (int) n, g, (int) len, cu);
        Tensor y = u.device().allocate(u.dtype(), bt, dm, len);
        Tensor last = null;
        try {
            last = u.device().allocate(DType.F32, nseq, dm, n);
            if (u.device().isCpu()) {
                VectorSelectiveScan.scan(u, delta, A, B, C, D, z, deltaBias, softplus, initialState, y, last, dims,
                        VectorSelectiveScan.autoChunk(dims));
            } else {
                CudaSelectiveScan.scan(u, delta, A, B, C, D, z, deltaBias, softplus, initialState, y, last, dims);
            }
            return new ScanOutput(y, last);
        } catch (RuntimeException | Error e) {
            if (last != null) last.close();
            y.close();
            throw e;
        }
    }

    /**
     * One decode step: {@code state [Bt, Dm, N]} F32 advances by one token in place and the output
     * {@code y [Bt, Dm]} (x's dtype) is returned.
     *
     * @param x {@code [Bt, Dm]}
     * @param dt {@code [Bt, Dm]} (before bias and softplus)
     * @param B {@code [Bt, N]} or {@code [Bt, G, N]}; C like B
     */
    public static Tensor selectiveStateUpdate(Tensor state, Tensor x, Tensor dt, Tensor A, Tensor B, Tensor C, Tensor D,
                                              Tensor z, Tensor deltaBias, boolean softplus) {
        String op = "selectiveStateUpdate";
        ScanChecks.tensor(op, "x", x, 2, "[Bt, Dm]");
        long bt = x.dim(0), dm = x.dim(1);
        ScanChecks.shaped(op, "dt", dt, "x", x, null, "[Bt, Dm]", bt, dm);
        ScanChecks.tensor(op, "A", A, 2, "[Dm, N]");
        ScanChecks.companion(op, "A", A, "x", x, DType.F32);
        if (A.dim(0) != dm) {
            throw new IllegalArgumentException(op + ": A's Dm (dim 0) is " + A.dim(0) + " but x's Dm (dim 1) is " + dm);
        }
        long n = A.dim(1);
        ScanChecks.stateSize(op, "A", n);
        ScanChecks.shaped(op, "state", state, "x", x, DType.F32, "[Bt, Dm, N]", bt, dm, n);
        int g = ScanChecks.bcToken(op, "B", B, x, bt, dm, n);
        int gc = ScanChecks.bcToken(op, "C", C, x, bt, dm, n);
        if (gc != g || C.rank() != B.rank()) {
            throw new IllegalArgumentException(op + ": C has shape " + dev.surpass.Shapes.toString(C.shape()) + " but B has "
                    + dev.surpass.Shapes.toString(B.shape()) + "; B and C must have the same layout and groups");
        }
        if (D != null) ScanChecks.shaped(op, "D", D, "x", x, DType.F32, "[Dm]", dm);
        if (z != null) ScanChecks.shaped(op, "z", z, "x", x, null, "[Bt, Dm]", bt, dm);
        if (deltaBias != null) ScanChecks.shaped(op, "deltaBias", deltaBias, "x", x, DType.F32, "[Dm]", dm);
        ScanChecks.cudaGrid(op, x, bt * dm);
        ScanDims dims = new ScanDims((int) bt, (int) dm, (int) n, g, 1, null);
        Tensor y = x.device().allocate(x.dtype(), bt, dm);
        try {
            if (x.device().isCpu()) {
                // One token is a scan of length 1 that starts from, and ends in, the state.
                VectorSelectiveScan.scan(x, dt, A, B, C, D, z, deltaBias, softplus, state, y, state, dims, 0);
            } else {
                CudaSelectiveScan.stateUpdate(state, x, dt, A, B, C, D, z, deltaBias, softplus, y, dims);
            }
            return y;
        } catch (RuntimeException | Error e) {
            y.close();
            throw e;
        }
    }
}
