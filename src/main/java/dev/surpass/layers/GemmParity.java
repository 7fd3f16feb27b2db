package dev.surpass.layers;

import dev.surpass.parity.ParityCase;
import java.util.List;

/** Parity cases for matmul/linear (STUB: filled by the GEMM work). */
public final class GemmParity {
    private GemmParity() {}

    public static List<ParityCase> cases() {
        return List.of();
    }
}
